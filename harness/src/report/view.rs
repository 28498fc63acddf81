//! A run directory as the renderers see it: `report.json` plus, per cell, the files the
//! runner left beside it (timeline, reconciliation, proxy config, logs).
use std::path::{Path, PathBuf};

use super::ReportError;
use crate::model::Timeline;
use crate::model::{CellDir, CellReport, Report};
use crate::reconcile::Reconciliation;

pub struct CellView {
    pub cell: CellReport,
    /// The cell's directory as found now (the run may have moved since it was written).
    pub dir: PathBuf,
    pub timeline: Option<Timeline>,
    pub reconciliation: Option<Reconciliation>,
    pub proxy_conf: Option<String>,
}

pub struct RunView {
    /// Directory holding `report.json`.
    pub root: PathBuf,
    pub report: Report,
    pub cells: Vec<CellView>,
}

/// Files a person opens when a cell goes wrong, linked from the report when present.
pub const CELL_FILES: [&str; 10] = CellDir::FOR_PEOPLE;

/// Read a run directory, or a `report.json` path directly.
pub fn load_run(path: &Path) -> Result<RunView, ReportError> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let file = if path.is_dir() || !is_json { path.join("report.json") } else { path.to_path_buf() };
    let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let read_err = |detail: String| ReportError::Read { path: file.clone(), detail };
    let text = std::fs::read_to_string(&file).map_err(|e| read_err(e.to_string()))?;
    let report: Report =
        serde_json::from_str(&text).map_err(|e| read_err(format!("line {} column {}: {e}", e.line(), e.column())))?;
    let cells = report.cells.iter().map(|c| cell_view(&root, c)).collect();
    Ok(RunView { root, report, cells })
}

fn cell_view(root: &Path, cell: &CellReport) -> CellView {
    let recorded = PathBuf::from(&cell.dir);
    let beside = recorded.file_name().map(|n| root.join(n));
    let dir = match beside {
        Some(d) if d.is_dir() => d,
        _ => recorded,
    };
    CellView {
        timeline: Timeline::read(&CellDir(&dir).timeline()),
        reconciliation: std::fs::read(CellDir(&dir).reconciliation())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()),
        proxy_conf: std::fs::read_to_string(CellDir(&dir).proxy_conf()).ok(),
        cell: cell.clone(),
        dir,
    }
}

impl CellView {
    /// `scenario on target [build] #rep`, the name used in tables and test cases.
    pub fn title(&self) -> String {
        self.cell.title()
    }
    /// The run-relative links to this cell's files that exist. Cells that shared a router
    /// with an earlier cell find the shared files (console, QEMU script, backend log) in
    /// that cell's directory; those links say so.
    pub fn links(&self, root: &Path, all: &[CellView]) -> Vec<(String, String)> {
        let rel = |dir: &Path, f: &str| dir.strip_prefix(root).unwrap_or(dir).join(f).display().to_string();
        CELL_FILES
            .iter()
            .filter_map(|f| {
                if self.dir.join(f).is_file() {
                    return Some((f.to_string(), rel(&self.dir, f)));
                }
                let shared = all.iter().find(|o| {
                    o.cell.scenario == self.cell.scenario
                        && o.cell.target == self.cell.target
                        && o.dir.join(f).is_file()
                })?;
                Some((format!("{f} (shared, in {})", shared.title()), rel(&shared.dir, f)))
            })
            .collect()
    }
}
