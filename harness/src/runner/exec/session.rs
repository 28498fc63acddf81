//! What the cells of one (scenario, target) share: the PKI, the lab with its backend, and
//! the booted router with its network configured. Builds run one after another on one
//! session (A B A B), so they meet the same router, and each boot costs once.
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::deploy::{must, run_steps};
use super::setup;
use crate::model::{CellDir, CellReport};
use crate::netlab::{router_steps, Lab};
use crate::runner::RunContext;
use crate::runner::RunError;
use crate::scenario::Plan;
use crate::vm::{Target, Vm};

pub(crate) struct Session {
    pub lab: Lab,
    pub vm: Vm,
    pub pki_dir: PathBuf,
    /// How the backend was started (a fault may restart it).
    pub backend: setup::BackendSpec,
    /// Where the backend writes its access logs: the first cell's directory.
    pub log_dir: PathBuf,
    lab_s: f64,
    boot_s: f64,
    router_s: f64,
    image: setup::ImageFacts,
    impairments_applied: Vec<String>,
    impairments_not_applied: Vec<String>,
    /// Where each link is recorded, and the capture of the cell running now.
    pub(crate) capture_points: Vec<crate::capture::CapturePoint>,
    pub(crate) recorder: Option<crate::capture::Recorder>,
    /// The backend's TLS key log (written only while captures run).
    pub(crate) backend_keylog: PathBuf,
    /// Builds staged for this router, and the one unpacked on it now.
    pub(crate) carried: super::install::Carried,
    /// Each build's idle background on this router, from its first cell's window.
    pub(crate) idle: std::collections::HashMap<String, super::insns::Idle>,
    /// The router VM's RAM, vCPUs and CPU model as asked, and its conntrack table's size as
    /// read back.
    pub resources: crate::vm::Resources,
}

impl Session {
    /// Certificates, lab, backend, boot, router network and impairments, into `dir`.
    pub async fn open(plan: &Plan, target: Target, dir: &Path, ctx: &RunContext) -> Result<Session, RunError> {
        ctx.phase("certificates");
        let pki_dir = setup::certificates(plan, target, dir)?;
        let t0 = Instant::now();
        ctx.phase("network lab");
        let (mut lab, wg, backend) = setup::lab_with_backend(plan, target, dir, &pki_dir, ctx).await?;
        let capture_points = crate::capture::capture_points(&lab.topo, wg.as_ref().map(|w| w.hub_ifname.as_str()));
        let lab_s = t0.elapsed().as_secs_f64();
        ctx.phase("boot");
        let (mut vm, boot_time) = setup::boot_router(target, &lab, dir, plan.router, ctx).await?;
        let image = setup::image_of(&vm);
        let t1 = Instant::now();
        ctx.phase("router network");
        let tname = target.to_string();
        run_steps(&mut vm, &tname, "router network", &router_steps(wg.as_ref(), plan.router.conntrack_max)).await?;
        // The table's size in effect, set or the kernel's own, for the report's resources.
        let mut resources = plan.router;
        resources.conntrack_max = match vm.exec(crate::netlab::CONNTRACK_MAX_PROBE).await {
            Ok(out) => out.stdout.trim().parse().ok().or(plan.router.conntrack_max),
            Err(_) => plan.router.conntrack_max,
        };
        let (applied, not_applied) = setup::impairments(&mut vm, &mut lab, &tname).await?;
        Ok(Session {
            lab,
            vm,
            pki_dir,
            backend,
            log_dir: dir.to_path_buf(),
            lab_s,
            boot_s: boot_time.as_secs_f64(),
            router_s: t1.elapsed().as_secs_f64(),
            image,
            impairments_applied: applied,
            impairments_not_applied: not_applied,
            capture_points,
            recorder: None,
            backend_keylog: setup::backend_keylog(dir),
            carried: Default::default(),
            idle: Default::default(),
            resources,
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
        r.image = self.image.dir.clone();
        r.router = Some(self.resources);
        (r.image_kernel_bytes, r.image_initrd_bytes) = self.image.bytes;
        let tools = crate::image::programs::LAB_TOOLS;
        r.router_tools = self.image.programs.iter().filter(|p| tools.contains(&p.name.as_str())).cloned().collect();
        r.impairments_applied = self.impairments_applied.clone();
        r.impairments_not_applied = self.impairments_not_applied.clone();
    }

    /// The C library of the image's program at `path` (the image's own proxy), from its
    /// manifest.
    pub fn libc_of(&self, path: &str) -> Option<String> {
        self.image.programs.iter().find(|p| p.path == path || p.file == path).map(|p| p.libc.clone())
    }

    /// Keep the proxy's and the router's own account of a cell in its directory; returns
    /// the router's (its kernel log first), empty if the console could not give it.
    pub async fn collect(&mut self, dir: &Path) -> String {
        if let Ok(out) = self.vm.exec("cat /tmp/proxy.log /tmp/proxy.check 2>/dev/null").await {
            keep(&CellDir(dir).proxy_log(), out.stdout.as_bytes());
        }
        // The guest kernel's own account (driver stalls, conntrack, OOM), and what ran. The
        // ring is cleared as it is read, so the next cell's account is its own.
        let cmd = "(dmesg -c 2>/dev/null || dmesg) | tail -200; echo; cat /proc/net/dev; nft list ruleset; echo; ps -o pid,stat,rss,args; \
                   echo; cat /proc/loadavg; grep -E 'MemAvailable|Shmem:' /proc/meminfo; \
                   cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null";
        let kernel = match self.vm.exec(cmd).await {
            Ok(out) => {
                keep(&CellDir(dir).guest_kernel_log(), out.stdout.as_bytes());
                out.stdout
            }
            Err(_) => String::new(),
        };
        // The host side of the router's links (taps, bridges, veths), with drop counters.
        if let Ok(out) = self.lab.exec_any("router", "ip", &["-s", "-s", "link"]) {
            keep(&dir.join("router-host-links.log"), &out.stdout);
        }
        kernel
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

/// Keep a transcript; one that cannot be written is said once, and the cell goes on.
fn keep(path: &Path, data: &[u8]) {
    if let Err(e) = std::fs::write(path, data) {
        tracing::warn!("{}: {e}", path.display());
    }
}
