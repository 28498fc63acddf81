//! A ramp's steps on one router: each step's plan, and the knee once the ramp ends, at its
//! last step or at the first that did not hold (the steps after it cannot move the knee, so
//! they are not run).
use std::time::Duration;

use crate::model::{CellReport, Outcome, RampOf, RampSection, RampStep, StepResult};
use crate::scenario::Plan;

/// The plan of one ramp step: the scenario at that open-loop rate, or with that many
/// connections and a warm-up long enough to open them all at the connect rate.
pub(crate) fn at_step(plan: &Plan, step: &RampStep) -> Plan {
    let mut p = plan.clone();
    match step.of {
        RampOf::Rate => p.load.rate = Some(step.value),
        RampOf::Connections => {
            p.load.connections = step.value as u32;
            if let Some(r) = p.load.connect_rate {
                let opening = Duration::from_secs_f64(step.value / r) + Duration::from_secs(1);
                p.load.warmup = p.load.warmup.max(opening);
            }
        }
    }
    p
}

/// Keep a ramp step's figures; on the ramp's last step, or the first that did not hold
/// (the steps after it are not run: they cannot move the knee), judge the knee and give that
/// cell the whole ramp. A failed knee fails the cell (an error stays an error). True when the
/// ramp stops here with steps left.
pub(crate) fn judge_ramp(plan: &Plan, r: &mut CellReport, steps: &mut Vec<StepResult>) -> bool {
    let (Some(step), Some(ramp)) = (r.ramp_step, &plan.load.ramp) else { return false };
    if step.step == 1 {
        steps.clear();
    }
    let this = StepResult::of(r, &step, ramp.error_limit);
    let stop = !this.held && step.step < step.steps;
    steps.push(this);
    if stop {
        let why = format!("the ramp stopped at {}, the first step that did not hold", step.label());
        let rest = ramp.values.iter().skip(step.step as usize);
        steps.extend(rest.map(|&v| StepResult::not_run(step.of, v, why.clone())));
    }
    if stop || step.step == step.steps {
        let (section, a) = RampSection::judge(std::mem::take(steps), ramp.error_limit, ramp.min_knee);
        if r.outcome == Outcome::Pass && !a.passed {
            r.outcome = Outcome::Fail;
        }
        r.assertions.push(a);
        r.ramp = Some(section);
    }
    stop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadSummary;

    fn storm() -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/handshake-storm.toml");
        crate::scenario::load_plan(&path).unwrap()
    }

    /// Step `i` (0-based) of the plan's ramp: `ok` of `sent` answered over 5 s.
    fn step(plan: &Plan, i: usize, sent: u64, ok: u64) -> CellReport {
        let text = include_str!("../../../tests/fixtures/steady.load.json");
        let mut load: LoadSummary = serde_json::from_str(text).unwrap();
        (load.sent, load.ok, load.duration_s) = (sent, ok, 5.0);
        let ramp = plan.load.ramp.as_ref().unwrap();
        let (value, steps) = (ramp.values[i], ramp.values.len() as u32);
        let s = RampStep { of: ramp.of, value, step: i as u32 + 1, steps };
        CellReport { outcome: Outcome::Pass, load: Some(load), ramp_step: Some(s), ..Default::default() }
    }

    #[test]
    fn a_ramp_stops_at_its_first_step_that_does_not_hold_and_lists_the_rest_as_not_run() {
        let plan = storm();
        assert_eq!(plan.load.ramp.as_ref().unwrap().values, [2.0, 5.0, 10.0, 20.0, 40.0]);
        let mut steps = Vec::new();
        let mut first = step(&plan, 0, 10, 10);
        assert!(!judge_ramp(&plan, &mut first, &mut steps), "2/s held: on to 5/s");
        assert!(first.ramp.is_none() && first.assertions.is_empty());
        // 5/s: 15 of 25 failed.
        let mut second = step(&plan, 1, 25, 10);
        assert!(judge_ramp(&plan, &mut second, &mut steps), "the ramp stops here");
        let ramp = second.ramp.as_ref().expect("the ramp is judged on the step it stopped at");
        let values: Vec<f64> = ramp.steps.iter().map(|s| s.value).collect();
        assert_eq!(values, [2.0, 5.0, 10.0, 20.0, 40.0], "every step is listed");
        assert_eq!(ramp.knee.as_ref().map(|k| k.value), Some(2.0));
        assert_eq!(ramp.first_over.as_ref().map(|k| k.value), Some(5.0));
        for s in &ramp.steps[2..] {
            let why = s.error.as_deref().unwrap_or_default();
            assert!(!s.held && why == "the ramp stopped at 5/s, the first step that did not hold", "{s:?}");
            assert!(s.line().starts_with(&format!("{}/s: did not run (the ramp stopped", s.value)), "{}", s.line());
        }
        let knee = second.assertions.iter().find(|a| a.name == "knee").expect("the knee assertion");
        assert!(knee.passed && second.outcome == Outcome::Pass, "min-knee 2 is met: {}", knee.evidence);
    }

    #[test]
    fn a_ramp_that_holds_to_its_end_or_fails_only_there_runs_every_step() {
        let plan = storm();
        for last_ok in [200, 50] {
            let mut steps = Vec::new();
            for (i, v) in [2u64, 5, 10, 20].into_iter().enumerate() {
                let mut r = step(&plan, i, v * 5, v * 5);
                assert!(!judge_ramp(&plan, &mut r, &mut steps) && r.ramp.is_none(), "step {i}");
            }
            let mut last = step(&plan, 4, 200, last_ok);
            assert!(!judge_ramp(&plan, &mut last, &mut steps), "nothing is left to stop");
            let ramp = last.ramp.expect("judged at the last step");
            assert!(ramp.steps.iter().all(|s| s.error.is_none()), "{ramp:?}");
            assert_eq!(ramp.first_over.is_some(), last_ok < 200, "{ramp:?}");
        }
    }
}
