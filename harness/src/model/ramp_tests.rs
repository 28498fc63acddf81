use super::*;

fn step(rate: f64, served_per_s: f64, error_rate: f64) -> StepResult {
    let held = error_rate <= 0.01;
    let failures = if held { String::new() } else { "timeout 9".into() };
    StepResult { value: rate, served_per_s, error_rate, held, failures, ..Default::default() }
}

#[test]
fn the_knee_is_the_last_step_held_before_the_first_over_the_limit() {
    let steps = vec![step(5.0, 5.0, 0.0), step(10.0, 9.9, 0.005), step(20.0, 12.0, 0.3), step(40.0, 15.0, 0.0)];
    let (r, a) = RampSection::judge(steps, 0.01, Some(8.0));
    assert_eq!(r.knee.as_ref().map(|k| k.value), Some(10.0), "not 40: it came after a step over");
    assert_eq!(r.first_over.as_ref().map(|o| o.value), Some(20.0));
    assert!(a.passed, "{}", a.evidence);
    assert!(
        a.evidence.starts_with("knee at 10/s: 9.9/s served") && a.evidence.contains("min-knee 8/s served"),
        "{}",
        a.evidence
    );
    assert!(
        a.evidence.contains(
            "first over: 20/s: 12/s served, 0 full handshakes/s, 30.00% failed (timeout 9) (more than 1.00% failed)"
        ),
        "{}",
        a.evidence
    );
    let (_, low) = RampSection::judge(vec![step(5.0, 5.0, 0.0), step(10.0, 9.9, 0.2)], 0.01, Some(8.0));
    assert!(!low.passed, "a knee under the budget fails: {}", low.evidence);
}

#[test]
fn no_step_held_is_a_failure_and_every_step_held_says_so() {
    let (r, a) = RampSection::judge(vec![step(5.0, 1.0, 0.5), step(10.0, 1.0, 0.7)], 0.01, None);
    assert!(!a.passed && r.knee.is_none(), "{}", a.evidence);
    assert!(a.evidence.starts_with("no step held (at most 1.00% failed and 90% of the rate served)"), "{}", a.evidence);
    let (r, a) = RampSection::judge(vec![step(5.0, 5.0, 0.0), step(10.0, 10.0, 0.0)], 0.01, None);
    assert!(a.passed && r.first_over.is_none() && a.evidence.contains("above the ramp's last rate"), "{}", a.evidence);
}

/// A step whose requests all succeeded, late, did not hold: the router fell behind.
/// One that kept up holds, though its run lasts its duration plus the last requests'
/// time in flight.
#[test]
fn a_step_served_below_its_rate_does_not_hold() {
    let load = |sent: u64, run_s: f64, p50_ms: u64| {
        let mut l = crate::load::LoadSummary { sent, ok: sent, duration_s: run_s, ..fake_load() };
        l.latency_us.total.p50 = p50_ms * 1000;
        l
    };
    // aarch64 at 40/s for 5 s: the run took 11.7 s, half the requests over 3 s.
    let r = CellReport { outcome: Outcome::Pass, load: Some(load(200, 11.7, 3100)), ..Default::default() };
    let s = StepResult::of(&r, &at(40.0), 0.01);
    assert!(!s.held && (s.served_per_s - 23.3).abs() < 0.1, "{s:?}");
    assert_eq!(s.why_over(0.01), "served 58% of the rate, under 90%");
    // mipsel at 5/s for 2 s: 10 requests, 2.3 s with the last one's 300 ms handshake.
    let r = CellReport { outcome: Outcome::Pass, load: Some(load(10, 2.3, 280)), ..Default::default() };
    assert!(StepResult::of(&r, &at(5.0), 0.01).held, "{:?}", StepResult::of(&r, &at(5.0), 0.01));
}

fn at(rate: f64) -> RampStep {
    RampStep { of: RampOf::Rate, value: rate, step: 1, steps: 2 }
}

