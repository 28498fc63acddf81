use std::path::PathBuf;

/// Lab errors, naming the host, link or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("topology: host {host:?}: {detail}")]
    BadHost { host: String, detail: String },
    #[error("topology: link {link:?}: {detail}")]
    BadLink { link: String, detail: String },
    #[error("host {host}: `{command}` failed: {stderr}")]
    Command { host: String, command: String, stderr: String },
    #[error("cannot run {program}")]
    Spawn { program: String, source: std::io::Error },
    #[error("ledger {path}: {detail}")]
    Ledger { path: PathBuf, detail: String },
    #[error("{detail}")]
    Options { detail: String },
}
