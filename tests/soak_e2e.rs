//! Ninety seconds of the soak (scenarios/soak/soak.toml) on aarch64: the open loop holds its
//! rate, every request id is accounted for, and the leak detector reports a slope for the
//! proxy, the guest and routerlab's own load generator and backend, each far below a real
//! leak. The hour's 64 KiB/min budget is judged by `ci/soak`.
use std::process::Command;

mod common;
use common::root;

fn assertion<'a>(cell: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    cell["assertions"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn ninety_seconds_of_soak_hold_the_rate_and_report_memory_slopes() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(["run", "scenarios/soak/soak.toml", "--target", "aarch64-virt", "--duration", "90s", "--idle", "0s"])
        .args(["--out", dir.path().to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect(&out)).unwrap();
    let c = &report["cells"][0];
    // Every assertion but the two slopes must pass. Ninety seconds cannot hold the hour's
    // 64 KiB/min budget: a backend that replaced 4 of its 20 TLS connections rose 236 KiB
    // in 90 s (184 KiB/min) and stayed there; allocator steps of that size are noise on
    // this scale. So here the slopes must be reported and under what a real leak gives
    // (1 KiB per request at 40 req/s is 2.4 MiB/min); ci/soak judges the hour. A step
    // fits steepest in the middle of the window, at 1.5 x its height per window: a 496 KiB
    // step of a host helper read 530 KiB/min over 66 s, so the bound is 1 MiB/min.
    for a in c["assertions"].as_array().unwrap() {
        let growth = a["name"] == "rss-growth" || a["name"] == "harness-rss-growth";
        assert!(growth || a["passed"] == true, "{a}: {out}");
    }
    // Open loop at 40 req/s for 90 s: every request sent on schedule and accounted for.
    let ip = &c["client_ip"];
    assert_eq!(ip["sent"].as_u64(), Some(3600), "{ip}");
    assert_eq!(ip["sent"].as_u64(), Some(ip["logged"].as_u64().unwrap() + ip["failed"].as_u64().unwrap()));
    for name in ["rss-growth", "harness-rss-growth"] {
        assert!(assertion(c, name)["evidence"].as_str().unwrap().contains("KiB/min over"), "{name}");
    }
    // Slopes come from samples across the phase after its settling quarter (67.5 of 90 s):
    // the guest agent's (the proxy's about 2 per second, the guest's memory with its clock
    // every 2 s) and the host's (1 per second).
    let m = &c["metrics"];
    let series = [
        ("proxy", &m["rss_growth"], 100),
        ("guest", &m["guest_mem_used_growth"], 28),
        ("load", &c["helpers"]["load"], 55),
        ("backend", &c["helpers"]["backend"], 55),
    ];
    for (name, g, at_least) in series {
        assert!(g["samples"].as_u64().unwrap() >= at_least, "{name}: {g}");
        assert!((63.0..=72.0).contains(&g["span_s"].as_f64().unwrap()), "{name}: {g}");
        assert!(g["first_kb"].as_u64().unwrap() > 1000, "{name}: {g}");
        assert!(g["kib_per_min"].as_f64().unwrap() < 1024.0, "{name}: a leak: {g}");
    }
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/report.schema.json")).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&report).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
