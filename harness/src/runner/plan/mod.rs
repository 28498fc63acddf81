//! Pure planning: a cell as data before anything runs (its proxy, faults, backend and
//! load), and which cells a shard takes. No I/O beyond reading templates.
pub(crate) mod cell_script;
pub(crate) mod fault_script;
pub(crate) mod proxy_script;
pub(crate) mod shard;

pub use cell_script::{backend_command, expected, load_target, plan_cell, CellScript};
pub(crate) use proxy_script::listening;
pub use proxy_script::{proxy_script, CellDirs, ProxyBinary, ProxyScript, ScriptError};
