//! Shards into one run: `routerlab merge DIR... --out DIR` joins the run directories a CI
//! matrix left (one per `--shard` job, e.g. downloaded artifacts) into one report.json, with
//! each cell's directory linked beside it, so the renderers and `compare` see one run.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ReportError, RunView};
use crate::model::Report;

/// One report of every cell of `runs`, in order; its cell directories are symlinked into
/// `out`. A cell (scenario, target, build, repetition) found in two runs is an error.
pub fn merge(runs: &[RunView], out: &Path) -> Result<Report, ReportError> {
    let first =
        runs.first().ok_or_else(|| ReportError::Read { path: out.into(), detail: "no runs to merge".into() })?;
    std::fs::create_dir_all(out).map_err(|source| ReportError::Write { path: out.into(), source })?;
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut merged = Report { cells: Vec::new(), ..first.report.clone() };
    let mut hosts: Vec<&str> = Vec::new();
    for run in runs {
        let r = &run.report;
        merged.started_at = merged.started_at.clone().min(r.started_at.clone());
        if !hosts.contains(&r.host.as_str()) {
            hosts.push(&r.host);
        }
        for view in &run.cells {
            let key = view.cell.title();
            if let Some(earlier) = seen.insert(key.clone(), run.root.clone()) {
                return Err(ReportError::Duplicate { cell: key, first: earlier, second: run.root.clone() });
            }
            let mut cell = view.cell.clone();
            if let Some(name) = view.dir.file_name().filter(|_| view.dir.is_dir()) {
                let link = out.join(name);
                link_dir(&view.dir, &link)?;
                cell.dir = link.display().to_string();
            }
            merged.cells.push(cell);
        }
    }
    merged.host = hosts.join(", ");
    Ok(merged)
}

/// `link` → `dir` (absolute), replacing a link left by an earlier merge into the same `out`.
fn link_dir(dir: &Path, link: &Path) -> Result<(), ReportError> {
    let target = std::fs::canonicalize(dir).map_err(|source| ReportError::Write { path: dir.into(), source })?;
    if link.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(link);
    }
    std::os::unix::fs::symlink(&target, link).map_err(|source| ReportError::Write { path: link.into(), source })
}
