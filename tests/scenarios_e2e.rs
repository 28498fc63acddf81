//! The shipped scenarios end to end with short load phases: real QEMU, real HAProxy and
//! nginx in the guest, real namespaces, nftables NAT and WireGuard. report.json is
//! validated against docs/report.schema.json.
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
mod ramps;
use common::root;
use harness::model::{CellDir, LoadPhase, Outcome, Verdict};
use ramps::{check_ramp, steps_not_run};

/// Cells the shipped scenarios make on `target` (all targets when `None`).
fn shipped_cells(target: Option<&str>) -> usize {
    harness::testkit::shipped_cells(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"), target)
}

fn schema() -> jsonschema::Validator {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/report.schema.json")).unwrap()).unwrap();
    jsonschema::validator_for(&s).unwrap()
}

fn run(args: &[&str], out: &Path) -> (i32, serde_json::Value, String) {
    let r = common::run(args, out);
    (r.code, r.json, r.out)
}

fn assert_valid(report: &serde_json::Value) {
    let v = schema();
    let errors: Vec<String> = v.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "report.json does not match the schema: {errors:?}");
}

/// What every passing shipped cell must show, read through the report's typed model.
fn check_cells(report: &serde_json::Value, out: &str) {
    let typed: harness::model::Report = serde_json::from_value(report.clone()).expect("report.json is the model");
    for c in &typed.cells {
        let name = c.scenario.as_str();
        assert_eq!(c.outcome, Outcome::Pass, "{name} on {}: {out}", c.target);
        let ip = &c.client_ip;
        assert!(ip.sent > 0, "{name}: no observation");
        assert_eq!(ip.sent, ip.logged + ip.failed, "{name}: sent = logged + failed");
        // The steady phase's latency: a histogram to merge in report.json, an interval log beside it.
        let load = c.load.as_ref().unwrap_or_else(|| panic!("{name}: no load summary"));
        assert!(load.latency_us.effective_hist.as_ref().is_some_and(|h| h.len() > 20), "{name}");
        let hlog = std::fs::read_to_string(CellDir(Path::new(&c.dir)).hlog(LoadPhase::Steady)).unwrap();
        assert!(hlog.lines().any(|l| l.starts_with("Tag=steady,")), "{name}: {hlog}");
        // Every link was recorded (the default, on-failure) and, the cell passing, dropped.
        let cap = c.capture.as_ref().unwrap_or_else(|| panic!("{name}: no capture section"));
        assert!(cap.error.is_none() && !cap.kept, "{name}: {cap:?}");
        assert!(!Path::new(&c.dir).join("capture").exists(), "{name}");
        let want = if name == "l4-forward-baseline" { Verdict::Lost } else { Verdict::Preserved };
        assert_eq!(ip.verdict, Some(want), "{name}");
        // Every cell counts guest instructions (the plugin is built with the binary).
        let i = c.insns.as_ref().unwrap_or_else(|| panic!("{name}: no insns section"));
        assert!(i.unavailable.is_none(), "{name}: {i:?}");
        let steady = i.steady.as_ref().unwrap_or_else(|| panic!("{name}: {i:?}"));
        assert!(steady.total > 1_000_000, "{name}: {i:?}");
        assert!(steady.per_request_raw.is_some_and(|x| x > 1_000.0), "{name}: {i:?}");
        // Connection reuse is reported on both legs of every cell (issue 14), and every
        // terminating proxy under keep-alive load reuses its backend connections.
        let conns = c.connections.as_ref().unwrap_or_else(|| panic!("{name}: no connections"));
        let (Some(backend), Some(client)) = (&conns.backend, &conns.client) else { panic!("{name}: {conns:?}") };
        assert!(backend.connections > 0 && client.connections > 0, "{name}: {conns:?}");
        if c.proxy.contains("terminate") && c.proxy.ends_with("keep-alive") {
            let per = backend.requests_per_connection.unwrap_or(0.0);
            assert!(per >= 20.0, "{name} on {}: {per:.1} requests per backend connection: {conns:?}", c.target);
        }
        if name != "l4-forward-baseline" {
            let m = c.metrics.as_ref().unwrap_or_else(|| panic!("{name}: no metrics"));
            assert!(m.samples > 0, "{name}: proxy metrics sampled");
            assert!(m.rss_peak_kb.is_some_and(|kb| kb > 0), "{name}");
            assert!(m.qemu_host_cpu_mean_pct.is_some_and(|p| p > 1.0), "{name}: QEMU's host CPU sampled");
        }
    }
}

