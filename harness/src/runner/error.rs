/// Why a cell could not run to its assertions. Each names the phase and target, and keeps
/// the error that caused it as its source.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{target}: {phase}")]
    Lab {
        target: String,
        phase: &'static str,
        #[source]
        source: Box<crate::netlab::LabError>,
    },
    #[error("{target}: {phase}")]
    Vm {
        target: String,
        phase: &'static str,
        #[source]
        source: Box<crate::vm::VmError>,
    },
    #[error("{target}: deploying {proxy} failed: {message}")]
    Deploy { target: String, proxy: String, message: String },
    /// Any other library or I/O error, kept whole.
    #[error("{target}: {phase}")]
    Cause {
        target: String,
        phase: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// What was observed, not an error value: a guest or host command's exit and output.
    #[error("{target}: {phase}: {detail}")]
    Failed { target: String, phase: &'static str, detail: String },
}

impl RunError {
    /// `source`, kept whole, as the reason `target`'s `phase` failed.
    pub fn caused(
        target: impl std::fmt::Display,
        phase: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> RunError {
        RunError::Cause { target: target.to_string(), phase, source: source.into() }
    }

    /// A command's observed failure (exit status and output), which has no error value.
    pub fn failed(target: impl std::fmt::Display, phase: &'static str, detail: impl Into<String>) -> RunError {
        RunError::Failed { target: target.to_string(), phase, detail: detail.into() }
    }
}

/// An I/O error on a file the runner read or wrote, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}")]
pub struct PathError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl PathError {
    pub fn new(path: &std::path::Path, source: std::io::Error) -> PathError {
        PathError { path: path.to_path_buf(), source }
    }
}
