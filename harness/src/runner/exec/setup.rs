//! The steps that open a session: certificates, the lab with its hub and backend, the
//! router's boot, and the impairments the router applies itself.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netlab::{standard_topology, start_hub, Lab, LabOptions, Tunnel, WgPlan, ADDR, TUN_MAC, WAN_MAC};
use crate::runner::error::PathError;
use crate::runner::plan::{backend_command, CellDirs};
use crate::runner::RunContext;
use crate::runner::RunError;
use crate::scenario::{BackendKind, Plan};
use crate::tls::{CertSpec, Pki, PkiRequest};
use crate::vm::{boot, BootOptions, ImageSource, Nic, NicBackend, Target, Vm};

/// The run's PKI, written to `dir/pki`: the router's and the backend's names and addresses.
pub(crate) fn certificates(plan: &Plan, target: Target, dir: &Path) -> Result<PathBuf, RunError> {
    let ip = |s: &str| s.parse::<IpAddr>().expect("static address");
    let pki = Pki::generate(&PkiRequest {
        key_type: plan.key_type,
        frontend: CertSpec { dns: vec!["router.test".into()], ips: vec![ip(ADDR::ROUTER_WAN4), ip(ADDR::ROUTER_WAN6)] },
        backend: CertSpec { dns: vec!["backend.test".into()], ips: vec![ip(ADDR::BACKEND4), ip(ADDR::BACKEND6)] },
        client: false,
    })
    .map_err(|e| RunError::caused(target, "certificates", e))?;
    let pki_dir = dir.join("pki");
    pki.write_to(&pki_dir).map_err(|e| RunError::caused(target, "certificates", e))?;
    Ok(pki_dir)
}

/// How the session's backend was started, so that a fault can start it again.
#[derive(Debug, Clone)]
pub(crate) enum BackendSpec {
    /// `routerlab backend` with these arguments.
    Routerlab { args: Vec<String> },
    /// Debian's nginx with this config.
    Nginx { bin: PathBuf, conf: PathBuf },
}

impl BackendSpec {
    /// The lab's label for the backend process.
    pub fn label(&self) -> &'static str {
        match self {
            BackendSpec::Routerlab { .. } => "backend",
            BackendSpec::Nginx { .. } => "nginx",
        }
    }
}

/// Start the backend in the backend namespace and wait for both its listeners.
pub(crate) async fn start(
    lab: &mut Lab,
    spec: &BackendSpec,
    dir: &Path,
    ctx: &RunContext,
) -> Result<(), crate::netlab::LabError> {
    match spec {
        BackendSpec::Routerlab { args } => start_backend(lab, args, dir, ctx).await,
        BackendSpec::Nginx { bin, conf } => super::nginx_backend::start(lab, bin, conf, dir).await,
    }
}

/// The lab for a router VM, the hub's WireGuard end if the scenario has one, and the
/// backend (routerlab's or nginx) listening.
pub(crate) async fn lab_with_backend(
    plan: &Plan,
    target: Target,
    dir: &Path,
    pki_dir: &Path,
    ctx: &RunContext,
) -> Result<(Lab, Option<WgPlan>, BackendSpec), RunError> {
    let lab_err = |phase| move |source| RunError::Lab { target: target.to_string(), phase, source: Box::new(source) };
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
            start_hub(&mut lab, &p).await.map_err(lab_err("wireguard"))?;
            Some(p)
        }
        Tunnel::None => None,
    };
    let spec = match plan.backend {
        BackendKind::Routerlab => {
            let mut a = backend_command(plan, &CellDirs { pki: pki_dir, cell: dir, templates: &ctx.templates });
            if ctx.capture != crate::capture::CaptureMode::Off {
                a.keylog = Some(backend_keylog(dir));
            }
            BackendSpec::Routerlab { args: [vec!["backend".to_string()], a.to_args()].concat() }
        }
        BackendKind::Nginx => {
            let bin = super::nginx_backend::ensure_nginx(&ctx.cache)
                .map_err(|e| RunError::caused(target, "nginx backend", e))?;
            // What nginx cannot judge is said in words: there is no error value behind it.
            let conf = super::nginx_backend::backend_conf(plan, pki_dir, dir)
                .map_err(|e| RunError::failed(target, "nginx backend", e))?;
            let path = dir.join("nginx-backend.conf");
            std::fs::write(&path, conf)
                .map_err(|e| RunError::caused(target, "nginx backend", PathError::new(&path, e)))?;
            BackendSpec::Nginx { bin, conf: path }
        }
    };
    start(&mut lab, &spec, dir, ctx).await.map_err(lab_err("backend"))?;
    Ok((lab, wg, spec))
}

