//! The harness's own processes, watched from the host: the load generator's and the
//! backend's resident set size, once a second while the load runs. A soak asserts that
//! these stay flat, so a leak in routerlab is neither blamed on the proxy nor hidden.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::{Growth, HelperMemory};
use crate::procstat::vm_rss_kb;

/// When, and the load's and the backend's RSS (KiB) if each was there.
type Sample = (Instant, Option<u64>, Option<u64>);
type Samples = Arc<Mutex<Vec<Sample>>>;

pub(crate) struct RssSampler {
    task: tokio::task::JoinHandle<()>,
    samples: Samples,
}

impl RssSampler {
    /// Sample `load` and `backend` (pids) every `every` until [`RssSampler::finish`]. A
    /// process that is gone (a restarted backend has a new pid) gives no more samples.
    pub fn start(load: Option<u32>, backend: Option<u32>, every: Duration) -> Self {
        let samples = Samples::default();
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let s = (Instant::now(), load.and_then(vm_rss_kb), backend.and_then(vm_rss_kb));
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        });
        RssSampler { task, samples }
    }

    /// Stop, and fit each process's samples within `[from, to]`.
    pub fn finish(self, from: Instant, to: Instant) -> HelperMemory {
        self.task.abort();
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        fit_window(&samples, from, to)
    }
}

fn fit_window(samples: &[Sample], from: Instant, to: Instant) -> HelperMemory {
    let window: Vec<&Sample> = samples.iter().filter(|s| s.0 >= from && s.0 <= to).collect();
    let fit = |pick: fn(&Sample) -> Option<u64>| {
        let pts: Vec<(f64, u64)> =
            window.iter().filter_map(|s| pick(s).map(|kb| ((s.0 - from).as_secs_f64(), kb))).collect();
        Growth::fit_settled(&pts)
    };
    HelperMemory { load: fit(|s| s.1), backend: fit(|s| s.2) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_window_is_fitted_and_a_vanished_process_stops_counting() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // The load grows 1 KiB/s inside [10, 40]; before 10 s it jumped (warm-up) and is
        // left out, and so is the window's settling quarter (10-17.5 s). The backend vanished
        // after 30 s (a restart gives a new pid).
        let samples: Vec<Sample> =
            (0..=50).map(|s| (at(s), Some(if s < 10 { 100 } else { 1000 + s }), (s <= 30).then_some(500))).collect();
        let m = fit_window(&samples, at(10), at(40));
        let load = m.load.unwrap();
        assert!((load.kib_per_min - 60.0).abs() < 0.01, "{load:?}");
        assert_eq!((load.samples, load.first_kb, load.last_kb), (23, 1018, 1040));
        let backend = m.backend.unwrap();
        assert_eq!((backend.samples, backend.kib_per_min), (16, 0.0));
        assert_eq!(fit_window(&samples, at(45), at(50)).load, None, "5 s is too short to call a trend");
    }
}
