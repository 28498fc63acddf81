//! One cell: build the lab, boot and configure the router, deploy the proxy, start the
//! backend, drive warm-up and steady load, reconcile, collect metrics, tear down.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::deploy::{configure_router, deploy_proxy, TUN_MAC, WAN_MAC};
use super::report::{CellReport, ClientIpSection, ProxyMetrics};
use super::timeline::{PhaseClock, Timeline};
use super::RunError;
use crate::netlab::{client_addresses, standard_topology, start_hub, Lab, LabOptions, Tunnel, WgPlan, ADDR};
use crate::reconcile::{reconcile, Expect as RExpect};
use crate::scenario::{BuildPlan, ClientIpHeaderMode, Expect, Plan, ProxyKind, ProxyMode};
use crate::tls::{CertSpec, Pki, PkiRequest};
use crate::vm::{boot, BootOptions, ImageSource, Nic, NicBackend, Target, Vm};

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
}

impl RunContext {
    fn phase(&self, name: &str) {
        if let Some(f) = &self.on_phase {
            f(name);
        }
    }
}

/// Run one cell into `dir`. Failures become `outcome = "error"` with the message; the
/// report is always returned, so nothing that was measured is lost.
pub async fn run_cell(
    plan: &Plan,
    target: Target,
    build: &BuildPlan,
    repetition: u32,
    dir: &Path,
    ctx: &RunContext,
) -> CellReport {
    let mut r = CellReport {
        scenario: plan.name.clone(),
        target: target.to_string(),
        proxy: match (plan.proxy.kind, plan.proxy.mode) {
            (ProxyKind::L4Forward, _) => "l4-forward".into(),
            // The scenario's own words: `haproxy terminate-reencrypt xff-append`.
            (k, m) => {
                let word = |v: serde_json::Result<serde_json::Value>| {
                    v.ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                };
                let h = plan.proxy.client_ip_header;
                format!(
                    "{} {} {}",
                    word(serde_json::to_value(k)),
                    word(serde_json::to_value(m)),
                    word(serde_json::to_value(h))
                )
            }
        },
        tunnel: match plan.lab.tunnel {
            Tunnel::WireGuard => "wireguard".into(),
            Tunnel::None => "none (routed link, no VPN)".into(),
        },
        expect: format!("{:?}", plan.expect).to_lowercase(),
        dir: dir.display().to_string(),
        repetition,
        ..Default::default()
    };
    let _ = std::fs::create_dir_all(dir);
    match run_inner(plan, target, build, dir, ctx, &mut r).await {
        Ok(()) => r.outcome = if r.assertions.iter().all(|a| a.passed) { "pass".into() } else { "fail".into() },
        Err(e) => {
            r.outcome = "error".into();
            r.error = Some(e.to_string());
        }
    }
    r
}

fn other(target: Target, phase: &'static str) -> impl Fn(String) -> RunError {
    move |detail| RunError::Other { target: target.to_string(), phase, detail }
}

