//! Judgements made after the load: cost budgets (and a soak's memory growth) as named
//! assertions, and whether a backend log format would have named a forged client.
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
    if let Some(a) = b.flash_bytes.and_then(|max| flash_assertion(max, r.build.as_ref()?)) {
        r.assertions.push(a);
    }
    if let Some(max) = b.proxy_rss_growth_kib_per_min {
        r.assertions.extend(growth_assertions(max, r.metrics.as_ref(), r.helpers.as_ref()));
    }
}

/// The build's footprint as xz within `max` bytes; nothing for the image's own proxy,
/// which came with the image and has no package to measure.
fn flash_assertion(max: u64, b: &crate::model::BuildInfo) -> Option<crate::reconcile::Assertion> {
    let f = b.flash?;
    let evidence = format!("{}: {}, budget {} as xz", b.name, f.describe(), crate::model::mib(max));
    Some(crate::reconcile::Assertion { name: "flash-budget".into(), passed: f.fits(max), evidence })
}

/// A soak's leak detector: the proxy's RSS slope within `max` KiB/min (guest memory given
/// beside it), and the harness's own load generator and backend within the same bound.
fn growth_assertions(
    max: f64,
    m: Option<&crate::model::ProxyMetrics>,
    helpers: Option<&crate::model::HelperMemory>,
) -> Vec<crate::reconcile::Assertion> {
    use crate::reconcile::Assertion;
    let process = m.and_then(|m| m.process.clone()).unwrap_or_else(|| "no proxy process".into());
    let guest = m
        .and_then(|m| m.guest_mem_used_growth)
        .map(|g| format!("; guest memory used {}", g.describe()))
        .unwrap_or_default();
    let (passed, evidence) = match m.and_then(|m| m.rss_growth) {
        Some(g) => (g.kib_per_min <= max, format!("{process} RSS {}{guest}, budget {max:.1} KiB/min", g.describe())),
        None => (false, format!("{process}: too few RSS samples for a slope{guest}, budget {max:.1} KiB/min")),
    };
    let mut out = vec![Assertion { name: "rss-growth".into(), passed, evidence }];
    let helpers = helpers.cloned().unwrap_or_default();
    let (mut passed, mut evidence) = (true, Vec::new());
    for (name, g) in [("load generator", helpers.load), ("backend", helpers.backend)] {
        match g {
            Some(g) => {
                passed &= g.kib_per_min <= max;
                evidence.push(format!("{name} RSS {}", g.describe()));
            }
            None => {
                passed = false;
                evidence.push(format!("{name}: too few RSS samples for a slope"));
            }
        }
    }
    evidence.push(format!("budget {max:.1} KiB/min"));
    out.push(Assertion { name: "harness-rss-growth".into(), passed, evidence: evidence.join("; ") });
    out
}

#[cfg(test)]
mod tests {
    use super::{flash_assertion, growth_assertions};
    use crate::model::{Growth, HelperMemory, ProxyMetrics};

    fn g(kib_per_min: f64) -> Option<Growth> {
        Some(Growth { kib_per_min, samples: 100, span_s: 120.0, first_kb: 4000, last_kb: 4100 })
    }

    #[test]
    fn max_flash_trips_over_budget_passes_under_it_and_leaves_the_image_s_proxy_alone() {
        use crate::model::{BuildInfo, Footprint};
        let flash = Some(Footprint { installed: 7_563_480, xz: 2_202_009 });
        let b = BuildInfo { name: "haproxy-tls-source".into(), flash, ..Default::default() };
        let over = flash_assertion(2 << 20, &b).unwrap();
        assert!(!over.passed, "{over:?}");
        assert_eq!(over.evidence, "haproxy-tls-source: 7.21 MiB installed, 2.10 MiB as xz, budget 2.00 MiB as xz");
        assert!(flash_assertion(4 << 20, &b).unwrap().passed);
        let image = BuildInfo { name: "image".into(), ..Default::default() };
        assert_eq!(flash_assertion(4 << 20, &image), None);
    }

    #[test]
    fn a_leaking_proxy_fails_and_a_leaking_harness_fails_on_its_own() {
        let m = ProxyMetrics { process: Some("haproxy".into()), rss_growth: g(5.0), ..Default::default() };
        let flat = HelperMemory { load: g(1.0), backend: g(-2.0) };
        let a = growth_assertions(16.0, Some(&m), Some(&flat));
        assert_eq!(
            a.iter().map(|a| (a.name.as_str(), a.passed)).collect::<Vec<_>>(),
            [("rss-growth", true), ("harness-rss-growth", true)]
        );
        assert!(a[0].evidence.starts_with("haproxy RSS +5.0 KiB/min over 100 samples"), "{}", a[0].evidence);

        let leaky = ProxyMetrics { rss_growth: g(40.0), ..m.clone() };
        assert!(!growth_assertions(16.0, Some(&leaky), Some(&flat))[0].passed);
        let leaky_load = HelperMemory { load: g(400.0), ..flat.clone() };
        let a = growth_assertions(16.0, Some(&m), Some(&leaky_load));
        assert!(a[0].passed && !a[1].passed, "{a:?}");
        assert!(a[1].evidence.contains("load generator RSS +400.0 KiB/min"), "{}", a[1].evidence);
    }

    #[test]
    fn no_slope_is_a_failure_that_says_so_never_a_pass() {
        let m = ProxyMetrics { process: Some("nginx".into()), ..Default::default() };
        let a = growth_assertions(16.0, Some(&m), None);
        assert!(!a[0].passed && a[0].evidence.contains("nginx: too few RSS samples"), "{a:?}");
        assert!(!a[1].passed && a[1].evidence.contains("backend: too few RSS samples"), "{a:?}");
    }
}
