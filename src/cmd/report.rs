//! `routerlab report RUN_DIR`: the HTML report, Markdown summary and JUnit XML of a run.
use std::path::PathBuf;

use harness::report::{html_page, junit_xml, load_run, markdown, RunView};

use super::write_text as write;
use crate::cli::ReportArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: ReportArgs) -> CmdResult {
    let view = load_run(&a.run).bad_input()?;
    let all = !a.html && !a.markdown && a.junit.is_none();
    if a.html || all {
        outln!("{}", write_html(&view)?.display());
    }
    if a.markdown {
        let md = markdown(&view);
        write(&view.root.join("summary.md"), &md)?;
        out!("{md}");
    } else if all {
        write(&view.root.join("summary.md"), &markdown(&view))?;
    }
    if let Some(path) = a.junit.clone().or_else(|| all.then(|| view.root.join("junit.xml"))) {
        write(&path, &junit_xml(&view))?;
    }
    Ok(Code::Ok)
}

fn write_html(view: &RunView) -> Result<PathBuf, Failure> {
    let path = view.root.join("report.html");
    write(&path, &html_page(view).infra()?)?;
    Ok(path)
}

/// `routerlab merge RUN_DIR... --out DIR`: one run from a sharded matrix's run directories.
pub fn merge(runs: &[PathBuf], out: &std::path::Path) -> CmdResult {
    let views: Vec<RunView> = runs.iter().map(|p| load_run(p)).collect::<Result<_, _>>().bad_input()?;
    let report = harness::report::merge(&views, out).bad_input()?;
    super::write_json(&out.join("report.json"), &report)?;
    let view = load_run(out).infra()?;
    write_html(&view)?;
    write(&out.join("summary.md"), &markdown(&view))?;
    write(&out.join("junit.xml"), &junit_xml(&view))?;
    outln!("{}: {} cells from {} runs", out.join("report.json").display(), report.cells.len(), runs.len());
    Ok(Code::Ok)
}

/// Everything `routerlab run` leaves beside report.json: report.html, summary.md, junit.xml.
pub fn render_all(view: &RunView) -> Result<(), Failure> {
    write_html(view)?;
    let md = markdown(view);
    write(&view.root.join("summary.md"), &md)?;
    super::step_summary(&md)?;
    write(&view.root.join("junit.xml"), &junit_xml(&view))
}
