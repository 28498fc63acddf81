//! What the cells of one (scenario, target) share: the PKI, the lab with its backend, and
//! the booted router with its network configured. Builds run one after another on one
//! session (A B A B), so they meet the same router, and each boot costs once.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::deploy::{must, run_steps};
use super::script::{backend_args, CellDirs};
use super::{RunContext, RunError};
use crate::model::CellReport;
use crate::netlab::{
    router_steps, standard_topology, start_hub, Lab, LabOptions, Tunnel, WgPlan, ADDR, TUN_MAC, WAN_MAC,
};
use crate::scenario::Plan;
use crate::tls::{CertSpec, Pki, PkiRequest};
use crate::vm::{boot, BootOptions, ImageSource, Nic, NicBackend, Target, Vm};

pub(crate) struct Session {
    pub lab: Lab,
    pub vm: Vm,
    pub pki_dir: PathBuf,
    /// Where the backend writes its access logs: the first cell's directory.
    pub log_dir: PathBuf,
    lab_s: f64,
    boot_s: f64,
    router_s: f64,
    image: Option<String>,
    image_bytes: (u64, u64),
    impairments_applied: Vec<String>,
    impairments_not_applied: Vec<String>,
}

pub(crate) fn other(target: Target, phase: &'static str) -> impl Fn(String) -> RunError {
    move |detail| RunError::Other { target: target.to_string(), phase, detail }
}

impl Session {
    /// Certificates, lab, backend, boot, router network and impairments, into `dir`.
    pub async fn open(plan: &Plan, target: Target, dir: &Path, ctx: &RunContext) -> Result<Session, RunError> {
        let tname = target.to_string();
        let lab_err = |phase| {
            let t = tname.clone();
            move |source| RunError::Lab { target: t.clone(), phase, source }
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("static address");
        ctx.phase("certificates");
        let pki = Pki::generate(&PkiRequest {
            key_type: plan.key_type,
            frontend: CertSpec {
                dns: vec!["router.test".into()],
                ips: vec![ip(ADDR::ROUTER_WAN4), ip(ADDR::ROUTER_WAN6)],
            },
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
                start_hub(&mut lab, &p).await.map_err(lab_err("wireguard"))?;
                Some(p)
            }
            Tunnel::None => None,
        };
        match plan.backend {
            crate::scenario::BackendKind::Routerlab => {
                let args = backend_args(plan, &CellDirs { pki: &pki_dir, cell: dir, templates: &ctx.templates });
                start_backend(&mut lab, &args, dir, ctx).await.map_err(lab_err("backend"))?
            }
            crate::scenario::BackendKind::Nginx => {
                let bin = super::nginx_backend::ensure_nginx(&ctx.cache).map_err(other(target, "nginx backend"))?;
                let conf =
                    super::nginx_backend::backend_conf(plan, &pki_dir, dir).map_err(other(target, "nginx backend"))?;
                let path = dir.join("nginx-backend.conf");
                std::fs::write(&path, conf).map_err(|e| other(target, "nginx backend")(e.to_string()))?;
                super::nginx_backend::start(&mut lab, &bin, &path, dir).await.map_err(lab_err("nginx backend"))?;
            }
        }
        let lab_s = t0.elapsed().as_secs_f64();

        let mut bo = BootOptions::new("router", dir.into());
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
        ctx.phase("boot");
        let (mut vm, boot_time) = boot(target, &src, &bo).await.map_err(|source| RunError::Vm {
            target: tname.clone(),
            phase: "boot",
            source,
        })?;
        let (mut image, mut image_bytes) = (None, (0, 0));
        if let Some(d) = vm.cfg.kernel.parent() {
            if let Some(img) = crate::image::BuiltImage::open(d) {
                image_bytes = (img.manifest.kernel.bytes, img.manifest.initrd.bytes);
            }
            image = Some(d.display().to_string());
        }
        let t1 = Instant::now();
        ctx.phase("router network");
        run_steps(&mut vm, &tname, "router network", &router_steps(wg.as_ref())).await?;
        // Impairments: host ends were tried when the lab was built (this host has no netem);
        // the router's own ends are applied in the guest, whose kernel has sch_netem.
        let mut not_applied: Vec<String> = lab.unapplied.clone();
        let mut applied = Vec::new();
        for (link, ifname, args) in lab.for_vm.clone() {
            let what = format!("link {link} on router/{ifname}: netem {}", args.join(" "));
            let out = vm
                .exec(&format!("tc qdisc replace dev {ifname} root netem {}", args.join(" ")))
                .await
                .map_err(|source| RunError::Vm { target: tname.clone(), phase: "impairments", source })?;
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
        Ok(Session {
            lab,
            vm,
            pki_dir,
            log_dir: dir.to_path_buf(),
            lab_s,
            boot_s: boot_time.as_secs_f64(),
            router_s: t1.elapsed().as_secs_f64(),
            image,
            image_bytes,
            impairments_applied: applied,
            impairments_not_applied: not_applied,
        })
    }

    /// What the session gives every cell's report. Lab and boot time go to the first cell
    /// only: later cells did not pay them.
    pub fn fill(&self, r: &mut CellReport, first: bool) {
        if first {
            r.timings.lab_s = self.lab_s;
            r.timings.boot_s = self.boot_s;
            r.timings.deploy_s = self.router_s;
        }
        r.image = self.image.clone();
        (r.image_kernel_bytes, r.image_initrd_bytes) = self.image_bytes;
        r.impairments_applied = self.impairments_applied.clone();
        r.impairments_not_applied = self.impairments_not_applied.clone();
    }

    /// Keep the proxy's and the router's own account of a cell in its directory.
    pub async fn collect(&mut self, dir: &Path) {
        if let Ok(out) = self.vm.exec("cat /tmp/proxy.log /tmp/proxy.check 2>/dev/null").await {
            let _ = std::fs::write(dir.join("proxy.log"), out.stdout);
        }
        // The guest kernel's own account (driver stalls, conntrack, OOM), and what ran.
        let cmd = "dmesg | tail -200; echo; cat /proc/net/dev; nft list ruleset; echo; ps -o pid,stat,rss,args; \
                   echo; cat /proc/loadavg; grep -E 'MemAvailable|Shmem:' /proc/meminfo; \
                   cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null";
        if let Ok(out) = self.vm.exec(cmd).await {
            let _ = std::fs::write(dir.join("guest-kernel.log"), out.stdout);
        }
        // The host side of the router's links (taps, bridges, veths), with drop counters.
        if let Ok(out) = self.lab.exec_any("router", "ip", &["-s", "-s", "link"]) {
            let _ = std::fs::write(dir.join("router-host-links.log"), out.stdout);
        }
    }

    /// Stop the previous cell's proxy with its script's stop command before the next build
    /// is deployed; the command waits until nothing listens on 443 any more.
    pub async fn stop_proxy(&mut self, target: Target, stop: &str) -> Result<(), RunError> {
        must(&mut self.vm, &target.to_string(), "stop proxy", stop).await.map(|_| ())
    }

    /// QEMU off, lab torn down; returns the seconds it took.
    pub async fn close(mut self) -> f64 {
        let t = Instant::now();
        let _ = self.vm.quit().await;
        let report = self.lab.teardown();
        if !report.errors.is_empty() {
            tracing::warn!("teardown: {}", report.errors.join("; "));
        }
        t.elapsed().as_secs_f64()
    }
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
