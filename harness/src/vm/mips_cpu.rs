//! QEMU's MIPS32 CPU models that malta targets boot, with the ISA release and ASEs each
//! implements (QEMU's `target/mips/cpu-defs.c.inc`, `insn_flags`), and the check that an
//! image's user space asks for nothing its target's CPU lacks.
use crate::image::abi::{isa_name, MipsNeeds, ASES};

/// A QEMU MIPS CPU model: its `-cpu` name, ISA release and ASE bits (`AFL_ASE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MipsCpu {
    pub name: &'static str,
    pub isa_rev: u8,
    pub ases: u32,
}

const MIPS16: u32 = 0x400;
const DSP: u32 = 0x1;
const DSPR2: u32 = 0x2;
const MT: u32 = 0x40;

/// The models routerlab knows: malta's default 24Kf, and the DSP-capable ones that boot
/// OpenWrt's MT7621 feed (24KEc, 34Kf, 74Kf).
pub const MIPS_CPUS: [MipsCpu; 5] = [
    MipsCpu { name: "24Kc", isa_rev: 2, ases: MIPS16 },
    MipsCpu { name: "24Kf", isa_rev: 2, ases: MIPS16 },
    MipsCpu { name: "24KEc", isa_rev: 2, ases: MIPS16 | DSP | DSPR2 },
    MipsCpu { name: "34Kf", isa_rev: 2, ases: MIPS16 | DSP | DSPR2 | MT },
    MipsCpu { name: "74Kf", isa_rev: 2, ases: MIPS16 | DSP | DSPR2 },
];

pub fn mips_cpu(name: &str) -> Option<MipsCpu> {
    MIPS_CPUS.into_iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// What the CPU lacks of `needs`, and a file that needs it: an ISA release above the CPU's,
/// or a user-mode ASE it does not implement. Kernel-mode ASEs (MT and the like, which
/// `-march` marks but compiled code never uses) are not held against it.
pub fn lacking(needs: &MipsNeeds, cpu: &MipsCpu) -> Option<(String, String)> {
    if needs.isa_level > 32 || needs.isa_rev > cpu.isa_rev {
        return Some((isa_name(needs.isa_level, needs.isa_rev), needs.isa_by.clone()));
    }
    ASES.iter()
        .filter(|(bit, _, user)| *user && cpu.ases & bit == 0)
        .find_map(|(_, name, _)| needs.ases.get(*name).map(|f| (format!("the {name} ASE"), f.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenWrt's MT7621 feed, as its libc.so's ABI flags read: mips32r2 with DSP and MT.
    fn mt7621_feed() -> MipsNeeds {
        let mut n = MipsNeeds::default();
        let f = crate::image::abi::AbiFlags { isa_level: 32, isa_rev: 2, ases: DSP | MT, fp_abi: None };
        n.add("/lib/libc.so", f);
        n.add("/bin/busybox", crate::image::abi::AbiFlags { ases: DSP | MT | MIPS16, ..f });
        n
    }

    #[test]
    fn the_mt7621_feed_is_refused_on_24kf_for_dsp_and_taken_by_the_dsp_cpus() {
        let feed = mt7621_feed();
        assert_eq!(
            lacking(&feed, &mips_cpu("24Kf").unwrap()),
            Some(("the DSP ASE".to_string(), "/lib/libc.so".to_string()))
        );
        assert!(lacking(&feed, &mips_cpu("24kc").unwrap()).is_some());
        // 24KEc has no MT and boots the feed (field notes): MT is not held against it.
        for ok in ["24KEc", "34Kf", "74Kf"] {
            assert_eq!(lacking(&feed, &mips_cpu(ok).unwrap()), None, "{ok}");
        }
    }

    #[test]
    fn a_newer_isa_release_or_a_64_bit_userland_is_refused_with_its_file() {
        let mut n = MipsNeeds::default();
        n.add("/bin/old", crate::image::abi::AbiFlags { isa_level: 32, isa_rev: 2, ases: 0, fp_abi: None });
        n.add("/bin/r6", crate::image::abi::AbiFlags { isa_level: 32, isa_rev: 6, ases: 0, fp_abi: None });
        let got = lacking(&n, &mips_cpu("34Kf").unwrap());
        assert_eq!(got, Some(("MIPS32 release 6".to_string(), "/bin/r6".to_string())));
        let mut n64 = MipsNeeds::default();
        n64.add("/bin/sh", crate::image::abi::AbiFlags { isa_level: 64, isa_rev: 2, ases: 0, fp_abi: None });
        assert!(lacking(&n64, &mips_cpu("74Kf").unwrap()).is_some());
    }

    #[test]
    fn debians_mipsel_userland_runs_on_the_default_cpu() {
        let mut n = MipsNeeds::default();
        n.add("/bin/busybox", crate::image::abi::AbiFlags { isa_level: 32, isa_rev: 2, ases: 0, fp_abi: None });
        assert_eq!(lacking(&n, &mips_cpu("24Kf").unwrap()), None);
    }
}
