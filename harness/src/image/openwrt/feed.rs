//! Install packages from opkg feeds onto a root, as opkg does: each package checked against
//! its index's SHA256sum, its `data.tar.gz` unpacked, `usr/lib/opkg/status` and
//! `info/*.control|.list` written (so `opkg list-installed` on the router tells the truth),
//! each package's `Alternatives` linked (the highest priority wins, as opkg decides), and
//! the `/etc/rc.d` links made from each init script's `START=`/`STOP=`.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{verify, OpenWrtSpec};
use crate::image::error::io;
use crate::image::{run_command, ImageError};

/// One stanza of a `Packages` index.
#[derive(Debug, Clone)]
struct Entry {
    fields: Vec<(String, String)>,
    /// The index it came from.
    index: PathBuf,
}

impl Entry {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn name(&self) -> &str {
        self.get("Package").unwrap_or_default()
    }
    /// `Depends`, each as its alternatives' bare names (versions dropped).
    fn depends(&self) -> Vec<Vec<String>> {
        let names = |alt: &str| alt.split('|').map(|a| a.split_whitespace().next().unwrap_or("").to_string()).collect();
        self.get("Depends").map(|d| d.split(',').map(names).collect()).unwrap_or_default()
    }
}

/// Parse a `Packages` index: stanzas of `Key: value` lines, continuation lines indented.
fn parse_index(text: &str, index: &Path) -> Result<Vec<Entry>, ImageError> {
    let mut out = Vec::new();
    for (n, stanza) in text.split("\n\n").enumerate().filter(|(_, s)| !s.trim().is_empty()) {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some((_, v)) = fields.last_mut() {
                    v.push('\n');
                    v.push_str(line);
                }
                continue;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| ImageError::Feed {
                index: index.into(),
                detail: format!("stanza {}: {line:?} is not `Key: value`", n + 1),
            })?;
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
        let e = Entry { fields, index: index.into() };
        if e.get("Package").is_none() || e.get("Filename").is_none() || e.get("SHA256sum").is_none() {
            let detail = format!("stanza {} lacks Package, Filename or SHA256sum", n + 1);
            return Err(ImageError::Feed { index: index.into(), detail });
        }
        out.push(e);
    }
    Ok(out)
}

/// An entry for a pinned `.ipk` that no index lists, from its own control file.
fn unindexed(ipk: &Path, sha256: &str) -> Result<Entry, ImageError> {
    let control = run_command(
        Command::new("sh").arg("-c").arg("tar -xzOf \"$0\" ./control.tar.gz | tar -xzOf - ./control").arg(ipk),
    )?;
    let mut e = parse_index(
        &format!(
            "{}\nFilename: {}\nSHA256sum: {sha256}\n",
            control.trim_end(),
            ipk.file_name().unwrap_or_default().to_string_lossy()
        ),
        ipk,
    )?
    .remove(0);
    e.index = ipk.to_path_buf();
    Ok(e)
}

/// What a feed install put on the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// name → version, every package installed.
    pub installed: BTreeMap<String, String>,
    /// Dependencies left to the recipe's `provided` (Debian's kernel modules).
    pub provided: BTreeSet<String>,
}

/// Every package `spec.install` needs, dependencies first by name, from the feeds in order.
fn resolve(spec: &OpenWrtSpec, entries: &[Entry], first: &Path) -> Result<(Vec<Entry>, BTreeSet<String>), ImageError> {
    let mut by_name: BTreeMap<&str, &Entry> = BTreeMap::new();
    for e in entries {
        by_name.entry(e.name()).or_insert(e);
        for p in e.get("Provides").unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            by_name.entry(p).or_insert(e);
        }
    }
    let (mut todo, mut seen, mut out, mut provided) =
        (spec.install.clone(), BTreeSet::new(), Vec::new(), BTreeSet::new());
    let is_provided = |n: &str| spec.provided.iter().any(|p| n.starts_with(p.as_str()));
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        // Provided beats the index: OpenWrt's kmod-* are listed but are for another kernel.
        if is_provided(&name) {
            provided.insert(name);
            continue;
        }
        let Some(e) = by_name.get(name.as_str()) else {
            let detail = format!("no feed has {name:?} (needed by the recipe's install list or a dependency)");
            return Err(ImageError::Feed { index: first.into(), detail });
        };
        if e.name() != name && !seen.insert(e.name().to_string()) {
            continue; // a virtual name whose provider is already in
        }
        for alts in e.depends() {
            let pick = alts.iter().find(|a| by_name.contains_key(a.as_str())).or(alts.first());
            todo.extend(pick.cloned());
        }
        out.push((*e).clone());
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok((out, provided))
}

