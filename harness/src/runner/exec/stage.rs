//! Staging a build on the host: unpack its .deb, .ipk or binary (or build it from source),
//! keep what runs, pack it into a tarball cached by content, and say what the binary is.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::{BuildPlan, BuildSource};

/// Why a build could not be staged for the guest.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("{0} is not in the unpacked build; set `path` to the binary inside it")]
    NotInBuild(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StageError + '_ {
    move |source| StageError::Io { path: path.to_path_buf(), source }
}

/// Run a host command; the error names it and ends with its stderr.
fn sh(cmd: &mut Command) -> Result<(), StageError> {
    crate::image::run_command(cmd).map(drop).map_err(StageError::from)
}

/// A build unpacked and packed for the guest, with what its binary is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Staged {
    #[serde(skip)]
    pub tarball: PathBuf,
    /// Directories inside the tarball that hold shared libraries.
    pub libs: Vec<String>,
    /// The `.so` file names in them, for the preflight's DT_NEEDED look-up.
    pub lib_files: Vec<String>,
    /// Those that are shared objects, as the loader sees them: for the preflight's
    /// look-up of the binary's imports.
    #[serde(default)]
    pub lib_symbols: std::collections::BTreeMap<String, crate::image::symbols::Library>,
    /// The binary's ELF facts; `None` if it is no ELF.
    pub binary: Option<crate::preflight::BinaryFacts>,
    /// The binary is a `#!` script.
    pub script: bool,
    /// How a source build was made: toolchain, flags and sizes.
    #[serde(default)]
    pub built: Option<crate::source::BuildFacts>,
    /// The unpacked tree's flash footprint.
    #[serde(default)]
    pub flash: Option<crate::model::Footprint>,
}

impl Staged {
    /// The C library that loads the binary (`musl`, `glibc`, `static`), or `script`.
    pub fn libc(&self) -> Option<String> {
        if self.script {
            return Some("script".into());
        }
        self.binary.as_ref().map(|b| b.libc().to_string())
    }
}

/// Unpack the build into a tarball under `cache/builds/<key>/`, reusing an earlier one with
/// the same inputs. `arch` is the target's Debian architecture, as its image recipe names it.
pub(crate) fn stage(b: &BuildPlan, arch: &str, cache: &Path) -> Result<Staged, StageError> {
    let mut built = None;
    let mut inputs: Vec<PathBuf> = match &b.source {
        BuildSource::Image => unreachable!("the image's own proxy is never staged"),
        BuildSource::Binary(p) => vec![p.clone()],
        BuildSource::Deb(v) | BuildSource::Ipk(v) => v.clone(),
        BuildSource::Apt(specs) => {
            let apt = crate::image::AptState::new(cache, arch)?;
            apt.update_if_stale()?;
            apt.download(specs, &cache.join("builds/debs").join(arch))?
        }
        // Built (or found in the cache) for this architecture, then staged as the .ipk it is.
        BuildSource::Source(s) => {
            let made = crate::source::build(s, arch, cache)?;
            built = Some(made.facts);
            vec![made.ipk]
        }
    };
    inputs.sort();
    // The facts' version first: a staged.json from an older routerlab lacks later facts.
    let mut key = format!("staged 5\n{arch}\n{}\n", b.path);
    for p in &inputs {
        let data = std::fs::read(p).map_err(io(p))?;
        key.push_str(&format!("{} {}\n", p.display(), crate::image::sha256_hex(&data)));
    }
    let dir = cache.join("builds").join(&crate::image::sha256_hex(key.as_bytes())[..16]);
    let (tarball, facts_file) = (dir.join("build.tgz"), dir.join("staged.json"));
    let cached = std::fs::read_to_string(&facts_file).ok().and_then(|t| serde_json::from_str::<Staged>(&t).ok());
    if let Some(staged) = cached.filter(|_| tarball.is_file()) {
        return Ok(Staged { tarball, ..staged });
    }
    let tree = dir.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree).map_err(io(&tree))?;
    unpack(b, &inputs, &dir, &tree)?;
    let bin = tree.join(&b.path);
    if !bin.is_file() {
        return Err(StageError::NotInBuild(b.path.clone()));
    }
    let data = std::fs::read(&bin).map_err(io(&bin))?;
    for junk in ["usr/share/doc", "usr/share/man", "usr/share/lintian", "usr/share/vim"] {
        let _ = std::fs::remove_dir_all(tree.join(junk));
    }
    let mut found = LibScan::default();
    found.scan(&tree, &tree);
    let LibScan { dirs: libs, names: lib_files, symbols: lib_symbols } = found;
    sh(Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(&tree).arg("."))?;
    let binary = crate::preflight::BinaryFacts::read(&data);
    let script = binary.is_none() && data.starts_with(b"#!");
    let flash = Some(super::footprint::footprint(&tree)?);
    let staged = Staged { tarball, libs, lib_files, lib_symbols, script, binary, built, flash };
    let json = serde_json::to_string_pretty(&staged).expect("staged facts serialize");
    std::fs::write(&facts_file, json).map_err(io(&facts_file))?;
    let _ = std::fs::remove_dir_all(&tree);
    Ok(staged)
}

