//! `routerlab vm run` as a user types it: several words after `--` are an argument vector
//! whose boundaries survive into the guest, and the guest command's exit status comes back.
//! A router's CPU model reaches the guest. Boots real guests (needs QEMU and the built
//! images, as ci/test provides).
use std::process::Command;

#[test]
fn vm_run_keeps_argument_boundaries_and_the_exit_status() {
    harness::needs!(Qemu);
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(["vm", "run", "aarch64-virt", "--run-dir", d.path().to_str().unwrap()])
        .args(["--", "sh", "-c", "echo \"it's  two\"; exit 7"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // Joined without quoting, the guest ran `sh -c echo "it's  two"; exit 7`: an empty line.
    assert_eq!(out, "it's  two\n", "{err}");
    assert_eq!(o.status.code(), Some(7), "{out}{err}");
}

/// `vm run` with `args`, in a fresh run directory: its exit code and all it printed.
fn vm_run(args: &[&str]) -> (Option<i32>, String) {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(["vm", "run", "--run-dir", d.path().to_str().unwrap()])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// A router's CPU model is a setting: the guest runs the core it was given, and a model its
/// user space cannot run, or one of another architecture, is refused before boot.
#[test]
fn a_cpu_model_reaches_the_guest_and_one_the_userland_cannot_run_is_refused_before_boot() {
    harness::needs!(Qemu);
    // Cortex-A72 is ARM's part 0xd08 (the default A53 is 0xd03).
    let (code, out) = vm_run(&["aarch64-virt", "--cpu-model", "cortex-a72", "--", "grep -m1 'CPU part' /proc/cpuinfo"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0xd08"), "{out}");
    let (code, out) = vm_run(&["mipsel-malta", "--cpu-model", "74Kf", "--", "grep -m1 'cpu model' /proc/cpuinfo"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("MIPS 74K"), "{out}");
    // OpenWrt's MT7621 feed needs the DSP ASE, which the 24Kf lacks: refused, with the way out.
    let (code, out) = vm_run(&["mipsel-malta-openwrt", "--cpu-model", "24Kf", "--", "true"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("which lacks it") && out.contains("24Kf"), "{out}");
    assert!(
        out.contains("give the router a CPU model that has it ([router] cpu or --cpu-model: 24KEc, 34Kf, 74Kf)"),
        "{out}"
    );
    let (code, out) = vm_run(&["mipsel-malta", "--cpu-model", "cortex-a72", "--", "true"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("mipsel-malta: CPU model cortex-a72 is not a MIPS core"), "{out}");
}

/// A router too small for its image: the kernel unpacks the initramfs into a tmpfs sized
/// while the initrd still holds memory, and on 64 MiB that left out the files past 17.7 MiB
/// of a 27 MiB image without a word (the first to fail was nft, in the router's NAT). The
/// boot is refused with the RAM that holds the image, and that RAM boots it whole.
#[test]
fn a_router_too_small_for_its_image_is_refused_with_the_ram_it_needs() {
    harness::needs!(Qemu);
    let (code, out) = vm_run(&["mipsel-malta", "--memory", "64MiB", "--", "true"]);
    assert_eq!(code, Some(2), "{out}");
    // Refused from the image's manifest before QEMU starts; the boot-time check (a full root
    // tmpfs) is the one behind it for images nearer the line (unit tests in vm/rootfs.rs).
    assert!(out.contains("refused before boot: with 64 MiB of RAM") && out.contains("would be left out"), "{out}");
    let need = out.split("at least ").nth(1).and_then(|s| s.split(" MiB").next()).unwrap_or_else(|| panic!("{out}"));
    let (code, out) = vm_run(&["mipsel-malta", "--memory", &format!("{need}MiB"), "--", "command -v nft"]);
    assert_eq!(code, Some(0), "{need} MiB holds the image: {out}");
    assert!(out.contains("/usr/sbin/nft"), "{out}");
    // An OpenWrt image cut short died in preinit, long before a probe could read its root.
    let (code, out) = vm_run(&["aarch64-virt-openwrt", "--memory", "64MiB", "--", "true"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("refused before boot") && out.contains("at least 112 MiB"), "{out}");
}
