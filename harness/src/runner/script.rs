//! A cell as data, decided before anything runs: what the router runs and is given, the
//! proxy's start and stop, the backend's and the load's arguments, and the addresses the
//! backend must log. `cell.rs` and `session.rs` only execute it; the unit tests and the
//! snapshots in `tests/snapshots/` read it for every shipped scenario without root or QEMU.
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::fault_script::{fault_scripts, FaultOp, FaultScript};
use crate::model::Verdict;
use crate::netlab::{client_addresses, l4_forward_steps, router_steps, GuestStep, LabOptions, WgPlan, ADDR};
use crate::reconcile::Expect;
use crate::scenario::{kebab, BuildPlan, ClientIpHeaderMode, Plan, ProxyKind, ProxyMode};
use crate::template::{commands, render, TemplateError, Vars};

const STOP: &str = include_str!("../../../scenarios/templates/router/stop.sh");
const ALIVE: &str = include_str!("../../../scenarios/templates/router/alive.sh");

/// Where the proxy's files go in the guest.
const GUEST_PKI: &str = "/etc/routerlab/pki";
/// The certificate files a proxy is given, from the cell's PKI directory.
const PKI_FILES: [&str; 4] = ["frontend.pem", "frontend.crt", "frontend.key", "ca.crt"];

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("scenario {scenario}: {detail}")]
    Plan { scenario: String, detail: String },
    #[error("{path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The proxy binary a build put in the guest, and the environment it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyBinary {
    pub bin: String,
    /// `LD_LIBRARY_PATH=...` for libraries that came with the build, or empty.
    pub env: String,
}

/// The proxy under test on the router (or the layer-4 forward in its place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyScript {
    /// The process the metrics agent watches and the next cell stops; none for l4-forward.
    pub process: Option<String>,
    /// Files and commands, in order; the last command starts the proxy.
    pub deploy: Vec<GuestStep>,
    /// Stops the proxy and waits until nothing listens on 443. None for l4-forward, whose
    /// NAT rules stay: each of its cells gets a router of its own.
    pub stop: Option<String>,
    /// Prints `alive` while the proxy runs, `gone` once it exited. None for l4-forward.
    pub alive: Option<String>,
    /// What the cell's `proxy.conf` keeps: the rendered config, or the l4 ruleset.
    pub config: String,
}

impl ProxyScript {
    /// The command that starts the proxy (the last step) and the files before it; none for
    /// the layer-4 forward's rules, whose last step is not a start.
    pub fn start(&self) -> Option<(&str, &[GuestStep])> {
        match (&self.process, self.deploy.split_last()) {
            (Some(_), Some((GuestStep::Run(cmd), files))) => Some((cmd, files)),
            _ => None,
        }
    }
}

/// One cell, every decision made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellScript {
    /// The router's network: NIC names, addresses, routes, tunnel, NAT (once per session).
    pub router: Vec<GuestStep>,
    pub proxy: ProxyScript,
    /// Arguments of `routerlab backend` in the backend namespace (the routerlab backend).
    pub backend_args: Vec<String>,
    /// Where the load generator aims, and from which addresses.
    pub url: String,
    pub sources: Vec<IpAddr>,
    /// What the backend's access log must show for each request.
    pub expected: Expect,
    /// The `[[fault]]` steps, in order.
    pub faults: Vec<FaultScript>,
}

/// Where a cell keeps its files on the host.
pub struct CellDirs<'a> {
    pub pki: &'a Path,
    pub cell: &'a Path,
    /// `scenarios/templates/`, for the proxy templates.
    pub templates: &'a Path,
}

/// The whole script of a cell: `build` with the binary it installed (none for l4-forward).
pub fn plan_cell(
    plan: &Plan,
    build: Option<(&BuildPlan, &ProxyBinary)>,
    wg: Option<&WgPlan>,
    dirs: &CellDirs<'_>,
) -> Result<CellScript, ScriptError> {
    let (url, sources) = load_target(plan);
    let proxy = proxy_script(plan, build, dirs)?;
    Ok(CellScript {
        router: router_steps(wg),
        faults: fault_scripts(plan, &proxy)?,
        proxy,
        backend_args: backend_args(plan, dirs),
        url,
        sources,
        expected: expected(plan),
    })
}

