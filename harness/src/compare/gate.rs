//! The regression gate: `--fail-if 'insns/req > 1.02x'`, `--fail-if 'p99 > 1.10x'`,
//! `--fail-if 'errors > 0'`, `--fail-if 'client-ip != preserved'`. Where the comparison has
//! a 95% interval for the ratio (repetitions on both sides), a ratio gate trips only when
//! the whole interval clears the threshold; without one, on the ratio of medians unless it
//! is inside the noise.
use super::metric::Metric;
use super::table::{Change, Comparison, Group};
use super::CompareError;
use crate::model::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// `1.10x`: candidate median over baseline median.
    Ratio(f64),
    /// A plain number in the metric's unit (`errors > 0`, `p99 > 250`).
    Absolute(f64),
    /// `preserved` or `lost` (client-ip only).
    Verdict(Verdict),
    /// `significant`: over the noise fence that history learned for the metric
    /// (`compare --history`), in the direction of the operator (`>` up, `<` down).
    Significant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: Threshold,
}

/// One gate that tripped, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Tripped {
    pub gate: String,
    pub group: String,
    pub side: String,
    pub detail: String,
}

impl std::str::FromStr for Gate {
    type Err = CompareError;
    fn from_str(expr: &str) -> Result<Gate, CompareError> {
        let err = |detail: String| CompareError::Gate { expr: expr.to_string(), detail };
        let ops = [(">=", Op::Ge), ("<=", Op::Le), ("!=", Op::Ne), ("==", Op::Eq), (">", Op::Gt), ("<", Op::Lt)];
        let (pos, tok, op) = ops
            .iter()
            .filter_map(|(t, o)| expr.find(t).map(|p| (p, *t, *o)))
            .min_by_key(|(p, t, _)| (*p, usize::MAX - t.len()))
            .ok_or_else(|| err("expected METRIC OP VALUE, with OP one of > >= < <= == !=".into()))?;
        let (name, value) = (expr[..pos].trim(), expr[pos + tok.len()..].trim());
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        let metric = Metric::parse(name)
            .ok_or_else(|| err(format!("unknown metric {name:?}; expected one of {}", names.join(", "))))?;
        let threshold = if metric == Metric::ClientIp {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(err("client-ip takes == or != with preserved or lost".into()));
            }
            match value {
                "preserved" => Threshold::Verdict(Verdict::Preserved),
                "lost" => Threshold::Verdict(Verdict::Lost),
                v => return Err(err(format!("client-ip is compared with preserved or lost, not {v:?}"))),
            }
        } else if value == "significant" {
            if !matches!(op, Op::Gt | Op::Lt) {
                return Err(err("significant takes > (a rise over the fence) or < (a fall)".into()));
            }
            Threshold::Significant
        } else if let Some(x) = value.strip_suffix(['x', 'X']) {
            Threshold::Ratio(x.trim().parse().map_err(|_| err(format!("{value:?} is not a ratio like 1.10x")))?)
        } else if let Some(p) = value.strip_suffix('%') {
            // `+10%` is the same as 1.10x.
            let p: f64 = p.trim().parse().map_err(|_| err(format!("{value:?} is not a percentage like +10%")))?;
            Threshold::Ratio(1.0 + p / 100.0)
        } else {
            Threshold::Absolute(value.parse().map_err(|_| {
                err(format!("{value:?} is not a number, a ratio like 1.10x, or a percentage like +10%"))
            })?)
        };
        Ok(Gate { expr: expr.trim().to_string(), metric, op, threshold })
    }
}

/// Every (gate, group, candidate side) that trips. Candidates are the sides after the
/// baseline; with a single side, that side is checked against absolute thresholds.
pub fn evaluate(cmp: &Comparison, gates: &[Gate]) -> Vec<Tripped> {
    let candidates: Vec<usize> = if cmp.sides.len() > 1 { (1..cmp.sides.len()).collect() } else { vec![0] };
    let mut out = Vec::new();
    for g in &cmp.groups {
        for gate in gates {
            for &s in &candidates {
                let details = match &gate.threshold {
                    Threshold::Verdict(want) => verdict_trips(g, gate, *want, s),
                    Threshold::Ratio(x) => ratio_trip(cmp, g, gate, *x, s).into_iter().collect(),
                    Threshold::Absolute(x) => absolute_trip(g, gate, *x, s).into_iter().collect(),
                    Threshold::Significant => history_trip(g, gate, s).into_iter().collect(),
                };
                out.extend(details.into_iter().map(|detail| Tripped {
                    gate: gate.expr.clone(),
                    group: g.title(),
                    side: cmp.sides[s].label.clone(),
                    detail,
                }));
            }
        }
    }
    out
}

