//! A build recipe (`scenarios/recipes/NAME.toml`): how one program is built from its source
//! for a router, in the terms of OpenWrt's package Makefiles: flags, make arguments, patches
//! and what goes into the package. Data, not code.
use std::path::{Path, PathBuf};

use super::error::{io, SourceError};
use crate::textpos::from_toml;

/// The C library a build links against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Libc {
    Musl,
    Glibc,
}

/// One file the package installs: built file (relative to the source tree) to image path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recipe {
    /// The package's name (`haproxy-nossl`).
    pub name: String,
    /// One line for the package's control file.
    pub description: String,
    pub libc: Libc,
    /// Compiler flags for every target; the target's CPU flags come from the toolchain file.
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Linker flags (`-static`, `-s`: strip at link time, `-Wl,-z,relro`).
    #[serde(default)]
    pub ldflags: Vec<String>,
    /// `make`'s arguments, with `{{cc}}`, `{{cflags}}`, `{{ldflags}}` and `{{jobs}}` filled in.
    pub make: Vec<String>,
    /// Applied with `patch -p1` in order, relative to the recipe.
    #[serde(default)]
    pub patches: Vec<PathBuf>,
    pub install: Vec<Install>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Recipe {
    pub fn load(path: &Path) -> Result<Recipe, SourceError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut r: Recipe = from_toml(&text).map_err(|(line, column, message)| SourceError::Parse {
            path: path.into(),
            line,
            column,
            message,
        })?;
        r.path = path.to_path_buf();
        r.validate()?;
        Ok(r)
    }

    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn validate(&self) -> Result<(), SourceError> {
        let bad = |message: String| Err(SourceError::Invalid { path: self.path.clone(), message });
        if self.name.is_empty() || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b)) {
            return bad(format!("name {:?}: use letters, digits, '-', '_', '.' and '+'", self.name));
        }
        if self.make.is_empty() {
            return bad("make: give make's arguments (at least the target)".into());
        }
        if self.install.is_empty() {
            return bad(
                "install: name at least the binary, e.g. { from = \"haproxy\", to = \"usr/sbin/haproxy\" }".into()
            );
        }
        for i in &self.install {
            if i.to.starts_with('/') || i.to.split('/').any(|c| c == "..") || i.from.split('/').any(|c| c == "..") {
                return bad(format!("install: {} -> {}: both are relative paths inside the tree", i.from, i.to));
            }
        }
        for p in &self.patches {
            if !self.dir().join(p).is_file() {
                return bad(format!("patches: {} does not exist", self.dir().join(p).display()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Recipe, SourceError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.toml");
        std::fs::write(&p, text).unwrap();
        Recipe::load(&p)
    }

    const OK: &str = "name = \"x\"\ndescription = \"d\"\nlibc = \"musl\"\nmake = [\"all\"]\n";

    #[test]
    fn bad_recipes_name_the_field_and_line() {
        let e = load(&format!("{OK}install = []\nflavour = 1\n")).unwrap_err().to_string();
        assert!(e.contains("r.toml:6:1: unknown field `flavour`"), "{e}");
        let e = load(&format!("{OK}install = []\n")).unwrap_err().to_string();
        assert!(e.contains("install: name at least the binary"), "{e}");
        let e = load(&format!("{OK}install = [{{ from = \"x\", to = \"/usr/sbin/x\" }}]\n")).unwrap_err().to_string();
        assert!(e.contains("both are relative paths"), "{e}");
        let e = load(&format!("{OK}install = [{{ from = \"x\", to = \"x\" }}]\npatches = [\"no.patch\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no.patch does not exist"), "{e}");
        let e = load(&OK.replace("musl", "uclibc")).unwrap_err().to_string();
        assert!(e.contains("r.toml:3:"), "{e}");
    }

    #[test]
    fn shipped_recipes_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/recipes");
        let r = Recipe::load(&dir.join("haproxy.toml")).unwrap();
        assert_eq!(r.libc, Libc::Musl);
        assert!(r.install.iter().any(|i| i.to == "usr/sbin/haproxy"));
        // HAProxy refuses to start when built without these ("invalid code detected").
        assert!(r.cflags.iter().any(|f| f == "-fwrapv") && r.cflags.iter().any(|f| f == "-fno-strict-aliasing"));
    }
}
