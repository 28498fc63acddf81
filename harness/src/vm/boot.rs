//! Boot a target in one call: find or build its image, give it a management link, start it,
//! and wait until it is ready.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::{Nic, NicBackend, Readiness, VmConfig};
use super::insns::{plugin_arg, GuestIsa, InsnSetup};
use super::mips_cpu::lacking;
use crate::image::abi::MipsNeeds;

/// The management address on eth0 for QEMU user networking (host = 10.0.2.2).
pub const MGMT_CMDLINE: &str = "routerlab.mgmt=10.0.2.15/24,10.0.2.2";
use super::{Target, Vm, VmError};
use crate::image::{build, BuildOptions};

/// Where the kernel (and initramfs) come from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// Build or take from the cache the recipe named like the target.
    Recipe { images_dir: PathBuf, cache: PathBuf },
    /// `--image PATH`: a directory with `kernel` (+ `initrd.gz`), `KERNEL,INITRD`, or one
    /// kernel file with a built-in initramfs (OpenWrt `*-initramfs-kernel`).
    Path(PathBuf),
}

/// What runs on the console, which decides readiness and provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// routerlab's init: readiness marker, management address from the kernel command line.
    #[default]
    Routerlab,
    /// The same image behaving like OpenWrt on the console (banner, prompt, /etc/openwrt_release).
    OpenWrtCompat,
    /// A real OpenWrt image: activate the console, configure the management link with `ip`.
    OpenWrt,
}

#[derive(Debug, Clone)]
pub struct BootOptions {
    pub name: String,
    pub run_dir: PathBuf,
    pub resources: super::Resources,
    pub cmdline_extra: Vec<String>,
    /// A user-mode NIC as eth0 with 10.0.2.15/24, for uploads and nothing else.
    pub mgmt: bool,
    pub extra_nics: Vec<Nic>,
    pub flavour: Flavour,
    /// Run QEMU in this network namespace.
    pub netns: Option<String>,
    /// The insn-count plugin to load (see [`super::find_plugin`]), or why there is none.
    pub insn_plugin: Result<PathBuf, String>,
}

impl BootOptions {
    pub fn new(name: &str, run_dir: PathBuf) -> Self {
        BootOptions {
            name: name.into(),
            run_dir,
            resources: super::Resources::default(),
            cmdline_extra: Vec::new(),
            mgmt: true,
            extra_nics: Vec::new(),
            flavour: Flavour::Routerlab,
            netns: None,
            insn_plugin: Err("not requested".into()),
        }
    }
}

/// A kernel, its initramfs, and what the instruction plugin needs to know of the guest
/// (if the image says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub isa: Option<GuestIsa>,
    /// The user space's size unpacked, where a routerlab-built image's manifest says.
    pub unpacked_bytes: Option<u64>,
}

/// Kernel and optional initramfs for `target`, with its own CPU model.
pub fn resolve_image(target: Target, src: &ImageSource) -> Result<ResolvedImage, VmError> {
    resolve_image_for(target, target.cpu(), src)
}

