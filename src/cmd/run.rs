use std::path::PathBuf;

use harness::image::cache_root;
use harness::model::{CellReport, CellSummary, Outcome, RampStep, Report};
use harness::netlab::state_dir;
use harness::runner::{run_cells, CellSpec, RunContext, Shard};
use harness::scenario::{load_build, load_plan, Plan, ProxyKind};
use harness::vm::Target;

use crate::cli::RunArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: RunArgs) -> CmdResult {
    let plans = plans(&a)?;
    let matrix = matrix(&plans, &a)?;
    let several_builds = plans.iter().any(|p| p.proxy.builds.len() > 1);
    let repeat = a.repeat.unwrap_or(if several_builds { 3 } else { 1 }).max(1);
    let label = if plans.len() == 1 { plans[0].name.clone() } else { "matrix".into() };
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{}-{label}", super::vm::chrono_stamp())));
    if a.list {
        for (plan, t) in &matrix {
            for c in cell_specs(plan, *t, repeat, &out) {
                let step = c.step.map(|s| format!(" {}", s.dir_suffix())).unwrap_or_default();
                outln!("{} {t} {} {}{step}", plan.name, c.build.name, c.repetition);
            }
        }
        return Ok(Code::Ok);
    }
    std::fs::create_dir_all(&out).infra()?;
    harness::shutdown::install().infra()?;
    let ctx = context(&a)?;
    preflight(&matrix, &ctx)?;
    clean_dead(&ctx.state);
    let mut report = Report {
        schema_version: harness::model::SCHEMA_VERSION,
        routerlab_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("ROUTERLAB_GIT_REVISION").into(),
        started_at: super::vm::chrono_stamp(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().into(),
        cells: Vec::new(),
    };
    let sink = ReportSink { out: out.clone(), json: a.json.clone() };
    let interrupted = super::runtime()?.block_on(run_matrix(&matrix, repeat, &ctx, &mut report, &sink))?;
    sink.write(&report)?;
    print_summary(&report.cells);
    outln!("report: {}", out.join("report.json").display());
    render(&a, &report, &out, several_builds)?;
    Ok(exit_code(&report, interrupted))
}

/// The scenario files as plans, with the command line's overrides applied.
fn plans(a: &RunArgs) -> Result<Vec<Plan>, Failure> {
    let files = super::check::scenario_files(&a.paths);
    if files.is_empty() {
        return Err(Failure::BadInput(anyhow::anyhow!("no scenario files in {:?}", a.paths)));
    }
    let mut plans = files.iter().map(|f| load_plan(f)).collect::<Result<Vec<_>, _>>().bad_input()?;
    for p in &mut plans {
        p.load.duration = a.duration.unwrap_or(p.load.duration);
        p.load.warmup = a.warmup.unwrap_or(p.load.warmup);
        p.load.idle = a.idle.unwrap_or(p.load.idle);
        p.router.memory_mib = a.memory.unwrap_or(p.router.memory_mib);
        p.router.cpus = a.cpus.unwrap_or(p.router.cpus);
        p.router.cpu = a.cpu_model.or(p.router.cpu);
        p.router.conntrack_max = a.conntrack_max.or(p.router.conntrack_max);
        p.router.icount_shift = a.icount_shift.or(p.router.icount_shift);
        if !a.builds.is_empty() {
            p.proxy.builds = a
                .builds
                .iter()
                .map(|b| load_build(b, p.proxy.kind, p.proxy.client_ip_header))
                .collect::<Result<_, _>>()
                .bad_input()?;
        }
    }
    Ok(plans)
}

/// The matrix: (scenario, target), in file order, optionally cut to this shard.
fn matrix<'a>(plans: &'a [Plan], a: &RunArgs) -> Result<Vec<(&'a Plan, Target)>, Failure> {
    let overrides = a.target.iter().map(|t| t.parse::<Target>()).collect::<Result<Vec<_>, _>>().bad_input()?;
    let shard =
        a.shard.as_deref().map(str::parse::<Shard>).transpose().map_err(|e| Failure::BadInput(anyhow::anyhow!(e)))?;
    let mut matrix: Vec<(&Plan, Target)> = Vec::new();
    for plan in plans {
        for t in if overrides.is_empty() { plan.targets.clone() } else { overrides.clone() } {
            matrix.push((plan, t));
        }
    }
    if let Some(s) = shard {
        matrix = s.select(matrix, |(p, t)| format!("{}/{t}", p.name));
        eprintln!("routerlab: shard {}/{}: {} cell(s)", s.k, s.n, matrix.len());
    }
    Ok(matrix)
}