/// The sender's address, or (the negative control) the router's tunnel address instead.
pub fn expected(plan: &Plan) -> Expect {
    let ip = |s: &str| s.parse::<IpAddr>().expect("static address");
    match plan.expect {
        Verdict::Preserved => Expect::Preserved,
        Verdict::Lost => Expect::Lost { seen_as: vec![ip(ADDR::ROUTER_TUN4), ip(ADDR::ROUTER_TUN6)] },
    }
}

/// Clients: IPv6 when the scenario asks for IPv6 clients, else IPv4.
pub fn load_target(plan: &Plan) -> (String, Vec<IpAddr>) {
    let all = client_addresses(&LabOptions {
        clients_v4: plan.lab.clients,
        clients_v6: plan.lab.clients6,
        ..Default::default()
    });
    let v6 = plan.lab.clients6 > 0;
    let sources = all.into_iter().filter(|a| a.is_ipv6() == v6).collect();
    let url = if v6 { format!("https://[{}]/", ADDR::ROUTER_WAN6) } else { format!("https://{}/", ADDR::ROUTER_WAN4) };
    (url, sources)
}

/// The proxy's deployment: its config rendered from the template, the certificates, the
/// start; or the layer-4 forward's DNAT rules.
pub fn proxy_script(
    plan: &Plan,
    build: Option<(&BuildPlan, &ProxyBinary)>,
    dirs: &CellDirs<'_>,
) -> Result<ProxyScript, ScriptError> {
    let bad = |detail: &str| ScriptError::Plan { scenario: plan.name.clone(), detail: detail.into() };
    let (kind, mode) = match (plan.proxy.kind, plan.proxy.mode) {
        (ProxyKind::L4Forward, _) => {
            let deploy = l4_forward_steps();
            let config = deploy.iter().find_map(|s| match s {
                GuestStep::File { contents, .. } => Some(contents.clone()),
                _ => None,
            });
            let config = config.unwrap_or_default();
            return Ok(ProxyScript { process: None, deploy, stop: None, alive: None, config });
        }
        (k, Some(m)) => (k, m),
        (_, None) => return Err(bad("no proxy mode")),
    };
    let (spec, binary) = build.ok_or_else(|| bad("no proxy build"))?;
    let template = match &spec.config {
        Some(p) => p.clone(),
        None => dirs.templates.join(
            crate::kinds::facts(kind)
                .template(mode)
                .ok_or_else(|| bad(&format!("no template for {} {}", kebab(&kind), kebab(&mode))))?,
        ),
    };
    let text =
        std::fs::read_to_string(&template).map_err(|source| ScriptError::Read { path: template.clone(), source })?;
    let config = render(&template.display().to_string(), &text, &config_vars(kind, plan.proxy.client_ip_header))?;
    let (process, conf_path, start) = start_command(kind, spec, binary)?;
    let mut deploy: Vec<GuestStep> = PKI_FILES
        .iter()
        .map(|f| GuestStep::Copy { from: dirs.pki.join(f), path: format!("{GUEST_PKI}/{f}") })
        .collect();
    deploy.push(GuestStep::File { path: conf_path.into(), contents: config.clone() });
    deploy.extend(start.into_iter().map(GuestStep::Run));
    let stop = Vars::from([("process", process.clone()), ("listening_443", listening(443))]);
    let stop = commands(&render("router/stop.sh", STOP, &stop)?).join("; ");
    let alive = Vars::from([("process", process.clone())]);
    let alive = commands(&render("router/alive.sh", ALIVE, &alive)?).join("; ");
    Ok(ProxyScript { process: Some(process), deploy, stop: Some(stop), alive: Some(alive), config })
}

/// The fields of the proxy templates, from the lab's addresses and the scenario.
fn config_vars(kind: ProxyKind, header: Option<ClientIpHeaderMode>) -> Vars {
    let directive = crate::kinds::facts(kind).directive(header);
    let send_proxy = if header == Some(ClientIpHeaderMode::ProxyV1) { "send-proxy" } else { "send-proxy-v2" };
    Vars::from([
        ("frontend_bundle", format!("{GUEST_PKI}/frontend.pem")),
        ("frontend_cert", format!("{GUEST_PKI}/frontend.crt")),
        ("frontend_key", format!("{GUEST_PKI}/frontend.key")),
        ("ca_file", format!("{GUEST_PKI}/ca.crt")),
        ("backend_addr", ADDR::BACKEND4.to_string()),
        ("backend_name", "backend.test".to_string()),
        ("client_ip_directive", directive),
        ("send_proxy", send_proxy.to_string()),
    ])
}

