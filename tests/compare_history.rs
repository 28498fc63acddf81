//! `compare --history`: changes judged against noise fences learned from a history file,
//! a gate on "significant", and `--record` appending what was measured.
use std::path::Path;
use std::process::{Command, Output};

fn routerlab(args: &[&str]) -> (Option<i32>, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_routerlab")).args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

fn fixture(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/fixtures/compare").join(p).display().to_string()
}

#[test]
fn a_change_over_historys_fence_trips_significant_and_one_inside_does_not() {
    let (base, regressed, noisy, history) =
        (fixture("base.json"), fixture("regressed.json"), fixture("noisy.json"), fixture("history.json"));
    // p99's past changes, absolute and sorted: 2 3 3 4 | 5 6 8 10 (%). Hinges 3% and 7%, so
    // the fence is 7 + 3 × 4 = 19%. The regressed side's p99 rose 49.2%: 2.6x the fence.
    let gate = ["--fail-if", "p99 > significant"];
    let (code, out) = routerlab(&[&["compare", &base, &regressed, "--history", &history], &gate[..]].concat());
    assert_eq!(code, Some(102), "{out}");
    let said = "+49.20%, small by history (fence ±19.00% from 8 changes)";
    assert!(out.contains(&format!("regressed p99 by history: {said}")), "{out}");
    assert!(
        out.contains(&format!(
            "REGRESSION p99 > significant: haproxy-reencrypt-xff on aarch64-virt [regressed]: p99: {said}"
        )),
        "{out}"
    );
    // The noisy side's +7.9% is inside it; a fall is not a rise.
    let (code, out) = routerlab(&[&["compare", &base, &noisy, "--history", &history], &gate[..]].concat());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("noisy p99 by history: +7.90%, within noise by history"), "{out}");
    let (code, out) =
        routerlab(&["compare", &base, &regressed, "--history", &history, "--fail-if", "p99 < significant"]);
    assert_eq!(code, Some(0), "{out}");
    // No fence for this series yet, or no history at all: the gate cannot be judged, so trips.
    let (code, out) =
        routerlab(&["compare", &base, &regressed, "--history", &history, "--fail-if", "rps < significant"]);
    assert_eq!(code, Some(102), "{out}");
    assert!(out.contains("rps: -19.68%, no noise fence yet (0 changes in history, needs 5)"), "{out}");
    let (code, out) = routerlab(&[&["compare", &base, &regressed], &gate[..]].concat());
    assert_eq!(code, Some(102), "{out}");
    assert!(out.contains("p99: no history to judge by (compare --history FILE)"), "{out}");
}

#[test]
fn record_appends_the_measured_changes_and_bad_history_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let h = d.path().join("history.json");
    std::fs::copy(fixture("history.json"), &h).unwrap();
    let json = d.path().join("c.json");
    let args = ["compare", &fixture("base.json"), &fixture("regressed.json"), "--history", h.to_str().unwrap()];
    let (code, out) = routerlab(&[&args[..], &["--record", "--json", json.to_str().unwrap()]].concat());
    assert_eq!(code, Some(0), "{out}");
    let after = harness::compare::History::load(&h).unwrap();
    let p99 = after.changes("haproxy-reencrypt-xff", "aarch64-virt", "p99");
    assert_eq!(p99.len(), 9, "one change appended: {p99:?}");
    assert!((p99[8] - 0.4921).abs() < 1e-3, "{p99:?}");
    assert_eq!(after.changes("haproxy-reencrypt-xff", "aarch64-virt", "rps").len(), 1, "a new series");
    // The JSON carries the judgement and validates against the schema.
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compare.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let p99 = doc["groups"][0]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "p99").unwrap();
    let call = &p99["sides"][1]["history"];
    assert_eq!((call["magnitude"].as_str(), call["fence"]["points"].as_u64()), (Some("small"), Some(8)), "{call}");
    // --record needs --history; a broken history file is named, exit 2.
    let (code, _) = routerlab(&[&args[..2], &[&fixture("regressed.json"), "--record"]].concat());
    assert_eq!(code, Some(2));
    std::fs::write(&h, "not json").unwrap();
    let (code, out) = routerlab(&args);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&format!("history {}: not a routerlab history file", h.display())), "{out}");
}
