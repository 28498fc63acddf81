//! A runner killed mid-cell: SIGKILL runs no teardown, yet no process it started may outlive
//! it (QEMU, boringtun, the backend, the load generator), and the next `run` removes the
//! namespaces the dead run left. Boots a real aarch64 router (needs root, QEMU and the image).
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::exe;

/// PID to parent PID of every live, non-zombie process.
fn parents() -> HashMap<u32, u32> {
    let mut m = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let rest: Vec<&str> = stat.rsplit_once(')').map(|r| r.1).unwrap_or("").split_whitespace().collect();
        if rest.first() != Some(&"Z") {
            if let Some(ppid) = rest.get(1).and_then(|p| p.parse().ok()) {
                m.insert(pid, ppid);
            }
        }
    }
    m
}

fn descendants(root: u32) -> Vec<u32> {
    let p = parents();
    let mut out = vec![];
    let mut todo = vec![root];
    while let Some(x) = todo.pop() {
        for (&c, &pp) in &p {
            if pp == x {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

fn netns_with(prefix: &str) -> usize {
    let o = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with(prefix)).count()
}

fn prefix_of(state: &Path) -> String {
    let ledger = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "ledger"));
    ledger.unwrap().file_stem().unwrap().to_string_lossy().into_owned()
}

/// Read the run's stderr until its steady phase starts; keep draining it after.
fn wait_for_steady(child: &mut std::process::Child) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("steady load") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "the run ended before its steady phase: {seen}");
        seen += &line;
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
}

fn alive(pids: &[u32]) -> usize {
    let p = parents();
    pids.iter().filter(|k| p.contains_key(k)).count()
}

#[test]
fn sigterm_mid_steady_writes_the_report_with_the_cell_interrupted_and_tears_all_down() {
    harness::needs!(Root, Qemu);
    let d = tempfile::tempdir().unwrap();
    let (state, out) = (d.path().join("state"), d.path().join("out"));
    let mut child = Command::new(exe())
        .args(["run", "scenarios/haproxy-reencrypt-xff.toml", "--target", "aarch64-virt", "--duration", "120s"])
        .args(["--no-insn-count", "--out", out.to_str().unwrap()])
        .env("ROUTERLAB_STATE", &state)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_steady(&mut child);
    let kids = descendants(child.id());
    let prefix = prefix_of(&state);
    let t0 = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let took = t0.elapsed();
    assert_eq!(status.code(), Some(130), "the documented code for an interrupted run");
    assert!(took < Duration::from_secs(30), "SIGTERM must not wait out a 120 s phase: {took:?}");
    assert_eq!(alive(&kids), 0, "nothing the run started is left");
    assert_eq!(netns_with(&prefix), 0, "the lab is torn down");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{report}");
    assert_eq!(cells[0]["outcome"], "interrupted", "{report}");
    assert!(cells[0]["error"].as_str().unwrap().contains("SIGTERM"), "{report}");
}

#[test]
fn sigkill_mid_steady_leaves_no_process_and_the_next_run_removes_the_rest() {
    harness::needs!(Root, Qemu);
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let run = |out: &str| {
        let mut c = Command::new(exe());
        c.args(["run", "scenarios/haproxy-reencrypt-xff.toml", "--target", "aarch64-virt", "--no-insn-count"])
            .args(["--out", d.path().join(out).to_str().unwrap()])
            .env("ROUTERLAB_STATE", &state)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    };
    let mut child = run("killed").args(["--duration", "120s"]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_steady(&mut child);
    std::thread::sleep(Duration::from_secs(2));
    let kids = descendants(child.id());
    let names: Vec<String> = kids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
        .map(|s| s.trim().into())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("qemu-system")), "QEMU runs under the runner: {names:?}");
    assert!(names.iter().any(|n| n == "boringtun-cli"), "{names:?}");
    let prefix = prefix_of(&state);
    assert_eq!(netns_with(&prefix), 5);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let t0 = Instant::now();
    while alive(&kids) > 0 && t0.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(alive(&kids), 0, "1 s after SIGKILL, of {names:?}");
    assert_eq!(netns_with(&prefix), 5, "namespaces are not processes: they stay until cleaned");

    // The next run removes them first, and says so.
    let o = run("next").args(["--duration", "1s"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains(&format!("removed what dead runs left ({prefix})")), "{text}");
    assert_eq!(netns_with(&prefix), 0);
}
