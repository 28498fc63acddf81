//! Router VMs under QEMU: arguments from pure functions, QMP, a marker-delimited console
//! protocol, uploads, the guest metrics stream, and a `Drop` that never leaves QEMU behind.
mod agent;
mod args;
mod boot;
mod console;
mod console_file;
pub use console_file::resend_all;
mod error;
mod insns;
mod machine;
mod metrics;
pub mod mips_cpu;
mod openwrt;
mod qmp;
mod resources;
mod rootfs;
mod target;
mod upload;

pub use agent::{ask_line, CYCLE};
pub use args::{cmdline, qemu_args, shell_script, ConsoleMode, Nic, NicBackend, Readiness, VmConfig, VmPaths};
pub use boot::{boot, resolve_image, BootOptions, Flavour, ImageSource, ResolvedImage, MGMT_CMDLINE};
pub use error::VmError;
pub use insns::{
    busy_pct_over, find_plugin, parse_answer, plugin_arg, Answer, GuestIsa, InsnReading, InsnSetup, Settle, PLUGIN_ENV,
    PLUGIN_FILE,
};
pub use machine::{ExecOutput, Vm, READY_MARKER};
pub use metrics::{parse_line, AgentProgress, GuestPoint, HostPoint, MemField, MetricLine, MetricsSeries, ProcPoint};
pub use openwrt::{install_ipk, ACTIVATE_PROMPT};
pub use qmp::QmpError;
pub use resources::{parse_size, CpuModel, Resources, MIN_MEMORY_MIB};
pub use target::{timeout_mult, Target};