/// `client-ip == / != preserved|lost`: one trip per repetition of side `s` that fails it.
fn verdict_trips(g: &Group, gate: &Gate, want: Verdict, s: usize) -> Vec<String> {
    let want_match = gate.op == Op::Eq;
    g.verdicts[s]
        .iter()
        .enumerate()
        .filter(|(_, v)| (v.as_ref() == Some(&want)) == want_match)
        .map(|(rep, v)| {
            format!("repetition {}: client IP {}", rep + 1, v.map(Verdict::as_str).unwrap_or("not observed"))
        })
        .collect()
}

/// A ratio against the baseline. With an interval, the side of it nearest the threshold
/// must clear it; without one, the ratio must, unless it is within the noise. A percentile
/// with too few samples behind it, or a metric the side did not measure, trips: a gate that
/// cannot be judged does not pass.
fn ratio_trip(cmp: &Comparison, g: &Group, gate: &Gate, x: f64, s: usize) -> Option<String> {
    let row = g.rows.iter().find(|r| r.metric == gate.metric)?;
    let m = gate.metric.name();
    let ch = row.changes[s];
    if let Change::TooFewSamples(short) = ch {
        return Some(format!("{m}: {}", short.words()));
    }
    let Some(r) = row.ratios.get(s).copied().flatten() else {
        return (row.stats[s].is_none() && row.stats[0].is_some()).then(|| format!("{m} not measured"));
    };
    let base = &cmp.sides[0].label;
    if let Some(e) = row.estimates.get(s).copied().flatten() {
        let edge = match gate.op {
            Op::Gt | Op::Ge => e.lo,
            Op::Lt | Op::Le => e.hi,
            Op::Eq | Op::Ne => e.ratio,
        };
        return gate.op.holds(edge, x).then(|| format!("{m} vs {base}: {}", e.sentence()));
    }
    (gate.op.holds(r, x) && ch != Change::WithinNoise).then(|| format!("{m} ratio {r:.3}x vs {base}"))
}

/// Over history's fence in the operator's direction. Without a judgement (no
/// `--history`, or too few changes in it to fence) it trips: it cannot be judged.
fn history_trip(g: &Group, gate: &Gate, s: usize) -> Option<String> {
    let m = gate.metric.name();
    let row = g.rows.iter().find(|r| r.metric == gate.metric)?;
    if let Change::TooFewSamples(short) = row.changes[s] {
        return Some(format!("{m}: {}", short.words()));
    }
    let Some(call) = row.history.get(s).copied().flatten() else {
        let why = if row.history.is_empty() { "no history to judge by (compare --history FILE)" } else { "no ratio" };
        return (s > 0).then(|| format!("{m}: {why}"));
    };
    if call.fence.is_none() {
        return Some(format!("{m}: {}", call.words()));
    }
    let way = if gate.op == Op::Gt { call.change > 0.0 } else { call.change < 0.0 };
    (way && call.significant()).then(|| format!("{m}: {}", call.words()))
}

/// A plain number against side `s`'s median. No row means no cell counts it (TLB refills
/// on aarch64), so not measured.
fn absolute_trip(g: &Group, gate: &Gate, x: f64, s: usize) -> Option<String> {
    let m = gate.metric.name();
    let row = g.rows.iter().find(|r| r.metric == gate.metric);
    let Some(st) = row.and_then(|r| r.stats[s]) else {
        return Some(format!("{m} not measured"));
    };
    if let Some(short) = row.and_then(|r| r.too_few[s]) {
        return Some(format!("{m}: {}", short.words()));
    }
    gate.op.holds(st.median, x).then(|| format!("{m} median {:.3} {}", st.median, gate.metric.unit()))
}