async fn run_inner(
    plan: &Plan,
    target: Target,
    build: &BuildPlan,
    dir: &Path,
    ctx: &RunContext,
    r: &mut CellReport,
) -> Result<(), RunError> {
    let tname = target.to_string();
    let lab_err = |phase| {
        let t = tname.clone();
        move |source| RunError::Lab { target: t.clone(), phase, source }
    };
    let ip = |s: &str| s.parse::<IpAddr>().expect("static address");
    ctx.phase("certificates");
    let pki = Pki::generate(&PkiRequest {
        key_type: plan.key_type,
        frontend: CertSpec { dns: vec!["router.test".into()], ips: vec![ip(ADDR::ROUTER_WAN4), ip(ADDR::ROUTER_WAN6)] },
        backend: CertSpec { dns: vec!["backend.test".into()], ips: vec![ip(ADDR::BACKEND4), ip(ADDR::BACKEND6)] },
        client: false,
    })
    .map_err(|e| other(target, "certificates")(e.to_string()))?;
    let pki_dir = dir.join("pki");
    pki.write_to(&pki_dir).map_err(|e| other(target, "certificates")(e.to_string()))?;

    let t0 = Instant::now();
    ctx.phase("network lab");
    let opts = LabOptions {
        clients_v4: plan.lab.clients,
        clients_v6: plan.lab.clients6,
        tunnel: plan.lab.tunnel,
        router_vm: true,
        l4_forward: false,
        wan_impair: plan.lab.impair_wan.clone(),
        tunnel_impair: plan.lab.impair_tunnel.clone(),
    };
    let (topo, _) = standard_topology(&opts).map_err(lab_err("lab"))?;
    let mut lab = Lab::build(topo, dir, &ctx.state).map_err(lab_err("lab"))?;
    let wg = match plan.lab.tunnel {
        Tunnel::WireGuard => {
            let p = WgPlan::new(&lab).map_err(lab_err("wireguard"))?;
            start_hub(&mut lab, &p).map_err(lab_err("wireguard"))?;
            Some(p)
        }
        Tunnel::None => None,
    };
    match plan.backend {
        crate::scenario::BackendKind::Routerlab => {
            start_backend(&mut lab, plan, &pki_dir, dir, ctx).map_err(lab_err("backend"))?
        }
        crate::scenario::BackendKind::Nginx => {
            let bin = super::nginx_backend::ensure_nginx(&ctx.cache).map_err(other(target, "nginx backend"))?;
            let conf =
                super::nginx_backend::backend_conf(plan, &pki_dir, dir).map_err(other(target, "nginx backend"))?;
            let path = dir.join("nginx-backend.conf");
            std::fs::write(&path, conf).map_err(|e| other(target, "nginx backend")(e.to_string()))?;
            super::nginx_backend::start(&mut lab, &bin, &path, dir).map_err(lab_err("nginx backend"))?;
        }
    }
    r.timings.lab_s = t0.elapsed().as_secs_f64();

    let mut bo = BootOptions::new("router", dir.into());
    bo.netns = Some(lab.ns("router"));
    // No management NIC: runs upload over the console, and on malta every extra PCI device
    // shares an interrupt line with a lab NIC (see docs/images.md).
    bo.mgmt = false;
    bo.extra_nics = vec![
        Nic { id: "wan".into(), backend: NicBackend::Tap { ifname: "wan0".into() }, mac: Some(WAN_MAC.into()) },
        Nic { id: "tun".into(), backend: NicBackend::Tap { ifname: "tun0".into() }, mac: Some(TUN_MAC.into()) },
    ];
    let src = ImageSource::Recipe { images_dir: ctx.images_dir.clone(), cache: ctx.cache.clone() };
    ctx.phase("boot");
    let (mut vm, boot_time) = boot(target, &src, &bo).await.map_err(|source| RunError::Vm {
        target: tname.clone(),
        phase: "boot",
        source,
    })?;
    r.timings.boot_s = boot_time.as_secs_f64();
    if let Some(dir) = vm.cfg.kernel.parent() {
        if let Some(img) = crate::image::BuiltImage::open(dir) {
            r.image_kernel_bytes = img.manifest.kernel.bytes;
            r.image_initrd_bytes = img.manifest.initrd.bytes;
        }
        r.image = Some(dir.display().to_string());
    }

    let result = drive(plan, target, build, dir, ctx, r, &mut lab, &mut vm, wg.as_ref(), &pki_dir).await;
    if let Ok(out) = vm.exec("cat /tmp/proxy.log /tmp/proxy.check 2>/dev/null").await {
        let _ = std::fs::write(dir.join("proxy.log"), out.stdout);
    }
    // The guest kernel's own account (driver stalls, conntrack, OOM) for the run directory.
    if let Ok(out) = vm.exec("dmesg | tail -200; echo; cat /proc/net/dev; nft list ruleset").await {
        let _ = std::fs::write(dir.join("guest-kernel.log"), out.stdout);
    }
    // The host side of the router's links (taps, bridges, veths), with drop counters.
    if let Ok(out) = lab.exec_any("router", "ip", &["-s", "-s", "link"]) {
        let _ = std::fs::write(dir.join("router-host-links.log"), out.stdout);
    }
    ctx.phase("teardown");
    let t3 = Instant::now();
    let _ = vm.quit().await;
    let report = lab.teardown();
    r.timings.teardown_s = t3.elapsed().as_secs_f64();
    if !report.errors.is_empty() {
        tracing::warn!("teardown: {}", report.errors.join("; "));
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    plan: &Plan,
    target: Target,
    build: &BuildPlan,
    dir: &Path,
    ctx: &RunContext,
    r: &mut CellReport,
    lab: &mut Lab,
    vm: &mut Vm,
    wg: Option<&WgPlan>,
    pki_dir: &Path,
) -> Result<(), RunError> {
    let tname = target.to_string();
    let t1 = Instant::now();
    ctx.phase("router network");
    configure_router(vm, &tname, wg).await?;
    // Impairments: host ends were tried when the lab was built (this host has no netem);
    // the router's own ends are applied in the guest, whose kernel has sch_netem.
    r.impairments_not_applied.extend(lab.unapplied.iter().cloned());
    for (link, ifname, args) in lab.for_vm.clone() {
        let what = format!("link {link} on router/{ifname}: netem {}", args.join(" "));
        let out = vm
            .exec(&format!("tc qdisc replace dev {ifname} root netem {}", args.join(" ")))
            .await
            .map_err(|source| RunError::Vm { target: tname.clone(), phase: "impairments", source })?;
        if out.status == 0 {
            r.impairments_applied.push(what);
        } else {
            r.impairments_not_applied.push(format!("{what} not applied: {}", out.stdout.trim()));
        }
    }
    for l in lab.topo.links.iter().filter(|l| !l.impair.is_empty()) {
        for end in [&l.a, &l.b] {
            let tag = format!("{}/{}", end.host, end.ifname);
            if end.host != "router" && !r.impairments_not_applied.iter().any(|m| m.contains(&tag)) {
                r.impairments_applied.push(format!("link {} on {tag}: netem on the host", l.name));
            }
        }
    }
    let installed = if plan.proxy.kind == ProxyKind::L4Forward {
        None
    } else {
        ctx.phase("proxy build");
        let i = super::build::install(vm, lab, target, plan.proxy.kind, build, &ctx.cache).await?;
        r.build = Some(i.info.clone());
        Some(i)
    };
    ctx.phase("deploy proxy");
    let (process, config) =
        deploy_proxy(vm, &tname, plan, installed.as_ref().map(|i| (build, i)), pki_dir, &ctx.templates).await?;
    let _ = std::fs::write(dir.join("proxy.conf"), &config);
    r.timings.deploy_s = t1.elapsed().as_secs_f64();

    // Clients: IPv6 when the scenario asks for IPv6 clients, else IPv4.
    let all = client_addresses(&LabOptions {
        clients_v4: plan.lab.clients,
        clients_v6: plan.lab.clients6,
        ..Default::default()
    });
    let v6 = plan.lab.clients6 > 0;
    let sources: Vec<String> = all.iter().filter(|a| a.is_ipv6() == v6).map(|a| a.to_string()).collect();
    let url = if v6 { format!("https://[{}]/", ADDR::ROUTER_WAN6) } else { format!("https://{}/", ADDR::ROUTER_WAN4) };
    let ca = pki_dir.join("ca.crt");
    let mut warm = None;
    if !plan.load.warmup.is_zero() {
        ctx.phase("warm-up load");
        let t = Instant::now();
        let upw = uptime(vm).await;
        warm = Some((upw, load(lab, plan, target, ctx, &url, &ca, &sources, plan.load.warmup, &dir.join("warmup"))?));
        r.timings.warmup_s = t.elapsed().as_secs_f64();
    }
    ctx.phase("steady load");
    let up0 = uptime(vm).await;
    let t2 = Instant::now();
    let summary = load(lab, plan, target, ctx, &url, &ca, &sources, plan.load.duration, &dir.join("steady"))?;
    r.timings.steady_s = t2.elapsed().as_secs_f64();
    let up1 = uptime(vm).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // one more metrics sample
    r.metrics = Some(metrics(vm, &process, up0, up1, r.timings.steady_s));
    let clock = PhaseClock { warmup_start: warm.as_ref().map(|w| w.0), steady_start: up0, steady_end: up1 };
    let timeline = Timeline::build(
        &clock,
        warm.as_ref().map(|w| &w.1),
        &summary,
        &vm.metrics(),
        &process,
        &dir.join("steady.journal.tsv"),
    );
    if let Err(e) = timeline.write(&dir.join("timeline.json")) {
        tracing::warn!("{}: {e}", dir.join("timeline.json").display());
    }
    r.load = Some(summary);

    ctx.phase("reconcile");
    let rec = reconcile(&dir.join("steady.journal.tsv"), &dir.join("access.log"), crate::accesslog::LogFormat::Json)
        .map_err(|e| other(target, "reconcile")(e.to_string()))?;
    let expect = match plan.expect {
        Expect::Preserved => RExpect::Preserved,
        Expect::Lost => RExpect::Lost {
            seen_as: vec![ADDR::ROUTER_TUN4.parse().expect("static"), ADDR::ROUTER_TUN6.parse().expect("static")],
        },
    };
    r.assertions = rec.assertions(&expect, plan.max_error_rate);
    budget_assertions(plan, r);
    r.spoofable = spoofable_logs(plan, dir);
    r.client_ip = ClientIpSection {
        sent: rec.sent,
        logged: rec.logged,
        failed: rec.failed_unlogged,
        mismatches: rec.mismatches,
        verdict: rec.verdict().into(),
    };
    let _ = std::fs::write(dir.join("reconciliation.json"), serde_json::to_string_pretty(&rec).unwrap_or_default());
    Ok(())
}

/// With forged headers, read the backend's `main`-format log (raw X-Forwarded-For first)
/// the way a person would, and flag it if it names a forged address as the client.
fn spoofable_logs(plan: &Plan, dir: &Path) -> Vec<String> {
    use crate::forwarded::{parse_forwarded, parse_xff, Node};
    let mut forged: Vec<IpAddr> = Vec::new();
    for h in &plan.load.spoof_headers {
        let Some((name, value)) = h.split_once(':') else { continue };
        let nodes = match name.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => parse_xff([value.trim()]),
            "forwarded" => parse_forwarded([value.trim()]),
            _ => continue,
        };
        forged.extend(nodes.into_iter().filter_map(|n| if let Node::Ip(ip) = n { Some(ip) } else { None }));
    }
    let path = dir.join("access-main.log");
    if forged.is_empty() || !path.is_file() {
        return Vec::new();
    }
    let Ok(records) = crate::accesslog::read_log(&path, crate::accesslog::LogFormat::Main) else { return Vec::new() };
    let (mut total, mut hits, mut example) = (0u64, 0u64, None);
    for rec in records.flatten() {
        total += 1;
        if let Some(ip) = rec.client_ip.filter(|ip| forged.contains(ip)) {
            hits += 1;
            example.get_or_insert(ip);
        }
    }
    match example {
        Some(ip) => vec![format!(
            "nginx log_format main: {hits} of {total} lines name a forged client ({ip}); it logs the client-supplied X-Forwarded-For first"
        )],
        None => Vec::new(),
    }
}

