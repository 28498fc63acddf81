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
    /// malta with OpenWrt's MT7621 userland (built for the 1004Kc) on a 34Kf.
    MipselMaltaOpenwrt,
    /// virt with the OpenWrt 19.07.7 armvirt/64 release rootfs.
    Aarch64VirtOpenwrt,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::MipselMalta,
        Target::MipsMalta,
        Target::Aarch64Virt,
        Target::MipselMaltaOpenwrt,
        Target::Aarch64VirtOpenwrt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::MipselMalta => "mipsel-malta",
            Target::MipsMalta => "mips-malta",
            Target::Aarch64Virt => "aarch64-virt",
            Target::MipselMaltaOpenwrt => "mipsel-malta-openwrt",
            Target::Aarch64VirtOpenwrt => "aarch64-virt-openwrt",
        }
    }
    pub fn is_malta(self) -> bool {
        matches!(self, Target::MipselMalta | Target::MipsMalta | Target::MipselMaltaOpenwrt)
    }
    /// Its userland is OpenWrt's: the console is procd's, readiness its prompt.
    pub fn is_openwrt(self) -> bool {
        matches!(self, Target::MipselMaltaOpenwrt | Target::Aarch64VirtOpenwrt)
    }
    /// The Debian target with the same board and architecture.
    pub fn board(self) -> Target {
        match self {
            Target::MipselMaltaOpenwrt => Target::MipselMalta,
            Target::Aarch64VirtOpenwrt => Target::Aarch64Virt,
            t => t,
        }
    }
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Target::MipselMalta => "qemu-system-mipsel",
            Target::MipsMalta => "qemu-system-mips",
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => "qemu-system-aarch64",
            Target::MipselMaltaOpenwrt => "qemu-system-mipsel",
        }
    }
    pub fn machine(self) -> &'static str {
        match self {
            Target::MipselMalta | Target::MipsMalta | Target::MipselMaltaOpenwrt => "malta",
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => "virt",
        }
    }
    /// The CPU model, where QEMU's default for the machine is not the one. The MT7621's
    /// 1004Kc has the DSP ASE, which the OpenWrt feed is built to use (`-march=1004kc`) and
    /// malta's default 24Kf lacks (SIGILL in /init); 34Kf (MIPS MT plus DSP) is QEMU's
    /// closest model. It has 64 TLB entries where the 1004Kc has 32 (docs/images.md).
    pub fn cpu(self) -> Option<&'static str> {
        match self {
            Target::MipselMalta | Target::MipsMalta => None,
            Target::MipselMaltaOpenwrt => Some("34Kf"),
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => Some("cortex-a53"),
        }
    }
    /// The MIPS CPU model the guest runs (malta's default is the 24Kf), for the check that
    /// an image's user space needs nothing it lacks.
    pub fn mips_cpu(self) -> Option<super::mips_cpu::MipsCpu> {
        self.mips_cpu_as(self.cpu())
    }
    /// The MIPS CPU model the guest runs given QEMU's `-cpu` (`None`: malta's default 24Kf);
    /// `None` on a board that is not MIPS.
    pub fn mips_cpu_as(self, cpu: Option<&str>) -> Option<super::mips_cpu::MipsCpu> {
        self.is_malta().then(|| super::mips_cpu::mips_cpu(cpu.unwrap_or("24Kf"))).flatten()
    }
    /// The guest's serial console device.
    pub fn console(self) -> &'static str {
        match self {
            Target::MipselMalta | Target::MipsMalta | Target::MipselMaltaOpenwrt => "ttyS0",
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => "ttyAMA0",
        }
    }
    /// Boot-to-ready budget before `ROUTERLAB_TIMEOUT_MULT`; measured: ~4.5 s and ~2 s,
    /// OpenWrt's procd about 10 s and 7 s.
    pub fn boot_timeout(self) -> Duration {
        match self {
            Target::MipselMalta | Target::MipsMalta => Duration::from_secs(40),
            Target::Aarch64Virt => Duration::from_secs(25),
            Target::MipselMaltaOpenwrt => Duration::from_secs(90),
            Target::Aarch64VirtOpenwrt => Duration::from_secs(60),
        }
    }
    /// Default budget of one console command.
    pub fn exec_timeout(self) -> Duration {
        match self {
            Target::MipselMalta | Target::MipsMalta | Target::MipselMaltaOpenwrt => Duration::from_secs(60),
            Target::Aarch64Virt | Target::Aarch64VirtOpenwrt => Duration::from_secs(30),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/report.schema.json is written by hand: it must name every target a cell can have.
    #[test]
    fn the_report_schema_lists_every_target() {
        let schema: serde_json::Value = serde_json::from_str(include_str!("../../../docs/report.schema.json")).unwrap();
        let listed: Vec<&str> = schema
            .pointer("/$defs/cell/properties/target/enum")
            .and_then(|v| v.as_array())
            .expect("the cell's target enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(listed, all);
        for t in Target::ALL {
            assert_eq!(t.name().parse::<Target>().unwrap(), t);
        }
    }
}
