//! What routerlab ships besides code: the image recipes and rootfs files (`images/`), and
//! the scenarios, builds and templates (`scenarios/`). Both are compiled into the binary, so
//! an installed `routerlab` works after its checkout is gone; `--images DIR` still wins.
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir, DirEntry};

static IMAGES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/images");
static SCENARIOS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// The directory holding `images/` and `scenarios/`: the checkout this binary was built
/// from while it is still there (edits there count), else the embedded copy, written once
/// under `cache` as `share/<version>-<content hash>/`.
pub fn root(cache: &Path) -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    if checkout.join("images/aarch64-virt.toml").is_file() {
        return checkout.to_path_buf();
    }
    match extract(cache) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("routerlab: cannot write the shipped files under {}: {e}", cache.display());
            checkout.to_path_buf()
        }
    }
}

/// A shipped scenario by name (`haproxy-reencrypt-xff`, with or without `.toml`) when
/// `path` names no file or directory; `path` itself otherwise.
pub fn scenario_path(path: &Path, cache: &Path) -> PathBuf {
    if path.exists() || path.components().count() != 1 {
        return path.to_path_buf();
    }
    let dir = root(cache).join("scenarios");
    [dir.join(path), dir.join(path).with_extension("toml")].into_iter().find(|p| p.exists()).unwrap_or(path.into())
}

fn extract(cache: &Path) -> std::io::Result<PathBuf> {
    let dir = cache.join("share").join(format!("{}-{:016x}", env!("CARGO_PKG_VERSION"), digest()));
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    // Written beside and renamed into place, so a concurrent run never sees half of it.
    let tmp = cache.join("share").join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    write_dir(&IMAGES, &tmp.join("images"))?;
    write_dir(&SCENARIOS, &tmp.join("scenarios"))?;
    std::fs::write(tmp.join(".complete"), "")?;
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join(".complete").is_file() {
            return Err(e);
        }
    }
    Ok(dir)
}

/// `d` under `to`; a file that starts with `#!` is made executable, as in the checkout.
fn write_dir(d: &Dir<'_>, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(to)?;
    for e in d.entries() {
        let name = e.path().file_name().expect("embedded entries have names");
        match e {
            DirEntry::Dir(sub) => write_dir(sub, &to.join(name))?,
            DirEntry::File(f) => {
                let p = to.join(name);
                std::fs::write(&p, f.contents())?;
                let mode = if f.contents().starts_with(b"#!") { 0o755 } else { 0o644 };
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    Ok(())
}

/// FNV-1a over every embedded path and its contents: a new build with other files gets
/// its own directory.
fn digest() -> u64 {
    fn walk(d: &Dir<'_>, h: &mut u64) {
        for e in d.entries() {
            let mut eat = |b: &[u8]| {
                for x in b {
                    *h = (*h ^ u64::from(*x)).wrapping_mul(0x100000001b3);
                }
            };
            eat(e.path().as_os_str().as_encoded_bytes());
            match e {
                DirEntry::Dir(sub) => walk(sub, h),
                DirEntry::File(f) => eat(f.contents()),
            }
        }
    }
    let mut h = 0xcbf29ce484222325;
    walk(&IMAGES, &mut h);
    walk(&SCENARIOS, &mut h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_copy_matches_the_checkout_file_for_file_with_its_modes() {
        let d = tempfile::tempdir().unwrap();
        let root = extract(d.path()).unwrap();
        assert_eq!(extract(d.path()).unwrap(), root, "written once");
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["images", "scenarios"] {
            let mut n = 0;
            for f in walkdir(&checkout.join(sub)) {
                let rel = f.strip_prefix(checkout).unwrap();
                assert_eq!(std::fs::read(&f).unwrap(), std::fs::read(root.join(rel)).unwrap(), "{}", rel.display());
                use std::os::unix::fs::PermissionsExt as _;
                let x = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o111 != 0;
                assert_eq!(x(&f), x(&root.join(rel)), "executable bit of {}", rel.display());
                n += 1;
            }
            assert!(n > 5, "{sub}: {n} files");
        }
    }

    fn walkdir(d: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walkdir(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
