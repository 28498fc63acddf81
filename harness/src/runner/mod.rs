//! `routerlab run`: one cell is one scenario on one target (and one build, one repetition),
//! on the real path: the router VM in the lab, the proxy under test deployed on it, the
//! backend and the load in their namespaces, then reconciliation, metrics and a report.
//!
//! Three rooms, by what their code does:
//! - [`plan`]: pure. A cell as data before anything runs: `plan_cell` → [`CellScript`]
//!   (router steps, [`ProxyScript`], `FaultScript`s, backend arguments, load target,
//!   expectation), and [`Shard`]. Snapshot-tested without root or QEMU.
//! - `exec`: runs a plan on the lab and the router, and fills the cell's report.
//! - `judge`: turns a finished cell's evidence into assertions.
//!
//! The life of a run, in function names (`src/cmd/run.rs` drives it):
//! 1. `exec::preflight::preflight`: each build that is not the image's own is staged
//!    (`exec::stage::stage`) and its binary checked against the target
//!    (`crate::preflight::check`) before anything boots.
//! 2. `exec::cell::run_cells` for one (scenario, target): `exec::session::Session::open`
//!    makes the certificates, the lab and backend (`exec::setup::lab_with_backend`), boots
//!    the router (`exec::setup::boot_router`) and runs its network steps and impairments.
//! 3. Per cell, `exec::cell::CellRun::drive`: `CellRun::deploy` installs the build
//!    (`exec::install::install`), renders `plan::proxy_script` and deploys it
//!    (`exec::deploy::deploy`); `exec::phases::run` drives idle, warm-up and steady load
//!    with the cell's faults (`exec::faults`) and instruction counts (`exec::insns`);
//!    `reconcile_cell` matches every request with the backend's access log;
//!    `judge::assess`, `judge::recovery` and `judge::rejects` add assertions.
//! 4. `Session::collect` keeps the router's own account, `Session::finish_capture` the
//!    packets; the report goes to the sink at once; `Session::close` tears down.
//!
//! Where to add what:
//! - a proxy kind: `scenarios/kinds/<kind>.toml` and its templates (`crate::scenario::kinds`);
//! - a fault: `crate::scenario::FaultAction`, its guest commands in
//!   `scenarios/templates/router/faults.toml` (`plan::fault_script`), host-side ones in
//!   `exec::faults`, and its recovery judgement in `judge::recovery`;
//! - a metric: measured in `exec::phases` or `exec::insns`, kept in `crate::model`, compared
//!   in `crate::compare`;
//! - a target: `crate::vm::Target`, a recipe in `images/`, and its row in `preflight::Wants`.
mod error;
mod exec;
mod judge;
pub mod plan;

pub use crate::model::{
    latency_curves, GuestSample, InsnRatePoint, LatencyCurve, Phase, PhaseClock, ProcSample, Timeline,
};
pub use error::{PathError, RunError};
pub use exec::cell::{interrupted_cell, run_cells, CellSpec, PhaseFn, RunContext};
pub use exec::phases::{load_command, LoadTarget};
pub use exec::preflight::{preflight, Fit};
pub use plan::fault_script::{FaultOp, FaultScript};
pub use plan::shard::Shard;
pub use plan::{plan_cell, CellDirs, CellScript, ProxyBinary, ProxyScript, ScriptError};
