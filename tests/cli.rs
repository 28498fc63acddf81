//! The CLI's contract: documented exit codes, one-line errors naming the bad value,
//! machine-readable output, and the backend/load/verify pipeline working as processes.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{start_backend, Proc};

fn routerlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerlab")).args(args).output().unwrap()
}

/// Cells the shipped scenarios make on `target` (all targets when `None`).
fn shipped_cells(target: Option<&str>) -> usize {
    harness::testkit::shipped_cells(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"), target)
}

/// Exit code 2 and exactly one stderr line that mentions `needle`.
fn assert_bad_input(args: &[&str], needle: &str) {
    let out = routerlab(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line, got {err:?}");
    assert!(err.contains(needle), "{args:?}: {err:?} should name {needle:?}");
    assert!(!err.contains("panicked"), "{args:?}: a panic is a bug: {err}");
}

#[test]
fn bad_flags_and_values_are_one_line_exit_2() {
    assert_bad_input(&["load"], "URL");
    let empty = tempfile::tempdir().unwrap();
    assert_bad_input(&["check", empty.path().to_str().unwrap()], empty.path().to_str().unwrap());
    assert_bad_input(&["load", "https://127.0.0.1:1/", "--bogus"], "--bogus");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--source", "300.1.1.1"], "300.1.1.1");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--source", "10.0.0.0/33"], "10.0.0.0/33");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--rate", "-5"], "-5");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--duration", "soon"], "soon");
    assert_bad_input(&["load", "gopher://127.0.0.1:1/", "-k"], "gopher://127.0.0.1:1/");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "-H", "NoColon"], "NoColon");
    assert_bad_input(&["load", "https://127.0.0.1:1/"], "--ca");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "--ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--source", "::1"], "::1");
    assert_bad_input(&["backend", "--listen", "localhost:80", "--access-log", "/tmp/x"], "localhost:80");
    assert_bad_input(
        &["backend", "--listen", "127.0.0.1:0", "--access-log", "/tmp/x", "--trusted", "10.0.0/8"],
        "10.0.0/8",
    );
    assert_bad_input(&["backend", "--listen", "127.0.0.1:0", "--access-log", "/tmp/x", "--proxy-protocol", "v3"], "v3");
    assert_bad_input(&["certs", "--out", "/tmp/x", "--name", "r", "--key", "rsa-4096"], "rsa-4096");
    assert_bad_input(&["certs", "--out", "/tmp/x", "--name", "r", "--ip", "1.2.3"], "1.2.3");
}