/// The scenario's cost budgets as named assertions, with the measured value as evidence.
fn budget_assertions(plan: &Plan, r: &mut CellReport) {
    use crate::reconcile::Assertion;
    let b = &plan.budgets;
    if let (Some(max), Some(load)) = (b.p99, &r.load) {
        let p = load.latency_us.total_corrected.unwrap_or(load.latency_us.total).p99;
        let passed = u128::from(p) <= max.as_micros();
        r.assertions.push(Assertion {
            name: "latency-budget".into(),
            passed,
            evidence: format!("p99 {:.1} ms, budget {:.1} ms", p as f64 / 1000.0, max.as_secs_f64() * 1000.0),
        });
    }
    if let (Some(max), Some(m)) = (b.proxy_cpu_pct, &r.metrics) {
        let passed = m.samples > 0 && m.cpu_mean_pct <= max;
        r.assertions.push(Assertion {
            name: "cpu-budget".into(),
            passed,
            evidence: format!(
                "{} mean {:.1}% of a guest CPU over {} samples, budget {max:.1}%",
                m.process, m.cpu_mean_pct, m.samples
            ),
        });
    }
    if let (Some(max), Some(m)) = (b.proxy_rss_mib, &r.metrics) {
        let mib = m.rss_peak_kb as f64 / 1024.0;
        let passed = m.samples > 0 && mib <= max;
        r.assertions.push(Assertion {
            name: "rss-budget".into(),
            passed,
            evidence: format!("{} peak RSS {mib:.1} MiB over {} samples, budget {max:.1} MiB", m.process, m.samples),
        });
    }
}

