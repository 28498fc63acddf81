//! Tail percentiles in `compare`: judged only with enough requests behind them, and every
//! centre printed beside a ratio agrees with it in direction.
use std::path::Path;

use harness::compare::{compare, comparison_text, evaluate, Change, Comparison, Metric, Row, TooFew};
use harness::hist::LatencyHist;
use harness::model::Report;

fn report(name: &str) -> (String, Report) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare").join(name);
    (name.trim_end_matches(".json").to_string(), serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
}

fn row(c: &Comparison, m: Metric) -> &Row {
    c.groups[0].rows.iter().find(|r| r.metric == m).unwrap()
}

#[test]
fn p999_of_1500_requests_a_cell_is_too_few_samples_and_a_gate_on_it_refuses() {
    // The fixtures are real runs of 1,512-1,520 requests a cell: enough for p99 (1,000),
    // not for p99.9 (10,000), where each cell's figure rests on one or two requests.
    let c = compare(&[report("base.json"), report("regressed.json")]);
    let short = TooFew { per_cell: 1512, needed: 10000 };
    let p999 = row(&c, Metric::P999);
    assert_eq!(p999.changes[1], Change::TooFewSamples(short));
    assert_eq!((p999.ratios[1], p999.estimates[1]), (None, None), "no ratio to misread");
    assert_eq!(row(&c, Metric::P99).changes[1], Change::Worse { certain: true }, "p99 is still judged");
    let text = comparison_text(&c, &[]);
    let line = text.lines().find(|l| l.trim_start().starts_with("p999")).unwrap();
    assert!(line.contains("too few samples (1512 per cell, needs 10000)") && !line.contains("worse"), "{text}");
    // A gate on it refuses with the same words, whether it asks for a ratio or a number.
    for gate in ["p999 > 1.10x", "p99.9 > 5000"] {
        let t = evaluate(&c, &[gate.parse().unwrap()]);
        assert_eq!(t.len(), 1, "{gate}: {t:?}");
        assert_eq!(t[0].detail, "p999: too few samples (1512 per cell, needs 10000)", "{gate}");
    }
    assert!(evaluate(&c, &["p99 > 1.60x".parse().unwrap()]).is_empty(), "p99 is judged, and within 1.60x");
    let json = harness::compare::comparison_json(&c, &[]);
    let side =
        &json["groups"][0]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "p999").unwrap()["sides"][1];
    assert_eq!(
        (side["change"].as_str(), side["too_few_samples"]["needed"].as_u64()),
        (Some("too-few-samples"), Some(10000))
    );
}

/// A cell's latency: `n` requests, of which `slow` took `slow_ms` and the rest `ms`.
fn latency(c: &mut harness::model::CellReport, n: u64, ms: u64, slow: u64, slow_ms: u64) {
    let mut h = LatencyHist::default();
    (0..n - slow).for_each(|_| h.record(ms * 1000));
    (0..slow).for_each(|_| h.record(slow_ms * 1000));
    let l = c.load.as_mut().unwrap();
    l.latency_us.total = h.percentiles();
    l.latency_us.total_corrected = None;
    l.latency_us.effective_hist = Some(h.encode());
}

#[test]
fn the_centre_beside_a_ratio_agrees_with_it_in_direction_where_pooled_figures_would_not() {
    // Baseline: two cells with p99 10 ms and one whose slowest 5% took 40 ms; pooled, its
    // p99 is 40 ms. Candidate: 20 ms in every cell. Per repetition the candidate is slower
    // (geometric means 15.9 and 20 ms, ratio 1.26x), pooled it looks faster (40 against
    // 20 ms). The figures printed beside the ratio must be the ones it is of.
    let (_, mut base) = report("base.json");
    let (_, mut cand) = report("regressed.json");
    for (i, c) in base.cells.iter_mut().enumerate() {
        latency(c, 2000, 10, if i == 2 { 100 } else { 0 }, 40);
    }
    for c in &mut cand.cells {
        latency(c, 2000, 20, 0, 20);
    }
    let c = compare(&[("base".into(), base), ("cand".into(), cand)]);
    let p99 = row(&c, Metric::P99);
    assert!(p99.pooled[0].unwrap() > p99.pooled[1].unwrap(), "pooled disagrees: {:?}", p99.pooled);
    let ratio = p99.ratios[1].unwrap();
    assert!(ratio > 1.0 && matches!(p99.changes[1], Change::Worse { .. } | Change::WithinNoise), "{p99:?}");
    let (a, b) = (p99.shown(0).unwrap(), p99.shown(1).unwrap());
    assert!(b > a && ((b / a) - ratio).abs() < 1e-9, "shown {a} and {b} beside {ratio}");
    // And so for every row of the fixtures' comparison that has a ratio.
    let c = compare(&[report("base.json"), report("regressed.json")]);
    for r in &c.groups[0].rows {
        if let (Some(x), Some(a), Some(b)) = (r.ratios[1], r.shown(0), r.shown(1)) {
            assert_eq!((x > 1.0, x < 1.0), (b > a, b < a), "{:?}: {a} -> {b} beside {x}", r.metric);
        }
    }
}
