//! Machine-readable comparisons: `compare --json` (docs/compare.schema.json) and the Bencher
//! Metric Format (`compare --bmf`), so a user can keep history in bencher.
use serde_json::{json, Map, Value};

use super::table::{Change, Comparison};
use super::Tripped;

fn change_name(c: Change) -> &'static str {
    match c {
        Change::Baseline => "baseline",
        Change::NoData => "no-data",
        Change::Same => "same",
        Change::WithinNoise => "within-noise",
        Change::Better { certain: true } => "better",
        Change::Worse { certain: true } => "worse",
        Change::Better { certain: false } => "better-tentative",
        Change::Worse { certain: false } => "worse-tentative",
        Change::TooFewSamples(_) => "too-few-samples",
    }
}

/// The whole comparison as JSON: sides, then per group and metric each side's statistics,
/// ratio, 95% interval and call, then the gates that tripped.
pub fn comparison_json(cmp: &Comparison, tripped: &[Tripped]) -> Value {
    let sides: Vec<Value> = cmp
        .sides
        .iter()
        .map(|s| {
            let i = s.info.as_ref();
            json!({
                "label": s.label,
                "build": s.build,
                "version": i.map(|i| &i.version),
                "tls": i.and_then(|i| i.tls.as_ref()),
                "libc": i.and_then(|i| i.libc.as_ref()),
                "bytes": i.and_then(|i| i.bytes),
                "flash": i.and_then(|i| i.flash),
            })
        })
        .collect();
    let groups: Vec<Value> = cmp
        .groups
        .iter()
        .map(|g| {
            let metrics: Vec<Value> = g
                .rows
                .iter()
                .map(|r| {
                    let per_side: Vec<Value> = (0..cmp.sides.len())
                        .map(|i| {
                            let st = r.stats[i];
                            json!({
                                "n": st.map(|s| s.n),
                                "median": st.map(|s| s.median),
                                "min": st.map(|s| s.min),
                                "max": st.map(|s| s.max),
                                "value": r.shown(i),
                                "pooled": r.pooled[i],
                                "history": r.history.get(i).copied().flatten().map(|h| json!({
                                    "change": h.change,
                                    "fence": h.fence,
                                    "points": h.points,
                                    "magnitude": h.magnitude,
                                    "significant": h.significant(),
                                })),
                                "too_few_samples": r.too_few[i].map(|t| json!({
                                    "per_cell": t.per_cell,
                                    "needed": t.needed,
                                })),
                                "ratio": r.ratios[i],
                                "change": change_name(r.changes[i]),
                                "estimate": r.estimates[i].map(|e| json!({
                                    "method": e.method,
                                    "ratio": e.ratio,
                                    "ci95": [e.lo, e.hi],
                                    "p": e.p,
                                    "detectable_pct": e.detectable_pct,
                                    "df": e.df,
                                    "sentence": e.sentence(),
                                })),
                            })
                        })
                        .collect();
                    json!({ "metric": r.metric.name(), "unit": r.metric.unit(), "sides": per_side })
                })
                .collect();
            json!({
                "scenario": g.scenario,
                "target": g.target,
                "metrics": metrics,
                "client_ip": g.verdicts,
                "outcomes": g.outcomes,
            })
        })
        .collect();
    let tripped: Vec<Value> = tripped
        .iter()
        .map(|t| json!({ "gate": t.gate, "group": t.group, "side": t.side, "detail": t.detail }))
        .collect();
    json!({ "schema_version": 1, "sides": sides, "groups": groups, "tripped": tripped })
}

/// Bencher Metric Format: one benchmark per (scenario, target, side), one measure per metric
/// with a value (the shown value: fitted slope or median) and, over repetitions, the range.
pub fn bmf(cmp: &Comparison) -> Value {
    let mut out = Map::new();
    for g in &cmp.groups {
        for (i, side) in cmp.sides.iter().enumerate() {
            let mut measures = Map::new();
            for r in &g.rows {
                let (Some(value), Some(st)) = (r.shown(i), r.stats[i]) else { continue };
                let mut m = Map::new();
                m.insert("value".into(), json!(value));
                if st.n > 1 {
                    m.insert("lower_value".into(), json!(st.min.min(value)));
                    m.insert("upper_value".into(), json!(st.max.max(value)));
                }
                measures.insert(bmf_measure(r.metric.name()), Value::Object(m));
            }
            if !measures.is_empty() {
                out.insert(format!("{}/{}/{}", g.scenario, g.target, side.label), Value::Object(measures));
            }
        }
    }
    Value::Object(out)
}

/// Bencher measure slugs: lower-case letters, digits and dashes.
fn bmf_measure(name: &str) -> String {
    name.replace("/req", "-per-request").replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_names_are_slugs() {
        assert_eq!(bmf_measure("insns/req-user"), "insns-per-request-user");
        assert_eq!(bmf_measure("p99"), "p99");
    }
}
