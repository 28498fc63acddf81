use std::path::PathBuf;

/// Why a report could not be read or written. Each names the file or plot.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cell {cell:?} is in both {first} and {second}: merge each shard once")]
    Duplicate { cell: String, first: PathBuf, second: PathBuf },
    #[error("plot {plot:?}: {detail}")]
    Plot { plot: String, detail: String },
}
