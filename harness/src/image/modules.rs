//! Kernel modules: `depmod -b` on the unpacked kernel, then the dependency closure of the
//! requested modules with a matching subset `modules.dep` for busybox `modprobe`.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use super::apt::run;
use super::error::io;
use super::tree::Tree;
use super::ImageError;

/// The one kernel version under `root/lib/modules`.
pub(crate) fn kernel_version(root: &Path) -> Result<String, ImageError> {
    let dir = root.join("lib/modules");
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("kernel").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    match versions.len() {
        1 => Ok(versions.remove(0)),
        _ => Err(ImageError::Io {
            path: dir,
            source: std::io::Error::other(format!("expected one kernel, found {versions:?}")),
        }),
    }
}

fn mod_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// Everything depmod knows about one kernel's modules.
struct ModDb {
    /// name -> (path, hard dependency paths)
    deps: BTreeMap<String, (String, Vec<String>)>,
    /// path -> modules.dep line
    lines: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
    /// name -> `pre:` soft dependencies (aliases or names)
    softpre: BTreeMap<String, Vec<String>>,
    /// exact alias -> module names
    aliases: BTreeMap<String, Vec<String>>,
}

impl ModDb {
    fn load(base: &Path) -> Result<ModDb, ImageError> {
        let read = |f: &str| std::fs::read_to_string(base.join(f));
        let dep_path = base.join("modules.dep");
        let text = std::fs::read_to_string(&dep_path).map_err(io(&dep_path))?;
        let mut db = ModDb {
            deps: BTreeMap::new(),
            lines: BTreeMap::new(),
            builtin: read("modules.builtin").unwrap_or_default().lines().map(mod_name).collect(),
            softpre: BTreeMap::new(),
            aliases: BTreeMap::new(),
        };
        for line in text.lines() {
            let Some((path, rest)) = line.split_once(':') else { continue };
            db.deps.insert(mod_name(path), (path.to_string(), rest.split_whitespace().map(str::to_string).collect()));
            db.lines.insert(path.to_string(), line.to_string());
        }
        for line in read("modules.softdep").unwrap_or_default().lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(name) = words.next() else { continue };
            let mut pre = Vec::new();
            let mut in_pre = false;
            for w in words {
                match w {
                    "pre:" => in_pre = true,
                    "post:" => in_pre = false,
                    dep if in_pre => pre.push(dep.to_string()),
                    _ => {}
                }
            }
            db.softpre.insert(name.replace('-', "_"), pre);
        }
        for line in read("modules.alias").unwrap_or_default().lines() {
            let mut w = line.split_whitespace();
            if let (Some("alias"), Some(alias), Some(module)) = (w.next(), w.next(), w.next()) {
                if !alias.contains(['*', '?', '[']) {
                    db.aliases.entry(alias.to_string()).or_default().push(module.replace('-', "_"));
                }
            }
        }
        Ok(db)
    }

    /// A soft-dependency word: a module name, or an alias naming modules.
    fn resolve(&self, word: &str) -> Vec<String> {
        let name = word.replace('-', "_");
        if self.deps.contains_key(&name) || self.builtin.contains(&name) {
            return vec![name];
        }
        self.aliases.get(word).cloned().unwrap_or_default()
    }

    /// Depth-first load order: soft `pre:` dependencies, then hard dependencies, then the module.
    fn order(
        &self,
        name: &str,
        kver: &str,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) -> Result<(), ImageError> {
        if self.builtin.contains(name) || !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (_, hard) =
            self.deps.get(name).ok_or_else(|| ImageError::MissingModule { name: name.into(), kver: kver.into() })?;
        for pre in self.softpre.get(name).cloned().unwrap_or_default() {
            for m in self.resolve(&pre) {
                self.order(&m, kver, seen, out)?;
            }
        }
        // modules.dep lists a module's dependencies so that the last must load first.
        for dep in hard.iter().rev() {
            self.order(&mod_name(dep), kver, seen, out)?;
        }
        out.push(name.to_string());
        Ok(())
    }
}

/// Include `wanted`, their hard and soft (`pre:`) dependencies, a matching subset
/// `modules.dep`, and `/etc/routerlab/modules`: the complete load order, because busybox
/// `modprobe` ignores soft dependencies.
pub(crate) fn include_modules(
    tree: &mut Tree,
    root: &Path,
    kver: &str,
    wanted: &[String],
) -> Result<usize, ImageError> {
    run(Command::new("depmod").arg("-b").arg(root).arg(kver))?;
    let base = root.join("lib/modules").join(kver);
    let db = ModDb::load(&base)?;
    let (mut seen, mut order) = (BTreeSet::new(), Vec::new());
    for w in wanted {
        let name = w.replace('-', "_");
        if !db.deps.contains_key(&name) && !db.builtin.contains(&name) {
            return Err(ImageError::MissingModule { name: w.clone(), kver: kver.into() });
        }
        db.order(&name, kver, &mut seen, &mut order)?;
    }
    let mdir = format!("/lib/modules/{kver}");
    let mut dep_subset = String::new();
    for name in &order {
        let path = &db.deps[name].0;
        tree.host_file(&format!("{mdir}/{path}"), base.join(path), 0o644);
        dep_subset.push_str(&db.lines[path]);
        dep_subset.push('\n');
    }
    tree.bytes(&format!("{mdir}/modules.dep"), dep_subset.into_bytes(), 0o644);
    for extra in ["modules.builtin", "modules.order"] {
        if base.join(extra).is_file() {
            tree.host_file(&format!("{mdir}/{extra}"), base.join(extra), 0o644);
        }
    }
    tree.bytes("/etc/routerlab/modules", (order.join("\n") + "\n").into_bytes(), 0o644);
    // The same order as paths under /lib/modules/KVER, for an `insmod` that takes a file
    // (OpenWrt's kmodloader has no modules.dep to read).
    let paths: Vec<&str> = order.iter().map(|n| db.deps[n].0.as_str()).collect();
    tree.bytes("/etc/routerlab/module-paths", (paths.join("\n") + "\n").into_bytes(), 0o644);
    Ok(order.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_names_normalise() {
        assert_eq!(super::mod_name("kernel/net/netfilter/nft_masq.ko"), "nft_masq");
        assert_eq!(super::mod_name("kernel/x/foo-bar.ko.xz"), "foo_bar");
    }
}
