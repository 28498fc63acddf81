//! A Markdown summary for CI job summaries and pull-request comments.
use std::fmt::Write;

use super::view::RunView;

/// Pipes and newlines would break a table cell.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Net instructions per request (raw in brackets), or `unavailable`.
pub(crate) fn insns_text(c: &crate::runner::CellReport) -> String {
    let Some(i) = &c.insns else { return "-".into() };
    if i.unavailable.is_some() {
        return "unavailable".into();
    }
    match i.steady.as_ref().map(|s| (s.per_request, s.per_request_raw)) {
        Some((Some(net), Some(raw))) => format!("{} ({} raw)", crate::cost::human(net), crate::cost::human(raw)),
        Some((None, Some(raw))) => format!("{} raw", crate::cost::human(raw)),
        _ => "-".into(),
    }
}

pub fn markdown(run: &RunView) -> String {
    let r = &run.report;
    let passed = run.cells.iter().filter(|c| c.cell.outcome == "pass").count();
    let mut m = format!(
        "## routerlab: {passed}/{} cells passed\n\nrouterlab {}{} on `{}`, started {}.\n\n",
        run.cells.len(),
        r.routerlab_version,
        if r.git_revision.is_empty() { String::new() } else { format!(" ({})", r.git_revision) },
        cell(&r.host),
        r.started_at
    );
    m.push_str(
        "| cell | result | client IP | sent | mismatches | req/s | p99 ms | proxy CPU % | peak RSS MiB | insns/req |\n",
    );
    m.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &run.cells {
        let k = &c.cell;
        let (rps, p99) =
            k.load.as_ref().map(|l| (l.requests_per_s, l.latency_us.effective_total().p99)).unwrap_or_default();
        let (cpu, rss) = k.metrics.as_ref().map(|m| (m.cpu_mean_pct, m.rss_peak_kb)).unwrap_or_default();
        let result = if k.outcome == "pass" { "pass".to_string() } else { format!("**{}**", k.outcome.to_uppercase()) };
        let _ = writeln!(
            m,
            "| {} | {result} | {} | {} | {} | {rps:.1} | {:.1} | {cpu:.1} | {:.1} | {} |",
            cell(&c.title()),
            cell(&k.client_ip.verdict),
            k.client_ip.sent,
            k.client_ip.mismatches,
            p99 as f64 / 1000.0,
            rss as f64 / 1024.0,
            cell(&insns_text(k))
        );
    }
    let problems: Vec<String> = run
        .cells
        .iter()
        .flat_map(|c| {
            let t = c.title();
            let failed = c
                .cell
                .assertions
                .iter()
                .filter(|a| !a.passed)
                .map(move |a| format!("- {}: `{}` failed: {}", t, a.name, a.evidence));
            let err = c.cell.error.iter().map(move |e| format!("- {}: error: {e}", c.title()));
            failed.chain(err).collect::<Vec<_>>()
        })
        .collect();
    let unavailable: Vec<String> = run
        .cells
        .iter()
        .filter_map(|c| Some(format!("- {}: {}", c.title(), c.cell.insns.as_ref()?.unavailable.as_ref()?)))
        .collect();
    if !unavailable.is_empty() {
        m.push_str("\n### Instruction counts unavailable\n\n");
        m.push_str(&unavailable.join("\n"));
        m.push('\n');
    }
    if !problems.is_empty() {
        m.push_str("\n### Problems\n\n");
        m.push_str(&problems.join("\n"));
        m.push('\n');
    }
    m
}
