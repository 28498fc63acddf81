//! Judgements made after the load: cost budgets as named assertions, and whether a backend
//! log format would have named a forged client.
use std::net::IpAddr;
use std::path::Path;

use crate::model::CellReport;
use crate::scenario::Plan;

/// With forged headers, read the backend's `main`-format log (raw X-Forwarded-For first)
/// the way a person would, and flag it if it names a forged address as the client.
pub(crate) fn spoofable_logs(plan: &Plan, dir: &Path) -> Vec<String> {
    use crate::forwarded::{parse_forwarded, parse_xff, Node};
    let mut forged: Vec<IpAddr> = Vec::new();
    for h in &plan.load.spoof_headers {
        let Some((name, value)) = h.split_once(':') else { continue };
        let nodes = match name.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => parse_xff([value.trim()]),
            "forwarded" => parse_forwarded([value.trim()]),
            _ => continue,
        };
        forged.extend(nodes.into_iter().filter_map(|n| if let Node::Ip(ip) = n { Some(ip) } else { None }));
    }
    let path = dir.join("access-main.log");
    if forged.is_empty() || !path.is_file() {
        return Vec::new();
    }
    let Ok(records) = crate::accesslog::read_log(&path, crate::accesslog::LogFormat::Main) else { return Vec::new() };
    let (mut total, mut hits, mut example) = (0u64, 0u64, None);
    for rec in records.flatten() {
        total += 1;
        if let Some(ip) = rec.client_ip.filter(|ip| forged.contains(ip)) {
            hits += 1;
            example.get_or_insert(ip);
        }
    }
    match example {
        Some(ip) => vec![format!(
            "nginx log_format main: {hits} of {total} lines name a forged client ({ip}); it logs the client-supplied X-Forwarded-For first"
        )],
        None => Vec::new(),
    }
}

/// The scenario's cost budgets as named assertions, with the measured value as evidence.
pub(crate) fn budget_assertions(plan: &Plan, r: &mut CellReport) {
    use crate::reconcile::Assertion;
    let b = &plan.budgets;
    if let (Some(max), Some(load)) = (b.p99, &r.load) {
        let p = load.latency_us.effective_total().p99;
        let passed = u128::from(p) <= max.as_micros();
        r.assertions.push(Assertion {
            name: "latency-budget".into(),
            passed,
            evidence: format!("p99 {:.1} ms, budget {:.1} ms", p as f64 / 1000.0, max.as_secs_f64() * 1000.0),
        });
    }
    let process = |m: &crate::model::ProxyMetrics| m.process.clone().unwrap_or_else(|| "no proxy process".into());
    if let (Some(max), Some(m)) = (b.proxy_cpu_pct, &r.metrics) {
        let (evidence, passed) = match m.cpu_mean_pct {
            Some(cpu) => (
                format!("{} mean {cpu:.1}% of a guest CPU over {} samples, budget {max:.1}%", process(m), m.samples),
                cpu <= max,
            ),
            None => (format!("{}: never sampled, budget {max:.1}%", process(m)), false),
        };
        r.assertions.push(Assertion { name: "cpu-budget".into(), passed, evidence });
    }
    if let (Some(max), Some(m)) = (b.proxy_rss_mib, &r.metrics) {
        let (evidence, passed) = match m.rss_peak_kb.map(|k| k as f64 / 1024.0) {
            Some(mib) => (
                format!("{} peak RSS {mib:.1} MiB over {} samples, budget {max:.1} MiB", process(m), m.samples),
                mib <= max,
            ),
            None => (format!("{}: never sampled, budget {max:.1} MiB", process(m)), false),
        };
        r.assertions.push(Assertion { name: "rss-budget".into(), passed, evidence });
    }
}
