//! Whether the router's user space arrived whole. The kernel unpacks the initramfs into a
//! tmpfs sized at half the RAM it sees early in boot, while the compressed initrd still holds
//! memory. When that is smaller than the user space, the files past it are left out without
//! a word: on a 64 MiB mipsel router the tmpfs was 17.7 MiB for a 27.4 MiB image, and `nft`
//! was among the files missing, so the first thing to fail was the router's NAT, with no
//! reason. A root tmpfs that is full right after boot means exactly that, and the boot is
//! refused with the RAM that would hold the image.

use super::Target;

/// The root file system's line in `/proc/mounts` (the first) and the guest's shared memory:
/// the root tmpfs's contents, with what little `/tmp` holds this early.
pub(crate) const PROBE: &str = "head -n 1 /proc/mounts; grep '^Shmem:' /proc/meminfo";

/// Less room than this left in the root tmpfs is full: `/tmp`'s first files count in Shmem
/// too, and no image ends within a few KiB of its limit by chance.
const SLACK_KB: u64 = 256;

/// The root tmpfs's size limit and its use, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RootFs {
    pub size_kb: u64,
    pub used_kb: u64,
}

/// `rootfs / rootfs rw,size=18104k,nr_inodes=4526 0 0` and `Shmem: 18104 kB`; none when the
/// root is not a sized tmpfs (ramfs, or a disk).
pub(crate) fn parse(out: &str) -> Option<RootFs> {
    let mount = out.lines().find(|l| l.starts_with("rootfs / "))?;
    let opts = mount.split_whitespace().nth(3)?;
    let size = opts.split(',').find_map(|o| o.strip_prefix("size="))?;
    let size_kb = size.strip_suffix('k')?.parse().ok()?;
    let shmem = out.lines().find_map(|l| l.strip_prefix("Shmem:"))?;
    let used_kb = shmem.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(RootFs { size_kb, used_kb })
}

/// Refuse a root tmpfs left full by the unpacking, with the RAM that holds the image: the
/// tmpfs gets half of (RAM less what the kernel and the initrd hold then), so each MiB of
/// image past it needs two more of RAM. `unpacked` is the image's size from its manifest.
pub(crate) fn judge(fs: RootFs, memory_mib: u32, unpacked_bytes: Option<u64>) -> Result<(), String> {
    if fs.size_kb.saturating_sub(fs.used_kb) >= SLACK_KB {
        return Ok(());
    }
    let mib = |kb: u64| kb as f64 / 1024.0;
    let mut why = format!(
        "the router's user space did not fit: with {memory_mib} MiB of RAM the kernel unpacked the initramfs into a \
         {:.1} MiB tmpfs, which it filled, so the files past it were left out",
        mib(fs.size_kb)
    );
    match unpacked_bytes {
        Some(b) if b / 1024 > fs.size_kb => {
            let short_mib = mib(b / 1024 - fs.size_kb);
            let need = (f64::from(memory_mib) + 2.0 * short_mib + 1.0).div_euclid(16.0) * 16.0 + 16.0;
            why.push_str(&format!(
                " (the image is {:.1} MiB unpacked). Give the router at least {need:.0} MiB ([router] memory or --memory)",
                mib(b / 1024)
            ));
        }
        _ => why.push_str(". Give the router more RAM ([router] memory or --memory)"),
    }
    Err(why)
}

/// What the kernel holds early in boot besides the compressed initrd, MiB, on the kernels
/// routerlab's images carry (Debian's 6.1): the root tmpfs is half of RAM less this and the
/// initrd. Read off the tmpfs sizes at three RAM sizes each (mipsel: 64, 80, 96 MiB gave
/// 17.7, 25.6, 33.5 MiB with a 10.7 MiB initrd; aarch64: 96, 112, 128 gave 24.8, 32.8, 40.8).
fn kernel_holds_mib(target: Target) -> f64 {
    if target.is_malta() {
        17.9
    } else {
        35.7
    }
}

