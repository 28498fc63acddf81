//! OpenWrt userlands as router images: the official rootfs of a release, or packages from
//! an opkg feed installed the way opkg installs them, on Debian's kernel and modules.
//!
//! Every input is pinned by sha256 in the recipe's `[openwrt]` table and read from a local
//! mirror (`ROUTERLAB_OPENWRT_MIRROR`, else `shared/openwrt` beside the checkout). A file
//! that is missing or whose hash differs is refused with both hashes and where to get it.
mod feed;
mod pin;

use std::path::{Path, PathBuf};

pub(crate) use feed::{install_feed, FeedReport};
pub use pin::{mirror_dir, verify, MIRROR_ENV};

/// One pinned file: its place under the mirror, its sha256, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pinned {
    /// Path under the mirror, e.g. `armvirt-64/openwrt-19.07.7-armvirt-64-default-rootfs.tar.gz`.
    pub file: String,
    pub sha256: String,
    /// Where a machine with internet gets the same file.
    pub upstream: String,
}

/// The `[openwrt]` table of a recipe: a rootfs tarball, or feeds and the packages to
/// install from them (with their dependencies).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OpenWrtSpec {
    /// The release or build, as `/etc/openwrt_release` says it, for the manifest.
    pub release: String,
    #[serde(default)]
    pub rootfs: Option<Pinned>,
    /// Feed indexes (`Packages`); each package file is checked against its index's SHA256sum.
    #[serde(default)]
    pub feeds: Vec<Pinned>,
    /// Packages no index lists, each pinned itself; its own control file stands in for
    /// its index entry.
    #[serde(default)]
    pub packages: Vec<Pinned>,
    #[serde(default)]
    pub install: Vec<String>,
    /// Dependencies met by something other than a feed package (Debian's kernel modules
    /// stand in for `kmod-*`), as glob prefixes: `kmod-`.
    #[serde(default)]
    pub provided: Vec<String>,
    /// Init scripts not started at boot, as `/etc/init.d/NAME disable` leaves them.
    #[serde(default)]
    pub disable: Vec<String>,
}

impl OpenWrtSpec {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match (&self.rootfs, self.feeds.is_empty()) {
            (Some(_), false) => return Err("openwrt: give a rootfs or feeds, not both".into()),
            (None, true) => return Err("openwrt: needs a rootfs or feeds".into()),
            (None, false) if self.install.is_empty() => return Err("openwrt: feeds need packages to install".into()),
            _ => {}
        }
        for p in self.rootfs.iter().chain(&self.feeds) {
            if !crate::image::is_sha256_hex(&p.sha256) {
                return Err(format!("openwrt: {}: sha256 {:?} is not 64 hex digits", p.file, p.sha256));
            }
        }
        Ok(())
    }
}

/// Check every pinned input (the rootfs, or each feed's index) against its sha256.
pub fn verify_pins(spec: &OpenWrtSpec, mirror: &Path) -> Result<(), super::ImageError> {
    for p in spec.rootfs.iter().chain(&spec.feeds).chain(&spec.packages) {
        verify(mirror, p)?;
    }
    Ok(())
}

/// Unpack the userland into `root`: the rootfs as it is, or the feed's packages.
pub(crate) fn unpack_userland(
    spec: &OpenWrtSpec,
    mirror: &Path,
    root: &Path,
) -> Result<Option<FeedReport>, super::ImageError> {
    std::fs::create_dir_all(root).map_err(super::error::io(root))?;
    let feed = match &spec.rootfs {
        Some(rootfs) => {
            let file = verify(mirror, rootfs)?;
            super::run_command(std::process::Command::new("tar").arg("-xzf").arg(&file).arg("-C").arg(root))?;
            None
        }
        None => Some(install_feed(spec, mirror, root)?),
    };
    disable(root, &spec.disable)?;
    Ok(feed)
}

/// Remove the `/etc/rc.d/S??NAME` and `K??NAME` links of each init script named.
fn disable(root: &Path, names: &[String]) -> Result<(), super::ImageError> {
    let rc = root.join("etc/rc.d");
    let Ok(rd) = std::fs::read_dir(&rc) else { return Ok(()) };
    for e in rd.flatten() {
        let link = e.file_name().to_string_lossy().into_owned();
        let script = link.get(3..).unwrap_or_default();
        if (link.starts_with('S') || link.starts_with('K')) && names.iter().any(|n| n == script) {
            std::fs::remove_file(e.path()).map_err(super::error::io(e.path()))?;
        }
    }
    Ok(())
}

/// The mirror file a pin names, for messages.
pub(crate) fn mirror_path(mirror: &Path, p: &Pinned) -> PathBuf {
    mirror.join(&p.file)
}
