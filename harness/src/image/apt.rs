//! Debian packages for a foreign architecture through a private apt state directory:
//! the host's dpkg configuration is never touched (no `dpkg --add-architecture`).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use super::error::io;
use super::ImageError;

/// A resolved package and its downloaded .deb.
#[derive(Debug, Clone)]
pub(crate) struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub path: PathBuf,
}

pub(crate) struct AptState {
    dir: PathBuf,
    arch: String,
    /// Options beyond the private state (a sources list of its own).
    extra: Vec<String>,
}

/// How old the package lists may be before `apt-get update` runs again.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl AptState {
    pub fn new(cache_root: &Path, arch: &str) -> Result<AptState, ImageError> {
        let dir = cache_root.join("apt").join(arch);
        for sub in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(dir.join(sub)))?;
        }
        Ok(AptState { dir, arch: arch.to_string(), extra: Vec::new() })
    }

    /// A private state for Debian source packages: `list` is its whole sources list
    /// (`deb-src` lines), in place of the host's.
    pub fn sources(cache_root: &Path, list: &Path) -> Result<AptState, ImageError> {
        // One state per list: another list must not find this one's indexes fresh.
        let text = std::fs::read(list).map_err(io(list))?;
        let dir = cache_root.join("apt").join(format!("source-{}", &super::sha256_hex(&text)[..12]));
        for sub in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(dir.join(sub)))?;
        }
        let extra = vec![
            format!("-oDir::Etc::SourceList={}", list.display()),
            format!("-oDir::Etc::SourceParts={}", dir.join("sources.list.d").display()),
        ];
        // Source packages have no architecture; the host's stands in.
        Ok(AptState { dir, arch: "amd64".into(), extra })
    }

    /// `apt-get source --download-only SPEC` into `dest` (`name` or `name=version`): the
    /// .dsc and the tarballs it lists, each checked by apt against the signed Sources index.
    /// Returns the .dsc.
    /// A pinned `name=version` already fetched is not asked for again: every cell stages
    /// its build, and apt would only find the same files.
    pub fn source(&self, spec: &str, dest: &Path) -> Result<Option<PathBuf>, ImageError> {
        std::fs::create_dir_all(dest).map_err(io(dest))?;
        let (name, version) = spec.split_once('=').unwrap_or((spec, ""));
        let version = version.split_once(':').map(|(_, v)| v).unwrap_or(version);
        let find = || -> Result<Option<PathBuf>, ImageError> {
            Ok(std::fs::read_dir(dest).map_err(io(dest))?.flatten().map(|e| e.path()).find(|p| {
                let f = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                // Exactly the version asked for; any version of the package when none was.
                let exact = format!("{name}_{version}.dsc");
                f.ends_with(".dsc") && if version.is_empty() { f.starts_with(&format!("{name}_")) } else { f == exact }
            }))
        };
        if !version.is_empty() {
            if let Some(dsc) = find()? {
                return Ok(Some(dsc));
            }
        }
        self.apt_in(&["source", "--download-only", "-qq", spec], Some(dest))?;
        find()
    }

    fn apt(&self, args: &[&str]) -> Result<String, ImageError> {
        self.apt_in(args, None)
    }

    fn apt_in(&self, args: &[&str], cwd: Option<&Path>) -> Result<String, ImageError> {
        let d = self.dir.display();
        let opts = [
            format!("-oAPT::Architecture={}", self.arch),
            format!("-oAPT::Architectures::={}", self.arch),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
            "-oDir::State::status=/dev/null".into(),
            "-oDebug::NoLocking=1".into(),
            "-oAPT::Get::AllowUnauthenticated=false".into(),
        ];
        let mut cmd = Command::new("apt-get");
        cmd.args(&opts).args(&self.extra).args(args).env("DEBIAN_FRONTEND", "noninteractive");
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        run(&mut cmd)
    }

    /// Download exactly these packages (`name` or `name=version`), without dependencies,
    /// into `dest`; returns the .deb files there. Proxy builds use the image's libraries.
    pub fn download(&self, specs: &[String], dest: &Path) -> Result<Vec<PathBuf>, ImageError> {
        std::fs::create_dir_all(dest).map_err(io(dest))?;
        let mut args = vec!["download", "-qq"];
        args.extend(specs.iter().map(String::as_str));
        self.apt_in(&args, Some(dest))?;
        let mut got = debs_in(dest);
        got.retain(|p| specs.iter().any(|s| deb_matches(p, s)));
        Ok(got)
    }

    /// `apt-get update` into the private lists, unless they are fresh.
    pub fn update_if_stale(&self) -> Result<(), ImageError> {
        let stamp = self.dir.join("lists/.routerlab-updated");
        let fresh = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < LISTS_MAX_AGE);
        if !fresh {
            tracing::info!(arch = %self.arch, "apt-get update (private state in {})", self.dir.display());
            self.apt(&["update", "-qq"])?;
            std::fs::write(&stamp, b"").map_err(io(&stamp))?;
        }
        Ok(())
    }

    /// Resolve `packages` with their dependencies (no recommends) and download them.
    pub fn fetch(&self, packages: &[String]) -> Result<Vec<Deb>, ImageError> {
        let mut args = vec!["install", "-s", "-y", "--no-install-recommends"];
        args.extend(packages.iter().map(String::as_str));
        let plan = self.apt(&args)?;
        let debs: Vec<Deb> = plan.lines().filter_map(|l| parse_inst(l, &self.dir)).collect();
        let mut args = vec!["install", "--download-only", "-y", "-qq", "--no-install-recommends"];
        args.extend(packages.iter().map(String::as_str));
        self.apt(&args)?;
        for d in &debs {
            if !d.path.is_file() {
                return Err(ImageError::Missing {
                    what: "downloaded package",
                    name: d.name.clone(),
                    arch: self.arch.clone(),
                    path: d.path.clone(),
                });
            }
        }
        Ok(debs)
    }
}

