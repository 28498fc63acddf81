use std::net::SocketAddr;

/// Backend errors, naming the listener address or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("invalid --listen {value:?}: {detail}")]
    BadListen { value: String, detail: String },
    #[error("listener {addr} wants TLS but no --tls-cert/--tls-key were given")]
    TlsMissing { addr: SocketAddr },
    #[error("listener {addr} uses PROXY protocol {mode} but no --trusted CIDR says who may send it")]
    NoTrustedForProxy { addr: SocketAddr, mode: String },
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Log(#[from] crate::accesslog::LogError),
}
