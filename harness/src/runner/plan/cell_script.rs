//! A cell as data, decided before anything runs: what the router runs and is given, the
//! proxy's start and stop, the backend's and the load's arguments, and the addresses the
//! backend must log. `exec/` only executes it; the unit tests and the snapshots in
//! `tests/snapshots/` read it for every shipped scenario without root or QEMU.
use std::net::{IpAddr, SocketAddr};

use super::fault_script::{fault_scripts, FaultOp, FaultScript};
use super::proxy_script::{proxy_script, CellDirs, ProxyBinary, ProxyScript, ScriptError};
use crate::backend::ListenSpec;
use crate::cmdline::BackendArgs;
use crate::forwarded::ClientIpHeader;
use crate::model::{CellDir, Verdict};
use crate::netlab::{client_addresses, router_steps, GuestStep, LabOptions, WgPlan, ADDR};
use crate::proxyproto::HeaderPolicy;
use crate::reconcile::Expect;
use crate::scenario::{kebab, BuildPlan, ClientIpHeaderMode, Plan, ProxyKind, ProxyMode};

/// One cell, every decision made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellScript {
    /// The router's network: NIC names, addresses, routes, tunnel, NAT (once per session).
    pub router: Vec<GuestStep>,
    pub proxy: ProxyScript,
    /// Arguments of `routerlab backend` in the backend namespace (the routerlab backend).
    pub backend: BackendArgs,
    /// Where the load generator aims, and from which addresses.
    pub url: String,
    pub sources: Vec<IpAddr>,
    /// What the backend's access log must show for each request.
    pub expected: Expect,
    /// The `[[fault]]` steps, in order.
    pub faults: Vec<FaultScript>,
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
        router: router_steps(wg, plan.router.conntrack_max),
        faults: fault_scripts(plan, &proxy)?,
        proxy,
        backend: backend_command(plan, dirs),
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

/// `routerlab backend` for the scenario: TLS (or plain) on both families, the PROXY
/// protocol where the proxy sends it, the trusted hops and the client-IP header.
pub fn backend_command(plan: &Plan, dirs: &CellDirs<'_>) -> BackendArgs {
    let p = |f: &str| Some(dirs.pki.join(f));
    let plain = plan.proxy.mode == Some(ProxyMode::TerminatePlain);
    let proxy = match plan.proxy.client_ip_header {
        Some(ClientIpHeaderMode::ProxyV1) => Some(HeaderPolicy::V1),
        Some(ClientIpHeaderMode::ProxyV2) => Some(HeaderPolicy::V2),
        _ => None,
    };
    let (port, tls) = if plain { (80, Some(false)) } else { (443, None) };
    let ip = |s: &str| s.parse::<IpAddr>().expect("static address");
    let listen =
        [ip(ADDR::BACKEND4), ip(ADDR::BACKEND6)].map(|ip| ListenSpec { addr: SocketAddr::new(ip, port), tls, proxy });
    let mut a = BackendArgs::new(listen.to_vec(), CellDir(dirs.cell).access_log());
    // Where TLS ends at the backend (l4-forward, passthrough), it presents the router's name.
    (a.tls_cert, a.tls_key) = match plan.proxy.mode {
        Some(ProxyMode::TerminateReencrypt) => (p("backend.crt"), p("backend.key")),
        _ => (p("frontend.crt"), p("frontend.key")),
    };
    if plan.proxy.kind != ProxyKind::L4Forward {
        a.trusted = plan.trusted.nets().to_vec();
    }
    a.client_ip_header = match plan.proxy.client_ip_header {
        Some(ClientIpHeaderMode::Forwarded) => ClientIpHeader::Forwarded,
        Some(ClientIpHeaderMode::XffAppend | ClientIpHeaderMode::XffReplace) => ClientIpHeader::Xff,
        _ => ClientIpHeader::None,
    };
    a.reject_log = Some(CellDir(dirs.cell).rejects_log());
    a
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
        writeln!(f, "backend: routerlab backend {}", self.backend.to_args().join(" "))?;
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
