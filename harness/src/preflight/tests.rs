use std::collections::BTreeMap;

use goblin::elf::header::{EM_AARCH64, EM_MIPS, EM_X86_64};

use super::*;

fn facts(class: u8, little_endian: bool, machine: u16, interp: Option<&str>) -> BinaryFacts {
    BinaryFacts {
        class,
        little_endian,
        machine,
        n32: false,
        interp: interp.map(String::from),
        needed: Vec::new(),
        runpath: Vec::new(),
        mips: None,
        markers: Vec::new(),
        imports: Vec::new(),
    }
}

/// A mips32r2 o32 binary with the given ASE bits and float ABI (3 soft, 1 hard).
fn mips(ases: u32, fp_abi: u8, interp: Option<&str>) -> BinaryFacts {
    let mips = Some(MipsFlags { isa_level: 32, isa_rev: 2, ases, fp_abi: Some(fp_abi) });
    BinaryFacts { mips, ..facts(32, true, EM_MIPS, interp) }
}

fn image(paths: &[&str], float: Option<&str>) -> ImageView {
    let paths = paths.iter().map(|p| p.to_string()).collect();
    ImageView { paths, float: float.map(String::from), libraries: None }
}

fn run(f: Option<&BinaryFacts>, own_libs: &[String], target: Target, img: Option<&ImageView>) -> Result<(), String> {
    let c = Candidate {
        build: "b",
        file: "usr/sbin/haproxy",
        facts: f,
        own_libs,
        own_symbols: &BTreeMap::new(),
        kind: ProxyKind::Custom,
        terminates_tls: true,
        passes_through: false,
    };
    check(&c, target, img).map_err(|e| e.to_string())
}

const DEBIAN_ARM: [&str; 3] =
    ["/lib/ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libssl.so.3"];

#[test]
fn the_wrong_machine_is_named_with_what_the_target_runs() {
    let x86 = facts(64, true, EM_X86_64, Some("/lib64/ld-linux-x86-64.so.2"));
    assert_eq!(
        run(Some(&x86), &[], Target::Aarch64Virt, None).unwrap_err(),
        "build b: usr/sbin/haproxy: x86-64 ELF; aarch64-virt runs AArch64"
    );
    let be = facts(32, false, EM_MIPS, None);
    assert_eq!(
        run(Some(&be), &[], Target::MipselMalta, None).unwrap_err(),
        "build b: usr/sbin/haproxy: MIPS32 big-endian ELF; mipsel-malta runs MIPS32 little-endian (o32)"
    );
    let arm = facts(64, true, EM_AARCH64, None);
    assert!(run(Some(&arm), &[], Target::MipselMaltaOpenwrt, None)
        .unwrap_err()
        .contains("AArch64 ELF; mipsel-malta-openwrt runs MIPS32"));
    let n32 = BinaryFacts { n32: true, ..facts(32, true, EM_MIPS, None) };
    assert!(run(Some(&n32), &[], Target::MipselMalta, None).unwrap_err().contains("MIPS32 little-endian n32 ELF"));
    assert!(run(Some(&arm), &[], Target::Aarch64Virt, None).is_ok(), "a static AArch64 binary runs");
    assert!(run(None, &[], Target::Aarch64Virt, None)
        .unwrap_err()
        .contains("neither an ELF executable nor a #! script"));
}

#[test]
fn a_mips_binary_must_fit_the_cpu_and_the_user_spaces_float_abi() {
    // The MT7621 feed's -march=1004kc code (DSP, MIPS16, MT) on malta's 24Kf and on the 34Kf.
    let dsp = mips(0x441, 3, None);
    let e = run(Some(&dsp), &[], Target::MipselMalta, None).unwrap_err();
    assert!(e.contains("needs the DSP ASE") && e.contains("QEMU's 24Kf") && e.contains("SIGILL"), "{e}");
    assert!(run(Some(&dsp), &[], Target::MipselMaltaOpenwrt, Some(&image(&[], Some("soft")))).is_ok());
    // Hard-float on OpenWrt's soft-float user space; on Debian's hard-float one it is fine.
    let hard = mips(0, 1, None);
    let e = run(Some(&hard), &[], Target::MipselMaltaOpenwrt, Some(&image(&[], Some("soft")))).unwrap_err();
    assert!(
        e.contains("hard-float ELF; mipsel-malta-openwrt's user space is soft-float") && e.contains("-msoft-float"),
        "{e}"
    );
    assert!(run(Some(&hard), &[], Target::MipselMalta, Some(&image(&[], Some("hard")))).is_ok());
    assert!(
        run(Some(&mips(0, 3, None)), &[], Target::MipselMalta, Some(&image(&[], Some("hard")))).is_ok(),
        "static soft-float runs anywhere"
    );
}

