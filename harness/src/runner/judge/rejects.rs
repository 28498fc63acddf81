//! Connections the backend refused (its `rejects.log`: PROXY-protocol violations, untrusted
//! senders, failed TLS handshakes), as evidence in the cell: "480 connections rejected by
//! the backend: PROXY V1 header on a listener configured for v2", without opening files.
//! The log is shared by a session's cells, so each cell reads the lines after its mark.
use std::collections::BTreeMap;
use std::path::Path;

use crate::accesslog::RejectRecord;
use crate::model::RejectSummary;
use crate::reconcile::Assertion;

/// How many examples a summary keeps.
const EXAMPLES: usize = 3;

fn path(log_dir: &Path) -> std::path::PathBuf {
    crate::model::CellDir(log_dir).rejects_log()
}

/// Lines in the log so far: the cell's rejects are the ones after.
pub(crate) fn mark(log_dir: &Path) -> usize {
    std::fs::read_to_string(path(log_dir)).map(|t| t.lines().count()).unwrap_or(0)
}

/// The rejects logged after line `from`; `None` when the backend keeps no such log (nginx).
/// A line that does not parse is counted under `unreadable`, never dropped.
pub(crate) fn since(log_dir: &Path, from: usize) -> Option<RejectSummary> {
    let text = std::fs::read_to_string(path(log_dir)).ok()?;
    let mut s = RejectSummary::default();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines().skip(from).filter(|l| !l.trim().is_empty()) {
        s.count += 1;
        match serde_json::from_str::<RejectRecord>(line) {
            Ok(r) => {
                *reasons.entry(r.reason.clone()).or_default() += 1;
                if s.examples.len() < EXAMPLES {
                    s.examples.push(format!("{} from {}: {}", r.reason, r.peer_addr, r.detail));
                }
            }
            Err(_) => *reasons.entry("unreadable".into()).or_default() += 1,
        }
    }
    s.reasons = reasons;
    Some(s)
}

/// `backend-rejects`, when the backend refused anything. It fails the cell unless the
/// scenario injected faults, which break connections on purpose; then it is evidence.
pub(crate) fn assertion(s: &RejectSummary, faults: bool) -> Option<Assertion> {
    (s.count > 0).then(|| Assertion { name: "backend-rejects".into(), passed: faults, evidence: s.describe() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(reason: &str, detail: &str) -> String {
        format!(
            r#"{{"time":"2026-11-26T08:00:00+00:00","peer_addr":"10.1.0.1:40000","listener":"10.2.0.1:443","reason":"{reason}","detail":"{detail}"}}"#
        )
    }

    #[test]
    fn only_the_cells_lines_are_counted_by_reason_with_the_first_few_said() {
        let d = tempfile::tempdir().unwrap();
        let earlier = line("untrusted", "an earlier cell");
        std::fs::write(path(d.path()), format!("{earlier}\n")).unwrap();
        let from = mark(d.path());
        let v2 = line("proxy-version", "PROXY V1 header on a listener configured for v2");
        let more: String = (0..4).map(|_| format!("{v2}\n")).collect::<String>() + "not json\n";
        std::fs::write(path(d.path()), format!("{earlier}\n{more}")).unwrap();
        let s = since(d.path(), from).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.reasons, BTreeMap::from([("proxy-version".into(), 4), ("unreadable".into(), 1)]));
        assert_eq!(s.examples.len(), 3);
        let a = assertion(&s, false).unwrap();
        assert!(!a.passed);
        assert!(
            a.evidence.starts_with("5 connections rejected by the backend: proxy-version 4, unreadable 1; e.g. proxy-version from 10.1.0.1:40000: PROXY V1 header on a listener configured for v2"),
            "{}",
            a.evidence
        );
        assert!(assertion(&s, true).unwrap().passed, "with faults it is evidence");
    }

    #[test]
    fn no_rejects_is_no_assertion_and_no_log_is_unknown() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(since(d.path(), 0), None);
        std::fs::write(path(d.path()), "").unwrap();
        let s = since(d.path(), 0).unwrap();
        assert_eq!(s.count, 0);
        assert!(assertion(&s, false).is_none());
    }
}
