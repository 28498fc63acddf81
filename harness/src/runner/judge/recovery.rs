//! How a cell came through its faults, from the steady journal: per fault, how many
//! requests failed from its start until every client address succeeded again (by error
//! class), and how long after its end that took. Pure: unit-tested on made-up journals.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::load::{ErrorClass, JournalEntry};
use crate::model::FaultRecord;
use crate::reconcile::Assertion;
use crate::scenario::FaultExpect;

/// One request as the journal has it: when it started (seconds into the steady phase),
/// from where, and its error class (`None` when it succeeded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sent {
    pub t: f64,
    pub source: Option<IpAddr>,
    pub error: Option<ErrorClass>,
}

impl From<&JournalEntry> for Sent {
    fn from(e: &JournalEntry) -> Sent {
        Sent { t: e.start_us as f64 / 1e6, source: e.source, error: e.outcome.error_class() }
    }
}

/// What one fault cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recovery {
    /// Seconds from the fault's end to the first success from every client address still
    /// sending after it; `None` when some address never succeeded again, named in `never`.
    pub after_s: Option<f64>,
    pub never: Vec<IpAddr>,
    pub sources: usize,
    /// Failed requests started from the fault's start to recovery (or the phase's end).
    pub failed: BTreeMap<String, u64>,
    pub window: (f64, f64),
}

pub(crate) fn recovery(f: &FaultRecord, sent: &[Sent]) -> Recovery {
    // The addresses still sending after the fault's end: a connection that is opened again
    // takes the next address of the pool, so an address may go out of use without failing.
    let sources: BTreeSet<IpAddr> = sent.iter().filter(|s| s.t >= f.end_s).filter_map(|s| s.source).collect();
    let mut after = Some(0.0f64);
    let mut never = Vec::new();
    for src in &sources {
        let first = sent.iter().filter(|s| s.source == Some(*src) && s.error.is_none() && s.t >= f.end_s).map(|s| s.t);
        match first.reduce(f64::min) {
            Some(t) => after = after.map(|a| a.max(t - f.end_s)),
            None => never.push(*src),
        }
    }
    if !never.is_empty() {
        after = None;
    }
    let last = sent.iter().map(|s| s.t).fold(f.end_s, f64::max);
    let window = (f.start_s, after.map_or(last, |a| f.end_s + a));
    let mut failed = BTreeMap::new();
    for s in sent.iter().filter(|s| s.t >= window.0 && s.t <= window.1) {
        if let Some(c) = s.error {
            *failed.entry(crate::scenario::kebab(&c)).or_insert(0) += 1;
        }
    }
    Recovery { after_s: after, never, sources: sources.len(), failed, window }
}

