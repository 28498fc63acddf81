//! Per-run PKI: a CA, frontend/backend/client certificates, PEM files, and rustls configs.
mod error;
mod files;
mod keylog;
mod pki;
mod rustls_cfg;

pub use error::TlsError;
pub use files::{PkiFiles, WrittenFile};
pub use keylog::{key_log, KeyLogTo};
pub use pki::{CertSpec, IssuedCert, KeyType, Pki, PkiRequest};
pub use rustls_cfg::{client_config, load_certs, load_key, server_config, ClientTrust, Resumption};
