use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{AccessRecord, LogError, LogFormat, RejectRecord};

/// Appends one line per record with a single `write(2)` on an `O_APPEND` file and no
/// user-space buffer, so every line is on disk as soon as the request is answered and a
/// crash never leaves half a line behind.
#[derive(Debug)]
pub struct AccessLog {
    file: File,
    path: PathBuf,
    format: LogFormat,
}

impl AccessLog {
    pub fn create(path: &Path, format: LogFormat) -> Result<AccessLog, LogError> {
        let file = open_append(path)?;
        Ok(AccessLog { file, path: path.to_path_buf(), format })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, rec: &AccessRecord) -> Result<(), LogError> {
        let line = match self.format {
            LogFormat::Json => {
                let mut v = serde_json::to_vec(rec).expect("AccessRecord serializes");
                v.push(b'\n');
                v
            }
            LogFormat::Combined => combined_line(rec).into_bytes(),
            LogFormat::Main => main_line(rec).into_bytes(),
        };
        (&self.file).write_all(&line).map_err(|source| LogError::Write { path: self.path.clone(), source })
    }
}

/// Rejected connections, one JSON line each, written like [`AccessLog`].
#[derive(Debug)]
pub struct RejectLog {
    file: File,
    path: PathBuf,
}

impl RejectLog {
    pub fn create(path: &Path) -> Result<RejectLog, LogError> {
        Ok(RejectLog { file: open_append(path)?, path: path.to_path_buf() })
    }
    pub fn write(&self, rec: &RejectRecord) -> Result<(), LogError> {
        let mut v = serde_json::to_vec(rec).expect("RejectRecord serializes");
        v.push(b'\n');
        (&self.file).write_all(&v).map_err(|source| LogError::Write { path: self.path.clone(), source })
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::Open { path: path.to_path_buf(), source })
}

fn dash(s: Option<&str>) -> &str {
    s.filter(|v| !v.is_empty()).unwrap_or("-")
}

/// nginx escapes `"` and control bytes in quoted fields as `\xHH`.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn tail(rec: &AccessRecord) -> String {
    format!(
        " - [{}] \"{} {} {}\" {} {} \"-\" \"{}\"\n",
        rec.time.format("%d/%b/%Y:%H:%M:%S %z"),
        esc(&rec.method),
        esc(&rec.path),
        dash(rec.protocol.as_deref()),
        rec.status,
        rec.bytes,
        esc(dash(rec.user_agent.as_deref())),
    )
}

/// `combined`, with the effective client IP as `$remote_addr` (as nginx's realip module does).
pub(crate) fn combined_line(rec: &AccessRecord) -> String {
    let addr = rec.client_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into());
    format!("{addr} -{}", tail(rec))
}

/// `main`: the raw X-Forwarded-For first. Spoofable by design; offered to reproduce it.
pub(crate) fn main_line(rec: &AccessRecord) -> String {
    format!("{} -{}", dash(rec.xff.as_deref()), tail(rec))
}
