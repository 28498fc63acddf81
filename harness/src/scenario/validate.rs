//! A scenario file to a validated [`Plan`], one section at a time.
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::ctx::{field_at, impair, Ctx};
use super::plan::{
    BackendKind, Budgets, ClientIpHeaderMode as H, ConnPolicyPlan, LabPlan, LoadPlan, Plan, ProxyKind, ProxyMode,
    ProxyPlan,
};
use super::raw::{RawExpect, RawLab, RawLoad, RawProxy, RawRouter, RawScenario};
use super::{BuildPlan, ScenarioError};
use crate::model::Verdict;
use crate::netaddr::CidrList;
use crate::netlab::{Tunnel, ADDR};
use crate::tls::KeyType;
use crate::vm::Resources;
use crate::vm::Target;

/// Read, parse and validate one scenario file.
pub fn load_plan(path: &Path) -> Result<Plan, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.into(), source })?;
    let c = Ctx { path, text: &text };
    let raw: RawScenario = toml::from_str(&text).or_else(|e| {
        let span = e.span().unwrap_or(0..0);
        c.err(span.clone(), &field_at(&text, span.start), e.message().trim().to_string())
    })?;
    let name_ok = !raw.name.get_ref().is_empty()
        && raw.name.get_ref().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return c.err(raw.name.span(), "name", "use lower-case letters, digits and '-'");
    }
    let key_type = match &raw.certificates.key {
        None => KeyType::EcdsaP256,
        Some(k) => c.choose(
            k,
            "certificates.key",
            &[("ecdsa-p256", KeyType::EcdsaP256), ("rsa-2048", KeyType::Rsa2048), ("ed25519", KeyType::Ed25519)],
        )?,
    };
    let backend = match &raw.backend.kind {
        None => BackendKind::Routerlab,
        Some(k) => {
            c.choose(k, "backend.kind", &[("routerlab", BackendKind::Routerlab), ("nginx", BackendKind::Nginx)])?
        }
    };
    let (expect, max_error_rate, budgets) = expect(&c, &raw.expect)?;
    let proxy = proxy(&c, &raw.proxy)?;
    let mut load = load_section(&c, &raw.load)?;
    load.ramp = super::ramp::ramp(&c, &raw.load, &raw.expect)?;
    load.connect_rate = super::ramp::connect_rate(&c, &raw.load)?;
    load.think = super::ramp::think(&c, &raw.load)?;
    super::capabilities::check(&c, &raw, &proxy, &load)?;
    let faults = super::faults::faults(&c, &raw.fault, proxy.kind, load.duration)?;
    let fault_expect = super::faults::fault_expect(&c, &raw.expect, &faults)?;
    let targets = targets(&c, &raw.targets)?;
    Ok(Plan {
        path: path.into(),
        router: router(&c, &raw.router, &targets)?,
        targets,
        proxy,
        key_type,
        backend,
        trusted: trusted(&c, raw.backend.trusted.as_ref())?,
        lab: lab(&c, &raw.lab)?,
        load,
        faults,
        fault_expect,
        expect,
        max_error_rate,
        budgets,
        name: raw.name.into_inner(),
        description: raw.description,
    })
}

fn targets(c: &Ctx<'_>, raw: &Spanned<Vec<String>>) -> Result<Vec<Target>, ScenarioError> {
    let known = Target::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
    if raw.get_ref().is_empty() {
        return c.err(raw.span(), "targets", format!("list at least one of {known}"));
    }
    raw.get_ref()
        .iter()
        .map(|t| t.parse::<Target>().or_else(|_| c.err(raw.span(), "targets", format!("{t:?} is not one of {known}"))))
        .collect()
}

