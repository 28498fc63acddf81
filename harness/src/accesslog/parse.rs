use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::DateTime;

use super::{AccessRecord, LogError, LogFormat};
use crate::forwarded::{parse_xff, ClientIpSource, Node};
use crate::netaddr::Endpoint;

/// Parse one line of the given format.
pub fn parse_line(line: &str, format: LogFormat) -> Result<AccessRecord, String> {
    match format {
        LogFormat::Json => serde_json::from_str(line).map_err(|e| format!("bad JSON access record: {e}")),
        LogFormat::Combined | LogFormat::Main => parse_text(line, format),
    }
}

/// `FIRST - USER [TIME] "REQUEST" STATUS BYTES "REFERER" "UA" [extra fields]`.
fn parse_text(line: &str, format: LogFormat) -> Result<AccessRecord, String> {
    let (first, rest) = line.split_once(" - ").ok_or("missing \" - \" after the first field")?;
    let (_user, rest) = rest.split_once(" [").ok_or("missing \"[\" before the time")?;
    let (time, rest) = rest.split_once("] ").ok_or("missing \"]\" after the time")?;
    let time = DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z").map_err(|e| format!("bad time {time:?}: {e}"))?;
    let (request, rest) = quoted(rest).ok_or("missing quoted request")?;
    let mut fields = rest.trim_start().splitn(3, ' ');
    let status_s = fields.next().unwrap_or_default();
    let status = status_s.parse::<u16>().map_err(|_| format!("bad status {status_s:?}"))?;
    let bytes_s = fields.next().unwrap_or_default();
    let bytes =
        if bytes_s == "-" { 0 } else { bytes_s.parse::<u64>().map_err(|_| format!("bad byte count {bytes_s:?}"))? };
    let rest = fields.next().unwrap_or_default();
    let user_agent =
        quoted(rest).and_then(|(_referer, r)| quoted(r.trim_start())).map(|(ua, _)| ua).filter(|u| u != "-");

    let request = unescape(&request);
    let mut parts = request.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let protocol = parts.next().map(str::to_string);

    let mut rec = AccessRecord {
        time,
        peer_addr: None,
        proxy_addr: None,
        xff: None,
        forwarded: None,
        client_ip: None,
        client_ip_source: None,
        request_id: None,
        method,
        path,
        protocol,
        status,
        bytes,
        duration_us: None,
        tls_version: None,
        tls_cipher: None,
        conn: None,
        tls_resumed: None,
        user_agent: user_agent.map(|u| unescape(&u)),
    };
    match format {
        LogFormat::Combined => {
            let peer: Endpoint = first.parse().map_err(|_| format!("bad $remote_addr {first:?}"))?;
            rec.peer_addr = Some(peer);
            rec.client_ip = Some(peer.ip);
            rec.client_ip_source = Some(ClientIpSource::Peer);
        }
        _ => {
            // `main` logs the raw header: a reader takes its first entry as "the client",
            // which is exactly what a client can forge.
            if first != "-" {
                rec.xff = Some(first.to_string());
                rec.client_ip = parse_xff([first]).into_iter().find_map(|n| match n {
                    Node::Ip(ip) => Some(ip),
                    _ => None,
                });
                rec.client_ip_source = rec.client_ip.map(|_| ClientIpSource::Xff);
            }
        }
    }
    Ok(rec)
}

/// A `"..."` field at the start of `s`; returns its content and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = inner.find('"')?;
    Some((inner[..end].to_string(), &inner[end + 1..]))
}

/// Undo nginx's `\xHH` escaping.
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("zz"), 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Iterates the records of a log file; errors carry `path:line`. Blank lines are skipped.
pub struct LogReader {
    lines: std::io::Lines<BufReader<File>>,
    path: PathBuf,
    format: LogFormat,
    line_no: usize,
}

pub fn read_log(path: &Path, format: LogFormat) -> Result<LogReader, LogError> {
    let f = File::open(path).map_err(|source| LogError::Read { path: path.to_path_buf(), source })?;
    Ok(LogReader { lines: BufReader::new(f).lines(), path: path.to_path_buf(), format, line_no: 0 })
}

impl Iterator for LogReader {
    type Item = Result<AccessRecord, LogError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(source) => return Some(Err(LogError::Read { path: self.path.clone(), source })),
            };
            self.line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            return Some(parse_line(&line, self.format).map_err(|detail| LogError::Parse {
                path: self.path.clone(),
                line: self.line_no,
                detail,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::{combined_line, main_line};
    use super::*;

    const COMBINED: &str =
        r#"203.0.113.7 - - [25/Nov/2026:13:55:36 +0000] "GET /index.html?a=1 HTTP/1.1" 200 612 "-" "curl/7.88.1""#;
    const MAIN: &str = r#"6.6.6.6, 203.0.113.7 - alice [25/Nov/2026:13:55:36 +0100] "POST /x HTTP/2.0" 201 - "http://r/" "Mozilla \x22x\x22""#;

    #[test]
    fn combined_gives_peer_as_client() {
        let r = parse_line(COMBINED, LogFormat::Combined).unwrap();
        assert_eq!(r.client_ip.unwrap().to_string(), "203.0.113.7");
        assert_eq!(r.client_ip_source, Some(ClientIpSource::Peer));
        assert_eq!((r.method.as_str(), r.path.as_str(), r.status, r.bytes), ("GET", "/index.html?a=1", 200, 612));
        assert_eq!(r.user_agent.as_deref(), Some("curl/7.88.1"));
        assert_eq!(r.time.to_rfc3339(), "2026-11-25T13:55:36+00:00");
    }

    #[test]
    fn main_takes_the_forgeable_first_entry() {
        let r = parse_line(MAIN, LogFormat::Main).unwrap();
        assert_eq!(r.xff.as_deref(), Some("6.6.6.6, 203.0.113.7"));
        assert_eq!(r.client_ip.unwrap().to_string(), "6.6.6.6");
        assert_eq!(r.peer_addr, None);
        assert_eq!((r.status, r.bytes), (201, 0));
        assert_eq!(r.user_agent.as_deref(), Some("Mozilla \"x\""));
    }

    #[test]
    fn main_with_dash_has_no_client() {
        let line = r#"- - - [25/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#;
        assert_eq!(parse_line(line, LogFormat::Main).unwrap().client_ip, None);
    }

    #[test]
    fn text_errors_say_what_is_wrong() {
        let e = parse_line(r#"1.2.3.4 - - [nope] "GET / HTTP/1.1" 200 1 "-" "-""#, LogFormat::Combined).unwrap_err();
        assert!(e.starts_with("bad time \"nope\""), "{e}");
        let e = parse_line(
            r#"1.2.3.4 - - [25/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" abc 1 "-" "-""#,
            LogFormat::Combined,
        )
        .unwrap_err();
        assert_eq!(e, "bad status \"abc\"");
    }

    #[test]
    fn written_text_lines_read_back() {
        let mut r = parse_line(MAIN, LogFormat::Main).unwrap();
        r.client_ip = Some("203.0.113.7".parse().unwrap());
        let back = parse_line(combined_line(&r).trim_end(), LogFormat::Combined).unwrap();
        assert_eq!(
            (back.client_ip, back.path, back.user_agent.clone()),
            (r.client_ip, r.path.clone(), r.user_agent.clone())
        );
        let back = parse_line(main_line(&r).trim_end(), LogFormat::Main).unwrap();
        assert_eq!(back.xff, r.xff);
    }
}
