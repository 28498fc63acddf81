//! `routerlab vm run` as a user types it: several words after `--` are an argument vector
//! whose boundaries survive into the guest, and the guest command's exit status comes back.
//! Boots a real aarch64 guest (needs QEMU and the built image, as ci/test provides).
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