/// The proxy kind, mode and client-IP header, checked together, and its builds.
fn proxy(c: &Ctx<'_>, raw: &RawProxy) -> Result<ProxyPlan, ScenarioError> {
    let kinds = crate::scenario::kinds::names();
    let modes = [
        ("terminate-reencrypt", ProxyMode::TerminateReencrypt),
        ("terminate-plain", ProxyMode::TerminatePlain),
        ("passthrough-proxy-protocol", ProxyMode::PassthroughProxyProtocol),
    ];
    let kind = c.choose(&raw.kind, "proxy.kind", &kinds)?;
    let mode = raw.mode.as_ref().map(|m| c.choose(m, "proxy.mode", &modes)).transpose()?;
    let header = raw.client_ip_header.as_ref().map(|h| c.choose(h, "proxy.client-ip-header", &H::ALL)).transpose()?;
    combination(c, raw, kind, mode, header)?;
    Ok(ProxyPlan { kind, mode, client_ip_header: header, builds: builds(c, raw, kind, header)? })
}

/// What a kind can do in a mode: l4-forward takes nothing, passthrough sends PROXY headers,
/// terminating modes add HTTP headers (a custom TLS terminator may hand on a PROXY header).
fn combination(
    c: &Ctx<'_>,
    raw: &RawProxy,
    kind: ProxyKind,
    mode: Option<ProxyMode>,
    header: Option<H>,
) -> Result<(), ScenarioError> {
    let header_span = || raw.client_ip_header.as_ref().expect("checked").span();
    match (kind, mode, header) {
        (ProxyKind::L4Forward, None, None) => Ok(()),
        (ProxyKind::L4Forward, _, _) => {
            c.err(raw.kind.span(), "proxy", "l4-forward takes no mode or client-ip-header: it only forwards packets")
        }
        (_, None, _) => c.err(raw.kind.span(), "proxy.mode", "required for haproxy, nginx and custom"),
        (_, _, None) => c.err(raw.kind.span(), "proxy.client-ip-header", "required for haproxy, nginx and custom"),
        // A TLS terminator that hands plain HTTP on with a PROXY header (hitch, stunnel).
        (ProxyKind::Custom, Some(ProxyMode::TerminatePlain), Some(H::ProxyV1 | H::ProxyV2)) => Ok(()),
        (_, Some(ProxyMode::PassthroughProxyProtocol), Some(H::ProxyV1 | H::ProxyV2)) => Ok(()),
        (_, Some(ProxyMode::PassthroughProxyProtocol), Some(_)) => c.err(
            header_span(),
            "proxy.client-ip-header",
            "passthrough-proxy-protocol sends proxy-v1 or proxy-v2 (TLS is not opened, so no HTTP header can be added)",
        ),
        (_, Some(_), Some(H::ProxyV1 | H::ProxyV2)) => c.err(
            header_span(),
            "proxy.client-ip-header",
            "terminating modes add xff-append, xff-replace or forwarded; PROXY headers go with passthrough-proxy-protocol",
        ),
        _ => Ok(()),
    }
}

/// The builds to run, names unique; the image's own proxy when none is named.
fn builds(c: &Ctx<'_>, raw: &RawProxy, kind: ProxyKind, header: Option<H>) -> Result<Vec<BuildPlan>, ScenarioError> {
    let mut builds: Vec<BuildPlan> = Vec::new();
    for (i, b) in raw.build.iter().enumerate() {
        let plan = super::build_file::build_plan(c, b, &format!("proxy.build[{}].", i + 1), kind, header)?;
        if builds.iter().any(|x| x.name == plan.name) {
            let field = format!("proxy.build[{}].name", i + 1);
            return c.err(b.name.span(), &field, format!("{:?} is used twice", plan.name));
        }
        builds.push(plan);
    }
    if builds.is_empty() {
        if kind == ProxyKind::Custom {
            return c.err(raw.kind.span(), "proxy.build", "a custom proxy needs a [[proxy.build]] saying what to run");
        }
        builds.push(BuildPlan::image());
    }
    Ok(builds)
}

/// The hops the backend trusts; by default the router's tunnel address.
fn trusted(c: &Ctx<'_>, raw: Option<&Spanned<Vec<String>>>) -> Result<CidrList, ScenarioError> {
    let Some(t) = raw else {
        return Ok(CidrList::new(vec![
            format!("{}/32", ADDR::ROUTER_TUN4).parse().expect("static"),
            format!("{}/128", ADDR::ROUTER_TUN6).parse().expect("static"),
        ]));
    };
    let nets = t
        .get_ref()
        .iter()
        .map(|s| CidrList::parse_net(s).or_else(|e| c.err(t.span(), "backend.trusted", e.to_string())));
    Ok(CidrList::new(nets.collect::<Result<_, _>>()?))
}

