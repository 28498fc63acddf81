//! `routerlab run`: one cell is one scenario on one target, on the real path: the router VM
//! in the lab, the proxy under test deployed on it, the backend and the load in their
//! namespaces, then reconciliation, metrics and a report.
mod cell;
mod deploy;
mod error;
mod nginx_backend;
mod report;
mod template;

pub use cell::{run_cell, PhaseFn, RunContext};
pub use error::RunError;
pub use report::{CellReport, ClientIpSection, ProxyMetrics, Report, Timings};
pub use template::{render, template_name};
