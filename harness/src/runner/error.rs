/// Why a cell could not run to its assertions. Each names the phase and target.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{target}: {phase}: {source}")]
    Lab { target: String, phase: &'static str, source: crate::netlab::LabError },
    #[error("{target}: {phase}: {source}")]
    Vm { target: String, phase: &'static str, source: crate::vm::VmError },
    #[error("{target}: deploying {proxy} failed: {message}")]
    Deploy { target: String, proxy: String, message: String },
    #[error("{target}: {phase}: {detail}")]
    Other { target: String, phase: &'static str, detail: String },
}
