//! The proxy under test as data: its config rendered from the kind's template, the
//! certificates, its start, stop and liveness commands (or the layer-4 forward's rules),
//! decided before anything runs. `cell_script.rs` puts it in a cell's script and
//! `fault_script.rs` restarts it.
use std::path::{Path, PathBuf};

use crate::netlab::{l4_forward_steps, GuestStep, ADDR};
use crate::scenario::{kebab, BuildPlan, ClientIpHeaderMode, Plan, ProxyKind};
use crate::template::{commands, render, TemplateError, Vars};

const STOP: &str = include_str!("../../../../scenarios/templates/router/stop.sh");
const ALIVE: &str = include_str!("../../../../scenarios/templates/router/alive.sh");

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

/// Where a cell keeps its files on the host.
pub struct CellDirs<'a> {
    pub pki: &'a Path,
    pub cell: &'a Path,
    /// `scenarios/templates/`, for the proxy templates.
    pub templates: &'a Path,
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
            crate::scenario::kinds::facts(kind)
                .template(mode)
                .ok_or_else(|| bad(&format!("no template for {} {}", kebab(&kind), kebab(&mode))))?,
        ),
    };
    let text =
        std::fs::read_to_string(&template).map_err(|source| ScriptError::Read { path: template.clone(), source })?;
    let config = render(
        &template.display().to_string(),
        &text,
        &config_vars(kind, plan.proxy.client_ip_header, plan.router.cpus),
    )?;
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

/// The fields of the proxy templates, from the lab's addresses and the scenario; `cpus` is
/// the router's core count, which the shipped templates give the proxy as threads or
/// workers.
fn config_vars(kind: ProxyKind, header: Option<ClientIpHeaderMode>, cpus: u32) -> Vars {
    let directive = crate::scenario::kinds::facts(kind).directive(header);
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
        ("cpus", cpus.to_string()),
    ])
}

/// The process name, the config's guest path and the start commands of a proxy kind: the
/// kind's facts, where a build (a custom proxy's) names its own process.
fn start_command(
    kind: ProxyKind,
    spec: &BuildPlan,
    b: &ProxyBinary,
) -> Result<(String, &'static str, Vec<String>), ScriptError> {
    let facts = crate::scenario::kinds::facts(kind);
    let no =
        |what: &str| ScriptError::Plan { scenario: String::new(), detail: format!("{} has no {what}", kebab(&kind)) };
    let (name, template) = crate::scenario::kinds::entry(kind).start.ok_or_else(|| no("start script"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_with_templates_has_a_directive_for_each_http_header_it_can_send() {
        let http = [ClientIpHeaderMode::XffAppend, ClientIpHeaderMode::XffReplace, ClientIpHeaderMode::Forwarded];
        let mut checked = 0;
        for e in &crate::scenario::kinds::KINDS {
            let f = crate::scenario::kinds::facts(e.kind);
            if f.templates.is_empty() {
                continue;
            }
            for h in http.iter().filter(|h| f.client_ip_header.contains(h)) {
                assert!(!config_vars(e.kind, Some(*h), 1)["client_ip_directive"].is_empty(), "{} {h:?}", e.name);
                checked += 1;
            }
        }
        assert_eq!(checked, 6, "haproxy and nginx, three header modes each");
        assert_eq!(
            config_vars(ProxyKind::Haproxy, Some(ClientIpHeaderMode::XffAppend), 1)["client_ip_directive"],
            "option forwardfor"
        );
        assert_eq!(config_vars(ProxyKind::Nginx, Some(ClientIpHeaderMode::ProxyV2), 1)["client_ip_directive"], "");
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
            let vars = config_vars(ProxyKind::Haproxy, Some(ClientIpHeaderMode::Forwarded), 3);
            let out = render(&path.display().to_string(), &text, &vars).unwrap_or_else(|e| panic!("{e}"));
            // Each one follows the router's cores: threads, or workers, as many as it has.
            let per_core = ["nbthread 3", "worker_processes 3;", "workers = 3"];
            assert!(per_core.iter().any(|l| out.lines().any(|o| o.trim() == *l)), "{}: not per core", path.display());
            seen += 1;
        }
        assert!(seen >= 5, "found only {seen} templates");
        let e =
            render("t", "{{frontend_bundle}} {{no_such_field}}", &config_vars(ProxyKind::Nginx, None, 1)).unwrap_err();
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