#[test]
fn the_loader_must_be_in_the_image() {
    let musl = facts(64, true, EM_AARCH64, Some("/lib/ld-musl-aarch64.so.1"));
    let e = run(Some(&musl), &[], Target::Aarch64Virt, Some(&image(&DEBIAN_ARM, None))).unwrap_err();
    assert_eq!(
        e,
        "build b: usr/sbin/haproxy: dynamic musl ELF; its loader /lib/ld-musl-aarch64.so.1 is not in aarch64-virt's image (glibc): link it statically, or run it on a target whose user space is musl"
    );
    let both = image(&["/lib/ld-musl-aarch64.so.1", DEBIAN_ARM[0]], None);
    assert!(run(Some(&musl), &[], Target::Aarch64Virt, Some(&both)).is_ok());
    assert_eq!(both.libc(), "musl and glibc");
    // Without an image view (one routerlab did not build), the loader is not judged.
    assert!(run(Some(&musl), &[], Target::Aarch64Virt, None).is_ok());
}

#[test]
fn each_needed_library_is_in_the_build_the_image_or_a_runpath() {
    let mut f = facts(64, true, EM_AARCH64, Some(DEBIAN_ARM[0]));
    f.needed = vec!["libc.so.6".into(), "libssl.so.3".into(), "liblua5.4.so.0".into()];
    let img = image(&DEBIAN_ARM, None);
    let e = run(Some(&f), &[], Target::Aarch64Virt, Some(&img)).unwrap_err();
    assert_eq!(
        e,
        "build b: usr/sbin/haproxy needs liblua5.4.so.0, which is in neither the build nor aarch64-virt's image"
    );
    assert!(run(Some(&f), &["liblua5.4.so.0".into()], Target::Aarch64Virt, Some(&img)).is_ok(), "the build brings it");
    // In a RUNPATH directory of the image; a file of that name elsewhere does not count.
    let img = image(&[DEBIAN_ARM[0], DEBIAN_ARM[1], DEBIAN_ARM[2], "/opt/lua/liblua5.4.so.0"], None);
    assert!(run(Some(&f), &[], Target::Aarch64Virt, Some(&img)).is_err());
    f.runpath = vec!["/opt/lua".into()];
    assert!(run(Some(&f), &[], Target::Aarch64Virt, Some(&img)).is_ok());
    let deep = image(&["/usr/lib/aarch64-linux-gnu/engines-3/libssl.so.3"], None);
    assert!(!deep.finds_library("libssl.so.3", &[]), "not a directory the loader searches");
}

