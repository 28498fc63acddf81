use super::*;

/// A minimal little-endian MIPS ELF32 with a PT_INTERP naming `interp` (NUL-padded as MIPS
/// linkers write it), or no program header at all for a static binary.
fn elf(interp: Option<&str>) -> Vec<u8> {
    let mut b = vec![0x7f, b'E', b'L', b'F', 1, 1, 1];
    b.resize(16, 0);
    let phnum = u16::from(interp.is_some());
    for v in [2u16, 8] {
        b.extend(v.to_le_bytes());
    }
    for v in [1u32, 0x400000, if interp.is_some() { 52 } else { 0 }, 0, 0x7000_1007] {
        b.extend(v.to_le_bytes());
    }
    for v in [52u16, 32, phnum, 40, 0, 0] {
        b.extend(v.to_le_bytes());
    }
    if let Some(i) = interp {
        let len = i.len() as u32 + 4;
        for v in [3u32, 84, 0x400054, 0x400054, len, len, 4, 1] {
            b.extend(v.to_le_bytes());
        }
        b.extend(i.as_bytes());
        b.extend([0u8; 4]);
    }
    b
}

#[test]
fn the_interpreter_names_the_c_library() {
    assert_eq!(libc_of(&elf(Some("/lib/ld-musl-mipsel-sf.so.1"))), Some("musl"));
    assert_eq!(libc_of(&elf(Some("/lib/ld.so.1"))), Some("glibc"), "glibc's MIPS loader");
    assert_eq!(libc_of(&elf(Some("/lib/ld-linux-aarch64.so.1"))), Some("glibc"));
    assert_eq!(libc_of(&elf(Some("/lib/ld-uClibc.so.0"))), Some("uClibc"));
    assert_eq!(libc_of(&elf(Some("/opt/odd/loader"))), Some("unknown"));
    assert_eq!(libc_of(&elf(None)), Some("static"));
    assert_eq!(libc_of(b"#!/bin/sh\n"), Some("script"));
    assert_eq!(libc_of(b"plain text"), None);
}

#[test]
fn the_guest_path_finds_each_tool_through_its_links_and_says_whose_it_is() {
    // The OpenWrt userland's unpack root; a file read from under it is OpenWrt's.
    let owrt = tempfile::tempdir().unwrap();
    let nft = owrt.path().join("usr/sbin/nft");
    std::fs::create_dir_all(nft.parent().unwrap()).unwrap();
    std::fs::write(&nft, elf(Some("/lib/ld-musl-mipsel-sf.so.1"))).unwrap();
    let mut t = Tree::default();
    t.host_file("/usr/sbin/nft", nft, 0o755);
    // A carried-in Debian wg (glibc's MIPS loader), and busybox with `ip` an applet link.
    t.bytes("/usr/bin/wg", elf(Some("/lib/ld.so.1")), 0o755);
    t.bytes("/bin/busybox", elf(Some("/lib/ld-musl-mipsel-sf.so.1")), 0o755);
    t.symlink("/sbin/ip", "../bin/busybox");
    t.bytes("/usr/sbin/iptables", b"#!/bin/sh\nexec xtables \"$@\"\n".to_vec(), 0o755);
    let path = default_path();
    let found = find(&t, &path, &["wg", "nft", "tc", "ip", "iptables"], Some(owrt.path()));
    let said: Vec<String> = found.iter().map(Program::describe).collect();
    assert_eq!(
        said,
        [
            "wg: /usr/bin/wg (Debian, glibc)",
            "nft: /usr/sbin/nft (OpenWrt, musl)",
            "ip: /sbin/ip -> /bin/busybox (Debian, musl)",
            "iptables: /usr/sbin/iptables (Debian, script)",
        ],
        "tc is in no PATH directory, so it is left out"
    );
    // A link to nothing is not a program.
    t.symlink("/usr/sbin/tc", "/nowhere/tc");
    assert!(find(&t, &path, &["tc"], None).is_empty());
    // A carried-in tool under its own prefix wins where that prefix leads the PATH, and
    // the userland's file of the same name stays as it was.
    t.bytes("/opt/routerlab/bin/ip", elf(Some("/lib/ld.so.1")), 0o755);
    let carried = [vec!["/opt/routerlab/bin".to_string()], path.clone()].concat();
    assert_eq!(find(&t, &carried, &["ip"], None)[0].describe(), "ip: /opt/routerlab/bin/ip (Debian, glibc)");
    assert_eq!(find(&t, &path, &["ip"], None)[0].file, "/bin/busybox");
}

#[test]
fn paths_normalize_like_the_kernel_resolves_them() {
    assert_eq!(normalize("/usr/sbin/../bin/./x"), "/usr/bin/x");
    assert_eq!(normalize("/../bin//busybox"), "/bin/busybox");
}
