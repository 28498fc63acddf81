//! `timeline.json`: what a cell measured over time, on one clock (host seconds since the
//! warm-up started; a paused guest's uptime stands still, the host's clock does not), for
//! the HTML report's plots. The summary numbers live in `report.json`; this
//! file keeps the series behind them so a report can be re-rendered from the run directory.
use std::collections::BTreeMap;
use std::path::Path;

use crate::cost::Rate;
use crate::hist::LatencyHist;
use crate::load::{read_journal, LoadSummary};
use crate::vm::{busy_pct_over, InsnReading, MetricsSeries};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Phase {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcSample {
    pub t: f64,
    /// Percent of one guest CPU, summed over the proxy's processes.
    pub cpu_pct: f64,
    pub rss_kb: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GuestSample {
    pub t: f64,
    pub cpu_pct: f64,
    pub mem_used_kb: u64,
    pub mem_total_kb: u64,
}

/// Guest instructions per second between two plugin samples, at their midpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InsnRatePoint {
    pub t: f64,
    pub user_per_s: f64,
    pub kernel_per_s: f64,
    /// The guest CPU's busy share meanwhile, percent, from the plugin's idle time: the
    /// guest's CPU at ten samples a second (the metrics agent gives it every 2 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_pct: Option<f64>,
}

/// One HDR percentile curve: (percentile, microseconds) pairs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyCurve {
    pub name: String,
    pub points: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    pub phases: Vec<Phase>,
    /// (second, completed requests in that second).
    pub throughput: Vec<(f64, u64)>,
    pub proxy_process: String,
    pub proxy: Vec<ProcSample>,
    pub guest: Vec<GuestSample>,
    /// Steady-phase latency: `total` (from the actual send), `corrected` (from the intended
    /// send, open loop only), `handshake` and `ttfb`.
    pub latency: Vec<LatencyCurve>,
    /// Guest instructions per second (insn-count plugin, about 10 Hz), from the idle window on.
    #[serde(default)]
    pub insns: Vec<InsnRatePoint>,
    /// (second, failed requests started in that second) over the steady phase.
    #[serde(default)]
    pub failed: Vec<(f64, u64)>,
    /// The faults' windows, named `fault: ACTION`, on the same clock as `phases`.
    #[serde(default)]
    pub faults: Vec<Phase>,
}

/// Where the load phases sit, in seconds on the VM's host clock (`Vm::host_clock`, the
/// clock of the metrics' `host_t` and of the instruction readings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseClock {
    pub warmup_start: Option<f64>,
    pub steady_start: f64,
    pub steady_end: f64,
}

impl PhaseClock {
    /// The timeline's zero: the first load phase's start.
    pub fn origin(&self) -> f64 {
        self.warmup_start.unwrap_or(self.steady_start)
    }
}

impl Timeline {
    pub fn build(
        clock: &PhaseClock,
        warmup: Option<&LoadSummary>,
        steady: &LoadSummary,
        metrics: &MetricsSeries,
        process: &str,
        steady_journal: &Path,
    ) -> Timeline {
        let origin = clock.origin();
        let rel = |u: f64| u - origin;
        let mut t = Timeline { proxy_process: process.into(), ..Default::default() };
        if let (Some(w0), Some(w)) = (clock.warmup_start, warmup) {
            t.phases.push(Phase { name: "warm-up".into(), start_s: rel(w0), end_s: rel(w0) + w.duration_s });
            t.throughput.extend(whole_seconds(w, rel(w0)));
        }
        let s0 = rel(clock.steady_start);
        t.phases.push(Phase { name: "steady".into(), start_s: s0, end_s: rel(clock.steady_end) });
        t.throughput.extend(whole_seconds(steady, s0));
        t.proxy = process_samples(metrics, process, |h| h >= origin)
            .into_iter()
            .map(|(h, cpu_pct, rss_kb)| ProcSample { t: rel(h), cpu_pct, rss_kb })
            .collect();
        t.guest = metrics
            .guest
            .iter()
            .filter(|g| g.host_t >= origin)
            .map(|g| GuestSample {
                t: rel(g.host_t),
                cpu_pct: g.cpu_pct,
                mem_used_kb: g.mem_total_kb.saturating_sub(g.mem_available_kb),
                mem_total_kb: g.mem_total_kb,
            })
            .collect();
        t.latency = latency_curves(steady_journal);
        t.failed = failures_per_second(steady_journal, s0);
        t
    }

