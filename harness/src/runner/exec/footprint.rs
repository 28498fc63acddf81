//! What a build costs in flash: its files as installed, and compressed the way OpenWrt
//! stores its root filesystem (squashfs with xz). The xz of the tree's tar at `-9e` stands
//! in for squashfs, which compresses 256 KiB blocks with the same filter: a few percent
//! smaller than the image would hold it, never the gzip of an .ipk.
use std::path::Path;
use std::process::Command;

use super::stage::StageError;
use crate::model::Footprint;

/// The footprint of the unpacked build tree `tree`.
pub(crate) fn footprint(tree: &Path) -> Result<Footprint, StageError> {
    let installed = installed_bytes(tree).map_err(|source| StageError::Io { path: tree.into(), source })?;
    let mut c = Command::new("sh");
    c.args(["-c", "tar -C \"$1\" --sort=name -cf - . | xz -9e -T1 -c | wc -c", "sh"]).arg(tree);
    let out = crate::image::run_command(&mut c)?;
    let xz = out.trim().parse().map_err(|_| StageError::Io {
        path: tree.into(),
        source: std::io::Error::other(format!("xz of the tree: wc said {out:?}")),
    })?;
    Ok(Footprint { installed, xz })
}

/// Regular files' sizes under `dir`, symlinks not followed.
fn installed_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        n += if t.is_dir() {
            installed_bytes(&e.path())?
        } else if t.is_file() {
            e.metadata()?.len()
        } else {
            0
        };
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_s_footprint_counts_files_once_and_compresses_repetition() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("usr/sbin")).unwrap();
        std::fs::write(d.path().join("usr/sbin/p"), vec![b'a'; 1 << 20]).unwrap();
        std::fs::write(d.path().join("usr/sbin/q"), b"0123456789").unwrap();
        std::os::unix::fs::symlink("p", d.path().join("usr/sbin/link")).unwrap();
        let f = footprint(d.path()).unwrap();
        assert_eq!(f.installed, (1 << 20) + 10, "files once, the link not followed");
        assert!(f.xz > 0 && f.xz < 4096, "a MiB of one byte compresses to almost nothing: {f:?}");
    }
}
