//! The validated plan. Every check names the field and says what is allowed.
use std::path::PathBuf;
use std::time::Duration;

use crate::model::Verdict;
use crate::netaddr::CidrList;
use crate::tls::KeyType;
use crate::vm::Target;

/// A plan value in the scenario file's own words (`terminate-reencrypt`), as serde names
/// it; empty for `None`.
pub fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    L4Forward,
    Haproxy,
    Nginx,
    /// Any proxy, from a build that says how to start it.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    TerminateReencrypt,
    TerminatePlain,
    PassthroughProxyProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeaderMode {
    XffAppend,
    XffReplace,
    Forwarded,
    ProxyV1,
    ProxyV2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Routerlab,
    Nginx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnPolicyPlan {
    KeepAlive,
    NewConn,
    Resume,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProxyPlan {
    pub kind: ProxyKind,
    /// `None` for `l4-forward`.
    pub mode: Option<ProxyMode>,
    pub client_ip_header: Option<ClientIpHeaderMode>,
    /// The builds to run, in order; at least one (the image's own by default).
    pub builds: Vec<super::BuildPlan>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabPlan {
    pub clients: usize,
    pub clients6: usize,
    pub tunnel: crate::netlab::Tunnel,
    #[serde(skip)]
    pub impair_wan: crate::netlab::Impairment,
    #[serde(skip)]
    pub impair_tunnel: crate::netlab::Impairment,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadPlan {
    /// No load, before the warm-up: measures the guest's background instruction rate
    /// (half with the metrics agent, half with it stopped). Zero skips it.
    pub idle: Duration,
    pub warmup: Duration,
    pub duration: Duration,
    pub connections: u32,
    pub rate: Option<f64>,
    pub conn_policy: ConnPolicyPlan,
    pub http2: bool,
    pub spoof_headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub targets: Vec<Target>,
    pub proxy: ProxyPlan,
    pub key_type: KeyType,
    pub backend: BackendKind,
    #[serde(skip)]
    pub trusted: CidrList,
    pub lab: LabPlan,
    pub load: LoadPlan,
    /// The client-IP verdict the scenario expects.
    pub expect: Verdict,
    pub max_error_rate: f64,
    pub budgets: Budgets,
}

/// Optional cost budgets; each becomes a named assertion.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Budgets {
    pub p99: Option<Duration>,
    pub proxy_cpu_pct: Option<f64>,
    pub proxy_rss_mib: Option<f64>,
}
