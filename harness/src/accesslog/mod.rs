//! Access logs: the JSON-lines record routerlab's backend writes, a crash-safe writer,
//! and readers for JSON, nginx `combined` and the forwarded-first `main` variant.
mod error;
mod parse;
mod record;
mod writer;

pub use error::LogError;
pub use parse::{parse_line, read_log, LogReader};
pub use record::{AccessRecord, LogFormat, RejectRecord};
pub use writer::{AccessLog, RejectLog};
