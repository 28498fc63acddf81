//! What a router has to work with: its RAM and CPU count. A router is defined by its limits
//! (64-256 MB of RAM, one or a few cores), so a scenario's `[router]` table and
//! `vm run --memory/--cpus` set them, QEMU gets them as `-m` and `-smp`, and each cell's
//! report says what it ran with.
use super::Target;

/// RAM and vCPUs of one router VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub memory_mib: u32,
    pub cpus: u32,
}

impl Default for Resources {
    /// What every router got before these were settings.
    fn default() -> Self {
        Resources { memory_mib: 256, cpus: 1 }
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
        if !(1..=4).contains(&self.cpus) {
            return Err(format!("{target}: {} CPUs is outside 1-4", self.cpus));
        }
        Ok(())
    }

    /// `128 MiB, 2 CPUs`.
    pub fn describe(&self) -> String {
        let s = if self.cpus == 1 { "" } else { "s" };
        format!("{} MiB, {} CPU{s}", self.memory_mib, self.cpus)
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
        assert_eq!(Resources { memory_mib: 64, cpus: 1 }.fits(malta), Ok(()));
        let e = Resources { memory_mib: 512, cpus: 1 }.fits(malta).unwrap_err();
        assert!(e.contains("mipsel-malta: memory 512 MiB is outside 48-256 MiB"), "{e}");
        assert!(Resources { memory_mib: 128, cpus: 2 }.fits(malta).unwrap_err().contains("one CPU"));
        assert_eq!(Resources { memory_mib: 512, cpus: 2 }.fits(virt), Ok(()));
        assert!(Resources { memory_mib: 128, cpus: 8 }.fits(virt).unwrap_err().contains("8 CPUs is outside 1-4"));
        assert_eq!(Resources { memory_mib: 128, cpus: 2 }.describe(), "128 MiB, 2 CPUs");
        assert_eq!(Resources::default().describe(), "256 MiB, 1 CPU");
    }
}
