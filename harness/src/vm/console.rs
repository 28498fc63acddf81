//! The serial console: every byte goes to the transcript file; a bounded in-memory tail
//! serves pattern waits; commands are wrapped in per-command markers.
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::Notify;

/// How much console text is kept in memory for waits (the transcript file has everything).
const KEEP: usize = 4 << 20;

#[derive(Default)]
pub(crate) struct Buf {
    /// Bytes dropped from the front so far: positions are absolute.
    base: usize,
    text: String,
    closed: bool,
}

pub(crate) struct Console {
    buf: Arc<Mutex<Buf>>,
    notify: Arc<Notify>,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
}

impl Console {
    /// Attach to the console socket; everything read is appended to `transcript`.
    pub async fn attach(sock: &Path, transcript: &Path) -> std::io::Result<Console> {
        let stream = UnixStream::connect(sock).await?;
        let (mut r, w) = stream.into_split();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(transcript)?;
        let buf = Arc::new(Mutex::new(Buf::default()));
        let notify = Arc::new(Notify::new());
        let (b, n) = (buf.clone(), notify.clone());
        tokio::spawn(async move {
            let mut chunk = vec![0u8; 16 * 1024];
            let mut plain = EscapeFilter::default();
            loop {
                let got = r.read(&mut chunk).await.unwrap_or(0);
                {
                    let mut g = b.lock().expect("console lock");
                    if got == 0 {
                        g.closed = true;
                    } else {
                        let _ = file.write_all(&plain.filter(&chunk[..got]));
                        g.text.push_str(&String::from_utf8_lossy(&chunk[..got]));
                        if g.text.len() > KEEP {
                            let mut cut = g.text.len() - KEEP / 2;
                            while !g.text.is_char_boundary(cut) {
                                cut += 1;
                            }
                            g.text.drain(..cut);
                            g.base += cut;
                        }
                    }
                }
                n.notify_waiters();
                if got == 0 {
                    break;
                }
            }
        });
        Ok(Console { buf, notify, writer: tokio::sync::Mutex::new(w) })
    }

    /// Absolute position of the end of what has been read.
    pub fn position(&self) -> usize {
        let g = self.buf.lock().expect("console lock");
        g.base + g.text.len()
    }

    pub async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut w = self.writer.lock().await;
        w.write_all(bytes).await?;
        w.flush().await
    }

    /// Wait until `find` matches the text from `from` on. `Err(true)` if the console closed,
    /// `Err(false)` at the deadline.
    pub async fn wait_for<T>(
        &self,
        from: usize,
        deadline: Instant,
        find: impl Fn(&str) -> Option<T>,
    ) -> Result<T, bool> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let g = self.buf.lock().expect("console lock");
                let start = from.saturating_sub(g.base).min(g.text.len());
                let mut s = start;
                while !g.text.is_char_boundary(s) {
                    s += 1;
                }
                if let Some(v) = find(&g.text[s..]) {
                    return Ok(v);
                }
                if g.closed {
                    return Err(true);
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                return Err(false);
            }
        }
    }

    /// The last `n` lines, with escape sequences removed, for error messages. A kernel
    /// panic line above them (a backtrace pushes it out) is kept as the first line.
    pub fn tail(&self, n: usize) -> String {
        let g = self.buf.lock().expect("console lock");
        let clean = strip_escapes(&g.text);
        let lines: Vec<&str> = clean.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
        let start = lines.len().saturating_sub(n);
        let mut out: Vec<&str> = Vec::new();
        if let Some(p) = lines[..start].iter().rev().take(200).find(|l| l.contains("Kernel panic")) {
            out.push(p);
            out.push("[...]");
        }
        out.extend_from_slice(&lines[start..]);
        out.join("\n")
    }
}

/// Drops ANSI escape sequences (CSI and two-byte ESC forms) from a byte stream that may cut
/// one anywhere, so the console transcript is plain text (the guest's shell sends `ESC[6n`).
#[derive(Default)]
struct EscapeFilter {
    /// 0: text; 1: after ESC; 2: inside a CSI sequence.
    state: u8,
}

impl EscapeFilter {
    fn filter(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.state = match (self.state, b) {
                (0, 0x1b) => 1,
                (0, _) => {
                    out.push(b);
                    0
                }
                (1, b'[') => 2,
                (2, 0x40..=0x7e) | (1, _) => 0,
                (s, _) => s,
            };
        }
        out
    }
}

/// Remove ANSI/VT100 escape sequences (CSI and two-byte ESC forms) and carriage returns.
pub(crate) fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => {
                if it.next() == Some('[') {
                    for c in it.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The line sent for one command. The markers are split by empty quotes, so the console's
/// echo of this line never contains them; only the shell's output does. The command runs in
/// a subshell: the console shell may be PID 1, and an `exit` must not end it.
pub(crate) fn wrap(id: &str, cmd: &str) -> String {
    let quoted = cmd.replace('\'', r"'\''");
    format!("echo RL''B:{id}; ( eval '{quoted}' ) </dev/null 2>&1; echo RL''E:{id}:$?\n")
}

/// Find the output and exit status of command `id` in console text.
pub(crate) fn extract(text: &str, id: &str) -> Option<(String, i32)> {
    let begin = format!("RLB:{id}");
    let end = format!("RLE:{id}:");
    let b = text.find(&begin)?;
    let after_b = &text[b + begin.len()..];
    let e = after_b.find(&end)?;
    let status_text = &after_b[e + end.len()..];
    let digits: String = status_text.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || status_text.len() == digits.len() {
        return None; // the status is still arriving
    }
    let status = digits.parse().ok()?;
    let body = strip_escapes(&after_b[..e]);
    let body = body.strip_prefix('\n').unwrap_or(&body);
    Some((body.to_string(), status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_never_contains_the_markers() {
        let line = wrap("ab12", "echo 'hi there'; false");
        assert!(!line.contains("RLB:ab12") && !line.contains("RLE:ab12"));
        assert!(line.contains(r"eval 'echo '\''hi there'\''; false'"));
    }

    #[test]
    fn extract_skips_echo_printk_and_escapes() {
        let id = "ab12";
        let console = format!(
            "# \x1b[6n{}\r\nRLB:{id}\r\nhello \x1b[1mworld\x1b[0m\r\nline2\r\nRLE:{id}:3\r\n# ",
            wrap(id, "x").trim_end()
        );
        assert_eq!(extract(&console, id), Some(("hello world\nline2\n".to_string(), 3)));
        assert_eq!(extract(&console, "other"), None);
        // Incomplete status: wait for more.
        assert_eq!(extract(&format!("RLB:{id}\nx\nRLE:{id}:1"), id), None);
        assert_eq!(extract(&format!("RLB:{id}\nRLE:{id}:0\n"), id), Some((String::new(), 0)));
    }

    #[test]
    fn strips_csi_sequences() {
        assert_eq!(strip_escapes("a\x1b[6nb\x1b[0;31mc\r\n"), "abc\n");
        // The transcript's filter, with sequences cut across reads.
        let mut f = EscapeFilter::default();
        let parts: [&[u8]; 4] = [b"# \x1b", b"[6n ok\x1b[0;3", b"1mred\x1b", b"Mx\r\n"];
        let out: Vec<u8> = parts.iter().flat_map(|p| f.filter(p)).collect();
        assert_eq!(out, b"#  okredx\r\n");
    }
}
