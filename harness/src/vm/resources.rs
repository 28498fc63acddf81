//! What a router has to work with: its RAM, CPU count and CPU model. A router is defined by
//! its limits (64-256 MB of RAM, one or a few cores of a given make), so a scenario's
//! `[router]` table and `vm run --memory/--cpus/--cpu-model` set them, QEMU gets them as
//! `-m`, `-smp` and `-cpu`, and each cell's report says what it ran with.
use super::Target;

/// RAM, vCPUs and CPU model of one router VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub memory_mib: u32,
    pub cpus: u32,
    /// QEMU's `-cpu` in place of the target's own ([`Target::cpu`]); `None` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuModel>,
    /// The router's connection-tracking table, entries (`nf_conntrack_max`). Set, it is
    /// written after the router's NAT is loaded; a cell's report gives the value in effect
    /// either way (the kernel sizes it from RAM: 1024 entries at 128 MiB on aarch64-virt,
    /// where a real OpenWrt sets 16384).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack_max: Option<u32>,
    /// QEMU's `-icount shift=N`: the guest's clock runs on its instructions, 2^N ns each
    /// (2: 4 ns, about 250 M instructions a second, an MT7621's rate), not the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icount_shift: Option<u8>,
}

impl Default for Resources {
    /// What every router got before these were settings.
    fn default() -> Self {
        Resources { memory_mib: 256, cpus: 1, cpu: None, conntrack_max: None, icount_shift: None }
    }
}

/// The CPU models a router can be given: QEMU's MIPS32 cores that router SoCs use (the
/// MT7621's 1004Kc is closest to the 34Kf; Atheros and Qualcomm boards run 24Kc and 74Kc),
/// and the Cortex-A cores of ARM routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CpuModel {
    #[serde(rename = "24Kf")]
    Mips24Kf,
    #[serde(rename = "24KEc")]
    Mips24KEc,
    #[serde(rename = "34Kf")]
    Mips34Kf,
    #[serde(rename = "74Kf")]
    Mips74Kf,
    #[serde(rename = "cortex-a53")]
    CortexA53,
    #[serde(rename = "cortex-a72")]
    CortexA72,
}

impl CpuModel {
    pub const ALL: [CpuModel; 6] = [
        CpuModel::Mips24Kf,
        CpuModel::Mips24KEc,
        CpuModel::Mips34Kf,
        CpuModel::Mips74Kf,
        CpuModel::CortexA53,
        CpuModel::CortexA72,
    ];

    /// QEMU's name for it.
    pub fn name(self) -> &'static str {
        match self {
            CpuModel::Mips24Kf => "24Kf",
            CpuModel::Mips24KEc => "24KEc",
            CpuModel::Mips34Kf => "34Kf",
            CpuModel::Mips74Kf => "74Kf",
            CpuModel::CortexA53 => "cortex-a53",
            CpuModel::CortexA72 => "cortex-a72",
        }
    }

    fn is_mips(self) -> bool {
        !matches!(self, CpuModel::CortexA53 | CpuModel::CortexA72)
    }

    /// `"74Kf"`, `"cortex-a72"` (any case), or what the known ones are.
    pub fn parse(s: &str) -> Result<CpuModel, String> {
        Self::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
            format!("{s:?} is not a CPU model routerlab knows: {}", names.join(", "))
        })
    }
}

/// The most RAM each board takes here: malta's kernel maps 256 MiB of low memory.
fn max_memory_mib(target: Target) -> u32 {
    if target.is_malta() {
        256
    } else {
        4096
    }
}

