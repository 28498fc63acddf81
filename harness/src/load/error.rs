use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Load-generator errors that stop a run before or while it starts. Per-request failures
/// are not errors: they are counted and journaled by class.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid URL {value:?}: {detail}")]
    BadUrl { value: String, detail: String },
    #[error("cannot resolve {host}: {detail}")]
    Resolve { host: String, detail: String },
    #[error("invalid --header {value:?}: expected 'Name: value'")]
    BadHeader { value: String },
    #[error("source {source_ip} is {family} but the target {target} is not")]
    SourceFamily { source_ip: IpAddr, family: &'static str, target: SocketAddr },
    #[error("{0}")]
    BadOption(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot write journal {path}")]
    Journal { path: PathBuf, source: std::io::Error },
    #[error("cannot read journal {path}: {detail}")]
    JournalRead { path: PathBuf, detail: String },
}