#[test]
fn shipped_scenarios_on_aarch64_virt() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(
        &["scenarios", "--target", "aarch64-virt", "--duration", "2s", "--warmup", "300ms", "--idle", "1s"],
        dir.path(),
    );
    assert_valid(&report);
    let cells = shipped_cells(Some("aarch64-virt")) - steps_not_run(&report);
    assert_eq!(report["cells"].as_array().unwrap().len(), cells, "{out}");
    check_cells(&report, &out);
    assert_eq!(code, 0, "{out}");
    // The custom proxy (hitch, fetched for arm64 and carried in over the WAN) says what ran.
    let hitch = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "custom-hitch-proxy-v2").unwrap();
    assert_eq!(hitch["build"]["name"], "hitch-1.7.2");
    assert!(hitch["build"]["version"].as_str().unwrap().starts_with("hitch 1.7"), "{hitch}");
    assert_eq!(hitch["build"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(hitch["build"]["libc"], "glibc", "read from the staged binary: {hitch}");
    // The image's own HAProxy is described the same way, its libc from the image manifest.
    let ha = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "haproxy-reencrypt-xff").unwrap();
    assert_eq!(ha["build"]["source"], "image");
    assert!(ha["build"]["version"].as_str().unwrap().starts_with("HAProxy version 2.6"), "{ha}");
    assert_eq!(ha["build"]["libc"], "glibc", "{ha}");
    assert!(["ip", "wg", "nft", "tc"].iter().all(|t| tool_names(ha).contains(t)), "{}", ha["router_tools"]);
    // What people read is written beside report.json, and the JUnit XML is valid.
    for f in ["report.html", "summary.md", "junit.xml"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let x = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("docs/junit.xsd"))
        .arg(dir.path().join("junit.xml"))
        .output()
        .expect("xmllint (libxml2-utils, installed by ci/setup)");
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("<section class=\"cell\"").count(), cells);
    // The run directory keeps what a person needs to look again.
    let cell = dir.path().join("haproxy-reencrypt-xff-aarch64-virt");
    assert!(dir.path().join("report.json").is_file());
    for f in [
        "router.console.log",
        "router.qemu.sh",
        "proxy.conf",
        "access.log",
        "steady.journal.tsv",
        "pki/ca.crt",
        "guest-kernel.log",
        "timeline.json",
    ] {
        assert!(cell.join(f).exists(), "{f}");
    }
    assert!(std::fs::read_to_string(cell.join("proxy.conf")).unwrap().contains("option forwardfor"));
    // The real nginx backend's config is kept: realip trusts the router only.
    let ngx =
        std::fs::read_to_string(dir.path().join("haproxy-reencrypt-xff-nginx-backend-aarch64-virt/nginx-backend.conf"))
            .unwrap();
    assert!(ngx.contains("set_real_ip_from 10.1.0.1/32;") && ngx.contains("real_ip_header X-Forwarded-For;"), "{ngx}");
    // The same requests in the common `main` format name the forged 6.6.6.6: flagged.
    let ngx_cell = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scenario"] == "haproxy-reencrypt-xff-nginx-backend")
        .unwrap();
    let flags = ngx_cell["spoofable"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("nginx log_format main:")
                && f.as_str().unwrap().contains("(6.6.6.6)")),
        "{flags:?}"
    );
    let rl_cell = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "spoofed-xff").unwrap();
    assert!(rl_cell["spoofable"].as_array().unwrap().is_empty(), "routerlab's backend log is not spoofable");
    check_ramp(&report, &out);
}

/// The names in a cell's `router_tools`.
fn tool_names(cell: &serde_json::Value) -> Vec<&str> {
    cell["router_tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

/// The scenarios the OpenWrt issue names, on real OpenWrt userlands (procd, netifd, musl;
/// mipsel's from the MT7621 feed on a 34Kf) with Debian's HAProxy and nginx carried in
/// beside musl: every request accounted for, instructions per request reported, and the
/// layer-4 forward still losing the client's address.
#[test]
fn shipped_scenarios_on_openwrt() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    let scenarios = [
        "scenarios/haproxy-reencrypt-xff.toml",
        "scenarios/l4-forward-baseline.toml",
        "scenarios/nginx-stream-proxy-protocol.toml",
    ];
    for target in ["aarch64-virt-openwrt", "mipsel-malta-openwrt"] {
        let dir = tempfile::tempdir().unwrap();
        let args =
            [&scenarios[..], &["--target", target, "--duration", "2s", "--warmup", "300ms", "--idle", "1s"]].concat();
        let (code, report, out) = run(&args, dir.path());
        assert_valid(&report);
        assert_eq!(report["cells"].as_array().unwrap().len(), 3, "{out}");
        check_cells(&report, &out);
        assert_eq!(code, 0, "{target}: {out}");
        let l4 = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "l4-forward-baseline").unwrap();
        assert_eq!(l4["client_ip"]["verdict"], "lost", "{target}: NAT before the backend still loses it");
        let console =
            std::fs::read_to_string(dir.path().join(format!("haproxy-reencrypt-xff-{target}/router.console.log")))
                .unwrap();
        assert!(console.contains("root@OpenWrt"), "{target}: provisioned through OpenWrt's console");
        // The report says which tools the lab used and whose they are, and the build's libc:
        // the MT7621 feed brings its own musl wg and nft; 19.07.7 armvirt has neither, so
        // Debian's glibc ones are carried in. The proxy is Debian's glibc HAProxy on both.
        let ha = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "haproxy-reencrypt-xff").unwrap();
        assert_eq!(ha["build"]["libc"], "glibc", "{target}: {}", ha["build"]);
        let tool = |name: &str| ha["router_tools"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned();
        let wanted = if target == "mipsel-malta-openwrt" { ("OpenWrt", "musl") } else { ("Debian", "glibc") };
        for name in ["wg", "nft"] {
            let t = tool(name).unwrap_or_else(|| panic!("{target}: {name} in {}", ha["router_tools"]));
            assert_eq!((t["from"].as_str().unwrap(), t["libc"].as_str().unwrap()), wanted, "{target}: {t}");
        }
    }
}

