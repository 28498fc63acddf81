use std::path::PathBuf;

/// Errors from certificate generation, PEM I/O and rustls configuration.
/// Each variant names the file or certificate it is about.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("unknown key type {0:?} (expected ecdsa-p256, rsa-2048 or ed25519)")]
    UnknownKeyType(String),
    #[error("invalid DNS name {name:?} for certificate {cert}")]
    BadName { cert: &'static str, name: String, source: rcgen::Error },
    #[error("generating {cert} certificate")]
    Generate { cert: &'static str, source: rcgen::Error },
    #[error("cannot read {what} {path}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("no {what} found in {path} (expected PEM)")]
    Empty { what: &'static str, path: PathBuf },
    #[error("cannot parse {what} in {path}: {detail}")]
    Parse { what: &'static str, path: PathBuf, detail: String },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("TLS configuration rejected for {path}")]
    Config { path: PathBuf, source: rustls::Error },
}
