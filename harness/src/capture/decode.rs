//! tshark reads one link's pcap with the key log and prints, for every HTTP request it can
//! decrypt and every PROXY header, the connection and the headers that carry a client's
//! address. [`parse_tshark`] turns that into one [`Sighting`] per request.
use std::collections::HashMap;
use std::path::Path;

use super::CaptureError;

/// One request as one link carried it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sighting {
    pub request_id: String,
    /// `address:port` of the connection's two ends, as on this link.
    pub src: String,
    pub dst: String,
    /// The PROXY header's source address sent at the start of this connection.
    pub proxy_src: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub forwarded: Option<String>,
}

/// The fields tshark prints per frame, in this order.
const FIELDS: [&str; 10] = [
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "proxy.src.ipv4",
    "proxy.src.ipv6",
    "http.request.line",
];

/// tshark's arguments: decrypt with `keylog`, try the PROXY heuristic before the port's
/// TLS (else a PROXY header in front of a ClientHello is not seen), keep frames with an
/// HTTP request or a PROXY header, print [`FIELDS`] tab-separated, repeats joined by `|`.
pub fn tshark_args(pcap: &Path, keylog: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["-n".into(), "-r".into(), pcap.display().to_string()];
    a.extend(["-o".into(), format!("tls.keylog_file:{}", keylog.display())]);
    a.extend(["-o".into(), "tcp.try_heuristic_first:TRUE".into()]);
    a.extend(["-Y".into(), "http.request || proxy".into(), "-T".into(), "fields".into()]);
    for e in ["separator=/t", "occurrence=a", "aggregator=|"] {
        a.extend(["-E".into(), e.into()]);
    }
    for f in FIELDS {
        a.extend(["-e".into(), f.into()]);
    }
    a
}

/// Run tshark on one pcap.
pub async fn decode(pcap: &Path, keylog: &Path) -> Result<Vec<Sighting>, CaptureError> {
    let o = tokio::process::Command::new("tshark")
        .args(tshark_args(pcap, keylog))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| CaptureError::Spawn { program: "tshark".into(), source })?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr).trim().to_string();
        return Err(CaptureError::Tool { program: "tshark", path: pcap.to_path_buf(), status: o.status, stderr });
    }
    Ok(parse_tshark(&String::from_utf8_lossy(&o.stdout)))
}

/// One [`Sighting`] per request in tshark's output ([`tshark_args`]); a request on a
/// connection that began with a PROXY header gets that header's source.
pub fn parse_tshark(text: &str) -> Vec<Sighting> {
    let mut proxy: HashMap<&str, String> = HashMap::new();
    let mut requests: Vec<(&str, Sighting)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("").trim();
        let (stream, lines) = (get(0), get(9));
        let either = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
        if let Some(p) = Some(either(get(7), get(8))).filter(|p| !p.is_empty()) {
            proxy.entry(stream).or_insert(p);
        }
        let headers = headers(lines);
        let Some(id) = header(&headers, "x-request-id") else { continue };
        let endpoint =
            |ip: String, port: &str| if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
        requests.push((
            stream,
            Sighting {
                request_id: id,
                src: endpoint(either(get(1), get(2)), get(3)),
                dst: endpoint(either(get(4), get(5)), get(6)),
                proxy_src: None,
                x_forwarded_for: header(&headers, "x-forwarded-for"),
                forwarded: header(&headers, "forwarded"),
            },
        ));
    }
    requests
        .into_iter()
        .map(|(stream, mut s)| {
            s.proxy_src = proxy.get(stream).cloned();
            s
        })
        .collect()
}

/// `name: value` pairs from tshark's `http.request.line` values (`|`-joined, each ending
/// in an escaped or real CRLF).
fn headers(lines: &str) -> Vec<(String, String)> {
    lines
        .split('|')
        .filter_map(|l| {
            let l = l.trim_end_matches("\\r\\n").trim_end_matches("\r\n");
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// Every value of a header, joined as one field would be (`, `).
fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    let v: Vec<&str> = headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
    (!v.is_empty()).then(|| v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_get_their_connections_proxy_header_and_their_forwarding_headers() {
        let out = "3\t10.1.0.1\t\t40312\t10.2.0.1\t\t443\t203.0.113.7\t\t\n\
                   3\t10.1.0.1\t\t40312\t10.2.0.1\t\t443\t\t\t\
                   x-request-id: r1-4\\r\\n|X-Forwarded-For: 6.6.6.6, 203.0.113.7\\r\\n|host: a\\r\\n\n\
                   5\t\tfd00:1::1\t40314\t\tfd00:2::1\t443\t\t\tx-request-id: r1-5\\r\\n|forwarded: for=\"[2001:db8:c::1]\"\\r\\n\n\
                   7\t192.0.2.254\t\t1\t192.0.2.1\t\t443\t\t\thost: no id\\r\\n\n";
        let s = parse_tshark(out);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].request_id, "r1-4");
        assert_eq!((s[0].src.as_str(), s[0].dst.as_str()), ("10.1.0.1:40312", "10.2.0.1:443"));
        assert_eq!(s[0].proxy_src.as_deref(), Some("203.0.113.7"));
        assert_eq!(s[0].x_forwarded_for.as_deref(), Some("6.6.6.6, 203.0.113.7"));
        assert_eq!(s[1].src, "[fd00:1::1]:40314");
        assert_eq!(s[1].proxy_src, None);
        assert_eq!(s[1].forwarded.as_deref(), Some("for=\"[2001:db8:c::1]\""));
    }

    #[test]
    fn tshark_decrypts_with_the_key_log_and_prints_the_fields_in_order() {
        let a = tshark_args(Path::new("/c/lan.pcapng"), Path::new("/c/keys.log")).join(" ");
        assert!(
            a.starts_with("-n -r /c/lan.pcapng -o tls.keylog_file:/c/keys.log -o tcp.try_heuristic_first:TRUE"),
            "{a}"
        );
        assert!(a.contains(" -Y http.request || proxy -T fields "), "{a}");
        assert!(a.ends_with(&FIELDS.map(|f| format!("-e {f}")).join(" ")), "{a}");
    }
}
