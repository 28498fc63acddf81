//! The validated plan. Every check names the field and says what is allowed.
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::RawScenario;
use super::ScenarioError;
use crate::model::Verdict;
use crate::netaddr::CidrList;
use crate::textpos::line_col;
use crate::tls::KeyType;
use crate::vm::Target;

/// A plan value in the scenario file's own words (`terminate-reencrypt`), as serde names
/// it; empty for `None`.
pub fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    L4Forward,
    Haproxy,
    Nginx,
    /// Any proxy, from a build that says how to start it.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    TerminateReencrypt,
    TerminatePlain,
    PassthroughProxyProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeaderMode {
    XffAppend,
    XffReplace,
    Forwarded,
    ProxyV1,
    ProxyV2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Routerlab,
    Nginx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnPolicyPlan {
    KeepAlive,
    NewConn,
    Resume,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProxyPlan {
    pub kind: ProxyKind,
    /// `None` for `l4-forward`.
    pub mode: Option<ProxyMode>,
    pub client_ip_header: Option<ClientIpHeaderMode>,
    /// The builds to run, in order; at least one (the image's own by default).
    pub builds: Vec<super::BuildPlan>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabPlan {
    pub clients: usize,
    pub clients6: usize,
    pub tunnel: crate::netlab::Tunnel,
    #[serde(skip)]
    pub impair_wan: crate::netlab::Impairment,
    #[serde(skip)]
    pub impair_tunnel: crate::netlab::Impairment,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadPlan {
    /// No load, before the warm-up: measures the guest's background instruction rate
    /// (half with the metrics agent, half with it stopped). Zero skips it.
    pub idle: Duration,
    pub warmup: Duration,
    pub duration: Duration,
    pub connections: u32,
    pub rate: Option<f64>,
    pub conn_policy: ConnPolicyPlan,
    pub http2: bool,
    pub spoof_headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub targets: Vec<Target>,
    pub proxy: ProxyPlan,
    pub key_type: KeyType,
    pub backend: BackendKind,
    #[serde(skip)]
    pub trusted: CidrList,
    pub lab: LabPlan,
    pub load: LoadPlan,
    /// The client-IP verdict the scenario expects.
    pub expect: Verdict,
    pub max_error_rate: f64,
    pub budgets: Budgets,
}

/// Optional cost budgets; each becomes a named assertion.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Budgets {
    pub p99: Option<Duration>,
    pub proxy_cpu_pct: Option<f64>,
    pub proxy_rss_mib: Option<f64>,
}

pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        let (line, column) = line_col(self.text, span.start);
        Err(ScenarioError::Invalid {
            path: self.path.into(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        })
    }

    fn choose<T: Copy>(&self, v: &Spanned<String>, field: &str, options: &[(&str, T)]) -> Result<T, ScenarioError> {
        match options.iter().find(|(n, _)| *n == v.get_ref()) {
            Some((_, t)) => Ok(*t),
            None => {
                let allowed: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(v.span(), field, format!("{:?} is not one of {}", v.get_ref(), allowed.join(", ")))
            }
        }
    }

    fn duration(&self, v: &Option<Spanned<String>>, field: &str, default: Duration) -> Result<Duration, ScenarioError> {
        match v {
            None => Ok(default),
            Some(s) => humantime::parse_duration(s.get_ref()).or_else(|e| {
                self.err(s.span(), field, format!("{:?} is not a duration like \"10s\" or \"500ms\": {e}", s.get_ref()))
            }),
        }
    }
}

fn impair(
    c: &Ctx<'_>,
    raw: Option<&super::raw::RawImpair>,
    field: &str,
) -> Result<crate::netlab::Impairment, ScenarioError> {
    let Some(r) = raw else { return Ok(Default::default()) };
    let d = |v: &Option<Spanned<String>>, name: &str| -> Result<Option<Duration>, ScenarioError> {
        v.as_ref().map(|s| c.duration(&Some(s.clone()), &format!("{field}.{name}"), Duration::ZERO)).transpose()
    };
    let loss = match &r.loss {
        Some(l) if !(0.0..=100.0).contains(l.get_ref()) => {
            return c.err(l.span(), &format!("{field}.loss"), "a percentage from 0 to 100")
        }
        Some(l) => Some(l.get_ref().to_string()),
        None => None,
    };
    if let Some(rate) = &r.rate {
        let ok = rate.get_ref().trim_end_matches(|ch: char| ch.is_ascii_alphabetic()).parse::<f64>().is_ok()
            && rate.get_ref().ends_with("bit");
        if !ok {
            return c.err(rate.span(), &format!("{field}.rate"), "a rate like \"10mbit\" or \"512kbit\"");
        }
    }
    let i = crate::netlab::Impairment {
        delay: d(&r.delay, "delay")?,
        jitter: d(&r.jitter, "jitter")?,
        loss_pct: loss,
        rate: r.rate.as_ref().map(|s| s.get_ref().clone()),
    };
    if i.jitter.is_some() && i.delay.is_none() {
        return c.err(r.jitter.as_ref().expect("set").span(), &format!("{field}.jitter"), "needs a delay");
    }
    Ok(i)
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
    fn budgets_parse_and_are_checked() {
        let p = plan(&format!("{HEAD}max-p99 = \"250ms\"\nmax-proxy-cpu = 80.0\nmax-proxy-rss-mib = 32\n")).unwrap();
        assert_eq!(
            p.budgets,
            Budgets { p99: Some(Duration::from_millis(250)), proxy_cpu_pct: Some(80.0), proxy_rss_mib: Some(32.0) }
        );
        let e = plan(&format!("{HEAD}max-proxy-cpu = -1.0\n")).unwrap_err().to_string();
        assert!(e.contains("expect.max-proxy-cpu: must be a positive number"), "{e}");
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
        assert_eq!(n, 10);
    }
}

/// The dotted name of the key whose line holds `at` (`load.connections`): the last table
/// header before it, and the key before `=` on that line. For a TOML error, whose span is the
/// bad value or the unknown key. `-` when `at` is on no key's line.
fn field_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"').to_string(),
        None if line.trim().starts_with('[') => return line.trim().trim_matches(|c| c == '[' || c == ']').to_string(),
        None => return table.unwrap_or_else(|| "-".into()),
    };
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        _ if !key.is_empty() => key,
        _ => "-".into(),
    }
}

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
    if raw.targets.get_ref().is_empty() {
        return c.err(raw.targets.span(), "targets", "list at least one of mipsel-malta, aarch64-virt");
    }
    let mut targets = Vec::new();
    for t in raw.targets.get_ref() {
        match t.parse::<Target>() {
            Ok(t) => targets.push(t),
            Err(_) => {
                return c.err(
                    raw.targets.span(),
                    "targets",
                    format!("{t:?} is not one of mipsel-malta, mips-malta, aarch64-virt"),
                )
            }
        }
    }

    use ClientIpHeaderMode as H;
    let kind = c.choose(
        &raw.proxy.kind,
        "proxy.kind",
        &[
            ("l4-forward", ProxyKind::L4Forward),
            ("haproxy", ProxyKind::Haproxy),
            ("nginx", ProxyKind::Nginx),
            ("custom", ProxyKind::Custom),
        ],
    )?;
    let mode = raw
        .proxy
        .mode
        .as_ref()
        .map(|m| {
            c.choose(
                m,
                "proxy.mode",
                &[
                    ("terminate-reencrypt", ProxyMode::TerminateReencrypt),
                    ("terminate-plain", ProxyMode::TerminatePlain),
                    ("passthrough-proxy-protocol", ProxyMode::PassthroughProxyProtocol),
                ],
            )
        })
        .transpose()?;
    let header = raw
        .proxy
        .client_ip_header
        .as_ref()
        .map(|h| {
            c.choose(
                h,
                "proxy.client-ip-header",
                &[
                    ("xff-append", H::XffAppend),
                    ("xff-replace", H::XffReplace),
                    ("forwarded", H::Forwarded),
                    ("proxy-v1", H::ProxyV1),
                    ("proxy-v2", H::ProxyV2),
                ],
            )
        })
        .transpose()?;
    match (kind, mode, header) {
        (ProxyKind::L4Forward, None, None) => {}
        (ProxyKind::L4Forward, _, _) => {
            return c.err(
                raw.proxy.kind.span(),
                "proxy",
                "l4-forward takes no mode or client-ip-header: it only forwards packets",
            )
        }
        (_, None, _) => return c.err(raw.proxy.kind.span(), "proxy.mode", "required for haproxy, nginx and custom"),
        (_, _, None) => {
            return c.err(raw.proxy.kind.span(), "proxy.client-ip-header", "required for haproxy, nginx and custom")
        }
        // A TLS terminator that hands plain HTTP on with a PROXY header (hitch, stunnel).
        (ProxyKind::Custom, Some(ProxyMode::TerminatePlain), Some(H::ProxyV1 | H::ProxyV2)) => {}
        (_, Some(ProxyMode::PassthroughProxyProtocol), Some(H::ProxyV1 | H::ProxyV2)) => {}
        (_, Some(ProxyMode::PassthroughProxyProtocol), Some(_)) => {
            let span = raw.proxy.client_ip_header.as_ref().expect("checked").span();
            return c.err(span, "proxy.client-ip-header", "passthrough-proxy-protocol sends proxy-v1 or proxy-v2 (TLS is not opened, so no HTTP header can be added)");
        }
        (_, Some(_), Some(H::ProxyV1 | H::ProxyV2)) => {
            let span = raw.proxy.client_ip_header.as_ref().expect("checked").span();
            return c.err(span, "proxy.client-ip-header", "terminating modes add xff-append, xff-replace or forwarded; PROXY headers go with passthrough-proxy-protocol");
        }
        _ => {}
    }

    let mut builds = Vec::new();
    for (i, b) in raw.proxy.build.iter().enumerate() {
        let plan = super::build::build_plan(&c, b, &format!("proxy.build[{}].", i + 1), kind)?;
        if builds.iter().any(|x: &super::BuildPlan| x.name == plan.name) {
            return c.err(
                b.name.span(),
                &format!("proxy.build[{}].name", i + 1),
                format!("{:?} is used twice", plan.name),
            );
        }
        builds.push(plan);
    }
    if builds.is_empty() {
        if kind == ProxyKind::Custom {
            return c.err(
                raw.proxy.kind.span(),
                "proxy.build",
                "a custom proxy needs a [[proxy.build]] saying what to run",
            );
        }
        builds.push(super::BuildPlan::image());
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
    let trusted = match &raw.backend.trusted {
        // The router's tunnel address is the hop the backend trusts.
        None => CidrList::new(vec![
            format!("{}/32", crate::netlab::ADDR::ROUTER_TUN4).parse().expect("static"),
            format!("{}/128", crate::netlab::ADDR::ROUTER_TUN6).parse().expect("static"),
        ]),
        Some(t) => {
            let mut nets = Vec::new();
            for s in t.get_ref() {
                match CidrList::parse_net(s) {
                    Ok(n) => nets.push(n),
                    Err(e) => return c.err(t.span(), "backend.trusted", e.to_string()),
                }
            }
            CidrList::new(nets)
        }
    };

    let clients = raw.lab.clients.as_ref().map(|s| (*s.get_ref(), s.span())).unwrap_or((3, 0..0));
    let max = crate::netlab::ADDR::max_clients_v4();
    if !(1..=max).contains(&clients.0) {
        return c.err(clients.1, "lab.clients", format!("{} is outside 1-{max}", clients.0));
    }
    let tunnel = match &raw.lab.tunnel {
        None => crate::netlab::Tunnel::WireGuard,
        Some(t) => c.choose(
            t,
            "lab.tunnel",
            &[("wireguard", crate::netlab::Tunnel::WireGuard), ("none", crate::netlab::Tunnel::None)],
        )?,
    };

    let l = &raw.load;
    if let (Some(conn), Some(_)) = (&l.connections, &l.rate) {
        return c.err(conn.span(), "load.connections", "set connections (closed loop) or rate (open loop), not both");
    }
    if let Some(r) = &l.rate {
        if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) {
            return c.err(r.span(), "load.rate", "must be a positive number of requests per second");
        }
    }
    let load = LoadPlan {
        idle: c.duration(&l.idle, "load.idle", Duration::from_secs(3))?,
        warmup: c.duration(&l.warmup, "load.warmup", Duration::from_secs(1))?,
        duration: c.duration(&l.duration, "load.duration", Duration::from_secs(10))?,
        connections: l.connections.as_ref().map(|s| *s.get_ref()).unwrap_or(4).max(1),
        rate: l.rate.as_ref().map(|r| *r.get_ref()),
        conn_policy: match &l.conn_policy {
            None => ConnPolicyPlan::KeepAlive,
            Some(p) => c.choose(
                p,
                "load.conn-policy",
                &[
                    ("keep-alive", ConnPolicyPlan::KeepAlive),
                    ("new-conn", ConnPolicyPlan::NewConn),
                    ("resume", ConnPolicyPlan::Resume),
                ],
            )?,
        },
        http2: match &l.http {
            None => false,
            Some(h) => c.choose(h, "load.http", &[("1.1", false), ("2", true)])?,
        },
        spoof_headers: l.spoof_headers.iter().map(|h| h.get_ref().clone()).collect(),
    };
    for h in &l.spoof_headers {
        if crate::load::parse_header(h.get_ref()).is_err() {
            return c.err(h.span(), "load.spoof-headers", format!("{:?} is not 'Name: value'", h.get_ref()));
        }
    }
    let expect = c.choose(
        &raw.expect.client_ip,
        "expect.client-ip",
        &[("preserved", Verdict::Preserved), ("lost", Verdict::Lost)],
    )?;
    let max_error_rate = match &raw.expect.max_error_rate {
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
    let budgets = Budgets {
        p99: raw
            .expect
            .max_p99
            .as_ref()
            .map(|s| c.duration(&Some(s.clone()), "expect.max-p99", Duration::ZERO))
            .transpose()?,
        proxy_cpu_pct: positive(&raw.expect.max_proxy_cpu, "expect.max-proxy-cpu")?,
        proxy_rss_mib: positive(&raw.expect.max_proxy_rss_mib, "expect.max-proxy-rss-mib")?,
    };
    Ok(Plan {
        path: path.into(),
        name: raw.name.into_inner(),
        description: raw.description,
        targets,
        proxy: ProxyPlan { kind, mode, client_ip_header: header, builds },
        key_type,
        backend,
        trusted,
        lab: LabPlan {
            clients: clients.0,
            clients6: raw.lab.clients6.map(|s| s.into_inner()).unwrap_or(0),
            tunnel,
            impair_wan: impair(&c, raw.lab.impair_wan.as_ref(), "lab.impair-wan")?,
            impair_tunnel: impair(&c, raw.lab.impair_tunnel.as_ref(), "lab.impair-tunnel")?,
        },
        load,
        expect,
        max_error_rate,
        budgets,
    })
}
