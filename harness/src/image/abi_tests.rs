use super::*;

/// A minimal MIPS ELF32: header, one program header, and (if `abiflags`) the 24-byte
/// `Elf_MIPS_ABIFlags_v0` it points at; `e_flags` as given.
fn elf(big_endian: bool, machine: u16, e_flags: u32, abiflags: Option<(u8, u8, u32)>) -> Vec<u8> {
    let (h, w) = if big_endian {
        (u16::to_be_bytes as fn(u16) -> [u8; 2], u32::to_be_bytes as fn(u32) -> [u8; 4])
    } else {
        (u16::to_le_bytes as fn(u16) -> [u8; 2], u32::to_le_bytes as fn(u32) -> [u8; 4])
    };
    let mut b = vec![0x7f, b'E', b'L', b'F', 1, if big_endian { 2 } else { 1 }, 1];
    b.resize(16, 0);
    b.extend(h(2));
    b.extend(h(machine));
    b.extend(w(1));
    b.extend(w(0x400000));
    b.extend(w(52));
    b.extend(w(0));
    b.extend(w(e_flags));
    for v in [52, 32, u16::from(abiflags.is_some()), 40, 0, 0] {
        b.extend(h(v));
    }
    if let Some((level, rev, ases)) = abiflags {
        for v in [PT_MIPS_ABIFLAGS, 84, 0x400054, 0x400054, 24, 24, 4, 8] {
            b.extend(w(v));
        }
        b.extend(h(0));
        b.extend([level, rev, 1, 0, 0, 3]);
        for v in [0, ases, 1, 0] {
            b.extend(w(v));
        }
    }
    b
}

#[test]
fn abi_flags_come_from_the_segment_in_either_byte_order() {
    // OpenWrt's MT7621 busybox: mips32r2, DSP + MT + MIPS16 (ases 0x441).
    for be in [false, true] {
        let f = abi_flags(&elf(be, 8, 0x7400_1005, Some((32, 2, 0x441)))).unwrap();
        assert_eq!(f, AbiFlags { isa_level: 32, isa_rev: 2, ases: 0x441, fp_abi: Some(3) }, "big-endian {be}");
        assert_eq!(f.float(), Some("soft"));
    }
}

#[test]
fn without_the_segment_the_header_flags_say_the_isa_and_mips16() {
    let f = abi_flags(&elf(false, 8, 0x7400_1005, None)).unwrap();
    assert_eq!(f, AbiFlags { isa_level: 32, isa_rev: 2, ases: 0x400, fp_abi: None });
    assert_eq!(f.float(), None, "e_flags say nothing of floats");
    let r6 = abi_flags(&elf(false, 8, 0x9000_1000, None)).unwrap();
    assert_eq!((r6.isa_level, r6.isa_rev, r6.ases), (32, 6, 0));
    let mips3 = abi_flags(&elf(false, 8, 0x2000_0000, None)).unwrap();
    assert_eq!(mips3.isa_level, 64);
}

#[test]
fn other_machines_and_non_elf_files_say_nothing() {
    assert_eq!(abi_flags(&elf(false, 183, 0, None)), None, "AArch64");
    assert_eq!(abi_flags(b"#!/bin/sh\necho hi\n"), None);
    assert_eq!(abi_flags(&elf(false, 8, 0, Some((32, 2, 1)))[..60]), None, "cut short");
}

#[test]
fn a_trees_needs_name_the_first_file_of_each_ase_and_skip_kernel_modules() {
    let mut t = Tree::default();
    t.bytes("/lib/libc.so", elf(false, 8, 0x7000_1007, Some((32, 2, 0x41))), 0o755);
    t.bytes("/bin/busybox", elf(false, 8, 0x7400_1005, Some((32, 2, 0x441))), 0o755);
    t.bytes("/lib/modules/6.1/x.ko", elf(false, 8, 0x9000_0000, Some((32, 6, 0x200))), 0o644);
    t.bytes("/etc/banner", b"OpenWrt".to_vec(), 0o644);
    let n = userland_needs(&t).unwrap();
    assert_eq!((n.isa_level, n.isa_rev), (32, 2));
    let ases: Vec<(&str, &str)> = n.ases.iter().map(|(a, f)| (a.as_str(), f.as_str())).collect();
    // The tree is sorted: /bin/busybox comes before /lib/libc.so.
    assert_eq!(ases, [("DSP", "/bin/busybox"), ("MIPS16", "/bin/busybox"), ("MT", "/bin/busybox")]);
    assert_eq!(n.float.as_deref(), Some("soft"), "busybox's float ABI is the user space's");
    let mut arm = Tree::default();
    arm.bytes("/bin/busybox", elf(false, 183, 0, None), 0o755);
    assert_eq!(userland_needs(&arm), None);
}

#[test]
fn isa_names_read_as_people_say_them() {
    assert_eq!(isa_name(32, 2), "MIPS32 release 2");
    assert_eq!(isa_name(64, 0), "a MIPS64 ISA before release 1");
}
