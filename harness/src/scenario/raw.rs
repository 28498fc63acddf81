//! The scenario file as written: kebab-case, unknown fields rejected, positions kept.
use toml::Spanned;

/// A routerlab scenario: which proxy, on which emulated routers, under what load, and what
/// must hold (docs/scenario-format.md).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "routerlab scenario")]
pub(crate) struct RawScenario {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[schemars(with = "Vec<String>")]
    pub targets: Spanned<Vec<String>>,
    pub proxy: RawProxy,
    #[serde(default)]
    pub certificates: RawCerts,
    #[serde(default)]
    pub backend: RawBackend,
    #[serde(default)]
    pub lab: RawLab,
    #[serde(default)]
    pub router: RawRouter,
    #[serde(default)]
    pub load: RawLoad,
    pub expect: RawExpect,
    /// `[[fault]]`: faults injected during the steady phase, in order of `at`.
    #[serde(default)]
    pub fault: Vec<RawFault>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFault {
    /// Offset into the steady phase.
    #[schemars(with = "String")]
    pub at: Spanned<String>,
    #[schemars(with = "String")]
    pub action: Spanned<String>,
    /// How long the fault lasts (flap-tunnel, drop-wan, pause-router).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawProxy {
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client_ip_header: Option<Spanned<String>>,
    /// `[[proxy.build]]`: alternate builds, run one after another (A B A B with --repeat).
    #[serde(default)]
    pub build: Vec<RawBuild>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCerts {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBackend {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub trusted: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawLab {
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub clients: Option<Spanned<usize>>,
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub clients6: Option<Spanned<usize>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tunnel: Option<Spanned<String>>,
    #[serde(default)]
    pub impair_wan: Option<RawImpair>,
    #[serde(default)]
    pub impair_tunnel: Option<RawImpair>,
}

/// The router VM's limits: a router is defined by them.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRouter {
    /// RAM, e.g. "64MiB" or "128MiB" (default 256MiB; malta takes at most 256MiB).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub memory: Option<Spanned<String>>,
    /// vCPUs (default 1; aarch64-virt takes up to 4, malta runs one).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub cpus: Option<Spanned<u32>>,
    /// CPU model in place of the target's own: "24Kf", "24KEc", "34Kf", "74Kf" on malta;
    /// "cortex-a53", "cortex-a72" on virt.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cpu: Option<Spanned<String>>,
    /// Entries in the router's connection-tracking table (nf_conntrack_max), 64-4194304;
    /// default: what the kernel sizes from RAM (OpenWrt sets 16384).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub conntrack_max: Option<Spanned<u32>>,
    /// QEMU's -icount shift, 0-10: the guest's clock runs on its instructions, 2^N ns each
    /// (2 is 4 ns, about an MT7621's 250 M instructions a second), not on the host's; the
    /// guest's timers then do not move with host load. Default: off.
    #[serde(default)]
    #[schemars(with = "Option<u8>")]
    pub icount_shift: Option<Spanned<u8>>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawImpair {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub delay: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<Spanned<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawLoad {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub idle: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub warmup: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub connections: Option<Spanned<u32>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub conn_policy: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub http: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub spoof_headers: Vec<Spanned<String>>,
    /// Open-loop rates in requests per second, rising: one cell per rate on one router, and
    /// the last one reports the knee (the highest rate held within the error limit).
    #[serde(default)]
    #[schemars(with = "Option<Vec<f64>>")]
    pub ramp: Option<Spanned<Vec<f64>>>,
    /// Closed-loop connections, rising, each busy: one cell per count on one router, and the
    /// last reports the knee and the memory each connection costs.
    #[serde(default)]
    #[schemars(with = "Option<Vec<u32>>")]
    pub ramp_connections: Option<Spanned<Vec<u32>>>,
    /// Open the connections at most this many a second, in the warm-up (which lasts until
    /// they are open), not all at once.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub connect_rate: Option<Spanned<f64>>,
    /// Closed loop: each connection waits this long after each answer before its next
    /// request ("8s"), so it stays open and mostly idle; with ramp-connections, the memory
    /// each idle keep-alive connection costs.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub think: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawExpect {
    #[schemars(with = "String")]
    pub client_ip: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub max_error_rate: Option<Spanned<f64>>,
    /// Budget for the steady phase's p99 total latency (corrected in open loop).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_p99: Option<Spanned<String>>,
    /// Budget for the proxy's mean CPU, percent of one guest CPU.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub max_proxy_cpu: Option<Spanned<f64>>,
    /// Budget for the proxy's peak RSS in MiB.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub max_proxy_rss_mib: Option<Spanned<f64>>,
    /// Budget for a build's flash footprint, compressed as OpenWrt's squashfs stores it
    /// (xz), e.g. "4MiB" or "1536KiB". The image's own proxy is not measured.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_flash: Option<Spanned<String>>,
    /// Budget for the proxy's RSS growth over the steady phase, KiB per minute (a soak's
    /// leak detector); the harness's own load generator and backend are held to it too.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub max_proxy_rss_growth: Option<Spanned<f64>>,
    /// A ramp's knee must hold at least this many successful requests per second.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub min_knee: Option<Spanned<f64>>,
    /// Most failed requests started in fault windows (from a fault's start to recovery).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_failed: Option<Spanned<u64>>,
    /// Longest time from a fault's end to the first success from every client address.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_recovery: Option<Spanned<String>>,
}

// A `[[proxy.build]]` table, or a build file of its own (no doc comment: schemars would put
// it in docs/*.schema.json).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBuild {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub binary: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub deb: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub ipk: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub apt: Option<Spanned<Vec<String>>>,
    /// Build from source for the cell's target with a recipe (`scenarios/recipes/`).
    #[serde(default)]
    #[schemars(with = "Option<RawSource>")]
    pub source: Option<Spanned<RawSource>>,
    /// The proxy binary inside the unpacked packages, e.g. `usr/sbin/haproxy`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// A config template replacing the shipped one for the scenario's kind and mode.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub config: Option<Spanned<String>>,
    /// custom kind: the start command, with `{bin}` and `{config}`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<Spanned<String>>,
    /// custom kind: the process name to watch for CPU and memory.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub process: Option<Spanned<String>>,
    /// What this build can send (its capabilities): a scenario asking for another
    /// client-ip-header is refused before anything boots.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub client_ip_headers: Option<Spanned<Vec<String>>>,
}

/// A build's source and the recipe that builds it: one of `debian`, `dsc`, `dir` or `tarball`.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSource {
    /// A Debian source package, `name` or `name=version`, fetched through a private deb-src apt state.
    #[serde(default)]
    pub debian: Option<String>,
    /// A Debian source package by the address of its .dsc, for a version the apt index does
    /// not list (a newer suite's); `sha256` pins the .dsc, which pins the files it lists.
    #[serde(default)]
    pub dsc: Option<String>,
    /// The sha256 of the `dsc` file, in hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// A source tree on this machine (your checkout, with your patches), relative to this file.
    #[serde(default)]
    pub dir: Option<String>,
    /// A source tarball on this machine, relative to this file.
    #[serde(default)]
    pub tarball: Option<String>,
    /// The recipe (`scenarios/recipes/haproxy.toml`), relative to this file.
    pub recipe: String,
    /// Patches of this build, applied with `patch -p1` after the recipe's, relative to this
    /// file: a maintainer's fix, or a planted regression, on a shared recipe.
    #[serde(default)]
    pub patches: Vec<String>,
}