#[test]
fn a_terminating_scenario_needs_a_build_with_tls() {
    let arm = facts(64, true, EM_AARCH64, None);
    let run_as = |kind, f: &BinaryFacts, terminates_tls: bool| {
        let passes_through = !terminates_tls;
        let c = Candidate {
            build: "b",
            file: "usr/sbin/x",
            facts: Some(f),
            own_libs: &[],
            own_symbols: &BTreeMap::new(),
            kind,
            terminates_tls,
            passes_through,
        };
        check(&c, Target::Aarch64Virt, None).map_err(|e| e.to_string())
    };
    let e = run_as(ProxyKind::Nginx, &arm, true).unwrap_err();
    assert!(e.contains("nginx built without http_ssl_module") && e.contains("terminates TLS at the proxy"), "{e}");
    // Passthrough needs no TLS in the proxy, but nginx needs its stream module for it.
    let e = run_as(ProxyKind::Nginx, &arm, false).unwrap_err();
    assert!(e.contains("nginx built without the stream module") && e.contains("passes TLS through"), "{e}");
    let stream = BinaryFacts { markers: vec!["--with-stream".into()], ..arm.clone() };
    assert!(run_as(ProxyKind::Nginx, &stream, false).is_ok(), "passthrough needs no TLS in the proxy");
    assert!(run_as(ProxyKind::Haproxy, &arm, false).is_ok(), "HAProxy passes TLS through in mode tcp");
    let ssl = BinaryFacts { markers: vec!["--with-http_ssl_module".into()], ..arm.clone() };
    assert!(run_as(ProxyKind::Nginx, &ssl, true).is_ok());
    assert!(run_as(ProxyKind::Haproxy, &arm, true).unwrap_err().contains("HAProxy built without OpenSSL"));
    let dynamic = BinaryFacts { needed: vec!["libssl.so.3".into()], ..arm.clone() };
    assert!(run_as(ProxyKind::Haproxy, &dynamic, true).is_ok(), "linked against libssl");
    let stat = BinaryFacts { markers: vec!["Built with OpenSSL version".into()], ..arm.clone() };
    assert!(run_as(ProxyKind::Haproxy, &stat, true).is_ok(), "OpenSSL linked in statically");
    assert!(run_as(ProxyKind::Custom, &arm, true).is_ok(), "a custom build is its own judge");
}

#[test]
fn facts_come_from_the_elf_header() {
    let true_ = std::fs::read("/bin/true").unwrap();
    let f = BinaryFacts::read(&true_).unwrap();
    assert_eq!((f.class, f.little_endian, f.machine, f.libc()), (64, true, EM_X86_64, "glibc"));
    assert!(f.needed.iter().any(|l| l.starts_with("libc.so")), "{:?}", f.needed);
    assert_eq!(f.describe(), "x86-64 ELF");
    assert_eq!(BinaryFacts::read(b"#!/bin/sh\n"), None);
    assert_eq!(mips(0, 3, None).describe(), "MIPS32 little-endian soft-float ELF");
}

/// One library of a test image: its path, DT_NEEDED, defined versions and symbols.
type Lib<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

/// An image view whose libraries are `(path, needed, versions, defines)`, with links.
fn with_libraries(mut view: ImageView, libs: &[Lib], links: &[(&str, &str)]) -> ImageView {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut l = crate::image::symbols::ImageLibraries::default();
    for (path, needed, versions, defines) in libs {
        let mut defines = strings(defines);
        defines.sort();
        let lib = Library { needed: strings(needed), versions: strings(versions), defines };
        l.libraries.insert(path.to_string(), lib);
        view.paths.insert(path.to_string());
    }
    for (from, to) in links {
        l.links.insert(from.to_string(), to.to_string());
        view.paths.insert(from.to_string());
    }
    view.libraries = Some(l);
    view
}

fn run_own(f: &BinaryFacts, own: &BTreeMap<String, Library>, target: Target, img: &ImageView) -> Result<(), String> {
    let names: Vec<String> = own.keys().cloned().collect();
    let c = Candidate {
        build: "b",
        file: "usr/sbin/haproxy",
        facts: Some(f),
        own_libs: &names,
        own_symbols: own,
        kind: ProxyKind::Custom,
        terminates_tls: false,
        passes_through: false,
    };
    check(&c, target, Some(img)).map_err(|e| e.to_string())
}

