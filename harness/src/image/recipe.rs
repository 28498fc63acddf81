use std::path::{Path, PathBuf};

use super::ImageError;
use crate::textpos::from_toml;

/// A file copied from the repository into the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the recipe's directory.
    pub from: PathBuf,
    /// Absolute path in the image.
    pub to: String,
    /// Octal mode, e.g. "0755".
    pub mode: String,
}

/// A symbolic link created in the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEntry {
    pub path: String,
    pub target: String,
}

/// Tools the image lacks, carried in from Debian's packages under a prefix of their own:
/// each binary becomes `PREFIX/bin/NAME`, its libraries go where its loader looks, and the
/// guest's PATH puts `PREFIX/bin` first, so nothing of the userland is replaced or relinked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Carry {
    /// Absolute directory in the image, e.g. "/opt/routerlab".
    pub prefix: String,
    /// Paths in Debian's packages (`/usr/bin/wg`), copied with their shared-library closure.
    pub binaries: Vec<String>,
}

impl Carry {
    /// The directory the guest's PATH searches first.
    pub fn bin_dir(&self) -> String {
        format!("{}/bin", self.prefix.trim_end_matches('/'))
    }
}

/// An image recipe (`images/NAME.toml`): which Debian packages, which files from them,
/// which kernel modules, and which repository files. Data, not logic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recipe {
    pub name: String,
    /// Debian architecture: arm64, mipsel, armhf.
    pub debian_arch: String,
    pub kernel_package: String,
    pub packages: Vec<String>,
    /// ELF files copied with their shared-library closure.
    pub binaries: Vec<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub links: Vec<LinkEntry>,
    /// Tools carried in under a prefix of their own (see `Carry`).
    #[serde(default)]
    pub carry: Option<Carry>,
    /// Extra kernel command line, appended to the target's.
    #[serde(default)]
    pub cmdline: Option<String>,
    /// Lowest kernel virtual address (hex), where instruction counts split user from kernel.
    #[serde(default)]
    pub kernel_base: Option<String>,
    /// The guest's TLB refill instruction as hex bytes in the order it stores them (MIPS
    /// `tlbwr` on a little-endian guest: "06000042"), where a kernel refills its TLB in
    /// software; the instruction plugin counts its executions.
    #[serde(default)]
    pub tlb_refill_insn: Option<String>,
    /// An OpenWrt userland (rootfs or feed packages) instead of Debian's: then `packages` and
    /// `binaries` are what is carried in beside it, and the kernel and modules stay Debian's.
    #[serde(default)]
    pub openwrt: Option<super::openwrt::OpenWrtSpec>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Recipe {
    pub fn load(path: &Path) -> Result<Recipe, ImageError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ImageError::RecipeRead { path: path.into(), source })?;
        let mut r: Recipe = from_toml(&text).map_err(|(line, column, message)| ImageError::RecipeParse {
            path: path.into(),
            line,
            column,
            message,
        })?;
        r.path = path.to_path_buf();
        r.validate()?;
        Ok(r)
    }

    /// Find `images/NAME.toml` under `dir`.
    pub fn find(dir: &Path, name: &str) -> Result<Recipe, ImageError> {
        let path = dir.join(format!("{name}.toml"));
        if path.is_file() {
            return Recipe::load(&path);
        }
        let mut available: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".toml")).map(str::to_string))
                    .filter(|n| n != "openwrt")
                    .collect()
            })
            .unwrap_or_default();
        available.sort();
        Err(ImageError::UnknownImage { name: name.into(), dir: dir.into(), available: available.join(", ") })
    }

    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The guest's PATH: the carried tools' directory first, then the standard four.
    pub fn guest_path(&self) -> Vec<String> {
        let standard = super::programs::GUEST_PATH.iter().map(|d| d.to_string());
        self.carry.iter().map(Carry::bin_dir).chain(standard).collect()
    }

    /// The GNU multiarch triplet of the Debian architecture.
    pub fn triplet(&self) -> &'static str {
        match self.debian_arch.as_str() {
            "arm64" => "aarch64-linux-gnu",
            "armhf" => "arm-linux-gnueabihf",
            "mipsel" => "mipsel-linux-gnu",
            "amd64" => "x86_64-linux-gnu",
            _ => "unknown",
        }
    }

    /// `kernel-base` as a number (validated at load).
    pub fn kernel_base(&self) -> Option<u64> {
        let s = self.kernel_base.as_deref()?;
        u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
    }

    fn validate(&self) -> Result<(), ImageError> {
        let bad = |message: String| ImageError::RecipeInvalid { path: self.path.clone(), message };
        if let (Some(s), None) = (&self.kernel_base, self.kernel_base()) {
            return Err(bad(format!("kernel-base {s:?} is not a hex address like \"0x80000000\"")));
        }
        if let Some(s) = &self.tlb_refill_insn {
            let hex = s.len() % 2 == 0 && (2..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(bad(format!("tlb-refill-insn {s:?} is not 1-16 bytes of hex like \"06000042\"")));
            }
        }
        if let Some(o) = &self.openwrt {
            o.validate().map_err(bad)?;
        }
        if self.triplet() == "unknown" {
            return Err(bad(format!("debian-arch {:?} is not one of arm64, armhf, mipsel, amd64", self.debian_arch)));
        }
        if self.name.is_empty() || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad(format!("name {:?} may only hold letters, digits, '-' and '_'", self.name)));
        }
        let carried = self.carry.iter().flat_map(|c| &c.binaries).map(|b| ("carry.binaries", b));
        for (field, b) in self.binaries.iter().map(|b| ("binaries", b)).chain(carried) {
            if !b.starts_with('/') {
                return Err(bad(format!("{field}: {b:?} must be an absolute path in the image")));
            }
        }
        if let Some(c) = &self.carry {
            if !c.prefix.starts_with('/') || c.prefix.trim_end_matches('/').is_empty() {
                return Err(bad(format!(
                    "carry.prefix {:?} must be an absolute directory like \"/opt/routerlab\"",
                    c.prefix
                )));
            }
        }
        for f in &self.files {
            if !f.to.starts_with('/') {
                return Err(bad(format!("files: to = {:?} must be an absolute path", f.to)));
            }
            if u32::from_str_radix(&f.mode, 8).is_err() {
                return Err(bad(format!("files: mode {:?} of {} is not octal", f.mode, f.to)));
            }
            if !self.dir().join(&f.from).is_file() {
                return Err(bad(format!("files: {} does not exist", self.dir().join(&f.from).display())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("x.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn unknown_field_points_at_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "name = \"x\"\ndebian-arch = \"arm64\"\nkernel-package = \"k\"\npackages = []\nbinaries = []\nflavor = 1\n",
        );
        let e = Recipe::load(&p).unwrap_err().to_string();
        assert!(e.contains("x.toml:6:1: unknown field `flavor`"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "name = \"x\"\ndebian-arch = \"sparc\"\nkernel-package = \"k\"\npackages = []\nbinaries = []\n",
        );
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("debian-arch \"sparc\""));
        let p = write(
            d.path(),
            "name = \"x\"\ndebian-arch = \"arm64\"\nkernel-package = \"k\"\npackages = []\nbinaries = [\"bin/sh\"]\n",
        );
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("\"bin/sh\" must be an absolute path"));
        let p = write(
            d.path(),
            "name = \"x\"\ndebian-arch = \"arm64\"\nkernel-package = \"k\"\nkernel-base = \"80000000\"\npackages = []\nbinaries = []\n",
        );
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("kernel-base \"80000000\" is not a hex address"));
        let p = write(
            d.path(),
            "name = \"x\"\ndebian-arch = \"mipsel\"\nkernel-package = \"k\"\ntlb-refill-insn = \"0x42000006\"\npackages = []\nbinaries = []\n",
        );
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("tlb-refill-insn \"0x42000006\" is not 1-16 bytes"));
        let head = "name = \"x\"\ndebian-arch = \"arm64\"\nkernel-package = \"k\"\npackages = []\nbinaries = []\n";
        let p = write(d.path(), &format!("{head}[openwrt]\nrelease = \"1\"\n"));
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("openwrt: needs a rootfs or feeds"));
        let p = write(
            d.path(),
            &format!(
                "{head}[openwrt]\nrelease = \"1\"\nrootfs = {{ file = \"r\", sha256 = \"abc\", upstream = \"u\" }}\n"
            ),
        );
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("openwrt: r: sha256 \"abc\" is not 64 hex digits"));
        let p = write(d.path(), &format!("{head}[carry]\nprefix = \"opt\"\nbinaries = []\n"));
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("carry.prefix \"opt\" must be an absolute"));
        let p = write(d.path(), &format!("{head}[carry]\nprefix = \"/opt/x\"\nbinaries = [\"usr/bin/wg\"]\n"));
        assert!(Recipe::load(&p).unwrap_err().to_string().contains("carry.binaries: \"usr/bin/wg\" must be"));
    }

    #[test]
    fn shipped_recipes_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images");
        for name in ["aarch64-virt", "mipsel-malta"] {
            let r = Recipe::find(&dir, name).unwrap();
            assert_eq!(r.name, name);
            assert!(r.binaries.iter().any(|b| b.ends_with("/haproxy")));
            let base = r.kernel_base().expect("every shipped recipe splits user from kernel");
            assert_eq!(base, if name.starts_with("aarch64") { 0xffff_0000_0000_0000 } else { 0x8000_0000 });
            // MIPS refills its TLB in software (`tlbwr`, little-endian); arm64 walks tables in hardware.
            let tlb = if name.starts_with("mipsel") { Some("06000042") } else { None };
            assert_eq!(r.tlb_refill_insn.as_deref(), tlb, "{name}");
        }
        for name in ["aarch64-virt-openwrt", "mipsel-malta-openwrt"] {
            let r = Recipe::find(&dir, name).unwrap();
            let o = r.openwrt.as_ref().expect("an OpenWrt recipe has its [openwrt] table");
            assert_eq!(o.rootfs.is_some(), name.starts_with("aarch64"), "{name}: rootfs or feed");
            assert!(r.files.iter().any(|f| f.to == "/init"), "{name}: routerlab's /init loads Debian's modules");
            // 19.07.7 armvirt lacks the lab's tools: they come under a prefix of their own,
            // first on PATH, and no link replaces one of OpenWrt's files.
            let carried = r.carry.as_ref().map(|c| c.binaries.len()).unwrap_or(0);
            assert_eq!(carried > 0, name.starts_with("aarch64"), "{name}");
            assert_eq!(r.guest_path()[0] == "/opt/routerlab/bin", name.starts_with("aarch64"), "{name}");
            assert!(r.links.iter().all(|l| !l.path.starts_with("/sbin/")), "{name}: {:?}", r.links);
        }
        let e = Recipe::find(&dir, "sparc-sun4m").unwrap_err().to_string();
        assert!(e.contains("aarch64-virt") && e.contains("mipsel-malta"), "{e}");
    }
}
