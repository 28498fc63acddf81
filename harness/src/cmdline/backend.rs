use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use super::{cidr, positive_duration, Argv};
use crate::accesslog::LogFormat;
use crate::backend::ListenSpec;
use crate::forwarded::ClientIpHeader;
use crate::proxyproto::HeaderPolicy;
use crate::scenario::kebab;

/// `routerlab backend`: serve HTTP(S) and log, per request, which client IP the backend
/// would believe.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct BackendArgs {
    /// ADDR[,tls|,plain][,proxy-protocol=off|v1|v2|any]; repeat for more listeners.
    #[arg(long, required = true, value_name = "ADDR")]
    pub listen: Vec<ListenSpec>,
    /// Certificate chain (PEM). Listeners use TLS when this and --tls-key are given.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Append TLS secrets here (SSLKEYLOGFILE format), so Wireshark can decrypt the traffic.
    #[arg(long, env = "SSLKEYLOGFILE", value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// PROXY protocol for listeners that don't say.
    #[arg(long, default_value = "off", value_name = "off|v1|v2|any")]
    pub proxy_protocol: HeaderPolicy,
    /// Proxies allowed to send PROXY headers and forwarding headers (CIDR or address).
    #[arg(long, value_name = "CIDR", value_parser = cidr)]
    pub trusted: Vec<IpNet>,
    /// Which forwarding header the trusted proxy writes.
    #[arg(long, default_value = "xff", value_name = "xff|forwarded|none")]
    pub client_ip_header: ClientIpHeader,
    #[arg(long, value_name = "PATH")]
    pub access_log: PathBuf,
    #[arg(long, default_value = "json", value_name = "json|combined|main")]
    pub log_format: LogFormat,
    /// JSON lines for connections refused by PROXY-protocol checks.
    #[arg(long, value_name = "PATH")]
    pub reject_log: Option<PathBuf>,
    /// How long to wait for a complete PROXY header.
    #[arg(long, default_value = "3s", value_parser = positive_duration, allow_hyphen_values = true, value_name = "DURATION")]
    pub header_timeout: Duration,
    /// Size of the response body.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub body_bytes: usize,
}

impl BackendArgs {
    /// The arguments, after `backend`, that clap reads back as this value. Options at
    /// their defaults are left out, except the client-IP header, which a reader of a
    /// transcript wants to see.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Argv::default();
        let d = BackendArgs::new(Vec::new(), PathBuf::new());
        a.opt_some("--tls-cert", self.tls_cert.as_ref().map(|p| p.display()));
        a.opt_some("--tls-key", self.tls_key.as_ref().map(|p| p.display()));
        a.each("--listen", &self.listen);
        a.each("--trusted", &self.trusted);
        a.opt("--client-ip-header", kebab(&self.client_ip_header));
        a.opt("--access-log", self.access_log.display());
        a.opt_some("--reject-log", self.reject_log.as_ref().map(|p| p.display()));
        a.opt_some("--keylog", self.keylog.as_ref().map(|p| p.display()));
        a.opt_some("--proxy-protocol", (self.proxy_protocol != d.proxy_protocol).then_some(self.proxy_protocol));
        a.opt_some("--log-format", (self.log_format != d.log_format).then(|| kebab(&self.log_format)));
        if self.header_timeout != d.header_timeout {
            a.time("--header-timeout", self.header_timeout);
        }
        a.opt_some("--body-bytes", (self.body_bytes != d.body_bytes).then_some(self.body_bytes));
        a.0
    }

    /// Listeners and an access log, with the defaults the command line gives.
    pub fn new(listen: Vec<ListenSpec>, access_log: PathBuf) -> BackendArgs {
        BackendArgs {
            listen,
            tls_cert: None,
            tls_key: None,
            keylog: None,
            proxy_protocol: HeaderPolicy::Off,
            trusted: Vec::new(),
            client_ip_header: ClientIpHeader::Xff,
            access_log,
            log_format: LogFormat::Json,
            reject_log: None,
            header_timeout: Duration::from_secs(3),
            body_bytes: 3,
        }
    }
}