/// glibc's "version `GLIBC_2.38' not found", said before boot: each import is looked up in
/// the libraries the loader would map (libcrypto through libssl, the build's own first).
#[test]
fn an_import_newer_than_the_images_libraries_is_refused_with_the_versions_there_are() {
    const LIBC: &str = "/lib/aarch64-linux-gnu/libc.so.6";
    const CRYPTO: &str = "/usr/lib/aarch64-linux-gnu/libcrypto.so.3";
    let img = with_libraries(
        image(&DEBIAN_ARM, None),
        &[
            (LIBC, &[], &["GLIBC_2.17", "GLIBC_2.36", "GLIBC_2.4", "GLIBC_PRIVATE"], &["memcpy@GLIBC_2.17"]),
            (DEBIAN_ARM[2], &["libcrypto.so.3"], &["OPENSSL_3.0.0"], &["SSL_new@OPENSSL_3.0.0"]),
            (CRYPTO, &[], &["OPENSSL_3.0.0"], &["EVP_MD_fetch@OPENSSL_3.0.0"]),
        ],
        &[],
    );
    let mut f = facts(64, true, EM_AARCH64, Some(DEBIAN_ARM[0]));
    f.needed = vec!["libc.so.6".into(), "libssl.so.3".into()];
    f.imports = vec!["EVP_MD_fetch@OPENSSL_3.0.0".into(), "SSL_new@OPENSSL_3.0.0".into(), "memcpy@GLIBC_2.17".into()];
    let none = BTreeMap::new();
    assert_eq!(run_own(&f, &none, Target::Aarch64Virt, &img), Ok(()), "libcrypto is loaded through libssl");
    f.imports.extend(["strlcpy@GLIBC_2.38".to_string(), "clock_gettime@GLIBC_2.17".into()]);
    let e = run_own(&f, &none, Target::Aarch64Virt, &img).unwrap_err();
    assert_eq!(
        e,
        "build b: usr/sbin/haproxy imports strlcpy@GLIBC_2.38, clock_gettime@GLIBC_2.17, which no library it would \
         load on aarch64-virt defines (/lib/aarch64-linux-gnu/libc.so.6 there has GLIBC_ versions up to GLIBC_2.36, \
         so it was linked against a newer one): its loader would stop it with \"symbol not found\"; link it \
         statically, or against aarch64-virt's own libraries"
    );
    // The build's own libc.so.6 comes first and defines them.
    let own_libc = Library {
        needed: vec![],
        versions: vec!["GLIBC_2.38".into()],
        defines: vec!["clock_gettime@GLIBC_2.17".into(), "memcpy@GLIBC_2.17".into(), "strlcpy@GLIBC_2.38".into()],
    };
    let own = BTreeMap::from([("libc.so.6".to_string(), own_libc)]);
    assert_eq!(run_own(&f, &own, Target::Aarch64Virt, &img), Ok(()));
    // An image built before exports.json: unchecked. A static binary imports nothing.
    let old = ImageView { libraries: None, ..img.clone() };
    assert_eq!(run_own(&f, &none, Target::Aarch64Virt, &old), Ok(()));
}

/// A 32-bit binary linked against musl 1.2 imports its 64-bit time_t symbols, which
/// OpenWrt's musl 1.1.24 (its interpreter is its libc) lacks.
#[test]
fn musl_12_time64_imports_are_refused_on_an_older_musl_and_say_why() {
    let img = with_libraries(
        image(&[], Some("soft")),
        &[("/lib/libc.so", &[], &[], &["clock_gettime", "printf"])],
        &[("/lib/ld-musl-mipsel-sf.so.1", "/lib/libc.so")],
    );
    let mut f = mips(0, 3, Some("/lib/ld-musl-mipsel-sf.so.1"));
    f.needed = vec!["libc.so".into()];
    f.imports = vec!["printf".into()];
    assert_eq!(run_own(&f, &BTreeMap::new(), Target::MipselMaltaOpenwrt, &img), Ok(()));
    f.imports = ["__clock_gettime64", "__fstat_time64", "__gmtime64_r", "__nanosleep_time64", "__stat_time64"]
        .into_iter()
        .chain(["__time64", "printf"])
        .map(String::from)
        .collect();
    let e = run_own(&f, &BTreeMap::new(), Target::MipselMaltaOpenwrt, &img).unwrap_err();
    assert!(
        e.contains("imports __clock_gettime64, __fstat_time64, __gmtime64_r, __nanosleep_time64, __stat_time64 and 1 more, which no library it would load on mipsel-malta-openwrt defines"),
        "{e}"
    );
    assert!(e.contains("musl 1.2's 64-bit time_t, so it was linked against musl 1.2 or later"), "{e}");
}
