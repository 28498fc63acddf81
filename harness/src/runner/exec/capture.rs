//! A cell's packet capture on the session's lab: started after deploy, stopped after the
//! cell is judged, then kept and decoded or dropped ([`crate::capture`]).
use std::path::{Path, PathBuf};

use super::session::Session;
use crate::capture::{finish, CaptureMode, FailingId, Recorded, Recorder};
use crate::model::{CaptureSection, CellDir, CellReport, LoadPhase, Outcome};
use crate::reconcile::Reconciliation;

impl Session {
    /// Record every link into `<dir>/capture/` for this cell, unless capture is off. A
    /// capture that cannot start is said in the cell's report; the cell runs without it.
    pub(crate) async fn start_capture(&mut self, mode: CaptureMode, dir: &Path, r: &mut CellReport) {
        if mode == CaptureMode::Off {
            return;
        }
        match Recorder::start(&mut self.lab, &self.capture_points, &dir.join("capture")).await {
            Ok(rec) => self.recorder = Some(rec),
            Err(e) => {
                r.capture = Some(CaptureSection {
                    mode: mode.to_string(),
                    error: Some(crate::errtext::chain(&e)),
                    ..Default::default()
                })
            }
        }
    }

    /// Where the load generator writes its TLS secrets while a capture runs.
    pub(crate) fn client_keylog(&self) -> Option<PathBuf> {
        self.recorder.as_ref().map(|r| r.dir().join("client.keys.log"))
    }

    /// Stop this cell's capture; keep and decode it if `mode` says so for the cell's outcome.
    pub(crate) async fn finish_capture(&mut self, mode: CaptureMode, dir: &Path, r: &mut CellReport) {
        let Some(mut rec) = self.recorder.take() else { return };
        let (files, dropped) = rec.stop(&mut self.lab).await;
        let keylogs = [rec.dir().join("client.keys.log"), self.backend_keylog.clone()];
        let recorded = Recorded { dir: rec.dir(), files, dropped, points: &self.capture_points, keylogs: &keylogs };
        let passed = r.outcome == Outcome::Pass;
        r.capture = Some(finish(mode, passed, recorded, &failing_ids(dir)).await);
    }
}

/// The cell's wrong requests, mismatches first: from its reconciliation.json, with the
/// sending address and error class of unlogged ones from its journal.
pub(crate) fn failing_ids(dir: &Path) -> Vec<FailingId> {
    let Ok(text) = std::fs::read_to_string(CellDir(dir).reconciliation()) else { return Vec::new() };
    let Ok(rec) = serde_json::from_str::<Reconciliation>(&text) else { return Vec::new() };
    let mut out: Vec<FailingId> = rec
        .mismatch_examples
        .iter()
        .map(|m| FailingId {
            id: m.request_id.clone(),
            client: m.sent_from,
            why: match m.logged_client_ip {
                Some(ip) => format!("the backend logged {ip} as the client"),
                None => "the backend logged no client address".into(),
            },
        })
        .collect();
    if rec.unlogged_examples.is_empty() {
        return out;
    }
    let journal = CellDir(dir).journal(LoadPhase::Steady);
    let entries: Vec<crate::load::JournalEntry> = match crate::load::read_journal(&journal) {
        Ok((_, r)) => r.flatten().filter(|e| rec.unlogged_examples.contains(&e.id)).collect(),
        Err(_) => Vec::new(),
    };
    for id in &rec.unlogged_examples {
        let e = entries.iter().find(|e| &e.id == id);
        let class = e.and_then(|e| e.outcome.error_class()).map(|c| format!(": failed ({})", c.as_str()));
        out.push(FailingId {
            id: id.clone(),
            client: e.and_then(|e| e.source),
            why: format!("not in the backend's access log{}", class.unwrap_or_default()),
        });
    }
    out
}
