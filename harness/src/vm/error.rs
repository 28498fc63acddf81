use std::path::PathBuf;
use std::time::Duration;

/// VM errors. Each names the VM and, where it helps, ends with the last console lines.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(
        "unknown target {0:?} (expected mipsel-malta, mips-malta, aarch64-virt, mipsel-malta-openwrt or aarch64-virt-openwrt)"
    )]
    UnknownTarget(String),
    /// Memory or CPUs the board cannot have (`Resources::fits`' words).
    #[error("vm {vm}: {reason}")]
    Resources { vm: String, reason: String },
    #[error("vm {vm}: cannot start {binary} (ci/setup installs QEMU)")]
    Spawn { vm: String, binary: String, source: std::io::Error },
    #[error("vm {vm}: QEMU exited at once ({status}): {stderr}")]
    QemuExited { vm: String, status: String, stderr: String },
    #[error("vm {vm}: QEMU exited ({status}) while {during}; last console lines:\n{console}")]
    DiedDuring { vm: String, status: String, during: String, console: String },
    #[error("vm {vm}: no {what} within {timeout:?}; last console lines:\n{console}")]
    Timeout { vm: String, what: String, timeout: Duration, console: String },
    #[error("vm {vm}: QMP")]
    Qmp {
        vm: String,
        #[source]
        source: super::qmp::QmpError,
    },
    #[error("vm {vm}: {detail}")]
    NotReady { vm: String, detail: String },
    #[error("vm {vm}: {path}")]
    Io { vm: String, path: PathBuf, source: std::io::Error },
    /// The target's image could not be built or found.
    #[error("vm {vm}: image")]
    Image {
        vm: String,
        #[source]
        source: crate::image::ImageError,
    },
    #[error("vm {vm}: {lack}")]
    CpuLacks { vm: String, lack: Box<CpuLack> },
    #[error("vm {vm}: command too long for the console ({len} bytes, limit {limit}); upload a script instead")]
    CommandTooLong { vm: String, len: usize, limit: usize },
    #[error("vm {vm}: upload of {path} failed: {detail}")]
    Upload { vm: String, path: PathBuf, detail: String },
}

/// An image's user space needs what the target's CPU lacks (boxed: it is the largest error).
#[derive(Debug, thiserror::Error)]
#[error(
    "image {image}'s user space needs {what} ({file} says so in its MIPS ABI flags), and the target runs QEMU's {cpu}, which lacks it: it would die with SIGILL. {fix}"
)]
pub struct CpuLack {
    pub image: String,
    pub what: String,
    pub file: String,
    pub cpu: &'static str,
    pub fix: String,
}
