/// Reconciliation errors, naming the file they are about.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Journal(#[from] crate::load::LoadError),
    #[error(transparent)]
    Log(#[from] crate::accesslog::LogError),
}
