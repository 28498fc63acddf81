//! Judging: what a finished cell's evidence means, as assertions: budgets, growth,
//! recovery after faults, the backend's rejects, the guest kernel's events.
pub(crate) mod assess;
pub(crate) mod kernel;
pub(crate) mod recovery;
pub(crate) mod rejects;
