use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn the_fence_is_q3_plus_three_iqr_of_the_absolute_changes_by_hand() {
    // |changes| sorted: 0.05 0.1 0.1 0.15 0.2 0.2 0.25 0.3 (%). Lower half's median
    // (0.1 + 0.1) / 2 = 0.1%, upper half's (0.2 + 0.25) / 2 = 0.225%; IQR 0.125%, so the
    // fence is 0.225 + 3 × 0.125 = 0.6%.
    let changes = [0.001, -0.002, 0.0015, 0.003, -0.001, 0.0025, 0.002, -0.0005];
    let f = fence(&changes).unwrap();
    assert!(close(f.q1, 0.001) && close(f.q3, 0.00225) && close(f.threshold, 0.006), "{f:?}");
    assert_eq!(f.points, 8);
    // Odd: 0.1 0.2 [0.3] 0.4 0.5 (%): hinges 0.15% and 0.45%, fence 0.45 + 3 × 0.3 = 1.35%.
    let f = fence(&[0.003, 0.001, -0.005, 0.002, 0.004]).unwrap();
    assert!(close(f.q1, 0.0015) && close(f.q3, 0.0045) && close(f.threshold, 0.0135), "{f:?}");
    // Deterministic counts change by nothing run to run: the floor holds.
    assert_eq!(fence(&[0.0; 6]).unwrap().threshold, FENCE_FLOOR);
    assert_eq!(fence(&[0.001; 4]), None, "four changes are too few to fence");
}

#[test]
fn a_change_inside_the_fence_is_noise_and_one_outside_is_graded() {
    let f = fence(&[0.001, -0.002, 0.0015, 0.003, -0.001, 0.0025, 0.002, -0.0005]).unwrap();
    let cases = [
        (0.005, Magnitude::WithinNoise),
        (-0.006, Magnitude::WithinNoise),
        (0.007, Magnitude::VerySmall),
        (-0.012, Magnitude::Small),
        (0.03, Magnitude::Medium),
        (0.09, Magnitude::Large),
        (-0.2, Magnitude::VeryLarge),
    ];
    for (change, want) in cases {
        assert_eq!(grade(change, &f), want, "{change}");
    }
    let past = [0.001, -0.002, 0.0015, 0.003, -0.001, 0.0025, 0.002, -0.0005];
    let call = HistoryCall::of(0.03, &past);
    assert!(call.significant());
    assert_eq!(call.words(), "+3.00%, medium by history (fence ±0.60% from 8 changes)");
    let call = HistoryCall::of(0.03, &past[..3]);
    assert!(!call.significant() && call.magnitude.is_none());
    assert_eq!(call.words(), "+3.00%, no noise fence yet (3 changes in history, needs 5)");
}

#[test]
fn the_file_round_trips_keeps_the_newest_and_a_bad_one_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("history.json");
    assert_eq!(History::load(&p).unwrap(), History::default(), "none yet is empty");
    let mut h = History::default();
    for i in 0..(KEEP + 3) {
        h.push("s", "aarch64-virt", "insns/req", i as f64);
    }
    h.push("s", "mipsel-malta", "insns/req", 0.5);
    h.save(&p).unwrap();
    let back = History::load(&p).unwrap();
    assert_eq!(back, h);
    let kept = back.changes("s", "aarch64-virt", "insns/req");
    assert_eq!((kept.len(), kept[0], kept[KEEP - 1]), (KEEP, 3.0, (KEEP + 2) as f64));
    assert_eq!(back.changes("s", "mipsel-malta", "insns/req"), [0.5]);
    assert!(back.changes("s", "mipsel-malta", "rps").is_empty());
    std::fs::write(&p, "{\"schema_version\": 1, \"series\": [], \"extra\": 1}").unwrap();
    let e = History::load(&p).unwrap_err();
    assert!(matches!(e, HistoryError::Parse { .. }) && e.to_string().contains("history.json"), "{e}");
}
