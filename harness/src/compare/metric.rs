//! The metrics a comparison shows, how each is read from a cell, and which way is better.
use crate::model::CellReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Throughput,
    Handshakes,
    P50,
    P99,
    P999,
    CpuPer1k,
    PeakRss,
    Errors,
    ClientIp,
    /// Requests per backend connection: how well the proxy reuses its backend connections.
    BackendReuse,
    /// Guest instructions per completed request (background subtracted), and its parts.
    Insns,
    InsnsUser,
    InsnsKernel,
    /// Software TLB refills per request (MIPS), background subtracted.
    TlbRefills,
}

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::Insns,
        Metric::InsnsUser,
        Metric::InsnsKernel,
        Metric::TlbRefills,
        Metric::Throughput,
        Metric::Handshakes,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::CpuPer1k,
        Metric::PeakRss,
        Metric::Errors,
        Metric::BackendReuse,
        Metric::ClientIp,
    ];

    /// The name used in tables and in `--fail-if`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "rps",
            Metric::Handshakes => "handshakes",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::CpuPer1k => "cpu-per-1k",
            Metric::PeakRss => "rss",
            Metric::Errors => "errors",
            Metric::BackendReuse => "req/backend-conn",
            Metric::ClientIp => "client-ip",
            Metric::Insns => "insns/req",
            Metric::InsnsUser => "insns/req-user",
            Metric::InsnsKernel => "insns/req-kernel",
            Metric::TlbRefills => "tlb-refills/req",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput | Metric::Handshakes => "/s",
            Metric::P50 | Metric::P99 | Metric::P999 => "ms",
            Metric::CpuPer1k => "CPU-s/1k req",
            Metric::PeakRss => "MiB",
            Metric::Errors => "",
            Metric::BackendReuse => "req/conn",
            Metric::ClientIp => "",
            Metric::Insns | Metric::InsnsUser | Metric::InsnsKernel => "insns",
            Metric::TlbRefills => "refills",
        }
    }

    /// Guest instruction counts: deterministic, so no noise floor; compared by a fit.
    pub fn is_insns(self) -> bool {
        matches!(self, Metric::Insns | Metric::InsnsUser | Metric::InsnsKernel)
    }

    /// The latency quantile behind a percentile metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::P50 => Some(0.50),
            Metric::P99 => Some(0.99),
            Metric::P999 => Some(0.999),
            _ => None,
        }
    }

    /// A percentile metric over all of `cells`' requests together, in ms: their latency
    /// histograms merged, not a median of their percentiles. `None` unless every cell
    /// carries its histogram.
    pub fn pooled(self, cells: &[&CellReport]) -> Option<f64> {
        let q = self.quantile()?;
        let mut all = crate::hist::LatencyHist::default();
        for c in cells {
            let text = c.load.as_ref()?.latency_us.effective_hist.as_deref()?;
            all.merge(&crate::hist::LatencyHist::decode(text).ok()?);
        }
        (!cells.is_empty() && !all.is_empty()).then(|| all.quantile(q) as f64 / 1000.0)
    }

    /// Changes smaller than this share are never called (wall-clock metrics wobble by
    /// about 2% run to run on an emulated router; counts of guest work do not).
    pub fn noise_floor(self) -> f64 {
        if self.is_insns() || self == Metric::TlbRefills {
            0.0
        } else {
            super::MIN_CHANGE
        }
    }

    /// Whether a larger value is the better one (for the change column's wording).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Throughput | Metric::Handshakes | Metric::BackendReuse)
    }

    pub fn parse(s: &str) -> Option<Metric> {
        let s = s.trim().to_ascii_lowercase();
        let alias = match s.as_str() {
            "throughput" | "req/s" | "requests" => "rps",
            "p99.9" => "p999",
            "cpu" => "cpu-per-1k",
            "peak-rss" | "memory" => "rss",
            "handshakes/s" => "handshakes",
            "insns" | "instructions" | "insns-per-req" => "insns/req",
            "tlb" | "tlb-refills" => "tlb-refills/req",
            other => other,
        };
        Metric::ALL.into_iter().find(|m| m.name() == alias)
    }

    /// The number behind the metric for one cell, in the unit above. `None` when the cell
    /// did not measure it (no load, no metrics). Client IP is a verdict, not a number.
    pub fn value(self, c: &CellReport) -> Option<f64> {
        let l = c.load.as_ref();
        let lat =
            |f: fn(&crate::hist::Percentiles) -> u64| l.map(|l| f(&l.latency_us.effective_total()) as f64 / 1000.0);
        match self {
            Metric::Throughput => l.map(|l| l.requests_per_s),
            Metric::Handshakes => l.map(|l| l.full_handshakes_per_s),
            Metric::P50 => lat(|p| p.p50),
            Metric::P99 => lat(|p| p.p99),
            Metric::P999 => lat(|p| p.p999),
            // CPU-seconds of the proxy per 1000 requests: mean CPU share times the steady
            // time, over the requests served in it. Lower is cheaper.
            Metric::CpuPer1k => {
                let (m, l) = (c.metrics.as_ref()?, l?);
                let cpu = m.cpu_mean_pct.filter(|_| m.samples > 0)?;
                (l.ok > 0).then(|| cpu / 100.0 * l.duration_s / l.ok as f64 * 1000.0)
            }
            Metric::PeakRss => {
                c.metrics.as_ref().filter(|m| m.samples > 0).and_then(|m| m.rss_peak_kb).map(|k| k as f64 / 1024.0)
            }
            Metric::Errors => l.map(|l| l.errors.total() as f64),
            Metric::BackendReuse => c.connections.as_ref()?.backend?.requests_per_connection,
            Metric::ClientIp => None,
            Metric::Insns => steady(c)?.per_request,
            Metric::InsnsUser => steady(c)?.per_request_user,
            Metric::InsnsKernel => steady(c)?.per_request_kernel,
            Metric::TlbRefills => steady(c)?.tlb_refills_per_request,
        }
    }

    /// For instruction metrics: the cell's requests, instructions and full handshakes per
    /// second in the steady phase, the point the per-request fit uses (`compare::fit`).
    pub fn fit_point(self, c: &CellReport) -> Option<super::FitPoint> {
        let s = steady(c)?;
        let insns = match self {
            Metric::Insns => s.total,
            Metric::InsnsUser => s.user,
            Metric::InsnsKernel => s.kernel,
            _ => return None,
        };
        let per_s = |n: u64| n as f64 / s.seconds;
        (s.seconds > 0.0 && s.requests > 0).then(|| super::FitPoint {
            rps: per_s(s.requests),
            insns: per_s(insns),
            handshakes: per_s(s.full_handshakes),
        })
    }
}

