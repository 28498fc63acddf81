use std::path::{Path, PathBuf};

use super::Manifest;

/// Where built images and apt state live: `$ROUTERLAB_CACHE`, else
/// `$XDG_CACHE_HOME/routerlab`, else `~/.cache/routerlab`. Never inside the repository.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("ROUTERLAB_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("routerlab");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/routerlab")
}

/// Manifests of every image in the cache, newest first.
pub fn list_cached(cache: &Path) -> Vec<(PathBuf, Manifest)> {
    let mut out: Vec<(PathBuf, Manifest)> = std::fs::read_dir(cache.join("images"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let m = std::fs::read_to_string(e.path().join("manifest.json")).ok()?;
                    Some((e.path(), serde_json::from_str(&m).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.1.built_at.cmp(&a.1.built_at));
    out
}

/// A build's scratch directory, `images/.tmp-NAME-KEY-PID`: removed however the build
/// ends (done, an error, a panic). A builder killed outright leaves it behind, an unpacked
/// root of hundreds of MB; the next build of the recipe removes it ([`prune_scratch`]).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(images: &Path, name: &str, key: &str) -> Scratch {
        Scratch(images.join(format!(".tmp-{name}-{key}-{}", std::process::id())))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The recipe and builder pid of a scratch directory's name, `.tmp-NAME-KEY-PID`.
fn scratch_owner(file: &str) -> Option<(&str, u32)> {
    let (rest, pid) = file.strip_prefix(".tmp-")?.rsplit_once('-')?;
    let (name, key) = rest.rsplit_once('-')?;
    let key_ok = key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit());
    key_ok.then_some((name, pid.parse().ok()?))
}

/// Remove scratch directories whose builder is gone: of recipe `only` (a build does this
/// holding the recipe's lock), or of every recipe (`routerlab clean`). A live builder's pid
/// exists, so its scratch stays either way.
pub fn prune_scratch(images: &Path, only: Option<&str>) -> Vec<PathBuf> {
    let stale = |file: &str| {
        scratch_owner(file)
            .is_some_and(|(name, pid)| only.is_none_or(|o| o == name) && !Path::new(&format!("/proc/{pid}")).exists())
    };
    let Ok(rd) = std::fs::read_dir(images) else { return Vec::new() };
    let dirs: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).filter(|e| e.file_name().to_str().is_some_and(stale)).map(|e| e.path()).collect();
    dirs.into_iter().filter(|p| std::fs::remove_dir_all(p).is_ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_of_dead_builders_is_pruned_by_recipe_or_all_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let key = "e752a72126c76e97";
        let mk = |n: &str| {
            std::fs::create_dir_all(d.path().join(n).join("root/bin")).unwrap();
            d.path().join(n)
        };
        let dead = mk(&format!(".tmp-mipsel-malta-{key}-4000000000"));
        let alive = mk(&format!(".tmp-mipsel-malta-{key}-{}", std::process::id()));
        let other_recipe = mk(&format!(".tmp-mipsel-malta-be-{key}-4000000000"));
        let image = mk(&format!("mipsel-malta-{key}"));
        assert_eq!(prune_scratch(d.path(), Some("mipsel-malta")), vec![dead.clone()]);
        assert!(!dead.exists() && alive.exists() && other_recipe.exists() && image.exists());
        // `routerlab clean`: every recipe's dead builders, still not a live one's.
        assert_eq!(prune_scratch(d.path(), None), vec![other_recipe.clone()]);
        assert!(alive.exists() && image.exists());
        assert!(prune_scratch(&d.path().join("missing"), None).is_empty(), "no cache yet");
        assert_eq!(scratch_owner(".tmp-mipsel-malta-be-0123456789abcdef-42"), Some(("mipsel-malta-be", 42)));
        assert_eq!(scratch_owner(".tmp-x-0123-42"), None, "not a key");
        assert_eq!(scratch_owner("mipsel-malta-0123456789abcdef"), None, "an image, not scratch");
    }

    #[test]
    fn scratch_goes_when_the_build_ends_however_it_ends() {
        let d = tempfile::tempdir().unwrap();
        let s = Scratch::new(d.path(), "x", "0123456789abcdef");
        std::fs::create_dir_all(s.path().join("root")).unwrap();
        let p = s.path().to_path_buf();
        assert!(p.file_name().unwrap().to_str().unwrap().ends_with(&format!("-{}", std::process::id())));
        let r = std::panic::catch_unwind(move || {
            let _s = s;
            panic!("a failed unpack");
        });
        assert!(r.is_err() && !p.exists());
    }
}
