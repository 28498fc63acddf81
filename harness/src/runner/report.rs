//! `report.json`: one entry per cell. Schema: docs/report.schema.json.
use crate::load::LoadSummary;
use crate::reconcile::Assertion;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientIpSection {
    pub sent: u64,
    pub logged: u64,
    pub failed: u64,
    pub mismatches: u64,
    /// `preserved` or `lost`.
    pub verdict: String,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ProxyMetrics {
    pub process: String,
    /// Percent of one guest CPU during steady load.
    pub cpu_mean_pct: f64,
    pub cpu_peak_pct: f64,
    pub rss_mean_kb: f64,
    pub rss_peak_kb: u64,
    pub guest_cpu_mean_pct: f64,
    pub guest_mem_available_min_kb: u64,
    /// Percent of one host CPU used by QEMU during steady load.
    pub qemu_host_cpu_mean_pct: f64,
    pub samples: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub lab_s: f64,
    pub boot_s: f64,
    pub deploy_s: f64,
    pub warmup_s: f64,
    pub steady_s: f64,
    pub teardown_s: f64,
}

/// The proxy build a cell ran: the image's own package, or an alternate build.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildInfo {
    pub name: String,
    /// What the binary says about itself (`haproxy -v`, `nginx -v`), first line.
    pub version: String,
    /// sha256 of the proxy binary as found in the guest.
    pub sha256: String,
    /// Where it came from: `image`, a .deb/.ipk/binary path, or an apt package.
    pub source: String,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CellReport {
    pub scenario: String,
    pub target: String,
    pub proxy: String,
    pub tunnel: String,
    pub expect: String,
    /// `pass`, `fail` (an assertion failed) or `error` (the cell could not run).
    pub outcome: String,
    pub error: Option<String>,
    pub client_ip: ClientIpSection,
    pub assertions: Vec<Assertion>,
    pub load: Option<LoadSummary>,
    pub metrics: Option<ProxyMetrics>,
    /// Guest instructions per phase and per request, or why they are unavailable.
    #[serde(default)]
    pub insns: Option<crate::cost::InsnSection>,
    pub timings: Timings,
    /// Impairments applied (`link host/interface: netem args`) and those that could not be.
    #[serde(default)]
    pub impairments_applied: Vec<String>,
    #[serde(default)]
    pub impairments_not_applied: Vec<String>,
    /// Backend log formats that recorded a forged address as the client (spoof scenarios).
    #[serde(default)]
    pub spoofable: Vec<String>,
    pub image: Option<String>,
    /// The proxy build under test (absent for the l4-forward baseline).
    #[serde(default)]
    pub build: Option<BuildInfo>,
    /// 1-based repetition of this (scenario, target, build) in an A/B run.
    #[serde(default)]
    pub repetition: u32,
    /// Kernel and compressed initramfs sizes of the image booted.
    #[serde(default)]
    pub image_kernel_bytes: u64,
    #[serde(default)]
    pub image_initrd_bytes: u64,
    pub dir: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub routerlab_version: String,
    /// `git describe` of the routerlab tree that was built, if it was a git checkout.
    #[serde(default)]
    pub git_revision: String,
    pub started_at: String,
    pub host: String,
    pub cells: Vec<CellReport>,
}