/// Kernel and optional initramfs for `target` running `cpu` (QEMU's `-cpu`; `None` is the
/// board's default), refused if its user space needs what that CPU lacks.
pub fn resolve_image_for(target: Target, cpu: Option<&str>, src: &ImageSource) -> Result<ResolvedImage, VmError> {
    let missing = |p: &Path, what: &str| VmError::Io {
        vm: target.to_string(),
        path: p.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("{what} not found")),
    };
    match src {
        ImageSource::Recipe { images_dir, cache } => {
            let opts = BuildOptions { images_dir: images_dir.clone(), cache: cache.clone(), force: false };
            let img =
                build(target.name(), &opts).map_err(|source| VmError::Image { vm: target.to_string(), source })?;
            let m = &img.manifest;
            refuse_a_cpu_it_lacks(target, cpu, &m.name, m.mips.as_ref())?;
            let isa = m.kernel_base.map(|kernel_base| GuestIsa { kernel_base, tlb_refill: m.tlb_refill_insn.clone() });
            let unpacked_bytes = Some(m.initrd_unpacked_bytes);
            Ok(ResolvedImage { kernel: img.kernel, initrd: Some(img.initrd), isa, unpacked_bytes })
        }
        ImageSource::Path(p) => {
            let s = p.to_string_lossy();
            if let Some((k, i)) = s.split_once(',') {
                let (k, i) = (PathBuf::from(k), PathBuf::from(i));
                for (f, what) in [(&k, "kernel"), (&i, "initramfs")] {
                    if !f.is_file() {
                        return Err(missing(f, what));
                    }
                }
                return Ok(ResolvedImage { kernel: k, initrd: Some(i), isa: None, unpacked_bytes: None });
            }
            if p.is_dir() {
                // A built image directory says what its user space needs of the CPU.
                let built = crate::image::BuiltImage::open(p);
                if let Some(b) = &built {
                    refuse_a_cpu_it_lacks(target, cpu, &p.display().to_string(), b.manifest.mips.as_ref())?;
                }
                let unpacked_bytes = built.map(|b| b.manifest.initrd_unpacked_bytes);
                let k = p.join("kernel");
                if !k.is_file() {
                    return Err(missing(&k, "kernel"));
                }
                let i = p.join("initrd.gz");
                return Ok(ResolvedImage { kernel: k, initrd: i.is_file().then_some(i), isa: None, unpacked_bytes });
            }
            if p.is_file() {
                return Ok(ResolvedImage { kernel: p.clone(), initrd: None, isa: None, unpacked_bytes: None });
            }
            Err(missing(p, "image"))
        }
    }
}

/// Refuse, before boot, an image whose MIPS user space needs what `target`'s CPU lacks,
/// naming the targets whose CPU has it.
fn refuse_a_cpu_it_lacks(
    target: Target,
    cpu: Option<&str>,
    image: &str,
    needs: Option<&MipsNeeds>,
) -> Result<(), VmError> {
    let (Some(needs), Some(cpu)) = (needs, target.mips_cpu_as(cpu)) else { return Ok(()) };
    let Some((what, file)) = lacking(needs, &cpu) else { return Ok(()) };
    let fits: Vec<String> = Target::ALL
        .iter()
        .filter_map(|t| t.mips_cpu().filter(|c| lacking(needs, c).is_none()).map(|c| format!("{t} ({})", c.name)))
        .collect();
    let models: Vec<&str> = super::CpuModel::ALL
        .iter()
        .filter_map(|m| super::mips_cpu::mips_cpu(m.name()).filter(|c| lacking(needs, c).is_none()).map(|c| c.name))
        .collect();
    let fix = match (fits.as_slice(), models.as_slice()) {
        ([], []) => "No routerlab target's CPU has it.".to_string(),
        (f, m) => format!(
            "Boot it on a target whose CPU has it: {}; or give the router a CPU model that has it ([router] cpu or --cpu-model: {}).",
            f.join(", "),
            m.join(", ")
        ),
    };
    let lack = Box::new(super::error::CpuLack { image: image.into(), what, file, cpu: cpu.name, fix });
    Err(VmError::CpuLacks { vm: target.to_string(), lack })
}

