//! Real QEMU: both targets boot from images built from Debian packages, the console
//! protocol returns output and exit status, uploads verify, the metrics agent streams,
//! and every failure names the VM, shows the last console lines and leaves no QEMU behind.
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::image::{build, cache_root, BuildOptions};
use harness::vm::{boot, BootOptions, ImageSource, Target, Vm, VmConfig, VmError, READY_MARKER};

fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../images")
}

fn source() -> ImageSource {
    ImageSource::Recipe { images_dir: images_dir(), cache: cache_root() }
}

fn image(t: Target) -> (PathBuf, PathBuf) {
    let img = build(t.name(), &BuildOptions { images_dir: images_dir(), cache: cache_root(), force: false }).unwrap();
    (img.kernel, img.initrd)
}

fn gone(pid: u32) -> bool {
    // Reaped by Drop: no /proc entry at all (not even a zombie).
    !Path::new(&format!("/proc/{pid}")).exists()
}

async fn check_target(t: Target) {
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let (mut vm, boot_time) = boot(t, &source(), &BootOptions::new("router", dir.path().into())).await.unwrap();
    // The boot time reported is the guest's boot, not zero and not more than the call took.
    assert!(boot_time > std::time::Duration::from_millis(200) && boot_time <= t0.elapsed(), "{t}: {boot_time:?}");
    let out = vm.exec("haproxy -vv").await.unwrap();
    assert_eq!(out.status, 0);
    assert!(out.stdout.contains("Built with OpenSSL version"), "{t}: {}", out.stdout);
    let out = vm.exec("nginx -V").await.unwrap();
    assert!(
        out.stdout.contains("--with-http_ssl_module") && out.stdout.contains("--with-stream"),
        "{t}: {}",
        out.stdout
    );
    let out = vm.exec("nft add table ip routerlab && nft list tables && wg --version && uname -m").await.unwrap();
    assert_eq!(out.status, 0, "{t}: {}", out.stdout);
    assert!(out.stdout.contains("table ip routerlab") && out.stdout.contains("wireguard-tools"), "{t}: {}", out.stdout);
    let arch = out.stdout.lines().last().unwrap();
    assert_eq!(arch, if t == Target::MipselMalta { "mips" } else { "aarch64" });
    let pid = vm.pid();
    vm.quit().await.unwrap();
    assert!(gone(pid));
    let transcript = std::fs::read_to_string(dir.path().join("router.console.log")).unwrap();
    assert!(transcript.contains(READY_MARKER) && transcript.contains("HAProxy version"));
    assert!(dir.path().join("router.qemu.sh").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aarch64_virt_boots_with_proxies_and_tools() {
    harness::needs!(Qemu);
    check_target(Target::Aarch64Virt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mipsel_malta_boots_with_proxies_and_tools() {
    harness::needs!(Qemu);
    check_target(Target::MipselMalta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_upload_and_metrics() {
    harness::needs!(Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (mut vm, _) =
        boot(Target::Aarch64Virt, &source(), &BootOptions::new("router", dir.path().into())).await.unwrap();
    // Exit status and quoting; `exit` ends the command, not the console shell (PID 1).
    assert_eq!(vm.exec("exit 3").await.unwrap().status, 3);
    assert_eq!(vm.exec("echo still here").await.unwrap().stdout, "still here\n");
    let out = vm.exec("echo 'it''s'; echo \"$((6*7))\" >&2; false").await.unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("its\n42\n", 1));
    // Upload 1 MiB, verified in the guest, then checked again independently.
    let local = dir.path().join("blob");
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    vm.upload(&local, "/tmp/blob").await.unwrap();
    let sum = vm.exec("sha256sum /tmp/blob").await.unwrap();
    assert!(sum.stdout.starts_with(&harness::image::sha256_hex(&data)), "{}", sum.stdout);
    // The metrics agent reports a busy-looping process above 50% of a CPU. It is named
    // before it starts, so the agent must find it when it appears.
    vm.agent_watch(&["burn"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    vm.exec("printf '#!/bin/sh\\nwhile :; do :; done\\n' >/tmp/burn; chmod +x /tmp/burn; /tmp/burn </dev/null >/dev/null 2>&1 &")
        .await
        .unwrap();
    // The guest's CPU comes every 2 s: at least one whole window of it falls in 5 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let m = vm.metrics();
    let burn = m.procs.get("burn").unwrap_or_else(|| panic!("no samples for burn: {m:?}"));
    let peak = burn.iter().map(|p| p.cpu_pct).fold(0.0, f64::max);
    assert!(peak > 50.0, "burn peaked at {peak}% ({burn:?})");
    // RSS comes in pages: in kB it must match the guest's own VmRSS (a busy loop faults no
    // page in, so the two readings agree), whatever the page size.
    let vm_rss = vm.exec("grep VmRSS /proc/$(pidof burn)/status").await.unwrap().stdout;
    let rss = burn.last().unwrap().rss_kb;
    assert_eq!(vm_rss.split_whitespace().nth(1), Some(rss.to_string().as_str()), "{vm_rss}");
    assert!(burn.iter().all(|p| p.threads == 1));
    assert!(m.guest.iter().all(|g| g.mem_available_kb > 0 && g.mem_available_kb < g.mem_total_kb), "{:?}", m.guest);
    assert!(m.guest.iter().any(|g| g.cpu_pct > 50.0 && g.mem_total_kb > 100_000), "{:?}", m.guest);
    assert!(!m.host.is_empty() && m.host.iter().all(|h| h.rss_kb > 10_000), "{:?}", m.host);
    vm.quit().await.unwrap();
}

fn start_cfg(dir: &Path, extra: &str) -> VmConfig {
    let (k, i) = image(Target::Aarch64Virt);
    let mut cfg = VmConfig::new("faulty", Target::Aarch64Virt, k, Some(i), dir.into());
    cfg.cmdline_extra.push(extra.into());
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_panic_is_reported_with_console_lines() {
    harness::needs!(Qemu);
    let dir = tempfile::tempdir().unwrap();
    let mut vm = Vm::start(start_cfg(dir.path(), "rdinit=/nonexistent")).await.unwrap();
    let pid = vm.pid();
    let err = vm.wait_ready().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VmError::DiedDuring { .. }), "{msg}");
    assert!(msg.starts_with("vm faulty: QEMU exited"), "{msg}");
    assert!(msg.contains("Kernel panic"), "{msg}");
    drop(vm);
    assert!(gone(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_marker_times_out_with_console_lines() {
    harness::needs!(Qemu);
    let dir = tempfile::tempdir().unwrap();
    // A shell as init: the system runs but never prints the marker.
    let mut vm = Vm::start(start_cfg(dir.path(), "rdinit=/bin/sh")).await.unwrap();
    let pid = vm.pid();
    let err = vm.wait_marker(READY_MARKER, Duration::from_secs(4), "readiness marker").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VmError::Timeout { .. }), "{msg}");
    assert!(msg.contains("no readiness marker within 4"), "{msg}");
    assert!(msg.contains("last console lines"), "{msg}");
    drop(vm);
    assert!(gone(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_killed_mid_command_is_reported() {
    harness::needs!(Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (mut vm, _) =
        boot(Target::Aarch64Virt, &source(), &BootOptions::new("victim", dir.path().into())).await.unwrap();
    let pid = vm.pid();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        // SAFETY: kill(2) on the QEMU child we started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let err = vm.exec("echo started; sleep 30").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VmError::DiedDuring { .. }), "{msg}");
    assert!(msg.contains("while running `echo started; sleep 30`") && msg.contains("signal: 9"), "{msg}");
    drop(vm);
    assert!(gone(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_qemu_arguments_fail_at_once_with_stderr() {
    harness::needs!(Qemu);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = start_cfg(dir.path(), "quiet");
    cfg.kernel = dir.path().join("no-such-kernel");
    let t0 = std::time::Instant::now();
    let err = match Vm::start(cfg).await {
        Err(e) => e,
        Ok(_) => panic!("QEMU started without a kernel"),
    };
    assert!(t0.elapsed() < Duration::from_secs(5));
    let msg = err.to_string();
    assert!(matches!(err, VmError::QemuExited { .. }), "{msg}");
    assert!(msg.contains("no-such-kernel"), "QEMU's own stderr is in the message: {msg}");
}

/// An `.ipk` as OpenWrt builds them: a tar.gz holding debian-binary, control.tar.gz and
/// data.tar.gz, made with the host's tar.
fn make_ipk(dir: &Path) -> PathBuf {
    let run = |args: &[&str], cwd: &Path| {
        let st = std::process::Command::new("tar").args(args).current_dir(cwd).status().unwrap();
        assert!(st.success());
    };
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("usr/bin")).unwrap();
    std::fs::write(data.join("usr/bin/routerlab-hello"), "#!/bin/sh\necho hello from the ipk\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("usr/bin/routerlab-hello"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ctrl = dir.join("control");
    std::fs::create_dir_all(&ctrl).unwrap();
    std::fs::write(
        ctrl.join("control"),
        "Package: routerlab-hello\nVersion: 1\nArchitecture: all\nDescription: test\n",
    )
    .unwrap();
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("debian-binary"), "2.0\n").unwrap();
    run(&["-czf", pkg.join("data.tar.gz").to_str().unwrap(), "./usr"], &data);
    run(&["-czf", pkg.join("control.tar.gz").to_str().unwrap(), "./control"], &ctrl);
    let ipk = dir.join("routerlab-hello_1_all.ipk");
    run(&["-czf", ipk.to_str().unwrap(), "./debian-binary", "./control.tar.gz", "./data.tar.gz"], &pkg);
    ipk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openwrt_compat_console_provisioning_and_ipk() {
    harness::needs!(Qemu);
    use harness::vm::{install_ipk, Flavour};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = BootOptions::new("owrt", dir.path().into());
    opts.flavour = Flavour::OpenWrtCompat;
    let (mut vm, _) = boot(Target::Aarch64Virt, &source(), &opts).await.unwrap();
    let transcript = std::fs::read_to_string(dir.path().join("owrt.console.log")).unwrap();
    assert!(transcript.contains(harness::vm::ACTIVATE_PROMPT));
    assert!(transcript.contains("W I R E L E S S   F R E E D O M") && transcript.contains("root@OpenWrt"));
    assert!(!transcript.contains(READY_MARKER), "the OpenWrt path must not rely on routerlab's marker");
    let rel = vm.exec(". /etc/openwrt_release; echo $DISTRIB_ID").await.unwrap();
    assert_eq!(rel.stdout, "OpenWrt\n");
    // The management link was configured over the console, so uploads work.
    let ipk = make_ipk(dir.path());
    assert_eq!(install_ipk(&mut vm, &ipk).await.unwrap(), "unpacked");
    let out = vm.exec("routerlab-hello").await.unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("hello from the ipk\n", 0));
    vm.quit().await.unwrap();
}
