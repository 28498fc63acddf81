//! What a MIPS user space asks of the CPU, read from its ELF files' ABI flags
//! (`PT_MIPS_ABIFLAGS`, or the ELF header's `e_flags` where a file has none), and the CPU
//! models routerlab's malta targets boot. An image whose user space needs an ASE or ISA
//! release its target's CPU lacks is refused before boot, instead of dying with SIGILL in
//! `/init` (OpenWrt's MT7621 feed is built `-march=1004kc`, with the DSP ASE; malta's default
//! 24Kf has none).
use std::collections::BTreeMap;

use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use super::tree::{FileSource, Node, Tree};

/// `PT_MIPS_ABIFLAGS`.
const PT_MIPS_ABIFLAGS: u32 = 0x7000_0003;

/// The ASE bits of `Elf_MIPS_ABIFlags_v0.ases` (binutils' `AFL_ASE_*`), each with its name
/// and whether compiled user code can hold its instructions. MT, VIRT, EVA, MCU and XPA are
/// kernel-mode extensions that `-march` marks without the compiler ever emitting them: the
/// MT7621 feed declares MT (`-march=1004kc`) and runs on QEMU's 24KEc, which lacks it.
pub const ASES: [(u32, &str, bool); 16] = [
    (0x1, "DSP", true),
    (0x2, "DSPr2", true),
    (0x4, "EVA", false),
    (0x8, "MCU", false),
    (0x10, "MDMX", true),
    (0x20, "MIPS-3D", true),
    (0x40, "MT", false),
    (0x80, "SmartMIPS", true),
    (0x100, "VZ", false),
    (0x200, "MSA", true),
    (0x400, "MIPS16", true),
    (0x800, "microMIPS", true),
    (0x1000, "XPA", false),
    (0x2000, "DSPr3", true),
    (0x4000, "MIPS16e2", true),
    (0x8000, "CRC", true),
];

/// One ELF file's claims: ISA level (32, 64) and release, its ASE bits, and its floating
/// point ABI (`Val_GNU_MIPS_ABI_FP_*`: 3 soft, 1/2/5/6/7 hard; `None` without the segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiFlags {
    pub isa_level: u8,
    pub isa_rev: u8,
    pub ases: u32,
    pub fp_abi: Option<u8>,
}

impl AbiFlags {
    /// `soft` or `hard` float, where the file says (FP ABI 0, "any", says neither).
    pub fn float(&self) -> Option<&'static str> {
        match self.fp_abi? {
            3 => Some("soft"),
            0 => None,
            _ => Some("hard"),
        }
    }
}

/// A MIPS ELF's ABI flags, or `None` for anything else (or a file goblin cannot read).
pub fn abi_flags(data: &[u8]) -> Option<AbiFlags> {
    let elf = Elf::parse(data).ok()?;
    if elf.header.e_machine != goblin::elf::header::EM_MIPS {
        return None;
    }
    let seg = elf.program_headers.iter().find(|p| p.p_type == PT_MIPS_ABIFLAGS);
    let bytes = seg.and_then(|p| data.get(p.p_offset as usize..(p.p_offset + 24) as usize));
    if let Some(b) = bytes {
        let word = |o: usize| {
            let w = [b[o], b[o + 1], b[o + 2], b[o + 3]];
            if elf.little_endian {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            }
        };
        return Some(AbiFlags { isa_level: b[2], isa_rev: b[3], ases: word(12), fp_abi: Some(b[7]) });
    }
    Some(from_e_flags(elf.header.e_flags))
}