/// Start `target` and wait for it to be ready. Returns the VM and its boot time.
pub async fn boot(target: Target, src: &ImageSource, opts: &BootOptions) -> Result<(Vm, Duration), VmError> {
    opts.resources.fits(target).map_err(|reason| VmError::Resources { vm: opts.name.clone(), reason })?;
    let cpu = opts.resources.cpu_model(target);
    let img = resolve_image_for(target, cpu, src)?;
    refuse_a_router_too_small(target, opts, &img)?;
    // An OpenWrt target's console is procd's, whoever asked.
    let flavour = match opts.flavour {
        Flavour::Routerlab if target.is_openwrt() => Flavour::OpenWrt,
        f => f,
    };
    let mut cfg = VmConfig::new(&opts.name, target, img.kernel, img.initrd, opts.run_dir.clone());
    cfg.insn = insn_setup(&opts.insn_plugin, img.isa, &cfg);
    cfg.memory_mib = opts.resources.memory_mib;
    cfg.cpus = opts.resources.cpus;
    cfg.cpu_model = cpu;
    cfg.icount_shift = opts.resources.icount_shift;
    cfg.cmdline_extra = opts.cmdline_extra.clone();
    if opts.mgmt {
        cfg.nics.push(Nic { id: "mgmt".into(), backend: NicBackend::User, mac: None });
        if flavour == Flavour::Routerlab {
            cfg.cmdline_extra.push(MGMT_CMDLINE.into());
        }
    }
    match flavour {
        Flavour::Routerlab => {}
        Flavour::OpenWrtCompat => {
            cfg.cmdline_extra.push("routerlab.flavour=openwrt-compat".into());
            cfg.ready = Readiness::OpenWrtConsole;
        }
        Flavour::OpenWrt => cfg.ready = Readiness::OpenWrtConsole,
    }
    // Someone else's image on a routerlab target may be OpenWrt's: take whichever console
    // it shows, rather than wait for a marker only routerlab's /init prints.
    if matches!(src, ImageSource::Path(_)) && flavour == Flavour::Routerlab {
        cfg.ready = Readiness::Either(super::READY_MARKER.into());
    }
    cfg.nics.extend(opts.extra_nics.iter().cloned());
    cfg.netns = opts.netns.clone();
    let mut vm = match Vm::start(cfg.clone()).await {
        // A QEMU without plugin support, or a plugin it refuses: boot without counting.
        Err(VmError::QemuExited { stderr, .. }) if matches!(cfg.insn, InsnSetup::Load { .. }) => {
            let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
            cfg.insn = InsnSetup::Unavailable(format!("QEMU did not load the insn-count plugin: {why}"));
            Vm::start(cfg).await?
        }
        r => r?,
    };
    let mut t = vm.wait_ready().await?;
    // `openwrt_console`: procd's prompt was activated (an OpenWrt image, or the compat flavour).
    if vm.openwrt_console && flavour != Flavour::OpenWrtCompat {
        let budget = target.boot_timeout().mul_f64(super::timeout_mult());
        super::openwrt::wait_netifd(&mut vm, budget).await?;
        t = vm.started_elapsed();
    }
    refuse_a_partial_root(&mut vm, opts.resources.memory_mib, img.unpacked_bytes).await?;
    if opts.mgmt && vm.openwrt_console {
        super::openwrt::configure_mgmt(&mut vm).await?;
    }
    Ok((vm, t))
}

/// An image whose user space the router's RAM clearly cannot hold (`rootfs::foresee`) is
/// refused before QEMU starts: an OpenWrt image cut short dies in preinit, before any probe.
fn refuse_a_router_too_small(target: Target, opts: &BootOptions, img: &ResolvedImage) -> Result<(), VmError> {
    let (Some(unpacked), Some(initrd)) = (img.unpacked_bytes, &img.initrd) else { return Ok(()) };
    let Ok(meta) = std::fs::metadata(initrd) else { return Ok(()) };
    super::rootfs::foresee(target, opts.resources.memory_mib, meta.len(), unpacked)
        .map_err(|reason| VmError::Resources { vm: opts.name.clone(), reason })
}

/// A root tmpfs the initramfs filled means files were left out (`rootfs.rs`): refuse it
/// with the RAM that holds the image, before anything fails for want of them.
async fn refuse_a_partial_root(vm: &mut Vm, memory_mib: u32, unpacked: Option<u64>) -> Result<(), VmError> {
    let out = vm.exec(super::rootfs::PROBE).await?;
    let Some(fs) = super::rootfs::parse(&out.stdout) else { return Ok(()) };
    super::rootfs::judge(fs, memory_mib, unpacked).map_err(|reason| VmError::Resources { vm: vm.name().into(), reason })
}

/// What the VM's instruction counting will be: the plugin, or the reason there is none.
fn insn_setup(plugin: &Result<PathBuf, String>, isa: Option<GuestIsa>, cfg: &VmConfig) -> InsnSetup {
    let lib = match plugin {
        Ok(lib) => lib,
        Err(why) => return InsnSetup::Unavailable(why.clone()),
    };
    let Some(isa) = isa else {
        return InsnSetup::Unavailable("the image names no kernel base (kernel-base in its recipe)".into());
    };
    match plugin_arg(lib, &cfg.paths().insn_sock, &isa) {
        Ok(_) => InsnSetup::Load { lib: lib.clone(), isa },
        Err(why) => InsnSetup::Unavailable(why),
    }
}
