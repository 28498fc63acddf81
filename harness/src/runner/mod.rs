//! `routerlab run`: one cell is one scenario on one target, on the real path: the router VM
//! in the lab, the proxy under test deployed on it, the backend and the load in their
//! namespaces, then reconciliation, metrics and a report.
mod assess;
mod capture;
mod cell;
mod deploy;
mod error;
mod fault_script;
mod faults;
mod helper_rss;
mod insns;
mod install;
mod nginx_backend;
mod phases;
mod preflight;
mod recovery;
mod rejects;
mod script;
mod session;
mod setup;
mod shard;

pub use crate::model::{
    latency_curves, GuestSample, InsnRatePoint, LatencyCurve, Phase, PhaseClock, ProcSample, Timeline,
};
pub use cell::{interrupted_cell, run_cells, CellSpec, PhaseFn, RunContext};
pub use error::{PathError, RunError};
pub use fault_script::{FaultOp, FaultScript};
pub use preflight::{preflight, Fit};
pub use script::{plan_cell, CellDirs, CellScript, ProxyBinary, ProxyScript, ScriptError};
pub use shard::Shard;
