//! TLS secrets in the SSLKEYLOGFILE format, so Wireshark and tshark decrypt what the load
//! generator and the backend said (`run --capture`).
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Appends each secret to one file, as `LABEL <client random hex> <secret hex>`.
#[derive(Debug)]
pub struct KeyLogTo {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl rustls::KeyLog for KeyLogTo {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).ok();
        }
        if let Some(f) = f.as_mut() {
            // One write per line: the file is shared by every connection of the process.
            let _ = f.write_all(line.as_bytes());
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

/// The key log for a TLS config: to `path` when given, else wherever `SSLKEYLOGFILE` says
/// (nowhere when it is unset), as rustls does.
pub fn key_log(path: Option<&Path>) -> Arc<dyn rustls::KeyLog> {
    match path {
        Some(p) => Arc::new(KeyLogTo { path: p.to_path_buf(), file: Mutex::new(None) }),
        None => Arc::new(rustls::KeyLogFile::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_appended_in_the_sslkeylogfile_format() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("keys.log");
        std::fs::write(&p, "CLIENT_RANDOM 00 11\n").unwrap();
        let k = key_log(Some(&p));
        k.log("CLIENT_TRAFFIC_SECRET_0", &[0xab, 0x01], &[0xff]);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "CLIENT_RANDOM 00 11\nCLIENT_TRAFFIC_SECRET_0 ab01 ff\n");
    }
}
