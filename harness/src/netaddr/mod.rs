//! Addresses: trusted CIDR lists, source-address pools for the load generator, endpoints.
mod cidr;
mod endpoint;
mod error;
mod pool;

pub use cidr::{canonical, CidrList};
pub use endpoint::Endpoint;
pub use error::AddrError;
pub use pool::{SourcePool, SourceSpec};
