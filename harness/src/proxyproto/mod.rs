//! Strict PROXY protocol (v1 text, v2 binary) after haproxy's `doc/proxy-protocol.txt`.
//!
//! The parser is incremental: it is fed what has arrived so far and answers "need more",
//! "done" or a definite violation, so a header split into 1-byte writes is accepted and a
//! wrong first byte is rejected at once instead of after the timeout.
mod encode;
mod error;
mod header;
mod parse;
mod read;
mod stream;

pub use encode::{encode_v1, encode_v2};
pub use error::ProxyError;
pub use header::{Command, HeaderPolicy, ProxyHeader, Version};
pub use parse::{parse, Parsed, V1_MAX_LEN, V2_SIGNATURE};
pub use read::{read_header, HeaderOutcome, DEFAULT_HEADER_TIMEOUT};
pub use stream::Rewind;
