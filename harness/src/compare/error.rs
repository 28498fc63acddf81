/// Why a comparison or a gate could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("--fail-if {expr:?}: {detail}")]
    Gate { expr: String, detail: String },
    #[error("{input}: {detail}")]
    Input { input: String, detail: String },
}
