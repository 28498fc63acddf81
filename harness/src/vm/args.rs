//! QEMU command lines as pure functions of a [`VmConfig`], unit-tested per target.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::insns::{plugin_arg, InsnSetup};
use super::Target;

/// How a VM's network interface is backed on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicBackend {
    /// QEMU user networking (slirp): the guest reaches the host's loopback as 10.0.2.2.
    User,
    /// A tap device that already exists (made by the network lab).
    Tap { ifname: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub id: String,
    pub backend: NicBackend,
    pub mac: Option<String>,
}

/// How a VM says it is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// routerlab images: init prints this marker.
    Marker(String),
    /// OpenWrt (and the openwrt-compat flavour): "Please press Enter to activate this
    /// console.", then Enter, then an ash prompt.
    OpenWrtConsole,
    /// An image someone else built (`--image`): whichever of the marker and OpenWrt's
    /// console prompt comes first.
    Either(String),
}

/// Where the console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// A unix socket in the run directory, driven by routerlab (and QMP beside it).
    Socket,
    /// The terminal, for a person (`vm shell`, `images/run-qemu.sh`); Ctrl-A X quits.
    Stdio,
}

#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Label used in errors and file names, e.g. `router`.
    pub name: String,
    pub target: Target,
    pub kernel: PathBuf,
    /// `None` for a kernel with a built-in initramfs (OpenWrt's `*-initramfs-kernel`).
    pub initrd: Option<PathBuf>,
    pub memory_mib: u32,
    /// vCPUs (`-smp`); QEMU runs them on host threads (MTTCG).
    pub cpus: u32,
    /// `-cpu`: the target's own model unless the router's resources name another.
    pub cpu_model: Option<&'static str>,
    /// `-icount shift=N`: the guest's clock runs on its instructions (see
    /// [`super::Resources::icount_shift`]); QEMU then runs the vCPUs on one thread.
    pub icount_shift: Option<u8>,
    /// Extra kernel command-line words.
    pub cmdline_extra: Vec<String>,
    pub run_dir: PathBuf,
    pub nics: Vec<Nic>,
    pub console: ConsoleMode,
    /// Start with the CPU stopped (`-S`) so nothing printed at boot is missed.
    pub paused: bool,
    /// Add the virtio console the metrics agent writes to.
    pub metrics: bool,
    pub ready: Readiness,
    /// Run QEMU inside this network namespace (the lab's router host, where its taps are).
    pub netns: Option<String>,
    /// Count guest instructions with the insn-count plugin, or say why not.
    pub insn: InsnSetup,
}

impl VmConfig {
    pub fn new(name: &str, target: Target, kernel: PathBuf, initrd: Option<PathBuf>, run_dir: PathBuf) -> Self {
        VmConfig {
            name: name.into(),
            target,
            kernel,
            initrd,
            memory_mib: 256,
            cpus: 1,
            cpu_model: target.cpu(),
            icount_shift: None,
            cmdline_extra: Vec::new(),
            run_dir,
            nics: Vec::new(),
            console: ConsoleMode::Socket,
            paused: true,
            metrics: true,
            ready: Readiness::Marker(super::READY_MARKER.into()),
            netns: None,
            insn: InsnSetup::default(),
        }
    }

    pub fn paths(&self) -> VmPaths {
        VmPaths::new(&self.run_dir, &self.name)
    }
}

/// Files a VM uses in its run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    pub console_sock: PathBuf,
    pub qmp_sock: PathBuf,
    pub metrics_sock: PathBuf,
    pub transcript: PathBuf,
    pub metrics_log: PathBuf,
    pub stderr: PathBuf,
    pub script: PathBuf,
    /// The insn-count plugin's socket.
    pub insn_sock: PathBuf,
}

/// The longest unix socket path Linux takes is 107 bytes (`sun_path` is 108 with its NUL).
const SOCK_PATH_MAX: usize = 107;

