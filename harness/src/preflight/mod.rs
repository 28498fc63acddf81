//! Before any VM boots: can the target run this build's binary? Its ELF class, byte order
//! and machine; on MIPS the o32 ABI, the ISA release and ASEs against the target's CPU
//! model, and the float ABI against the image's user space; its program interpreter in the
//! image; every DT_NEEDED in the build or the image; every symbol it imports, defined by
//! a library it would load (`symbols`). A bad build costs milliseconds and
//! says what it is and what the target needs: `haproxy: x86-64 ELF; aarch64-virt runs
//! AArch64`, never the guest shell's `syntax error: unexpected "("` after a boot.
mod error;
mod facts;
mod image;
mod symbols;

pub use error::PreflightError;
pub use facts::{machine_name, BinaryFacts, MipsFlags};
pub use image::ImageView;

use std::collections::BTreeMap;

use goblin::elf::header::{EM_AARCH64, EM_MIPS};

use crate::image::abi::MipsNeeds;
use crate::image::symbols::Library;
use crate::scenario::ProxyKind;
use crate::vm::mips_cpu::lacking;
use crate::vm::Target;

/// What a target's CPU and kernel run: ELF class, byte order, machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    pub class: u8,
    pub little_endian: bool,
    pub machine: u16,
}

impl Wants {
    pub fn of(target: Target) -> Wants {
        match target {
            Target::MipselMalta | Target::MipselMaltaOpenwrt => {
                Wants { class: 32, little_endian: true, machine: EM_MIPS }
            }
            Target::MipsMalta => Wants { class: 32, little_endian: false, machine: EM_MIPS },
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => {
                Wants { class: 64, little_endian: true, machine: EM_AARCH64 }
            }
        }
    }

    /// `AArch64`, `MIPS32 little-endian (o32)`.
    pub fn describe(&self) -> String {
        match self.machine {
            EM_MIPS => format!("MIPS32 {}-endian (o32)", if self.little_endian { "little" } else { "big" }),
            m => machine_name(m, self.class),
        }
    }
}

/// The binary of one build, as staged: where it will run from, its facts, and the
/// library files the build itself carries (by file name).
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The build's name, as its file says.
    pub build: &'a str,
    /// The binary's path inside the build (`usr/sbin/haproxy`).
    pub file: &'a str,
    /// `None`: the file is no ELF.
    pub facts: Option<&'a BinaryFacts>,
    /// The `.so` file names the build brings with it.
    pub own_libs: &'a [String],
    /// The build's own shared libraries as the loader sees them, by file name.
    pub own_symbols: &'a BTreeMap<String, Library>,
    /// The proxy kind it is run as, and whether the scenario terminates TLS at it.
    pub kind: ProxyKind,
    pub terminates_tls: bool,
    /// The scenario passes TLS through the proxy (nginx does it with its stream module).
    pub passes_through: bool,
}

/// Every check, in the order a user would want to hear them: the machine first (nothing
/// else matters if it is wrong), then the CPU, the float ABI, the loader, the libraries,
/// and last whether it can do what the scenario asks (terminate TLS).
pub fn check(c: &Candidate, target: Target, image: Option<&ImageView>) -> Result<(), PreflightError> {
    let (build, file) = (c.build.to_string(), c.file.to_string());
    let Some(f) = c.facts else {
        return Err(PreflightError::NotElf { build, file, target });
    };
    let wants = Wants::of(target);
    if (f.class, f.little_endian, f.machine) != (wants.class, wants.little_endian, wants.machine) || f.n32 {
        return Err(PreflightError::Machine { build, file, is: f.describe(), target, runs: wants.describe() });
    }
    if let (Some(m), Some(cpu)) = (f.mips, target.mips_cpu()) {
        let mut needs = MipsNeeds::default();
        needs.add(&file, m.into());
        if let Some((what, _)) = lacking(&needs, &cpu) {
            return Err(PreflightError::Cpu { build, file, needs: what, target, cpu: cpu.name });
        }
    }
    if let Some(img) = image {
        runs_on(c, f, target, img)?;
    }
    match lacks_tls(c.kind, f) {
        Some(why) if c.terminates_tls => return Err(PreflightError::NoTls { build, file, why }),
        _ => {}
    }
    // nginx keeps its configure arguments; `--with-stream` (or `=dynamic`) is the module.
    if c.kind == ProxyKind::Nginx && c.passes_through && !f.markers.iter().any(|m| m == "--with-stream") {
        return Err(PreflightError::NoStream { build, file });
    }
    Ok(())
}

/// The image checks: float ABI, loader, libraries.
fn runs_on(c: &Candidate, f: &BinaryFacts, target: Target, img: &ImageView) -> Result<(), PreflightError> {
    let (build, file) = (c.build.to_string(), c.file.to_string());
    let float = f.mips.and_then(|m| crate::image::abi::AbiFlags::from(m).float());
    if let (Some("hard"), Some("soft")) = (float, img.float.as_deref()) {
        return Err(PreflightError::Float { build, file, target });
    }
    if let Some(interp) = f.interp.as_ref().filter(|i| !img.has(i)) {
        let (libc, interp, image_libc) = (f.libc(), interp.clone(), img.libc());
        return Err(PreflightError::Loader { build, file, libc, interp, target, image_libc });
    }
    if let Some(lib) = f.needed.iter().find(|lib| !c.own_libs.contains(lib) && !img.finds_library(lib, &f.runpath)) {
        return Err(PreflightError::Library { build, file, lib: lib.clone(), target });
    }
    let libs = img.libraries.as_ref().filter(|_| f.interp.is_some());
    match libs.and_then(|libs| symbols::unresolved(f, img, libs, c.own_symbols)) {
        Some(u) => {
            Err(PreflightError::Symbols { build, file, imports: symbols::shown(&u.missing), why: u.why, target })
        }
        None => Ok(()),
    }
}

/// Why a HAProxy or nginx binary cannot terminate TLS, if it cannot: nginx without
/// `http_ssl_module` (OpenWrt's plain `nginx` package), HAProxy without OpenSSL.
fn lacks_tls(kind: ProxyKind, f: &BinaryFacts) -> Option<String> {
    let has = |m: &str| f.markers.iter().any(|x| x == m);
    match kind {
        ProxyKind::Nginx if !has("--with-http_ssl_module") => Some(
            "nginx built without http_ssl_module (its configure arguments do not name --with-http_ssl_module)".into(),
        ),
        ProxyKind::Haproxy
            if !has("Built with OpenSSL version") && !f.needed.iter().any(|l| l.starts_with("libssl")) =>
        {
            Some("HAProxy built without OpenSSL (no libssl, and no \"Built with OpenSSL version\" in it)".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