/// A size in bytes: `"4MiB"`, `"512KiB"`, `"1GiB"` (or `K`, `M`, `G`), powers of 1024 as
/// flash and RAM are counted.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: give a size like \"4MiB\" or \"512KiB\""))?;
    let shift = match unit.trim() {
        "KiB" | "K" => 10,
        "MiB" | "M" => 20,
        "GiB" | "G" => 30,
        u => return Err(format!("{s:?}: unit {u:?} is not KiB, MiB or GiB")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

/// The connection-tracking table sizes a router may be given: the kernel takes any, but a
/// table under 64 entries is a typo, and over 4 Mi entries no router has the RAM for.
pub const CONNTRACK_MAX: std::ops::RangeInclusive<u32> = 64..=(4 << 20);

/// The icount shifts QEMU takes (its `MAX_ICOUNT_SHIFT` is 10: 1 µs an instruction).
pub const ICOUNT_SHIFT: std::ops::RangeInclusive<u8> = 0..=10;

/// The fewest MiB a routerlab image boots in (its initramfs unpacks into RAM).
pub const MIN_MEMORY_MIB: u32 = 48;

impl Resources {
    /// `"128MiB"`, `"1GiB"` (or `"128M"`, `"1G"`) in MiB.
    pub fn parse_memory(s: &str) -> Result<u32, String> {
        let bytes = parse_size(s)?;
        if bytes % (1 << 20) != 0 {
            return Err(format!("{s:?}: give whole MiB"));
        }
        u32::try_from(bytes >> 20).map_err(|_| format!("{s:?} is too large"))
    }

    /// Whether `target`'s board can have these, or why not.
    pub fn fits(&self, target: Target) -> Result<(), String> {
        let max = max_memory_mib(target);
        if !(MIN_MEMORY_MIB..=max).contains(&self.memory_mib) {
            return Err(format!("{target}: memory {} MiB is outside {MIN_MEMORY_MIB}-{max} MiB", self.memory_mib));
        }
        if target.is_malta() && self.cpus != 1 {
            return Err(format!("{target}: the malta board runs one CPU here (its 24Kf/34Kf cores have no SMP)"));
        }
        if let Some(n) = self.conntrack_max.filter(|n| !CONNTRACK_MAX.contains(n)) {
            let (lo, hi) = (CONNTRACK_MAX.start(), CONNTRACK_MAX.end());
            return Err(format!("{target}: a conntrack table of {n} entries is outside {lo}-{hi}"));
        }
        if let Some(n) = self.icount_shift.filter(|n| !ICOUNT_SHIFT.contains(n)) {
            let (lo, hi) = (ICOUNT_SHIFT.start(), ICOUNT_SHIFT.end());
            return Err(format!("{target}: icount shift {n} is outside {lo}-{hi} (2^N ns per instruction)"));
        }
        if !(1..=4).contains(&self.cpus) {
            return Err(format!("{target}: {} CPUs is outside 1-4", self.cpus));
        }
        match self.cpu {
            Some(c) if c.is_mips() != target.is_malta() => {
                let board = if target.is_malta() { "a MIPS" } else { "an ARM" };
                Err(format!("{target}: CPU model {} is not {board} core", c.name()))
            }
            _ => Ok(()),
        }
    }

    /// QEMU's `-cpu` for `target`: the one set here, else the target's own (`None` is the
    /// board's default).
    pub fn cpu_model(&self, target: Target) -> Option<&'static str> {
        self.cpu.map(CpuModel::name).or(target.cpu())
    }

    /// `128 MiB, 2 CPUs` or `128 MiB, 2 CPUs, cortex-a72, conntrack 16384, icount shift 2`.
    pub fn describe(&self) -> String {
        let s = if self.cpus == 1 { "" } else { "s" };
        let model = self.cpu.map(|c| format!(", {}", c.name())).unwrap_or_default();
        let conntrack = self.conntrack_max.map(|n| format!(", conntrack {n}")).unwrap_or_default();
        let icount = self.icount_shift.map(|n| format!(", icount shift {n}")).unwrap_or_default();
        format!("{} MiB, {} CPU{s}{model}{conntrack}{icount}", self.memory_mib, self.cpus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_boards_refuse_what_they_cannot_have() {
        assert_eq!(Resources::parse_memory("128MiB"), Ok(128));
        assert_eq!(Resources::parse_memory("1GiB"), Ok(1024));
        assert_eq!(Resources::parse_memory("64M"), Ok(64));
        assert!(Resources::parse_memory("128MB").unwrap_err().contains("unit \"MB\" is not KiB, MiB or GiB"));
        assert!(Resources::parse_memory("lots").unwrap_err().contains("give a size like"));
        assert!(Resources::parse_memory("1536KiB").unwrap_err().contains("whole MiB"));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        let malta: Target = "mipsel-malta".parse().unwrap();
        let virt: Target = "aarch64-virt".parse().unwrap();
        assert_eq!(Resources { memory_mib: 64, cpus: 1, ..Resources::default() }.fits(malta), Ok(()));
        let e = Resources { memory_mib: 512, cpus: 1, ..Resources::default() }.fits(malta).unwrap_err();
        assert!(e.contains("mipsel-malta: memory 512 MiB is outside 48-256 MiB"), "{e}");
        assert!(Resources { memory_mib: 128, cpus: 2, ..Resources::default() }
            .fits(malta)
            .unwrap_err()
            .contains("one CPU"));
        assert_eq!(Resources { memory_mib: 512, cpus: 2, ..Resources::default() }.fits(virt), Ok(()));
        assert!(Resources { memory_mib: 128, cpus: 8, ..Resources::default() }
            .fits(virt)
            .unwrap_err()
            .contains("8 CPUs is outside 1-4"));
        assert_eq!(Resources { memory_mib: 128, cpus: 2, ..Resources::default() }.describe(), "128 MiB, 2 CPUs");
        assert_eq!(Resources::default().describe(), "256 MiB, 1 CPU");
        let table = |n| Resources { conntrack_max: Some(n), ..Resources::default() };
        assert_eq!(table(16384).fits(virt), Ok(()));
        assert_eq!(table(16384).describe(), "256 MiB, 1 CPU, conntrack 16384");
        let icount = |n| Resources { icount_shift: Some(n), ..Resources::default() };
        assert_eq!(icount(2).fits(malta), Ok(()));
        assert_eq!(icount(2).describe(), "256 MiB, 1 CPU, icount shift 2");
        let e = icount(11).fits(virt).unwrap_err();
        assert!(e.contains("aarch64-virt: icount shift 11 is outside 0-10"), "{e}");
        let e = table(10).fits(malta).unwrap_err();
        assert!(e.contains("mipsel-malta: a conntrack table of 10 entries is outside 64-4194304"), "{e}");
    }

    #[test]
    fn cpu_models_parse_and_fit_only_their_own_board() {
        let malta: Target = "mipsel-malta".parse().unwrap();
        let virt: Target = "aarch64-virt-openwrt".parse().unwrap();
        assert_eq!(CpuModel::parse("74kf"), Ok(CpuModel::Mips74Kf));
        assert_eq!(CpuModel::parse("Cortex-A72"), Ok(CpuModel::CortexA72));
        let e = CpuModel::parse("1004Kc").unwrap_err();
        assert!(e.contains("\"1004Kc\" is not a CPU model routerlab knows: 24Kf, 24KEc"), "{e}");
        let a72 = Resources { cpu: Some(CpuModel::CortexA72), ..Resources::default() };
        assert_eq!(a72.fits(virt), Ok(()));
        assert!(a72.fits(malta).unwrap_err().contains("mipsel-malta: CPU model cortex-a72 is not a MIPS core"));
        let k74 = Resources { cpu: Some(CpuModel::Mips74Kf), ..Resources::default() };
        assert!(k74.fits(virt).unwrap_err().contains("CPU model 74Kf is not an ARM core"));
        assert_eq!((k74.cpu_model(malta), Resources::default().cpu_model(malta)), (Some("74Kf"), None));
        assert_eq!(Resources::default().cpu_model(virt), Some("cortex-a53"));
        assert_eq!(a72.describe(), "256 MiB, 1 CPU, cortex-a72");
        // Every MIPS model is one the ISA check knows.
        for c in CpuModel::ALL.into_iter().filter(|c| c.is_mips()) {
            assert!(super::super::mips_cpu::mips_cpu(c.name()).is_some(), "{c:?}");
        }
    }
}