/// Boot the router in its namespace with its WAN and tunnel NICs (by MAC, which the
/// router's network script renames by).
pub(crate) async fn boot_router(
    target: Target,
    lab: &Lab,
    dir: &Path,
    resources: crate::vm::Resources,
    ctx: &RunContext,
) -> Result<(Vm, Duration), RunError> {
    let mut bo = BootOptions::new("router", dir.into());
    bo.resources = resources;
    bo.netns = Some(lab.ns("router"));
    bo.insn_plugin = ctx.insn_plugin.clone();
    // No management NIC: uploads go over the WAN or the console, and on malta every extra
    // PCI device shares an interrupt line with a lab NIC (see docs/images.md).
    bo.mgmt = false;
    bo.extra_nics = vec![
        Nic { id: "wan".into(), backend: NicBackend::Tap { ifname: "wan0".into() }, mac: Some(WAN_MAC.into()) },
        Nic { id: "tun".into(), backend: NicBackend::Tap { ifname: "tun0".into() }, mac: Some(TUN_MAC.into()) },
    ];
    let src = ImageSource::Recipe { images_dir: ctx.images_dir.clone(), cache: ctx.cache.clone() };
    boot(target, &src, &bo).await.map_err(|source| RunError::Vm {
        target: target.to_string(),
        phase: "boot",
        source: Box::new(source),
    })
}

/// What the session knows of the image the router booted.
#[derive(Debug, Default)]
pub(crate) struct ImageFacts {
    /// The image directory.
    pub dir: Option<String>,
    /// Kernel and compressed initramfs sizes.
    pub bytes: (u64, u64),
    /// The lab's tools and the proxies as its manifest found them (none for a foreign image).
    pub programs: Vec<crate::image::programs::Program>,
}

/// The image directory the router booted from, with what its manifest says.
pub(crate) fn image_of(vm: &Vm) -> ImageFacts {
    let Some(d) = vm.cfg.kernel.parent() else { return ImageFacts::default() };
    let manifest = crate::image::BuiltImage::open(d).map(|img| img.manifest);
    ImageFacts {
        dir: Some(d.display().to_string()),
        bytes: manifest.as_ref().map(|m| (m.kernel.bytes, m.initrd.bytes)).unwrap_or((0, 0)),
        programs: manifest.map(|m| m.programs).unwrap_or_default(),
    }
}

/// Impairments: host ends were tried when the lab was built (this host has no netem); the
/// router's own ends are applied in the guest, whose kernel has sch_netem. Returns what was
/// applied and what was not, each saying where.
pub(crate) async fn impairments(
    vm: &mut Vm,
    lab: &mut Lab,
    target: &str,
) -> Result<(Vec<String>, Vec<String>), RunError> {
    let mut not_applied: Vec<String> = lab.unapplied.clone();
    let mut applied = Vec::new();
    for (link, ifname, args) in lab.for_vm.clone() {
        let what = format!("link {link} on router/{ifname}: netem {}", args.join(" "));
        let out = vm
            .exec(&format!("tc qdisc replace dev {ifname} root netem {}", args.join(" ")))
            .await
            .map_err(|source| RunError::Vm { target: target.into(), phase: "impairments", source: Box::new(source) })?;
        if out.status == 0 {
            applied.push(what);
        } else {
            not_applied.push(format!("{what} not applied: {}", out.stdout.trim()));
        }
    }
    for l in lab.topo.links.iter().filter(|l| !l.impair.is_empty()) {
        for end in [&l.a, &l.b] {
            let tag = format!("{}/{}", end.host, end.ifname);
            if end.host != "router" && !not_applied.iter().any(|m| m.contains(&tag)) {
                applied.push(format!("link {} on {tag}: netem on the host", l.name));
            }
        }
    }
    Ok((applied, not_applied))
}

/// Where routerlab's backend writes its TLS secrets while captures run.
pub(crate) fn backend_keylog(dir: &Path) -> PathBuf {
    dir.join("backend.keys.log")
}

async fn start_backend(
    lab: &mut Lab,
    args: &[String],
    dir: &Path,
    ctx: &RunContext,
) -> Result<(), crate::netlab::LabError> {
    lab.spawn("backend", "backend", &ctx.exe, args, None)?;
    let out = dir.join("backend.backend.out");
    let both = async || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        Ok::<_, crate::netlab::LabError>(text.lines().filter(|l| l.starts_with("listening")).count() >= 2)
    };
    if !crate::wait::poll_until(Duration::from_secs(10), Duration::from_millis(20), both).await? {
        return Err(crate::netlab::LabError::Command {
            host: "backend".into(),
            command: "routerlab backend".into(),
            stderr: std::fs::read_to_string(dir.join("backend.backend.err")).unwrap_or_default(),
        });
    }
    Ok(())
}