fn lab(c: &Ctx<'_>, raw: &RawLab) -> Result<LabPlan, ScenarioError> {
    let clients = raw.clients.as_ref().map(|s| (*s.get_ref(), s.span())).unwrap_or((3, 0..0));
    let max = ADDR::max_clients_v4();
    if !(1..=max).contains(&clients.0) {
        return c.err(clients.1, "lab.clients", format!("{} is outside 1-{max}", clients.0));
    }
    let tunnel = match &raw.tunnel {
        None => Tunnel::WireGuard,
        Some(t) => c.choose(t, "lab.tunnel", &[("wireguard", Tunnel::WireGuard), ("none", Tunnel::None)])?,
    };
    Ok(LabPlan {
        clients: clients.0,
        clients6: raw.clients6.as_ref().map(|s| *s.get_ref()).unwrap_or(0),
        tunnel,
        impair_wan: impair(c, raw.impair_wan.as_ref(), "lab.impair-wan")?,
        impair_tunnel: impair(c, raw.impair_tunnel.as_ref(), "lab.impair-tunnel")?,
    })
}

/// The `[router]` table: RAM, vCPUs and CPU model every target of the scenario can have.
fn router(c: &Ctx<'_>, raw: &RawRouter, targets: &[Target]) -> Result<Resources, ScenarioError> {
    let mut r = Resources::default();
    if let Some(m) = &raw.memory {
        r.memory_mib = Resources::parse_memory(m.get_ref()).or_else(|e| c.err(m.span(), "router.memory", e))?;
    }
    if let Some(n) = &raw.cpus {
        r.cpus = *n.get_ref();
    }
    if let Some(m) = &raw.cpu {
        r.cpu = Some(crate::vm::CpuModel::parse(m.get_ref()).or_else(|e| c.err(m.span(), "router.cpu", e))?);
    }
    r.conntrack_max = raw.conntrack_max.as_ref().map(|n| *n.get_ref());
    r.icount_shift = raw.icount_shift.as_ref().map(|n| *n.get_ref());
    for t in targets {
        if let Err(e) = r.fits(*t) {
            let (span, field) = match (&raw.cpus, &raw.memory) {
                _ if e.contains("CPU model") => (raw.cpu.as_ref().expect("a model was set").span(), "router.cpu"),
                _ if e.contains("conntrack") => {
                    (raw.conntrack_max.as_ref().expect("a table size was set").span(), "router.conntrack-max")
                }
                _ if e.contains("icount") => {
                    (raw.icount_shift.as_ref().expect("a shift was set").span(), "router.icount-shift")
                }
                (Some(n), _) if e.contains("CPU") => (n.span(), "router.cpus"),
                (_, Some(m)) => (m.span(), "router.memory"),
                (Some(n), None) => (n.span(), "router.cpus"),
                (None, None) => unreachable!("the defaults fit every board"),
            };
            return c.err(span, field, e);
        }
    }
    Ok(r)
}

