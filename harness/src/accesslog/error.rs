use std::path::PathBuf;

/// Access-log errors, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open access log {path}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("cannot write access log {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read access log {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {detail}")]
    Parse { path: PathBuf, line: usize, detail: String },
    #[error("unknown log format {0:?} (expected json, combined or main)")]
    UnknownFormat(String),
}
