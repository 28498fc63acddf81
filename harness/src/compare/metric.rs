//! The metrics a comparison shows, how each is read from a cell, and which way is better.
use crate::runner::CellReport;

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
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::Throughput,
        Metric::Handshakes,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::CpuPer1k,
        Metric::PeakRss,
        Metric::Errors,
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
            Metric::ClientIp => "client-ip",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput | Metric::Handshakes => "/s",
            Metric::P50 | Metric::P99 | Metric::P999 => "ms",
            Metric::CpuPer1k => "CPU-s/1k req",
            Metric::PeakRss => "MiB",
            Metric::Errors => "",
            Metric::ClientIp => "",
        }
    }

    /// Whether a larger value is the better one (for the change column's wording).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Throughput | Metric::Handshakes)
    }

    pub fn parse(s: &str) -> Option<Metric> {
        let s = s.trim().to_ascii_lowercase();
        let alias = match s.as_str() {
            "throughput" | "req/s" | "requests" => "rps",
            "p99.9" => "p999",
            "cpu" => "cpu-per-1k",
            "peak-rss" | "memory" => "rss",
            "handshakes/s" => "handshakes",
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
                (m.samples > 0 && l.ok > 0).then(|| m.cpu_mean_pct / 100.0 * l.duration_s / l.ok as f64 * 1000.0)
            }
            Metric::PeakRss => c.metrics.as_ref().filter(|m| m.samples > 0).map(|m| m.rss_peak_kb as f64 / 1024.0),
            Metric::Errors => l.map(|l| l.errors.total() as f64),
            Metric::ClientIp => None,
        }
    }
}