/// Zero or negative phase lengths and budgets are refused before anything starts (no VM,
/// no lab: a run would take seconds and leave a run directory); a zero warm-up or idle
/// window is a documented way to skip that phase.
#[test]
fn zero_and_negative_durations_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    for flag in ["--duration", "--warmup", "--idle"] {
        assert_bad_input(&["run", "haproxy-reencrypt-xff", flag, "-2s", "--out", o], "\"-2s\" is negative");
    }
    assert_bad_input(&["run", "haproxy-reencrypt-xff", "--duration", "0s", "--out", o], "\"0s\" is zero");
    assert!(!out.exists(), "a refused run writes nothing");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--duration", "0s"], "--duration");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--timeout", "0ms"], "--timeout");
    assert_bad_input(&["load", "https://127.0.0.1:1/", "-k", "--warmup", "-1s"], "is negative");
    assert_bad_input(&["vm", "run", "aarch64-virt", "--timeout", "0s", "--", "true"], "--timeout");
    assert_bad_input(&["backend", "--listen", "127.0.0.1:0", "--access-log", "/tmp/x", "--header-timeout", "0s"], "0s");
    // --list prints the cells without running them: a zero idle or warm-up is accepted.
    let ok = routerlab(&["run", "haproxy-reencrypt-xff", "--warmup", "0s", "--idle", "0s", "--list"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
}

/// Each cause once: the message does not embed the source the chain prints after it.
#[test]
fn a_missing_scenario_says_why_once() {
    let out = routerlab(&["run", "/nonexistent/scenario.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/scenario.toml"), "{err}");
}

#[test]
fn missing_or_unreadable_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let log = log.to_str().unwrap();
    assert_bad_input(
        &[
            "backend",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
            "--access-log",
            log,
        ],
        "/nonexistent/cert.pem",
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem\n").unwrap();
    let g = garbage.to_str().unwrap();
    assert_bad_input(
        &["backend", "--listen", "127.0.0.1:0", "--tls-cert", g, "--tls-key", g, "--access-log", log],
        "garbage.pem",
    );
    assert_bad_input(&["backend", "--listen", "127.0.0.1:0,proxy-protocol=v2", "--access-log", log], "--trusted");
}

#[test]
fn certs_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = routerlab(&[
        "certs",
        "--out",
        dir.path().to_str().unwrap(),
        "--name",
        "router.test",
        "--ip",
        "192.0.2.1",
        "--key",
        "ed25519",
        "--client",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "ca.crt",
        "frontend.crt",
        "frontend.key",
        "frontend.pem",
        "backend.crt",
        "backend.key",
        "backend.pem",
        "client.crt",
        "client.key",
        "client.pem",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 11, "{listed}");
}

/// Certificates from `routerlab certs` into `dir/pki`, and an HTTPS backend with them; returns
/// the backend, its URL, its stdout and the CA to verify it with.
fn start_tls_backend(dir: &Path) -> (Proc, String, BufReader<std::process::ChildStdout>, std::path::PathBuf) {
    let pki = dir.join("pki");
    assert!(routerlab(&["certs", "--out", pki.to_str().unwrap(), "--name", "router.test", "--ip", "127.0.0.1"])
        .status
        .success());
    let (cert, key) = (pki.join("frontend.crt"), pki.join("frontend.key"));
    let (p, url, out) = start_backend(dir, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    (p, url, out, pki.join("ca.crt"))
}

#[test]
fn backend_load_verify_pipeline_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut backend, url, mut stdout, ca) = start_tls_backend(d);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let journal = d.join("journal.tsv");
    let summary = d.join("summary.json");
    let out = routerlab(&[
        "load",
        &url,
        "--ca",
        ca.to_str().unwrap(),
        "-n",
        "200",
        "-c",
        "4",
        "--source",
        "127.0.0.2",
        "--source",
        "127.0.0.3/32",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
        summary.to_str().unwrap(),
        "--run-id",
        "clitest",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!((s["sent"].as_u64(), s["ok"].as_u64(), s["run_id"].as_str()), (Some(200), Some(200), Some("clitest")));
    assert_eq!(s["schema_version"], 1);

    let log = d.join("access.log");
    let verify = |extra: &[&str]| {
        let mut a = vec!["verify", "--journal", journal.to_str().unwrap(), "--access-log", log.to_str().unwrap()];
        a.extend_from_slice(extra);
        routerlab(&a)
    };
    let ok = verify(&[]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("client IP preserved"));
    // The same run judged against "lost" must fail with the assertion code.
    let lost = verify(&["--expect", "lost", "--seen-as", "10.1.0.1"]);
    assert_eq!(lost.status.code(), Some(100), "{}", String::from_utf8_lossy(&lost.stdout));
    assert!(String::from_utf8_lossy(&lost.stdout).contains("FAIL client-ip-lost"));

    // SIGTERM stops the backend cleanly, and it reports what it served.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(backend.0.id() as i32, libc::SIGTERM) }, 0);
    let status = backend.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let stats: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(stats["requests"], 200);
}

#[test]
fn verify_rejects_a_file_that_is_not_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    std::fs::write(&j, "nope\n").unwrap();
    assert_bad_input(&["verify", "--journal", j.to_str().unwrap(), "--access-log", "/dev/null"], j.to_str().unwrap());
}

fn fixture(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/fixtures").join(p).display().to_string()
}

#[test]
fn compare_gate_exits_102_on_a_regression_and_0_otherwise() {
    let (base, regressed, noisy) =
        (fixture("compare/base.json"), fixture("compare/regressed.json"), fixture("compare/noisy.json"));
    let out = routerlab(&["compare", &base, &regressed, "--fail-if", "p99 > 1.10x", "--fail-if", "rss > 1.20x"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(102), "{stdout}");
    assert!(
        stdout.contains(
            "REGRESSION p99 > 1.10x: haproxy-reencrypt-xff on aarch64-virt [regressed]: p99 vs base: +49.2% [+33.8%, +66.4%]"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("REGRESSION rss"), "RSS did not change: {stdout}");
    assert!(stdout.contains("p99 (ms)") && stdout.contains("1.492x [1.338, 1.664] worse"), "{stdout}");
    let out = routerlab(&["compare", &base, &noisy, "--fail-if", "p99 > 1.10x"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "within noise: {stdout}");
    assert!(stdout.contains("1.079x [0.752, 1.548] within noise"), "the interval spans 1: {stdout}");
    assert!(stdout.contains("noisy p99: +7.9% [-24.8%, +54.8%] at 95%, p=0.502"), "{stdout}");
    // Markdown and overlaid HTML on request.
    let d = tempfile::tempdir().unwrap();
    let (md, html) = (d.path().join("c.md"), d.path().join("c.html"));
    let ab = fixture("runs/ab");
    let out = routerlab(&["compare", &ab, "--markdown", md.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("| metric | haproxy-image (baseline) | haproxy-deb12u3 |"), "{md}");
    // In GitHub Actions, the same Markdown is appended to the job's summary, run after run.
    let summary = d.path().join("step-summary.md");
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_routerlab"))
            .args(["compare", &ab])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(appended.matches("| metric | haproxy-image (baseline) | haproxy-deb12u3 |").count(), 2, "{appended}");
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("data-plot=\"latency\"") && html.matches("<polyline").count() >= 6, "6 runs overlaid");
}

#[test]
fn compare_gates_on_instructions_per_request_with_an_interval_and_exports_json_and_bmf() {
    // A real A/B run on aarch64-virt: the image's HAProxy against four extra header rules,
    // 3.3% dearer per request while req/s cannot tell.
    let ab = fixture("runs/ab-insns");
    let d = tempfile::tempdir().unwrap();
    let (json, bmf) = (d.path().join("c.json"), d.path().join("c.bmf.json"));
    let args = ["compare", &ab, "--fail-if", "insns/req > 1.02x", "--json", json.to_str().unwrap()];
    let out = routerlab(&[&args[..], &["--bmf", bmf.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(102), "{stdout}");
    assert!(stdout.contains("insns/req (insns)") && stdout.contains("1.033x [1.030, 1.035] worse"), "{stdout}");
    assert!(stdout.contains("REGRESSION insns/req > 1.02x") && stdout.contains("(paired A/B, 2 df)"), "{stdout}");
    // The same data cannot call req/s either way.
    assert!(stdout.lines().any(|l| l.starts_with("  rps") && l.contains("within noise")), "{stdout}");
    // A gate above the interval does not trip.
    let out = routerlab(&["compare", &ab, "--fail-if", "insns/req > 1.04x"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compare.schema.json")).unwrap(),
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let insns = &doc["groups"][0]["metrics"][0];
    assert_eq!(insns["metric"], "insns/req");
    assert_eq!(insns["sides"][1]["estimate"]["method"], "paired");
    assert_eq!(insns["sides"][1]["change"], "worse");
    assert!(!v.is_valid(&serde_json::json!({"schema_version": 1, "sides": [], "groups": [], "tripped": [], "x": 1})));
    let bmf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bmf).unwrap()).unwrap();
    let plant = &bmf["haproxy-reencrypt-xff/aarch64-virt/haproxy-plant"];
    assert!(plant["insns-per-request"]["value"].as_f64().unwrap() > 100_000.0, "{bmf}");
    assert!(plant["rps"]["lower_value"].as_f64() <= plant["rps"]["upper_value"].as_f64(), "{bmf}");
}

#[test]
fn compare_and_report_refuse_bad_input_in_one_line() {
    let base = fixture("compare/base.json");
    assert_bad_input(&["compare", &base, "--fail-if", "p98 > 1.1x"], "p98");
    assert_bad_input(&["compare", "/nonexistent/run"], "/nonexistent/run/report.json");
    assert_bad_input(&["report", "/nonexistent/run"], "/nonexistent/run/report.json");
    assert_bad_input(&["run", "scenarios", "--shard", "3/2"], "3/2");
    assert_bad_input(
        &["run", "scenarios/haproxy-reencrypt-xff.toml", "--builds", "/nonexistent/b.toml"],
        "/nonexistent/b.toml",
    );
}

#[test]
fn report_writes_html_markdown_and_junit_into_the_run() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    copy_fixture_run("runs/deploy-error", &run);
    let out = routerlab(&["report", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["report.html", "summary.md", "junit.xml"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let out = routerlab(&["report", run.to_str().unwrap(), "--markdown"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("## routerlab: 0/1 cells passed"));
}

fn copy_fixture_run(name: &str, to: &Path) {
    let src = Path::new(&fixture(name)).to_path_buf();
    for e in walk(&src) {
        let dst = to.join(e.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dst).unwrap();
    }
}

/// An A/B run's report opens with the builds' verdict, before the cells: report.html,
/// summary.md and the CI step summary alike, and comparison.html is written beside them.
#[test]
fn an_ab_runs_report_opens_with_the_comparison() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("ab");
    copy_fixture_run("runs/ab", &run);
    let out = routerlab(&["report", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    let (cmp, cells) =
        (html.find("id=\"comparison\"").expect("a comparison section"), html.find("id=\"overview\"").unwrap());
    assert!(cmp < cells, "the comparison comes before the cells");
    assert!(html[cmp..cells].contains("insns/req") && html[cmp..cells].contains("<ul class=\"verdicts\">"));
    assert!(html[cmp..cells].contains("href=\"comparison.html\""));
    assert!(run.join("comparison.html").is_file() && run.join("comparison.md").is_file());
    let md = std::fs::read_to_string(run.join("summary.md")).unwrap();
    let (cmp, cells) = (md.find("### Builds compared").expect("in summary.md"), md.find("| cell | result").unwrap());
    assert!(cmp < cells, "{md}");
    assert!(md[cmp..cells].contains("Baseline: `haproxy-"), "{md}");
    // `run --builds` appends this same summary.md text to the CI step summary.
    let out = routerlab(&["report", run.to_str().unwrap(), "--markdown"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("### Builds compared"));
    // Two scenarios that each ran a different build are a matrix, not an A/B.
    let matrix = d.path().join("matrix");
    copy_fixture_run("runs/ab", &matrix);
    let path = matrix.join("report.json");
    let mut r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in r["cells"].as_array_mut().unwrap() {
        if c["build"]["name"] != "haproxy-image" {
            c["scenario"] = "another-scenario".into();
        }
    }
    std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(routerlab(&["report", matrix.to_str().unwrap()]).status.code(), Some(0));
    assert!(!std::fs::read_to_string(matrix.join("report.html")).unwrap().contains("id=\"comparison\""));
    // A run of one build has nothing to compare: no section, no comparison files.
    let one = d.path().join("one");
    copy_fixture_run("runs/deploy-error", &one);
    assert_eq!(routerlab(&["report", one.to_str().unwrap()]).status.code(), Some(0));
    assert!(!std::fs::read_to_string(one.join("report.html")).unwrap().contains("id=\"comparison\""));
    assert!(!one.join("comparison.html").exists());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            v.extend(walk(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // `routerlab check scenarios | head -1`: stdout closes before the listing ends.
    let mut child = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(["check", "scenarios", "scenarios", "scenarios", "scenarios"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn shards_of_the_shipped_matrix_cover_every_cell_once() {
    let list = |extra: &[&str]| -> Vec<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_routerlab"))
            .args(["run", "scenarios", "--list"])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    };
    let mut all = list(&[]);
    let n = shipped_cells(None);
    assert!(n >= 3, "{all:?}");
    assert_eq!(all.len(), n, "every shipped cell: {all:?}");
    // Shards deal (scenario, target) pairs, each one router: a ramp's steps stay together.
    let pairs = |cells: &[String]| -> std::collections::BTreeSet<String> {
        cells.iter().map(|c| c.split_whitespace().take(2).collect::<Vec<_>>().join(" ")).collect()
    };
    let groups = pairs(&all).len();
    assert!(all.iter().any(|c| c.starts_with("handshake-storm ") && c.ends_with(" 40rps")), "{all:?}");
    let mut union = Vec::new();
    for k in 1..=3 {
        let part = list(&["--shard", &format!("{k}/3")]);
        assert!((groups / 3..=groups.div_ceil(3)).contains(&pairs(&part).len()), "balanced: {part:?}");
        union.extend(part);
    }
    union.sort();
    all.sort();
    assert_eq!(union, all, "every cell exactly once");
}

/// `load --warmup --marks`: the measured phase runs on the warm-up's connections (no
/// handshake of its own), and at each mark nothing is sent until the caller answers.
#[test]
fn warmup_hands_its_connections_to_the_measured_phase_and_marks_pause_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_backend, url, _out, ca) = start_tls_backend(d);
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let args = [
        "load",
        &url,
        "--ca",
        ca.to_str().unwrap(),
        "-c",
        "3",
        "--quiet",
        "--marks",
        "--warmup",
        "400ms",
        "--warmup-json",
        &p("w.json"),
        "--warmup-journal",
        &p("w.tsv"),
        "--duration",
        "400ms",
        "--json",
        &p("s.json"),
        "--journal",
        &p("s.tsv"),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let logged = || std::fs::read_to_string(d.join("access.log")).unwrap_or_default().lines().count();
    for mark in ["mark warmup-end", "mark steady-end"] {
        assert_eq!(lines.next().unwrap().unwrap(), mark);
        let before = logged();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(logged(), before, "no request is sent while the caller holds {mark}");
        stdin.write_all(b"\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let read =
        |n: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(d.join(n)).unwrap()).unwrap() };
    let (w, s) = (read("w.json"), read("s.json"));
    assert_eq!(w["handshakes"]["full"], 3, "the warm-up opens the connections: {w}");
    assert_eq!(s["handshakes"]["full"], 0, "the measured phase opens none: {s}");
    assert!(s["ok"].as_u64().unwrap() > 0 && w["ok"].as_u64().unwrap() > 0);
    assert_ne!(w["run_id"], s["run_id"], "warm-up and measured requests must not share ids");
    // The measured phase's journal reconciles alone: no warm-up request counts as unknown.
    let log = d.join("access.log");
    let v = routerlab(&["verify", "--journal", &p("s.tsv"), "--access-log", log.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&v.stdout);
    assert!(report.contains("PASS accounted") && report.contains("unknown ids 0"), "{report}");
    assert_eq!(logged() as u64, w["ok"].as_u64().unwrap() + s["ok"].as_u64().unwrap());
}

/// A matrix split over CI jobs (`run --shard`) comes back as one run: every cell once, the
/// totals of the shards, each cell's files reachable from the merged report; a cell given
/// twice is refused in one line.
#[test]
fn merge_joins_shards_into_one_run_and_refuses_a_cell_twice() {
    let d = tempfile::tempdir().unwrap();
    let ab = Path::new(&fixture("runs/ab")).to_path_buf();
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ab.join("report.json")).unwrap()).unwrap();
    let cells = all["cells"].as_array().unwrap();
    // Two shards, as two CI jobs would leave them: each its own report.json and cell directories.
    let shards: Vec<std::path::PathBuf> = [(0, 2), (2, cells.len())]
        .iter()
        .enumerate()
        .map(|(i, &(from, to))| {
            let dir = d.path().join(format!("shard-{i}"));
            let mut r = all.clone();
            r["cells"] = serde_json::Value::Array(cells[from..to].to_vec());
            std::fs::create_dir_all(&dir).unwrap();
            for c in &cells[from..to] {
                let name = Path::new(c["dir"].as_str().unwrap()).file_name().unwrap().to_owned();
                let o = Command::new("cp").arg("-r").arg(ab.join(&name)).arg(dir.join(&name)).output().unwrap();
                assert!(o.status.success());
            }
            std::fs::write(dir.join("report.json"), r.to_string()).unwrap();
            dir
        })
        .collect();
    let out = d.path().join("merged");
    let o =
        routerlab(&["merge", shards[0].to_str().unwrap(), shards[1].to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let m = merged["cells"].as_array().unwrap();
    assert_eq!(m.len(), cells.len());
    let titles: std::collections::BTreeSet<String> =
        m.iter().map(|c| format!("{} {} {}", c["scenario"], c["build"]["name"], c["repetition"])).collect();
    assert_eq!(titles.len(), cells.len(), "every cell once");
    let sent = |cs: &[serde_json::Value]| cs.iter().map(|c| c["client_ip"]["sent"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sent(m), sent(cells), "the totals add up");
    for c in m {
        assert!(Path::new(c["dir"].as_str().unwrap()).join("timeline.json").is_file(), "{}", c["dir"]);
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), cells.len());
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains(&format!("{0}/{0} cells passed", cells.len())), "{md}");
    assert!(
        std::fs::read_to_string(out.join("report.html")).unwrap().contains("data-plot"),
        "plots from the linked cells"
    );
    // The same shard twice: one line naming the cell and both places.
    assert_bad_input(
        &["merge", shards[0].to_str().unwrap(), shards[0].to_str().unwrap(), "--out", out.to_str().unwrap()],
        "is in both",
    );
}

/// The JSON Schemas of scenario and build files come from the types the loader reads; the
/// copies in docs/ are current, every shipped file names its schema on its first line (as
/// taplo and editors read it), and validates against it.
#[test]
fn every_shipped_scenario_and_build_validates_against_its_generated_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (what, doc) in [("scenario", "docs/scenario.schema.json"), ("build", "docs/build.schema.json")] {
        let out = routerlab(&["schema", what]);
        assert_eq!(out.status.code(), Some(0));
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(doc)).unwrap()).unwrap();
        assert_eq!(printed, written, "{doc} is stale: routerlab schema {what} > {doc}");
        let v = jsonschema::validator_for(&printed).unwrap();
        for f in toml_files(&root.join("scenarios")) {
            let is_build = f.parent().unwrap().ends_with("builds");
            if is_build != (what == "build") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let first = text.lines().next().unwrap();
            let schema = first.strip_prefix("#:schema ").unwrap_or_else(|| panic!("{}: no #:schema line", f.display()));
            assert!(f.parent().unwrap().join(schema).ends_with(doc), "{}: {first}", f.display());
            assert!(f.parent().unwrap().join(schema).is_file(), "{}: {first}", f.display());
            let value: serde_json::Value = toml::from_str(&text).unwrap();
            let errors: Vec<String> =
                v.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", f.display());
            checked += 1;
        }
    }
    assert_eq!(checked, toml_files(&root.join("scenarios")).len(), "every file checked against one schema");
}

/// Scenario and build files under `dir`, templates aside.
fn toml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        // templates/ holds router data, kinds/ the proxy kinds (checked by harness::scenario::kinds),
        // recipes/ the source-build recipes and toolchain (checked by harness::source).
        let data = ["templates", "kinds", "recipes"];
        if p.is_dir() && !data.iter().any(|d| p.ends_with(d)) {
            out.extend(toml_files(&p));
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    out
}

/// The README's command table names every command `routerlab --help` lists.
#[test]
fn the_readme_lists_every_command() {
    let help = String::from_utf8(routerlab(&["--help"]).stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 14, "parsed too few commands from: {help}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let missing: Vec<&&str> = commands.iter().filter(|c| !readme.contains(&format!("`routerlab {c}"))).collect();
    assert!(missing.is_empty(), "README.md's command table lacks {missing:?}");
}
