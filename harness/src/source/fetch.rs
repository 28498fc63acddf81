//! A build's source, unpacked into a scratch tree: a Debian source package (fetched
//! through a private deb-src apt state, as image packages are), a local directory (a
//! user's checkout with their patches), or a tarball. Each has a fingerprint that goes
//! into the build's cache key.
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::error::{io, SourceError};

/// Where a build's source comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A Debian source package, `name` or `name=version`.
    Debian(String),
    /// A Debian source package by its `.dsc`'s address, pinned by the `.dsc`'s sha256.
    Dsc { url: String, sha256: String },
    /// A directory on this machine.
    Dir(PathBuf),
    /// A tarball on this machine, unpacked without its top directory.
    Tarball(PathBuf),
}

impl Origin {
    /// What it is, in a person's words.
    pub fn describe(&self) -> String {
        match self {
            Origin::Debian(s) => format!("Debian source {s}"),
            Origin::Dsc { url, .. } => format!("Debian source {}", url.rsplit('/').next().unwrap_or(url)),
            Origin::Dir(p) => format!("directory {}", p.display()),
            Origin::Tarball(p) => format!("tarball {}", p.display()),
        }
    }
}

/// The source's files, resolved: fetched where it is a Debian package. The fingerprint
/// changes when any byte of the source does.
pub(crate) struct Fetched {
    pub fingerprint: String,
    /// The .dsc, the directory or the tarball.
    pub at: PathBuf,
}

/// Resolve `origin`, fetching a Debian source into `cache/sources/` (`list` is the deb-src
/// sources list).
pub(crate) fn fetch(origin: &Origin, list: &Path, cache: &Path) -> Result<Fetched, SourceError> {
    match origin {
        Origin::Debian(spec) => {
            let apt = crate::image::AptState::sources(cache, list)?;
            apt.update_if_stale()?;
            let dest = cache.join("sources/debian");
            let dsc = apt.source(spec, &dest)?.ok_or_else(|| SourceError::NoDsc { spec: spec.clone(), dir: dest })?;
            // The .dsc lists the sha256 of every tarball it takes, and apt checked them.
            let fingerprint = crate::image::sha256_hex(&std::fs::read(&dsc).map_err(io(&dsc))?);
            Ok(Fetched { fingerprint, at: dsc })
        }
        Origin::Dsc { url, sha256 } => {
            let at = super::dsc::fetch(url, sha256, &cache.join("sources/dsc"))?;
            Ok(Fetched { fingerprint: sha256.to_ascii_lowercase(), at })
        }
        Origin::Dir(d) => Ok(Fetched { fingerprint: tree_hash(d)?, at: d.clone() }),
        Origin::Tarball(t) => {
            let fingerprint = crate::image::sha256_hex(&std::fs::read(t).map_err(io(t))?);
            Ok(Fetched { fingerprint, at: t.clone() })
        }
    }
}

/// Unpack what `fetch` resolved into `into` (which must not exist yet).
pub(crate) fn unpack(origin: &Origin, f: &Fetched, into: &Path) -> Result<(), SourceError> {
    let mut cmd = match origin {
        // Debian's own patches are applied: it is the source Debian builds.
        Origin::Debian(_) | Origin::Dsc { .. } => {
            let mut c = Command::new("dpkg-source");
            c.args(["--no-check", "-x"]).arg(&f.at).arg(into);
            c
        }
        Origin::Dir(d) => {
            std::fs::create_dir_all(into).map_err(io(into))?;
            let mut c = Command::new("cp");
            c.arg("-a").arg(d.join(".")).arg(into);
            c
        }
        Origin::Tarball(t) => {
            std::fs::create_dir_all(into).map_err(io(into))?;
            let mut c = Command::new("tar");
            c.arg("-xf").arg(t).arg("-C").arg(into).arg("--strip-components=1");
            c
        }
    };
    crate::image::run_command(&mut cmd)?;
    Ok(())
}

/// sha256 over every file's path and contents under `dir` in name order, `.git` left out.
fn tree_hash(dir: &Path) -> Result<String, SourceError> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let p = dir.join(rel);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&p).map_err(io(&p))?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let p = e.path();
        let t = e.file_type().map_err(io(&p))?;
        if t.is_dir() && e.file_name() != ".git" {
            walk(root, &p, out)?;
        } else if t.is_file() {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_fingerprint_changes_with_any_byte_and_ignores_git() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src/.git")).unwrap();
        std::fs::write(d.path().join("src/a.c"), "int a;").unwrap();
        let list = d.path().join("none.list");
        let before = fetch(&Origin::Dir(d.path().join("src")), &list, d.path()).unwrap().fingerprint;
        std::fs::write(d.path().join("src/.git/HEAD"), "ref").unwrap();
        assert_eq!(fetch(&Origin::Dir(d.path().join("src")), &list, d.path()).unwrap().fingerprint, before);
        std::fs::write(d.path().join("src/a.c"), "int b;").unwrap();
        assert_ne!(fetch(&Origin::Dir(d.path().join("src")), &list, d.path()).unwrap().fingerprint, before);
    }

    #[test]
    fn a_directory_unpacks_as_a_copy() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src/sub")).unwrap();
        std::fs::write(d.path().join("src/sub/x"), "x").unwrap();
        let o = Origin::Dir(d.path().join("src"));
        let f = fetch(&o, &d.path().join("l"), d.path()).unwrap();
        unpack(&o, &f, &d.path().join("work")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("work/sub/x")).unwrap(), "x");
    }
}