/// The process name, the config's guest path and the start commands of a proxy kind: the
/// kind's facts, where a build (a custom proxy's) names its own process.
fn start_command(
    kind: ProxyKind,
    spec: &BuildPlan,
    b: &ProxyBinary,
) -> Result<(String, &'static str, Vec<String>), ScriptError> {
    let facts = crate::kinds::facts(kind);
    let no =
        |what: &str| ScriptError::Plan { scenario: String::new(), detail: format!("{} has no {what}", kebab(&kind)) };
    let (name, template) = crate::kinds::entry(kind).start.ok_or_else(|| no("start script"))?;
    let process = facts.process.clone().or_else(|| spec.process.clone()).ok_or_else(|| no("process"))?;
    let conf = facts.config.as_deref().ok_or_else(|| no("config path"))?;
    let start = spec.start.clone().unwrap_or_default().replace("{bin}", &b.bin).replace("{config}", conf);
    let vars = Vars::from([
        ("bin", b.bin.clone()),
        ("env", b.env.clone()),
        ("config", conf.to_string()),
        ("process", process.clone()),
        ("start", start),
    ]);
    Ok((process, conf, commands(&render(name, template, &vars)?)))
}

/// A guest shell test that holds while something listens on `port` (IPv4 or IPv6): a
/// /proc/net/tcp{,6} line with that local port in state 0A (LISTEN).
pub(crate) fn listening(port: u16) -> String {
    format!("grep -h ':{port:04X} ' /proc/net/tcp /proc/net/tcp6 | grep -q ' 0A '")
}

