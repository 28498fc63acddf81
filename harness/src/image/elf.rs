//! The shared-library closure of ELF files: DT_NEEDED, RUNPATH and the interpreter.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use super::tree::Tree;
use super::ImageError;

/// Include each of `roots` where it is, each of `carried`'s binaries at `BIN_DIR/NAME`
/// (the file its path resolves to in `root`, without the package's links), and everything
/// any of them needs to load at the paths its loader searches.
pub(crate) fn include_closure(
    tree: &mut Tree,
    root: &Path,
    (triplet, arch): (&str, &str),
    roots: &[String],
    carried: Option<(&str, &[String])>,
) -> Result<usize, ImageError> {
    use std::os::unix::fs::PermissionsExt;
    let mut queue: Vec<(String, PathBuf)> = Vec::new();
    for r in roots {
        let host = tree.include(root, r).map_err(|_| missing(root, r, arch))?;
        queue.push((r.clone(), host));
    }
    let (bin_dir, binaries) = carried.unwrap_or_default();
    for b in binaries {
        let host = Tree::default().include(root, b).map_err(|_| missing(root, b, arch))?;
        let meta = std::fs::metadata(&host).map_err(|source| ImageError::Io { path: host.clone(), source })?;
        let name = b.rsplit('/').next().unwrap_or(b);
        tree.host_file(&format!("{bin_dir}/{name}"), host.clone(), meta.permissions().mode() & 0o7777);
        queue.push((b.clone(), host));
    }
    include_needed(tree, root, triplet, arch, queue)
}

fn missing(root: &Path, name: &str, arch: &str) -> ImageError {
    ImageError::Missing {
        what: "binary",
        name: name.into(),
        arch: arch.into(),
        path: root.join(name.trim_start_matches('/')),
    }
}

/// The interpreter and libraries of every file in `queue`, and theirs in turn.
fn include_needed(
    tree: &mut Tree,
    root: &Path,
    triplet: &str,
    arch: &str,
    mut queue: Vec<(String, PathBuf)>,
) -> Result<usize, ImageError> {
    let dirs = [format!("/lib/{triplet}"), format!("/usr/lib/{triplet}"), "/lib".to_string(), "/usr/lib".to_string()];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut libs = 0;
    while let Some((name, host)) = queue.pop() {
        let data = std::fs::read(&host).map_err(|source| ImageError::Io { path: host.clone(), source })?;
        let elf = Elf::parse(&data).map_err(|e| ImageError::Elf { path: host.clone(), detail: e.to_string() })?;
        // MIPS binaries pad PT_INTERP with NULs, which goblin keeps.
        if let Some(interp) = elf.interpreter.map(|i| i.trim_end_matches(['\0', ' '])) {
            if seen.insert(interp.to_string()) {
                let h = tree.include(root, interp)?;
                queue.push((interp.to_string(), h));
            }
        }
        let mut search: Vec<String> =
            elf.runpaths.iter().chain(elf.rpaths.iter()).flat_map(|p| p.split(':')).map(str::to_string).collect();
        search.extend(dirs.iter().cloned());
        for lib in &elf.libraries {
            if !seen.insert(lib.to_string()) {
                continue;
            }
            let found =
                search.iter().map(|d| format!("{d}/{lib}")).find(|p| root.join(p.trim_start_matches('/')).exists());
            let Some(path) = found else {
                return Err(ImageError::MissingLibrary { name: lib.to_string(), by: name.clone(), arch: arch.into() });
            };
            let h = tree.include(root, &path)?;
            libs += 1;
            queue.push((path, h));
        }
    }
    Ok(libs)
}
