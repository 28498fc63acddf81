//! A running VM: start paused, attach console/QMP/metrics, continue, wait for the readiness
//! marker, run commands, quit over QMP, and kill on `Drop` whatever happens.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::agent::AgentLink;
use super::args::{qemu_args, shell_script, Readiness, VmConfig, VmPaths};
use super::console::{extract, wrap, Console};
use super::insns::{InsnCounter, InsnReading, InsnSetup, Settle};
use super::metrics::{Collector, MetricsSeries};
use super::qmp::Qmp;
use super::{timeout_mult, VmError};

/// The marker the image's init prints when the system is up.
pub const READY_MARKER: &str = "routerlab-ready";
/// Busybox ash's line editor truncates longer lines: 1024 bytes in Debian's build,
/// 512 in OpenWrt's (`FEATURE_EDITING_MAX_LEN`), each less a margin.
const MAX_COMMAND: usize = 900;
const MAX_COMMAND_OPENWRT: usize = 480;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: String,
    pub status: i32,
}

pub struct Vm {
    pub cfg: VmConfig,
    pub paths: VmPaths,
    child: Child,
    console: Console,
    qmp: tokio::sync::Mutex<Qmp>,
    metrics: Arc<Mutex<Collector>>,
    /// The metrics agent's driver (none without metrics).
    agent: Option<AgentLink>,
    started: Instant,
    /// The management link is configured (uploads can use it).
    pub(crate) mgmt: bool,
    /// The console readiness found was OpenWrt's (procd's prompt, activated).
    pub(crate) openwrt_console: bool,
    /// Guest instruction counters, or why there are none.
    insns: Result<InsnCounter, String>,
    /// Files written over the console in this boot, by guest path: their sha256.
    pub(super) written: std::collections::HashMap<String, String>,
    /// Whether the guest has `base64`, once asked.
    pub(super) base64: Option<bool>,
}

