//! The network lab with the stand-in router: real namespaces, veths, nftables NAT and the
//! routerlab backend and load generator running inside the hosts. Cleanup is counted with
//! `ip netns list`, `ip link` and /proc.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::netlab::{standard_topology, Lab, LabOptions, ADDR};

mod common;
use common::exe;

fn state(dir: &Path) -> PathBuf {
    dir.join("state")
}

fn netns_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect()
}

fn root_links_with(prefix: &str) -> usize {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(prefix)).count()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
}

fn lab(dir: &Path, opts: &LabOptions) -> Lab {
    let (topo, _) = standard_topology(opts).unwrap();
    Lab::build(topo, &dir.join("run"), &state(dir)).unwrap()
}

/// Certificates for the router's public addresses, a backend in the backend namespace.
fn start_backend(lab: &mut Lab, dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let st = Command::new(exe())
        .args([
            "certs",
            "--out",
            pki.to_str().unwrap(),
            "--name",
            "router.test",
            "--ip",
            ADDR::ROUTER_WAN4,
            "--ip",
            ADDR::ROUTER_WAN6,
        ])
        .output()
        .unwrap();
    assert!(st.status.success());
    let args: Vec<String> = [
        "backend",
        "--listen",
        "10.2.0.1:443",
        "--listen",
        "[fd00:2::1]:443",
        "--tls-cert",
        pki.join("frontend.crt").to_str().unwrap(),
        "--tls-key",
        pki.join("frontend.key").to_str().unwrap(),
        "--access-log",
        dir.join("access.log").to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    lab.spawn("backend", "backend", &exe(), &args, None).unwrap();
    let out = lab.run_dir.join("backend.backend.out");
    let t0 = Instant::now();
    while std::fs::read_to_string(&out).unwrap_or_default().lines().count() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "backend did not start: {}",
            std::fs::read_to_string(lab.run_dir.join("backend.backend.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pki.join("ca.crt")
}

fn load(lab: &Lab, url: &str, ca: &Path, sources: &[&str], journal: &Path) {
    let mut args = vec![
        "load",
        url,
        "--ca",
        ca.to_str().unwrap(),
        "-n",
        "30",
        "-c",
        "3",
        "--journal",
        journal.to_str().unwrap(),
        "--quiet",
    ];
    for s in sources {
        args.extend(["--source", s]);
    }
    let out = lab.exec_any("clients", exe().to_str().unwrap(), &args).unwrap();
    assert!(out.status.success(), "load failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn verify(journal: &Path, log: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(exe())
        .args(["verify", "--journal", journal.to_str().unwrap(), "--access-log", log.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ping_from_client_addresses_and_through_the_tunnel() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path(), &LabOptions { clients_v4: 5, clients_v6: 2, ..Default::default() });
    for src in ["203.0.113.1", "203.0.113.3", "203.0.113.5"] {
        let out = lab.exec_any("clients", "ping", &["-c1", "-W2", "-I", src, ADDR::ROUTER_WAN4]).unwrap();
        assert!(out.status.success(), "ping from {src}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = lab.exec_any("clients", "ping", &["-c1", "-W2", "-I", "2001:db8:c::2", ADDR::ROUTER_WAN6]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // The router reaches the backend through the tunnel; the internet does not.
    assert!(lab.exec_any("router", "ping", &["-c1", "-W2", ADDR::BACKEND4]).unwrap().status.success());
    assert!(!lab.exec_any("internet", "ping", &["-c1", "-W1", ADDR::BACKEND4]).unwrap().status.success());
}

#[test]
fn l4_forward_with_nat_loses_the_client_address() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut lab = lab(dir.path(), &LabOptions { clients_v4: 3, clients_v6: 1, ..Default::default() });
    let ca = start_backend(&mut lab, dir.path());
    let journal = dir.path().join("j4.tsv");
    load(
        &lab,
        &format!("https://{}/", ADDR::ROUTER_WAN4),
        &ca,
        &["203.0.113.1", "203.0.113.2", "203.0.113.3"],
        &journal,
    );
    let log = dir.path().join("access.log");
    // Negative control: every request reached the backend from the router's tunnel address.
    let (code, out) = verify(&journal, &log, &["--expect", "lost", "--seen-as", ADDR::ROUTER_TUN4]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("30 of 30 logged requests seen as [10.1.0.1]"), "{out}");
    let (code, out) = verify(&journal, &log, &[]);
    assert_eq!(code, 100, "preserved must fail: {out}");
}

#[test]
fn ipv6_clients_work_end_to_end() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut lab = lab(dir.path(), &LabOptions { clients_v4: 1, clients_v6: 3, ..Default::default() });
    let ca = start_backend(&mut lab, dir.path());
    let journal = dir.path().join("j6.tsv");
    load(
        &lab,
        &format!("https://[{}]/", ADDR::ROUTER_WAN6),
        &ca,
        &["2001:db8:c::1", "2001:db8:c::2", "2001:db8:c::3"],
        &journal,
    );
    let (code, out) =
        verify(&journal, &dir.path().join("access.log"), &["--expect", "lost", "--seen-as", ADDR::ROUTER_TUN6]);
    assert_eq!(code, 0, "{out}");
    for src in ["2001:db8:c::1", "2001:db8:c::2", "2001:db8:c::3"] {
        assert!(out.contains(src), "every IPv6 client sent requests: {out}");
    }
}

#[test]
fn normal_teardown_removes_namespaces_and_processes() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut lab = lab(dir.path(), &LabOptions::default());
    let prefix = lab.prefix.clone();
    start_backend(&mut lab, dir.path());
    let pids: Vec<u32> = harness::netlab::Ledger::read(lab.ledger_path())
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            harness::netlab::LedgerEntry::Process { pid, .. } => Some(pid),
            _ => None,
        })
        .collect();
    assert_eq!(netns_with(&prefix).len(), 5);
    assert!(pids.iter().all(|p| alive(*p)) && !pids.is_empty());
    let report = lab.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(netns_with(&prefix).is_empty());
    assert_eq!(root_links_with(&prefix), 0);
    assert!(pids.iter().all(|p| !alive(*p)), "helpers killed");
    assert!(!state(dir.path()).join(format!("{prefix}.ledger")).exists(), "ledger removed after a clean teardown");
}

/// Start `routerlab lab up` as a separate process and wait for its `ready PREFIX` line.
/// Its stdout is drained by a thread, as a terminal would, until it exits.
fn lab_up(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(exe())
        .args(["lab", "up", "--clients", "20", "--run-dir", dir.join("run").to_str().unwrap()])
        .env("ROUTERLAB_STATE", state(dir))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let prefix = line.split_whitespace().nth(1).unwrap_or_else(|| panic!("no ready line: {line:?}")).to_string();
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, prefix)
}

#[test]
fn sigint_sigterm_and_sighup_mid_run_tear_down_alike() {
    harness::needs!(Root);
    // SIGHUP (a closed terminal) used to kill `lab up` without a teardown.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, prefix) = lab_up(dir.path());
        assert_eq!(netns_with(&prefix).len(), 5);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        if status.code() != Some(0) {
            // Killed before its handlers were in place: do not leave the lab behind.
            let _ = Command::new(exe()).args(["clean", "--state", state(dir.path()).to_str().unwrap()]).output();
        }
        assert_eq!(status.code(), Some(0), "signal {sig}: {status}");
        assert!(netns_with(&prefix).is_empty(), "signal {sig}: {:?}", netns_with(&prefix));
        assert_eq!(root_links_with(&prefix), 0, "signal {sig}");
    }
}

