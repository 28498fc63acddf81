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
