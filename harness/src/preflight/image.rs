//! What preflight needs of an image routerlab built: the paths it holds (`paths.txt`), the
//! symbols its shared libraries define (`exports.json`) and the float ABI of its MIPS user
//! space (`manifest.json`).
use std::collections::BTreeSet;

use crate::image::symbols::ImageLibraries;

/// An image's files and links by absolute path.
#[derive(Debug, Clone, Default)]
pub struct ImageView {
    pub paths: BTreeSet<String>,
    /// `soft` or `hard` for a MIPS user space.
    pub float: Option<String>,
    /// Its shared libraries' symbols; `None` for an image built before the builder wrote
    /// them, whose builds' imports go unchecked.
    pub libraries: Option<ImageLibraries>,
}

impl ImageView {
    /// The view of an image routerlab built; `None` for one without `paths.txt` (built
    /// before the builder wrote one).
    pub fn of(img: &crate::image::BuiltImage) -> Option<ImageView> {
        let text = std::fs::read_to_string(img.dir.join("paths.txt")).ok()?;
        let float = img.manifest.mips.as_ref().and_then(|m| m.float.clone());
        let libraries = ImageLibraries::read(&img.dir.join("exports.json"));
        Some(ImageView { paths: text.lines().map(String::from).collect(), float, libraries })
    }

    pub fn has(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// `lib` in a directory the loaders search: `/lib`, `/usr/lib`, a multiarch directory
    /// under them (`/lib/aarch64-linux-gnu`), or one of the binary's RUNPATHs.
    pub fn finds_library(&self, lib: &str, runpath: &[String]) -> bool {
        self.library_path(lib, runpath).is_some()
    }

    /// Where the loader finds `lib` in the image, as [`ImageView::finds_library`] looks.
    pub fn library_path(&self, lib: &str, runpath: &[String]) -> Option<&str> {
        let suffix = format!("/{lib}");
        self.paths.iter().filter(|p| p.ends_with(&suffix)).map(String::as_str).find(|p| {
            let dir = &p[..p.len() - suffix.len()];
            let multiarch =
                |base: &str| dir.strip_prefix(base).is_some_and(|d| !d.contains('/') && d.contains("-linux-"));
            dir == "/lib"
                || dir == "/usr/lib"
                || multiarch("/lib/")
                || multiarch("/usr/lib/")
                || runpath.iter().any(|r| r == dir)
        })
    }

    /// The C libraries whose loaders the image holds: `musl`, `glibc`, `musl and glibc`.
    pub fn libc(&self) -> String {
        let musl = self.paths.iter().any(|p| p.starts_with("/lib/ld-musl-"));
        let glibc = self.paths.iter().any(|p| p.starts_with("/lib/ld-linux") || p == "/lib/ld.so.1");
        match (musl, glibc) {
            (true, true) => "musl and glibc".into(),
            (true, false) => "musl".into(),
            (false, true) => "glibc".into(),
            (false, false) => "no C library loader".into(),
        }
    }
}