/// `routerlab backend` for the scenario: TLS (or plain) on both families, the PROXY
/// protocol where the proxy sends it, the trusted hops and the client-IP header.
pub fn backend_args(plan: &Plan, dirs: &CellDirs<'_>) -> Vec<String> {
    let p = |f: &str| dirs.pki.join(f).display().to_string();
    // Where TLS ends at the backend (l4-forward, passthrough), it presents the router's name.
    let (cert, key) = match plan.proxy.mode {
        Some(ProxyMode::TerminateReencrypt) => (p("backend.crt"), p("backend.key")),
        _ => (p("frontend.crt"), p("frontend.key")),
    };
    let mut args: Vec<String> = vec!["backend".into(), "--tls-cert".into(), cert, "--tls-key".into(), key];
    let plain = plan.proxy.mode == Some(ProxyMode::TerminatePlain);
    let (port, plain_opt) = if plain { (80, ",plain") } else { (443, "") };
    let proxy_opt = match plan.proxy.client_ip_header {
        Some(ClientIpHeaderMode::ProxyV1) => ",proxy-protocol=v1",
        Some(ClientIpHeaderMode::ProxyV2) => ",proxy-protocol=v2",
        _ => "",
    };
    for a in [format!("{}:{port}", ADDR::BACKEND4), format!("[{}]:{port}", ADDR::BACKEND6)] {
        args.extend(["--listen".into(), format!("{a}{plain_opt}{proxy_opt}")]);
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
    let file = |f: &str| dirs.cell.join(f).display().to_string();
    args.extend(["--client-ip-header".into(), header.into(), "--access-log".into(), file("access.log")]);
    args.extend(["--reject-log".into(), file("rejects.log")]);
    args
}

/// The script as a person reviews it, and as `tests/snapshots/` keeps it: each router step
/// on its line, files in full, then the proxy, the backend, the load and the expectation.
impl std::fmt::Display for CellScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn steps(f: &mut std::fmt::Formatter<'_>, steps: &[GuestStep]) -> std::fmt::Result {
            for s in steps {
                match s {
                    GuestStep::Run(c) => writeln!(f, "  run  {c}")?,
                    GuestStep::Copy { from, path } => writeln!(f, "  copy {} -> {path}", from.display())?,
                    GuestStep::File { path, contents } => {
                        writeln!(f, "  file {path}")?;
                        for l in contents.lines() {
                            writeln!(f, "     | {l}")?;
                        }
                    }
                }
            }
            Ok(())
        }
        writeln!(f, "router:")?;
        steps(f, &self.router)?;
        writeln!(f, "proxy: {}", self.proxy.process.as_deref().unwrap_or("none (layer-4 forward)"))?;
        steps(f, &self.proxy.deploy)?;
        if let Some(stop) = &self.proxy.stop {
            writeln!(f, "  stop {stop}")?;
        }
        if let Some(alive) = &self.proxy.alive {
            writeln!(f, "  alive {alive}")?;
        }
        writeln!(f, "backend: routerlab {}", self.backend_args.join(" "))?;
        let n = self.sources.len();
        let shown: Vec<String> = self.sources.iter().take(3).map(|a| a.to_string()).collect();
        let last = if n > 3 { format!(" ... {}", self.sources[n - 1]) } else { String::new() };
        writeln!(f, "load: {} from {n} sources: {}{last}", self.url, shown.join(", "))?;
        for x in &self.faults {
            let p = &x.plan;
            let lasting = p.duration.map(|d| format!(" for {d:?}")).unwrap_or_default();
            writeln!(f, "fault: {} at {:?}{lasting}", kebab(&p.action), p.at)?;
            for (when, ops) in [("start", &x.start), ("end", &x.end)] {
                for op in ops {
                    match op {
                        FaultOp::Guest(c) => writeln!(f, "  {when} run  {c}")?,
                        FaultOp::Watch(name) => writeln!(f, "  {when} watch {name} (metrics agent)")?,
                        other => writeln!(f, "  {when} host {other:?}")?,
                    }
                }
            }
        }
        match &self.expected {
            Expect::Preserved => writeln!(f, "expect: each request logged with its sender's address"),
            Expect::Lost { seen_as } => {
                let a: Vec<String> = seen_as.iter().map(|a| a.to_string()).collect();
                writeln!(f, "expect: each request logged as one of {}", a.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_with_templates_has_a_directive_for_each_http_header_it_can_send() {
        let http = [ClientIpHeaderMode::XffAppend, ClientIpHeaderMode::XffReplace, ClientIpHeaderMode::Forwarded];
        let mut checked = 0;
        for e in &crate::kinds::KINDS {
            let f = crate::kinds::facts(e.kind);
            if f.templates.is_empty() {
                continue;
            }
            for h in http.iter().filter(|h| f.client_ip_header.contains(h)) {
                assert!(!config_vars(e.kind, Some(*h))["client_ip_directive"].is_empty(), "{} {h:?}", e.name);
                checked += 1;
            }
        }
        assert_eq!(checked, 6, "haproxy and nginx, three header modes each");
        assert_eq!(
            config_vars(ProxyKind::Haproxy, Some(ClientIpHeaderMode::XffAppend))["client_ip_directive"],
            "option forwardfor"
        );
        assert_eq!(config_vars(ProxyKind::Nginx, Some(ClientIpHeaderMode::ProxyV2))["client_ip_directive"], "");
    }

    /// Every shipped proxy template uses only fields the runner fills: rendering with the
    /// runner's own field set (not a copy of it) succeeds, for every kind and header mode.
    #[test]
    fn every_shipped_proxy_template_renders_with_the_runner_fields() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/templates");
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if !path.extension().is_some_and(|x| x == "cfg" || x == "conf") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let vars = config_vars(ProxyKind::Haproxy, Some(ClientIpHeaderMode::Forwarded));
            if let Err(e) = render(&path.display().to_string(), &text, &vars) {
                panic!("{e}");
            }
            seen += 1;
        }
        assert!(seen >= 5, "found only {seen} templates");
        let e = render("t", "{{frontend_bundle}} {{no_such_field}}", &config_vars(ProxyKind::Nginx, None)).unwrap_err();
        assert!(e.to_string().contains("no_such_field"), "{e}");
    }

    #[test]
    fn every_start_and_stop_command_fits_the_console() {
        let b =
            ProxyBinary { bin: "/opt/build/usr/sbin/haproxy".into(), env: "LD_LIBRARY_PATH=/opt/build/usr/lib".into() };
        for kind in [ProxyKind::Haproxy, ProxyKind::Nginx, ProxyKind::Custom] {
            let mut spec = BuildPlan::image();
            spec.start = Some("{bin} -c {config} -d".into());
            spec.process = Some("hitch".into());
            let (process, conf, start) = start_command(kind, &spec, &b).unwrap();
            assert_eq!(start.len(), 1, "{kind:?}: one command");
            assert!(start[0].contains(&b.bin) && start[0].contains(conf) && start[0].len() < 900, "{}", start[0]);
            assert!(!process.is_empty());
        }
    }
}
