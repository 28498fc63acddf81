use std::str::FromStr;
use std::time::Duration;

use super::VmError;

/// An emulated router board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    MipselMalta,
    /// Big-endian malta, for OpenWrt malta-be images (`--image`); Debian has no BE kernel.
    MipsMalta,
    Aarch64Virt,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::MipselMalta, Target::MipsMalta, Target::Aarch64Virt];

    pub fn name(self) -> &'static str {
        match self {
            Target::MipselMalta => "mipsel-malta",
            Target::MipsMalta => "mips-malta",
            Target::Aarch64Virt => "aarch64-virt",
        }
    }
    pub fn is_malta(self) -> bool {
        matches!(self, Target::MipselMalta | Target::MipsMalta)
    }
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Target::MipselMalta => "qemu-system-mipsel",
            Target::MipsMalta => "qemu-system-mips",
            Target::Aarch64Virt => "qemu-system-aarch64",
        }
    }
    pub fn machine(self) -> &'static str {
        match self {
            Target::MipselMalta | Target::MipsMalta => "malta",
            Target::Aarch64Virt => "virt",
        }
    }
    pub fn cpu(self) -> Option<&'static str> {
        match self {
            Target::MipselMalta | Target::MipsMalta => None,
            Target::Aarch64Virt => Some("cortex-a53"),
        }
    }
    /// The guest's serial console device.
    pub fn console(self) -> &'static str {
        match self {
            Target::MipselMalta | Target::MipsMalta => "ttyS0",
            Target::Aarch64Virt => "ttyAMA0",
        }
    }
    /// Boot-to-ready budget before `ROUTERLAB_TIMEOUT_MULT`; measured: ~4.5 s and ~2 s.
    pub fn boot_timeout(self) -> Duration {
        match self {
            Target::MipselMalta | Target::MipsMalta => Duration::from_secs(40),
            Target::Aarch64Virt => Duration::from_secs(25),
        }
    }
    /// Default budget of one console command.
    pub fn exec_timeout(self) -> Duration {
        match self {
            Target::MipselMalta | Target::MipsMalta => Duration::from_secs(60),
            Target::Aarch64Virt => Duration::from_secs(30),
        }
    }
}

impl FromStr for Target {
    type Err = VmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| VmError::UnknownTarget(s.to_string()))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `ROUTERLAB_TIMEOUT_MULT` (default 1): every VM timeout is multiplied by it, for slow machines.
pub fn timeout_mult() -> f64 {
    std::env::var("ROUTERLAB_TIMEOUT_MULT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|m| *m > 0.0).unwrap_or(1.0)
}
