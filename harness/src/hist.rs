//! Latency histograms (HdrHistogram, microseconds) and the percentile summary reports use.
use hdrhistogram::Histogram;

/// Highest trackable latency: 10 minutes in microseconds; larger values are clamped.
const MAX_US: u64 = 600_000_000;

/// A microsecond latency histogram with 3 significant figures; its memory is fixed
/// (about 30 KiB) however many values it records.
#[derive(Debug, Clone)]
pub struct LatencyHist(Histogram<u64>);

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist(Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds"))
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencyHist {
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_US));
    }
    pub fn record_duration(&mut self, d: std::time::Duration) {
        self.record(d.as_micros().min(u128::from(MAX_US)) as u64);
    }
    pub fn merge(&mut self, other: &LatencyHist) {
        self.0.add(&other.0).expect("histograms share bounds");
    }
    pub fn len(&self) -> u64 {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: self.0.len(),
            min: self.0.min(),
            mean: self.0.mean(),
            p50: self.0.value_at_quantile(0.50),
            p90: self.0.value_at_quantile(0.90),
            p99: self.0.value_at_quantile(0.99),
            p999: self.0.value_at_quantile(0.999),
            max: self.0.max(),
        }
    }
    /// (percentile, value) pairs along the HDR percentile curve, for plots.
    pub fn percentile_curve(&self) -> Vec<(f64, u64)> {
        self.0.iter_quantiles(1).map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(v: u64, want: u64) -> bool {
        (v as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0
    }

    #[test]
    fn uniform_distribution_percentiles() {
        let mut h = LatencyHist::default();
        for v in 1..=100_000 {
            h.record(v);
        }
        let p = h.percentiles();
        assert_eq!((p.count, p.min), (100_000, 1));
        assert!(within(p.p50, 50_000), "{p:?}");
        assert!(within(p.p90, 90_000), "{p:?}");
        assert!(within(p.p99, 99_000), "{p:?}");
        assert!(within(p.p999, 99_900), "{p:?}");
        assert!(within(p.max, 100_000), "{p:?}");
        assert!((p.mean - 50_000.5).abs() < 50.0, "{p:?}");
    }

    #[test]
    fn bimodal_distribution_and_merge() {
        // 99% fast (100 us), 1% slow (50 ms): p99 sits at the edge, p99.9 in the slow mode.
        let (mut a, mut b) = (LatencyHist::default(), LatencyHist::default());
        for i in 0..10_000u64 {
            if i % 100 == 0 {
                b.record(50_000)
            } else {
                a.record(100)
            }
        }
        a.merge(&b);
        let p = a.percentiles();
        assert!(within(p.p50, 100) && within(p.p90, 100), "{p:?}");
        assert!(within(p.p999, 50_000), "{p:?}");
        assert_eq!(p.count, 10_000);
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = LatencyHist::default();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.percentiles().max >= MAX_US);
    }
}
