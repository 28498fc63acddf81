//! What a backend's connections and request handlers share: the logs, counters and
//! settings of the server ([`Shared`]), and what a handler knows of its connection
//! ([`ConnInfo`]). A leaf of its own, so the server, its connections and the handler each
//! depend on it and not on one another.
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio_rustls::TlsAcceptor;

use super::BackendStats;
use crate::accesslog::{AccessLog, RejectLog};
use crate::forwarded::ClientIpHeader;
use crate::netaddr::CidrList;

/// State shared by every connection.
pub(crate) struct Shared {
    pub log: AccessLog,
    pub reject_log: Option<RejectLog>,
    pub stats: Arc<BackendStats>,
    pub trusted: CidrList,
    pub client_ip_header: ClientIpHeader,
    pub header_timeout: std::time::Duration,
    pub request_header_timeout: std::time::Duration,
    pub body: Bytes,
    pub tls: Option<TlsAcceptor>,
    /// Serial numbers for accepted connections, so the log says which requests shared one.
    pub next_conn: std::sync::atomic::AtomicU64,
}

/// What a request handler knows about its connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub peer: SocketAddr,
    pub proxy_source: Option<SocketAddr>,
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
    /// The connection's serial number at this backend (1, 2, ...).
    pub conn: u64,
    /// Whether its TLS handshake resumed a session; `None` without TLS.
    pub tls_resumed: Option<bool>,
}
