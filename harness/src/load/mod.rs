//! The HTTPS load generator: closed loop (N connections flat out) or open loop (constant
//! rate, latency from the intended send time, as wrk2 does), from many source addresses,
//! with a per-request journal for reconciliation against the backend's access log.
mod config;
mod connect;
mod error;
mod journal;
mod progress;
mod run;
mod stats;
mod summary;
mod worker;

pub use config::{parse_header, ConnPolicy, LoadConfig, Mode, Stop, Url};
pub use error::LoadError;
pub use journal::{read_journal, ErrorClass, JournalEntry, JournalHeader, JournalReader, Outcome};
pub use run::{run, run_keeping, Connections};
pub use summary::{ErrorCounts, LatencySet, LoadSummary};