/// Per fault: `fault-N-recovery` always (with `max-recovery` as its budget, else "at all"),
/// `fault-N-failed` when `max-failed` is set, and `fault-N-applied` when it could not be.
pub(crate) fn fault_assertions(expect: &FaultExpect, faults: &[FaultRecord], sent: &[Sent]) -> Vec<Assertion> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let name = |what: &str| format!("fault-{}-{what}", i + 1);
        let what = format!("{} at {:.1}-{:.1} s", f.action, f.start_s, f.end_s);
        if let Some(e) = &f.error {
            out.push(Assertion { name: name("applied"), passed: false, evidence: format!("{what}: {e}") });
            continue;
        }
        let r = recovery(f, sent);
        let (passed, evidence) = match (r.after_s, expect.max_recovery) {
            (None, _) => {
                let never: Vec<String> = r.never.iter().map(|a| a.to_string()).collect();
                (
                    false,
                    format!(
                        "{what}: {} of {} client addresses never succeeded again ({})",
                        never.len(),
                        r.sources,
                        never.join(", ")
                    ),
                )
            }
            (Some(a), Some(max)) => (
                a <= max.as_secs_f64(),
                format!(
                    "{what}: all {} client addresses succeeded again {a:.2} s after its end, budget {max:?}",
                    r.sources
                ),
            ),
            (Some(a), None) => {
                (true, format!("{what}: all {} client addresses succeeded again {a:.2} s after its end", r.sources))
            }
        };
        out.push(Assertion { name: name("recovery"), passed, evidence });
        if let Some(max) = expect.max_failed {
            let n: u64 = r.failed.values().sum();
            let classes: Vec<String> = r.failed.iter().map(|(c, k)| format!("{c} {k}")).collect();
            let evidence = format!(
                "{what}: {n} failed in {:.1}-{:.1} s ({}), budget {max}",
                r.window.0,
                r.window.1,
                if classes.is_empty() { "none".into() } else { classes.join(", ") }
            );
            out.push(Assertion { name: name("failed"), passed: n <= max, evidence });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Two clients, one request each every 0.5 s for 10 s; requests in [2, 4) fail by timeout.
    fn journal(dead_after: Option<f64>) -> Vec<Sent> {
        let mut v = Vec::new();
        for k in 0..20 {
            for src in ["203.0.113.1", "203.0.113.2"] {
                let t = k as f64 * 0.5 + if src.ends_with('2') { 0.1 } else { 0.0 };
                let down = (2.0..4.0).contains(&t) || dead_after.is_some_and(|d| t >= d && src.ends_with('2'));
                v.push(Sent { t, source: ip(src), error: down.then_some(ErrorClass::Timeout) });
            }
        }
        v
    }

    fn fault(start_s: f64, end_s: f64) -> FaultRecord {
        FaultRecord { action: "flap-tunnel".into(), start_s, end_s, error: None }
    }

    #[test]
    fn recovery_counts_from_the_end_to_the_last_address_back() {
        let r = recovery(&fault(2.0, 3.0), &journal(None));
        // Failures end at 4.0: client 1 succeeds at 4.0, client 2 at 4.1.
        assert!((r.after_s.unwrap() - 1.1).abs() < 1e-9, "{r:?}");
        assert_eq!(r.failed.get("timeout"), Some(&8), "4 per client in [2, 4)");
        assert_eq!((r.sources, r.never.len()), (2, 0));
    }

    #[test]
    fn an_address_out_of_use_after_the_fault_is_not_a_failure() {
        // Client 2 stops sending at the fault (its connection took another address).
        let sent: Vec<Sent> =
            journal(None).into_iter().filter(|s| s.t < 2.0 || s.source == ip("203.0.113.1")).collect();
        let r = recovery(&fault(2.0, 3.0), &sent);
        assert_eq!((r.sources, r.never.len()), (1, 0), "{r:?}");
        assert!((r.after_s.unwrap() - 1.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn an_address_that_never_comes_back_fails_the_cell_and_is_named() {
        let expect = FaultExpect { max_failed: Some(5), max_recovery: Some(Duration::from_secs(2)) };
        let a = fault_assertions(&expect, &[fault(2.0, 3.0)], &journal(Some(2.0)));
        let rec = a.iter().find(|a| a.name == "fault-1-recovery").unwrap();
        assert!(!rec.passed && rec.evidence.contains("203.0.113.2"), "{rec:?}");
        let failed = a.iter().find(|a| a.name == "fault-1-failed").unwrap();
        assert!(!failed.passed && failed.evidence.contains("timeout"), "{failed:?}");
        // Within budget when it does come back.
        let ok = fault_assertions(&expect, &[fault(2.0, 3.0)], &journal(None));
        assert!(ok.iter().find(|a| a.name == "fault-1-recovery").unwrap().passed);
        assert!(!ok.iter().find(|a| a.name == "fault-1-failed").unwrap().passed, "8 failed > 5");
        // A fault that was never applied says so.
        let broken = FaultRecord { error: Some("not run".into()), ..fault(9.0, 9.0) };
        assert_eq!(fault_assertions(&expect, &[broken], &journal(None))[0].name, "fault-1-applied");
    }
}
