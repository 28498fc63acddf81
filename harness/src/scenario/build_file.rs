//! Proxy builds: the image's own package, or an alternate build (a binary, `.deb`s, `.ipk`s
//! or Debian packages fetched for the target's architecture) with an optional config
//! template. `[[proxy.build]]` in a scenario and `run --builds FILE` share this format.
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::ctx::Ctx;
use super::plan::{kebab, ClientIpHeaderMode, ProxyKind};
use super::raw::{RawBuild, RawSource};
use super::ScenarioError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildSource {
    /// The proxy the router image ships.
    Image,
    Binary(PathBuf),
    Deb(Vec<PathBuf>),
    Ipk(Vec<PathBuf>),
    /// Debian package specs (`name` or `name=version`) for the target's architecture.
    Apt(Vec<String>),
    /// Built from source for the target by a recipe, as an .ipk.
    Source(crate::source::SourcePlan),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildPlan {
    pub name: String,
    pub source: BuildSource,
    /// The binary inside the unpacked build (ignored for `Image`).
    pub path: String,
    pub config: Option<PathBuf>,
    pub start: Option<String>,
    pub process: Option<String>,
}

impl BuildPlan {
    /// The build a scenario runs when it names none: the image's own proxy.
    pub fn image() -> BuildPlan {
        BuildPlan {
            name: "image".into(),
            source: BuildSource::Image,
            path: String::new(),
            config: None,
            start: None,
            process: None,
        }
    }
    pub fn describe_source(&self) -> String {
        let join = |v: &[PathBuf]| v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        match &self.source {
            BuildSource::Image => "image".into(),
            BuildSource::Binary(p) => format!("binary {}", p.display()),
            BuildSource::Deb(v) => format!("deb {}", join(v)),
            BuildSource::Ipk(v) => format!("ipk {}", join(v)),
            BuildSource::Apt(v) => format!("apt {}", v.join(", ")),
            BuildSource::Source(s) => format!("{} by {}", s.origin.describe(), s.recipe.display()),
        }
    }
}

/// Read a build file (`run --builds`). Relative paths are relative to the file.
pub fn load_build(
    path: &Path,
    kind: ProxyKind,
    header: Option<ClientIpHeaderMode>,
) -> Result<BuildPlan, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.into(), source })?;
    let c = Ctx { path, text: &text };
    let raw: RawBuild = toml::from_str(&text).or_else(|e| c.err(e.span().unwrap_or(0..0), "-", e.message().trim()))?;
    build_plan(&c, &raw, "", kind, header)
}

/// Validate one build. `field` prefixes error fields (`proxy.build[1].` in a scenario).
pub(crate) fn build_plan(
    c: &Ctx<'_>,
    raw: &RawBuild,
    field: &str,
    kind: ProxyKind,
    header: Option<ClientIpHeaderMode>,
) -> Result<BuildPlan, ScenarioError> {
    let name = raw.name.get_ref();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return c.err(raw.name.span(), &format!("{field}name"), "use letters, digits, '-', '_' and '.'");
    }
    let source = source(c, raw, field)?;
    let default_path = crate::scenario::kinds::facts(kind).binary.as_deref().unwrap_or_default();
    let path = match (&raw.path, &source) {
        (Some(p), _) => p.get_ref().trim_start_matches('/').to_string(),
        (None, BuildSource::Binary(b)) => format!("bin/{}", b.file_name().unwrap_or_default().to_string_lossy()),
        (None, _) => default_path.to_string(),
    };
    let config = match &raw.config {
        Some(t) if !relative(c, t.get_ref()).is_file() => {
            let shown = relative(c, t.get_ref()).display().to_string();
            return c.err(t.span(), &format!("{field}config"), format!("{shown} does not exist"));
        }
        Some(t) => Some(relative(c, t.get_ref())),
        None => None,
    };
    let plan = BuildPlan {
        name: name.clone(),
        source,
        path,
        config,
        start: raw.start.as_ref().map(|s| s.get_ref().clone()),
        process: raw.process.as_ref().map(|s| s.get_ref().clone()),
    };
    fits_kind(c, raw, field, kind, &plan)?;
    sends(c, raw, field, header)?;
    Ok(plan)
}

