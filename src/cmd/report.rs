//! `routerlab report RUN_DIR`: the HTML report, Markdown summary and JUnit XML of a run.
use std::path::PathBuf;

use harness::compare::{run_lead_html, run_lead_markdown, Comparison};
use harness::report::{html_page_with, junit_xml, load_run, markdown_with, RunView};

use super::write_text as write;
use crate::cli::ReportArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: ReportArgs) -> CmdResult {
    let view = load_run(&a.run).bad_input()?;
    let lead = Lead::of(&view);
    let all = !a.html && !a.markdown && a.junit.is_none();
    if a.html || all {
        outln!("{}", write_html(&view, &lead)?.display());
    }
    if a.markdown {
        let md = markdown_with(&view, &lead.markdown);
        write(&view.root.join("summary.md"), &md)?;
        out!("{md}");
    } else if all {
        write(&view.root.join("summary.md"), &markdown_with(&view, &lead.markdown))?;
    }
    if let (Some(cmp), true) = (&lead.comparison, a.html || all) {
        write_comparison(&view, cmp)?;
    }
    if let Some(path) = a.junit.clone().or_else(|| all.then(|| view.root.join("junit.xml"))) {
        write(&path, &junit_xml(&view))?;
    }
    Ok(Code::Ok)
}

fn write_html(view: &RunView, lead: &Lead) -> Result<PathBuf, Failure> {
    let path = view.root.join("report.html");
    write(&path, &html_page_with(view, &lead.html).infra()?)?;
    Ok(path)
}

/// What opens the report of a run that ran more than one build (`run --builds`): the
/// builds compared, with their one-line verdicts, before the cells. The verdict is what
/// such a run is for, so report.html, summary.md and the CI step summary lead with it.
pub struct Lead {
    pub comparison: Option<Comparison>,
    html: String,
    markdown: String,
}

impl Lead {
    pub fn of(view: &RunView) -> Lead {
        let none = Lead { comparison: None, html: String::new(), markdown: String::new() };
        // Builds compared means two builds of one scenario on one target, not a matrix of
        // scenarios that happen to run different builds.
        let mut builds: std::collections::BTreeMap<(&str, &str), std::collections::BTreeSet<Option<&str>>> =
            Default::default();
        for c in &view.report.cells {
            let b = c.build.as_ref().map(|b| b.name.as_str());
            builds.entry((c.scenario.as_str(), c.target.as_str())).or_default().insert(b);
        }
        if builds.values().all(|b| b.len() < 2) {
            return none;
        }
        let label = view.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let cmp = harness::compare::compare(&[(label, view.report.clone())]);
        if cmp.sides.len() < 2 {
            return none;
        }
        let (html, markdown) = (run_lead_html(&cmp), run_lead_markdown(&cmp));
        Lead { comparison: Some(cmp), html, markdown }
    }
}

/// comparison.md and comparison.html (the builds' plots overlaid) beside report.html.
pub fn write_comparison(view: &RunView, cmp: &Comparison) -> Result<(), Failure> {
    let (md, html) = (view.root.join("comparison.md"), view.root.join("comparison.html"));
    super::compare::write_outputs(cmp, &[], std::slice::from_ref(view), Some(&md), Some(&html))
}

/// `routerlab merge RUN_DIR... --out DIR`: one run from a sharded matrix's run directories.
pub fn merge(runs: &[PathBuf], out: &std::path::Path) -> CmdResult {
    let views: Vec<RunView> = runs.iter().map(|p| load_run(p)).collect::<Result<_, _>>().bad_input()?;
    let report = harness::report::merge(&views, out).bad_input()?;
    super::write_json(&out.join("report.json"), &report)?;
    let view = load_run(out).infra()?;
    let lead = Lead::of(&view);
    write_html(&view, &lead)?;
    write(&out.join("summary.md"), &markdown_with(&view, &lead.markdown))?;
    if let Some(cmp) = &lead.comparison {
        write_comparison(&view, cmp)?;
    }
    write(&out.join("junit.xml"), &junit_xml(&view))?;
    outln!("{}: {} cells from {} runs", out.join("report.json").display(), report.cells.len(), runs.len());
    Ok(Code::Ok)
}

/// Everything `routerlab run` leaves beside report.json: report.html, summary.md, junit.xml,
/// and for a run of several builds their comparison.
pub fn render_all(view: &RunView, lead: &Lead) -> Result<(), Failure> {
    write_html(view, lead)?;
    if let Some(cmp) = &lead.comparison {
        write_comparison(view, cmp)?;
    }
    let md = markdown_with(view, &lead.markdown);
    write(&view.root.join("summary.md"), &md)?;
    super::step_summary(&md)?;
    write(&view.root.join("junit.xml"), &junit_xml(view))
}