/// The `[load]` section: phases, connections, rate and headers.
fn load_section(c: &Ctx<'_>, l: &RawLoad) -> Result<LoadPlan, ScenarioError> {
    if let Some(r) = l.rate.as_ref().filter(|r| !(r.get_ref().is_finite() && *r.get_ref() > 0.0)) {
        return c.err(r.span(), "load.rate", "must be a positive number of requests per second");
    }
    if let Some(h) = l.spoof_headers.iter().find(|h| crate::load::parse_header(h.get_ref()).is_err()) {
        return c.err(h.span(), "load.spoof-headers", format!("{:?} is not 'Name: value'", h.get_ref()));
    }
    let policies = [
        ("keep-alive", ConnPolicyPlan::KeepAlive),
        ("new-conn", ConnPolicyPlan::NewConn),
        ("resume", ConnPolicyPlan::Resume),
    ];
    Ok(LoadPlan {
        idle: c.duration(&l.idle, "load.idle", Duration::from_secs(3))?,
        warmup: c.duration(&l.warmup, "load.warmup", Duration::from_secs(1))?,
        duration: c.positive_duration(&l.duration, "load.duration", Duration::from_secs(10))?,
        // Closed loop: the clients, each waiting for its answer. Open loop (wrk2's -c with -R):
        // the connections the rate is spread over.
        connections: l
            .connections
            .as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or(if l.rate.is_some() || l.ramp.is_some() { 64 } else { 4 })
            .max(1),
        rate: l.rate.as_ref().map(|r| *r.get_ref()),
        conn_policy: match &l.conn_policy {
            None => ConnPolicyPlan::KeepAlive,
            Some(p) => c.choose(p, "load.conn-policy", &policies)?,
        },
        http2: match &l.http {
            None => false,
            Some(h) => c.choose(h, "load.http", &[("1.1", false), ("2", true)])?,
        },
        spoof_headers: l.spoof_headers.iter().map(|h| h.get_ref().clone()).collect(),
        ramp: None,
        connect_rate: None,
        think: None,
    })
}

