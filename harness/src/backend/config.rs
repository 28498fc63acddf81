use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::BackendError;
use crate::accesslog::LogFormat;
use crate::forwarded::ClientIpHeader;
use crate::netaddr::CidrList;
use crate::proxyproto::{HeaderPolicy, DEFAULT_HEADER_TIMEOUT};

/// One `--listen` value: `ADDR[,tls|,plain][,proxy-protocol=off|v1|v2|any]`.
/// Without `tls`/`plain`, a listener uses TLS when a certificate is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub addr: SocketAddr,
    pub tls: Option<bool>,
    pub proxy: Option<HeaderPolicy>,
}

impl FromStr for ListenSpec {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |detail: String| BackendError::BadListen { value: s.to_string(), detail };
        let mut parts = s.split(',');
        let addr_s = parts.next().unwrap_or_default();
        let addr =
            SocketAddr::from_str(addr_s).map_err(|_| bad(format!("{addr_s:?} is not IP:PORT (IPv6 as [::1]:8443)")))?;
        let mut spec = ListenSpec { addr, tls: None, proxy: None };
        for opt in parts {
            match opt {
                "tls" => spec.tls = Some(true),
                "plain" => spec.tls = Some(false),
                _ => match opt.strip_prefix("proxy-protocol=") {
                    Some(m) => spec.proxy = Some(m.parse().map_err(bad)?),
                    None => {
                        return Err(bad(format!("unknown option {opt:?} (expected tls, plain or proxy-protocol=MODE)")))
                    }
                },
            }
        }
        Ok(spec)
    }
}

/// The `--listen` value that reads back as this spec.
impl std::fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.addr)?;
        match self.tls {
            Some(true) => f.write_str(",tls")?,
            Some(false) => f.write_str(",plain")?,
            None => {}
        }
        match self.proxy {
            Some(p) => write!(f, ",proxy-protocol={p}"),
            None => Ok(()),
        }
    }
}

/// A validated listener.
#[derive(Debug, Clone)]
pub struct Listener {
    pub addr: SocketAddr,
    pub tls: bool,
    pub proxy: HeaderPolicy,
}

/// Everything the backend needs; build with [`BackendConfig::new`] and validate with
/// [`BackendConfig::listeners`].
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub listen: Vec<ListenSpec>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where TLS secrets go (SSLKEYLOGFILE format), for Wireshark.
    pub keylog: Option<PathBuf>,
    /// Default PROXY mode for listeners that do not say.
    pub proxy_protocol: HeaderPolicy,
    /// Who may send PROXY headers and forwarding headers.
    pub trusted: CidrList,
    pub client_ip_header: ClientIpHeader,
    pub access_log: PathBuf,
    pub log_format: LogFormat,
    pub reject_log: Option<PathBuf>,
    pub header_timeout: Duration,
    /// How long an HTTP/1 connection may wait for a request's headers to be complete. hyper
    /// starts this clock when it waits for a request, so it is also the keep-alive idle limit
    /// (nginx: 60 s for headers, 75 s keep-alive). Bounds a slowloris client, and a TLS
    /// client that never finishes its handshake.
    pub request_header_timeout: Duration,
    /// Size of the `200` response body.
    pub body_bytes: usize,
}

impl BackendConfig {
    pub fn new(listen: Vec<ListenSpec>, access_log: PathBuf) -> Self {
        BackendConfig {
            listen,
            tls_cert: None,
            tls_key: None,
            keylog: None,
            proxy_protocol: HeaderPolicy::Off,
            trusted: CidrList::default(),
            client_ip_header: ClientIpHeader::Xff,
            access_log,
            log_format: LogFormat::Json,
            reject_log: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_header_timeout: Duration::from_secs(30),
            body_bytes: 3,
        }
    }

    /// Resolve defaults and reject contradictions before anything is bound.
    pub fn listeners(&self) -> Result<Vec<Listener>, BackendError> {
        let has_cert = self.tls_cert.is_some() && self.tls_key.is_some();
        self.listen
            .iter()
            .map(|l| {
                let tls = l.tls.unwrap_or(has_cert);
                if tls && !has_cert {
                    return Err(BackendError::TlsMissing { addr: l.addr });
                }
                let proxy = l.proxy.unwrap_or(self.proxy_protocol);
                if proxy != HeaderPolicy::Off && self.trusted.is_empty() {
                    return Err(BackendError::NoTrustedForProxy { addr: l.addr, mode: proxy.to_string() });
                }
                Ok(Listener { addr: l.addr, tls, proxy })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_spec_forms() {
        let s: ListenSpec = "[::1]:8443,tls,proxy-protocol=v2".parse().unwrap();
        assert_eq!((s.addr.to_string().as_str(), s.tls, s.proxy), ("[::1]:8443", Some(true), Some(HeaderPolicy::V2)));
        let s: ListenSpec = "127.0.0.1:80,plain".parse().unwrap();
        assert_eq!(s.tls, Some(false));
        let e = "127.0.0.1".parse::<ListenSpec>().unwrap_err().to_string();
        assert_eq!(e, "invalid --listen \"127.0.0.1\": \"127.0.0.1\" is not IP:PORT (IPv6 as [::1]:8443)");
        assert!("127.0.0.1:1,proxy-protocol=v3".parse::<ListenSpec>().unwrap_err().to_string().contains("v3"));
    }

    #[test]
    fn proxy_protocol_needs_trusted_and_tls_needs_cert() {
        let mut c = BackendConfig::new(vec!["127.0.0.1:1,proxy-protocol=v1".parse().unwrap()], "x".into());
        assert!(matches!(c.listeners(), Err(BackendError::NoTrustedForProxy { .. })));
        c.trusted = "127.0.0.0/8".parse().unwrap();
        assert!(!c.listeners().unwrap()[0].tls);
        c.listen = vec!["127.0.0.1:1,tls".parse().unwrap()];
        assert!(matches!(c.listeners(), Err(BackendError::TlsMissing { .. })));
    }
}
