//! What the cells of one (scenario, target) share: the PKI, the lab with its backend, and
//! the booted router with its network configured. Builds run one after another on one
//! session (A B A B), so they meet the same router, and each boot costs once.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::deploy::{configure_router, listening, must, TUN_MAC, WAN_MAC};
use super::report::CellReport;
use super::{RunContext, RunError};
use crate::netlab::{standard_topology, start_hub, Lab, LabOptions, Tunnel, WgPlan, ADDR};
use crate::scenario::{ClientIpHeaderMode, Plan, ProxyKind, ProxyMode};
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
        configure_router(&mut vm, &tname, wg.as_ref()).await?;
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

    /// Stop the previous cell's proxy before the next build is deployed, and wait until
    /// nothing listens on 443 any more.
    pub async fn stop_proxy(&mut self, target: Target, process: &str) -> Result<(), RunError> {
        let t = target.to_string();
        let cmd = format!(
            "for p in $(pidof {process}); do kill $p; done; i=0; \
             while {}; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.2; done; \
             rm -f /tmp/proxy.log /tmp/proxy.check /tmp/routerlab-watch",
            listening(443)
        );
        must(&mut self.vm, &t, "stop proxy", &cmd).await.map(|_| ())
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
