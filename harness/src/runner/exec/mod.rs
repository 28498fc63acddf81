//! Execution: the preflight, the session (lab, backend, booted router), and a cell's
//! deploy, load phases, faults, capture and instruction counts on it.
pub(crate) mod capture;
pub(crate) mod cell;
pub(crate) mod deploy;
pub(crate) mod faults;
mod footprint;
pub(crate) mod helper_rss;
pub(crate) mod insns;
pub(crate) mod install;
pub(crate) mod nginx_backend;
pub(crate) mod phases;
pub(crate) mod preflight;
mod ramp;
pub(crate) mod session;
pub(crate) mod setup;
pub(crate) mod stage;
