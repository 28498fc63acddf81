//! Grouping cells into sides and rows: which runs are compared, per (scenario, target),
//! with median and spread over repetitions and a call on whether a difference is noise.
use super::fit::{fit, mixes_handshakes};
use super::metric::Metric;
use super::stats::{paired, welch, Estimate};
use super::tail::{too_few, TooFew};
use crate::model::{CellReport, Outcome, Report, Verdict};

/// Median and range of one metric over a side's repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(mut v: Vec<f64>) -> Option<Stats> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Stats { n, median, min: v[0], max: v[n - 1] })
    }
    /// Range as a share of the median, percent (0 for one run).
    pub fn spread_pct(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median.abs() * 100.0
        }
    }
}

/// How a side's metric compares with the baseline side's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Baseline,
    NoData,
    Same,
    /// The 95% interval of the ratio includes 1 (or, without one, the ranges over
    /// repetitions overlap), or the change is under the metric's noise floor.
    WithinNoise,
    /// `certain` when the 95% interval excludes 1 (or, without an interval, the ranges do
    /// not overlap); with a single run on either side the call is tentative.
    Better {
        certain: bool,
    },
    Worse {
        certain: bool,
    },
    /// A latency percentile that a cell of either side has too few requests behind to be
    /// judged ([`super::tail`]): never "worse" on a request or two.
    TooFewSamples(TooFew),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: Metric,
    /// One per side; `None` where the side did not measure it.
    pub stats: Vec<Option<Stats>>,
    /// The side against the baseline (side 0): the estimate's ratio where there is one,
    /// else median over median; `None` for side 0.
    pub ratios: Vec<Option<f64>>,
    pub changes: Vec<Change>,
    /// Ratio with a 95% interval, where both sides have repetitions; `None` for side 0.
    pub estimates: Vec<Option<Estimate>>,
    /// Latency percentiles only: the side's requests pooled across its repetitions
    /// ([`Metric::pooled`]), one per side.
    pub pooled: Vec<Option<f64>>,
    /// Latency percentiles only: per side, whether its cells had too few requests to judge it.
    pub too_few: Vec<Option<TooFew>>,
    /// Per side, the change judged against history's noise fence
    /// ([`Comparison::judge_by_history`]); empty until judged.
    pub history: Vec<Option<super::history::HistoryCall>>,
}

impl Row {
    /// The value to show for side `i`, the one the ratio beside it is of, so the two agree
    /// in direction: the estimate's per-side figure where there is one (the fitted
    /// per-request cost, or the geometric mean over repetitions; side 0 from the first
    /// candidate's estimate), else the median.
    pub fn shown(&self, i: usize) -> Option<f64> {
        match i {
            0 => self.fitted().or_else(|| self.estimates.iter().flatten().next()).map(|e| e.base),
            _ => self.estimates.get(i).copied().flatten().map(|e| e.value),
        }
        .or_else(|| self.stats.get(i).copied().flatten().map(|s| s.median))
    }

    /// The first candidate's estimate if this row's ratios come from the per-request fit.
    pub fn fitted(&self) -> Option<&Estimate> {
        self.estimates.iter().flatten().find(|e| e.method.is_fit())
    }
}

/// One compared side (a run, or one build within an A/B run).
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub label: String,
    /// Indexes into the input list and that input's cells.
    pub input: usize,
    pub build: Option<String>,
    /// What its build's binary said about itself, from its first cell that recorded it.
    pub info: Option<crate::model::BuildInfo>,
}

