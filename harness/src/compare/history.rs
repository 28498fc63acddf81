//! Noise fences learned from history, as rustc-perf draws them. A history file keeps, per
//! scenario, target and metric, the relative changes that earlier comparisons measured
//! (`compare --history FILE --record`). Most of them are noise (A/A runs, or builds that
//! did not touch the path), so their spread is what noise looks like here:
//!
//! - the significance threshold is `Q3 + 3 × IQR` of the absolute changes (Tukey's hinges:
//!   Q1 and Q3 are the medians of the lower and upper half), never under 0.2%;
//! - a change at or under it is within noise by history; one over it is graded by how far:
//!   under 1.5x the threshold very small, under 3x small, under 10x medium, under 25x
//!   large, else very large.
//!
//! A fence needs [`MIN_HISTORY`] changes; the file keeps the last [`KEEP`] of each series,
//! so the fence follows the machine CI runs on.
use std::path::{Path, PathBuf};

use super::table::{Change, Comparison};

/// The smallest threshold a fence has: below it, no history calls a change significant.
pub const FENCE_FLOOR: f64 = 0.002;
/// How many interquartile ranges over Q3 the fence stands.
pub const IQR_FACTOR: f64 = 3.0;
/// Changes a series needs before it has a fence.
pub const MIN_HISTORY: usize = 5;
/// Changes a series keeps (the newest).
pub const KEEP: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {}: cannot read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("history {}: not a routerlab history file", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("history {}: cannot write it", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file: one series per scenario, target and metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub schema_version: u32,
    pub series: Vec<Series>,
}

impl Default for History {
    fn default() -> Self {
        History { schema_version: 1, series: Vec::new() }
    }
}

/// Relative changes (candidate / baseline − 1), oldest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub scenario: String,
    pub target: String,
    pub metric: String,
    pub changes: Vec<f64>,
}

impl History {
    /// The file at `path`; an empty history where there is none yet.
    pub fn load(path: &Path) -> Result<History, HistoryError> {
        let text = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
            r => r.map_err(|source| HistoryError::Read { path: path.into(), source })?,
        };
        serde_json::from_str(&text).map_err(|source| HistoryError::Parse { path: path.into(), source })
    }

    /// Write it whole, through a file beside it, so a crash leaves the old one.
    pub fn save(&self, path: &Path) -> Result<(), HistoryError> {
        let err = |source| HistoryError::Write { path: path.into(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        serde_json::to_writer_pretty(tmp.as_file(), self).map_err(|e| err(e.into()))?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    pub fn changes(&self, scenario: &str, target: &str, metric: &str) -> &[f64] {
        self.series
            .iter()
            .find(|s| s.scenario == scenario && s.target == target && s.metric == metric)
            .map(|s| s.changes.as_slice())
            .unwrap_or_default()
    }

    /// Append every candidate's measured change (where it has a finite ratio) to its series.
    pub fn record(&mut self, cmp: &Comparison) {
        for g in &cmp.groups {
            for r in &g.rows {
                let measured = (1..cmp.sides.len())
                    .filter(|i| !matches!(r.changes[*i], Change::TooFewSamples(_) | Change::NoData))
                    .filter_map(|i| r.ratios[i].filter(|x| x.is_finite() && *x > 0.0));
                for ratio in measured {
                    self.push(&g.scenario, &g.target, r.metric.name(), ratio - 1.0);
                }
            }
        }
    }

    fn push(&mut self, scenario: &str, target: &str, metric: &str, change: f64) {
        let at = self.series.iter().position(|s| s.scenario == scenario && s.target == target && s.metric == metric);
        let s = match at {
            Some(i) => &mut self.series[i],
            None => {
                let (scenario, target, metric) = (scenario.into(), target.into(), metric.into());
                self.series.push(Series { scenario, target, metric, changes: Vec::new() });
                self.series.last_mut().expect("just pushed")
            }
        };
        s.changes.push(change);
        let over = s.changes.len().saturating_sub(KEEP);
        s.changes.drain(..over);
    }
}

/// A series' fence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Fence {
    /// The significance threshold, a share (0.004 is 0.4%).
    pub threshold: f64,
    pub q1: f64,
    pub q3: f64,
    /// Changes it was learned from.
    pub points: usize,
}

/// The fence of `changes`, `None` with fewer than [`MIN_HISTORY`].
pub fn fence(changes: &[f64]) -> Option<Fence> {
    let mut v: Vec<f64> = changes.iter().map(|c| c.abs()).filter(|c| c.is_finite()).collect();
    if v.len() < MIN_HISTORY {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (q1, q3) = (median(&v[..n / 2]), median(&v[n.div_ceil(2)..]));
    let threshold = (q3 + IQR_FACTOR * (q3 - q1)).max(FENCE_FLOOR);
    Some(Fence { threshold, q1, q3, points: n })
}

fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// How far a change stands over its fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Magnitude {
    WithinNoise,
    VerySmall,
    Small,
    Medium,
    Large,
    VeryLarge,
}

/// The magnitude of a relative `change` against `fence`.
pub fn grade(change: f64, fence: &Fence) -> Magnitude {
    let over = change.abs() / fence.threshold;
    match over {
        x if x <= 1.0 => Magnitude::WithinNoise,
        x if x < 1.5 => Magnitude::VerySmall,
        x if x < 3.0 => Magnitude::Small,
        x if x < 10.0 => Magnitude::Medium,
        x if x < 25.0 => Magnitude::Large,
        _ => Magnitude::VeryLarge,
    }
}

/// A candidate's change judged against its series' fence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryCall {
    /// The measured relative change (ratio − 1).
    pub change: f64,
    /// `None` while the series has fewer than [`MIN_HISTORY`] changes.
    pub fence: Option<Fence>,
    /// Changes in the series.
    pub points: usize,
    pub magnitude: Option<Magnitude>,
}

impl HistoryCall {
    pub fn of(change: f64, changes: &[f64]) -> HistoryCall {
        let fence = fence(changes);
        HistoryCall { change, fence, points: changes.len(), magnitude: fence.map(|f| grade(change, &f)) }
    }

    /// Over the fence.
    pub fn significant(&self) -> bool {
        self.magnitude.is_some_and(|m| m != Magnitude::WithinNoise)
    }

    /// `+3.1%, medium by history (fence ±0.41% from 24 changes)`.
    pub fn words(&self) -> String {
        let pct = format!("{:+.2}%", self.change * 100.0);
        match (self.fence, self.magnitude) {
            (Some(f), Some(m)) => {
                let m: &'static str = m.into();
                let f = format!("fence ±{:.2}% from {} changes", f.threshold * 100.0, f.points);
                format!("{pct}, {} by history ({f})", m.replace('-', " "))
            }
            _ => format!("{pct}, no noise fence yet ({} changes in history, needs {MIN_HISTORY})", self.points),
        }
    }
}

impl Comparison {
    /// Judge every candidate's change against `history`'s fences (before recording it).
    pub fn judge_by_history(&mut self, history: &History) {
        for g in &mut self.groups {
            for r in &mut g.rows {
                let past = history.changes(&g.scenario, &g.target, r.metric.name());
                r.history = (0..r.ratios.len())
                    .map(|i| {
                        let ratio = r.ratios[i].filter(|x| i > 0 && x.is_finite() && *x > 0.0)?;
                        Some(HistoryCall::of(ratio - 1.0, past))
                    })
                    .collect();
            }
        }
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
