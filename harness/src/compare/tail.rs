//! Whether a latency percentile has enough requests behind it to be judged.
//!
//! A cell's percentile q rests on the requests slower than it: `n × (1 − q)` of them. With a
//! handful there, the percentile is one or two requests' luck, and a ratio of two such
//! figures calls noise "worse". So q is judged only where every cell of both sides has at
//! least [`TAIL_SAMPLES`] requests beyond it: 20 requests for p50, 1,000 for p99 and 10,000
//! for p99.9 (docs/reports.md).
use crate::model::CellReport;

use super::metric::Metric;

/// Requests a cell needs beyond a percentile for that percentile to be judged.
pub const TAIL_SAMPLES: u64 = 10;

/// A side whose cells had too few requests for a percentile: the fewest in one cell, and
/// how many the percentile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooFew {
    pub per_cell: u64,
    pub needed: u64,
}

impl TooFew {
    /// The words `compare` prints and a gate that refuses gives.
    pub fn words(&self) -> String {
        format!("too few samples ({} per cell, needs {})", self.per_cell, self.needed)
    }

    /// The shorter of two sides' shortfalls, if either side falls short.
    pub fn either(a: Option<TooFew>, b: Option<TooFew>) -> Option<TooFew> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if x.per_cell <= y.per_cell { x } else { y }),
            (x, y) => x.or(y),
        }
    }
}

impl Metric {
    /// Requests a cell needs for this percentile to be judged; `None` for other metrics.
    pub fn samples_needed(self) -> Option<u64> {
        let q = self.quantile()?;
        Some((TAIL_SAMPLES as f64 / (1.0 - q)).round() as u64)
    }
}

/// Whether `cells` (one side) fall short of what `metric` needs: `None` when every cell
/// with a latency figure has enough requests behind it, or the metric is no percentile.
pub fn too_few(metric: Metric, cells: &[&CellReport]) -> Option<TooFew> {
    let needed = metric.samples_needed()?;
    let per_cell = cells.iter().filter_map(|c| c.load.as_ref()).map(|l| l.latency_us.effective_total().count).min()?;
    (per_cell < needed).then_some(TooFew { per_cell, needed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_percentile_needs_ten_requests_beyond_it() {
        let need = |m: Metric| m.samples_needed();
        assert_eq!((need(Metric::P50), need(Metric::P99), need(Metric::P999)), (Some(20), Some(1000), Some(10000)));
        assert_eq!(need(Metric::Throughput), None);
        let short = TooFew { per_cell: 1340, needed: 10000 };
        assert_eq!(short.words(), "too few samples (1340 per cell, needs 10000)");
        let shorter = TooFew { per_cell: 900, ..short };
        assert_eq!(TooFew::either(Some(short), Some(shorter)), Some(shorter));
        assert_eq!(TooFew::either(None, Some(short)), Some(short));
        assert_eq!(TooFew::either(None, None), None);
    }
}
