use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};

use super::LoadError;
use crate::netaddr::SourcePool;
use crate::tls::ClientTrust;

/// Where requests go: parsed from `https://host:port/path`.
#[derive(Debug, Clone)]
pub struct Url {
    pub url: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query sent in the request line.
    pub path: String,
    /// The `Host` header / `:authority`.
    pub authority: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, LoadError> {
        let bad = |detail: &str| LoadError::BadUrl { value: url.to_string(), detail: detail.to_string() };
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let auth = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = auth.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = auth.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        Ok(Url { url: url.to_string(), tls, host, port, path, authority: auth.as_str().to_string() })
    }

    /// Resolve to one socket address (the first the resolver gives).
    pub async fn resolve(&self) -> Result<SocketAddr, LoadError> {
        let err = |detail: String| LoadError::Resolve { host: self.host.clone(), detail };
        let mut addrs =
            tokio::net::lookup_host((self.host.as_str(), self.port)).await.map_err(|e| err(e.to_string()))?;
        addrs.next().ok_or_else(|| err("no addresses".into()))
    }
}

/// Closed loop: `connections` workers send back to back. Open loop: `rate` requests per
/// second on a fixed schedule, served by up to `connections` workers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Closed { connections: usize },
    Open { rate: f64, connections: usize },
}

impl Mode {
    pub fn workers(&self) -> usize {
        match *self {
            Mode::Closed { connections } | Mode::Open { connections, .. } => connections.max(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    After(Duration),
    Requests(u64),
}

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ConnPolicy {
    /// Reuse each connection for as long as the server allows.
    KeepAlive,
    /// A new TCP connection and a full TLS handshake per request.
    NewConn,
    /// A new connection per request, resuming the TLS session.
    Resume,
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Url,
    pub mode: Mode,
    pub stop: Stop,
    pub sources: SourcePool,
    pub policy: ConnPolicy,
    pub http2: bool,
    pub trust: ClientTrust,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Budget for one request, connection and handshake included.
    pub timeout: Duration,
    pub journal: Option<PathBuf>,
    /// Where TLS secrets go (SSLKEYLOGFILE format), for Wireshark.
    pub keylog: Option<PathBuf>,
    /// Prefix of every X-Request-Id; random per run unless set.
    pub run_id: String,
    /// Show a progress bar (only ever on a TTY).
    pub progress: bool,
    /// Connections per second at the start (connection i opens i/R seconds in); all at
    /// once when `None`. Only a connection's first open waits.
    pub connect_rate: Option<f64>,
    /// A warm-up: past its duration, a connection that has had no successful request yet
    /// keeps trying, for at most `timeout` more, so the next phase starts on live connections.
    pub settle: bool,
    /// Closed loop: each connection waits this long after each answer before its next
    /// request, so it sits open and idle most of the time (keep-alive connections a router
    /// holds, not ones it serves flat out). Never past the run's end.
    pub think: Option<Duration>,
}

impl LoadConfig {
    pub fn new(target: Url, mode: Mode, stop: Stop) -> LoadConfig {
        LoadConfig {
            target,
            mode,
            stop,
            sources: SourcePool::default(),
            policy: ConnPolicy::KeepAlive,
            http2: false,
            trust: ClientTrust::Insecure,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            journal: None,
            keylog: None,
            run_id: random_run_id(),
            progress: false,
            connect_rate: None,
            settle: false,
            think: None,
        }
    }
}

/// Parse `Name: value`.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), LoadError> {
    let bad = || LoadError::BadHeader { value: s.to_string() };
    let (name, value) = s.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

fn random_run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        let t = Url::parse("https://[2001:db8::1]:8443/a?b=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()),
            (true, "2001:db8::1", 8443, "/a?b=1", "[2001:db8::1]:8443")
        );
        let t = Url::parse("http://router.test").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert!(Url::parse("ftp://x/").unwrap_err().to_string().contains("scheme"));
        assert!(Url::parse("https:///nohost").is_err());
    }

    #[test]
    fn header_parsing() {
        let (n, v) = parse_header("X-Forwarded-For: 6.6.6.6").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-forwarded-for", "6.6.6.6"));
        assert_eq!(
            parse_header("nocolon").unwrap_err().to_string(),
            "invalid --header \"nocolon\": expected 'Name: value'"
        );
    }
}