/// Refuse before boot a router whose RAM cannot hold its image's user space by the model
/// above, with the RAM that would (in steps of 16 MiB). Only a clear shortfall (past 1 MiB of
/// the model's error) is refused here: one nearer the line boots, and [`judge`] reads the
/// tmpfs the kernel really made. `initrd` and `unpacked` are the image's, in bytes.
pub(crate) fn foresee(target: Target, memory_mib: u32, initrd: u64, unpacked: u64) -> Result<(), String> {
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    let held = kernel_holds_mib(target) + mib(initrd);
    let tmpfs = (f64::from(memory_mib) - held).max(0.0) / 2.0;
    let wanted = mib(unpacked) + SLACK_KB as f64 / 1024.0;
    if tmpfs + 1.0 >= wanted {
        return Ok(());
    }
    let need = ((held + 2.0 * wanted + 2.0) / 16.0).ceil() * 16.0;
    Err(format!(
        "the router's user space will not fit, refused before boot: with {memory_mib} MiB of RAM the kernel would \
         unpack the {:.1} MiB initramfs into a tmpfs of about {tmpfs:.1} MiB, and the files past it would be left \
         out. Give the router at least {need:.0} MiB ([router] memory or --memory)",
        mib(unpacked)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_clearly_too_small_is_refused_before_boot_with_what_held_it_on_a_real_boot() {
        let (malta, virt): (Target, Target) = ("mipsel-malta".parse().unwrap(), "aarch64-virt".parse().unwrap());
        let (initrd, mi) = (11_194_666, 28_766_350); // mipsel-malta's image: 10.7 MiB, 27.4 MiB
        let e = foresee(malta, 64, initrd, mi).unwrap_err();
        assert!(e.contains("with 64 MiB of RAM") && e.contains("27.4 MiB initramfs"), "{e}");
        assert!(e.contains("about 17.7 MiB") && e.contains("at least 96 MiB"), "{e}");
        // 80 MiB cut it short on a real boot, and 96 held it.
        assert!(foresee(malta, 80, initrd, mi).unwrap_err().contains("at least 96 MiB"));
        assert_eq!(foresee(malta, 96, initrd, mi), Ok(()));
        // aarch64-virt's: 96 cut it short, 112 held it.
        let (initrd, ai) = (11_207_865, 27_709_419);
        assert!(foresee(virt, 96, initrd, ai).unwrap_err().contains("at least 112 MiB"));
        assert_eq!(foresee(virt, 112, initrd, ai), Ok(()));
        // Within the model's error of fitting is left to the boot to show.
        let near = ((80.0 - 17.9 - 10.7) / 2.0 + 0.5) * 1048576.0;
        assert_eq!(foresee(malta, 80, initrd, near as u64), Ok(()));
        // RAM below what the kernel holds is a tmpfs of nothing, not a negative one.
        assert!(foresee(virt, 32, initrd, ai).unwrap_err().contains("about 0.0 MiB"));
    }

    /// What a 64 MiB mipsel-malta printed, and the whole image at 96 MiB.
    const FULL: &str = "rootfs / rootfs rw,size=18104k,nr_inodes=4526 0 0\nShmem:            18104 kB\n";
    const ROOM: &str = "rootfs / rootfs rw,size=34320k,nr_inodes=8580 0 0\nShmem:            28284 kB\n";

    #[test]
    fn the_root_tmpfs_and_its_use_are_read_from_mounts_and_meminfo() {
        assert_eq!(parse(FULL), Some(RootFs { size_kb: 18104, used_kb: 18104 }));
        assert_eq!(parse(ROOM), Some(RootFs { size_kb: 34320, used_kb: 28284 }));
        // ramfs has no size; a disk root is not rootfs.
        assert_eq!(parse("rootfs / rootfs rw 0 0\nShmem: 10 kB\n"), None);
        assert_eq!(parse("/dev/vda / ext4 rw,relatime 0 0\nShmem: 10 kB\n"), None);
        assert_eq!(parse("echo'd junk\n"), None);
    }

    #[test]
    fn a_full_root_tmpfs_is_refused_with_the_ram_that_holds_the_image() {
        assert_eq!(judge(parse(ROOM).unwrap(), 96, Some(28_962_816)), Ok(()));
        let unpacked = (27.4 * 1024.0 * 1024.0) as u64;
        let e = judge(parse(FULL).unwrap(), 64, Some(unpacked)).unwrap_err();
        assert!(e.contains("with 64 MiB of RAM") && e.contains("17.7 MiB tmpfs") && e.contains("left out"), "{e}");
        // 9.7 MiB short: 64 + 19.4 needs 96 MiB here, and 96 held it (80 did not).
        assert!(e.contains("27.4 MiB unpacked") && e.contains("at least 96 MiB"), "{e}");
        // Within the slack of full is full; an image of unknown size still gets the reason.
        let nearly = RootFs { size_kb: 20_000, used_kb: 19_900 };
        let e = judge(nearly, 64, None).unwrap_err();
        assert!(e.contains("19.5 MiB tmpfs") && e.ends_with("more RAM ([router] memory or --memory)"), "{e}");
    }
}