fn start_backend(
    lab: &mut Lab,
    plan: &Plan,
    pki: &Path,
    dir: &Path,
    ctx: &RunContext,
) -> Result<(), crate::netlab::LabError> {
    let p = |f: &str| pki.join(f).display().to_string();
    // Where TLS ends at the backend (l4-forward, passthrough), it presents the router's name.
    let (cert, key) = match plan.proxy.mode {
        Some(ProxyMode::TerminateReencrypt) => (p("backend.crt"), p("backend.key")),
        _ => (p("frontend.crt"), p("frontend.key")),
    };
    let mut args: Vec<String> = vec!["backend".into(), "--tls-cert".into(), cert, "--tls-key".into(), key];
    let plain = plan.proxy.mode == Some(ProxyMode::TerminatePlain);
    let suffix = match plan.proxy.client_ip_header {
        Some(ClientIpHeaderMode::ProxyV1) => ",proxy-protocol=v1",
        Some(ClientIpHeaderMode::ProxyV2) => ",proxy-protocol=v2",
        _ => "",
    };
    for a in [
        format!("{}:{}", ADDR::BACKEND4, if plain { 80 } else { 443 }),
        format!("[{}]:{}", ADDR::BACKEND6, if plain { 80 } else { 443 }),
    ] {
        args.extend(["--listen".into(), format!("{a}{}{suffix}", if plain { ",plain" } else { "" })]);
    }
    if plan.proxy.kind != ProxyKind::L4Forward {
        for n in plan.trusted.nets() {
            args.extend(["--trusted".into(), n.to_string()]);
        }
    }
    let header = match plan.proxy.client_ip_header {
        Some(ClientIpHeaderMode::Forwarded) => "forwarded",
        Some(ClientIpHeaderMode::XffAppend | ClientIpHeaderMode::XffReplace) => "xff",
        _ => "none",
    };
    args.extend([
        "--client-ip-header".into(),
        header.into(),
        "--access-log".into(),
        dir.join("access.log").display().to_string(),
    ]);
    args.extend(["--reject-log".into(), dir.join("rejects.log").display().to_string()]);
    lab.spawn("backend", "backend", &ctx.exe, &args, None)?;
    let out = dir.join("backend.backend.out");
    let t0 = Instant::now();
    while std::fs::read_to_string(&out).unwrap_or_default().lines().filter(|l| l.starts_with("listening")).count() < 2 {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(crate::netlab::LabError::Command {
                host: "backend".into(),
                command: "routerlab backend".into(),
                stderr: std::fs::read_to_string(dir.join("backend.backend.err")).unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn load(
    lab: &Lab,
    plan: &Plan,
    target: Target,
    ctx: &RunContext,
    url: &str,
    ca: &Path,
    sources: &[String],
    duration: Duration,
    stem: &Path,
) -> Result<crate::load::LoadSummary, RunError> {
    let (journal, json) = (format!("{}.journal.tsv", stem.display()), format!("{}.load.json", stem.display()));
    let mut args: Vec<String> =
        vec!["load".into(), url.into(), "--ca".into(), ca.display().to_string(), "--quiet".into()];
    args.extend([
        "--duration".into(),
        format!("{}ms", duration.as_millis()),
        "--journal".into(),
        journal,
        "--json".into(),
        json.clone(),
    ]);
    match plan.load.rate {
        Some(rate) => args.extend(["--rate".into(), rate.to_string(), "-c".into(), "64".into()]),
        None => args.extend(["-c".into(), plan.load.connections.to_string()]),
    }
    match plan.load.conn_policy {
        crate::scenario::ConnPolicyPlan::NewConn => args.push("--new-conn".into()),
        crate::scenario::ConnPolicyPlan::Resume => args.push("--resume".into()),
        crate::scenario::ConnPolicyPlan::KeepAlive => {}
    }
    if plan.load.http2 {
        args.push("--http2".into());
    }
    for h in &plan.load.spoof_headers {
        args.extend(["-H".into(), h.clone()]);
    }
    for s in sources {
        args.extend(["--source".into(), s.clone()]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let exe = ctx.exe.display().to_string();
    let out = tokio::task::block_in_place(|| lab.exec_any("clients", &exe, &argv))
        .map_err(|e| other(target, "load")(e.to_string()))?;
    if !out.status.success() {
        return Err(other(target, "load")(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| other(target, "load")(format!("{json}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| other(target, "load")(format!("{json}: {e}")))
}

async fn uptime(vm: &mut Vm) -> f64 {
    vm.exec("cut -d' ' -f1 /proc/uptime").await.ok().and_then(|o| o.stdout.trim().parse().ok()).unwrap_or(0.0)
}

fn metrics(vm: &Vm, process: &str, up0: f64, up1: f64, steady_s: f64) -> ProxyMetrics {
    let s = vm.metrics();
    let mut m = ProxyMetrics { process: process.into(), ..Default::default() };
    let in_window = |u: f64| u >= up0 && u <= up1 + 1.0;
    if let Some(points) = s.procs.get(process) {
        let w: Vec<_> = points.iter().filter(|p| in_window(p.uptime)).collect();
        // Several processes of one name (nginx master and worker): sum per sample time.
        let mut by_t: std::collections::BTreeMap<u64, (f64, u64)> = Default::default();
        for p in &w {
            let e = by_t.entry((p.uptime * 100.0) as u64).or_default();
            e.0 += p.cpu_pct;
            e.1 += p.rss_kb;
        }
        m.samples = by_t.len();
        if !by_t.is_empty() {
            m.cpu_mean_pct = by_t.values().map(|v| v.0).sum::<f64>() / by_t.len() as f64;
            m.cpu_peak_pct = by_t.values().map(|v| v.0).fold(0.0, f64::max);
            m.rss_mean_kb = by_t.values().map(|v| v.1 as f64).sum::<f64>() / by_t.len() as f64;
            m.rss_peak_kb = by_t.values().map(|v| v.1).max().unwrap_or(0);
        }
    }
    let g: Vec<_> = s.guest.iter().filter(|p| in_window(p.uptime)).collect();
    if !g.is_empty() {
        m.guest_cpu_mean_pct = g.iter().map(|p| p.cpu_pct).sum::<f64>() / g.len() as f64;
        m.guest_mem_available_min_kb = g.iter().map(|p| p.mem_available_kb).min().unwrap_or(0);
    }
    let last = s.host.last().map(|h| h.t).unwrap_or(0.0);
    let h: Vec<_> = s.host.iter().filter(|p| p.t >= last - steady_s).collect();
    if !h.is_empty() {
        m.qemu_host_cpu_mean_pct = h.iter().map(|p| p.cpu_pct).sum::<f64>() / h.len() as f64;
    }
    m
}