/// A build that says what it can send (`client-ip-headers`) must be able to send what the
/// scenario asks for.
fn sends(c: &Ctx<'_>, raw: &RawBuild, field: &str, header: Option<ClientIpHeaderMode>) -> Result<(), ScenarioError> {
    let Some(list) = &raw.client_ip_headers else { return Ok(()) };
    let field = format!("{field}client-ip-headers");
    let known: Vec<&str> = ClientIpHeaderMode::ALL.iter().map(|(n, _)| *n).collect();
    if let Some(bad) = list.get_ref().iter().find(|h| !known.contains(&h.as_str())) {
        return c.err(list.span(), &field, format!("{bad:?} is not one of {}", known.join(", ")));
    }
    match header.map(|h| kebab(&h)) {
        Some(h) if !list.get_ref().contains(&h) => c.err(
            list.span(),
            &field,
            format!(
                "build {:?} sends only {}; the scenario asks for {h}",
                raw.name.get_ref(),
                list.get_ref().join(", ")
            ),
        ),
        _ => Ok(()),
    }
}

/// A path as the scenario file wrote it, relative to the file's directory.
fn relative(c: &Ctx<'_>, p: &str) -> PathBuf {
    let base = c.path.parent().unwrap_or(Path::new("."));
    if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        base.join(p)
    }
}

