//! routerlab's library: the pieces that run on the host. See `docs/architecture.md`.
pub mod accesslog;
pub mod forwarded;
pub mod netaddr;
pub mod proxyproto;
pub mod tls;
