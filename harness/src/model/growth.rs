//! Memory growth over a phase: the least-squares slope of a process's resident set size
//! against time, as a soak's leak detector reads it. A slope, not last minus first, so one
//! sample taken mid-allocation neither hides nor invents a leak.

/// Samples below this, or spanning less than [`MIN_SPAN_S`], give no slope.
pub const MIN_SAMPLES: usize = 3;
pub const MIN_SPAN_S: f64 = 10.0;
/// The share of a phase left out at its start: caches, session tables and the allocator's
/// arenas fill there, and in a short soak that rise reads as a leak (measured: routerlab's
/// own load generator, flat over ten minutes, rose 67-176 KiB/min over its first two).
pub const SETTLE_SHARE: f64 = 0.25;

/// The fitted growth of one process's (or the guest's) memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Growth {
    /// Slope of the fit, KiB per minute; negative when memory was given back.
    pub kib_per_min: f64,
    /// Samples fitted, and the seconds from the first to the last.
    pub samples: usize,
    pub span_s: f64,
    /// The first and last samples (KiB), as a person would check the slope against.
    pub first_kb: u64,
    pub last_kb: u64,
}

impl Growth {
    /// [`Growth::fit`] on what follows the first [`SETTLE_SHARE`] of the samples' span.
    pub fn fit_settled(points: &[(f64, u64)]) -> Option<Growth> {
        let (first, last) = (points.first()?.0, points.last()?.0);
        let from = first + (last - first) * SETTLE_SHARE;
        let settled: Vec<(f64, u64)> = points.iter().copied().filter(|p| p.0 >= from).collect();
        Growth::fit(&settled)
    }

    /// Fit `kb = a + slope × t` to `(seconds, KiB)` samples in time order. `None` when
    /// there are too few samples, or they span too short a time, to call a trend.
    pub fn fit(points: &[(f64, u64)]) -> Option<Growth> {
        let (first, last) = (points.first()?, points.last()?);
        let span_s = last.0 - first.0;
        if points.len() < MIN_SAMPLES || span_s.is_nan() || span_s < MIN_SPAN_S {
            return None;
        }
        let xy: Vec<(f64, f64)> = points.iter().map(|&(t, kb)| (t, kb as f64)).collect();
        let slope = slope(&xy)?;
        Some(Growth { kib_per_min: slope * 60.0, samples: points.len(), span_s, first_kb: first.1, last_kb: last.1 })
    }

    /// `+12.5 KiB/min over 118 samples in 120 s (4100 → 4125 KiB)`.
    pub fn describe(&self) -> String {
        format!(
            "{:+.1} KiB/min over {} samples in {:.0} s ({} → {} KiB)",
            self.kib_per_min, self.samples, self.span_s, self.first_kb, self.last_kb
        )
    }
}

/// The harness's own processes during the steady phase: a soak asserts that these stay
/// flat too, or a leak in routerlab would be blamed on the proxy or hide its own.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HelperMemory {
    /// The load generator (`routerlab load`).
    pub load: Option<Growth>,
    /// The backend (routerlab's or nginx's master).
    pub backend: Option<Growth>,
}

/// The least-squares slope of `y` on `x`; `None` with fewer than two distinct `x`. Memory
/// over time here, memory over connection counts in a ramp.
pub(crate) fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    (points.len() >= 2 && sxx > 0.0 && slope.is_finite()).then_some(slope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_leak_is_its_slope_whatever_the_noise() {
        // 2 KiB per second = 120 KiB/min, with ±40 KiB of sawtooth from an allocator.
        let pts: Vec<(f64, u64)> =
            (0..120).map(|s| (s as f64, 4000 + 2 * s + [0, 40, 0, 80][s as usize % 4])).collect();
        let g = Growth::fit(&pts).unwrap();
        assert!((g.kib_per_min - 120.0).abs() < 5.0, "{g:?}");
        assert_eq!((g.samples, g.first_kb), (120, 4000));
    }

    #[test]
    fn flat_memory_with_one_spike_is_near_zero_not_the_spike() {
        let mut pts: Vec<(f64, u64)> = (0..60).map(|s| (s as f64, 5000)).collect();
        pts[30].1 = 9000;
        let g = Growth::fit(&pts).unwrap();
        // One 4000 KiB spike among 60 samples moves the slope by under 10 KiB/min.
        assert!(g.kib_per_min.abs() < 10.0, "{g:?}");
        // Last minus first would say 0 here, and 4000 KiB/min had the spike been last.
        pts[59].1 = 9000;
        assert!(Growth::fit(&pts).unwrap().kib_per_min < 500.0);
    }

    #[test]
    fn the_settling_quarter_is_left_out() {
        // A rise of 400 KiB in the first 30 s, flat for the 90 s after.
        let pts: Vec<(f64, u64)> = (0..=120).map(|s| (s as f64, 5000 + 400 * s.min(30) / 30)).collect();
        assert!(Growth::fit(&pts).unwrap().kib_per_min > 100.0);
        let g = Growth::fit_settled(&pts).unwrap();
        assert_eq!((g.kib_per_min, g.first_kb, g.span_s), (0.0, 5400, 90.0));
    }

    #[test]
    fn too_few_samples_or_too_short_a_span_is_no_slope() {
        assert_eq!(Growth::fit(&[]), None);
        assert_eq!(Growth::fit(&[(0.0, 1), (30.0, 2)]), None);
        assert_eq!(Growth::fit(&[(0.0, 1), (1.0, 2), (2.0, 3)]), None);
        assert_eq!(Growth::fit(&[(5.0, 1), (5.0, 2), (5.0, 3)]), None);
        assert!(Growth::fit(&[(0.0, 1), (5.0, 2), (10.0, 3)]).is_some());
    }
}