/// Where the build comes from: at most one of binary, deb, ipk or apt; the image's own
/// proxy when none is given.
fn source(c: &Ctx<'_>, raw: &RawBuild, field: &str) -> Result<BuildSource, ScenarioError> {
    let given: Vec<(&str, std::ops::Range<usize>)> = [
        raw.binary.as_ref().map(|s| ("binary", s.span())),
        raw.deb.as_ref().map(|s| ("deb", s.span())),
        raw.ipk.as_ref().map(|s| ("ipk", s.span())),
        raw.apt.as_ref().map(|s| ("apt", s.span())),
        raw.source.as_ref().map(|s| ("source", s.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let [_, (second, span), ..] = given.as_slice() {
        return c.err(span.clone(), &format!("{field}{second}"), "give one of binary, deb, ipk, apt or source");
    }
    let files = |v: &Spanned<Vec<String>>, what: &str, ext: &str| -> Result<Vec<PathBuf>, ScenarioError> {
        if v.get_ref().is_empty() {
            return c.err(v.span(), &format!("{field}{what}"), format!("list at least one .{ext} file"));
        }
        v.get_ref()
            .iter()
            .map(|p| {
                let full = relative(c, p);
                if !p.ends_with(&format!(".{ext}")) {
                    c.err(v.span(), &format!("{field}{what}"), format!("{p:?} is not a .{ext} file"))
                } else if !full.is_file() {
                    c.err(v.span(), &format!("{field}{what}"), format!("{} does not exist", full.display()))
                } else {
                    Ok(full)
                }
            })
            .collect()
    };
    Ok(if let Some(b) = &raw.binary {
        let p = relative(c, b.get_ref());
        if !p.is_file() {
            return c.err(b.span(), &format!("{field}binary"), format!("{} does not exist", p.display()));
        }
        BuildSource::Binary(p)
    } else if let Some(d) = &raw.deb {
        BuildSource::Deb(files(d, "deb", "deb")?)
    } else if let Some(i) = &raw.ipk {
        BuildSource::Ipk(files(i, "ipk", "ipk")?)
    } else if let Some(a) = &raw.apt {
        if a.get_ref().is_empty() || a.get_ref().iter().any(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            let msg = "list package specs like \"haproxy\" or \"haproxy=2.6.12-1+deb12u3\"";
            return c.err(a.span(), &format!("{field}apt"), msg);
        }
        BuildSource::Apt(a.get_ref().clone())
    } else if let Some(s) = &raw.source {
        BuildSource::Source(source_plan(c, s, field)?)
    } else {
        BuildSource::Image
    })
}

/// `dsc = URL` with its `sha256`: an http(s) address of a .dsc, pinned.
fn dsc_origin(
    c: &Ctx<'_>,
    span: std::ops::Range<usize>,
    f: &str,
    url: &str,
    sha256: Option<&str>,
) -> Result<crate::source::Origin, ScenarioError> {
    let web = url.starts_with("http://") || url.starts_with("https://");
    if !web || !url.ends_with(".dsc") {
        return c.err(span, &format!("{f}.dsc"), "the http(s) address of a .dsc file");
    }
    match sha256 {
        Some(h) if crate::image::is_sha256_hex(h) => {
            Ok(crate::source::Origin::Dsc { url: url.into(), sha256: h.to_ascii_lowercase() })
        }
        Some(_) => c.err(span, &format!("{f}.sha256"), "64 hex digits: the .dsc's sha256"),
        None => c.err(span, &format!("{f}.sha256"), "a dsc needs its sha256 (sha256sum of the .dsc): the pin"),
    }
}

/// A `source` table: exactly one origin, and a recipe and local source that exist.
fn source_plan(c: &Ctx<'_>, s: &Spanned<RawSource>, field: &str) -> Result<crate::source::SourcePlan, ScenarioError> {
    use crate::source::Origin;
    let (span, raw) = (s.span(), s.get_ref());
    let f = format!("{field}source");
    let origin = match (&raw.debian, &raw.dsc, &raw.dir, &raw.tarball) {
        (Some(d), None, None, None) if !d.is_empty() && !d.contains(char::is_whitespace) => Origin::Debian(d.clone()),
        (Some(_), None, None, None) => {
            return c.err(span, &format!("{f}.debian"), "a source package like \"haproxy=2.6.12-1+deb12u3\"")
        }
        (None, Some(url), None, None) => dsc_origin(c, span.clone(), &f, url, raw.sha256.as_deref())?,
        (None, None, Some(d), None) => Origin::Dir(relative(c, d)),
        (None, None, None, Some(t)) => Origin::Tarball(relative(c, t)),
        _ => return c.err(span, &f, "give one of debian, dsc, dir or tarball"),
    };
    if raw.sha256.is_some() && raw.dsc.is_none() {
        return c.err(span, &format!("{f}.sha256"), "pins a dsc; give dsc too, or leave sha256 out");
    }
    let exists = match &origin {
        Origin::Dir(d) => d.is_dir(),
        Origin::Tarball(t) => t.is_file(),
        Origin::Debian(_) | Origin::Dsc { .. } => true,
    };
    if !exists {
        return c.err(span, &f, format!("{} does not exist", origin.describe()));
    }
    let recipe = relative(c, &raw.recipe);
    if !recipe.is_file() {
        return c.err(span, &format!("{f}.recipe"), format!("{} does not exist", recipe.display()));
    }
    let patches: Vec<PathBuf> = raw.patches.iter().map(|p| relative(c, p)).collect();
    if let Some((i, p)) = patches.iter().enumerate().find(|(_, p)| !p.is_file()) {
        return c.err(span, &format!("{f}.patches[{i}]"), format!("{} does not exist", p.display()));
    }
    Ok(crate::source::SourcePlan { origin, recipe, patches })
}

/// A custom proxy needs everything said; l4-forward takes no build at all.
fn fits_kind(c: &Ctx<'_>, raw: &RawBuild, field: &str, kind: ProxyKind, b: &BuildPlan) -> Result<(), ScenarioError> {
    if kind == ProxyKind::Custom {
        let span = raw.name.span();
        for (what, missing) in [
            ("binary, deb, ipk, apt or source", b.source == BuildSource::Image),
            ("config", b.config.is_none()),
            ("start", b.start.is_none()),
            ("process", b.process.is_none()),
        ] {
            if missing {
                let f = format!("{field}{}", what.split(',').next().unwrap_or(what));
                return c.err(span.clone(), &f, format!("a custom proxy build needs {what}"));
            }
        }
        if b.path.is_empty() {
            return c.err(span, &format!("{field}path"), "name the binary inside the package, e.g. \"usr/sbin/hitch\"");
        }
    }
    if kind == ProxyKind::L4Forward && b.source != BuildSource::Image {
        return c.err(
            raw.name.span(),
            &format!("{field}name"),
            "l4-forward has no proxy build: it is the kernel's NAT",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "name = \"t\"\ntargets = [\"aarch64-virt\"]\n[expect]\nclient-ip = \"preserved\"\n";

    /// A scenario with `proxy` as its [proxy] body, in a directory holding `files`.
    fn plan(proxy: &str, files: &[&str]) -> Result<crate::scenario::Plan, ScenarioError> {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        let p = d.path().join("s.toml");
        std::fs::write(&p, format!("{HEAD}[proxy]\n{proxy}")).unwrap();
        crate::scenario::load_plan(&p)
    }

    fn err(proxy: &str, files: &[&str]) -> String {
        plan(proxy, files).expect_err("should be refused").to_string()
    }

    const HAPROXY: &str = "kind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"\n";
    const HITCH: &str = "kind = \"custom\"\nmode = \"terminate-plain\"\nclient-ip-header = \"proxy-v2\"\n";

    #[test]
    fn no_build_means_the_image_build() {
        let p = plan(HAPROXY, &[]).unwrap();
        assert_eq!(p.proxy.builds, vec![BuildPlan::image()]);
    }

    #[test]
    fn builds_resolve_paths_next_to_the_scenario() {
        let text = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\n[[proxy.build]]\nname = \"b\"\ndeb = [\"h.deb\"]\nconfig = \"t.cfg\"\n");
        let p = plan(&text, &["h.deb", "t.cfg"]).unwrap();
        assert_eq!(p.proxy.builds.len(), 2);
        let b = &p.proxy.builds[1];
        assert!(matches!(&b.source, BuildSource::Deb(v) if v[0].ends_with("h.deb") && v[0].is_absolute()), "{b:?}");
        assert_eq!(b.path, "usr/sbin/haproxy");
        assert!(b.config.as_ref().unwrap().ends_with("t.cfg"));
    }

    #[test]
    fn bad_builds_name_the_field_and_the_problem() {
        let two = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\ndeb = [\"h.deb\"]\napt = [\"haproxy\"]\n");
        assert!(err(&two, &["h.deb"]).contains("proxy.build[1].apt: give one of binary, deb, ipk, apt or source"));
        let missing = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\ndeb = [\"gone.deb\"]\n");
        assert!(err(&missing, &[]).contains("gone.deb does not exist"));
        let ext = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\nipk = [\"h.deb\"]\n");
        assert!(err(&ext, &["h.deb"]).contains("is not a .ipk file"));
        let dup = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\n[[proxy.build]]\nname = \"a\"\n");
        assert!(err(&dup, &[]).contains("proxy.build[2].name: \"a\" is used twice"));
        let spec = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\napt = [\"haproxy 2.6\"]\n");
        assert!(err(&spec, &[]).contains("proxy.build[1].apt"));
        let unknown = format!("{HAPROXY}[[proxy.build]]\nname = \"a\"\nbinray = \"x\"\n");
        assert!(err(&unknown, &[]).contains("unknown field `binray`"), "{}", err(&unknown, &[]));
    }

    #[test]
    fn a_source_build_names_one_origin_and_a_recipe_that_exist() {
        let b = |src: &str| format!("{HAPROXY}[[proxy.build]]\nname = \"s\"\nsource = {{ {src} }}\n");
        let ok = plan(&b("debian = \"haproxy=2.6.12-1\", recipe = \"r.toml\""), &["r.toml"]).unwrap();
        let got = &ok.proxy.builds[0];
        let BuildSource::Source(s) = &got.source else { panic!("{got:?}") };
        assert_eq!(s.origin, crate::source::Origin::Debian("haproxy=2.6.12-1".into()));
        assert!(s.recipe.is_absolute() && s.recipe.ends_with("r.toml"));
        assert_eq!(got.path, "usr/sbin/haproxy", "the kind's binary");
        let e = err(&b("recipe = \"r.toml\""), &["r.toml"]);
        assert!(e.contains("proxy.build[1].source: give one of debian, dsc, dir or tarball"), "{e}");
        let e = err(&b("debian = \"haproxy\", dir = \"src\", recipe = \"r.toml\""), &["r.toml"]);
        assert!(e.contains("give one of debian, dsc, dir or tarball"), "{e}");
        let e = err(&b("debian = \"haproxy\", recipe = \"gone.toml\""), &[]);
        assert!(e.contains("proxy.build[1].source.recipe") && e.contains("gone.toml does not exist"), "{e}");
        let e = err(&b("tarball = \"gone.tar.gz\", recipe = \"r.toml\""), &["r.toml"]);
        assert!(e.contains("tarball") && e.contains("gone.tar.gz does not exist"), "{e}");
        let e = err(&b("debian = \"haproxy 2.6\", recipe = \"r.toml\""), &["r.toml"]);
        assert!(e.contains("proxy.build[1].source.debian"), "{e}");
        let e = err(&b("debian = \"haproxy\", recipe = \"r.toml\", flavour = 1"), &["r.toml"]);
        assert!(e.contains("unknown field `flavour`"), "{e}");
        let e = err(
            &b("debian = \"haproxy\", recipe = \"r.toml\", patches = [\"p.patch\", \"gone.patch\"]"),
            &["r.toml", "p.patch"],
        );
        assert!(e.contains("proxy.build[1].source.patches[1]") && e.contains("gone.patch does not exist"), "{e}");
        let ok = plan(&b("debian = \"haproxy\", recipe = \"r.toml\", patches = [\"p.patch\"]"), &["r.toml", "p.patch"]);
        let BuildSource::Source(s) = &ok.unwrap().proxy.builds[0].source else { panic!() };
        assert!(s.patches.len() == 1 && s.patches[0].is_absolute() && s.patches[0].ends_with("p.patch"), "{s:?}");
    }

    #[test]
    fn a_dsc_source_is_an_http_address_pinned_by_its_sha256() {
        let b =
            |src: &str| format!("{HAPROXY}[[proxy.build]]\nname = \"s\"\nsource = {{ {src}, recipe = \"r.toml\" }}\n");
        let url = "http://deb.debian.org/debian/pool/main/h/haproxy/haproxy_3.0.11-1+deb13u3.dsc";
        let sha = "11E6FC6750BE89DBE61E9AB2B338254957A2724D1F2B5D0B9EA707556A9EBB1F";
        let ok = plan(&b(&format!("dsc = \"{url}\", sha256 = \"{sha}\"")), &["r.toml"]).unwrap();
        let BuildSource::Source(s) = &ok.proxy.builds[0].source else { panic!() };
        let want = crate::source::Origin::Dsc { url: url.into(), sha256: sha.to_ascii_lowercase() };
        assert_eq!(s.origin, want);
        assert_eq!(s.origin.describe(), "Debian source haproxy_3.0.11-1+deb13u3.dsc");
        let e = err(&b(&format!("dsc = \"{url}\"")), &["r.toml"]);
        assert!(e.contains("proxy.build[1].source.sha256: a dsc needs its sha256"), "{e}");
        let e = err(&b(&format!("dsc = \"{url}\", sha256 = \"abc\"")), &["r.toml"]);
        assert!(e.contains("source.sha256: 64 hex digits"), "{e}");
        let e = err(&b(&format!("dsc = \"/tmp/x.dsc\", sha256 = \"{sha}\"")), &["r.toml"]);
        assert!(e.contains("source.dsc: the http(s) address of a .dsc file"), "{e}");
        let e = err(&b(&format!("debian = \"haproxy\", sha256 = \"{sha}\"")), &["r.toml"]);
        assert!(e.contains("source.sha256: pins a dsc"), "{e}");
        let e = err(&b(&format!("debian = \"haproxy\", dsc = \"{url}\", sha256 = \"{sha}\"")), &["r.toml"]);
        assert!(e.contains("give one of debian, dsc, dir or tarball"), "{e}");
    }

    #[test]
    fn custom_needs_a_build_that_says_how_to_run() {
        assert!(err(HITCH, &[]).contains("proxy.build: a custom proxy needs a [[proxy.build]]"));
        let no_start = format!("{HITCH}[[proxy.build]]\nname = \"h\"\napt = [\"hitch\"]\npath = \"usr/sbin/hitch\"\nconfig = \"h.conf\"\nprocess = \"hitch\"\n");
        assert!(err(&no_start, &["h.conf"]).contains("proxy.build[1].start: a custom proxy build needs start"));
        let image =
            format!("{HITCH}[[proxy.build]]\nname = \"h\"\nconfig = \"h.conf\"\nstart = \"x\"\nprocess = \"x\"\n");
        assert!(err(&image, &["h.conf"]).contains("needs binary, deb, ipk, apt or source"));
        let ok = format!("{no_start}start = \"{{bin}} --config={{config}}\"\n");
        let p = plan(&ok, &["h.conf"]).unwrap();
        assert_eq!(p.proxy.builds[0].process.as_deref(), Some("hitch"));
    }

    #[test]
    fn build_files_load_with_the_scenarios_kind() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("b.toml");
        std::fs::write(&f, "name = \"alt\"\napt = [\"haproxy=2.6.12-1+deb12u3\"]\n").unwrap();
        let b = load_build(&f, ProxyKind::Haproxy, None).unwrap();
        assert_eq!(b.source, BuildSource::Apt(vec!["haproxy=2.6.12-1+deb12u3".into()]));
        std::fs::write(&f, "name = \"alt\"\napt = [\"haproxy\"]\n").unwrap();
        assert!(load_build(&f, ProxyKind::L4Forward, None)
            .unwrap_err()
            .to_string()
            .contains("l4-forward has no proxy build"));
        std::fs::write(&f, "name = \"a b\"\n").unwrap();
        let e = load_build(&f, ProxyKind::Haproxy, None).unwrap_err().to_string();
        assert!(e.contains("b.toml:1:8: name:"), "{e}");
    }

    #[test]
    fn a_build_that_says_what_it_sends_is_held_to_it() {
        use ClientIpHeaderMode::{ProxyV1, ProxyV2};
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("b.toml");
        std::fs::write(&f, "name = \"v1only\"\napt = [\"x\"]\nclient-ip-headers = [\"proxy-v1\"]\n").unwrap();
        assert!(load_build(&f, ProxyKind::Haproxy, Some(ProxyV1)).is_ok());
        let e = load_build(&f, ProxyKind::Haproxy, Some(ProxyV2)).unwrap_err().to_string();
        assert!(
            e.contains(
                "b.toml:3:21: client-ip-headers: build \"v1only\" sends only proxy-v1; the scenario asks for proxy-v2"
            ),
            "{e}"
        );
        std::fs::write(&f, "name = \"x\"\napt = [\"x\"]\nclient-ip-headers = [\"proxy-v3\"]\n").unwrap();
        let e = load_build(&f, ProxyKind::Haproxy, None).unwrap_err().to_string();
        assert!(e.contains("client-ip-headers: \"proxy-v3\" is not one of"), "{e}");
    }
}
