//! The build preflight through the CLI, with real binaries: a build the target cannot run
//! is refused by `check --builds` and by `run` before any VM boots, naming what the binary
//! is and what the target needs; a build that fits is described.
use std::path::Path;
use std::process::{Command, Output};

fn routerlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerlab")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A build file in `dir` named `name` with the given source lines.
fn build_file(dir: &Path, name: &str, source: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("name = \"{name}\"\n{source}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

fn check(build: &str, target: &str) -> Output {
    check_in("scenarios/haproxy-reencrypt-xff.toml", build, target)
}

fn check_in(scenario: &str, build: &str, target: &str) -> Output {
    routerlab(&["check", scenario, "--builds", build, "--target", target])
}

/// An x86-64 binary on aarch64: the newcomer's case from issue 26, which used to boot,
/// upload and fail in deploy with the guest shell's `syntax error: unexpected "("`.
#[test]
fn a_binary_for_another_machine_is_refused_by_check_and_by_run_before_boot() {
    harness::needs!(Root);
    let d = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/true", d.path().join("haproxy")).unwrap();
    let b = build_file(d.path(), "haproxy-x86", "binary = \"haproxy\"\npath = \"usr/sbin/haproxy\"");
    let o = check(&b, "aarch64-virt");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("build haproxy-x86: usr/sbin/haproxy: x86-64 ELF; aarch64-virt runs AArch64"),
        "{}",
        text(&o)
    );
    let out = d.path().join("run");
    let args = ["run", "scenarios/haproxy-reencrypt-xff.toml", "--target", "aarch64-virt", "--builds", &b];
    let o = routerlab(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("x86-64 ELF; aarch64-virt runs AArch64"), "{}", text(&o));
    // Nothing booted: no cell directory with a console transcript or a QEMU script.
    let booted = walkdir(&out).into_iter().any(|f| f.ends_with("console.log") || f.ends_with("qemu.sh"));
    assert!(!booted, "{:?}", walkdir(&out));
}

/// A big-endian MIPS ELF (header only: the preflight reads no further) on little-endian malta.
#[test]
fn a_big_endian_mips_binary_is_refused_on_mipsel() {
    harness::needs!(Root);
    let d = tempfile::tempdir().unwrap();
    let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 2, 1];
    elf.resize(16, 0);
    elf.extend([0, 2, 0, 8, 0, 0, 0, 1, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70, 0, 0x10, 0x07]);
    elf.extend([0, 52, 0, 32, 0, 0, 0, 40, 0, 0, 0, 0]);
    std::fs::write(d.path().join("proxy"), elf).unwrap();
    let o = check(&build_file(d.path(), "be", "binary = \"proxy\""), "mipsel-malta");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("MIPS32 big-endian ELF; mipsel-malta runs MIPS32 little-endian (o32)"), "{}", text(&o));
}

/// Debian's own mipsel HAProxy, fetched as an `apt` build, is a glibc hard-float ELF: it
/// fits the Debian image, and the soft-float OpenWrt user space refuses it.
#[test]
fn debians_hard_float_haproxy_fits_debian_and_not_the_soft_float_openwrt_userland() {
    harness::needs!(Root, OpenWrtMirror);
    let d = tempfile::tempdir().unwrap();
    let b = build_file(d.path(), "haproxy-deb", "apt = [\"haproxy\"]\npath = \"usr/sbin/haproxy\"");
    let o = check(&b, "mipsel-malta");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ok = "ok build haproxy-deb on mipsel-malta: usr/sbin/haproxy, MIPS32 little-endian hard-float ELF, glibc";
    assert!(text(&o).contains(ok), "{}", text(&o));
    let o = check(&b, "mipsel-malta-openwrt");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("hard-float ELF; mipsel-malta-openwrt's user space is soft-float"), "{}", text(&o));
    // Debian's nginx names --with-http_ssl_module among its configure arguments: it may
    // terminate TLS.
    let ngx = build_file(d.path(), "nginx-deb", "apt = [\"nginx\"]\npath = \"usr/sbin/nginx\"");
    let o = check_in("scenarios/nginx-reencrypt-xff.toml", &ngx, "mipsel-malta");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// OpenWrt 19.07.7's own busybox (dynamic musl, from the armvirt rootfs in the mirror) on
/// the Debian aarch64 image, which has no musl loader: the classic "not found".
#[test]
fn a_dynamic_musl_binary_is_refused_on_an_image_without_musl() {
    harness::needs!(Root, OpenWrtMirror);
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("images");
    let rootfs = harness::image::openwrt::mirror_dir(&images)
        .join("armvirt-64/openwrt-19.07.7-armvirt-64-default-rootfs.tar.gz");
    let d = tempfile::tempdir().unwrap();
    let st =
        Command::new("tar").arg("-xzf").arg(&rootfs).arg("-C").arg(d.path()).arg("./bin/busybox").status().unwrap();
    assert!(st.success(), "{}", rootfs.display());
    let b = build_file(d.path(), "owrt-busybox", "binary = \"bin/busybox\"\npath = \"usr/sbin/haproxy\"");
    let o = check(&b, "aarch64-virt");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let says = "dynamic musl ELF; its loader /lib/ld-musl-aarch64.so.1 is not in aarch64-virt's image (glibc)";
    assert!(text(&o).contains(says), "{}", text(&o));
    // On OpenWrt's own user space it runs, but as a proxy it can only pass TLS through:
    // a scenario that terminates TLS at it is refused, a passthrough one is not.
    let o = check(&b, "aarch64-virt-openwrt");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("HAProxy built without OpenSSL"), "{}", text(&o));
    let o = check_in("scenarios/haproxy-passthrough-proxy-v2.toml", &b, "aarch64-virt-openwrt");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A stand-in proxy built from source dynamically against zig's musl 1.2
/// (tests/fixtures/dynamic-musl). On 32-bit mipsel its clock_gettime is musl 1.2's
/// `__clock_gettime64`, which the OpenWrt userland's musl 1.1.24 lacks: the loader would
/// stop it with "symbol not found", and check says so before boot. On aarch64, where the
/// names did not change, the same source loads the image's musl and is fit.
#[test]
fn a_dynamic_binary_importing_what_the_images_libc_lacks_is_refused_by_check() {
    harness::needs!(Root, OpenWrtMirror);
    const BUILD: &str = "tests/fixtures/dynamic-musl/clock-dynamic.toml";
    const PASS: &str = "scenarios/haproxy-passthrough-proxy-v2.toml";
    let o = check_in(PASS, BUILD, "mipsel-malta-openwrt");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let says = "build clock-dynamic: usr/sbin/haproxy imports __clock_gettime64";
    assert!(
        text(&o).contains(says) && text(&o).contains("no library it would load on mipsel-malta-openwrt defines"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("musl 1.2's 64-bit time_t"), "{}", text(&o));
    let o = check_in(PASS, BUILD, "aarch64-virt-openwrt");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("ok build clock-dynamic on aarch64-virt-openwrt: usr/sbin/haproxy, AArch64 ELF, musl"),
        "{}",
        text(&o)
    );
}

fn walkdir(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
