//! A Markdown summary for CI job summaries and pull-request comments.
use std::fmt::Write;

use super::view::RunView;
use crate::model::{fixed, CellSummary, Outcome};

/// Pipes and newlines would break a table cell.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(run: &RunView) -> String {
    markdown_with(run, "")
}

/// The summary with `lead` (Markdown, such as an A/B run's comparison) between the run's
/// headline and its table of cells.
pub fn markdown_with(run: &RunView, lead: &str) -> String {
    let r = &run.report;
    let passed = run.cells.iter().filter(|c| c.cell.outcome == Outcome::Pass).count();
    let mut m = format!(
        "## routerlab: {passed}/{} cells passed\n\nrouterlab {}{} on `{}`, started {}.\n\n",
        run.cells.len(),
        r.routerlab_version,
        if r.git_revision.is_empty() { String::new() } else { format!(" ({})", r.git_revision) },
        cell(&r.host),
        r.started_at
    );
    m.push_str(lead);
    m.push_str(
        "| cell | result | client IP | sent | mismatches | req/s | p99 ms | proxy CPU % | peak RSS MiB | insns/req | req/conn client / backend |\n",
    );
    m.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &run.cells {
        let s = CellSummary::of(&c.cell);
        let result = match s.outcome {
            Outcome::Pass => "pass".to_string(),
            o => format!("**{}**", o.as_str().to_uppercase()),
        };
        let _ = writeln!(
            m,
            "| {} | {result} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.title),
            s.verdict_text(),
            s.sent,
            s.mismatches,
            fixed(s.requests_per_s, 1),
            cell(&s.p99_text()),
            fixed(s.proxy_cpu_pct, 1),
            s.rss_mib_text(),
            cell(&s.insns_text()),
            s.reuse_text()
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
