//! One cell: build the lab, boot and configure the router, deploy the proxy, start the
//! backend, drive warm-up and steady load, reconcile, collect metrics, tear down.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::deploy::deploy;
use super::faults::FaultHost;
use super::insns::CostProbe;
use super::phases::LoadTarget;
use super::ramp::{at_step, judge_ramp};
use super::session::Session;
use crate::model::timeline::process_samples;
use crate::model::{BuildInfo, CellReport, ClientIpSection, Growth, Outcome, ProxyMetrics};
use crate::model::{CellDir, LoadPhase, PhaseClock, Timeline};
use crate::model::{RampStep, StepResult};
use crate::netlab::Tunnel;
use crate::reconcile::reconcile;
use crate::runner::judge::assess::{budget_assertions, spoofable_logs};
use crate::runner::judge::recovery::{fault_assertions, Sent};
use crate::runner::plan::fault_script::{fault_scripts, FaultScript};
use crate::runner::plan::{expected, load_target, proxy_script, CellDirs, ProxyBinary, ProxyScript};
use crate::runner::RunError;
use crate::scenario::{kebab, BuildPlan, Plan, ProxyKind};
use crate::vm::{MetricsSeries, Target};

/// Told the name of each phase as a cell enters it; the UI decides how to show it.
pub type PhaseFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Where things are: this binary (re-executed inside the lab), recipes, caches, templates.
#[derive(Clone)]
pub struct RunContext {
    pub exe: PathBuf,
    pub images_dir: PathBuf,
    pub cache: PathBuf,
    pub state: PathBuf,
    pub templates: PathBuf,
    pub on_phase: Option<PhaseFn>,
    /// The insn-count QEMU plugin ([`crate::vm::find_plugin`]), or why the router runs without.
    pub insn_plugin: Result<PathBuf, String>,
    /// Which cells' packets are recorded and kept.
    pub capture: crate::capture::CaptureMode,
}

impl RunContext {
    pub(crate) fn phase(&self, name: &str) {
        if let Some(f) = &self.on_phase {
            f(name);
        }
    }
}

/// One cell to run: a build, its repetition, its ramp step (if the scenario ramps), and
/// its directory.
pub struct CellSpec<'a> {
    pub build: &'a BuildPlan,
    pub repetition: u32,
    pub step: Option<RampStep>,
    pub dir: PathBuf,
}

fn new_report(plan: &Plan, target: Target, spec: &CellSpec<'_>) -> CellReport {
    CellReport {
        scenario: plan.name.clone(),
        target: target.to_string(),
        proxy: match (plan.proxy.kind, plan.proxy.mode) {
            (ProxyKind::L4Forward, _) => "l4-forward".into(),
            // The scenario's own words: `haproxy terminate-reencrypt xff-append`.
            (k, m) => format!("{} {} {}", kebab(&k), kebab(&m), kebab(&plan.proxy.client_ip_header)),
        },
        tunnel: match plan.lab.tunnel {
            Tunnel::WireGuard => "wireguard".into(),
            Tunnel::None => "none (routed link, no VPN)".into(),
        },
        expect: plan.expect,
        dir: spec.dir.display().to_string(),
        repetition: spec.repetition,
        ramp_step: spec.step,
        ..Default::default()
    }
}

/// The report of a cell a signal stopped mid-way: outcome `interrupted`, no results (what it
/// had measured is in its directory).
pub fn interrupted_cell(plan: &Plan, target: Target, spec: &CellSpec<'_>, signal: &str) -> CellReport {
    let mut r = new_report(plan, target, spec);
    r.outcome = Outcome::Interrupted;
    r.error = Some(format!("{signal} during this cell: stopped; its partial files are in {}", spec.dir.display()));
    r
}

fn finish(r: &mut CellReport, result: Result<(), String>) {
    match result {
        Ok(()) => r.outcome = if r.assertions.iter().all(|a| a.passed) { Outcome::Pass } else { Outcome::Fail },
        Err(e) => {
            r.outcome = Outcome::Error;
            r.error = Some(e);
        }
    }
}

