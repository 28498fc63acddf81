//! Real OpenWrt on both targets: images built offline from the pinned mirror (CI has it
//! beside the checkout), booted through procd's console, and OpenWrt's own tools answering:
//! `/etc/openwrt_release`, ubus, uci and opkg, including an `.ipk` installed by real opkg.
use std::path::Path;
use std::process::{Command, Output};

fn routerlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerlab")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `vm run TARGET -- CMD`: its stdout, after asserting exit 0.
fn vm_run(target: &str, dir: &Path, extra: &[&str], cmd: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(["vm", "run", target, "--run-dir", dir.to_str().unwrap()])
        .args(extra)
        .args(["--", cmd])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{target}: {cmd}: {out}{err}");
    out
}

#[test]
fn openwrt_images_build_from_the_mirror_and_the_second_build_is_a_cache_hit() {
    harness::needs!(Root, OpenWrtMirror);
    for name in ["aarch64-virt-openwrt", "mipsel-malta-openwrt"] {
        let first = routerlab(&["image", "build", name]);
        let (out, err) = text(&first);
        assert_eq!(first.status.code(), Some(0), "{name}: {out}{err}");
        assert!(out.contains("OpenWrt ") && out.contains("userland"), "{out}");
        let again = routerlab(&["image", "build", name]);
        let (out, err) = text(&again);
        assert!(out.trim_end().ends_with("(cache hit)"), "{name}: {out}{err}");
    }
    let list = text(&routerlab(&["image", "list"])).0;
    assert!(list.contains("aarch64-virt-openwrt") && list.contains("mipsel-malta-openwrt"), "{list}");
}

#[test]
fn a_bad_mirror_is_refused_with_the_file_both_hashes_and_the_upstream() {
    harness::needs!(Root, OpenWrtMirror);
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let build = |mirror: &Path| {
        Command::new(env!("CARGO_BIN_EXE_routerlab"))
            .args(["image", "build", "aarch64-virt-openwrt", "--cache", cache.to_str().unwrap()])
            .env(harness::image::openwrt::MIRROR_ENV, mirror)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (_, err) = text(&build(&empty));
    assert!(err.contains("missing from the OpenWrt mirror"), "{err}");
    assert!(err.contains("releases/19.07.7/targets/armvirt/64/openwrt-19.07.7-armvirt-64-default-rootfs.tar.gz"));
    let bad = d.path().join("bad");
    std::fs::create_dir_all(bad.join("armvirt-64")).unwrap();
    std::fs::write(bad.join("armvirt-64/openwrt-19.07.7-armvirt-64-default-rootfs.tar.gz"), b"tampered").unwrap();
    let o = build(&bad);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let actual = harness::image::sha256_hex(b"tampered");
    assert!(err.contains(&format!("sha256 is {actual}, the recipe pins 14845be2")), "{err}");
}

#[test]
fn openwrt_on_aarch64_boots_through_procd_and_answers_ubus_uci_and_opkg() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    let d = tempfile::tempdir().unwrap();
    let out = vm_run(
        "aarch64-virt-openwrt",
        d.path(),
        &[],
        "cat /etc/openwrt_release; ubus list; ubus call system board; uci get system.@system[0].hostname; opkg list-installed; \
         for t in ip wg nft tc; do echo \"tool $t $(command -v $t)\"; done; echo \"busybox ip $(readlink /sbin/ip)\"",
    );
    assert!(out.contains("DISTRIB_RELEASE='19.07.7'"), "{out}");
    for object in ["network.interface", "system", "service"] {
        assert!(out.lines().any(|l| l.trim() == object), "ubus has no {object}: {out}");
    }
    assert!(out.contains("\"release\"") && out.contains("OpenWrt"), "ubus call system board: {out}");
    assert!(out.lines().any(|l| l.starts_with("procd - ")), "opkg list-installed: {out}");
    // The lab's tools the release lacks are carried in under their own prefix, first on
    // the console's PATH, and OpenWrt's busybox `ip` is left where it was.
    for t in ["ip", "wg", "nft", "tc"] {
        assert!(out.lines().any(|l| l.trim() == format!("tool {t} /opt/routerlab/bin/{t}")), "{t}: {out}");
    }
    assert!(out.lines().any(|l| l.trim() == "busybox ip ../bin/busybox"), "{out}");
}

#[test]
fn openwrt_on_mipsel_boots_on_a_34kf_and_opkg_installs_from_the_feed() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    let mirror = harness::image::openwrt::mirror_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("images"));
    let socat = mirror.join("mipsel_24kc/packages/socat_1.7.3.4-1_mipsel_24kc.ipk");
    let up = format!("{}:/tmp/socat.ipk", socat.display());
    let d = tempfile::tempdir().unwrap();
    let out = vm_run(
        "mipsel-malta-openwrt",
        d.path(),
        &["--upload", &up],
        "grep -m1 'cpu model' /proc/cpuinfo; cat /etc/openwrt_release; ubus list; opkg list-installed | grep -c .; \
         opkg install /tmp/socat.ipk && opkg list-installed | grep '^socat ' && socat -V | head -2",
    );

    // QEMU's 34Kf: a 34K core with the DSP ASE the feed needs (malta's default 24Kf lacks it).
    let cpu = out.lines().find(|l| l.starts_with("cpu model")).unwrap_or_default();
    assert!(cpu.contains("MIPS 34K") && cpu.contains("FPU"), "the target's CPU: {out}");
    assert!(out.contains("DISTRIB_ARCH='mipsel_24kc'"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "network.interface"), "{out}");
    assert!(out.contains("socat - 1.7.3.4-1"), "opkg recorded the install: {out}");
    assert!(out.contains("socat version 1.7.3.4"), "the installed binary runs: {out}");
}

/// The MT7621 feed is built `-march=1004kc` and uses the DSP ASE. Given to the Debian
/// mipsel target, whose malta runs QEMU's default 24Kf, it is refused before QEMU starts,
/// with the ASE, the file that declares it and the target that fits, never a SIGILL in a
/// console transcript.
#[test]
fn the_mt7621_userland_is_refused_before_boot_on_a_cpu_without_dsp() {
    harness::needs!(Root, OpenWrtMirror);
    let built = routerlab(&["image", "build", "mipsel-malta-openwrt"]);
    let (out, err) = text(&built);
    assert_eq!(built.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("user space MIPS32 release 2 with DSP"), "image build says what the CPU needs: {out}");
    let dir = out.split_whitespace().nth(1).unwrap().to_string();
    let d = tempfile::tempdir().unwrap();
    let run_dir = d.path().join("vm");
    let o = routerlab(&[
        "vm",
        "run",
        "mipsel-malta",
        "--image",
        &dir,
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--",
        "true",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "a CPU the image cannot run on is bad input: {out}{err}");
    for says in ["the DSP ASE", "QEMU's 24Kf", "SIGILL", "mipsel-malta-openwrt (34Kf)", "MIPS ABI flags"] {
        assert!(err.contains(says), "the refusal says {says:?}: {err}");
    }
    // QEMU never started: no launch script, no console transcript (router.qemu.sh, router.console.log).
    let started: Vec<String> = std::fs::read_dir(&run_dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(!started.iter().any(|f| f.ends_with("qemu.sh") || f.ends_with("console.log")), "{started:?}: {err}");
}