/// Every build that is not an image's own, checked against each target before anything
/// boots: a binary the target cannot run is refused here, with what it is and what the
/// target runs.
fn preflight(matrix: &[(&Plan, Target)], ctx: &RunContext) -> Result<(), Failure> {
    for (plan, t) in matrix {
        if plan.proxy.kind == ProxyKind::L4Forward {
            continue;
        }
        for fit in harness::runner::preflight(plan, *t, &ctx.images_dir, &ctx.cache).map_err(Failure::lib)? {
            // Over max-flash still runs: its cost is wanted too, and the cell's flash-budget
            // assertion fails it.
            let over = fit.flash_verdict().map(|v| format!("; {v}")).unwrap_or_default();
            eprintln!("routerlab: preflight: {} on {t}: {}{over}", fit.build, fit.says);
        }
    }
    Ok(())
}

/// Where this binary, the recipes, the caches and the templates are; the plugin or why not.
fn context(a: &RunArgs) -> Result<RunContext, Failure> {
    let images_dir = super::image::images_dir(&a.dirs);
    let exe = std::env::current_exe().infra()?;
    let insn_plugin =
        if a.no_insn_count { Err("turned off (--no-insn-count)".to_string()) } else { harness::vm::find_plugin(&exe) };
    Ok(RunContext {
        insn_plugin,
        capture: a.capture,
        exe,
        templates: images_dir
            .parent()
            .map(|p| p.join("scenarios/templates"))
            .unwrap_or_else(|| PathBuf::from("scenarios/templates")),
        images_dir,
        cache: a.dirs.cache.clone().unwrap_or_else(cache_root),
        state: state_dir(),
        on_phase: None,
    })
}

/// report.json (and `--json`), rewritten after every cell so nothing measured is lost.
struct ReportSink {
    out: PathBuf,
    json: Option<PathBuf>,
}

impl ReportSink {
    fn write(&self, report: &Report) -> Result<(), Failure> {
        super::write_json(&self.out.join("report.json"), report)?;
        if let Some(j) = &self.json {
            super::write_json(j, report)?;
        }
        Ok(())
    }
}

