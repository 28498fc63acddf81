//! Whether the router's user space arrived whole. The kernel unpacks the initramfs into a
//! tmpfs sized at half the RAM it sees early in boot, while the compressed initrd still holds
//! memory. When that is smaller than the user space, the files past it are left out without
//! a word: on a 64 MiB mipsel router the tmpfs was 17.7 MiB for a 27.4 MiB image, and `nft`
//! was among the files missing, so the first thing to fail was the router's NAT, with no
//! reason. A root tmpfs that is full right after boot means exactly that, and the boot is
//! refused with the RAM that would hold the image.

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

#[cfg(test)]
mod tests {
    use super::*;

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