#[test]
fn shipped_scenarios_on_mipsel_malta() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(
        &["scenarios", "--target", "mipsel-malta", "--duration", "2s", "--warmup", "300ms", "--idle", "1s"],
        dir.path(),
    );
    assert_valid(&report);
    let cells = shipped_cells(Some("mipsel-malta")) - steps_not_run(&report);
    assert_eq!(report["cells"].as_array().unwrap().len(), cells, "{out}");
    check_cells(&report, &out);
    // Forwarded traffic keeps flowing for the whole phase (it used to stall after a few
    // hundred packets while the WAN and tunnel NICs shared an IRQ line on malta).
    let l4 = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "l4-forward-baseline").unwrap();
    assert!(l4["client_ip"]["sent"].as_u64().unwrap() > 1000, "{l4}");
    // The custom build was fetched for mipsel, not arm64.
    let hitch = report["cells"].as_array().unwrap().iter().find(|c| c["scenario"] == "custom-hitch-proxy-v2").unwrap();
    assert!(hitch["build"]["version"].as_str().unwrap().starts_with("hitch 1.7"), "{hitch}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_broken_proxy_config_is_reported_with_haproxys_own_message() {
    harness::needs!(Root, Qemu);
    // A copy of images/ (same recipe, so the cached image is reused) beside templates whose
    // HAProxy config has a keyword HAProxy does not know.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let cp = Command::new("cp")
        .args(["-r", root().join("images").to_str().unwrap(), repo.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(cp.success());
    let t = repo.join("scenarios/templates");
    std::fs::create_dir_all(&t).unwrap();
    let good = std::fs::read_to_string(root().join("scenarios/templates/haproxy-terminate-reencrypt.cfg")).unwrap();
    std::fs::write(
        t.join("haproxy-terminate-reencrypt.cfg"),
        good.replace("default_backend web", "default_backend web\n    bogus_keyword_for_test on"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, report, text) = run(
        &[
            "scenarios/haproxy-reencrypt-xff.toml",
            "--target",
            "aarch64-virt",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--images",
            repo.join("images").to_str().unwrap(),
        ],
        &out,
    );
    assert_valid(&report);
    assert_eq!(code, 101, "{text}");
    let err = report["cells"][0]["error"].as_str().unwrap();
    assert!(err.contains("deploying haproxy failed") && err.contains("bogus_keyword_for_test"), "{err}");
    // A config that passes HAProxy's check but cannot start (an address the router does not
    // have): the deploy fails with HAProxy's own words from its log.
    std::fs::write(repo.join("unbindable.cfg"), good.replace("bind :443 ssl", "bind 192.0.2.99:443 ssl")).unwrap();
    let build = repo.join("unbindable.toml");
    std::fs::write(&build, "name = \"haproxy-unbindable\"\nconfig = \"unbindable.cfg\"\n").unwrap();
    let args =
        ["scenarios/haproxy-reencrypt-xff.toml", "--target", "aarch64-virt", "--duration", "1s", "--repeat", "1"];
    let (code, report, text) =
        run(&[&args[..], &["--builds", build.to_str().unwrap()]].concat(), &dir.path().join("out2"));
    assert_eq!(code, 101, "{text}");
    let err = report["cells"][0]["error"].as_str().unwrap();
    assert!(err.contains("deploying haproxy failed") && err.contains("cannot bind socket"), "{err}");
}

#[test]
fn the_schema_rejects_a_malformed_report() {
    harness::needs!(Root, Qemu);
    let bad = serde_json::json!({
        "schema_version": 1, "routerlab_version": "0", "started_at": "x", "host": "h",
        "cells": [{ "scenario": "s", "target": "aarch64-virt", "proxy": "p", "tunnel": "t", "expect": "preserved", "outcome": "pass",
                    "client_ip": { "sent": 1, "logged": 1, "failed": 0, "mismatches": "none", "verdict": "preserved" },
                    "assertions": [], "timings": { "lab_s": 0, "boot_s": 0, "deploy_s": 0, "warmup_s": 0, "steady_s": 0, "teardown_s": 0 }, "dir": "d" }]
    });
    assert!(!schema().is_valid(&bad), "mismatches must be an integer");
}

#[test]
fn wan_impairment_is_applied_in_the_guest_and_reported() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("impaired.toml");
    std::fs::write(
        &scenario,
        "name = \"impaired-wan\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"\n\
         [lab.impair-wan]\ndelay = \"30ms\"\n[load]\nwarmup = \"0s\"\nduration = \"2s\"\nconnections = 2\n[expect]\nclient-ip = \"preserved\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, report, text) = run(&[scenario.to_str().unwrap()], &out);
    assert_valid(&report);
    assert_eq!(code, 0, "{text}");
    let c = &report["cells"][0];
    let applied: Vec<&str> = c["impairments_applied"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let not_applied: Vec<&str> =
        c["impairments_not_applied"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(applied.iter().any(|a| a.starts_with("link wan on router/wan0: netem delay 30000us")), "{applied:?}");
    // The host side either has netem or says why not; it is never silently skipped.
    assert!(applied.iter().chain(&not_applied).any(|a| a.contains("internet/in1")), "{applied:?} {not_applied:?}");
    // Responses leave the router through the delayed WAN: every request waits at least 30 ms.
    let p50 = c["load"]["latency_us"]["ttfb"]["p50"].as_u64().unwrap();
    assert!(p50 >= 30_000, "ttfb p50 {p50} us");
}

#[test]
fn budgets_become_named_assertions() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let scenario = |name: &str, expect: &str| {
        let p = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "name = \"{name}\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"haproxy\"\nmode = \"passthrough-proxy-protocol\"\n\
                 client-ip-header = \"proxy-v2\"\n[load]\nwarmup = \"0s\"\nduration = \"2s\"\nconnections = 2\n[expect]\nclient-ip = \"preserved\"\n{expect}"
            ),
        )
        .unwrap();
        p
    };
    let generous = scenario("generous", "max-p99 = \"10s\"\nmax-proxy-cpu = 100.0\nmax-proxy-rss-mib = 256\n");
    let strict = scenario("strict", "max-p99 = \"1ms\"\n");
    let out = dir.path().join("out");
    let (code, report, text) = run(&[generous.to_str().unwrap(), strict.to_str().unwrap()], &out);
    assert_valid(&report);
    assert_eq!(code, 100, "a blown budget is an assertion failure: {text}");
    let cells = report["cells"].as_array().unwrap();
    let names = |c: &serde_json::Value, passed: bool| -> Vec<String> {
        c["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["passed"] == passed)
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(cells[0]["outcome"], "pass", "{text}");
    for n in ["latency-budget", "cpu-budget", "rss-budget"] {
        assert!(names(&cells[0], true).contains(&n.to_string()), "{n}: {}", cells[0]["assertions"]);
    }
    assert_eq!(cells[1]["outcome"], "fail");
    assert_eq!(names(&cells[1], false), ["latency-budget"], "{}", cells[1]["assertions"]);
    assert!(
        cells[0]["image_kernel_bytes"].as_u64().unwrap() > 1_000_000
            && cells[0]["image_initrd_bytes"].as_u64().unwrap() > 1_000_000
    );
}

#[test]
fn two_builds_alternate_in_one_run_and_are_compared() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(
        &[
            "scenarios/haproxy-reencrypt-xff.toml",
            "--target",
            "aarch64-virt",
            "--builds",
            "scenarios/builds/haproxy-image.toml,scenarios/builds/haproxy-bookworm-r0.toml",
            "--repeat",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "300ms",
        ],
        dir.path(),
    );
    assert_valid(&report);
    check_cells(&report, &out);
    assert_eq!(code, 0, "{out}");
    let cells = report["cells"].as_array().unwrap();
    let names: Vec<&str> = cells.iter().map(|c| c["build"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["haproxy-image", "haproxy-deb12u3", "haproxy-image", "haproxy-deb12u3"], "A B A B");
    assert_eq!((&cells[1]["build"], &cells[1]["build"]["sha256"]), (&cells[3]["build"], &cells[3]["build"]["sha256"]));
    // Two different binaries really ran: the alternate one came over the WAN.
    assert!(cells[1]["build"]["version"].as_str().unwrap().contains("2.6.12-1+deb12u3"), "{}", cells[1]["build"]);
    assert_ne!(cells[0]["build"]["sha256"], cells[1]["build"]["sha256"]);
    assert_eq!(cells[1]["build"]["source"], "apt haproxy=2.6.12-1+deb12u3");
    // B ran on A's router: one boot, paid by the first cell; the shared console is A's.
    assert!(cells[0]["timings"]["boot_s"].as_f64().unwrap() > 0.5);
    assert_eq!(cells[1]["timings"]["boot_s"].as_f64(), Some(0.0));
    let first = Path::new(cells[0]["dir"].as_str().unwrap());
    let second = Path::new(cells[1]["dir"].as_str().unwrap());
    assert!(first.join("router.console.log").is_file() && !second.join("router.console.log").exists());
    // B's certificates were A's, already on the router: checked by one sha256sum, not sent
    // again (a write shows its decode line twice on the console: the echo and the run).
    // The console is read as the guest echoed it: a kernel message may land inside a line
    // and a long line may wrap, so both are taken out before looking (CI saw this fail).
    let raw = std::fs::read_to_string(first.join("router.console.log")).unwrap();
    let console = squeezed(&raw);
    let sums: Vec<&str> = raw.lines().filter(|l| l.contains("sha256sum")).collect();
    assert!(
        console.contains("sha256sum/etc/routerlab/pki/frontend.pem/etc/routerlab/pki/frontend.crt"),
        "no one check of the certificates; the console's sha256sum lines: {sums:#?}"
    );
    let sent = console.matches("base64-d/etc/routerlab/pki/ca.crt.b64").count();
    assert!((1..=2).contains(&sent), "ca.crt decoded {sent} times: sent once, and not again for B");
    assert!(second.join("proxy.conf").is_file() && second.join("timeline.json").is_file());
    // Each cell's kernel log is its own: the ring is cleared after each cell, so the first
    // cell's kernel lines (the boot's, time-stamped) are not in the second's.
    let kernel = |d: &Path| std::fs::read_to_string(d.join("guest-kernel.log")).unwrap();
    let (k1, k2) = (kernel(first), kernel(second));
    let boot = k1.lines().find(|l| l.starts_with('[')).unwrap_or_else(|| panic!("no kernel line: {k1}"));
    assert!(!k2.contains(boot), "{boot:?} again in the second cell's log: {k2}");
    assert!(cells.iter().all(|c| c["assertions"].as_array().unwrap().iter().any(|a| a["name"] == "no-oom-kill")));
    // Each build's first cell measured the idle background; its second took that window.
    let idle_from = |c: &serde_json::Value| c["insns"]["idle_from"].as_str().map(String::from);
    let dir_name = |c: &serde_json::Value| {
        Path::new(c["dir"].as_str().unwrap()).file_name().map(|n| n.to_string_lossy().into_owned())
    };
    assert_eq!((idle_from(&cells[0]), idle_from(&cells[1])), (None, None), "{}", cells[1]["insns"]);
    assert_eq!((idle_from(&cells[2]), idle_from(&cells[3])), (dir_name(&cells[0]), dir_name(&cells[1])));
    assert_eq!(cells[3]["insns"]["quiet"], cells[1]["insns"]["quiet"]);
    assert_ne!(cells[1]["insns"]["quiet"], cells[0]["insns"]["quiet"], "each build its own window");
    let cmp = std::fs::read_to_string(dir.path().join("comparison.md")).unwrap();
    assert!(dir.path().join("comparison.html").is_file());
    assert!(cmp.contains("haproxy-image (baseline)") && cmp.contains("| rps (/s) |"), "{cmp}");
    // `compare` on the run directory: builds are the sides; a gate that cannot hold (B has
    // more than a million times A's RSS) passes, one that always holds trips with 102.
    let c = |gate: &str| {
        Command::new(common::exe()).args(["compare", dir.path().to_str().unwrap(), "--fail-if", gate]).output().unwrap()
    };
    let ok = c("rss > 1000000x");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let trip = c("client-ip == preserved");
    assert_eq!(trip.status.code(), Some(102), "{}", String::from_utf8_lossy(&trip.stdout));
    assert!(String::from_utf8_lossy(&trip.stdout).contains("REGRESSION client-ip == preserved"));
}

/// The shipped fault scenarios on aarch64: every fault is applied, shows in the report and
/// its plots, costs some requests, and every client address is served again in time.
#[test]
fn faults_are_applied_recovered_from_and_reported() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(&["scenarios/faults", "--target", "aarch64-virt", "--idle", "0s"], dir.path());
    assert_valid(&report);
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{out}");
    for c in cells {
        let name = c["scenario"].as_str().unwrap();
        assert_eq!(c["outcome"], "pass", "{name}: {out}");
        let faults = c["faults"].as_array().unwrap();
        let want = if name == "network-faults" { 3 } else { 2 };
        assert_eq!(faults.len(), want, "{name}: {faults:?}");
        for (i, f) in faults.iter().enumerate() {
            assert!(f["error"].is_null(), "{name}: {f}");
            assert!(f["end_s"].as_f64() >= f["start_s"].as_f64(), "{name}: {f}");
            let recovery = format!("fault-{}-recovery", i + 1);
            assert!(
                c["assertions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["name"] == recovery.as_str() && a["passed"] == true),
                "{name}: {recovery}"
            );
        }
        let ip = &c["client_ip"];
        assert_eq!(
            ip["sent"].as_u64(),
            Some(ip["logged"].as_u64().unwrap() + ip["failed"].as_u64().unwrap()),
            "{name}"
        );
    }
    // The network faults did something: TCP rides out 1 s outages, so requests stall rather
    // than fail, and a 1 s freeze of the router stalls at least one by a second. The plots
    // shade the faults.
    let net = cells.iter().find(|c| c["scenario"] == "network-faults").unwrap();
    let max_ms = net["load"]["latency_us"]["total"]["max"].as_u64().unwrap() / 1000;
    assert!(max_ms >= 900, "the slowest request took {max_ms} ms: did the faults happen? {out}");
    freeze_is_on_the_plots_clock(net);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for a in [
        "fault: flap-tunnel",
        "fault: drop-wan",
        "fault: pause-router",
        "fault: restart-proxy",
        "fault: restart-backend",
    ] {
        assert!(html.contains(a), "{a} not in the report");
    }
    assert_eq!(code, 0, "{out}");
}

/// The plots share the host's clock, which goes on while the router is frozen: the steady
/// phase spans the load's seconds, the freeze included, and no guest sample and no guest
/// instruction falls inside the freeze. (On the guest's uptime, which stands still then,
/// the phase came out a second short and later samples slid into the fault's window.)
fn freeze_is_on_the_plots_clock(cell: &serde_json::Value) {
    let path = Path::new(cell["dir"].as_str().unwrap()).join("timeline.json");
    let t: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let span = |p: &serde_json::Value| (p["start_s"].as_f64().unwrap(), p["end_s"].as_f64().unwrap());
    let phase = |name: &str| t["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).map(span);
    let (s0, s1) = phase("steady").unwrap();
    let load_s = cell["load"]["duration_s"].as_f64().unwrap();
    assert!(((s1 - s0) - load_s).abs() < 0.5, "steady phase {s0:.2}..{s1:.2} s for a {load_s:.2} s load");
    let faults = t["faults"].as_array().unwrap();
    let (f0, f1) = faults.iter().find(|f| f["name"] == "fault: pause-router").map(span).unwrap();
    assert!(f1 - f0 >= 0.9, "the freeze is 1 s: {f0:.2}..{f1:.2}");
    let inside = |x: f64| x > f0 + 0.25 && x < f1 - 0.25;
    let guest: Vec<f64> = t["guest"].as_array().unwrap().iter().map(|g| g["t"].as_f64().unwrap()).collect();
    assert!(!guest.iter().any(|&x| inside(x)), "a guest sample inside the freeze {f0:.2}..{f1:.2}: {guest:?}");
    let busy: Vec<&serde_json::Value> = t["insns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| inside(p["t"].as_f64().unwrap()))
        .filter(|p| p["user_per_s"].as_f64().unwrap() + p["kernel_per_s"].as_f64().unwrap() > 0.0)
        .collect();
    assert!(busy.is_empty(), "the frozen guest ran in {f0:.2}..{f1:.2}: {busy:?}");
    // The plugin's busy share: none while frozen, most of the CPU under load.
    let pts = t["insns"].as_array().unwrap();
    let share = |p: &serde_json::Value| p["busy_pct"].as_f64().unwrap_or(0.0);
    assert!(pts.iter().filter(|p| inside(p["t"].as_f64().unwrap())).all(|p| share(p) == 0.0), "{pts:?}");
    let loaded = pts.iter().filter(|p| (s0 + 0.5..f0 - 0.5).contains(&p["t"].as_f64().unwrap()));
    let max = loaded.map(share).fold(0.0, f64::max);
    assert!(max > 50.0, "the guest's busy share under load, from the plugin: at most {max:.1}%");
}

/// The negative control: a proxy killed and never restarted fails the cell, and the
/// evidence names the client addresses that were never served again, and that the proxy
/// was gone after the load.
#[test]
fn a_proxy_nobody_restarts_fails_the_cell_with_evidence() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("killed.toml");
    std::fs::write(
        &scenario,
        "name = \"proxy-killed\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"\n[load]\nduration = \"5s\"\nconnections = 3\n[[fault]]\nat = \"1s\"\naction = \"kill-proxy\"\n[expect]\nclient-ip = \"preserved\"\nmax-error-rate = 1.0\nmax-recovery = \"2s\"\n",
    )
    .unwrap();
    let out_dir = dir.path().join("run");
    let (code, report, out) = run(&[scenario.to_str().unwrap(), "--idle", "0s"], &out_dir);
    assert_valid(&report);
    assert_eq!(code, 100, "an assertion fails: {out}");
    let c = &report["cells"][0];
    assert_eq!(c["outcome"], "fail", "{out}");
    let rec = c["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "fault-1-recovery")
        .expect("a recovery assertion");
    assert_eq!(rec["passed"], false);
    let evidence = rec["evidence"].as_str().unwrap();
    assert!(evidence.contains("never succeeded again") && evidence.contains("203.0.113."), "{evidence}");
    assert!(out.contains("FAIL fault-1-recovery"), "the terminal says why: {out}");
    // And the proxy is found gone after the load (a zombie of init's, or reaped).
    let running = c["assertions"].as_array().unwrap().iter().find(|a| a["name"] == "proxy-running");
    let running = running.expect("a proxy-running check");
    assert_eq!(running["passed"], false);
    assert!(running["evidence"].as_str().unwrap().starts_with("haproxy was not running after the load"), "{running}");
}

/// A connections ramp on a 128 MiB router: the counts in order, each warm-up long enough to
/// open its connections at the connect rate, the knee with a memory-per-connection figure
/// for the proxy and the guest, and every connection really used.
#[test]
fn a_connections_ramp_gives_the_knee_and_memory_per_connection() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(&["tests/fixtures/connections-small.toml"], dir.path());
    assert_valid(&report);
    assert_eq!(code, 0, "{out}");
    let cells = report["cells"].as_array().unwrap();
    let counts: Vec<f64> = cells.iter().map(|c| c["ramp_step"]["value"].as_f64().unwrap()).collect();
    assert_eq!(counts, [10.0, 20.0, 40.0], "{out}");
    for c in cells {
        assert_eq!(c["router"]["memory_mib"], 128, "{}", c["router"]);
        assert_eq!(c["router"]["conntrack_max"], 16384, "set and read back in the guest: {}", c["router"]);
        let n = c["ramp_step"]["value"].as_f64().unwrap();
        // 40 connections at 20 a second: a warm-up of 3 s, not the scenario's 300 ms.
        let warm = c["timings"]["warmup_s"].as_f64().unwrap();
        assert!(warm >= n / 20.0, "{n} connections opened in a {warm:.1} s warm-up");
        let client = &c["connections"]["client"];
        assert_eq!(client["connections"].as_f64(), Some(n), "every connection carried requests: {client}");
    }
    let ramp = &cells[2]["ramp"];
    assert_eq!(ramp["knee"]["value"], 40.0, "{ramp}");
    let rss = ramp["rss_kib_per_connection"].as_f64().unwrap_or_else(|| panic!("{ramp}"));
    let guest = ramp["guest_kib_per_connection"].as_f64().unwrap_or_else(|| panic!("{ramp}"));
    // A TLS connection costs HAProxy tens of KiB (OpenSSL's buffers, its own), not bytes
    // and not megabytes; the guest's figure adds the kernel's sockets and is noisier.
    assert!((5.0..2048.0).contains(&rss), "proxy {rss:.1} KiB per connection: {ramp}");
    assert!(guest.is_finite(), "{ramp}");
    assert!(out.contains("memory per connection: proxy"), "{out}");
}

/// A build that turns backend connection reuse off on purpose (nginx's re-encrypt template
/// as it shipped before upstream keepalive) shows it in every output: one request per
/// backend connection against hundreds for the shipped config, in report.json, the
/// terminal table, summary.md and junit.xml. On two cores, with a worker each.
#[test]
fn a_build_without_backend_reuse_shows_it_in_the_report() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let builds = "scenarios/builds/nginx-image.toml,scenarios/builds/nginx-no-reuse.toml";
    let args = ["scenarios/nginx-reencrypt-xff.toml", "--target", "aarch64-virt", "--builds", builds];
    let (code, report, out) =
        run(&[&args[..], &["--repeat", "1", "--duration", "3s", "--idle", "0s", "--cpus", "2"]].concat(), dir.path());
    assert_eq!(code, 0, "{out}");
    assert_valid(&report);
    let cells = report["cells"].as_array().unwrap();
    // A two-core router: the shipped template gives nginx a worker per core, which the
    // reused backend connections below survive (each worker keeps its own pool).
    for c in cells {
        assert_eq!(c["router"]["cpus"], 2, "{}", c["router"]);
        // Not set here: the kernel's own size, read back (it sizes the table from RAM).
        let table = c["router"]["conntrack_max"].as_u64().unwrap_or_else(|| panic!("{}", c["router"]));
        assert!((1024..16384).contains(&table), "the kernel's own at 256 MiB: {table}");
        let conf = std::fs::read_to_string(Path::new(c["dir"].as_str().unwrap()).join("proxy.conf")).unwrap();
        assert!(conf.lines().any(|l| l == "worker_processes 2;"), "{conf}");
    }
    let backend = |build: &str| {
        let c = cells.iter().find(|c| c["build"]["name"] == build).unwrap_or_else(|| panic!("{build}: {out}"));
        c["connections"]["backend"].clone()
    };
    let (reused, fresh) = (backend("nginx-image"), backend("nginx-no-reuse"));
    assert!(reused["requests_per_connection"].as_f64().unwrap() >= 20.0, "{reused}");
    assert_eq!(fresh["requests_per_connection"].as_f64(), Some(1.0), "{fresh}");
    assert_eq!(fresh["connections"], fresh["requests"], "{fresh}");
    // A new backend connection per request; nginx resumes the TLS session on most of them.
    assert_eq!(
        fresh["tls_full"].as_u64().unwrap() + fresh["tls_resumed"].as_u64().unwrap(),
        fresh["connections"].as_u64().unwrap(),
        "{fresh}"
    );
    assert!(out.contains(" / 1.0 "), "the terminal table shows 1.0 request per backend connection: {out}");
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("req/conn client / backend") && md.contains(" / 1.0 |"), "{md}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"backend-requests-per-connection\" value=\"1.0\""), "{junit}");
}

/// A proxy that sends PROXY v1 to a backend listening for v2: every connection is rejected,
/// and the cell's evidence says so with the backend's reason, in report.json, the
/// assertions and junit.xml, without anyone opening rejects.log.
#[test]
fn backend_rejects_are_in_the_evidence() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(&["tests/fixtures/wrong-proxy-version.toml", "--idle", "0s"], dir.path());
    assert_eq!(code, 100, "an assertion fails: {out}");
    assert_valid(&report);
    let c = &report["cells"][0];
    assert_eq!(c["outcome"], "fail", "{out}");
    let rejects = &c["backend_rejects"];
    assert!(rejects["count"].as_u64().unwrap() > 0, "{rejects}");
    assert_eq!(rejects["reasons"]["wrong-version"], rejects["count"], "{rejects}");
    let a =
        c["assertions"].as_array().unwrap().iter().find(|a| a["name"] == "backend-rejects").expect("backend-rejects");
    assert_eq!(a["passed"], false);
    let evidence = a["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("connections rejected by the backend: wrong-version")
            && evidence.contains("PROXY V1 header on a listener configured for v2"),
        "{evidence}"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("PROXY V1 header on a listener configured for v2"), "{junit}");
    // The backend warned about every rejected connection on its stderr, a file here: no
    // colour codes in it, nor in any other text file of the run.
    let err = std::fs::read_to_string(Path::new(c["dir"].as_str().unwrap()).join("backend.backend.err")).unwrap();
    assert!(!err.is_empty());
    assert_eq!(harness::testkit::files_with_ansi(dir.path()), Vec::<PathBuf>::new());
}

/// A layer-4 forward expected to preserve the client fails, and its capture (on by default
/// for failing cells) says what each link carried for a failing request: the client's
/// address as the source on the access link and the WAN, the router's tunnel address on the
/// tunnel and the LAN. The pcaps, the key log and the Wireshark line are in the cell.
#[test]
fn a_failing_cell_keeps_its_packets_and_names_the_link_where_the_client_was_lost() {
    harness::needs!(Root, Qemu);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, out) = run(&["tests/fixtures/l4-forward-expected-preserved.toml", "--idle", "0s"], dir.path());
    assert_eq!(code, 100, "an assertion fails: {out}");
    assert_valid(&report);
    let c = &report["cells"][0];
    assert_eq!(c["outcome"], "fail", "{out}");
    let cap = &c["capture"];
    assert_eq!(cap["kept"], true, "{cap}");
    let links: Vec<&str> = cap["files"].as_array().unwrap().iter().map(|f| f["link"].as_str().unwrap()).collect();
    assert_eq!(links, ["access", "wan", "tunnel", "lan"], "{cap}");
    for f in cap["files"].as_array().unwrap() {
        let len = std::fs::metadata(f["path"].as_str().unwrap()).unwrap().len();
        assert!(len > 1000 && len == f["bytes"].as_u64().unwrap(), "{f}");
    }
    let keys = std::fs::read_to_string(cap["keylog"].as_str().unwrap()).unwrap();
    assert!(keys.lines().any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")), "{keys}");
    assert!(cap["wireshark"].as_str().unwrap().starts_with("wireshark -o tls.keylog_file:"), "{cap}");
    let cell_dir = Path::new(c["dir"].as_str().unwrap());
    assert!(cell_dir.join("capture/open-in-wireshark.sh").is_file());
    let mut kept: Vec<String> = std::fs::read_dir(cell_dir.join("capture"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["access.pcapng", "keys.log", "lan.pcapng", "open-in-wireshark.sh", "tunnel.pcapng", "wan.pcapng"]
    );
    // The first failing request, hop by hop: decrypted on every link with the key log.
    let t = &cap["traces"][0];
    assert_eq!(t["lost_at"], "tunnel (after the router)", "{t}");
    let client = t["client"].as_str().unwrap();
    let hops = t["hops"].as_array().unwrap();
    assert!(hops.iter().all(|h| h["seen"] == true), "{t}");
    for h in &hops[..2] {
        assert!(h["src"].as_str().unwrap().starts_with(&format!("{client}:")), "{h}");
        assert_eq!(h["client_carried_by"], "source address", "{h}");
    }
    for h in &hops[2..] {
        assert!(h["src"].as_str().unwrap().starts_with("10.1.0.1:"), "NAT to the router's tunnel address: {h}");
        assert!(h["client_carried_by"].is_null(), "{h}");
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("the client address was lost at tunnel (after the router)"), "{junit}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<h3>Packets</h3>") && html.contains("The client address was lost at tunnel"));
    assert!(out.contains("the client address was lost at tunnel"), "the terminal says it too: {out}");
}

/// Console text without kernel messages (`[   12.345678] ...` to the end of its line) and
/// without any whitespace, so an echoed command reads whole however the guest broke it up.
fn squeezed(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut rest = console;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let stamp = after.find(']').map(|j| &after[..j]).filter(|t| {
            let t = t.trim_start();
            t.contains('.') && !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
        rest = match stamp {
            Some(_) => after.find('\n').map_or("", |n| &after[n + 1..]),
            None => {
                out.push('[');
                after
            }
        };
    }
    out.push_str(rest);
    out.retain(|c| !c.is_whitespace());
    out
}

#[test]
fn a_kernel_message_inside_an_echoed_line_is_taken_out() {
    let raw = "# sha256sum /etc/rou[  812.031337] rcu: INFO: stall\r\nterlab/pki/a.pem \r\n/etc/x [1] ok\n";
    assert_eq!(squeezed(raw), "#sha256sum/etc/routerlab/pki/a.pem/etc/x[1]ok");
}
