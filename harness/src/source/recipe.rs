//! A build recipe (`scenarios/recipes/NAME.toml`): how one program is built from its source
//! for a router, in the terms of OpenWrt's package Makefiles: flags, make arguments, patches
//! and what goes into the package. Data, not code.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{io, SourceError};
use super::{Origin, SourcePlan};
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

/// A library the program links against, built first by its own recipe (which says
/// `library = true`) for the same target; its files make up `{{sysroot}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Need {
    /// A Debian source package, pinned: `openssl=3.0.20-1~deb12u2`.
    pub debian: Option<String>,
    /// A local source tree or tarball, relative to this recipe.
    pub dir: Option<PathBuf>,
    pub tarball: Option<PathBuf>,
    /// The library's recipe, relative to this one.
    pub recipe: PathBuf,
}

/// What one target adds: OpenSSL's `linux-mips32` to `configure`, or a flag one CPU needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetExtra {
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub configure: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recipe {
    /// The package's name (`haproxy-nossl`).
    pub name: String,
    /// One line for the package's control file.
    pub description: String,
    pub libc: Libc,
    /// A library for other recipes' `needs`: its installed files are kept as a tree to
    /// link against, and no package is made.
    #[serde(default)]
    pub library: bool,
    /// Libraries built first, into `{{sysroot}}` (`include/`, `lib/`).
    #[serde(default)]
    pub needs: Vec<Need>,
    /// A configure command run in the source tree before make (program first), with the
    /// same fields filled in, and `CC`, `CFLAGS` and `LDFLAGS` in its environment.
    #[serde(default)]
    pub configure: Vec<String>,
    /// By Debian architecture (`mipsel`, `arm64`): flags and configure arguments for it.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetExtra>,
    /// Compiler flags for every target; the target's CPU flags come from the toolchain file.
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Linker flags (`-static`, `-s`: strip at link time, `-Wl,-z,relro`).
    #[serde(default)]
    pub ldflags: Vec<String>,
    /// `make`'s arguments, with `{{cc}}`, `{{cflags}}`, `{{ldflags}}`, `{{jobs}}` and
    /// `{{sysroot}}` filled in.
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

    /// What the target of Debian architecture `arch` adds (nothing, if the recipe is silent).
    pub fn extra(&self, arch: &str) -> TargetExtra {
        self.targets.get(arch).cloned().unwrap_or_default()
    }

    /// The libraries' build plans, their paths made absolute from this recipe's directory.
    pub fn need_plans(&self) -> Result<Vec<SourcePlan>, SourceError> {
        self.needs.iter().enumerate().map(|(i, n)| self.need_plan(i, n)).collect()
    }

    fn need_plan(&self, i: usize, n: &Need) -> Result<SourcePlan, SourceError> {
        let here = |p: &Path| self.dir().join(p);
        let origin = match (&n.debian, &n.dir, &n.tarball) {
            (Some(d), None, None) => Origin::Debian(d.clone()),
            (None, Some(d), None) => Origin::Dir(here(d)),
            (None, None, Some(t)) => Origin::Tarball(here(t)),
            _ => {
                let message = format!("needs[{i}]: give one of debian, dir or tarball");
                return Err(SourceError::Invalid { path: self.path.clone(), message });
            }
        };
        Ok(SourcePlan { origin, recipe: here(&n.recipe), patches: Vec::new() })
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
        for (i, n) in self.need_plans()?.iter().enumerate() {
            if !n.recipe.is_file() {
                return bad(format!("needs[{i}].recipe: {} does not exist", n.recipe.display()));
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
        for name in ["haproxy.toml", "haproxy-nossl.toml"] {
            let r = Recipe::load(&dir.join(name)).unwrap();
            assert_eq!((r.libc, r.library), (Libc::Musl, false), "{name}");
            assert!(r.install.iter().any(|i| i.to == "usr/sbin/haproxy"));
            // HAProxy refuses to start when built without these ("invalid code detected").
            assert!(r.cflags.iter().any(|f| f == "-fwrapv") && r.cflags.iter().any(|f| f == "-fno-strict-aliasing"));
        }
        // The TLS build needs OpenSSL, a library recipe that knows both targets' assembler.
        let r = Recipe::load(&dir.join("haproxy.toml")).unwrap();
        let needs = r.need_plans().unwrap();
        assert_eq!(needs.len(), 1);
        assert!(matches!(&needs[0].origin, Origin::Debian(d) if d.starts_with("openssl=3.0.")), "{needs:?}");
        let ssl = Recipe::load(&needs[0].recipe).unwrap();
        assert!(ssl.library);
        assert_eq!(ssl.extra("arm64").configure, ["linux-aarch64"]);
        assert!(ssl.extra("mipsel").configure.contains(&"linux-mips32".to_string()));
        assert_eq!(ssl.extra("sparc"), TargetExtra::default());
    }

    #[test]
    fn the_nginx_recipe_cross_builds_with_its_patch_for_each_target() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/recipes");
        let r = Recipe::load(&dir.join("nginx.toml")).unwrap();
        assert!(r.install.iter().any(|i| i.from == "objs/nginx" && i.to == "usr/sbin/nginx"));
        // configure cannot run the router's programs: without --crossbuild and the patch that
        // judges its tests by compiling, it stops at "can not detect int size".
        assert_eq!(r.patches, [PathBuf::from("patches/nginx-crossbuild.patch")]);
        for (arch, machine) in [("mipsel", "Linux::mips"), ("arm64", "Linux::aarch64")] {
            assert_eq!(r.extra(arch).configure, [format!("--crossbuild={machine}")], "{arch}");
        }
        // TLS is what it is for; the sysroot holds the OpenSSL it needs.
        assert!(r.configure.iter().any(|a| a == "--with-http_ssl_module"));
        assert!(r.configure.iter().any(|a| a.starts_with("--with-cc-opt=-I{{sysroot}}/include")));
        assert!(matches!(&r.need_plans().unwrap()[0].origin, Origin::Debian(d) if d.starts_with("openssl=")));
        let patch = std::fs::read_to_string(dir.join("patches/nginx-crossbuild.patch")).unwrap();
        for file in ["auto/feature", "auto/types/sizeof", "auto/endianness", "configure"] {
            assert!(patch.contains(&format!("+++ b/{file}\n")), "{file}");
        }
    }

    #[test]
    fn needs_give_one_origin_and_a_recipe_that_exists() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("lib.toml"), "").unwrap();
        let with = |need: &str| {
            let p = d.path().join("r.toml");
            std::fs::write(&p, format!("{OK}install = [{{ from = \"x\", to = \"x\" }}]\nneeds = [{need}]\n")).unwrap();
            Recipe::load(&p)
        };
        let r = with("{ debian = \"openssl=3\", recipe = \"lib.toml\" }").unwrap();
        assert_eq!(r.need_plans().unwrap()[0].recipe, d.path().join("lib.toml"));
        let e = with("{ recipe = \"lib.toml\" }").unwrap_err().to_string();
        assert!(e.contains("r.toml: needs[0]: give one of debian, dir or tarball"), "{e}");
        let e = with("{ dir = \"a\", tarball = \"b\", recipe = \"lib.toml\" }").unwrap_err().to_string();
        assert!(e.contains("needs[0]: give one of"), "{e}");
        let e = with("{ dir = \"a\", recipe = \"no.toml\" }").unwrap_err().to_string();
        assert!(e.contains("needs[0].recipe:") && e.contains("no.toml does not exist"), "{e}");
        let e = with("{ dir = \"a\", recipe = \"lib.toml\", flavour = 1 }").unwrap_err().to_string();
        assert!(e.contains("r.toml:6:") && e.contains("unknown field `flavour`"), "{e}");
    }
}