fn steady(c: &CellReport) -> Option<&crate::cost::PhaseCost> {
    c.insns.as_ref()?.steady.as_ref()
}

#[cfg(test)]
mod tests {
    use super::Metric;
    use crate::model::{CellReport, ConnectionReuse};
    use crate::reconcile::LegReuse;

    #[test]
    fn backend_reuse_is_read_from_the_backend_leg_and_more_is_better() {
        let mut c = CellReport::default();
        assert_eq!(Metric::BackendReuse.value(&c), None, "not recorded is not 0");
        c.connections = Some(ConnectionReuse { client: None, backend: Some(LegReuse::new(3, 600, 3, 0)) });
        assert_eq!(Metric::BackendReuse.value(&c), Some(200.0));
        assert!(Metric::BackendReuse.higher_is_better());
        assert_eq!(Metric::parse("req/backend-conn"), Some(Metric::BackendReuse));
    }

    #[test]
    fn tlb_refills_are_read_from_the_steady_phase_and_absent_where_not_counted() {
        let mut c = CellReport::default();
        assert_eq!(Metric::TlbRefills.value(&c), None);
        let steady = crate::cost::PhaseCost { tlb_refills_per_request: Some(630.0), ..Default::default() };
        c.insns = Some(crate::cost::InsnSection { steady: Some(steady), ..Default::default() });
        assert_eq!(Metric::TlbRefills.value(&c), Some(630.0));
        c.insns.as_mut().unwrap().steady.as_mut().unwrap().tlb_refills_per_request = None;
        assert_eq!(Metric::TlbRefills.value(&c), None, "aarch64 counts none: not 0");
        assert_eq!(Metric::parse("tlb"), Some(Metric::TlbRefills));
        assert!(!Metric::TlbRefills.higher_is_better());
        assert_eq!(Metric::TlbRefills.noise_floor(), 0.0);
    }
}
