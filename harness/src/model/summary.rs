//! One cell in one line: the numbers every table shows, computed once so that the terminal,
//! report.html, summary.md and junit.xml cannot disagree.
use super::{CellReport, Outcome, Verdict};

#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    pub title: String,
    pub outcome: Outcome,
    pub verdict: Option<Verdict>,
    pub sent: u64,
    pub logged: u64,
    pub mismatches: u64,
    pub requests_per_s: Option<f64>,
    /// The p99 to judge by: corrected for coordinated omission in open loop, else the total.
    pub p99_ms: Option<f64>,
    /// The uncorrected p99, present only where it differs from `p99_ms` (open loop).
    pub p99_uncorrected_ms: Option<f64>,
    /// Mean percent of one guest CPU; absent without a proxy or without samples of it.
    pub proxy_cpu_pct: Option<f64>,
    pub proxy_rss_peak_kib: Option<u64>,
    /// Net guest instructions per request (background subtracted), and raw.
    pub insns_per_request: Option<f64>,
    pub insns_per_request_raw: Option<f64>,
    /// Why the cell has no instruction counts.
    pub insns_unavailable: Option<String>,
    /// Requests per connection on the client and the backend leg.
    pub client_req_per_conn: Option<f64>,
    pub backend_req_per_conn: Option<f64>,
    /// The backend leg's connections, and how many of their handshakes resumed.
    pub backend_connections: Option<u64>,
    pub backend_tls_resumed: Option<u64>,
    pub boot_s: f64,
}

impl CellSummary {
    pub fn of(c: &CellReport) -> CellSummary {
        let lat = c.load.as_ref().map(|l| &l.latency_us);
        let ms = |us: u64| us as f64 / 1000.0;
        let p99 = lat.map(|l| ms(l.effective_total().p99));
        let uncorrected =
            lat.filter(|l| l.total_corrected.is_some()).map(|l| ms(l.total.p99)).filter(|u| Some(*u) != p99);
        let proxy = c.metrics.as_ref().filter(|m| m.process.is_some() && m.samples > 0);
        let steady = c.insns.as_ref().and_then(|i| i.steady.as_ref());
        let reuse = c.connections.as_ref();
        let backend = reuse.and_then(|r| r.backend);
        CellSummary {
            title: c.title(),
            outcome: c.outcome,
            verdict: c.client_ip.verdict,
            sent: c.client_ip.sent,
            logged: c.client_ip.logged,
            mismatches: c.client_ip.mismatches,
            requests_per_s: c.load.as_ref().map(|l| l.requests_per_s),
            p99_ms: p99,
            p99_uncorrected_ms: uncorrected,
            proxy_cpu_pct: proxy.and_then(|m| m.cpu_mean_pct),
            proxy_rss_peak_kib: proxy.and_then(|m| m.rss_peak_kb),
            insns_per_request: steady.and_then(|s| s.per_request),
            insns_per_request_raw: steady.and_then(|s| s.per_request_raw),
            insns_unavailable: c.insns.as_ref().and_then(|i| i.unavailable.clone()),
            client_req_per_conn: reuse.and_then(|r| r.client).and_then(|l| l.requests_per_connection),
            backend_req_per_conn: backend.and_then(|l| l.requests_per_connection),
            backend_connections: backend.map(|l| l.connections),
            backend_tls_resumed: backend.map(|l| l.tls_resumed),
            boot_s: c.timings.boot_s,
        }
    }

    /// `12.3`, or `12.3 (4.5 uncorrected)` where open loop corrected it; `-` when absent.
    pub fn p99_text(&self) -> String {
        match (self.p99_ms, self.p99_uncorrected_ms) {
            (Some(p), Some(u)) => format!("{p:.1} ({u:.1} uncorrected)"),
            (p, _) => fixed(p, 1),
        }
    }

    pub fn verdict_text(&self) -> &'static str {
        self.verdict.map(Verdict::as_str).unwrap_or("-")
    }

    /// Peak RSS in MiB, `-` when absent.
    pub fn rss_mib_text(&self) -> String {
        fixed(self.proxy_rss_peak_kib.map(|k| k as f64 / 1024.0), 1)
    }

    /// `12.0 / 480.0`: requests per connection on the client and backend legs.
    pub fn reuse_text(&self) -> String {
        format!("{} / {}", fixed(self.client_req_per_conn, 1), fixed(self.backend_req_per_conn, 1))
    }

    /// `6 conns, 0 resumed` on the backend leg, `-` when its log did not say.
    pub fn backend_conns_text(&self) -> String {
        match (self.backend_connections, self.backend_tls_resumed) {
            (Some(n), Some(r)) => format!("{n} conns, {r} resumed"),
            _ => "-".into(),
        }
    }

    /// Net instructions per request (raw in brackets), `unavailable`, or `-`.
    pub fn insns_text(&self) -> String {
        use crate::cost::human;
        if self.insns_unavailable.is_some() {
            return "unavailable".into();
        }
        match (self.insns_per_request, self.insns_per_request_raw) {
            (Some(net), Some(raw)) => format!("{} ({} raw)", human(net), human(raw)),
            (None, Some(raw)) => format!("{} raw", human(raw)),
            _ => "-".into(),
        }
    }
}

/// A number with `decimals` places, or `-` when there is none: absent never reads as 0.
pub fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProxyMetrics;

    fn l4_cell() -> CellReport {
        CellReport {
            scenario: "l4-forward".into(),
            target: "aarch64-virt".into(),
            outcome: Outcome::Pass,
            metrics: Some(ProxyMetrics { process: None, guest_cpu_mean_pct: Some(40.0), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn what_was_not_measured_reads_as_absent_not_zero() {
        let s = CellSummary::of(&l4_cell());
        assert_eq!((s.proxy_cpu_pct, s.proxy_rss_peak_kib), (None, None));
        assert_eq!(
            (s.p99_text(), s.rss_mib_text(), s.verdict_text(), s.insns_text()),
            ("-".into(), "-".into(), "-", "-".into())
        );
        // A proxy that was named but never sampled is as absent as none.
        let mut c = l4_cell();
        c.metrics =
            Some(ProxyMetrics { process: Some("haproxy".into()), cpu_mean_pct: Some(0.0), ..Default::default() });
        assert_eq!(CellSummary::of(&c).proxy_cpu_pct, None);
        c.metrics.as_mut().unwrap().samples = 3;
        assert_eq!(CellSummary::of(&c).proxy_cpu_pct, Some(0.0));
    }

    #[test]
    fn the_p99_is_the_corrected_one_in_open_loop_and_says_so() {
        let run = |corrected: Option<u64>| {
            let mut load: crate::load::LoadSummary =
                serde_json::from_str(include_str!("../../tests/fixtures/steady.load.json")).unwrap();
            load.latency_us.total.p99 = 4_500;
            load.latency_us.total_corrected =
                corrected.map(|p99| crate::hist::Percentiles { p99, ..load.latency_us.total });
            CellSummary::of(&CellReport { load: Some(load), ..l4_cell() })
        };
        let open = run(Some(12_300));
        assert_eq!((open.p99_ms, open.p99_uncorrected_ms), (Some(12.3), Some(4.5)));
        assert_eq!(open.p99_text(), "12.3 (4.5 uncorrected)");
        let closed = run(None);
        assert_eq!((closed.p99_ms, closed.p99_uncorrected_ms, closed.p99_text()), (Some(4.5), None, "4.5".into()));
    }
}