/// A connections ramp: memory per connection from the steps held, its knee by count.
#[test]
fn a_connections_ramp_gives_memory_per_connection() {
    let conns = |n: f64, rss: u64, used: u64, error_rate: f64| StepResult {
        of: RampOf::Connections,
        rss_peak_kb: Some(rss),
        guest_used_kb: Some(used),
        ..step(n, 0.0, error_rate)
    };
    let steps = vec![
        conns(100.0, 8_000, 30_000, 0.0),
        conns(200.0, 12_000, 36_000, 0.0),
        conns(400.0, 20_000, 48_000, 0.0),
        conns(800.0, 21_000, 50_000, 0.4),
    ];
    let (r, a) = RampSection::judge(steps, 0.01, Some(300.0));
    let near = |x: Option<f64>, want: f64| x.is_some_and(|x| (x - want).abs() < 1e-9);
    assert!(near(r.rss_kib_per_connection, 40.0), "8000 + 40 KiB per connection, the step over left out: {r:?}");
    assert!(near(r.guest_kib_per_connection, 60.0), "{r:?}");
    assert!(a.passed && a.evidence.starts_with("knee at 400 conns:"), "{}", a.evidence);
    assert!(
        a.evidence.contains("min-knee 300 conns") && a.evidence.contains("proxy 40.0, guest 60.0 KiB"),
        "{}",
        a.evidence
    );
    assert!(a.evidence.contains("proxy RSS 19.5 MiB, guest in use 46.9 MiB"), "{}", a.evidence);
    assert!(a.evidence.contains("(held: at most 1.00% failed;"), "no served share in a closed loop: {}", a.evidence);
    let mut full = conns(800.0, 1, 1, 0.4);
    full.kernel = "conntrack-full x50".into();
    assert_eq!(full.why_over(0.01), "more than 1.00% failed; the guest kernel: conntrack-full x50");
    let (_, short) = RampSection::judge(vec![conns(100.0, 1, 1, 0.0), conns(200.0, 1, 1, 0.5)], 0.01, Some(150.0));
    assert!(!short.passed, "100 connections held, 150 wanted: {}", short.evidence);
}

fn fake_load() -> crate::load::LoadSummary {
    crate::load::LoadSummary {
        schema_version: 1,
        run_id: "r".into(),
        url: "https://x/".into(),
        mode: "open".into(),
        rate: Some(1.0),
        connections: 1,
        conn_policy: "new-conn".into(),
        http2: false,
        sources: 1,
        duration_s: 5.0,
        interrupted: false,
        sent: 0,
        unsent: 0,
        ok: 0,
        errors: Default::default(),
        requests_per_s: 0.0,
        ok_per_s: 0.0,
        handshakes: Default::default(),
        connections_used: 0,
        full_handshakes_per_s: 0.0,
        bytes: 0,
        latency_us: Default::default(),
        timeline: Vec::new(),
        journal: None,
        journal_write_errors: 0,
    }
}

#[test]
fn a_step_that_could_not_run_does_not_hold() {
    let r = CellReport { outcome: Outcome::Error, error: Some("deploy: boom".into()), ..Default::default() };
    let s = StepResult::of(&r, &at(20.0), 0.01);
    assert!(!s.held && s.line() == "20/s: did not run (deploy: boom)", "{s:?}");
}

/// A connections step whose requests all timed out while handshakes trickled in (aarch64,
/// 128 MiB, 200 connections: 17.8 full handshakes/s): through the cell's report, the step
/// over names the handshake rate as what failed first.
#[test]
fn a_step_over_says_what_failed_first() {
    let mut load = fake_load();
    (load.sent, load.ok, load.full_handshakes_per_s) = (400, 0, 17.8);
    load.errors.timeout = 400;
    let r = CellReport { load: Some(load), ..Default::default() };
    let step = RampStep { of: RampOf::Connections, value: 200.0, step: 4, steps: 4 };
    let s = StepResult::of(&r, &step, 0.01);
    assert!(!s.held, "{s:?}");
    assert_eq!(
        s.why_over(0.01),
        "more than 1.00% failed; what failed first: the handshake rate: the router completed 17.8 full \
         handshakes/s, so opening 200 connections takes about 11 s, and requests timed out waiting on them"
    );
    let (_, a) = RampSection::judge(vec![s], 0.01, None);
    assert!(a.evidence.contains("what failed first: the handshake rate"), "{}", a.evidence);
}
