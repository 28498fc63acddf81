//! Grouping cells into sides and rows: which runs are compared, per (scenario, target),
//! with median and spread over repetitions and a call on whether a difference is noise.
use super::metric::Metric;
use crate::runner::{CellReport, Report};

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
    /// Both sides have repetitions and their ranges overlap: not called a change.
    WithinNoise,
    /// `certain` when both sides have repetitions and their ranges do not overlap; with a
    /// single run on either side the spread is unknown and the call is tentative.
    Better {
        certain: bool,
    },
    Worse {
        certain: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: Metric,
    /// One per side; `None` where the side did not measure it.
    pub stats: Vec<Option<Stats>>,
    /// Median of the side over median of the baseline (side 0); `None` for side 0.
    pub ratios: Vec<Option<f64>>,
    pub changes: Vec<Change>,
}

/// One compared side (a run, or one build within an A/B run).
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub label: String,
    /// Indexes into the input list and that input's cells.
    pub input: usize,
    pub build: Option<String>,
}

impl Side {
    /// Whether `c` is one of this side's cells for `scenario` on `target` (same build).
    pub fn holds(&self, scenario: &str, target: &str, c: &CellReport) -> bool {
        c.scenario == scenario && c.target == target && build_of(c) == self.build
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub scenario: String,
    pub target: String,
    pub rows: Vec<Row>,
    /// Client-IP verdicts and outcomes per side, one per repetition.
    pub verdicts: Vec<Vec<String>>,
    pub outcomes: Vec<Vec<String>>,
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
            sides.push(Side { label, input: i, build: b });
        }
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, r) in inputs {
        for c in &r.cells {
            let k = (c.scenario.clone(), c.target.clone());
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
            let rows = Metric::ALL.into_iter().filter(|m| *m != Metric::ClientIp).map(|m| row(m, &cells)).collect();
            let verdicts = cells.iter().map(|cs| cs.iter().map(|c| c.client_ip.verdict.clone()).collect()).collect();
            let outcomes = cells.iter().map(|cs| cs.iter().map(|c| c.outcome.clone()).collect()).collect();
            Group { scenario, target, rows, verdicts, outcomes }
        })
        .collect();
    Comparison { sides, groups }
}

fn row(metric: Metric, cells: &[Vec<&CellReport>]) -> Row {
    let stats: Vec<Option<Stats>> =
        cells.iter().map(|cs| Stats::of(cs.iter().filter_map(|c| metric.value(c)).collect())).collect();
    let base = stats.first().copied().flatten();
    let mut ratios = vec![None];
    let mut changes = vec![Change::Baseline];
    for s in stats.iter().skip(1) {
        let (r, ch) = match (base, s) {
            (Some(a), Some(b)) => {
                let r = if a.median == 0.0 {
                    if b.median == 0.0 {
                        1.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    b.median / a.median
                };
                (Some(r), change(metric, &a, b))
            }
            _ => (None, Change::NoData),
        };
        ratios.push(r);
        changes.push(ch);
    }
    Row { metric, stats, ratios, changes }
}

/// Differences smaller than this share of the baseline median are never called changes:
/// emulated routers on shared CI machines wobble by about this much run to run.
pub const MIN_CHANGE: f64 = 0.02;

fn change(metric: Metric, a: &Stats, b: &Stats) -> Change {
    if a.median == b.median && a.min == b.min && a.max == b.max {
        return Change::Same;
    }
    if a.median != 0.0 && ((b.median - a.median) / a.median).abs() < MIN_CHANGE {
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