#[test]
fn sigkill_then_clean_removes_only_the_dead_run() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let (mut dead, dead_prefix) = lab_up(dir.path());
    let (mut live, live_prefix) = lab_up(dir.path());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(dead.id() as i32, libc::SIGKILL) };
    dead.wait().unwrap();
    assert_eq!(netns_with(&dead_prefix).len(), 5, "a killed runner leaves its lab behind");
    let out = Command::new(exe()).args(["clean", "--state", state(dir.path()).to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("run {dead_prefix}: removed")), "{text}");
    assert!(text.contains(&format!("netns {dead_prefix}-router")), "{text}");
    assert!(netns_with(&dead_prefix).is_empty());
    // The live run is untouched: clean removes what dead runs' ledgers list, nothing else.
    assert_eq!(netns_with(&live_prefix).len(), 5);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    assert_eq!(live.wait().unwrap().code(), Some(0));
    assert!(netns_with(&live_prefix).is_empty());
    let again = Command::new(exe()).args(["clean", "--state", state(dir.path()).to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to clean"));
}

#[test]
fn two_labs_side_by_side_do_not_collide() {
    harness::needs!(Root);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lab(d1.path(), &LabOptions::default()), lab(d2.path(), &LabOptions::default()));
    assert_ne!(a.prefix, b.prefix);
    for l in [&a, &b] {
        assert!(l
            .exec_any("clients", "ping", &["-c1", "-W2", "-I", "203.0.113.1", ADDR::ROUTER_WAN4])
            .unwrap()
            .status
            .success());
    }
}

