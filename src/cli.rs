//! Command-line shape. Names here are an interface: scripts depend on them.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use harness::accesslog::LogFormat;
use harness::cmdline::{duration, positive_duration};

/// `--memory 64MiB`: a size in MiB.
fn cpu_model(s: &str) -> Result<harness::vm::CpuModel, String> {
    harness::vm::CpuModel::parse(s)
}

/// `--memory 64MiB`: a size in MiB.
fn memory_size(s: &str) -> Result<u32, String> {
    harness::vm::Resources::parse_memory(s)
}
pub use harness::cmdline::{BackendArgs, LoadArgs};
use harness::model::Verdict;
use harness::tls::KeyType;

#[derive(Debug, Parser)]
#[command(
    name = "routerlab",
    version,
    about = "Test and benchmark reverse proxies on emulated routers: do client IPs survive, and what does it cost?"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). ROUTERLAB_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP(S) and log, per request, which client IP the backend would believe.
    Backend(BackendArgs),
    /// Drive HTTP(S) load from many source addresses and journal every request.
    Load(LoadArgs),
    /// Write a per-run CA and the certificates a proxy and backend need.
    Certs(CertsArgs),
    /// Reconcile a load journal with a backend access log and check client-IP attribution.
    Verify(VerifyArgs),
    /// Build, list and fetch router images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Boot a router VM and run a command in it, or open its console.
    #[command(subcommand)]
    Vm(VmCmd),
    /// Build the network lab and keep it until Ctrl-C or SIGTERM.
    #[command(subcommand)]
    Lab(LabCmd),
    /// Run scenarios: each on each of its targets, on the emulated router, with a report.
    Run(RunArgs),
    /// Render a run directory as HTML (self-contained), Markdown and JUnit XML.
    Report(ReportArgs),
    /// Join the run directories of a sharded matrix (`run --shard`) into one run: report.json,
    /// report.html, summary.md and junit.xml, with each cell's directory linked beside them.
    Merge {
        /// Run directories (or their report.json), one per shard.
        #[arg(required = true, value_name = "RUN_DIR")]
        runs: Vec<PathBuf>,
        /// The merged run directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Compare runs (or the builds of one A/B run) per metric, with an optional regression gate.
    Compare(CompareArgs),
    /// Print the JSON Schema of scenario files or build files (docs/*.schema.json).
    Schema {
        #[arg(value_parser = ["scenario", "build"])]
        what: String,
    },
    /// Validate scenario files without running them, and preflight their builds (or
    /// `--builds`) against their targets (or `--target`): no VM boots.
    Check(CheckArgs),
    /// Remove what crashed runs left behind (namespaces, processes, temp dirs), per their ledgers,
    /// and the scratch of image builds whose builder is gone.
    Clean {
        /// Where ledgers live (default $ROUTERLAB_STATE or /run/routerlab).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or directories of them; a bare name is a shipped scenario.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Preflight these build files instead of the scenarios' own.
    #[arg(long, value_delimiter = ',', value_name = "A.toml,B.toml")]
    pub builds: Vec<PathBuf>,
    /// Preflight for these targets instead of the scenarios' own.
    #[arg(long, value_name = "TARGET")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub dirs: ImageDirs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories of them; a bare name is a shipped scenario.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Run on these targets instead of the scenarios' own.
    #[arg(long, value_name = "TARGET")]
    pub target: Vec<String>,
    /// Run directory (default runs/<time>-<scenario>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write report.json here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Override every scenario's steady phase (e.g. short phases in CI).
    #[arg(long, value_parser = positive_duration, allow_hyphen_values = true, value_name = "D")]
    pub duration: Option<Duration>,
    /// Override every scenario's warm-up phase.
    #[arg(long, value_parser = duration, allow_hyphen_values = true, value_name = "D")]
    pub warmup: Option<Duration>,
    /// Proxy build files to run alternately (A B A B ...) instead of the scenarios' own builds.
    #[arg(long, value_delimiter = ',', value_name = "A.toml,B.toml")]
    pub builds: Vec<PathBuf>,
    /// Run each build this many times, alternating (default 1; with --builds, 3).
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Run only shard K of N of the (scenario, target) matrix, e.g. 2/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Skip the HTML, Markdown and JUnit files normally written beside report.json.
    #[arg(long)]
    pub no_render: bool,
    /// Print the cells this invocation would run (`scenario target build repetition`), and exit.
    #[arg(long)]
    pub list: bool,
    /// Override every scenario's idle window (background instruction rate; 0s skips it).
    #[arg(long, value_parser = duration, allow_hyphen_values = true, value_name = "D")]
    pub idle: Option<Duration>,
    /// Do not load the insn-count QEMU plugin (no instruction counts; reports say so).
    #[arg(long)]
    pub no_insn_count: bool,
    /// The router's RAM, e.g. 64MiB, in place of the scenarios' [router] memory.
    #[arg(long, value_parser = memory_size, value_name = "SIZE")]
    pub memory: Option<u32>,
    /// The router's vCPUs, in place of the scenarios' [router] cpus.
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// Entries in the router's conntrack table (nf_conntrack_max), in place of the
    /// scenarios' [router] conntrack-max (OpenWrt sets 16384).
    #[arg(long, value_name = "N")]
    pub conntrack_max: Option<u32>,
    /// Run the guest's clock on its instructions, 2^N ns each (QEMU -icount shift=N; 2 is
    /// about an MT7621's rate), in place of the scenarios' [router] icount-shift.
    #[arg(long, value_name = "N")]
    pub icount_shift: Option<u8>,
    /// The router's CPU model (24Kf, 24KEc, 34Kf, 74Kf; cortex-a53, cortex-a72), in place of
    /// the scenarios' [router] cpu and the target's own.
    #[arg(long, value_parser = cpu_model, value_name = "MODEL")]
    pub cpu_model: Option<harness::vm::CpuModel>,
    /// Record every link with tcpdump and keep the packets and TLS keys of failing cells
    /// (on-failure), of every cell (always), or none (off).
    #[arg(long, default_value = "on-failure", value_name = "off|on-failure|always")]
    pub capture: harness::capture::CaptureMode,
    #[command(flatten)]
    pub dirs: ImageDirs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (or its report.json).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Write report.html into the run directory (the default when no format is chosen).
    #[arg(long)]
    pub html: bool,
    /// Print the Markdown summary on stdout (and write summary.md).
    #[arg(long)]
    pub markdown: bool,
    /// Write JUnit XML here (default RUN_DIR/junit.xml when no format is chosen).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run directories or report.json files; the first is the baseline. One A/B run
    /// directory compares its builds.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Exit 102 when this holds for a candidate, e.g. 'p99 > 1.10x', 'rss > 1.20x',
    /// 'errors > 0', 'client-ip != preserved'. Repeatable.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Also write the comparison as Markdown here.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Also write an HTML page with the compared runs' plots overlaid.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Also write the comparison as JSON (docs/compare.schema.json).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Also write Bencher Metric Format JSON (one benchmark per scenario/target/side).
    #[arg(long, value_name = "PATH")]
    pub bmf: Option<PathBuf>,
    /// Judge each change against the noise fence learned from this history file
    /// (Q3 + 3 x IQR of its past changes, at least 0.2%); `--fail-if 'insns/req > significant'`
    /// gates on it. A missing file is an empty history.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// After judging, append this comparison's changes to the --history file.
    #[arg(long, requires = "history")]
    pub record: bool,
}

#[derive(Debug, Subcommand)]
pub enum LabCmd {
    /// Build the standard lab with the stand-in router; print `ready PREFIX`; tear down on signal.
    Up {
        /// Client IPv4 addresses (1-1276).
        #[arg(long, default_value_t = 3, value_name = "N")]
        clients: usize,
        /// Client IPv6 addresses.
        #[arg(long, default_value_t = 1, value_name = "N")]
        clients6: usize,
        /// No layer-4 forward of TCP 443/80 on the router (NAT only).
        #[arg(long)]
        no_l4_forward: bool,
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        /// Tear down as soon as it is built (for timing).
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VmCmd {
    /// Boot TARGET, run CMD in the guest shell, print its output and exit with its status.
    Run {
        /// mipsel-malta or aarch64-virt.
        target: String,
        /// A built image directory, KERNEL,INITRD, or a kernel with a built-in initramfs.
        #[arg(long, value_name = "PATH")]
        image: Option<PathBuf>,
        /// Where the console transcript, QEMU script and logs go (default runs/<time>-vm-<target>).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        /// Budget for the command (default per target, times ROUTERLAB_TIMEOUT_MULT).
        #[arg(long, value_parser = positive_duration, allow_hyphen_values = true, value_name = "D")]
        timeout: Option<Duration>,
        /// Upload LOCAL to GUEST_PATH before running CMD (LOCAL:GUEST_PATH, repeatable).
        #[arg(long, value_name = "LOCAL:GUEST")]
        upload: Vec<String>,
        /// Write the guest instructions the command took (user, kernel, seconds) and the
        /// guest's CPU busy share meanwhile (busy_pct) as JSON. The metrics agent is not asked
        /// for samples while the command runs, so they are the command's and the guest's own
        /// background.
        #[arg(long, value_name = "PATH")]
        insns: Option<PathBuf>,
        /// The router's RAM, e.g. 64MiB (default 256MiB).
        #[arg(long, value_parser = memory_size, value_name = "SIZE")]
        memory: Option<u32>,
        /// The router's vCPUs (aarch64-virt: 1-4; malta runs one).
        #[arg(long, value_name = "N")]
        cpus: Option<u32>,
        /// The router's CPU model in place of the target's own (24Kf, 24KEc, 34Kf, 74Kf;
        /// cortex-a53, cortex-a72).
        #[arg(long, value_parser = cpu_model, value_name = "MODEL")]
        cpu_model: Option<harness::vm::CpuModel>,
        #[command(flatten)]
        dirs: ImageDirs,
        /// The command, after `--`: one word is a shell command line ('echo hi; exit 3'),
        /// several are an argument vector, each word kept whole (sh -c 'exit 7').
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Boot TARGET with its console on this terminal (Ctrl-A X quits).
    Shell {
        target: String,
        #[arg(long, value_name = "PATH")]
        image: Option<PathBuf>,
        #[command(flatten)]
        dirs: ImageDirs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Build an image from its recipe (images/NAME.toml), or find it in the cache.
    Build {
        /// Recipe names, e.g. aarch64-virt mipsel-malta.
        #[arg(required = true)]
        names: Vec<String>,
        /// Rebuild even if the cache holds this recipe (picks up package updates).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        dirs: ImageDirs,
    },
    /// List recipes and cached images.
    List {
        #[command(flatten)]
        dirs: ImageDirs,
    },
    /// Download and verify a pinned OpenWrt artifact (images/openwrt.toml).
    Fetch {
        name: String,
        #[command(flatten)]
        dirs: ImageDirs,
    },
}

#[derive(Debug, Args)]
pub struct ImageDirs {
    /// Directory of image recipes (default: ./images, or the one beside the binary's checkout).
    #[arg(long, env = "ROUTERLAB_IMAGES", value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Cache directory (default: $ROUTERLAB_CACHE, $XDG_CACHE_HOME/routerlab or ~/.cache/routerlab).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// DNS name of the proxy's (frontend) certificate.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// IP SANs of the frontend certificate (the router's WAN addresses).
    #[arg(long, value_name = "IP")]
    pub ip: Vec<IpAddr>,
    #[arg(long, default_value = "ecdsa-p256", value_name = "ecdsa-p256|rsa-2048|ed25519")]
    pub key: KeyType,
    /// DNS name of the backend certificate.
    #[arg(long, default_value = "backend.test", value_name = "NAME")]
    pub backend_name: String,
    /// IP SANs of the backend certificate.
    #[arg(long, value_name = "IP")]
    pub backend_ip: Vec<IpAddr>,
    /// Also issue a client certificate.
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_name = "PATH")]
    pub journal: PathBuf,
    #[arg(long, value_name = "PATH")]
    pub access_log: PathBuf,
    #[arg(long, default_value = "json", value_name = "json|combined|main")]
    pub log_format: LogFormat,
    /// preserved: each request is logged with its sender's address. lost: with a --seen-as address.
    #[arg(long, default_value = "preserved", value_parser = verdict_arg)]
    pub expect: Verdict,
    /// With --expect lost: the router or hub address the backend should see instead.
    #[arg(long, value_name = "IP", required_if_eq("expect", "lost"))]
    pub seen_as: Vec<IpAddr>,
    /// Highest tolerated fraction of failed requests.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub max_error_rate: f64,
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

fn verdict_arg(s: &str) -> Result<Verdict, String> {
    match s {
        "preserved" => Ok(Verdict::Preserved),
        "lost" => Ok(Verdict::Lost),
        _ => Err("expected preserved or lost".into()),
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
