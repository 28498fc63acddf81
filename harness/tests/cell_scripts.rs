//! Every shipped scenario's cell script, without root or QEMU: what the router runs, the
//! proxy's files and start, the backend's and the load's arguments, the expectation. The
//! scripts are kept as reviewable text in `tests/snapshots/<scenario>[-<build>].txt`, so a
//! change in a router command shows up as a diff. `UPDATE_SNAPSHOTS=1 cargo test --test
//! cell_scripts` rewrites them after a deliberate change.
use std::path::{Path, PathBuf};

use harness::netlab::{GuestStep, Tunnel, WgKeys, WgPlan, ADDR};
use harness::runner::{plan_cell, CellDirs, CellScript, ProxyBinary};
use harness::scenario::{load_plan, BuildSource, Plan, ProxyKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped() -> Vec<Plan> {
    let mut files: Vec<PathBuf> = ["scenarios", "scenarios/faults"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.iter().map(|f| load_plan(f).unwrap_or_else(|e| panic!("{e}"))).collect()
}

/// Fixed keys, so the snapshots do not change from run to run.
fn wg() -> WgPlan {
    let k = |s: &str| WgKeys { private: format!("{s}-private-key"), public: format!("{s}-public-key") };
    WgPlan { router: k("router"), hub: k("hub"), hub_ifname: "rlXXwg".into(), port: 51820 }
}

/// Each build of a scenario with the binary it would have in the guest.
fn scripts(plan: &Plan) -> Vec<(String, CellScript)> {
    let wg = (plan.lab.tunnel == Tunnel::WireGuard).then(wg);
    let dirs =
        CellDirs { pki: Path::new("pki"), cell: Path::new("cell"), templates: &root().join("scenarios/templates") };
    if plan.proxy.kind == ProxyKind::L4Forward {
        return vec![(plan.name.clone(), plan_cell(plan, None, wg.as_ref(), &dirs).unwrap())];
    }
    plan.proxy
        .builds
        .iter()
        .map(|b| {
            let bin = match (&b.source, plan.proxy.kind) {
                (BuildSource::Image, ProxyKind::Nginx) => "/usr/sbin/nginx".to_string(),
                (BuildSource::Image, _) => "/usr/sbin/haproxy".to_string(),
                _ => format!("/opt/build/{}", b.path),
            };
            let binary = ProxyBinary { bin, env: String::new() };
            let name =
                if plan.proxy.builds.len() > 1 { format!("{}-{}", plan.name, b.name) } else { plan.name.clone() };
            let script =
                plan_cell(plan, Some((b, &binary)), wg.as_ref(), &dirs).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, script)
        })
        .collect()
}

#[test]
fn every_shipped_scenario_has_the_script_its_snapshot_shows() {
    let dir = root().join("harness/tests/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut names = Vec::new();
    let mut stale = Vec::new();
    for plan in shipped() {
        for (name, script) in scripts(&plan) {
            let path = dir.join(format!("{name}.txt"));
            let text = script.to_string();
            if update {
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(format!("{} (now:\n{text})", path.display()));
            }
            names.push(format!("{name}.txt"));
        }
    }
    assert!(
        stale.is_empty(),
        "scripts differ from their snapshots; review and rerun with UPDATE_SNAPSHOTS=1:\n{}",
        stale.join("\n")
    );
    // No snapshot is left over from a scenario that is gone.
    for e in std::fs::read_dir(&dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(names.contains(&n) || update, "{n} belongs to no shipped scenario");
    }
}

#[test]
fn every_script_reaches_the_router_and_expects_what_its_scenario_says() {
    for plan in shipped() {
        for (name, s) in scripts(&plan) {
            let v6 = plan.lab.clients6 > 0;
            let wan = if v6 { format!("[{}]", ADDR::ROUTER_WAN6) } else { ADDR::ROUTER_WAN4.to_string() };
            assert_eq!(s.url, format!("https://{wan}/"), "{name}");
            assert_eq!(s.sources.len(), if v6 { plan.lab.clients6 } else { plan.lab.clients }, "{name}");
            assert!(s.sources.iter().all(|a| a.is_ipv6() == v6), "{name}");
            let runs: Vec<&str> = s
                .router
                .iter()
                .filter_map(|x| if let GuestStep::Run(c) = x { Some(c.as_str()) } else { None })
                .collect();
            assert_eq!(
                runs.iter().any(|c| c.contains("ip link add wg0 type wireguard")),
                plan.lab.tunnel == Tunnel::WireGuard,
                "{name}"
            );
            match plan.proxy.kind {
                ProxyKind::L4Forward => {
                    assert!(s.proxy.process.is_none() && s.proxy.stop.is_none() && s.proxy.alive.is_none(), "{name}")
                }
                _ => {
                    let start = match s.proxy.deploy.last() {
                        Some(GuestStep::Run(c)) => c.clone(),
                        other => panic!("{name}: the last step starts the proxy, not {other:?}"),
                    };
                    assert!(start.contains(s.proxy.process.as_deref().unwrap()), "{name}: {start}");
                    let alive = s.proxy.alive.as_deref().unwrap_or_default();
                    assert!(
                        alive.contains(&format!("pidof {}", s.proxy.process.as_deref().unwrap())),
                        "{name}: {alive}"
                    );
                    assert!(s
                        .proxy
                        .deploy
                        .iter()
                        .any(|x| matches!(x, GuestStep::Copy { path, .. } if path.ends_with("frontend.pem"))));
                    assert!(!s.proxy.config.contains("{{"), "{name}");
                }
            }
            let lost = matches!(s.expected, harness::reconcile::Expect::Lost { .. });
            assert_eq!(lost, plan.expect == harness::model::Verdict::Lost, "{name}");
        }
    }
}