/// Every cell of the matrix; true when a signal stopped the run (the cell it stopped is
/// in the report as `interrupted`).
async fn run_matrix(
    matrix: &[(&Plan, Target)],
    repeat: u32,
    ctx: &RunContext,
    report: &mut Report,
    sink: &ReportSink,
) -> Result<bool, Failure> {
    for (plan, t) in matrix {
        let specs = cell_specs(plan, *t, repeat, &sink.out);
        // Proxy cells share one booted router; l4-forward's NAT rules are not undone
        // between cells, so each of its cells gets a router of its own.
        let groups: Vec<&[CellSpec]> =
            if plan.proxy.kind == ProxyKind::L4Forward { specs.chunks(1).collect() } else { vec![&specs[..]] };
        for group in groups {
            let (cell_ctx, bar) = progress(ctx, &plan.name, *t);
            let before = report.cells.len();
            let mut on_cell = |cell: CellReport| {
                let error = cell.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                eprintln!("routerlab: {}: {}{error}", cell.title(), cell.outcome);
                report.cells.push(cell);
                if let Err(f) = sink.write(report) {
                    f.report();
                }
            };
            let stopped = tokio::select! {
                _ = run_cells(plan, *t, group, &cell_ctx, &mut on_cell) => None,
                // Dropping the cells' futures tears their labs and VMs down.
                sig = harness::shutdown::requested() => Some(sig),
            };
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if let Some(sig) = stopped {
                eprintln!("routerlab: {sig}: stopping; finished cells are kept in report.json");
                if let Some(spec) = group.get(report.cells.len() - before) {
                    report.cells.push(harness::runner::interrupted_cell(plan, *t, spec, sig));
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// report.html, summary.md and junit.xml (unless --no-render), and with several builds
/// their comparison.
fn render(a: &RunArgs, report: &Report, out: &std::path::Path, several_builds: bool) -> Result<(), Failure> {
    if a.no_render && (!several_builds || report.cells.is_empty()) {
        return Ok(());
    }
    // The run directory read back once, for the rendered report and the builds' comparison.
    let view = match harness::report::load_run(out) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("routerlab: error: {}", harness::errtext::Chain(&e));
            return Ok(());
        }
    };
    let lead = super::report::Lead::of(&view);
    if a.no_render {
        if let Some(cmp) = &lead.comparison {
            super::report::write_comparison(&view, cmp)?;
        }
    } else {
        match super::report::render_all(&view, &lead) {
            Ok(()) => outln!("html: {}", out.join("report.html").display()),
            Err(f) => {
                f.report();
            }
        }
    }
    if let Some(cmp) = &lead.comparison {
        out!("\n{}", harness::compare::comparison_text(cmp, &[]));
    }
    Ok(())
}

/// Interrupted beats infrastructure errors, which beat failed assertions.
fn exit_code(report: &Report, interrupted: bool) -> Code {
    if interrupted {
        Code::Interrupted
    } else if report.cells.iter().any(|c| c.outcome.is_error()) {
        Code::Infrastructure
    } else if report.cells.iter().any(|c| c.outcome == Outcome::Fail) {
        Code::AssertionFailed
    } else {
        Code::Ok
    }
}

/// A scenario's cells on one target, A B A B ...: builds alternate, so drift on this
/// machine hits both alike; a ramp runs its rates in order within each. Each cell's
/// directory is named for what tells it apart.
fn cell_specs<'a>(plan: &'a Plan, t: Target, repeat: u32, out: &std::path::Path) -> Vec<CellSpec<'a>> {
    let steps: Vec<Option<RampStep>> = match &plan.load.ramp {
        None => vec![None],
        Some(r) => {
            let n = r.values.len() as u32;
            r.values.iter().zip(1..).map(|(&value, step)| Some(RampStep { of: r.of, value, step, steps: n })).collect()
        }
    };
    let mut specs = Vec::new();
    for rep in 1..=repeat {
        for build in &plan.proxy.builds {
            for step in &steps {
                let mut name = format!("{}-{t}", plan.name);
                if plan.proxy.builds.len() > 1 {
                    name.push_str(&format!("-{}", build.name));
                }
                if let Some(s) = step {
                    name.push_str(&format!("-{}", s.dir_suffix()));
                }
                if repeat > 1 {
                    name.push_str(&format!("-r{rep}"));
                }
                specs.push(CellSpec { build, repetition: rep, step: *step, dir: out.join(name) });
            }
        }
    }
    specs
}

/// A spinner naming the current phase on a terminal; otherwise one plain line per phase.
fn progress(ctx: &RunContext, scenario: &str, target: Target) -> (RunContext, Option<indicatif::ProgressBar>) {
    use std::io::IsTerminal;
    let mut c = ctx.clone();
    let label = format!("{scenario} on {target}");
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("static template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let b = bar.clone();
        c.on_phase = Some(std::sync::Arc::new(move |phase: &str| b.set_message(format!("{label}: {phase}"))));
        (c, Some(bar))
    } else {
        c.on_phase = Some(std::sync::Arc::new(move |phase: &str| eprintln!("routerlab: {label}: {phase}")));
        (c, None)
    }
}

/// Net guest instructions per request, `n/a` with the reason printed below the table.
fn insns_cell(s: &CellSummary) -> String {
    s.insns_per_request.map(harness::cost::human).unwrap_or_else(|| "n/a".into())
}

fn print_summary(cells: &[CellReport]) {
    use harness::model::fixed;
    outln!(
        "{:<40} {:<13} {:<6} {:>6} {:>6} {:>5} {:<9} {:>8} {:>8} {:>7} {:>8} {:>10} {:>15} {:>6}",
        "scenario",
        "target",
        "result",
        "sent",
        "logged",
        "mism",
        "client-ip",
        "req/s",
        "p99 ms",
        "cpu %",
        "rss KiB",
        "insns/req",
        "req/conn cli/be",
        "boot s"
    );
    for c in cells {
        let s = CellSummary::of(c);
        outln!(
            "{:<40} {:<13} {:<6} {:>6} {:>6} {:>5} {:<9} {:>8} {:>8} {:>7} {:>8} {:>10} {:>15} {:>6.2}",
            format!(
                "{}{}{}",
                c.scenario_label(),
                c.build.as_ref().map(|b| format!(" [{}]", b.name)).unwrap_or_default(),
                if c.repetition > 1 { format!(" #{}", c.repetition) } else { String::new() }
            ),
            c.target,
            s.outcome,
            s.sent,
            s.logged,
            s.mismatches,
            s.verdict_text(),
            fixed(s.requests_per_s, 1),
            fixed(s.p99_ms, 1),
            fixed(s.proxy_cpu_pct, 1),
            s.proxy_rss_peak_kib.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
            insns_cell(&s),
            s.reuse_text(),
            s.boot_s
        );
        if let Some(u) = s.p99_uncorrected_ms {
            outln!("    p99 corrected for coordinated omission; uncorrected {u:.1} ms");
        }
        for a in c.assertions.iter().filter(|a| !a.passed) {
            outln!("    FAIL {}: {}", a.name, a.evidence);
        }
        if let Some(e) = &c.error {
            outln!("    ERROR {e}");
        }
        if let Some(p) = c.capture.as_ref().filter(|p| p.kept) {
            // The first traced request only: the rest are in report.html and junit.xml.
            for l in p.traces.iter().take(1).flat_map(|t| t.lines()) {
                outln!("    {l}");
            }
            outln!("    packets: {}", p.wireshark.as_deref().unwrap_or("-"));
        }
        if let Some(i) = &c.insns {
            outln!("    {}", i.headline());
        }
        for e in &c.kernel_events {
            outln!("    kernel {} x{}: {}", e.kind, e.count, e.first);
        }
        if let Some(ramp) = &c.ramp {
            for s in &ramp.steps {
                let how = match (s.held, &s.error) {
                    (true, _) => "held",
                    (false, None) => "over",
                    (false, Some(_)) => "not run",
                };
                outln!("    ramp {how} {}", s.line());
            }
            if let Some(a) = c.assertions.iter().find(|a| a.name == "knee" && a.passed) {
                outln!("    {}", a.evidence);
            }
        }
    }
}

/// What runs killed without a teardown (SIGKILL, a crash) left, as `routerlab clean` removes
/// it, said on stderr. Live runs' labs are left alone.
fn clean_dead(state: &std::path::Path) {
    match harness::netlab::clean_dead_runs(state) {
        Ok(r) => {
            if !r.runs.is_empty() {
                eprintln!(
                    "routerlab: removed what dead runs left ({}): {} namespaces, {} processes",
                    r.runs.join(", "),
                    r.netns.len(),
                    r.processes.len()
                );
            }
            for e in &r.errors {
                eprintln!("routerlab: clean: {e}");
            }
        }
        Err(e) => eprintln!("routerlab: clean: {}", harness::errtext::Chain(&e)),
    }
}
