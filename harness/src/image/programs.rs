//! Which program the router runs for a name, read from the image's tree on the host: the
//! file the guest's PATH finds, where it came from (Debian's packages or the OpenWrt
//! userland) and which C library loads it. Reports name the lab's tools and each build's
//! libc from this, so a musl `nft` from the feed and a carried-in glibc `wg` are told apart.
use std::path::Path;

use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use super::tree::{normalize, FileSource, Node, Tree};

/// The guest's standard PATH, as both inits export it (`images/rootfs/init`,
/// `images/rootfs/openwrt/init`) and OpenWrt's `/etc/profile` sets it. A recipe's carried
/// tools come first (`Recipe::guest_path`).
pub const GUEST_PATH: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The PATH of an image whose manifest predates `path`.
pub fn default_path() -> Vec<String> {
    GUEST_PATH.iter().map(|d| d.to_string()).collect()
}

/// The tools the router's scripts (`scenarios/templates/router/`) call.
pub const LAB_TOOLS: [&str; 5] = ["ip", "wg", "nft", "tc", "iptables"];

/// The proxies the shipped kinds start from the image.
pub const PROXIES: [&str; 3] = ["haproxy", "nginx", "hitch"];

/// One program as the guest finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// The name called (`wg`).
    pub name: String,
    /// Where PATH finds it (`/usr/bin/wg`).
    pub path: String,
    /// The file that runs, after symbolic links (`/bin/busybox` for an applet).
    pub file: String,
    /// `Debian` or `OpenWrt`: whose package put the file there.
    pub from: String,
    /// `musl`, `glibc`, `static` or `script`, from the ELF's program interpreter.
    pub libc: String,
}

impl Program {
    /// `wg: /usr/bin/wg (Debian, glibc)`, or `ip: /sbin/ip -> /bin/busybox (OpenWrt, musl)`.
    pub fn describe(&self) -> String {
        let via = if self.file == self.path { String::new() } else { format!(" -> {}", self.file) };
        format!("{}: {}{via} ({}, {})", self.name, self.path, self.from, self.libc)
    }
}

/// The C library an ELF's program interpreter names: musl's `ld-musl-*`, glibc's
/// `ld-linux*` or `ld.so.1` (MIPS), `static` without one; `None` if `data` is no ELF.
pub fn libc_of(data: &[u8]) -> Option<&'static str> {
    if !data.starts_with(b"\x7fELF") {
        return data.starts_with(b"#!").then_some("script");
    }
    let elf = Elf::parse(data).ok()?;
    // MIPS binaries pad PT_INTERP with NULs, which goblin keeps.
    Some(libc_named(elf.interpreter.map(|i| i.trim_end_matches(['\0', ' ']))))
}

/// The C library a program interpreter belongs to (`None`: a static binary).
pub fn libc_named(interp: Option<&str>) -> &'static str {
    match interp {
        None => "static",
        Some(i) if i.contains("ld-musl") => "musl",
        Some(i) if i.contains("ld-linux") || i.ends_with("/ld.so.1") => "glibc",
        Some(i) if i.contains("ld-uClibc") => "uClibc",
        Some(_) => "unknown",
    }
}

/// Each of `names` that the guest's `path` finds in `tree`. A file unpacked under
/// `openwrt_root` came from the OpenWrt userland; every other one from Debian's packages.
pub(crate) fn find(tree: &Tree, path: &[String], names: &[&str], openwrt_root: Option<&Path>) -> Vec<Program> {
    names.iter().filter_map(|name| find_one(tree, path, name, openwrt_root)).collect()
}

fn find_one(tree: &Tree, path: &[String], name: &str, openwrt_root: Option<&Path>) -> Option<Program> {
    path.iter().find_map(|dir| {
        let path = format!("{dir}/{name}");
        let (file, source) = resolve(tree, &path)?;
        let data = match source {
            FileSource::Bytes(b) => b.clone(),
            FileSource::Host(p) => std::fs::read(p).ok()?,
        };
        let from = match (source, openwrt_root) {
            (FileSource::Host(p), Some(root)) if p.starts_with(root) => "OpenWrt",
            _ => "Debian",
        };
        let libc = libc_of(&data).unwrap_or("unknown");
        Some(Program { name: name.into(), path, file, from: from.into(), libc: libc.into() })
    })
}

/// Follow `path`'s symbolic links in the tree to a regular file: its path and source.
fn resolve<'t>(tree: &'t Tree, path: &str) -> Option<(String, &'t FileSource)> {
    let mut at = path.to_string();
    for _ in 0..16 {
        match tree.nodes.get(&at)? {
            Node::File { source, .. } => return Some((at, source)),
            Node::Symlink { target } => {
                let joined = if target.starts_with('/') {
                    target.clone()
                } else {
                    let parent = at.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    format!("{parent}/{target}")
                };
                at = normalize(&joined);
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
#[path = "programs_tests.rs"]
mod tests;
