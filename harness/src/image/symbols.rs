//! The dynamic symbols of ELF files, as the loader binds them: what a binary imports (each
//! undefined, non-weak symbol, with its glibc version if it has one: `strlcpy@GLIBC_2.38`)
//! and what a shared library defines. Read on the host, so the preflight can tell before
//! boot that a binary linked against a newer C library than the image's would stop at load
//! with "symbol not found".
use std::collections::BTreeMap;
use std::path::Path;

use goblin::elf::section_header::SHN_UNDEF;
use goblin::elf::sym::{STB_GLOBAL, STB_WEAK};
use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use super::tree::{normalize, FileSource, Node, Tree};
use super::ImageError;

/// The version names of an ELF's `.gnu.version` indexes (verdef and verneed), by index.
fn version_names(elf: &Elf) -> BTreeMap<u16, String> {
    let mut names = BTreeMap::new();
    let name = |off: usize| elf.dynstrtab.get_at(off).map(str::to_string);
    if let Some(vd) = &elf.verdef {
        for def in vd.iter() {
            if let Some(n) = def.iter().next().and_then(|aux| name(aux.vda_name)) {
                names.insert(def.vd_ndx, n);
            }
        }
    }
    if let Some(vn) = &elf.verneed {
        for need in vn.iter() {
            for aux in need.iter() {
                if let Some(n) = name(aux.vna_name) {
                    names.insert(aux.vna_other & 0x7fff, n);
                }
            }
        }
    }
    names
}

/// Each dynamic symbol as `name` or `name@VERSION`, with whether it is defined here.
fn dynamic_symbols(elf: &Elf) -> Vec<(String, bool, u8)> {
    let versions = version_names(elf);
    let mut out = Vec::new();
    for (i, sym) in elf.dynsyms.iter().enumerate() {
        let Some(name) = elf.dynstrtab.get_at(sym.st_name).filter(|n| !n.is_empty()) else { continue };
        // Index 0 is local and 1 global (unversioned); higher ones name a version.
        let ver = elf.versym.as_ref().and_then(|v| v.get_at(i)).map(|v| v.version()).filter(|v| *v > 1);
        let full = match ver.and_then(|v| versions.get(&v)) {
            Some(v) => format!("{name}@{v}"),
            None => name.to_string(),
        };
        out.push((full, sym.st_shndx != SHN_UNDEF as usize, sym.st_bind()));
    }
    out
}

/// What a dynamic ELF needs from the libraries it loads: its undefined global symbols.
/// Weak ones are left out (the loader lets them stay unresolved). Empty for a static one.
pub fn imports(elf: &Elf) -> Vec<String> {
    let mut v: Vec<String> = dynamic_symbols(elf)
        .into_iter()
        .filter(|(_, defined, bind)| !defined && *bind == STB_GLOBAL)
        .map(|(n, _, _)| n)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A shared library as the loader sees it: what it loads in turn, the versions it defines
/// (`GLIBC_2.36`) and the symbols it defines (`name`, or `name@VERSION` when versioned).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub needed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    pub defines: Vec<String>,
}

impl Library {
    /// The library in `data`, or `None` if it is no shared object goblin can read.
    pub fn read(data: &[u8]) -> Option<Library> {
        let elf = Elf::parse(data).ok()?;
        if elf.header.e_type != goblin::elf::header::ET_DYN {
            return None;
        }
        let mut defines: Vec<String> = dynamic_symbols(&elf)
            .into_iter()
            .filter(|(_, defined, bind)| *defined && (*bind == STB_GLOBAL || *bind == STB_WEAK))
            .map(|(n, _, _)| n)
            .collect();
        defines.sort();
        defines.dedup();
        let needed = elf.libraries.iter().map(|l| l.to_string()).collect();
        Some(Library { needed, versions: defined_versions(&elf), defines })
    }

    /// Whether it defines `import` (`name` binds any definition, `name@V` only version V).
    /// `defines` is sorted, so a name's versions (`name@...`) lie together.
    pub fn defines(&self, import: &str) -> bool {
        if self.defines.binary_search_by(|d| d.as_str().cmp(import)).is_ok() {
            return true;
        }
        if import.contains('@') {
            return false;
        }
        let versioned = format!("{import}@");
        let first = self.defines.partition_point(|d| d.as_str() < versioned.as_str());
        self.defines.get(first).is_some_and(|d| d.starts_with(&versioned))
    }
}

/// The version names a library defines itself (verdef), not those it needs.
fn defined_versions(elf: &Elf) -> Vec<String> {
    let mut v: Vec<String> = elf
        .verdef
        .iter()
        .flat_map(|vd| vd.iter())
        .filter_map(|d| d.iter().next().and_then(|aux| elf.dynstrtab.get_at(aux.vda_name)).map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `exports.json` beside an image: each shared library in it by path, and the links to
/// them, so a build's imports can be resolved before boot without the initramfs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLibraries {
    pub libraries: BTreeMap<String, Library>,
    /// A link's path to the library file it resolves to (`/lib/ld-musl-mipsel-sf.so.1` to
    /// `/lib/libc.so`).
    pub links: BTreeMap<String, String>,
}

impl ImageLibraries {
    /// Every shared object in `tree` (a file whose name has `.so` in it, or a loader).
    pub(crate) fn of(tree: &Tree) -> Result<ImageLibraries, ImageError> {
        let mut out = ImageLibraries::default();
        let looks_like_lib = |p: &str| p.rsplit('/').next().is_some_and(|n| n.contains(".so") || n.starts_with("ld-"));
        for (path, node) in &tree.nodes {
            if !looks_like_lib(path) {
                continue;
            }
            match node {
                Node::File { source, .. } => {
                    let data = match source {
                        FileSource::Bytes(b) => std::borrow::Cow::Borrowed(b.as_slice()),
                        FileSource::Host(h) => std::borrow::Cow::Owned(
                            std::fs::read(h).map_err(|source| ImageError::Io { path: h.clone(), source })?,
                        ),
                    };
                    if let Some(lib) = Library::read(&data) {
                        out.libraries.insert(path.clone(), lib);
                    }
                }
                Node::Symlink { .. } => {
                    if let Some(to) = resolve(tree, path) {
                        out.links.insert(path.clone(), to);
                    }
                }
                _ => {}
            }
        }
        out.links.retain(|_, to| out.libraries.contains_key(to));
        Ok(out)
    }

    pub fn write(&self, path: &Path) -> Result<(), ImageError> {
        let json = serde_json::to_string(self).expect("libraries serialize");
        std::fs::write(path, json).map_err(|source| ImageError::Io { path: path.into(), source })
    }

    pub fn read(path: &Path) -> Option<ImageLibraries> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// The library at `path`, through links.
    pub fn at(&self, path: &str) -> Option<(&str, &Library)> {
        let real = self.links.get(path).map(String::as_str).unwrap_or(path);
        self.libraries.get_key_value(real).map(|(k, v)| (k.as_str(), v))
    }
}

/// The file a link in `tree` ends at, following links in the last component.
fn resolve(tree: &Tree, path: &str) -> Option<String> {
    let mut at = path.to_string();
    for _ in 0..40 {
        match tree.nodes.get(&at)? {
            Node::Symlink { target } => {
                let dir = at.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                at = if target.starts_with('/') { normalize(target) } else { normalize(&format!("{dir}/{target}")) };
            }
            Node::File { .. } => return Some(at),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
#[path = "symbols_tests.rs"]
mod tests;
