//! `report.json`: one entry per cell. Schema: docs/report.schema.json.
use super::{Assertion, LegReuse};
use super::{Outcome, Verdict};
use crate::load::LoadSummary;

/// Version 2: absent measurements are `null` (the proxy's CPU and RSS for the layer-4
/// forward, a verdict for a cell that never reconciled), where version 1 wrote 0 and "".
pub const SCHEMA_VERSION: u32 = 2;

/// Version 1 wrote "" for "no verdict".
fn verdict_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Verdict>, D::Error> {
    use serde::Deserialize;
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("") => Ok(None),
        Some(w) => Verdict::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(w)).map(Some),
    }
}

/// Version 1 wrote "" for the layer-4 forward, which has no proxy process.
fn process_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(d)?.filter(|p| !p.is_empty()))
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientIpSection {
    pub sent: u64,
    pub logged: u64,
    pub failed: u64,
    pub mismatches: u64,
    /// Absent when the cell never got as far as reconciling.
    #[serde(default, deserialize_with = "verdict_or_empty")]
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ProxyMetrics {
    /// The proxy's process name; absent for the layer-4 forward, which has no proxy.
    #[serde(default, deserialize_with = "process_or_empty")]
    pub process: Option<String>,
    /// Percent of one guest CPU during steady load; this and the RSS figures are absent
    /// when the proxy was never sampled.
    pub cpu_mean_pct: Option<f64>,
    pub cpu_peak_pct: Option<f64>,
    pub rss_mean_kb: Option<f64>,
    pub rss_peak_kb: Option<u64>,
    /// Absent when the guest was never sampled in the steady phase.
    pub guest_cpu_mean_pct: Option<f64>,
    pub guest_mem_available_min_kb: Option<u64>,
    /// Percent of one host CPU used by QEMU during steady load.
    pub qemu_host_cpu_mean_pct: Option<f64>,
    /// Samples of the proxy in the steady phase.
    pub samples: usize,
    /// The proxy's RSS trend over the steady phase (soak's leak detector); absent with
    /// too few samples.
    #[serde(default)]
    pub rss_growth: Option<super::Growth>,
    /// The guest's used memory (total less available) over the same window.
    #[serde(default)]
    pub guest_mem_used_growth: Option<super::Growth>,
}

/// Connection reuse on both legs of the steady phase: a proxy that opens a backend
/// connection per request pays for it, and a comparison must show that.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionReuse {
    /// Load generator ↔ router, from the load generator.
    pub client: Option<LegReuse>,
    /// Router ↔ backend, from the backend's access log (connection serials); absent when
    /// the log does not say.
    pub backend: Option<LegReuse>,
}

impl ConnectionReuse {
    /// From the steady phase's load summary and the reconciled backend log.
    pub fn of(load: Option<&LoadSummary>, backend: Option<LegReuse>) -> Self {
        let client = load
            .filter(|l| l.connections_used > 0)
            .map(|l| LegReuse::new(l.connections_used, l.sent, l.handshakes.full, l.handshakes.resumed));
        ConnectionReuse { client, backend }
    }
}

/// Connections the backend refused during the cell's load (its rejects log).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RejectSummary {
    pub count: u64,
    /// Counts per reason (`proxy-version`, `untrusted`, `tls-handshake`, ...).
    pub reasons: std::collections::BTreeMap<String, u64>,
    /// The first few, as `reason from peer: detail`.
    pub examples: Vec<String>,
}

impl RejectSummary {
    /// `480 connections rejected by the backend: proxy-version 480; e.g. ...`, or `none`.
    pub fn describe(&self) -> String {
        if self.count == 0 {
            return "none".into();
        }
        let reasons: Vec<String> = self.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let mut s = format!("{} connections rejected by the backend", self.count);
        if !reasons.is_empty() {
            s.push_str(&format!(": {}", reasons.join(", ")));
        }
        if !self.examples.is_empty() {
            s.push_str(&format!("; e.g. {}", self.examples.join("; ")));
        }
        s
    }
}

