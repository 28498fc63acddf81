use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Live counters, shared by all connections.
#[derive(Debug, Default)]
pub struct BackendStats {
    connections: AtomicU64,
    requests: AtomicU64,
    log_errors: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

/// A copy of the counters, for printing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub connections: u64,
    pub requests: u64,
    pub log_errors: u64,
    pub rejected: BTreeMap<String, u64>,
    pub rejected_total: u64,
}

impl BackendStats {
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn log_error(&self) {
        self.log_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn reject(&self, reason: &'static str) {
        *self.rejected.lock().expect("stats lock").entry(reason).or_default() += 1;
    }
    pub fn snapshot(&self) -> StatsSnapshot {
        let rejected: BTreeMap<String, u64> =
            self.rejected.lock().expect("stats lock").iter().map(|(k, v)| (k.to_string(), *v)).collect();
        StatsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            log_errors: self.log_errors.load(Ordering::Relaxed),
            rejected_total: rejected.values().sum(),
            rejected,
        }
    }
}
