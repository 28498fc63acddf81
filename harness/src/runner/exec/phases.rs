//! A cell's warm-up and steady load: one `routerlab load` process in the clients namespace
//! runs both on the same connections and stops at each boundary (`--marks`), with no request
//! in flight, until the runner has read the guest's counters. The steady window so holds
//! exactly its requests: no TCP or TLS set-up, no process start or exit.
use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

use super::faults::{FaultHost, Injector};
use super::helper_rss::RssSampler;
use super::insns::CostProbe;
use crate::cmdline::LoadArgs;
use crate::load::LoadSummary;
use crate::model::LoadPhase::{Steady, Warmup};
use crate::model::{CellDir, LoadPhase, PhaseClock};
use crate::netaddr::SourceSpec;
use crate::runner::error::PathError;
use crate::runner::plan::fault_script::FaultScript;
use crate::runner::RunError;
use crate::scenario::{ConnPolicyPlan, Plan};
use crate::vm::InsnReading;

/// Where the load is sent from and to, and the cell directory its files go to.
pub struct LoadTarget<'a> {
    pub dir: &'a Path,
    pub url: &'a str,
    pub ca: &'a Path,
    pub sources: &'a [std::net::IpAddr],
    /// Where the load generator writes its TLS secrets (while a capture runs).
    pub keylog: Option<&'a Path>,
}

/// What the two phases gave: summaries, their lengths, and where they sit on the VM's host
/// clock.
pub(crate) struct Phases {
    pub warm: Option<LoadSummary>,
    pub steady: LoadSummary,
    pub warmup_s: f64,
    pub steady_s: f64,
    pub clock: PhaseClock,
    /// The faults as they happened.
    pub faults: Vec<crate::model::FaultRecord>,
    /// The load generator's and backend's RSS over the steady phase.
    pub helpers: crate::model::HelperMemory,
}

/// Run warm-up (unless zero) and steady load, writing `warmup.*` and `steady.*` into `dir`,
/// put the counter readings at each boundary into `probe`, and fire `faults` during the
/// steady phase.
pub(crate) async fn run(
    plan: &Plan,
    to: &LoadTarget<'_>,
    host: &mut FaultHost<'_>,
    faults: &[FaultScript],
    probe: &mut CostProbe,
) -> Result<Phases, RunError> {
    let (target, ctx, dir) = (host.target, host.ctx, to.dir);
    let cause = |e: Box<dyn std::error::Error + Send + Sync>| RunError::caused(target, "load", e);
    let warm = !plan.load.warmup.is_zero();
    let args = [vec!["load".to_string()], load_command(plan, to, warm).to_args()].concat();
    let mut cmd = host.lab.command("clients", &ctx.exe, &args).map_err(|source| RunError::Lab {
        target: target.to_string(),
        phase: "load",
        source: Box::new(source),
    })?;
    crate::proc::die_with_parent(&mut cmd);
    ctx.phase(if warm { "warm-up load" } else { "steady load" });
    let host_w = host.vm.host_clock();
    let start = probe.read(host.vm);
    let t0 = Instant::now();
    let mut child = Command::from(cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| cause(PathError::new(&ctx.exe, e).into()))?;
    let backend = host.lab.pid(host.backend.label());
    let rss = RssSampler::start(child.id(), backend, std::time::Duration::from_secs(1));
    let mut stderr = child.stderr.take().expect("piped");
    let stderr = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });
    let clock = PhaseClock { warmup_start: warm.then_some(host_w), steady_start: host_w, steady_end: host_w };
    let mut b = Boundaries { warmup_s: 0.0, steady_s: 0.0, clock, steady_from: start, t: t0, end: None };
    let mut inj = Injector::new(faults);
    if !warm {
        inj.begin();
    }
    let marks = follow_marks(&mut child, host, probe, &mut b, &mut inj, start).await;
    let fault_records = std::mem::take(&mut inj.records);
    let helpers = rss.finish(b.t, b.end.unwrap_or_else(Instant::now));
    marks?;
    let status = child.wait().await.map_err(|e| cause(e.into()))?;
    let stderr = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(RunError::failed(target, "load", format!("routerlab load {status}: {}", stderr.trim())));
    }
    let summary = |p: LoadPhase| read_summary(&CellDir(dir).load_summary(p)).map_err(&cause);
    Ok(Phases {
        warm: if warm { Some(summary(Warmup)?) } else { None },
        steady: summary(Steady)?,
        warmup_s: b.warmup_s,
        steady_s: b.steady_s,
        clock: b.clock,
        faults: fault_records,
        helpers,
    })
}

