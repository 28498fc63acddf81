//! routerlab's backend: HTTPS/HTTP server that logs, per request, who the client really was.
mod config;
mod conn;
mod error;
mod handler;
mod server;
mod shared;
mod stats;

pub use config::{BackendConfig, ListenSpec};
pub use error::BackendError;
pub use server::{Backend, BoundListener};
pub use stats::{BackendStats, StatsSnapshot};
