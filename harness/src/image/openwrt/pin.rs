//! The local mirror and its sha256 pins.
use std::path::{Path, PathBuf};

use super::Pinned;
use crate::image::ImageError;

/// Where the mirror is, when it is not `shared/openwrt` beside the checkout.
pub const MIRROR_ENV: &str = "ROUTERLAB_OPENWRT_MIRROR";

/// `$ROUTERLAB_OPENWRT_MIRROR`, else `../shared/openwrt` beside the repository that holds
/// `images_dir` (where CI and developers have it).
pub fn mirror_dir(images_dir: &Path) -> PathBuf {
    match std::env::var_os(MIRROR_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => images_dir.join("../../shared/openwrt"),
    }
}

/// The pinned file in the mirror, after checking its sha256.
pub fn verify(mirror: &Path, p: &Pinned) -> Result<PathBuf, ImageError> {
    let path = super::mirror_path(mirror, p);
    if !path.is_file() {
        return Err(ImageError::MirrorMissing {
            file: path,
            env: MIRROR_ENV,
            upstream: p.upstream.clone(),
            sha256: p.sha256.clone(),
        });
    }
    let actual = crate::image::build::sha256_file(&path)?;
    if !actual.eq_ignore_ascii_case(&p.sha256) {
        return Err(ImageError::PinMismatch {
            file: path,
            expected: p.sha256.clone(),
            actual,
            upstream: p.upstream.clone(),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(file: &str, sha256: &str) -> Pinned {
        Pinned { file: file.into(), sha256: sha256.into(), upstream: "https://example.invalid/x.tar.gz".into() }
    }

    #[test]
    fn a_missing_file_names_itself_the_hash_and_where_to_get_it() {
        let d = tempfile::tempdir().unwrap();
        let e = verify(d.path(), &pin("a/x.tar.gz", &"ab".repeat(32))).unwrap_err().to_string();
        assert!(e.contains(&format!("{}/a/x.tar.gz is missing from the OpenWrt mirror", d.path().display())), "{e}");
        assert!(e.contains("get https://example.invalid/x.tar.gz") && e.contains(&"ab".repeat(32)), "{e}");
        assert!(e.contains(MIRROR_ENV), "{e}");
    }

    #[test]
    fn a_file_whose_hash_differs_is_refused_with_both_hashes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), b"not the release").unwrap();
        let actual = crate::image::sha256_hex(b"not the release");
        let e = verify(d.path(), &pin("x", &"00".repeat(32))).unwrap_err().to_string();
        assert!(e.contains(&format!("sha256 is {actual}, the recipe pins {}", "00".repeat(32))), "{e}");
        assert!(e.contains("refusing it") && e.contains("https://example.invalid/x.tar.gz"), "{e}");
        assert_eq!(verify(d.path(), &pin("x", &actual)).unwrap(), d.path().join("x"));
    }
}
