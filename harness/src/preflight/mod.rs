//! Before any VM boots: can the target run this build's binary? Its ELF class, byte order
//! and machine; on MIPS the o32 ABI, the ISA release and ASEs against the target's CPU
//! model, and the float ABI against the image's user space; its program interpreter in the
//! image; every DT_NEEDED in the build or the image. A bad build costs milliseconds and
//! says what it is and what the target needs: `haproxy: x86-64 ELF; aarch64-virt runs
//! AArch64`, never the guest shell's `syntax error: unexpected "("` after a boot.
mod error;
mod facts;
mod image;

pub use error::PreflightError;
pub use facts::{machine_name, BinaryFacts, MipsFlags};
pub use image::ImageView;

use goblin::elf::header::{EM_AARCH64, EM_MIPS};

use crate::image::abi::MipsNeeds;
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
}

/// Every check, in the order a user would want to hear them: the machine first (nothing
/// else matters if it is wrong), then the CPU, the float ABI, the loader and the libraries.
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
    let Some(img) = image else { return Ok(()) };
    let float = f.mips.and_then(|m| crate::image::abi::AbiFlags::from(m).float());
    if let (Some("hard"), Some("soft")) = (float, img.float.as_deref()) {
        return Err(PreflightError::Float { build, file, target });
    }
    if let Some(interp) = &f.interp {
        if !img.has(interp) {
            let libc = f.libc();
            return Err(PreflightError::Loader {
                build,
                file,
                libc,
                interp: interp.clone(),
                target,
                image_libc: img.libc(),
            });
        }
    }
    for lib in &f.needed {
        if !c.own_libs.contains(lib) && !img.finds_library(lib, &f.runpath) {
            return Err(PreflightError::Library { build, file, lib: lib.clone(), target });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
