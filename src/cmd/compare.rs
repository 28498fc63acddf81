//! `routerlab compare A B [C...]`: per-metric tables with ratios, noise and a gate.
use std::path::Path;

use harness::compare::{
    bmf, compare, comparison_html, comparison_json, comparison_markdown, comparison_text, evaluate, overlay_members,
    Comparison, Gate, History, Tripped,
};
use harness::report::{load_run, RunView};

use crate::cli::CompareArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: CompareArgs) -> CmdResult {
    let gates = a.fail_if.iter().map(|e| e.parse::<Gate>()).collect::<Result<Vec<_>, _>>().bad_input()?;
    let views: Vec<RunView> = a.runs.iter().map(|p| load_run(p)).collect::<Result<_, _>>().bad_input()?;
    let labels = labels(&a.runs);
    let inputs: Vec<_> = labels.iter().cloned().zip(views.iter().map(|v| v.report.clone())).collect();
    let mut cmp = compare(&inputs);
    let history = a.history.as_deref().map(History::load).transpose().map_err(Failure::lib)?;
    if let Some(h) = &history {
        cmp.judge_by_history(h);
    }
    let tripped = evaluate(&cmp, &gates);
    out!("{}", comparison_text(&cmp, &tripped));
    super::step_summary(&comparison_markdown(&cmp, &tripped))?;
    write_outputs(&cmp, &tripped, &views, a.markdown.as_deref(), a.html.as_deref())?;
    if let Some(p) = &a.json {
        super::write_json(p, &comparison_json(&cmp, &tripped))?;
    }
    if let Some(p) = &a.bmf {
        super::write_json(p, &bmf(&cmp))?;
    }
    if let (Some(mut h), Some(path), true) = (history, &a.history, a.record) {
        h.record(&cmp);
        h.save(path).map_err(Failure::lib)?;
    }
    if !tripped.is_empty() {
        eprintln!("routerlab: {} regression gate(s) tripped", tripped.len());
        return Ok(Code::Regression);
    }
    Ok(Code::Ok)
}

/// The comparison as Markdown and as HTML with the runs' plots overlaid, where asked.
pub(super) fn write_outputs(
    cmp: &Comparison,
    tripped: &[Tripped],
    views: &[RunView],
    markdown: Option<&Path>,
    html: Option<&Path>,
) -> Result<(), Failure> {
    if let Some(p) = markdown {
        super::write_text(p, &comparison_markdown(cmp, tripped))?;
    }
    if let Some(p) = html {
        super::write_text(p, &comparison_html(cmp, tripped, &overlay_members(cmp, views)).infra()?)?;
    }
    Ok(())
}

/// Short, distinct labels: the run directory names (or report.json's parent).
fn labels(paths: &[std::path::PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = paths
        .iter()
        .map(|p| {
            // A run directory by its name; a report.json by its directory; other JSON by stem.
            let p = if p.file_name().is_some_and(|n| n == "report.json") { p.parent().unwrap_or(p) } else { p };
            let name = if p.extension().is_some_and(|e| e == "json") { p.file_stem() } else { p.file_name() };
            name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
        })
        .collect();
    for i in 0..out.len() {
        if out.iter().filter(|l| **l == out[i]).count() > 1 {
            out[i] = format!("{}#{}", out[i], i + 1);
        }
    }
    out
}