impl Vm {
    /// Spawn QEMU paused, attach to its sockets, and let the CPU run.
    pub async fn start(cfg: VmConfig) -> Result<Vm, VmError> {
        let vm = cfg.name.clone();
        let paths = cfg.paths();
        let io = |path: &PathBuf| {
            let (vm, path) = (vm.clone(), path.clone());
            move |source| VmError::Io { vm, path, source }
        };
        std::fs::create_dir_all(&cfg.run_dir).map_err(io(&cfg.run_dir))?;
        if let Some(d) = paths.sock_dir() {
            std::fs::create_dir_all(d).map_err(io(&d.to_path_buf()))?;
        }
        for p in [&paths.console_sock, &paths.qmp_sock, &paths.metrics_sock] {
            let _ = std::fs::remove_file(p);
        }
        std::fs::write(&paths.script, shell_script(&cfg)).map_err(io(&paths.script))?;
        set_executable(&paths.script);
        let stderr = std::fs::File::create(&paths.stderr).map_err(io(&paths.stderr))?;
        let mut cmd = match &cfg.netns {
            // `ip netns exec` execs QEMU, so the child's pid is QEMU's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, cfg.target.qemu_binary()]);
                c
            }
            None => Command::new(cfg.target.qemu_binary()),
        };
        crate::proc::die_with_parent(&mut cmd);
        let mut child = cmd
            .args(qemu_args(&cfg))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| VmError::Spawn { vm: vm.clone(), binary: cfg.target.qemu_binary().into(), source })?;

        wait_for_sockets(&mut child, &cfg, &paths).await?;
        let mut guard = KillOnError(Some(child));
        // The host clock of every reading (metrics, counters), a few ms before the CPU runs.
        let started = Instant::now();
        let attached = attach(&cfg, &paths, started).await;
        let (console, qmp, metrics, agent) = match attached {
            Ok(a) => a,
            // QEMU can create its sockets and then exit (a plugin it refuses): say that.
            Err(e) => return Err(guard.exited(&vm, &paths).await.unwrap_or(e)),
        };
        let insns = insn_counter(&cfg, &paths, started);
        let child = guard.disarm();
        super::metrics::sample_host(child.id(), metrics.clone(), started);
        let mgmt = cfg.cmdline_extra.iter().any(|w| w.starts_with("routerlab.mgmt="));
        let (qmp, written) = (tokio::sync::Mutex::new(qmp), Default::default());
        Ok(Vm {
            cfg,
            paths,
            child,
            console,
            qmp,
            metrics,
            agent,
            started,
            mgmt,
            openwrt_console: false,
            insns,
            written,
            base64: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exit_status(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// Wait for the readiness marker, then confirm over QMP that the CPU runs.
    /// Returns boot time on the host clock (the guest clock of malta starts late).
    pub async fn wait_ready(&mut self) -> Result<Duration, VmError> {
        let boot = self.cfg.target.boot_timeout();
        match self.cfg.ready.clone() {
            Readiness::Marker(m) => self.wait_marker(&m, boot, "readiness marker").await?,
            Readiness::OpenWrtConsole => {
                self.wait_marker(super::ACTIVATE_PROMPT, boot, "OpenWrt console prompt").await?;
                self.activate_console().await?;
            }
            Readiness::Either(m) => {
                let what = "readiness marker or OpenWrt console prompt";
                let openwrt = self
                    .wait_console(0, boot, what, what, |t| match (t.contains(&m), t.contains(super::ACTIVATE_PROMPT)) {
                        (true, _) => Some(false),
                        (false, true) => Some(true),
                        _ => None,
                    })
                    .await?;
                if openwrt {
                    self.activate_console().await?;
                }
            }
        }
        let after = self.started.elapsed();
        let status = self
            .qmp
            .lock()
            .await
            .status()
            .await
            .map_err(|source| VmError::Qmp { vm: self.cfg.name.clone(), source })?;
        if status != "running" {
            return Err(VmError::NotReady {
                vm: self.cfg.name.clone(),
                detail: format!("marker seen but query-status says {status:?}"),
            });
        }
        Ok(after)
    }

    /// The longest console line the guest's shell reads whole.
    pub(crate) fn max_command(&self) -> usize {
        if self.openwrt_console || self.cfg.ready == Readiness::OpenWrtConsole {
            MAX_COMMAND_OPENWRT
        } else {
            MAX_COMMAND
        }
    }

    /// Host time since QEMU started.
    pub(crate) fn started_elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Press Enter on procd's "activate this console" and wait for the ash prompt.
    async fn activate_console(&mut self) -> Result<(), VmError> {
        let from = self.console.position();
        self.send_raw(b"\n").await?;
        let what = "ash prompt after Enter";
        self.wait_console(from, Duration::from_secs(10), what, what, |t| t.contains("root@").then_some(())).await?;
        self.openwrt_console = true;
        Ok(())
    }

    /// Wait for `marker` anywhere in the console output (scaled by `ROUTERLAB_TIMEOUT_MULT`).
    pub async fn wait_marker(&mut self, marker: &str, base: Duration, what: &str) -> Result<(), VmError> {
        self.wait_console(0, base, what, what, |t| t.contains(marker).then_some(())).await
    }

    /// Wait until `find` matches console output from position `from` on. The timeout is
    /// `base` times `ROUTERLAB_TIMEOUT_MULT`; `what` names the thing waited for in a timeout,
    /// `during` the activity in a QEMU-exited error.
    async fn wait_console<T>(
        &mut self,
        from: usize,
        base: Duration,
        what: &str,
        during: &str,
        find: impl Fn(&str) -> Option<T>,
    ) -> Result<T, VmError> {
        let timeout = base.mul_f64(timeout_mult());
        let deadline = Instant::now() + timeout;
        loop {
            let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
            let closed = match self.console.wait_for(from, step, &find).await {
                Ok(v) => return Ok(v),
                Err(closed) => closed,
            };
            if let Some(status) = self.exit_status() {
                return Err(self.died(status, during));
            }
            if Instant::now() >= deadline {
                return Err(VmError::Timeout {
                    vm: self.cfg.name.clone(),
                    what: what.into(),
                    timeout,
                    console: self.console.tail(15),
                });
            }
            if closed {
                // The socket is gone but QEMU has not been reaped yet: don't spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Write bytes to the console as they are (a key press, Ctrl-C).
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), VmError> {
        self.console.send(bytes).await.map_err(|source| VmError::Io {
            vm: self.cfg.name.clone(),
            path: self.paths.console_sock.clone(),
            source,
        })
    }

    fn died(&mut self, status: String, during: &str) -> VmError {
        VmError::DiedDuring { vm: self.cfg.name.clone(), status, during: during.into(), console: self.console.tail(15) }
    }

    /// Run `cmd` in the guest shell with the target's default timeout.
    pub async fn exec(&mut self, cmd: &str) -> Result<ExecOutput, VmError> {
        let t = self.cfg.target.exec_timeout();
        self.exec_timeout(cmd, t).await
    }

    /// Run `cmd`; stdout and stderr come back together, with the exit status.
    pub async fn exec_timeout(&mut self, cmd: &str, timeout: Duration) -> Result<ExecOutput, VmError> {
        let id = format!("{:08x}", rand::random::<u32>());
        let line = wrap(&id, cmd);
        let limit = self.max_command();
        if line.len() > limit {
            return Err(VmError::CommandTooLong { vm: self.cfg.name.clone(), len: line.len(), limit });
        }
        let from = self.console.position();
        let t0 = Instant::now();
        self.send_raw(line.as_bytes()).await?;
        let (what, during) = (format!("end of `{cmd}`"), format!("running `{cmd}`"));
        match self.wait_console(from, timeout, &what, &during, |t| extract(t, &id)).await {
            Ok((stdout, status)) => {
                let short: String = cmd.chars().take(72).collect();
                tracing::debug!(vm = %self.cfg.name, took_ms = t0.elapsed().as_millis() as u64, status, "exec {short}");
                Ok(ExecOutput { stdout, status })
            }
            Err(e) => {
                if matches!(e, VmError::Timeout { .. }) {
                    let _ = self.console.send(b"\x03").await; // interrupt it
                }
                Err(e)
            }
        }
    }

    /// A copy of the metrics gathered so far.
    pub fn metrics(&self) -> MetricsSeries {
        self.metrics.lock().expect("metrics lock").series()
    }

    /// Tell the metrics agent which processes to sample (by name; none: stop sampling them).
    pub fn agent_watch(&self, names: &[&str]) {
        if let Some(a) = &self.agent {
            a.watch(names);
        }
    }

    /// Stop (true) or resume asking the metrics agent for samples; the guest does no work
    /// for it meanwhile.
    pub fn agent_pause(&self, paused: bool) {
        if let Some(a) = &self.agent {
            a.pause(paused);
        }
    }

    /// Ask the metrics agent for one sample now (`false` without an agent).
    pub fn agent_ask(&self, line: &'static str) -> bool {
        self.agent.as_ref().map(|a| a.ask(line)).is_some()
    }

    /// How many samples the guest's metrics agent has sent so far.
    pub fn agent_progress(&self) -> super::metrics::AgentProgress {
        self.metrics.lock().expect("metrics lock").progress()
    }

    /// The guest's instruction counters now, or why they are unavailable.
    pub fn insns(&self) -> Result<InsnReading, String> {
        match &self.insns {
            Ok(c) => c.read().map_err(|e| format!("reading the insn-count plugin: {e}")),
            Err(why) => Err(why.clone()),
        }
    }

    /// Wait until the guest is at rest (see [`Settle`]) and give the first and the latest
    /// reading of the rest; `None` in place of them when it did not come to rest in `limit`
    /// (a background job keeps running), with the latest reading.
    pub async fn insns_at_rest(&self, limit: Duration) -> Result<(Option<InsnReading>, InsnReading), String> {
        let mut settle = Settle::new(Duration::from_millis(150));
        let end = Instant::now() + limit;
        loop {
            let r = self.insns()?;
            if let Some((first, last)) = settle.feed(r) {
                return Ok((Some(first), last));
            }
            if Instant::now() >= end {
                return Ok((None, r));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The counters sampled so far (about ten a second), empty when unavailable.
    pub fn insn_series(&self) -> Vec<InsnReading> {
        self.insns.as_ref().map(|c| c.series()).unwrap_or_default()
    }

    /// Seconds on the VM's host clock (from just before QEMU's CPU was let run): the clock of
    /// [`InsnReading::t`] and of the metrics' `host_t`.
    pub fn host_clock(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Freeze the guest (QMP `stop`): its CPUs, clocks and devices halt until [`Vm::resume`].
    pub async fn pause(&self) -> Result<(), VmError> {
        self.qmp_command("stop").await
    }

    /// Let a paused guest run again (QMP `cont`). Its clock stood still while the host's ran,
    /// so the metrics take the guest's clock again before they place another sample (set up
    /// before `cont`, so that no answer comes first).
    pub async fn resume(&self) -> Result<(), VmError> {
        self.metrics.lock().expect("metrics lock").resync();
        if let Some(a) = &self.agent {
            a.clock_next();
        }
        self.qmp_command("cont").await
    }

    async fn qmp_command(&self, command: &str) -> Result<(), VmError> {
        let run = async { self.qmp.lock().await.execute(command, None).await };
        match tokio::time::timeout(Duration::from_secs(5), run).await {
            Ok(r) => r.map(drop).map_err(|source| VmError::Qmp { vm: self.cfg.name.clone(), source }),
            Err(_) => {
                Err(VmError::NotReady { vm: self.cfg.name.clone(), detail: format!("QMP {command}: no answer in 5 s") })
            }
        }
    }

    /// Quit over QMP, then kill if QEMU is still there after 3 s.
    pub async fn quit(mut self) -> Result<(), VmError> {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), async { self.qmp.lock().await.execute("quit", None).await })
                .await;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if self.exit_status().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(()) // Drop kills and reaps if quit did not work
    }
}

/// Wait until QEMU has created its sockets (it does so before running): an exit first is a
/// configuration error, with QEMU's own words; no sockets within 10 s, a stuck start.
async fn wait_for_sockets(child: &mut Child, cfg: &VmConfig, paths: &VmPaths) -> Result<(), VmError> {
    let vm = cfg.name.clone();
    let t0 = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let stderr = std::fs::read_to_string(&paths.stderr).unwrap_or_default();
            return Err(VmError::QemuExited { vm, status: status.to_string(), stderr: stderr.trim().to_string() });
        }
        let ready =
            paths.console_sock.exists() && paths.qmp_sock.exists() && (!cfg.metrics || paths.metrics_sock.exists());
        if ready && t0.elapsed() >= Duration::from_millis(100) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(VmError::NotReady { vm, detail: "QEMU did not create its sockets within 10 s".into() });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The guest's instruction counters, or why there are none.
fn insn_counter(cfg: &VmConfig, paths: &VmPaths, started: Instant) -> Result<InsnCounter, String> {
    match &cfg.insn {
        InsnSetup::Load { .. } => InsnCounter::start(&paths.insn_sock, started)
            .map_err(|e| format!("plugin socket {}: {e}", paths.insn_sock.display())),
        InsnSetup::Unavailable(why) => Err(why.clone()),
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(d) = self.paths.sock_dir() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

type Attached = (Console, Qmp, Arc<Mutex<Collector>>, Option<AgentLink>);

/// Console, QMP (the CPU let run) and the metrics stream of a just-spawned QEMU.
async fn attach(cfg: &VmConfig, paths: &VmPaths, started: Instant) -> Result<Attached, VmError> {
    let vm = &cfg.name;
    let io = |path: &PathBuf| {
        let (vm, path) = (vm.clone(), path.clone());
        move |source| VmError::Io { vm, path, source }
    };
    let console = Console::attach(&paths.console_sock, &paths.transcript).await.map_err(io(&paths.console_sock))?;
    let mut qmp = Qmp::connect(&paths.qmp_sock).await.map_err(|source| VmError::Qmp { vm: vm.clone(), source })?;
    let metrics = Arc::new(Mutex::new(Collector::default()));
    let mut agent = None;
    if cfg.metrics {
        let port = super::metrics::attach(&paths.metrics_sock, &paths.metrics_log, metrics.clone(), started)
            .await
            .map_err(io(&paths.metrics_sock))?;
        agent = Some(AgentLink::start(port, metrics.clone()));
    }
    qmp.execute("cont", None).await.map_err(|source| VmError::Qmp { vm: vm.clone(), source })?;
    Ok((console, qmp, metrics, agent))
}

/// Kills the child if startup fails half way.
struct KillOnError(Option<Child>);

impl KillOnError {
    /// `QemuExited` with QEMU's stderr if the child has exited (waiting briefly for it).
    async fn exited(&mut self, vm: &str, paths: &VmPaths) -> Option<VmError> {
        let child = self.0.as_mut()?;
        for _ in 0..50 {
            if let Ok(Some(status)) = child.try_wait() {
                let stderr = std::fs::read_to_string(&paths.stderr).unwrap_or_default();
                return Some(VmError::QemuExited {
                    vm: vm.into(),
                    status: status.to_string(),
                    stderr: stderr.trim().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    fn disarm(mut self) -> Child {
        self.0.take().expect("child present")
    }
}

impl Drop for KillOnError {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn set_executable(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
}
