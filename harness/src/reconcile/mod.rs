//! Reconcile what the load generator sent (its journal) with what the backend logged:
//! every request accounted for, each attributed to the source address that really sent it.
mod check;
mod error;
mod reuse;
mod tally;

pub use crate::model::{Assertion, LegReuse};
pub use check::Expect;
pub use error::ReconcileError;
pub use tally::{reconcile, Mismatch, Reconciliation, SourceOutcome};