/// The expected client-IP verdict, the tolerated error rate and the cost budgets.
fn expect(c: &Ctx<'_>, e: &RawExpect) -> Result<(Verdict, f64, Budgets), ScenarioError> {
    let verdict =
        c.choose(&e.client_ip, "expect.client-ip", &[("preserved", Verdict::Preserved), ("lost", Verdict::Lost)])?;
    let max_error_rate = match &e.max_error_rate {
        None => 0.0,
        Some(r) if (0.0..=1.0).contains(r.get_ref()) => *r.get_ref(),
        Some(r) => return c.err(r.span(), "expect.max-error-rate", "a fraction from 0.0 to 1.0"),
    };
    let positive = |v: &Option<Spanned<f64>>, field: &str| -> Result<Option<f64>, ScenarioError> {
        match v {
            Some(x) if !(x.get_ref().is_finite() && *x.get_ref() > 0.0) => {
                c.err(x.span(), field, "must be a positive number")
            }
            Some(x) => Ok(Some(*x.get_ref())),
            None => Ok(None),
        }
    };
    let p99 = e
        .max_p99
        .as_ref()
        .map(|s| c.positive_duration(&Some(s.clone()), "expect.max-p99", Duration::ZERO))
        .transpose()?;
    let flash_bytes = match &e.max_flash {
        Some(f) => match crate::vm::parse_size(f.get_ref()) {
            Ok(0) => c.err(f.span(), "expect.max-flash", format!("{:?} is zero", f.get_ref()))?,
            Ok(n) => Some(n),
            Err(m) => c.err(f.span(), "expect.max-flash", m)?,
        },
        None => None,
    };
    let budgets = Budgets {
        p99,
        flash_bytes,
        proxy_cpu_pct: positive(&e.max_proxy_cpu, "expect.max-proxy-cpu")?,
        proxy_rss_mib: positive(&e.max_proxy_rss_mib, "expect.max-proxy-rss-mib")?,
        proxy_rss_growth_kib_per_min: positive(&e.max_proxy_rss_growth, "expect.max-proxy-rss-growth")?,
    };
    Ok((verdict, max_error_rate, budgets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan, ScenarioError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.toml");
        std::fs::write(&p, text).unwrap();
        load_plan(&p)
    }

    const HEAD: &str =
        "name = \"x\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"l4-forward\"\n[expect]\nclient-ip = \"lost\"\n";

    #[test]
    fn the_router_table_sets_ram_and_vcpus_each_target_can_have() {
        let p = plan(&format!("{HEAD}[router]\nmemory = \"128MiB\"\n")).unwrap();
        assert_eq!(p.router, crate::vm::Resources { memory_mib: 128, cpus: 1, ..Default::default() });
        assert_eq!(plan(HEAD).unwrap().router, crate::vm::Resources::default());
        let e = plan(&format!("{HEAD}[router]\nmemory = \"128MB\"\n")).unwrap_err().to_string();
        assert!(e.contains("router.memory") && e.contains("unit \"MB\""), "{e}");
        let two = plan(&format!("{HEAD}[router]\nmemory = \"1GiB\"\ncpus = 2\n")).unwrap();
        assert_eq!(two.router, crate::vm::Resources { memory_mib: 1024, cpus: 2, ..Default::default() });
        let malta = HEAD.replace("[\"aarch64-virt\"]", "[\"aarch64-virt\", \"mipsel-malta\"]");
        let e = plan(&format!("{malta}[router]\nmemory = \"1GiB\"\n")).unwrap_err().to_string();
        assert!(
            e.contains("router.memory") && e.contains("mipsel-malta: memory 1024 MiB is outside 48-256 MiB"),
            "{e}"
        );
        let e = plan(&format!("{malta}[router]\ncpus = 2\n")).unwrap_err().to_string();
        assert!(e.contains("router.cpus") && e.contains("runs one CPU"), "{e}");
        let a72 = plan(&format!("{HEAD}[router]\ncpu = \"cortex-a72\"\n")).unwrap();
        assert_eq!(a72.router.cpu, Some(crate::vm::CpuModel::CortexA72));
        let e = plan(&format!("{malta}[router]\ncpu = \"cortex-a72\"\n")).unwrap_err().to_string();
        assert!(e.contains(":8:7: router.cpu: mipsel-malta: CPU model cortex-a72 is not a MIPS core"), "{e}");
        let e = plan(&format!("{HEAD}[router]\ncpu = \"1004Kc\"\n")).unwrap_err().to_string();
        assert!(e.contains("router.cpu: \"1004Kc\" is not a CPU model routerlab knows"), "{e}");
        let e = plan(&format!("{HEAD}[router]\nram = 1\n")).unwrap_err().to_string();
        assert!(e.contains("unknown field `ram`"), "{e}");
        let table = plan(&format!("{HEAD}[router]\nconntrack-max = 16384\n")).unwrap();
        assert_eq!(table.router.conntrack_max, Some(16384));
        let e = plan(&format!("{HEAD}[router]\nconntrack-max = 8\n")).unwrap_err().to_string();
        assert!(e.contains(":8:17: router.conntrack-max: aarch64-virt: a conntrack table of 8 entries"), "{e}");
        let icount = plan(&format!("{HEAD}[router]\nicount-shift = 2\n")).unwrap();
        assert_eq!(icount.router.icount_shift, Some(2));
        let e = plan(&format!("{HEAD}[router]\nicount-shift = 12\n")).unwrap_err().to_string();
        assert!(e.contains(":8:16: router.icount-shift: aarch64-virt: icount shift 12 is outside 0-10"), "{e}");
    }

    #[test]
    fn impairments_parse_and_are_checked() {
        let p = plan(&format!(
            "{HEAD}[lab.impair-wan]\ndelay = \"20ms\"\njitter = \"5ms\"\nloss = 0.5\nrate = \"10mbit\"\n"
        ))
        .unwrap();
        assert_eq!(p.lab.impair_wan.netem_args().join(" "), "delay 20000us 5000us loss 0.5% rate 10mbit");
        assert!(p.lab.impair_tunnel.is_empty());
        let e = plan(&format!("{HEAD}[lab.impair-tunnel]\nloss = 150.0\n")).unwrap_err().to_string();
        assert!(e.contains(":8:8: lab.impair-tunnel.loss: a percentage from 0 to 100"), "{e}");
        let e = plan(&format!("{HEAD}[lab.impair-wan]\nrate = \"fast\"\n")).unwrap_err().to_string();
        assert!(e.contains("lab.impair-wan.rate"), "{e}");
        let e = plan(&format!("{HEAD}[lab.impair-wan]\njitter = \"5ms\"\n")).unwrap_err().to_string();
        assert!(e.contains("lab.impair-wan.jitter: needs a delay"), "{e}");
    }

    #[test]
    fn open_loop_spreads_its_rate_over_64_connections_or_as_many_as_asked() {
        let p = plan(&format!("{HEAD}[load]\nrate = 40\n")).unwrap();
        assert_eq!((p.load.rate, p.load.connections), (Some(40.0), 64));
        let p = plan(&format!("{HEAD}[load]\nrate = 40\nconnections = 20\n")).unwrap();
        assert_eq!((p.load.rate, p.load.connections), (Some(40.0), 20));
        assert_eq!(plan(&format!("{HEAD}[load]\nduration = \"2s\"\n")).unwrap().load.connections, 4);
    }

    #[test]
    fn budgets_parse_and_are_checked() {
        let p = plan(&format!(
            "{HEAD}max-p99 = \"250ms\"\nmax-proxy-cpu = 80.0\nmax-proxy-rss-mib = 32\nmax-proxy-rss-growth = 16\nmax-flash = \"3MiB\"\n"
        ))
        .unwrap();
        assert_eq!(
            p.budgets,
            Budgets {
                p99: Some(Duration::from_millis(250)),
                flash_bytes: Some(3 << 20),
                proxy_cpu_pct: Some(80.0),
                proxy_rss_mib: Some(32.0),
                proxy_rss_growth_kib_per_min: Some(16.0),
            }
        );
        let e = plan(&format!("{HEAD}max-proxy-rss-growth = 0\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-proxy-rss-growth: must be a positive number"), "{e}");
        let e = plan(&format!("{HEAD}max-proxy-cpu = -1.0\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-proxy-cpu: must be a positive number"), "{e}");
        let e = plan(&format!("{HEAD}max-p99 = \"0ms\"\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-p99: \"0ms\" is zero"), "{e}");
        let e = plan(&format!("{HEAD}max-flash = \"4MB\"\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-flash: \"4MB\": unit \"MB\" is not KiB, MiB or GiB"), "{e}");
        let e = plan(&format!("{HEAD}max-flash = \"0KiB\"\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-flash: \"0KiB\" is zero"), "{e}");
    }

    #[test]
    fn a_steady_phase_of_zero_or_less_is_refused_at_its_line() {
        let e = plan(&format!("{HEAD}[load]\nduration = \"0s\"\n")).unwrap_err().to_string();
        assert!(e.contains(":8:12: load.duration: \"0s\" is zero; it must be longer than 0s"), "{e}");
        let e = plan(&format!("{HEAD}[load]\nduration = \"-2s\"\n")).unwrap_err().to_string();
        assert!(e.contains(":8:12: load.duration: \"-2s\" is not a duration"), "{e}");
        // Zero warm-up and idle windows skip those phases, as documented.
        let p = plan(&format!("{HEAD}[load]\nwarmup = \"0s\"\nidle = \"0s\"\n")).unwrap();
        assert_eq!((p.load.warmup, p.load.idle), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn an_unknown_target_is_refused_with_every_target_there_is() {
        let e = plan(&HEAD.replace("aarch64-virt", "x86-pc")).unwrap_err().to_string();
        assert!(e.contains(":2:11: targets: \"x86-pc\" is not one of"), "{e}");
        for t in Target::ALL {
            assert!(e.contains(t.name()), "{t:?} missing from: {e}");
        }
        // An OpenWrt target is a target like the others.
        let p = plan(&HEAD.replace("aarch64-virt", "mipsel-malta-openwrt")).unwrap();
        assert_eq!(p.targets, [Target::MipselMaltaOpenwrt]);
    }

    #[test]
    fn toml_errors_name_the_field_and_point_at_it() {
        // A type error: the value's place and its dotted key.
        let e = plan(&format!("{HEAD}[load]\nconnections = \"two\"\n")).unwrap_err().to_string();
        assert!(e.contains(":8:15: load.connections:"), "{e}");
        // An unknown key names itself.
        let e = plan(&format!("{HEAD}[load]\nconections = 2\n")).unwrap_err().to_string();
        assert!(e.contains(":8:1: load.conections: unknown field `conections`"), "{e}");
        // A malformed spoof-headers entry: its own place in the array, not 1:1.
        let e = plan(&format!("{HEAD}[load]\nspoof-headers = [\"X-Forwarded-For: 1.2.3.4\", \"NoColon\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":8:46: load.spoof-headers: \"NoColon\" is not"), "{e}");
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                load_plan(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n > 0, "no scenario in scenarios/");
    }
}
