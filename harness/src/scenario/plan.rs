//! The validated plan. Every check names the field and says what is allowed.
use std::path::PathBuf;
use std::time::Duration;

use crate::model::Verdict;
use crate::netaddr::CidrList;
use crate::tls::KeyType;
use crate::vm::Target;

pub use crate::names::kebab;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    L4Forward,
    Haproxy,
    Nginx,
    /// Any proxy, from a build that says how to start it.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    TerminateReencrypt,
    TerminatePlain,
    PassthroughProxyProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeaderMode {
    XffAppend,
    XffReplace,
    Forwarded,
    ProxyV1,
    ProxyV2,
}

impl ClientIpHeaderMode {
    /// Each mode as a scenario or build file names it.
    pub const ALL: [(&'static str, ClientIpHeaderMode); 5] = [
        ("xff-append", ClientIpHeaderMode::XffAppend),
        ("xff-replace", ClientIpHeaderMode::XffReplace),
        ("forwarded", ClientIpHeaderMode::Forwarded),
        ("proxy-v1", ClientIpHeaderMode::ProxyV1),
        ("proxy-v2", ClientIpHeaderMode::ProxyV2),
    ];
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
    /// `[load] ramp` or `ramp-connections`: a cell per rate or per connection count.
    pub ramp: Option<RampPlan>,
    /// `[load] connect-rate`: connections opened at most this many a second.
    pub connect_rate: Option<f64>,
    /// `[load] think`: closed loop, each connection's pause after each answer.
    pub think: Option<Duration>,
}

/// A ramp (`[load] ramp`, `ramp-connections`) and how its knee is judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RampPlan {
    pub of: crate::model::RampOf,
    /// Open-loop rates (requests per second) or connections, strictly rising.
    pub values: Vec<f64>,
    /// A step holds when at most this share of its requests failed: `[expect]
    /// max-error-rate`, or 1% when the scenario does not say.
    pub error_limit: f64,
    /// `[expect] min-knee`: successful requests per second the knee must hold.
    pub min_knee: Option<f64>,
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
    /// The router VM's RAM and vCPUs (`[router]`).
    pub router: crate::vm::Resources,
    pub load: LoadPlan,
    /// The client-IP verdict the scenario expects.
    pub expect: Verdict,
    pub max_error_rate: f64,
    pub budgets: Budgets,
    /// Faults injected during the steady phase, in order of `at`.
    pub faults: Vec<FaultPlan>,
    pub fault_expect: FaultExpect,
}

/// One fault: what happens, when into the steady phase, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FaultPlan {
    pub at: Duration,
    pub action: FaultAction,
    /// For the actions that last (flap-tunnel, drop-wan, pause-router).
    pub duration: Option<Duration>,
}

impl FaultPlan {
    /// When the fault is over: its end, or its start for the instant ones.
    pub fn end(&self) -> Duration {
        self.at + self.duration.unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// SIGKILL the proxy in the guest; nobody restarts it.
    KillProxy,
    /// Stop the proxy and start it again.
    RestartProxy,
    /// Stop the backend and start it again.
    RestartBackend,
    /// Take the tunnel link down, and up again after `duration`.
    FlapTunnel,
    /// 100% loss on the router's WAN for `duration`.
    DropWan,
    /// Freeze the router (QMP `stop`), then `cont` after `duration`.
    PauseRouter,
}

impl FaultAction {
    pub const ALL: [(&'static str, FaultAction); 6] = [
        ("kill-proxy", FaultAction::KillProxy),
        ("restart-proxy", FaultAction::RestartProxy),
        ("restart-backend", FaultAction::RestartBackend),
        ("flap-tunnel", FaultAction::FlapTunnel),
        ("drop-wan", FaultAction::DropWan),
        ("pause-router", FaultAction::PauseRouter),
    ];

    /// Whether the fault lasts a `duration` (else it is an instant event).
    pub fn lasts(self) -> bool {
        matches!(self, FaultAction::FlapTunnel | FaultAction::DropWan | FaultAction::PauseRouter)
    }
}

/// What the faults may cost; each becomes a named assertion.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FaultExpect {
    /// Failed requests started in fault windows.
    pub max_failed: Option<u64>,
    /// From a fault's end to the first success from every client address.
    pub max_recovery: Option<Duration>,
}

/// Optional cost budgets; each becomes a named assertion.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Budgets {
    pub p99: Option<Duration>,
    pub proxy_cpu_pct: Option<f64>,
    pub proxy_rss_mib: Option<f64>,
    /// Bytes of the build's footprint as xz.
    pub flash_bytes: Option<u64>,
    /// KiB per minute, from a least-squares slope of RSS over the steady phase.
    pub proxy_rss_growth_kib_per_min: Option<f64>,
}