impl Side {
    /// Whether `c` is one of this side's cells for `scenario` (a ramp step's label) on
    /// `target` (same build).
    pub fn holds(&self, scenario: &str, target: &str, c: &CellReport) -> bool {
        c.scenario_label() == scenario && c.target == target && build_of(c) == self.build
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub scenario: String,
    pub target: String,
    pub rows: Vec<Row>,
    /// Client-IP verdicts and outcomes per side, one per repetition.
    pub verdicts: Vec<Vec<Option<Verdict>>>,
    pub outcomes: Vec<Vec<Outcome>>,
    /// Per side: whether its cells counted guest instructions (all did, none did, or a mix
    /// or no cells). Counting slows the guest, so wall-clock figures across a difference
    /// are biased.
    pub counted: Vec<Option<bool>>,
}

impl Group {
    pub fn title(&self) -> String {
        format!("{} on {}", self.scenario, self.target)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub sides: Vec<Side>,
    pub groups: Vec<Group>,
}

fn build_of(c: &CellReport) -> Option<String> {
    c.build.as_ref().map(|b| b.name.clone())
}

/// Compare labelled reports. Sides are the inputs; within one input that ran several
/// builds (`run --builds`), each build is its own side. The first side is the baseline.
pub fn compare(inputs: &[(String, Report)]) -> Comparison {
    let mut sides: Vec<Side> = Vec::new();
    for (i, (label, r)) in inputs.iter().enumerate() {
        let mut builds: Vec<Option<String>> = Vec::new();
        for c in &r.cells {
            let b = build_of(c);
            if !builds.contains(&b) {
                builds.push(b);
            }
        }
        let several = builds.len() > 1;
        for b in builds {
            let label = match (&b, inputs.len() > 1, several) {
                (Some(b), false, _) => b.clone(),
                (Some(b), true, true) => format!("{label}:{b}"),
                _ => label.clone(),
            };
            let info = r.cells.iter().filter(|c| build_of(c) == b).find_map(|c| c.build.clone());
            sides.push(Side { label, input: i, build: b, info });
        }
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, r) in inputs {
        for c in &r.cells {
            let k = (c.scenario_label(), c.target.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let groups = keys
        .into_iter()
        .map(|(scenario, target)| {
            let cells: Vec<Vec<&CellReport>> = sides
                .iter()
                .map(|s| inputs[s.input].1.cells.iter().filter(|c| s.holds(&scenario, &target, c)).collect())
                .collect();
            let paired = sides.iter().all(|s| s.input == sides[0].input);
            // TLB refills are counted on targets that refill in software (MIPS) only: no row
            // where no cell has them, rather than a row of dashes on aarch64.
            let rows = Metric::ALL
                .into_iter()
                .filter(|m| *m != Metric::ClientIp)
                .map(|m| row(m, &cells, paired))
                .filter(|r| r.metric != Metric::TlbRefills || r.stats.iter().any(Option::is_some))
                .collect();
            let verdicts = cells.iter().map(|cs| cs.iter().map(|c| c.client_ip.verdict).collect()).collect();
            let outcomes = cells.iter().map(|cs| cs.iter().map(|c| c.outcome).collect()).collect();
            let counted = cells.iter().map(|cs| counted(cs)).collect();
            Group { scenario, target, rows, verdicts, outcomes, counted }
        })
        .collect();
    Comparison { sides, groups }
}

fn counted(cells: &[&CellReport]) -> Option<bool> {
    let each = |c: &&CellReport| c.insns.as_ref().is_some_and(|i| i.unavailable.is_none());
    match cells.iter().filter(|c| each(c)).count() {
        0 if !cells.is_empty() => Some(false),
        n if n == cells.len() && n > 0 => Some(true),
        _ => None,
    }
}

fn row(metric: Metric, cells: &[Vec<&CellReport>], paired_sides: bool) -> Row {
    let values: Vec<Vec<f64>> = cells.iter().map(|cs| cs.iter().filter_map(|c| metric.value(c)).collect()).collect();
    let stats: Vec<Option<Stats>> = values.iter().map(|v| Stats::of(v.clone())).collect();
    let base = stats.first().copied().flatten();
    let mut row = Row {
        metric,
        stats: stats.clone(),
        ratios: vec![None],
        changes: vec![Change::Baseline],
        estimates: vec![None],
        pooled: cells.iter().map(|cs| metric.pooled(cs)).collect(),
        too_few: cells.iter().map(|cs| too_few(metric, cs)).collect(),
        history: Vec::new(),
    };
    for (i, s) in stats.iter().enumerate().skip(1) {
        if let (Some(short), Some(_), Some(_)) = (TooFew::either(row.too_few[0], row.too_few[i]), base, s) {
            row.ratios.push(None);
            row.changes.push(Change::TooFewSamples(short));
            row.estimates.push(None);
            continue;
        }
        let est = estimate(metric, &cells[0], &cells[i], &values[0], &values[i], paired_sides);
        let (r, ch) = match (base, s) {
            (Some(a), Some(b)) => {
                (Some(est.map(|e| e.ratio).unwrap_or_else(|| median_ratio(&a, b))), change(metric, &a, b, est.as_ref()))
            }
            _ => (None, Change::NoData),
        };
        row.ratios.push(r);
        row.changes.push(ch);
        row.estimates.push(est);
    }
    row
}

fn median_ratio(a: &Stats, b: &Stats) -> f64 {
    match (a.median == 0.0, b.median == 0.0) {
        (true, true) => 1.0,
        (true, false) => f64::INFINITY,
        _ => b.median / a.median,
    }
}

/// The candidate against the baseline with an interval: pairs for the builds of one A/B
/// run, else Welch; for instruction counts without a net figure in every cell, or with
/// steady-phase handshakes in some cells only, the per-request fit.
fn estimate(
    metric: Metric,
    a: &[&CellReport],
    b: &[&CellReport],
    va: &[f64],
    vb: &[f64],
    paired_sides: bool,
) -> Option<Estimate> {
    if metric.is_insns() {
        let pts = |cs: &[&CellReport]| cs.iter().filter_map(|c| metric.fit_point(c)).collect::<Vec<_>>();
        let (pa, pb) = (pts(a), pts(b));
        // Each cell's own net figure is the sharper measure where every cell has one (its
        // idle window measured the background) and none has handshakes the others lack:
        // the fit's shared background is loose when the sides' req/s differ.
        let nets = va.len() == a.len() && vb.len() == b.len();
        if !nets || mixes_handshakes(&pa, &pb) {
            if let Some(e) = fit(&pa, &pb) {
                return Some(e);
            }
        }
    }
    let by_rep = |cs: &[&CellReport]| -> Option<Vec<f64>> {
        let mut v: Vec<(u32, f64)> =
            cs.iter().map(|c| Some((c.repetition, metric.value(c)?))).collect::<Option<_>>()?;
        v.sort_by_key(|x| x.0);
        Some(v.into_iter().map(|x| x.1).collect())
    };
    if paired_sides && a.len() == b.len() {
        if let Some(e) = by_rep(a).zip(by_rep(b)).and_then(|(x, y)| paired(&x, &y)) {
            return Some(e);
        }
    }
    welch(va, vb)
}

/// Differences smaller than this share of the baseline median are never called changes:
/// emulated routers on shared CI machines wobble by about this much run to run.
pub const MIN_CHANGE: f64 = 0.02;

fn change(metric: Metric, a: &Stats, b: &Stats, est: Option<&Estimate>) -> Change {
    if a.median == b.median && a.min == b.min && a.max == b.max {
        return Change::Same;
    }
    if let Some(e) = est {
        if !e.significant() || (e.ratio - 1.0).abs() < metric.noise_floor() {
            return Change::WithinNoise;
        }
        return if (e.ratio > 1.0) == metric.higher_is_better() {
            Change::Better { certain: true }
        } else {
            Change::Worse { certain: true }
        };
    }
    if a.median != 0.0 && ((b.median - a.median) / a.median).abs() < metric.noise_floor() {
        return Change::WithinNoise;
    }
    let repeated = a.n >= 2 && b.n >= 2;
    if repeated && a.min <= b.max && b.min <= a.max {
        return Change::WithinNoise;
    }
    if a.median == b.median {
        return Change::Same;
    }
    let up = b.median > a.median;
    if up == metric.higher_is_better() {
        Change::Better { certain: repeated }
    } else {
        Change::Worse { certain: repeated }
    }
}
