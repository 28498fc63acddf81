//! routerlab's library: the pieces that run on the host. See `docs/architecture.md`.
pub mod accesslog;
pub mod backend;
pub mod capture;
pub mod compare;
pub mod cost;
pub mod errtext;
pub mod forwarded;
pub mod hist;
pub mod image;
pub mod load;
pub mod model;
pub mod netaddr;
pub mod netlab;
pub mod proc;
mod procstat;
pub mod proxyproto;
pub mod reconcile;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shutdown;
pub mod template;
#[doc(hidden)]
pub mod testkit;
mod textpos;
pub mod tls;
pub mod vm;
pub mod wait;
