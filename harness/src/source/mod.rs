//! Proxy builds from source, built the way OpenWrt builds its packages: a recipe
//! (`scenarios/recipes/NAME.toml`) says the flags, make arguments, patches and files; the
//! source is a Debian source package or the user's own tree; the compiler is the pinned
//! `zig cc` for the target's CPU and C library; the result is an `.ipk`, which the runner
//! stages like any other package. Every output is cached under
//! `cache/builds/source/NAME-ARCH-KEY/`, keyed by the content of the source, patches,
//! recipe, toolchain and target flags: a second build with the same inputs is a look-up.
mod build;
mod dsc;
mod error;
mod fetch;
mod ipk;
mod recipe;
mod steps;
mod toolchain;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use build::build;
pub use error::SourceError;
pub use fetch::Origin;
pub use recipe::{Install, Libc, Need, Recipe, TargetExtra};
pub use toolchain::{TargetFlags, ToolchainFile, Zig, ZigPin};

/// A `source` build: where its source comes from and the recipe that builds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourcePlan {
    pub origin: Origin,
    pub recipe: PathBuf,
    /// The build's own patches, applied after the recipe's.
    pub patches: Vec<PathBuf>,
}

/// What a source build made and how, kept as `build.json` beside its package.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildFacts {
    pub recipe: String,
    pub version: String,
    /// The source in words (`Debian source haproxy=2.6.12-1+deb12u3`).
    pub source: String,
    /// sha256 of the .dsc, the tarball, or the directory's files.
    pub fingerprint: String,
    /// `zig 0.17.0`.
    pub toolchain: String,
    /// zig's target triple (`mipsel-linux-musleabi`).
    pub target: String,
    pub cflags: Vec<String>,
    pub ldflags: Vec<String>,
    pub seconds: f64,
    /// Each installed file (path in the image) and its size.
    pub files: BTreeMap<String, u64>,
    /// The patches applied, the recipe's and the build's, by file name.
    #[serde(default)]
    pub patches: Vec<String>,
    /// The libraries it was linked with: `openssl 3.0.20-1~deb12u2`.
    #[serde(default)]
    pub needs: Vec<String>,
    /// The package's file name; `None` for a library, which is kept as a tree.
    pub ipk: Option<String>,
    pub ipk_bytes: u64,
}

impl BuildFacts {
    /// `zig 0.17.0 for mipsel-linux-musleabi (-mcpu=mips32r2 -Os ...), usr/sbin/haproxy
    /// 2.1 MiB, haproxy-nossl_2.6.12-1_mipsel_24kc.ipk 0.9 MiB`.
    pub fn summary(&self) -> String {
        use crate::model::mib;
        let files: Vec<String> = self.files.iter().map(|(f, b)| format!("{f} {}", mib(*b))).collect();
        let flags = [&self.cflags[..], &self.ldflags[..]].concat().join(" ");
        let with = self.needs.iter().map(|n| format!(", with {n}")).collect::<String>();
        let patched = self.patches.iter().map(|p| format!(", patched with {p}")).collect::<String>();
        let ipk = self.ipk.as_ref().map(|i| format!(", {i} {}", mib(self.ipk_bytes))).unwrap_or_default();
        format!("{} for {} ({flags}){with}{patched}, {}{ipk}", self.toolchain, self.target, files.join(", "))
    }
}

/// A built package.
#[derive(Debug, Clone)]
pub struct Built {
    pub ipk: PathBuf,
    /// The compiler's and make's output.
    pub log: PathBuf,
    pub facts: BuildFacts,
    pub cache_hit: bool,
}
