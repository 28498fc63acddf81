//! The cross toolchain: Zig's `zig cc` (clang with musl and glibc for every target), from
//! PyPI's `ziglang` wheel, pinned by sha256 in `scenarios/recipes/toolchain.toml` and
//! unpacked once under the cache. It needs nothing but the package registry.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{io, SourceError};
use super::recipe::Libc;
use crate::textpos::from_toml;

/// The zig release and the wheel that carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZigPin {
    pub version: String,
    /// The wheel's file name as PyPI lists it.
    pub wheel: String,
    pub sha256: String,
}

/// How to build for the targets of one Debian architecture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetFlags {
    /// zig's target triple for musl (`mipsel-linux-musleabi`: soft-float, as OpenWrt's).
    pub musl: String,
    /// zig's target triple for glibc, with the glibc version of the images.
    pub glibc: String,
    /// CPU flags: OpenWrt's target flags where clang has them.
    pub cpu: Vec<String>,
    /// The OpenWrt package architecture (`mipsel_24kc`), for the .ipk's control file.
    pub openwrt_arch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ToolchainFile {
    pub zig: ZigPin,
    /// By the Debian architecture of a target's image (`mipsel`, `arm64`).
    pub targets: BTreeMap<String, TargetFlags>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl ToolchainFile {
    pub fn load(path: &Path) -> Result<ToolchainFile, SourceError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut t: ToolchainFile = from_toml(&text).map_err(|(line, column, message)| SourceError::Parse {
            path: path.into(),
            line,
            column,
            message,
        })?;
        t.path = path.to_path_buf();
        Ok(t)
    }

    /// The flags for `arch`, or an error naming the ones there are.
    pub fn target(&self, arch: &str) -> Result<&TargetFlags, SourceError> {
        self.targets.get(arch).ok_or_else(|| SourceError::NoTarget {
            toolchain: self.path.clone(),
            arch: arch.into(),
            known: self.targets.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

impl TargetFlags {
    pub fn triple(&self, libc: Libc) -> &str {
        match libc {
            Libc::Musl => &self.musl,
            Libc::Glibc => &self.glibc,
        }
    }
}

/// An unpacked zig.
#[derive(Debug, Clone)]
pub struct Zig {
    pub bin: PathBuf,
    pub version: String,
    /// zig's own compile cache, kept between builds.
    pub cache: PathBuf,
}

impl Zig {
    /// The pinned zig under `cache/toolchains/`, fetched with pip and checked on first use.
    pub fn ensure(file: &ToolchainFile, cache: &Path) -> Result<Zig, SourceError> {
        let pin = &file.zig;
        let dir =
            cache.join("toolchains").join(format!("zig-{}-{}", pin.version, &pin.sha256[..12.min(pin.sha256.len())]));
        let zig = Zig {
            bin: dir.join("ziglang/zig"),
            version: pin.version.clone(),
            cache: cache.join("toolchains/zig-cache"),
        };
        if dir.join(".complete").is_file() && zig.bin.is_file() {
            return Ok(zig);
        }
        let dl = dir.join("download");
        std::fs::create_dir_all(&dl).map_err(io(&dl))?;
        let wheel = dl.join(&pin.wheel);
        if !wheel.is_file() {
            let mut pip = Command::new("python3");
            pip.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"]).arg(&dl);
            pip.arg(format!("ziglang=={}", pin.version));
            crate::image::run_command(&mut pip)?;
        }
        let actual = crate::image::sha256_hex(&std::fs::read(&wheel).map_err(io(&wheel))?);
        if actual != pin.sha256 {
            return Err(SourceError::ToolchainHash {
                file: wheel,
                actual,
                expected: pin.sha256.clone(),
                pin: file.path.clone(),
                version: pin.version.clone(),
            });
        }
        let mut unzip = Command::new("python3");
        unzip.args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&dir);
        crate::image::run_command(&mut unzip)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&zig.bin, std::fs::Permissions::from_mode(0o755)).map_err(io(&zig.bin))?;
        std::fs::write(dir.join(".complete"), &pin.sha256).map_err(io(&dir))?;
        let _ = std::fs::remove_dir_all(&dl);
        Ok(zig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_toolchain_pins_zig_and_knows_both_targets() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/recipes/toolchain.toml");
        let t = ToolchainFile::load(&p).unwrap();
        assert_eq!(t.zig.sha256.len(), 64);
        assert!(t.zig.wheel.starts_with(&format!("ziglang-{}-", t.zig.version)), "{}", t.zig.wheel);
        // OpenWrt's mipsel userland is soft-float musl: the triple must say so (eabi, not eabihf).
        assert_eq!(t.target("mipsel").unwrap().triple(Libc::Musl), "mipsel-linux-musleabi");
        assert_eq!(t.target("arm64").unwrap().openwrt_arch, "aarch64_generic");
        let e = t.target("sparc").unwrap_err().to_string();
        assert!(e.contains("no target for Debian architecture sparc") && e.contains("arm64, mipsel"), "{e}");
    }
}
