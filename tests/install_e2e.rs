//! An installed binary works from any directory after its checkout is gone (issue 13): the
//! image recipes, rootfs files, templates, scenarios and builds it ships are inside it. The
//! binary is copied out, the checkout is hidden under a tmpfs in a private mount namespace
//! (`unshare -m`), and then `check`, `image list` and one scenario on aarch64 run.
use std::process::Command;

#[test]
fn a_copied_binary_runs_a_shipped_scenario_with_its_checkout_hidden() {
    harness::needs!(Root, Qemu);
    let d = tempfile::tempdir().unwrap();
    let checkout = env!("CARGO_MANIFEST_DIR");
    assert!(!d.path().starts_with(checkout), "the copy must live outside the checkout");
    let bin = d.path().join("routerlab");
    std::fs::copy(env!("CARGO_BIN_EXE_routerlab"), &bin).unwrap();
    let out = d.path().join("run");
    let script = format!(
        "set -e; mount -t tmpfs routerlab-hidden {checkout}; cd /; \
         test ! -e {checkout}/images && echo checkout-hidden; \
         {bin} check haproxy-reencrypt-xff; {bin} image list; \
         {bin} run haproxy-reencrypt-xff --target aarch64-virt --duration 2s --warmup 300ms --idle 0s --out {out}",
        bin = bin.display(),
        out = out.display()
    );
    let o = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("checkout-hidden"), "{text}");
    assert!(o.status.success(), "{text}");
    assert!(text.contains("(haproxy-reencrypt-xff: haproxy"), "check read the shipped scenario: {text}");
    assert!(text.contains("aarch64-virt"), "image list names the shipped recipes: {text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let c = &report["cells"][0];
    assert_eq!(c["outcome"], "pass", "{text}");
    assert_eq!(c["client_ip"]["verdict"], "preserved");
    // The shipped proxy template was rendered from the embedded copy, not the checkout.
    let conf = std::fs::read_to_string(out.join("haproxy-reencrypt-xff-aarch64-virt/proxy.conf")).unwrap();
    assert!(conf.contains("option forwardfor"), "{conf}");
}
