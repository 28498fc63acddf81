use harness::model::Verdict;
use harness::reconcile::{reconcile, Expect};

use crate::cli::VerifyArgs;
use crate::exit::{Classify, CmdResult, Code};

pub fn run(a: VerifyArgs) -> CmdResult {
    let r = reconcile(&a.journal, &a.access_log, a.log_format).bad_input()?;
    let expect = match a.expect {
        Verdict::Lost => Expect::Lost { seen_as: a.seen_as.clone() },
        Verdict::Preserved => Expect::Preserved,
    };
    let checks = r.assertions(&expect, a.max_error_rate);
    if let Some(path) = &a.json {
        super::write_json(
            path,
            &serde_json::json!({ "reconciliation": r, "verdict": r.verdict(), "assertions": checks }),
        )?;
    }
    outln!(
        "run {}: {} sent, {} ok, {} logged, {} attributed, {} mismatches -> client IP {}",
        r.run_id,
        r.sent,
        r.ok,
        r.logged,
        r.attributed,
        r.mismatches,
        r.verdict()
    );
    for (src, o) in r.per_source.iter().take(20) {
        outln!("  {src:<40} {:>8} requests {:>8} ok {:>8} attributed", o.requests, o.ok, o.attributed);
    }
    if r.per_source.len() > 20 {
        outln!("  ... and {} more sources", r.per_source.len() - 20);
    }
    for c in &checks {
        outln!("{} {:<20} {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.evidence);
    }
    Ok(if checks.iter().all(|c| c.passed) { Code::Ok } else { Code::AssertionFailed })
}