/// Run cells one after another on one booted router (one lab, one backend), handing each
/// report to `sink` as soon as it is done, so nothing measured is lost. Failures become
/// `outcome = "error"` with the message; if the router cannot be set up, every cell says so.
pub async fn run_cells(
    plan: &Plan,
    target: Target,
    cells: &[CellSpec<'_>],
    ctx: &RunContext,
    sink: &mut (dyn FnMut(CellReport) + Send),
) {
    let Some(first) = cells.first() else { return };
    for c in cells {
        let _ = std::fs::create_dir_all(&c.dir);
    }
    let mut session = match Session::open(plan, target, &first.dir, ctx).await {
        Ok(s) => s,
        Err(e) => {
            for c in cells {
                let mut r = new_report(plan, target, c);
                finish(&mut r, Err(crate::errtext::chain(&e)));
                sink(r);
            }
            return;
        }
    };
    // The stop command of the proxy the previous cell left running.
    let mut previous: Option<String> = None;
    let mut ramp: Vec<StepResult> = Vec::new();
    // A ramp stops at its first step that did not hold: the rest of that ramp is not run.
    let mut stopped = false;
    // Each report is handed on when the next cell starts, the last one after teardown.
    let mut last: Option<CellReport> = None;
    for (i, c) in cells.iter().enumerate() {
        stopped &= c.step.is_some_and(|s| s.step > 1);
        if stopped {
            // Made empty above for every cell; one not run leaves nothing behind.
            let _ = std::fs::remove_dir(&c.dir);
            continue;
        }
        if let Some(r) = last.take() {
            sink(r);
        }
        let mut r = new_report(plan, target, c);
        session.fill(&mut r, i == 0);
        let mut result = match previous.take() {
            Some(stop) => session.stop_proxy(target, &stop).await,
            None => Ok(()),
        };
        if result.is_ok() {
            let step_plan = c.step.map(|s| at_step(plan, &s));
            let cell = CellRun { plan: step_plan.as_ref().unwrap_or(plan), target, spec: c, ctx };
            result = cell.drive(&mut r, &mut session).await.map(|stop| previous = stop);
        }
        let kernel = session.collect(&c.dir).await;
        kernel_evidence(&kernel, &mut r);
        finish(&mut r, result.map_err(|e| crate::errtext::chain(&e)));
        stopped = judge_ramp(plan, &mut r, &mut ramp);
        session.finish_capture(ctx.capture, &c.dir, &mut r).await;
        last = Some(r);
    }
    ctx.phase("teardown");
    let teardown_s = session.close().await;
    if let Some(mut r) = last {
        r.timings.teardown_s = teardown_s;
        sink(r);
    }
}

/// The guest kernel's events in the cell's account (`Session::collect`), and the `no-oom-kill` assertion where the
/// cell got as far as any assertion.
fn kernel_evidence(log: &str, r: &mut CellReport) {
    r.kernel_events = crate::runner::judge::kernel::events(log);
    if !r.assertions.is_empty() {
        r.assertions.push(crate::runner::judge::kernel::oom_assertion(&r.kernel_events));
    }
}

/// One cell's fixed facts, which each of its steps reads; what a step finds goes into the
/// report, what it changes on the router into the session.
#[derive(Clone, Copy)]
struct CellRun<'a, 'b> {
    plan: &'a Plan,
    target: Target,
    spec: &'a CellSpec<'b>,
    ctx: &'a RunContext,
}

impl CellRun<'_, '_> {
    /// The idle background: this build's first cell on the router measures a window, and its
    /// later cells (repetitions, ramp steps) take that one, unless `ROUTERLAB_IDLE_EACH=1`.
    /// Returns when the window opened, with the probe.
    async fn idle(&self, s: &mut Session) -> (f64, CostProbe) {
        let (plan, build) = (self.plan, &self.spec.build.name);
        let each = std::env::var_os("ROUTERLAB_IDLE_EACH").is_some_and(|v| v == "1");
        let from = s.vm.host_clock();
        if !plan.load.idle.is_zero() && !each {
            if let Some(idle) = s.idle.get(build) {
                return (from, CostProbe::reuse(&s.vm, idle));
            }
        }
        if !plan.load.idle.is_zero() && s.vm.insns().is_ok() {
            self.ctx.phase("idle");
        }
        let probe = CostProbe::idle(&mut s.vm, plan.load.idle).await;
        let cell = self.spec.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(idle) = probe.idle_found(&cell) {
            s.idle.insert(build.clone(), idle);
        }
        (from, probe)
    }

    /// Build, deploy, load, reconcile and measure the cell on the session's router. Returns
    /// the command that stops its proxy before the next cell (none for l4-forward).
    async fn drive(&self, r: &mut CellReport, s: &mut Session) -> Result<Option<String>, RunError> {
        let CellRun { plan, target, spec, ctx } = *self;
        let dir = spec.dir.as_path();
        let t1 = Instant::now();
        let (script, faults) = self.deploy(r, s).await?;
        let process = script.process.clone().unwrap_or_default();
        r.timings.deploy_s += t1.elapsed().as_secs_f64();
        s.start_capture(ctx.capture, dir, r).await;
        let keylog = s.client_keylog();

        let (url, sources) = load_target(plan);
        let ca = s.pki_dir.join("ca.crt");
        let (idle_from, mut probe) = self.idle(s).await;
        let idle_window = probe.measured_idle().then(|| (idle_from, s.vm.host_clock()));
        let to = LoadTarget { dir, url: &url, ca: &ca, sources: &sources, keylog: keylog.as_deref() };
        let rejects_from = crate::runner::judge::rejects::mark(&s.log_dir);
        let mut host =
            FaultHost { target, vm: &mut s.vm, lab: &mut s.lab, backend: &s.backend, log_dir: &s.log_dir, ctx };
        let p = super::phases::run(plan, &to, &mut host, &faults, &mut probe).await?;
        (r.timings.warmup_s, r.timings.steady_s) = (p.warmup_s, p.steady_s);
        r.faults = p.faults.clone();
        r.helpers = Some(p.helpers.clone());
        tokio::time::sleep(Duration::from_millis(600)).await; // one more metrics sample
        let series = s.vm.metrics();
        let mut m = metrics(&series, &process, &p.clock);
        // The plugin's idle time gives the guest's CPU over exactly the steady phase; the
        // agent's /proc/uptime only every 2 s, over windows that straddle its ends.
        let insn_series = s.vm.insn_series();
        if let Some(busy) = probe.steady.and_then(|(a, b)| crate::vm::busy_pct_over(&insn_series, &a, &b)) {
            m.guest_cpu_mean_pct = Some(busy);
        }
        r.metrics = Some(m);
        if !process.is_empty() && r.metrics.as_ref().is_some_and(|m| m.samples == 0) {
            tracing::warn!("{}: no metrics samples of {process} in the steady phase", dir.display());
        }
        let journal = CellDir(dir).journal(LoadPhase::Steady);
        let mut timeline = Timeline::build(&p.clock, p.warm.as_ref(), &p.steady, &series, &process, &journal);
        timeline.add_faults(&r.faults);
        r.insns = Some(probe.section(p.warm.as_ref(), &p.steady));
        if probe.warmup.or(probe.steady).is_some() {
            timeline.add_insns(&insn_series, p.clock.origin(), idle_window);
        }
        if let Err(e) = timeline.write(&CellDir(dir).timeline()) {
            tracing::warn!("{}: {e}", CellDir(dir).timeline().display());
        }
        r.load = Some(p.steady);
        super::phases::write_hlog(CellDir(dir), LoadPhase::Steady, r.timings.steady_s);

        ctx.phase("reconcile");
        reconcile_cell(plan, target, dir, &s.log_dir, r)?;
        r.assertions.extend(super::deploy::exited(&mut s.vm, &script).await);
        r.backend_rejects = crate::runner::judge::rejects::since(&s.log_dir, rejects_from);
        if let Some(a) = r
            .backend_rejects
            .as_ref()
            .and_then(|b| crate::runner::judge::rejects::assertion(b, !plan.faults.is_empty()))
        {
            r.assertions.push(a);
        }
        Ok(script.stop)
    }

    /// Install the build (unless l4-forward), deploy the proxy, and make the fault steps.
    async fn deploy(&self, r: &mut CellReport, s: &mut Session) -> Result<(ProxyScript, Vec<FaultScript>), RunError> {
        let CellRun { plan, target, spec, ctx } = *self;
        let (build, dir) = (spec.build, spec.dir.as_path());
        let installed = if plan.proxy.kind == ProxyKind::L4Forward {
            None
        } else {
            ctx.phase("proxy build");
            let kind = (target, plan.proxy.kind);
            let i = super::install::install(&mut s.vm, &s.lab, &mut s.carried, kind, build, ctx).await?;
            let libc = i.info.libc.clone().or_else(|| s.libc_of(&i.bin));
            r.build = Some(BuildInfo { libc, ..i.info.clone() });
            Some(i)
        };
        ctx.phase("deploy proxy");
        let binary = installed.as_ref().map(|i| ProxyBinary { bin: i.bin.clone(), env: i.env.clone() });
        let dirs = CellDirs { pki: &s.pki_dir, cell: dir, templates: &ctx.templates };
        let script = proxy_script(plan, binary.as_ref().map(|b| (build, b)), &dirs)
            .map_err(|e| RunError::caused(target, "deploy", e))?;
        let faults = fault_scripts(plan, &script).map_err(|e| RunError::caused(target, "faults", e))?;
        write_kept(target, "deploy", &CellDir(dir).proxy_conf(), script.config.as_bytes())?;
        deploy(&mut s.vm, &target.to_string(), &script).await?;
        Ok((script, faults))
    }
}

/// An open loop that ended over a timeout behind its schedule did not hold its rate: the
/// requests it never sent fail the cell, which the error rate of those sent cannot show.
fn schedule_assertion(load: Option<&crate::load::LoadSummary>) -> Option<crate::model::Assertion> {
    let l = load.filter(|l| l.unsent > 0)?;
    let evidence = format!(
        "{} of the schedule's {} requests were never sent: the router fell over a timeout behind {} requests/s, \
         and the phase ended then",
        l.unsent,
        l.sent + l.unsent,
        l.rate.map_or("its".into(), |r| format!("{r}"))
    );
    Some(crate::model::Assertion { name: "schedule-kept".into(), passed: false, evidence })
}

/// Every request the steady phase sent against the backend's access log, as assertions.
fn reconcile_cell(plan: &Plan, target: Target, dir: &Path, log_dir: &Path, r: &mut CellReport) -> Result<(), RunError> {
    let cell = CellDir(dir);
    let rec =
        reconcile(&cell.journal(LoadPhase::Steady), &CellDir(log_dir).access_log(), crate::accesslog::LogFormat::Json)
            .map_err(|e| RunError::caused(target, "reconcile", e))?;
    r.assertions = rec.assertions(&expected(plan), plan.max_error_rate);
    r.assertions.extend(schedule_assertion(r.load.as_ref()));
    if plan.load.ramp.is_some() {
        // A ramp runs steps past what the router holds on purpose: its error limit judges
        // the knee, on the last step (`judge_ramp`), not each step.
        r.assertions.retain(|a| a.name != "error-rate" && a.name != "schedule-kept");
    }
    budget_assertions(plan, r);
    if !r.faults.is_empty() {
        let journal = cell.journal(LoadPhase::Steady);
        let (_, entries) = crate::load::read_journal(&journal).map_err(|e| RunError::caused(target, "faults", e))?;
        let sent: Vec<Sent> = entries.flatten().map(|e| Sent::from(&e)).collect();
        r.assertions.extend(fault_assertions(&plan.fault_expect, &r.faults, &sent));
    }
    r.spoofable = spoofable_logs(plan, log_dir);
    r.connections = Some(crate::model::ConnectionReuse::of(r.load.as_ref(), rec.backend_connections));
    r.client_ip = ClientIpSection {
        sent: rec.sent,
        logged: rec.logged,
        failed: rec.failed_unlogged,
        mismatches: rec.mismatches,
        verdict: Some(rec.verdict()),
    };
    let json = serde_json::to_vec_pretty(&rec).map_err(|e| RunError::caused(target, "reconcile", e))?;
    write_kept(target, "reconcile", &cell.reconciliation(), &json)
}

/// Write a file the report reads later: a failure fails the cell, naming the path.
fn write_kept(target: Target, phase: &'static str, path: &Path, data: &[u8]) -> Result<(), RunError> {
    std::fs::write(path, data).map_err(|e| RunError::caused(target, phase, crate::runner::PathError::new(path, e)))
}

/// The steady phase's metrics; samples are taken by when the host received them, up to a
/// second past the phase (a sample reports the time before it).
fn metrics(s: &MetricsSeries, process: &str, clock: &PhaseClock) -> ProxyMetrics {
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let in_window = |h: f64| h >= clock.steady_start && h <= clock.steady_end + 1.0;
    // The layer-4 forward has no proxy process: its CPU and RSS are absent, not 0.
    let p = if process.is_empty() { Vec::new() } else { process_samples(s, process, in_window) };
    let cpu: Vec<f64> = p.iter().map(|v| v.1).collect();
    let g: Vec<_> = s.guest.iter().filter(|p| in_window(p.host_t)).collect();
    let h: Vec<f64> = s.host.iter().filter(|p| in_window(p.t)).map(|p| p.cpu_pct).collect();
    ProxyMetrics {
        process: (!process.is_empty()).then(|| process.to_string()),
        cpu_mean_pct: mean(&cpu),
        cpu_peak_pct: cpu.iter().copied().reduce(f64::max),
        rss_mean_kb: mean(&p.iter().map(|v| v.2 as f64).collect::<Vec<_>>()),
        rss_peak_kb: p.iter().map(|v| v.2).max(),
        guest_cpu_mean_pct: mean(&g.iter().map(|p| p.cpu_pct).collect::<Vec<_>>()),
        guest_mem_available_min_kb: g.iter().map(|p| p.mem_available_kb).min(),
        qemu_host_cpu_mean_pct: mean(&h),
        samples: p.len(),
        rss_growth: Growth::fit_settled(&p.iter().map(|v| (v.0, v.2)).collect::<Vec<_>>()),
        guest_mem_used_growth: Growth::fit_settled(
            &g.iter().map(|p| (p.host_t, p.mem_total_kb.saturating_sub(p.mem_available_kb))).collect::<Vec<_>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_left_unsent_fails_the_cell_with_both_counts() {
        let text = include_str!("../../../tests/fixtures/steady.load.json");
        let mut load: crate::load::LoadSummary = serde_json::from_str(text).unwrap();
        assert!(schedule_assertion(Some(&load)).is_none(), "a kept schedule adds nothing");
        (load.sent, load.unsent, load.rate) = (8603, 135_397, Some(40.0));
        let a = schedule_assertion(Some(&load)).unwrap();
        assert!(!a.passed && a.name == "schedule-kept");
        assert!(a.evidence.starts_with("135397 of the schedule's 144000 requests were never sent"), "{}", a.evidence);
        assert!(a.evidence.contains("behind 40 requests/s"), "{}", a.evidence);
    }
}
