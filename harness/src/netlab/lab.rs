//! Build a [`Topology`] with `ip` (one batch per namespace) and `nft`, and tear it down.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::ledger::{start_time, teardown, CleanReport, Ledger, LedgerEntry};
use super::{LabError, Topology};

pub type TeardownReport = CleanReport;

/// A built lab. Dropping it tears everything down.
pub struct Lab {
    pub prefix: String,
    pub run_dir: PathBuf,
    pub topo: Topology,
    ledger: Ledger,
    entries: Vec<LedgerEntry>,
    children: Vec<(String, Child)>,
    done: bool,
    /// Impairments that could not be applied, with the reason: reported, never ignored.
    pub unapplied: Vec<String>,
    /// Impairments left for the VM to apply inside the guest (link, interface, netem args).
    pub for_vm: Vec<(String, String, Vec<String>)>,
}

fn random_prefix() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let r: u64 = rand::random();
    let tail: String = (0..4).map(|i| A[((r >> (i * 8)) % A.len() as u64) as usize] as char).collect();
    format!("rl{tail}")
}

fn run(host: &str, cmd: &mut Command, stdin: Option<&str>) -> Result<Output, LabError> {
    let command = format!("{cmd:?}").replace('"', "");
    let mut child = cmd
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn { program: command.clone(), source })?;
    if let Some(text) = stdin {
        let _ = child.stdin.take().expect("piped").write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| LabError::Spawn { program: command.clone(), source })?;
    if !out.status.success() {
        return Err(LabError::Command {
            host: host.into(),
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

impl Lab {
    /// Validate and build `topo`. Its ledger goes to `state` (see [`super::state_dir`]).
    /// On failure, whatever was made is torn down before the error returns.
    pub fn build(topo: Topology, run_dir: &Path, state: &Path) -> Result<Lab, LabError> {
        topo.validate()?;
        std::fs::create_dir_all(run_dir)
            .map_err(|e| LabError::Ledger { path: run_dir.into(), detail: e.to_string() })?;
        let prefix = random_prefix();
        let ledger = Ledger::create(state, &prefix, run_dir)?;
        let mut lab = Lab {
            prefix,
            run_dir: run_dir.into(),
            topo,
            ledger,
            entries: Vec::new(),
            children: Vec::new(),
            done: false,
            unapplied: Vec::new(),
            for_vm: Vec::new(),
        };
        lab.apply()?;
        Ok(lab)
    }

    pub(crate) fn note(&mut self, e: LedgerEntry) -> Result<(), LabError> {
        self.ledger.record(&e)?;
        self.entries.push(e);
        Ok(())
    }

    /// Record a directory this run made, so teardown (or `routerlab clean`) removes it.
    pub fn own_dir(&mut self, path: &Path) -> Result<(), LabError> {
        self.note(LedgerEntry::Dir { path: path.into() })
    }

    /// The namespace of a host.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// A TCP listener inside a host's namespace, made from this process: a short-lived
    /// thread enters the namespace, binds, and ends; the socket stays in the namespace.
    pub fn bind_tcp(&self, host: &str, addr: std::net::SocketAddr) -> Result<std::net::TcpListener, LabError> {
        self.check_host(host)?;
        let ns = std::path::PathBuf::from("/run/netns").join(self.ns(host));
        let fail = |stderr: String| LabError::Command { host: host.into(), command: format!("bind {addr}"), stderr };
        std::thread::spawn(move || -> Result<std::net::TcpListener, String> {
            let f = std::fs::File::open(&ns).map_err(|e| format!("{}: {e}", ns.display()))?;
            // SAFETY: setns on a valid namespace fd; it changes only this thread's namespace.
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) } != 0 {
                return Err(format!("setns {}: {}", ns.display(), std::io::Error::last_os_error()));
            }
            std::net::TcpListener::bind(addr).map_err(|e| e.to_string())
        })
        .join()
        .map_err(|_| fail("bind thread panicked".into()))?
        .map_err(fail)
    }

    pub fn ledger_path(&self) -> &Path {
        self.ledger.path()
    }

    fn apply(&mut self) -> Result<(), LabError> {
        let hosts = self.topo.hosts.clone();
        for h in &hosts {
            let ns = self.ns(&h.name);
            self.note(LedgerEntry::Netns { name: ns.clone() })?;
            run(&h.name, Command::new("ip").args(["netns", "add", &ns]), None)?;
            // Before any link exists, so every interface inherits them: without DAD, IPv6
            // (link-local included) works at once instead of ~1 s later.
            let mut sysctls = vec!["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];
            if h.forwarding {
                sysctls.extend(["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
            }
            run(&h.name, Command::new("ip").args(["netns", "exec", &ns, "sysctl", "-qw"]).args(&sysctls), None)?;
        }
        for l in self.topo.links.clone() {
            let (na, nb) = (self.ns(&l.a.host), self.ns(&l.b.host));
            let vm_a = self.topo.host(&l.a.host).is_some_and(|h| h.vm);
            let vm_b = self.topo.host(&l.b.host).is_some_and(|h| h.vm);
            match (vm_a, vm_b) {
                (false, false) => veth(&l.name, (&l.a.ifname, &na), (&l.b.ifname, &nb))?,
                (true, true) => {
                    return Err(LabError::BadLink { link: l.name.clone(), detail: "both ends are VMs".into() })
                }
                _ => {
                    // The VM's NIC is a tap in the VM host's namespace, bridged to a veth whose
                    // other end is the peer's interface. The VM configures its own address.
                    let (vm, peer, vm_ns, peer_ns) = if vm_a { (&l.a, &l.b, na, nb) } else { (&l.b, &l.a, nb, na) };
                    let (br, port) = (format!("br-{}", vm.ifname), format!("v-{}", vm.ifname));
                    veth(&l.name, (&port, &vm_ns), (&peer.ifname, &peer_ns))?;
                    let batch = format!(
                        "tuntap add dev {tap} mode tap\nlink add {br} type bridge\nlink set {port} master {br}\nlink set {tap} master {br}\nlink set {port} up\nlink set {tap} up\nlink set {br} up\n",
                        tap = vm.ifname
                    );
                    run(&l.name, Command::new("ip").args(["-n", &vm_ns, "-batch", "-"]), Some(&batch))?;
                }
            }
        }
        for h in &hosts {
            let ns = self.ns(&h.name);
            let mut batch = String::from("link set lo up\n");
            let mut up = Vec::new();
            for l in &self.topo.links {
                for end in [&l.a, &l.b] {
                    if end.host == h.name && !h.vm {
                        for a in &end.addrs {
                            batch.push_str(&addr_line(a, &end.ifname));
                        }
                        up.push(end.ifname.clone());
                    }
                }
            }
            for (ifname, a) in &h.extra_addrs {
                batch.push_str(&addr_line(a, ifname));
            }
            for i in &up {
                batch.push_str(&format!("link set {i} up\n"));
            }
            for r in &h.routes {
                let dst = r.dst.map(|d| d.to_string()).unwrap_or_else(|| "default".into());
                // `ip` takes the family from the gateway (batch lines accept no `-6`).
                batch.push_str(&format!("route add {dst} via {}\n", r.via));
            }
            run(&h.name, Command::new("ip").args(["-n", &ns, "-batch", "-"]), Some(&batch))?;
            if let Some(rules) = &h.nft {
                run(&h.name, Command::new("ip").args(["netns", "exec", &ns, "nft", "-f", "-"]), Some(rules))?;
            }
        }
        self.impair();
        Ok(())
    }

    /// netem on both ends of impaired links. A VM end is left to the guest (its kernel has
    /// sch_netem); where the kernel lacks netem (this host's), the failure is recorded.
    fn impair(&mut self) {
        for l in self.topo.links.clone() {
            if l.impair.is_empty() {
                continue;
            }
            let args = l.impair.netem_args();
            for end in [&l.a, &l.b] {
                if self.topo.host(&end.host).is_some_and(|h| h.vm) {
                    self.for_vm.push((l.name.clone(), end.ifname.clone(), args.clone()));
                    continue;
                }
                let ns = self.ns(&end.host);
                let r = run(
                    &end.host,
                    Command::new("ip")
                        .args(["netns", "exec", &ns, "tc", "qdisc", "replace", "dev", &end.ifname, "root", "netem"])
                        .args(&args),
                    None,
                );
                if let Err(e) = r {
                    let msg = format!(
                        "link {} on {}/{}: netem {} not applied: {e}",
                        l.name,
                        end.host,
                        end.ifname,
                        args.join(" ")
                    );
                    tracing::warn!("{msg}");
                    self.unapplied.push(msg);
                }
            }
        }
    }

    /// Run a command in a host's namespace and wait for it.
    pub fn exec(&self, host: &str, program: &str, args: &[&str]) -> Result<Output, LabError> {
        run(host, &mut self.command(host, program, args)?, None)
    }

    /// Like [`Lab::exec`] but returns the output whatever the exit status.
    pub fn exec_any(&self, host: &str, program: &str, args: &[&str]) -> Result<Output, LabError> {
        self.command(host, program, args)?
            .stdin(Stdio::null())
            .output()
            .map_err(|source| LabError::Spawn { program: program.into(), source })
    }

    /// `program args` to run in a host's namespace, not yet started: for a caller that talks
    /// to it over its pipes while it runs.
    pub fn command<S: AsRef<std::ffi::OsStr>>(
        &self,
        host: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[S],
    ) -> Result<Command, LabError> {
        self.check_host(host)?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)]).arg(program).args(args);
        Ok(c)
    }

    /// Start a helper in a host's namespace (e.g. this binary's `backend` subcommand). It is
    /// recorded in the ledger; its stdout and stderr go to `<run_dir>/<host>.<label>.{out,err}`
    /// unless `stdout` is given.
    pub fn spawn(
        &mut self,
        host: &str,
        label: &str,
        program: &Path,
        args: &[String],
        stdout: Option<Stdio>,
    ) -> Result<u32, LabError> {
        let mut cmd = self.command(host, program, args)?;
        let io =
            |p: PathBuf| std::fs::File::create(&p).map_err(|e| LabError::Ledger { path: p, detail: e.to_string() });
        let out = match stdout {
            Some(s) => s,
            None => io(self.run_dir.join(format!("{host}.{label}.out")))?.into(),
        };
        let err = io(self.run_dir.join(format!("{host}.{label}.err")))?;
        let child = crate::proc::die_with_parent(&mut cmd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| LabError::Spawn { program: program.display().to_string(), source })?;
        let pid = child.id();
        // `ip netns exec` execs the program, so this pid is the helper itself.
        self.note(LedgerEntry::Process { pid, start_time: start_time(pid).unwrap_or(0), host: host.into() })?;
        self.children.push((label.into(), child));
        Ok(pid)
    }

    /// The pid of the helper started as `label`, while it is ours.
    pub fn pid(&self, label: &str) -> Option<u32> {
        self.children.iter().find(|(l, _)| l == label).map(|(_, c)| c.id())
    }

    /// How the helper started as `label` ended, if it has (it stays ours until stopped).
    pub fn exited(&mut self, label: &str) -> Option<std::process::ExitStatus> {
        self.children.iter_mut().find(|(l, _)| l == label).and_then(|(_, c)| c.try_wait().ok().flatten())
    }

    /// Stop the helper started as `label`: SIGTERM, then SIGKILL if it is still there after
    /// `grace` (polled without blocking a runtime thread); reaped either way. False if there
    /// is no such helper.
    pub async fn stop(&mut self, label: &str, grace: std::time::Duration) -> bool {
        let Some(i) = self.children.iter().position(|(l, _)| l == label) else { return false };
        let (_, mut child) = self.children.remove(i);
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let gone = async || Ok::<_, std::convert::Infallible>(child.try_wait().ok().flatten().is_some());
        if !matches!(crate::wait::poll_until(grace, std::time::Duration::from_millis(10), gone).await, Ok(true)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        true
    }

    fn check_host(&self, host: &str) -> Result<(), LabError> {
        match self.topo.host(host) {
            Some(_) => Ok(()),
            None => Err(LabError::BadHost { host: host.into(), detail: "not in this lab".into() }),
        }
    }

    /// Kill helpers and every process in each namespace, delete the namespaces, drop the ledger.
    pub fn teardown(&mut self) -> TeardownReport {
        let mut report = TeardownReport::default();
        if self.done {
            return report;
        }
        self.done = true;
        teardown(&self.entries, &mut report);
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if report.errors.is_empty() {
            let _ = std::fs::remove_file(self.ledger.path());
        }
        report.runs.push(self.prefix.clone());
        report
    }
}

/// A veth pair whose ends are created directly in their namespaces (never in the root one).
fn veth(link: &str, a: (&str, &str), b: (&str, &str)) -> Result<(), LabError> {
    let args = ["link", "add", "name", a.0, "netns", a.1, "type", "veth", "peer", "name", b.0, "netns", b.1];
    run(link, Command::new("ip").args(args), None).map(|_| ())
}

fn addr_line(a: &ipnet::IpNet, ifname: &str) -> String {
    match a {
        ipnet::IpNet::V4(_) => format!("addr add {a} dev {ifname}\n"),
        ipnet::IpNet::V6(_) => format!("addr add {a} dev {ifname} nodad\n"),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let r = self.teardown();
        for e in r.errors {
            tracing::warn!(prefix = %self.prefix, "teardown: {e}");
        }
    }
}