#[test]
fn bad_lab_options_are_rejected_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(exe())
        .args(["lab", "up", "--clients", "5000", "--once"])
        .env("ROUTERLAB_STATE", state(dir.path()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clients: 1-"));
    assert!(!state(dir.path()).exists() || std::fs::read_dir(state(dir.path())).unwrap().next().is_none());
}

#[test]
fn impairments_are_applied_or_reported_never_ignored() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let wan = harness::netlab::Impairment {
        delay: Some(Duration::from_millis(20)),
        loss_pct: Some("1".into()),
        ..Default::default()
    };
    let lab = lab(dir.path(), &LabOptions { wan_impair: wan, ..Default::default() });
    for (host, ifname) in [("internet", "in1"), ("router", "wan0")] {
        let qd = lab.exec_any(host, "tc", &["qdisc", "show", "dev", ifname]).unwrap();
        let applied = String::from_utf8_lossy(&qd.stdout).contains("netem");
        let reported = lab
            .unapplied
            .iter()
            .any(|m| m.starts_with(&format!("link wan on {host}/{ifname}: netem delay 20000us loss 1% not applied")));
        assert!(applied != reported, "{host}/{ifname}: applied={applied}, reported={:?}", lab.unapplied);
    }
    assert_eq!(lab.unapplied.len() % 2, 0, "both ends succeed or fail alike: {:?}", lab.unapplied);
}

/// The real thing: the aarch64 router VM's kernel WireGuard against boringtun in the hub
/// namespace, over taps bridged into the lab. The handshake completes on both ends and
/// traffic crosses the tunnel to the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireguard_between_the_router_vm_and_the_hub() {
    harness::needs!(Root, Qemu);
    use harness::netlab::{router_steps, start_hub, GuestStep, Tunnel, WgPlan, TUN_MAC, WAN_MAC};
    use harness::vm::{boot, BootOptions, ImageSource, Nic, NicBackend, Target};
    let dir = tempfile::tempdir().unwrap();
    let mut lab = lab(dir.path(), &LabOptions { router_vm: true, tunnel: Tunnel::WireGuard, ..Default::default() });
    let plan = WgPlan::new(&lab).unwrap();
    start_hub(&mut lab, &plan).await.unwrap();

    let mut opts = BootOptions::new("router", lab.run_dir.clone());
    opts.netns = Some(lab.ns("router"));
    opts.extra_nics = vec![
        Nic { id: "wan".into(), backend: NicBackend::Tap { ifname: "wan0".into() }, mac: Some(WAN_MAC.into()) },
        Nic { id: "tun".into(), backend: NicBackend::Tap { ifname: "tun0".into() }, mac: Some(TUN_MAC.into()) },
    ];
    let images = ImageSource::Recipe {
        images_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("images"),
        cache: harness::image::cache_root(),
    };
    let (mut vm, _) = boot(Target::Aarch64Virt, &images, &opts).await.unwrap();
    for step in router_steps(Some(&plan), None) {
        match step {
            GuestStep::Run(cmd) => {
                let out = vm.exec(&cmd).await.unwrap();
                assert_eq!(out.status, 0, "`{cmd}`: {}", out.stdout);
            }
            GuestStep::File { path, contents } => vm.write_file(&path, contents.as_bytes()).await.unwrap(),
            GuestStep::Copy { .. } => panic!("the router's network copies no host files"),
        }
    }
    // Traffic crosses the tunnel: to the hub's tunnel address and on to the backend.
    let out = vm.exec("ping -c 3 -W 3 10.1.0.2").await.unwrap();
    assert_eq!(out.status, 0, "{}", out.stdout);
    let out = vm.exec("ping -c 2 -W 3 10.2.0.1").await.unwrap();
    assert_eq!(out.status, 0, "{}", out.stdout);
    // The handshake is recorded on both ends, and bytes moved through boringtun.
    let guest = vm.exec("wg show wg0 latest-handshakes").await.unwrap().stdout;
    let guest_ts: u64 = guest.split_whitespace().nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
    assert!(guest_ts > 0, "guest: {guest}");
    let hub = lab.exec("hub", "wg", &["show", &plan.hub_ifname, "transfer"]).unwrap();
    let hub = String::from_utf8_lossy(&hub.stdout).to_string();
    let rx: u64 = hub.split_whitespace().nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
    assert!(rx > 0, "hub transfer: {hub}");
    // The internet side reaches the VM's WAN through the tap bridge.
    assert!(lab.exec_any("internet", "ping", &["-c1", "-W3", ADDR::ROUTER_WAN4]).unwrap().status.success());
    let prefix = lab.prefix.clone();
    let sock = PathBuf::from(format!("/var/run/wireguard/{}.sock", plan.hub_ifname));
    vm.quit().await.unwrap();
    let report = lab.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(netns_with(&prefix).is_empty());
    assert!(!sock.exists(), "boringtun's socket is cleaned up");
}
