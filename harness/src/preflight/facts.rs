//! What a build's binary is, read from its ELF header on the host: class, byte order,
//! machine, program interpreter, DT_NEEDED and RUNPATH, and on MIPS its ABI flags. Recorded
//! when a build is staged, so a cached build is judged without reading it again.
use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_MIPS, EM_PPC, EM_PPC64, EM_RISCV, EM_X86_64};
use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use crate::image::abi::{abi_flags, AbiFlags};

/// `EF_MIPS_ABI2`: the n32 ABI (o32 is what every routerlab MIPS target runs).
const EF_MIPS_ABI2: u32 = 0x20;

/// A binary's facts. `None` from [`BinaryFacts::read`] means the file is no ELF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryFacts {
    /// 32 or 64.
    pub class: u8,
    pub little_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// MIPS n32 (`EF_MIPS_ABI2`) rather than o32.
    #[serde(default)]
    pub n32: bool,
    /// The program interpreter (`PT_INTERP`); `None` for a static binary.
    pub interp: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH and DT_RPATH directories.
    pub runpath: Vec<String>,
    /// MIPS: ISA level, release, ASE bits, float ABI.
    pub mips: Option<MipsFlags>,
    /// Which of [`MARKERS`] the file holds: what a proxy was built with, as its own
    /// `-vv`/`-V` output would say it.
    #[serde(default)]
    pub markers: Vec<String>,
    /// The undefined, non-weak dynamic symbols it needs its libraries to define
    /// (`clock_gettime`, `strlcpy@GLIBC_2.38`); empty for a static binary.
    #[serde(default)]
    pub imports: Vec<String>,
}

/// Strings a proxy binary holds when it was built with a feature: nginx keeps its
/// configure arguments for `nginx -V`, HAProxy its `-vv` lines.
pub const MARKERS: [&str; 3] = ["--with-http_ssl_module", "Built with OpenSSL version", "--with-stream"];

/// [`AbiFlags`] as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MipsFlags {
    pub isa_level: u8,
    pub isa_rev: u8,
    pub ases: u32,
    pub fp_abi: Option<u8>,
}

impl From<MipsFlags> for AbiFlags {
    fn from(m: MipsFlags) -> AbiFlags {
        AbiFlags { isa_level: m.isa_level, isa_rev: m.isa_rev, ases: m.ases, fp_abi: m.fp_abi }
    }
}

impl BinaryFacts {
    /// The facts of `data`, or `None` if it is no ELF goblin can read.
    pub fn read(data: &[u8]) -> Option<BinaryFacts> {
        let elf = Elf::parse(data).ok()?;
        let mips = abi_flags(data).map(|f| MipsFlags {
            isa_level: f.isa_level,
            isa_rev: f.isa_rev,
            ases: f.ases,
            fp_abi: f.fp_abi,
        });
        let runpath = elf.runpaths.iter().chain(elf.rpaths.iter()).flat_map(|p| p.split(':')).map(String::from);
        Some(BinaryFacts {
            class: if elf.is_64 { 64 } else { 32 },
            little_endian: elf.little_endian,
            machine: elf.header.e_machine,
            n32: elf.header.e_machine == EM_MIPS && elf.header.e_flags & EF_MIPS_ABI2 != 0,
            // MIPS binaries pad PT_INTERP with NULs, which goblin keeps.
            interp: elf.interpreter.map(|i| i.trim_end_matches(['\0', ' ']).to_string()),
            needed: elf.libraries.iter().map(|l| l.to_string()).collect(),
            runpath: runpath.collect(),
            mips,
            markers: MARKERS.iter().filter(|m| holds(data, m.as_bytes())).map(|m| m.to_string()).collect(),
            imports: crate::image::symbols::imports(&elf),
        })
    }

    /// The C library its interpreter names: `musl`, `glibc`, `uClibc`, or `static`.
    pub fn libc(&self) -> &'static str {
        crate::image::programs::libc_named(self.interp.as_deref())
    }

    /// What it is, as people say it: `x86-64 ELF`, `MIPS32 big-endian ELF`,
    /// `MIPS32 little-endian hard-float ELF`.
    pub fn describe(&self) -> String {
        let name = machine_name(self.machine, self.class);
        let order = match (self.machine, self.little_endian) {
            (EM_MIPS | EM_ARM | EM_PPC | EM_PPC64, true) => " little-endian",
            (EM_MIPS | EM_ARM | EM_AARCH64 | EM_PPC | EM_PPC64, false) => " big-endian",
            _ => "",
        };
        let abi = if self.n32 { " n32" } else { "" };
        let float =
            self.mips.and_then(|m| AbiFlags::from(m).float()).map(|f| format!(" {f}-float")).unwrap_or_default();
        format!("{name}{order}{abi}{float} ELF")
    }
}

fn holds(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

/// `e_machine` by name; the class tells MIPS32 from MIPS64.
pub fn machine_name(machine: u16, class: u8) -> String {
    match machine {
        EM_X86_64 => "x86-64".into(),
        EM_386 => "i386".into(),
        EM_AARCH64 => "AArch64".into(),
        EM_ARM => "32-bit ARM".into(),
        EM_MIPS => format!("MIPS{class}"),
        EM_RISCV => format!("RISC-V {class}-bit"),
        EM_PPC => "PowerPC".into(),
        EM_PPC64 => "PowerPC 64".into(),
        m => format!("machine {m}"),
    }
}