/// Each input unpacked into `tree` as its kind is: a binary copied to the build's path, an
/// .ipk's data.tar.gz or a .deb's data unpacked.
fn unpack(b: &BuildPlan, inputs: &[PathBuf], dir: &Path, tree: &Path) -> Result<(), StageError> {
    for p in inputs {
        match &b.source {
            BuildSource::Binary(_) => {
                let dst = tree.join(&b.path);
                std::fs::create_dir_all(dst.parent().expect("has parent")).map_err(io(&dst))?;
                std::fs::copy(p, &dst).map_err(io(p))?;
                let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
                std::fs::set_permissions(&dst, mode).map_err(io(&dst))?;
            }
            BuildSource::Ipk(_) | BuildSource::Source(_) => {
                // An .ipk is a gzip'd tar (older ones an ar archive) holding data.tar.gz.
                let outer = dir.join("ipk");
                let _ = std::fs::remove_dir_all(&outer);
                std::fs::create_dir_all(&outer).map_err(io(&outer))?;
                if sh(Command::new("tar").arg("-xzf").arg(p).arg("-C").arg(&outer)).is_err() {
                    sh(Command::new("ar").arg("x").arg(p).current_dir(&outer))?;
                }
                sh(Command::new("tar").arg("-xzf").arg(outer.join("data.tar.gz")).arg("-C").arg(tree))?;
            }
            _ => sh(Command::new("dpkg-deb").arg("-x").arg(p).arg(tree))?,
        }
    }
    Ok(())
}

/// What a build's tree holds of shared libraries, found in one walk.
#[derive(Default)]
struct LibScan {
    /// Directories (relative to the root) that hold shared libraries.
    dirs: Vec<String>,
    /// The `.so` file names in them.
    names: Vec<String>,
    /// Those that are shared objects, by file name (links read through).
    symbols: std::collections::BTreeMap<String, crate::image::symbols::Library>,
}