/// The older encoding: `EF_MIPS_ARCH` and the three ASE bits the header has room for.
fn from_e_flags(f: u32) -> AbiFlags {
    let (isa_level, isa_rev) = match f & 0xf000_0000 {
        0x5000_0000 => (32, 1),
        0x6000_0000 => (64, 1),
        0x7000_0000 => (32, 2),
        0x8000_0000 => (64, 2),
        0x9000_0000 => (32, 6),
        0xa000_0000 => (64, 6),
        // MIPS I and II run on any MIPS32; III, IV and V are 64-bit ISAs.
        0x0000_0000 | 0x1000_0000 => (32, 0),
        _ => (64, 0),
    };
    let ases = [(0x0400_0000, 0x400), (0x0200_0000, 0x800), (0x0800_0000, 0x10)]
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .fold(0, |a, (_, ase)| a | ase);
    AbiFlags { isa_level, isa_rev, ases, fp_abi: None }
}

/// `mips32r2` as people say it: "MIPS32 release 2".
pub fn isa_name(level: u8, rev: u8) -> String {
    match rev {
        0 => format!("a MIPS{level} ISA before release 1"),
        r => format!("MIPS{level} release {r}"),
    }
}

/// What an image's user space needs of a MIPS CPU, with a file that says so for each need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MipsNeeds {
    /// The highest ISA release any user-space ELF declares (`mips32r2` is 32/2), and one
    /// file that declares it.
    pub isa_level: u8,
    pub isa_rev: u8,
    pub isa_by: String,
    /// Each ASE declared (by name, user-mode or not), with the first file that declares it.
    pub ases: BTreeMap<String, String>,
    /// `soft` or `hard`: the float ABI of `/bin/busybox`, the shell that runs the router
    /// (OpenWrt's MIPS userlands are soft-float, Debian's mipsel hard-float).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<String>,
}

impl MipsNeeds {
    /// "MIPS32 release 2 with DSP, MIPS16, MT", for `image build`.
    pub fn summary(&self) -> String {
        let ases: Vec<&str> = self.ases.keys().map(String::as_str).collect();
        match ases.as_slice() {
            [] => isa_name(self.isa_level, self.isa_rev),
            a => format!("{} with {}", isa_name(self.isa_level, self.isa_rev), a.join(", ")),
        }
    }

    /// Fold one file's flags in.
    pub fn add(&mut self, path: &str, f: AbiFlags) {
        if (f.isa_level, f.isa_rev) > (self.isa_level, self.isa_rev) || self.isa_by.is_empty() {
            (self.isa_level, self.isa_rev, self.isa_by) = (f.isa_level, f.isa_rev, path.to_string());
        }
        for (bit, name, _) in ASES {
            if f.ases & bit != 0 {
                self.ases.entry(name.to_string()).or_insert_with(|| path.to_string());
            }
        }
    }
}

/// The needs of every user-space ELF in the tree (kernel modules are the kernel's), or
/// `None` if the tree holds no MIPS ELF.
pub(crate) fn userland_needs(tree: &Tree) -> Option<MipsNeeds> {
    let mut needs: Option<MipsNeeds> = None;
    for (path, node) in &tree.nodes {
        let Node::File { source, .. } = node else { continue };
        if path.starts_with("/lib/modules/") {
            continue;
        }
        let data = match source {
            FileSource::Bytes(b) => std::borrow::Cow::Borrowed(b.as_slice()),
            FileSource::Host(p) => match elf_bytes(p) {
                Some(d) => std::borrow::Cow::Owned(d),
                None => continue,
            },
        };
        if let Some(f) = abi_flags(&data) {
            let n = needs.get_or_insert_with(MipsNeeds::default);
            n.add(path, f);
            if path == "/bin/busybox" {
                n.float = f.float().map(String::from);
            }
        }
    }
    needs
}

/// The file's bytes if it starts like an ELF; the rest are skipped after four bytes.
fn elf_bytes(p: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).ok()?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).ok()?;
    if &magic != b"\x7fELF" {
        return None;
    }
    let mut data = magic.to_vec();
    f.read_to_end(&mut data).ok()?;
    Some(data)
}

#[cfg(test)]
#[path = "abi_tests.rs"]
mod tests;