fn debs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "deb")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether `haproxy_2.6.12-1+deb12u3_arm64.deb` is what `haproxy=2.6.12-1+deb12u3` (or
/// `haproxy`) asked for. apt escapes ':' in versions as %3a.
fn deb_matches(p: &Path, spec: &str) -> bool {
    let file = p.file_name().map(|n| n.to_string_lossy().replace("%3a", ":")).unwrap_or_default();
    let (name, version) = spec.split_once('=').unwrap_or((spec, ""));
    let mut parts = file.splitn(3, '_');
    let (n, v) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    n == name && (version.is_empty() || v == version)
}

/// `Inst haproxy (2.6.12-1+deb12u4 Debian:12.12/stable [arm64])` → a Deb.
fn parse_inst(line: &str, dir: &Path) -> Option<Deb> {
    let rest = line.strip_prefix("Inst ")?;
    let (name, rest) = rest.split_once(' ')?;
    let inner = rest.strip_prefix('(')?.split(')').next()?;
    let version = inner.split_whitespace().next()?.to_string();
    let arch = inner.rsplit('[').next()?.trim_end_matches(']').to_string();
    let file = format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"));
    Some(Deb { name: name.to_string(), path: dir.join("cache/archives").join(file), version, arch })
}

/// Run a command, returning stdout, or an error with its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String, ImageError> {
    let command = format!("{:?}", cmd).replace('"', "");
    let out = cmd.output().map_err(|source| ImageError::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(ImageError::Command {
            command,
            status: out.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simulated_install_lines() {
        let d = parse_inst("Inst busybox-static (1:1.35.0-4+deb12u1+b1 Debian:12.12/stable [arm64])", Path::new("/c"))
            .unwrap();
        assert_eq!(
            (d.name.as_str(), d.version.as_str(), d.arch.as_str()),
            ("busybox-static", "1:1.35.0-4+deb12u1+b1", "arm64")
        );
        assert_eq!(d.path, Path::new("/c/cache/archives/busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"));
        assert!(parse_inst("Conf haproxy (2.6 Debian [arm64])", Path::new("/")).is_none());
    }
}