    /// The faults' windows, from records relative to the steady phase's start. An instant
    /// fault gets at least 0.2 s, so that it shows.
    pub fn add_faults(&mut self, faults: &[crate::model::FaultRecord]) {
        let s0 = self.phases.iter().find(|p| p.name == "steady").map_or(0.0, |p| p.start_s);
        self.faults = faults
            .iter()
            .filter(|f| f.error.is_none())
            .map(|f| Phase {
                name: format!("fault: {}", f.action),
                start_s: s0 + f.start_s,
                end_s: s0 + f.end_s.max(f.start_s + 0.2),
            })
            .collect();
    }

    /// Add the instruction rate series and the idle phase. `origin` is the host-clock time
    /// of this timeline's zero (the first load phase's start), `idle` the host-clock
    /// window without load, if one was measured.
    pub fn add_insns(&mut self, series: &[InsnReading], origin: f64, idle: Option<(f64, f64)>) {
        let from = idle.map(|i| i.0).unwrap_or(origin);
        if let Some((a, b)) = idle {
            self.phases.insert(0, Phase { name: "idle".into(), start_s: a - origin, end_s: b - origin });
        }
        self.insns = series
            .windows(2)
            .filter(|w| w[0].t >= from)
            .filter_map(|w| {
                let r = Rate::between(&w[0], &w[1])?;
                Some(InsnRatePoint {
                    t: (w[0].t + w[1].t) / 2.0 - origin,
                    user_per_s: r.user_per_s,
                    kernel_per_s: r.kernel_per_s,
                    busy_pct: busy_pct_over(w, &w[0], &w[1]),
                })
            })
            .collect();
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, serde_json::to_vec(self).map_err(std::io::Error::other)?)
    }

    pub fn read(path: &Path) -> Option<Timeline> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// A process's samples whose host time (`host_t`) `keep` accepts, summed per sample (nginx's
/// master and workers share a name): (host time, percent of one guest CPU, RSS KiB).
pub(crate) fn process_samples(
    series: &MetricsSeries,
    process: &str,
    keep: impl Fn(f64) -> bool,
) -> Vec<(f64, f64, u64)> {
    let mut by_t: BTreeMap<u64, (f64, f64, u64)> = BTreeMap::new();
    // One sample's lines share its uptime; their host times differ by the lines' arrival.
    for p in series.procs.get(process).into_iter().flatten().filter(|p| keep(p.host_t)) {
        let e = by_t.entry((p.uptime * 100.0) as u64).or_insert((p.host_t, 0.0, 0));
        e.1 += p.cpu_pct;
        e.2 += p.rss_kb;
    }
    by_t.into_values().collect()
}

/// Completed requests per whole second, placed at the middle of each second. A last,
/// partial second (the run ends mid-second) would read as a drop, so it is left out.
fn whole_seconds(l: &LoadSummary, start: f64) -> impl Iterator<Item = (f64, u64)> + '_ {
    let whole = (l.duration_s + 0.05).floor() as usize;
    l.timeline.iter().take(whole).enumerate().map(move |(i, n)| (start + i as f64 + 0.5, *n))
}

/// Failed requests per second of their start, placed at the middle of each second.
fn failures_per_second(journal: &Path, start: f64) -> Vec<(f64, u64)> {
    let Ok((_, entries)) = read_journal(journal) else { return Vec::new() };
    let mut per: BTreeMap<u64, u64> = BTreeMap::new();
    for e in entries.flatten().filter(|e| e.outcome.error_class().is_some()) {
        *per.entry(e.start_us / 1_000_000).or_insert(0) += 1;
    }
    let last = per.keys().next_back().copied().unwrap_or(0);
    (0..=last)
        .filter(|_| !per.is_empty())
        .map(|s| (start + s as f64 + 0.5, per.get(&s).copied().unwrap_or(0)))
        .collect()
}