/// Answer the load's marks (read the counters, then let it go on) and fire the faults when
/// they are due, until the load closes its stdout. A fault that cannot be applied ends the
/// phase with its error; the load is killed with its child handle.
async fn follow_marks(
    child: &mut tokio::process::Child,
    host: &mut FaultHost<'_>,
    probe: &mut CostProbe,
    b: &mut Boundaries,
    inj: &mut Injector<'_>,
    start: Option<InsnReading>,
) -> Result<(), RunError> {
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    loop {
        let deadline = inj.deadline();
        let line = tokio::select! {
            l = lines.next_line() => l.ok().flatten(),
            _ = at(deadline) => {
                inj.fire(host).await?;
                continue;
            }
        };
        let Some(line) = line else { break };
        match line.trim() {
            "mark warmup-end" => {
                b.warmup_s = b.t.elapsed().as_secs_f64();
                b.clock.steady_start = host.vm.host_clock();
                let r = probe.read(host.vm);
                probe.warmup = start.zip(r);
                (b.steady_from, b.t) = (r, Instant::now());
                host.ctx.phase("steady load");
                let _ = stdin.write_all(b"\n").await;
                inj.begin();
                continue;
            }
            "mark steady-end" => {
                b.steady_s = b.t.elapsed().as_secs_f64();
                b.end = Some(Instant::now());
                b.clock.steady_end = host.vm.host_clock();
                probe.steady = b.steady_from.zip(probe.read(host.vm));
                // A fault still open ends before the guest is asked anything.
                inj.finish(host).await?;
            }
            other => tracing::debug!("load: {other}"),
        }
        let _ = stdin.write_all(b"\n").await;
    }
    inj.finish(host).await
}

/// Sleep until `deadline`, or forever when there is none.
async fn at(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The clock and counters at the last boundary passed.
struct Boundaries {
    warmup_s: f64,
    steady_s: f64,
    clock: PhaseClock,
    steady_from: Option<InsnReading>,
    t: Instant,
    /// When the steady phase ended.
    end: Option<Instant>,
}

/// The load's `--json` summary; the error names the file.
fn read_summary(path: &Path) -> Result<LoadSummary, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(path).map_err(|e| PathError::new(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| PathError::new(path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)).into())
}

/// `routerlab load` for the scenario's load, both phases, with marks.
pub fn load_command(plan: &Plan, to: &LoadTarget<'_>, warm: bool) -> LoadArgs {
    let cell = CellDir(to.dir);
    let mut a = LoadArgs::new(to.url);
    a.ca = Some(to.ca.to_path_buf());
    (a.quiet, a.marks) = (true, true);
    a.duration = Some(plan.load.duration);
    (a.journal, a.json) = (Some(cell.journal(Steady)), Some(cell.load_summary(Steady)));
    if warm {
        a.warmup = Some(plan.load.warmup);
        (a.warmup_journal, a.warmup_json) = (Some(cell.journal(Warmup)), Some(cell.load_summary(Warmup)));
    }
    a.rate = plan.load.rate;
    a.connections = Some(plan.load.connections);
    a.connect_rate = plan.load.connect_rate;
    a.think = plan.load.think;
    (a.new_conn, a.resume) = match plan.load.conn_policy {
        ConnPolicyPlan::NewConn => (true, false),
        ConnPolicyPlan::Resume => (false, true),
        ConnPolicyPlan::KeepAlive => (false, false),
    };
    a.http2 = plan.load.http2;
    a.header = plan.load.spoof_headers.clone();
    a.source = to.sources.iter().map(|ip| SourceSpec::Addr(*ip)).collect();
    a.keylog = to.keylog.map(Path::to_path_buf);
    a
}

/// The phase's `.hlog` beside its journal: its latency (corrected in open loop) as an
/// HdrHistogram interval log, one histogram per second of completion time.
pub(crate) fn write_hlog(dir: CellDir<'_>, phase: LoadPhase, phase_s: f64) {
    let journal = dir.journal(phase);
    let Ok((_, entries)) = crate::load::read_journal(&journal) else { return };
    let points: Vec<(u64, u64)> = entries
        .flatten()
        .filter(|e| e.outcome.error_class().is_none())
        .filter_map(|e| {
            let total = e.total_us?;
            Some((e.start_us + total, e.corrected_us.unwrap_or(total)))
        })
        .collect();
    let start = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(phase_s.max(0.0));
    let tag = if phase == Steady { "steady" } else { "warmup" };
    let log = crate::hist::interval_log(&points, 1, start, tag);
    if let Err(e) = std::fs::write(dir.hlog(phase), log) {
        tracing::warn!("{}: {e}", dir.hlog(phase).display());
    }
}