/// A fault as it happened, in seconds since the steady phase began: from when its start
/// began to when it was over (its end done, or an instant fault's steps done).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultRecord {
    pub action: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Why the fault could not be applied, or was not reached.
    #[serde(default)]
    pub error: Option<String>,
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
    /// The C library that loads it (`musl`, `glibc`, `static`), read from its ELF on the
    /// host; absent where the image's manifest does not know the file.
    #[serde(default)]
    pub libc: Option<String>,
    /// What the binary says about its build (`haproxy -vv`, `nginx -V`), up to 80 lines.
    #[serde(default)]
    pub details: String,
    /// The TLS library it was built with, as `details` names it (`OpenSSL 3.0.20 7 Apr 2026`).
    #[serde(default)]
    pub tls: Option<String>,
    /// The binary's size in bytes, as installed on the router.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// The build's files as installed and as xz; `None` for the image's own proxy, which
    /// came with the image.
    #[serde(default)]
    pub flash: Option<Footprint>,
}

/// What a build costs in flash: its files as installed, and as xz (how OpenWrt's squashfs
/// stores them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Footprint {
    pub installed: u64,
    pub xz: u64,
}

/// `7.21 MiB`: bytes as flash and RAM are counted, to two places.
pub fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

impl Footprint {
    /// `7.21 MiB installed, 2.10 MiB as xz`.
    pub fn describe(&self) -> String {
        format!("{} installed, {} as xz", mib(self.installed), mib(self.xz))
    }

    /// Whether it fits a `max-flash` budget of `max` bytes: the xz, as flash holds it.
    pub fn fits(&self, max: u64) -> bool {
        self.xz <= max
    }
}