impl VmPaths {
    pub fn new(dir: &Path, name: &str) -> VmPaths {
        let f = |s: &str| dir.join(format!("{name}.{s}"));
        let socks = sock_dir(dir, name);
        let sock = |s: &str| socks.join(format!("{name}.{s}"));
        VmPaths {
            console_sock: sock("console.sock"),
            qmp_sock: sock("qmp.sock"),
            metrics_sock: sock("metrics.sock"),
            transcript: f("console.log"),
            metrics_log: f("metrics.log"),
            stderr: f("qemu.stderr"),
            script: f("qemu.sh"),
            insn_sock: sock("insn.sock"),
        }
    }

    /// Where the sockets are when not in the run directory (see [`sock_dir`]).
    pub fn sock_dir(&self) -> Option<&Path> {
        let d = self.console_sock.parent()?;
        (Some(d) != self.transcript.parent()).then_some(d)
    }
}

/// The run directory, unless a socket path there would be too long for a unix socket (a
/// deep `--out`): then a short directory in the temp dir, named by a hash of the run
/// directory, which the VM removes when it is dropped.
pub fn sock_dir(dir: &Path, name: &str) -> PathBuf {
    let longest = dir.join(format!("{name}.metrics.sock")).as_os_str().len();
    if longest <= SOCK_PATH_MAX {
        return dir.to_path_buf();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    std::env::temp_dir().join(format!("routerlab-sock-{:016x}", h.finish()))
}

/// Malta routes PCI INTx to IRQ 11 for slots 0x12-0x13 and IRQ 10 for 0x14-0x15 (measured
/// from the guest's /proc/interrupts). Consecutive NICs alternate, so the WAN and tunnel NICs
/// of a router never share a line: with a shared line under TCG, forwarding stalled for good
/// after a few hundred packets.
const MALTA_NIC_SLOTS: [u8; 4] = [0x12, 0x14, 0x13, 0x15];

/// The kernel command line: console, exit on panic, quiet, then the extras.
pub fn cmdline(cfg: &VmConfig) -> String {
    let mut words = vec![format!("console={}", cfg.target.console()), "panic=-1".into(), "quiet".into()];
    if cfg.metrics && cfg.target.is_malta() {
        words.push("routerlab.metrics=/dev/ttyS1".into());
    }
    words.extend(cfg.cmdline_extra.iter().cloned());
    words.join(" ")
}

fn push(v: &mut Vec<OsString>, items: &[&str]) {
    v.extend(items.iter().map(OsString::from));
}

/// Arguments for `cfg.target.qemu_binary()`.
pub fn qemu_args(cfg: &VmConfig) -> Vec<OsString> {
    let t = cfg.target;
    let paths = cfg.paths();
    let mut a: Vec<OsString> = Vec::new();
    push(&mut a, &["-M", t.machine()]);
    if let Some(cpu) = cfg.cpu_model {
        push(&mut a, &["-cpu", cpu]);
    }
    push(&mut a, &["-m", &cfg.memory_mib.to_string(), "-nodefaults", "-no-reboot", "-display", "none"]);
    if cfg.cpus > 1 {
        push(&mut a, &["-smp", &cfg.cpus.to_string()]);
    }
    if let Some(n) = cfg.icount_shift {
        push(&mut a, &["-icount", &format!("shift={n},sleep=on")]);
    }
    if t.is_malta() {
        // No VGA BIOS in Debian's QEMU build: malta fails to find vgabios-cirrus.bin without this.
        push(&mut a, &["-vga", "none"]);
    }
    a.push("-kernel".into());
    a.push(cfg.kernel.clone().into_os_string());
    if let Some(initrd) = &cfg.initrd {
        a.push("-initrd".into());
        a.push(initrd.clone().into_os_string());
    }
    push(&mut a, &["-append", &cmdline(cfg)]);
    let sock = |id: &str, p: &Path| format!("socket,id={id},path={},server=on,wait=off", p.display());
    match cfg.console {
        ConsoleMode::Socket => {
            push(&mut a, &["-chardev", &sock("console", &paths.console_sock), "-serial", "chardev:console"]);
            push(&mut a, &["-chardev", &sock("qmp", &paths.qmp_sock), "-mon", "chardev=qmp,mode=control"]);
        }
        ConsoleMode::Stdio => push(&mut a, &["-serial", "mon:stdio"]),
    }
    if cfg.metrics {
        match cfg.console {
            ConsoleMode::Socket => push(&mut a, &["-chardev", &sock("metrics", &paths.metrics_sock)]),
            ConsoleMode::Stdio => push(&mut a, &["-chardev", "null,id=metrics"]),
        }
        if t.is_malta() {
            // The second UART (ttyS1, its own ISA IRQ): on malta every PCI device shares
            // IRQ 10 or 11 on the i8259, and sharing with a busy NIC loses interrupts.
            push(&mut a, &["-serial", "chardev:metrics"]);
        } else {
            // Every PCI device gets an empty romfile: the build ships no option ROMs. A named
            // serial port, not a console: no tty layer, which cost the guest ~20x more
            // instructions per sample (init finds the port by its name).
            push(&mut a, &["-device", "virtio-serial-pci,id=vser0,romfile="]);
            push(&mut a, &["-device", "virtserialport,chardev=metrics,name=routerlab.metrics"]);
        }
    }
    for (i, nic) in cfg.nics.iter().enumerate() {
        let netdev = match &nic.backend {
            NicBackend::User => format!("user,id={}", nic.id),
            NicBackend::Tap { ifname } => format!("tap,id={},ifname={ifname},script=no,downscript=no", nic.id),
        };
        let mut dev = format!("virtio-net-pci,netdev={},romfile=", nic.id);
        if t.is_malta() {
            dev.push_str(&format!(",addr={:#x}", MALTA_NIC_SLOTS[i % MALTA_NIC_SLOTS.len()]));
        }
        if let Some(mac) = &nic.mac {
            dev.push_str(&format!(",mac={mac}"));
        }
        push(&mut a, &["-netdev", &netdev, "-device", &dev]);
    }
    if let InsnSetup::Load { lib, isa } = &cfg.insn {
        // `boot` turns a path QEMU cannot take into InsnSetup::Unavailable first.
        if let Ok(arg) = plugin_arg(lib, &paths.insn_sock, isa) {
            push(&mut a, &["-plugin", &arg]);
        }
    }
    if cfg.paused {
        a.push("-S".into());
    }
    a
}

/// A runnable shell script that reproduces the VM by hand, console on the terminal.
pub fn shell_script(cfg: &VmConfig) -> String {
    let mut interactive = cfg.clone();
    interactive.console = ConsoleMode::Stdio;
    interactive.paused = false;
    let quote = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=,:+@%".contains(&b)) {
            s.into_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let raw: Vec<String> = qemu_args(&interactive).iter().map(|a| quote(a)).collect();
    // One `-flag value` pair per line.
    let mut args: Vec<String> = Vec::new();
    for a in raw {
        match args.last_mut() {
            Some(prev) if prev.starts_with('-') && !prev.contains(' ') && !a.starts_with('-') => {
                prev.push(' ');
                prev.push_str(&a);
            }
            _ => args.push(a),
        }
    }
    let netns = cfg.netns.as_ref().map(|n| format!("ip netns exec {n} ")).unwrap_or_default();
    format!(
        "#!/bin/sh\n# VM {} ({}) as routerlab ran it, with the console on this terminal. Ctrl-A X quits.\nexec {netns}{} \\\n    {}\n",
        cfg.name,
        cfg.target,
        cfg.target.qemu_binary(),
        args.join(" \\\n    ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sockets_of_a_deep_run_dir_move_to_a_short_dir() {
        let short = VmPaths::new(Path::new("/tmp/x"), "router");
        assert_eq!(short.qmp_sock, Path::new("/tmp/x/router.qmp.sock"));
        assert_eq!(short.sock_dir(), None);
        let deep = Path::new("/tmp").join("d".repeat(90));
        let p = VmPaths::new(&deep, "router");
        for s in [&p.console_sock, &p.qmp_sock, &p.metrics_sock, &p.insn_sock] {
            assert!(s.as_os_str().len() <= SOCK_PATH_MAX, "{}", s.display());
        }
        assert!(p.transcript.starts_with(&deep), "only sockets move");
        assert_eq!(p.sock_dir(), p.console_sock.parent());
        assert_eq!(VmPaths::new(&deep, "router").qmp_sock, p.qmp_sock, "the same run dir, the same place");
    }

    use super::*;

    fn cfg(t: Target) -> VmConfig {
        let mut c = VmConfig::new("router", t, "/img/kernel".into(), Some("/img/initrd.gz".into()), "/run/x".into());
        c.nics.push(Nic { id: "mgmt".into(), backend: NicBackend::User, mac: None });
        c.nics.push(Nic {
            id: "wan".into(),
            backend: NicBackend::Tap { ifname: "rl1-wan".into() },
            mac: Some("52:54:00:00:00:01".into()),
        });
        c
    }

    fn s(v: &[OsString]) -> Vec<String> {
        v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    fn after<'a>(a: &'a [String], flag: &str) -> Vec<&'a str> {
        a.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
    }

    #[test]
    fn big_endian_malta_uses_qemu_system_mips() {
        assert_eq!(Target::MipsMalta.qemu_binary(), "qemu-system-mips");
        let a = s(&qemu_args(&cfg(Target::MipsMalta)));
        assert_eq!((after(&a, "-M"), after(&a, "-vga")), (vec!["malta"], vec!["none"]));
    }

    #[test]
    fn malta_has_vga_none_and_ttys0() {
        let a = s(&qemu_args(&cfg(Target::MipselMalta)));
        assert_eq!(after(&a, "-M"), ["malta"]);
        assert_eq!(after(&a, "-vga"), ["none"]);
        assert!(after(&a, "-cpu").is_empty());
        assert_eq!(after(&a, "-append"), ["console=ttyS0 panic=-1 quiet routerlab.metrics=/dev/ttyS1"]);
        assert_eq!(after(&a, "-serial"), ["chardev:console", "chardev:metrics"], "metrics on the second UART");
        let nics: Vec<&str> = after(&a, "-device").into_iter().filter(|d| d.starts_with("virtio-net")).collect();
        assert!(
            nics[0].contains("addr=0x12") && nics[1].contains("addr=0x14"),
            "mgmt and WAN on different IRQ lines: {nics:?}"
        );
        assert!(a.contains(&"-no-reboot".to_string()) && a.contains(&"-S".to_string()));
    }

    #[test]
    fn virt_has_cortex_a53_and_ttyama0() {
        let a = s(&qemu_args(&cfg(Target::Aarch64Virt)));
        assert_eq!(after(&a, "-M"), ["virt"]);
        assert_eq!(after(&a, "-cpu"), ["cortex-a53"]);
        assert!(after(&a, "-vga").is_empty());
        assert!(after(&a, "-append")[0].starts_with("console=ttyAMA0 panic=-1"));
        assert_eq!((after(&a, "-m"), after(&a, "-smp")), (vec!["256"], vec![]), "one vCPU needs no -smp");
        let mut two = cfg(Target::Aarch64Virt);
        (two.memory_mib, two.cpus, two.cpu_model) = (128, 2, Some("cortex-a72"));
        let a = s(&qemu_args(&two));
        assert_eq!((after(&a, "-m"), after(&a, "-smp")), (vec!["128"], vec!["2"]));
        assert_eq!(after(&a, "-cpu"), ["cortex-a72"], "the router's model in place of the target's");
        assert!(after(&a, "-icount").is_empty(), "the host's clock unless asked");
        two.icount_shift = Some(2);
        assert_eq!(after(&s(&qemu_args(&two)), "-icount"), ["shift=2,sleep=on"]);
    }

    #[test]
    fn openwrt_targets_run_on_their_boards_with_the_cpu_their_userland_needs() {
        // The MT7621 feed is built for the 1004Kc (DSP ASE): malta's default 24Kf would SIGILL.
        let a = s(&qemu_args(&cfg(Target::MipselMaltaOpenwrt)));
        assert_eq!(Target::MipselMaltaOpenwrt.qemu_binary(), "qemu-system-mipsel");
        assert_eq!((after(&a, "-M"), after(&a, "-cpu")), (vec!["malta"], vec!["34Kf"]));
        assert!(after(&a, "-append")[0].starts_with("console=ttyS0"));
        let a = s(&qemu_args(&cfg(Target::Aarch64VirtOpenwrt)));
        assert_eq!((after(&a, "-M"), after(&a, "-cpu")), (vec!["virt"], vec!["cortex-a53"]));
        assert!(Target::MipselMaltaOpenwrt.is_openwrt() && !Target::MipselMalta.is_openwrt());
        assert_eq!("aarch64-virt-openwrt".parse::<Target>().unwrap(), Target::Aarch64VirtOpenwrt);
    }

    #[test]
    fn every_pci_device_has_empty_romfile_and_sockets_live_in_the_run_dir() {
        for t in Target::ALL {
            let a = s(&qemu_args(&cfg(t)));
            let devices = after(&a, "-device");
            assert!(devices.iter().filter(|d| d.contains("-pci")).all(|d| d.contains("romfile=")), "{devices:?}");
            assert_eq!(after(&a, "-netdev"), ["user,id=mgmt", "tap,id=wan,ifname=rl1-wan,script=no,downscript=no"]);
            let wan = if t.is_malta() {
                "virtio-net-pci,netdev=wan,romfile=,addr=0x14,mac=52:54:00:00:00:01"
            } else {
                "virtio-net-pci,netdev=wan,romfile=,mac=52:54:00:00:00:01"
            };
            assert!(devices.contains(&wan), "{devices:?}");
            if t.board() == Target::Aarch64Virt {
                assert!(devices.contains(&"virtserialport,chardev=metrics,name=routerlab.metrics"));
            }
            let chardevs = after(&a, "-chardev");
            assert!(chardevs.iter().any(|c| c.contains("path=/run/x/router.console.sock,server=on,wait=off")));
            assert!(chardevs.iter().any(|c| c.contains("path=/run/x/router.qmp.sock")));
            assert_eq!(after(&a, "-mon"), ["chardev=qmp,mode=control"]);
        }
    }

    #[test]
    fn the_insn_plugin_is_loaded_only_when_asked_with_its_socket_in_the_run_dir() {
        let mut c = cfg(Target::Aarch64Virt);
        assert!(after(&s(&qemu_args(&c)), "-plugin").is_empty());
        let isa = crate::vm::GuestIsa { kernel_base: 0xffff_0000_0000_0000, tlb_refill: None };
        c.insn = InsnSetup::Load { lib: "/t/libinsn_count.so".into(), isa };
        assert_eq!(
            after(&s(&qemu_args(&c)), "-plugin"),
            ["/t/libinsn_count.so,sock=/run/x/router.insn.sock,kernel_base=0xffff000000000000"]
        );
    }

    #[test]
    fn script_is_interactive_and_quoted() {
        let mut c = cfg(Target::MipselMalta);
        c.cmdline_extra.push("routerlab.hostname=r1".into());
        let sh = shell_script(&c);
        assert!(sh.starts_with("#!/bin/sh\n"));
        assert!(sh.contains("exec qemu-system-mipsel"));
        assert!(sh.contains("-serial mon:stdio"));
        assert!(
            sh.contains("'console=ttyS0 panic=-1 quiet routerlab.metrics=/dev/ttyS1 routerlab.hostname=r1'"),
            "{sh}"
        );
        assert!(!sh.contains("\\\n    -S"), "the script boots straight away");
    }
}
