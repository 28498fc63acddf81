use std::sync::{Arc, Mutex};

use super::journal::{ErrorClass, Outcome};
use crate::hist::LatencyHist;

/// One worker's measurements. Fixed-size histograms and per-second counters: memory does
/// not grow with the number of requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerStats {
    pub handshake: LatencyHist,
    pub ttfb: LatencyHist,
    /// Completion minus actual send time (what closed-loop tools report), successful
    /// requests only, as `ttfb` and `corrected` are.
    pub total: LatencyHist,
    /// Completion minus intended send time (open loop only).
    pub corrected: LatencyHist,
    /// Failed requests (no answer, or 4xx/5xx): send to failure, kept apart.
    pub failed: LatencyHist,
    pub sent: u64,
    pub ok: u64,
    pub errors: [u64; 5],
    pub full_handshakes: u64,
    pub resumed_handshakes: u64,
    /// Connections that carried requests: opened here, or kept from an earlier phase.
    pub connections_used: u64,
    pub bytes: u64,
    /// Completed requests per second since the start.
    pub timeline: Vec<u64>,
}

pub(crate) type SharedStats = Arc<Mutex<WorkerStats>>;

impl WorkerStats {
    pub fn count(&mut self, outcome: Outcome, second: usize) {
        self.sent += 1;
        match outcome.error_class() {
            None => self.ok += 1,
            Some(c) => self.errors[class_index(c)] += 1,
        }
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, 0);
        }
        self.timeline[second] += 1;
    }

    pub fn merge(&mut self, o: &WorkerStats) {
        self.handshake.merge(&o.handshake);
        self.ttfb.merge(&o.ttfb);
        self.total.merge(&o.total);
        self.corrected.merge(&o.corrected);
        self.failed.merge(&o.failed);
        self.sent += o.sent;
        self.ok += o.ok;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.full_handshakes += o.full_handshakes;
        self.resumed_handshakes += o.resumed_handshakes;
        self.connections_used += o.connections_used;
        self.bytes += o.bytes;
        if self.timeline.len() < o.timeline.len() {
            self.timeline.resize(o.timeline.len(), 0);
        }
        for (a, b) in self.timeline.iter_mut().zip(&o.timeline) {
            *a += b;
        }
    }

    pub fn merged(all: &[SharedStats]) -> WorkerStats {
        let mut m = WorkerStats::default();
        for s in all {
            m.merge(&s.lock().expect("stats lock"));
        }
        m
    }
}

pub(crate) fn class_index(c: ErrorClass) -> usize {
    ErrorClass::ALL.iter().position(|x| *x == c).expect("class in ALL")
}
