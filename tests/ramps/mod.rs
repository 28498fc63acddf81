//! What a shipped ramp must show in a run's report: its steps in order up to the first that
//! did not hold, the rest listed as not run, and the knee on the last cell run.

/// Ramp steps the report lists as not run: a ramp stops at its first step that does not
/// hold, so a run makes that many cells fewer than `run --list` names.
pub fn steps_not_run(report: &serde_json::Value) -> usize {
    let cells = report["cells"].as_array().unwrap();
    let steps = cells.iter().filter_map(|c| c["ramp"]["steps"].as_array()).flatten();
    steps.filter(|s| s["error"].as_str().is_some_and(|e| e.starts_with("the ramp stopped at"))).count()
}

/// handshake-storm's ramp: a cell per rate in order, no per-step error budget, and the
/// last cell with every step and a knee that held.
pub fn check_ramp(report: &serde_json::Value, out: &str) {
    let cells: Vec<&serde_json::Value> =
        report["cells"].as_array().unwrap().iter().filter(|c| c["scenario"] == "handshake-storm").collect();
    // The ramp runs its rates in order and stops at the first that does not hold: the
    // steps after it cannot move the knee.
    let rates: Vec<f64> = cells.iter().map(|c| c["ramp_step"]["value"].as_f64().unwrap()).collect();
    let all = [2.0, 5.0, 10.0, 20.0, 40.0];
    assert!(!rates.is_empty() && rates[..] == all[..rates.len()], "{out}");
    let names = |c: &serde_json::Value| -> Vec<String> {
        c["assertions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
    };
    let (last, before) = cells.split_last().unwrap();
    for c in before {
        assert!(c.get("ramp").is_none() && !names(c).contains(&"knee".to_string()), "{}", c["assertions"]);
    }
    assert!(cells.iter().all(|c| !names(c).contains(&"error-rate".to_string())), "a ramp has no per-step error budget");
    let ramp = &last["ramp"];
    let steps = ramp["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "every step is listed, run or not: {ramp}");
    for s in &steps[..rates.len() - 1] {
        assert_eq!(s["held"], true, "the ramp went on only past steps that held: {ramp}");
    }
    for s in &steps[rates.len()..] {
        let why = s["error"].as_str().unwrap_or_default();
        assert!(s["held"] == false && why.contains("the ramp stopped at"), "{ramp}");
    }
    if rates.len() < 5 {
        assert_eq!(steps[rates.len() - 1]["held"], false, "it stopped at a step that did not hold: {ramp}");
    }
    let knee = &ramp["knee"];
    assert!(knee["value"].as_f64().is_some_and(|r| r >= 2.0) && knee["held"] == true, "{ramp}");
    assert!(knee["insns_per_handshake"].as_f64().is_some_and(|i| i > 1e6), "a full handshake is millions: {knee}");
    let a = last["assertions"].as_array().unwrap().iter().find(|a| a["name"] == "knee").unwrap();
    assert_eq!(a["passed"], true, "{a}");
    let label = format!("handshake-storm @ {}/s [haproxy-maxconn4]", rates[rates.len() - 1]);
    assert!(out.contains(&label) && out.contains("    knee at "), "{out}");
}