impl BuildInfo {
    /// The TLS library a `-vv`/`-V` text says the binary was built with: HAProxy's
    /// `Built with OpenSSL version : OpenSSL 3.0.20 7 Apr 2026`, nginx's
    /// `built with OpenSSL 3.0.11 19 Sep 2023`.
    pub fn tls_of(details: &str) -> Option<String> {
        details.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("Built with ").or_else(|| l.strip_prefix("built with "))?;
            let lib = rest.split_once(" version : ").map_or(rest, |(_, v)| v);
            let known = ["OpenSSL", "LibreSSL", "BoringSSL", "wolfSSL", "AWS-LC", "mbed TLS", "QuicTLS"];
            known.iter().any(|k| lib.starts_with(k)).then(|| lib.trim().to_string())
        })
    }

    /// `OpenSSL 3.0.20 7 Apr 2026, static, 7.21 MiB, flash 7.22 MiB installed, 2.10 MiB as
    /// xz`: what sets this build apart in one line (the binary's size, then the flash
    /// footprint of all it installs).
    pub fn facts_line(&self) -> String {
        let size = self.bytes.map(mib);
        // A report from before `details` says nothing either way.
        let tls = self.tls.clone().or_else(|| (!self.details.is_empty()).then(|| "no TLS library named".into()));
        let flash = self.flash.map(|f| format!("flash {}", f.describe()));
        [tls, self.libc.clone(), size, flash].into_iter().flatten().collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CellReport {
    pub scenario: String,
    pub target: String,
    pub proxy: String,
    pub tunnel: String,
    pub expect: Verdict,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub client_ip: ClientIpSection,
    pub assertions: Vec<Assertion>,
    pub load: Option<LoadSummary>,
    pub metrics: Option<ProxyMetrics>,
    /// Guest instructions per phase and per request, or why they are unavailable.
    #[serde(default)]
    pub insns: Option<crate::cost::InsnSection>,
    pub timings: Timings,
    /// Connections the backend refused during the load; absent when its log does not say.
    #[serde(default)]
    pub backend_rejects: Option<RejectSummary>,
    /// Connections and TLS handshakes on the client and backend legs.
    #[serde(default)]
    pub connections: Option<ConnectionReuse>,
    /// The harness's own load generator and backend: their RSS over the steady phase.
    #[serde(default)]
    pub helpers: Option<super::HelperMemory>,
    /// The `[[fault]]`s injected during the steady phase.
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// Impairments applied (`link host/interface: netem args`) and those that could not be.
    #[serde(default)]
    pub impairments_applied: Vec<String>,
    #[serde(default)]
    pub impairments_not_applied: Vec<String>,
    /// What the guest kernel said during the cell: OOM kills, full tables, floods, crashes.
    #[serde(default)]
    pub kernel_events: Vec<super::KernelEvent>,
    /// Backend log formats that recorded a forged address as the client (spoof scenarios).
    #[serde(default)]
    pub spoofable: Vec<String>,
    /// The cell's packets on every link (`run --capture`), and what each hop carried for
    /// the first failing request ids; absent with `--capture off`.
    #[serde(default)]
    pub capture: Option<super::CaptureSection>,
    pub image: Option<String>,
    /// The router VM's RAM and vCPUs in this cell; absent in reports from before they were
    /// settings (256 MiB, 1 CPU).
    #[serde(default)]
    pub router: Option<crate::vm::Resources>,
    /// The lab's tools on the router as the guest's PATH finds them, with whose they are
    /// and their libc (from the image's manifest; empty for an image routerlab did not build).
    #[serde(default)]
    pub router_tools: Vec<crate::image::programs::Program>,
    /// The proxy build under test (absent for the l4-forward baseline).
    #[serde(default)]
    pub build: Option<BuildInfo>,
    /// 1-based repetition of this (scenario, target, build) in an A/B run.
    #[serde(default)]
    pub repetition: u32,
    /// The step of a `[load] ramp` this cell ran, absent outside a ramp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_step: Option<super::RampStep>,
    /// On a ramp's last cell: every step, and the knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<super::RampSection>,
    /// Kernel and compressed initramfs sizes of the image booted.
    #[serde(default)]
    pub image_kernel_bytes: u64,
    #[serde(default)]
    pub image_initrd_bytes: u64,
    pub dir: String,
}

impl CellReport {
    /// The scenario, and a ramp step's rate or connections: `handshake-storm @ 10/s`. Cells of one ramp
    /// step are compared with each other, never with another step's.
    pub fn scenario_label(&self) -> String {
        match &self.ramp_step {
            Some(s) => format!("{} @ {}", self.scenario, s.label()),
            None => self.scenario.clone(),
        }
    }

    /// `scenario on target [build] #rep`, the name used in tables and test cases.
    pub fn title(&self) -> String {
        let mut s = format!("{} on {}", self.scenario_label(), self.target);
        if let Some(b) = &self.build {
            s.push_str(&format!(" [{}]", b.name));
        }
        if self.repetition > 1 {
            s.push_str(&format!(" #{}", self.repetition));
        }
        s
    }
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

#[cfg(test)]
mod tests {
    use super::BuildInfo;

    #[test]
    fn the_tls_library_is_read_from_haproxy_and_nginx_words_and_nothing_else() {
        let haproxy = "Built with multi-threading support (MAX_THREADS=32, default=1).\n\
                       Built with OpenSSL version : OpenSSL 3.0.20 7 Apr 2026\n\
                       Running on OpenSSL version : OpenSSL 3.0.20 7 Apr 2026\n";
        assert_eq!(BuildInfo::tls_of(haproxy).as_deref(), Some("OpenSSL 3.0.20 7 Apr 2026"));
        let nginx = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.11 19 Sep 2023\nTLS SNI support enabled\n";
        assert_eq!(BuildInfo::tls_of(nginx).as_deref(), Some("OpenSSL 3.0.11 19 Sep 2023"));
        // haproxy-nossl: threads and the Prometheus exporter, no TLS library.
        let nossl = "Built with multi-threading support\nBuilt with the Prometheus exporter as a service\n";
        assert_eq!(BuildInfo::tls_of(nossl), None);
        let b = BuildInfo { libc: Some("static".into()), bytes: Some(7_563_480), ..BuildInfo::default() };
        assert_eq!(b.facts_line(), "static, 7.21 MiB", "no details: nothing said about TLS");
        let b = BuildInfo { details: nossl.into(), ..b };
        assert_eq!(b.facts_line(), "no TLS library named, static, 7.21 MiB");
        let b = BuildInfo { tls: BuildInfo::tls_of(haproxy), ..b };
        assert_eq!(b.facts_line(), "OpenSSL 3.0.20 7 Apr 2026, static, 7.21 MiB");
        let b = BuildInfo { flash: Some(super::Footprint { installed: 7_573_000, xz: 2_202_009 }), ..b };
        assert!(b.facts_line().ends_with("7.21 MiB, flash 7.22 MiB installed, 2.10 MiB as xz"), "{}", b.facts_line());
    }
}
