//! Router images: a kernel plus a cpio initramfs built reproducibly from Debian packages
//! for the guest architecture, following a recipe in `images/*.toml`, cached by content hash.
pub mod abi;
mod apt;
mod build;
mod cache;
mod cpio;
mod elf;
mod error;
pub(crate) mod fetch;
mod modules;
pub mod openwrt;
pub mod programs;
mod recipe;
pub mod symbols;
mod tree;

pub(crate) use apt::{run as run_command, AptState};
pub use build::{
    build, is_sha256_hex, recipe_key, sha256_hex, Artifact, BuildOptions, BuiltImage, Manifest, OpenWrtManifest,
    PackageInfo,
};
pub use cache::{cache_root, list_cached, prune_scratch};
pub use cpio::CpioWriter;
pub use error::ImageError;
pub use fetch::{fetch, load_pins, Artifact as PinnedArtifact};
pub use recipe::{FileEntry, LinkEntry, Recipe};