/// HDR percentile curves of the journal's latency columns, successful requests only as in
/// the summary; curves with no values are left out.
pub fn latency_curves(journal: &Path) -> Vec<LatencyCurve> {
    let Ok((_, entries)) = read_journal(journal) else { return Vec::new() };
    let mut h: [LatencyHist; 4] = Default::default();
    for e in entries.flatten().filter(|e| e.outcome.error_class().is_none()) {
        for (i, v) in [e.total_us, e.corrected_us, e.handshake_us, e.ttfb_us].into_iter().enumerate() {
            if let Some(v) = v {
                h[i].record(v);
            }
        }
    }
    ["total", "corrected", "handshake", "ttfb"]
        .iter()
        .zip(h.iter())
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| LatencyCurve { name: (*n).into(), points: h.percentile_curve() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::{GuestPoint, ProcPoint};

    #[test]
    fn phases_series_and_process_sums_share_one_clock() {
        let steady: LoadSummary =
            serde_json::from_str(include_str!("../../tests/fixtures/steady.load.json")).expect("fixture");
        let mut m = MetricsSeries::default();
        // Host clock = guest uptime + 100 until a 5 s pause at host 110, + 105 after it.
        let p = |uptime, host_t, pid, cpu_pct, rss_kb| ProcPoint { uptime, host_t, pid, cpu_pct, rss_kb, threads: 1 };
        // Before the warm-up (ignored), then master + worker at one sample time (their
        // lines arrive a little apart), then one sample after the pause.
        m.procs.insert(
            "nginx".into(),
            vec![p(9.0, 109.0, 1, 5.0, 100), p(12.0, 117.0, 1, 1.0, 1000), p(12.0, 117.01, 2, 40.0, 3000)],
        );
        m.guest.push(GuestPoint {
            uptime: 12.0,
            host_t: 117.0,
            cpu_pct: 50.0,
            mem_total_kb: 200,
            mem_available_kb: 150,
        });
        let clock = PhaseClock { warmup_start: None, steady_start: 110.0, steady_end: 120.0 };
        let t = Timeline::build(&clock, None, &steady, &m, "nginx", Path::new("/nonexistent"));
        assert_eq!(t.phases, vec![Phase { name: "steady".into(), start_s: 0.0, end_s: 10.0 }]);
        assert_eq!(t.proxy, vec![ProcSample { t: 7.0, cpu_pct: 41.0, rss_kb: 4000 }], "after the pause, on host time");
        assert_eq!((t.guest[0].t, t.guest[0].mem_used_kb), (7.0, 50));
        let whole = steady.duration_s.floor() as usize;
        assert_eq!(t.throughput.len(), whole.min(steady.timeline.len()), "partial last second left out");
        assert_eq!(t.throughput[0], (0.5, steady.timeline[0]));
        assert!(t.latency.is_empty(), "no journal, no curves");
    }

    #[test]
    fn insn_rates_share_the_timeline_clock_and_start_at_the_idle_window() {
        let mut t =
            Timeline { phases: vec![Phase { name: "steady".into(), start_s: 0.0, end_s: 4.0 }], ..Default::default() };
        let r = |t, user, kernel, idle_s| InsnReading { t, user, kernel, idle_s, tlb_refills: None };
        // Before idle (dropped), idle 8-10, load from 10 (the origin); the last reading
        // from a plugin that does not say its idle time.
        let s = [
            r(7.0, 0, 0, Some(0.0)),
            r(8.0, 100, 1_000, Some(0.9)),
            r(9.0, 200, 2_000, Some(1.8)),
            r(10.0, 300, 3_000, Some(2.0)),
            r(10.5, 50_300, 53_000, None),
        ];
        let frozen = [r(20.0, 5, 5, Some(1.0)), r(21.0, 5, 5, Some(1.0))];
        t.add_insns(&frozen, 20.0, None);
        assert_eq!(t.insns[0].busy_pct, Some(0.0), "not busy while frozen: {:?}", t.insns);
        t.add_insns(&s, 10.0, Some((8.0, 10.0)));
        assert_eq!(t.phases[0], Phase { name: "idle".into(), start_s: -2.0, end_s: 0.0 });
        assert_eq!(t.insns.len(), 3, "{:?}", t.insns);
        let busy = t.insns.iter().map(|p| p.busy_pct.map(|b| b.round())).collect::<Vec<_>>();
        assert_eq!(busy, [Some(10.0), Some(80.0), None], "the busy share of each interval");
        assert_eq!(
            t.insns[2],
            InsnRatePoint { t: 0.25, user_per_s: 100_000.0, kernel_per_s: 100_000.0, busy_pct: None }
        );
        assert_eq!((t.insns[0].t, t.insns[0].user_per_s, t.insns[0].kernel_per_s), (-1.5, 100.0, 1_000.0));
    }
}