pub(crate) fn install_feed(spec: &OpenWrtSpec, mirror: &Path, root: &Path) -> Result<FeedReport, ImageError> {
    let mut entries = Vec::new();
    for f in &spec.feeds {
        let index = verify(mirror, f)?;
        let text = std::fs::read_to_string(&index).map_err(io(&index))?;
        entries.extend(parse_index(&text, &index)?);
    }
    for p in &spec.packages {
        entries.push(unindexed(&verify(mirror, p)?, &p.sha256)?);
    }
    let first = super::mirror_path(mirror, &spec.feeds[0]);
    let (packages, provided) = resolve(spec, &entries, &first)?;
    let info = root.join("usr/lib/opkg/info");
    std::fs::create_dir_all(&info).map_err(io(&info))?;
    let mut status = String::new();
    let mut report = FeedReport { provided, ..Default::default() };
    for e in &packages {
        install_one(e, root, &info)?;
        status.push_str(&status_stanza(e));
        report.installed.insert(e.name().into(), e.get("Version").unwrap_or_default().into());
    }
    let path = root.join("usr/lib/opkg/status");
    std::fs::write(&path, status).map_err(io(&path))?;
    alternatives(&packages, root)?;
    rc_links(root)?;
    Ok(report)
}

/// Check one package against its index, unpack its data onto `root`, and keep its control
/// file and file list where opkg keeps them.
fn install_one(e: &Entry, root: &Path, info: &Path) -> Result<(), ImageError> {
    let dir = e.index.parent().unwrap_or(Path::new("."));
    let ipk = dir.join(e.get("Filename").unwrap_or_default());
    let want = e.get("SHA256sum").unwrap_or_default();
    if !ipk.is_file() {
        let detail = format!("{} is listed but {} is not in the mirror", e.name(), ipk.display());
        return Err(ImageError::Feed { index: e.index.clone(), detail });
    }
    let got = crate::image::build::sha256_file(&ipk)?;
    if !got.eq_ignore_ascii_case(want) {
        let upstream = format!("the feed's {}", e.get("Filename").unwrap_or_default());
        return Err(ImageError::PinMismatch { file: ipk, expected: want.into(), actual: got, upstream });
    }
    let tmp = info.join(format!(".unpack-{}", e.name()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    run_command(Command::new("tar").arg("-xzf").arg(&ipk).arg("-C").arg(&tmp))?;
    let list = run_command(Command::new("tar").arg("-tzf").arg(tmp.join("data.tar.gz")))?;
    run_command(Command::new("tar").arg("-xzf").arg(tmp.join("data.tar.gz")).arg("-C").arg(root))?;
    run_command(Command::new("tar").arg("-xzf").arg(tmp.join("control.tar.gz")).arg("-C").arg(&tmp))?;
    let files: String = list
        .lines()
        .filter_map(|l| l.strip_prefix('.').filter(|p| p.len() > 1 && !p.ends_with('/')))
        .map(|p| format!("{p}\n"))
        .collect();
    let name = e.name();
    std::fs::write(info.join(format!("{name}.list")), files).map_err(io(info))?;
    for f in ["control", "conffiles", "postinst", "prerm", "postrm", "preinst"] {
        if tmp.join(f).is_file() {
            std::fs::copy(tmp.join(f), info.join(format!("{name}.{f}"))).map_err(io(tmp.join(f)))?;
        }
    }
    std::fs::remove_dir_all(&tmp).map_err(io(&tmp))
}

/// `Alternatives: 100:/sbin/insmod:/sbin/kmodloader, ...`: for each link path, the target
/// of highest priority among the installed packages, as a symlink (what opkg makes; busybox
/// and ubox both offer `/sbin/insmod`, and the package data has no link of its own).
fn alternatives(packages: &[Entry], root: &Path) -> Result<(), ImageError> {
    let mut best: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for e in packages {
        for alt in e.get("Alternatives").unwrap_or_default().split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let mut parts = alt.splitn(3, ':');
            let (Some(prio), Some(path), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
                let detail = format!("{}: alternative {alt:?} is not PRIORITY:PATH:TARGET", e.name());
                return Err(ImageError::Feed { index: e.index.clone(), detail });
            };
            let prio: u32 = prio.parse().unwrap_or(0);
            if best.get(path).is_none_or(|(p, _)| prio > *p) {
                best.insert(path.to_string(), (prio, target.to_string()));
            }
        }
    }
    for (path, (_, target)) in best {
        let link = root.join(path.trim_start_matches('/'));
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(io(&link))?;
    }
    Ok(())
}

/// The package's stanza in `usr/lib/opkg/status`, as opkg writes it after an install.
fn status_stanza(e: &Entry) -> String {
    let mut s = String::new();
    for key in ["Package", "Version", "Depends", "Provides", "Alternatives", "Conflicts", "Essential", "Architecture"] {
        if let Some(v) = e.get(key) {
            s.push_str(&format!("{key}: {v}\n"));
        }
    }
    s.push_str("Status: install user installed\nInstalled-Time: 0\n\n");
    s
}

/// `/etc/rc.d/S<START><name>` and `K<STOP><name>` for each init script, as
/// `/etc/init.d/<name> enable` makes them.
fn rc_links(root: &Path) -> Result<(), ImageError> {
    let init = root.join("etc/init.d");
    let rc = root.join("etc/rc.d");
    std::fs::create_dir_all(&rc).map_err(io(&rc))?;
    let Ok(rd) = std::fs::read_dir(&init) else { return Ok(()) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for (key, prefix) in [("START=", 'S'), ("STOP=", 'K')] {
            let Some(n) = text.lines().find_map(|l| l.trim().strip_prefix(key)) else { continue };
            let link = rc.join(format!("{prefix}{}{name}", n.trim()));
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("../init.d/{name}"), &link).map_err(io(&link))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "Package: busybox\nVersion: 1.31.1-8\nDepends: libc, jsonfilter\nFilename: busybox.ipk\n\
SHA256sum: aa\nDescription:  The Swiss Army Knife\n of embedded Linux.\n\n\
Package: libc\nVersion: 1.1.24-3\nFilename: libc.ipk\nSHA256sum: bb\n\n\
Package: jsonfilter\nVersion: 2018\nDepends: libc, kmod-nft-core (>= 5.4), libubox20201212 | libubox\nFilename: j.ipk\nSHA256sum: cc\n\n\
Package: libubox20201212\nProvides: libubox\nVersion: 2020\nDepends: libc\nFilename: u.ipk\nSHA256sum: dd\n";

    fn spec(install: &[&str], provided: &[&str]) -> OpenWrtSpec {
        OpenWrtSpec {
            release: "x".into(),
            rootfs: None,
            feeds: Vec::new(),
            packages: Vec::new(),
            install: install.iter().map(|s| s.to_string()).collect(),
            provided: provided.iter().map(|s| s.to_string()).collect(),
            disable: Vec::new(),
        }
    }

    #[test]
    fn dependencies_resolve_through_alternatives_and_provides() {
        let entries = parse_index(INDEX, Path::new("Packages")).unwrap();
        assert_eq!(entries[0].get("Description"), Some("The Swiss Army Knife\n of embedded Linux."));
        let (pkgs, provided) = resolve(&spec(&["busybox"], &["kmod-"]), &entries, Path::new("Packages")).unwrap();
        let names: Vec<&str> = pkgs.iter().map(Entry::name).collect();
        assert_eq!(names, ["busybox", "jsonfilter", "libc", "libubox20201212"]);
        assert_eq!(provided, BTreeSet::from(["kmod-nft-core".to_string()]));
    }

    #[test]
    fn alternatives_link_the_highest_priority_target() {
        let text = "Package: busybox\nFilename: b\nSHA256sum: aa\nAlternatives: 50:/sbin/insmod:/bin/busybox\n\n\
Package: ubox\nFilename: u\nSHA256sum: bb\nAlternatives: 100:/sbin/insmod:/sbin/kmodloader, 100:/sbin/lsmod:/sbin/kmodloader\n";
        let entries = parse_index(text, Path::new("Packages")).unwrap();
        let d = tempfile::tempdir().unwrap();
        alternatives(&entries, d.path()).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("sbin/insmod")).unwrap(), Path::new("/sbin/kmodloader"));
        assert_eq!(std::fs::read_link(d.path().join("sbin/lsmod")).unwrap(), Path::new("/sbin/kmodloader"));
        let bad =
            parse_index("Package: x\nFilename: x\nSHA256sum: cc\nAlternatives: /sbin/x\n", Path::new("P")).unwrap();
        let e = alternatives(&bad, d.path()).unwrap_err().to_string();
        assert!(e.contains("alternative \"/sbin/x\" is not PRIORITY:PATH:TARGET"), "{e}");
    }

    #[test]
    fn an_unmet_dependency_and_a_broken_index_are_named() {
        let entries = parse_index(INDEX, Path::new("Packages")).unwrap();
        let e = resolve(&spec(&["busybox"], &[]), &entries, Path::new("Packages")).unwrap_err().to_string();
        assert!(e.contains("no feed has \"kmod-nft-core\""), "{e}");
        let e = parse_index("Package: x\nno colon here\n", Path::new("P")).unwrap_err().to_string();
        assert!(e.contains("stanza 1: \"no colon here\" is not `Key: value`"), "{e}");
        let e = parse_index("Package: x\nVersion: 1\n", Path::new("P")).unwrap_err().to_string();
        assert!(e.contains("lacks Package, Filename or SHA256sum"), "{e}");
    }
}