impl LibScan {
    fn scan(&mut self, root: &Path, dir: &Path) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut has_lib = false;
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !p.is_symlink() {
                self.scan(root, &p);
            } else if name.contains(".so") {
                has_lib = true;
                if let Some(lib) = std::fs::read(&p).ok().and_then(|d| crate::image::symbols::Library::read(&d)) {
                    self.symbols.insert(name.clone(), lib);
                }
                self.names.push(name);
            }
        }
        if has_lib {
            self.dirs.push(dir.strip_prefix(root).unwrap_or(dir).display().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(tgz: &Path) -> String {
        let o = Command::new("tar").arg("-tzf").arg(tgz).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn build(source: BuildSource, path: &str) -> BuildPlan {
        BuildPlan { name: "t".into(), source, path: path.into(), config: None, start: None, process: None }
    }

    /// A package tree with a "proxy" and a library, as a .deb and as an OpenWrt .ipk.
    fn packages(d: &Path) -> (PathBuf, PathBuf) {
        let tree = d.join("pkg");
        std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(tree.join("usr/sbin")).unwrap();
        std::fs::create_dir_all(tree.join("usr/lib/x")).unwrap();
        std::fs::create_dir_all(tree.join("usr/share/doc/p")).unwrap();
        std::fs::write(tree.join("usr/sbin/proxy"), b"#!/bin/sh\n").unwrap();
        std::fs::write(tree.join("usr/lib/x/libfoo.so.1"), b"elf").unwrap();
        std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", tree.join("usr/lib/x/libc.so.6")).unwrap();
        std::fs::write(tree.join("usr/share/doc/p/README"), b"docs").unwrap();
        std::fs::write(
            tree.join("DEBIAN/control"),
            "Package: p\nVersion: 1\nArchitecture: arm64\nMaintainer: t <t@t>\nDescription: t\n",
        )
        .unwrap();
        let deb = d.join("p_1_arm64.deb");
        sh(Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&tree).arg(&deb)).unwrap();
        // .ipk: a gzip'd tar of debian-binary, control.tar.gz and data.tar.gz.
        let ipk_dir = d.join("ipk");
        std::fs::create_dir_all(&ipk_dir).unwrap();
        std::fs::write(ipk_dir.join("debian-binary"), b"2.0\n").unwrap();
        sh(Command::new("tar").arg("-czf").arg(ipk_dir.join("data.tar.gz")).arg("-C").arg(&tree).args(["./usr"]))
            .unwrap();
        sh(Command::new("tar")
            .arg("-czf")
            .arg(ipk_dir.join("control.tar.gz"))
            .arg("-C")
            .arg(tree.join("DEBIAN"))
            .arg("."))
        .unwrap();
        let ipk = d.join("p_1_mipsel.ipk");
        sh(Command::new("tar").arg("-czf").arg(&ipk).arg("-C").arg(&ipk_dir).args([
            "./debian-binary",
            "./control.tar.gz",
            "./data.tar.gz",
        ]))
        .unwrap();
        (deb, ipk)
    }

    #[test]
    fn deb_ipk_and_binary_builds_stage_into_a_cached_tarball() {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        let (deb, ipk) = packages(d.path());
        for src in [BuildSource::Deb(vec![deb.clone()]), BuildSource::Ipk(vec![ipk])] {
            let Staged { tarball: tgz, libs, lib_symbols, .. } =
                stage(&build(src.clone(), "usr/sbin/proxy"), "arm64", &cache).unwrap();
            // The shared objects' symbols, for the preflight; a file named .so that is no
            // ELF has none.
            assert_eq!(lib_symbols.keys().collect::<Vec<_>>(), ["libc.so.6"], "{src:?}");
            assert!(lib_symbols["libc.so.6"].defines("memcpy@GLIBC_2.14"), "{src:?}");
            let list = files_in(&tgz);
            assert!(list.contains("./usr/sbin/proxy"), "{src:?}: {list}");
            assert!(!list.contains("usr/share/doc"), "docs are dropped: {list}");
            assert_eq!(libs, ["usr/lib/x"], "{src:?}");
        }
        let bin = d.path().join("myproxy");
        std::fs::write(&bin, b"binary").unwrap();
        let b = build(BuildSource::Binary(bin.clone()), "bin/myproxy");
        let first = stage(&b, "mipsel", &cache).unwrap();
        assert!(files_in(&first.tarball).contains("./bin/myproxy") && first.libs.is_empty());
        assert_eq!(first.libc(), None, "not an ELF, no libc");
        // Same inputs: the cached tarball; changed input: a new one. The host's own `true`
        // is a dynamically linked glibc ELF, and the cache keeps what its interpreter said.
        assert_eq!(stage(&b, "mipsel", &cache).unwrap(), first);
        std::fs::copy("/bin/true", &bin).unwrap();
        let second = stage(&b, "mipsel", &cache).unwrap();
        assert_ne!(second.tarball, first.tarball);
        assert_eq!(second.libc().as_deref(), Some("glibc"));
        assert_eq!(second.binary.as_ref().map(|f| f.describe()).as_deref(), Some("x86-64 ELF"));
        assert_eq!(stage(&b, "mipsel", &cache).unwrap(), second, "from the cache, libc and all");
        // A wrong `path` is named.
        let e = stage(&build(BuildSource::Deb(vec![deb]), "usr/sbin/haproxy"), "arm64", &cache).unwrap_err();
        assert!(e.to_string().contains("usr/sbin/haproxy is not in the unpacked build"), "{e}");
    }
}
