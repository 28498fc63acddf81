use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::error::{io, SourceError};
use super::fetch::{self, Fetched, Origin};
use super::toolchain::{TargetFlags, ToolchainFile, Zig};
use super::{ipk, BuildFacts, Built, Recipe, SourcePlan};
use crate::template::{render, Vars};

/// Bump when the same inputs would build differently.
const BUILDER: &str = "routerlab-source-build 1";

/// Build `plan` for targets whose image is of Debian architecture `arch`, or find it in
/// the cache. The recipe's directory holds `toolchain.toml`, `deb-src.list` and `zig-cc.sh`.
pub fn build(plan: &SourcePlan, arch: &str, cache: &Path) -> Result<Built, SourceError> {
    // Absolute: apt and make run in other directories.
    let path = std::path::absolute(&plan.recipe).map_err(io(&plan.recipe))?;
    let recipe = Recipe::load(&path)?;
    let tc = ToolchainFile::load(&recipe.dir().join("toolchain.toml"))?;
    let flags = tc.target(arch)?;
    let fetched = fetch::fetch(&plan.origin, &recipe.dir().join("deb-src.list"), cache)?;
    let cc_template = recipe.dir().join("zig-cc.sh");
    let cc_text = std::fs::read_to_string(&cc_template).map_err(io(&cc_template))?;
    let key = key(&recipe, &tc, flags, &fetched, &cc_text)?;
    let dir = cache.join("builds/source").join(format!("{}-{arch}-{}", recipe.name, &key[..16]));
    if let Some(b) = cached(&dir) {
        return Ok(b);
    }
    let zig = Zig::ensure(&tc, cache)?;
    let t0 = Instant::now();
    let scratch = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    let work = scratch.join("src");
    fetch::unpack(&plan.origin, &fetched, &work)?;
    let log = scratch.join("build.log");
    for p in &recipe.patches {
        let file = recipe.dir().join(p);
        let f = std::fs::File::open(&file).map_err(io(&file))?;
        step(
            Command::new("patch").args(["-p1", "--forward"]).current_dir(&work).stdin(f),
            &format!("patch {}", p.display()),
            &log,
        )?;
    }
    let triple = flags.triple(recipe.libc);
    let cc = write_cc(&cc_text, &cc_template, &zig, triple, flags, &scratch)?;
    let mut make = Command::new("make");
    make.current_dir(&work).args(make_args(&recipe, &cc)?);
    make.env("ZIG_GLOBAL_CACHE_DIR", &zig.cache).env("ZIG_LOCAL_CACHE_DIR", scratch.join("zig-cache"));
    step(&mut make, &format!("make for {triple} ({})", recipe.path.display()), &log)?;
    let data = scratch.join("data");
    let files = install(&recipe, &work, &data)?;
    let version = version(&plan.origin, &fetched);
    let ipk_name = format!("{}_{version}_{}.ipk", recipe.name, flags.openwrt_arch);
    let control = ipk::Control {
        package: &recipe.name,
        version: &version,
        arch: &flags.openwrt_arch,
        source: &plan.origin.describe(),
        description: &recipe.description,
        installed_size: files.values().sum(),
    };
    ipk::write(&data, &control, &scratch, &scratch.join(&ipk_name))?;
    let ipk_bytes = std::fs::metadata(scratch.join(&ipk_name)).map_err(io(&scratch))?.len();
    let facts = BuildFacts {
        recipe: recipe.name.clone(),
        version,
        source: plan.origin.describe(),
        fingerprint: fetched.fingerprint.clone(),
        toolchain: format!("zig {}", zig.version),
        target: triple.into(),
        cflags: [flags.cpu.clone(), recipe.cflags.clone()].concat(),
        ldflags: recipe.ldflags.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        files,
        ipk: ipk_name,
        ipk_bytes,
    };
    finish(&scratch, &dir, &facts)?;
    let built = cached(&dir)
        .ok_or_else(|| SourceError::Io { path: dir.clone(), source: std::io::ErrorKind::NotFound.into() })?;
    Ok(Built { cache_hit: false, ..built })
}

/// The cache key: everything that can change the package.
fn key(recipe: &Recipe, tc: &ToolchainFile, flags: &TargetFlags, f: &Fetched, cc: &str) -> Result<String, SourceError> {
    let mut k = format!("{BUILDER}\n{}\n{}\n{}\n", tc.zig.version, tc.zig.sha256, f.fingerprint);
    k.push_str(&serde_json::to_string(flags).expect("flags serialize"));
    k.push_str(&std::fs::read_to_string(&recipe.path).map_err(io(&recipe.path))?);
    k.push_str(cc);
    for p in &recipe.patches {
        let file = recipe.dir().join(p);
        k.push_str(&crate::image::sha256_hex(&std::fs::read(&file).map_err(io(&file))?));
    }
    Ok(crate::image::sha256_hex(k.as_bytes()))
}

/// A finished build in `dir`, if there is one.
fn cached(dir: &Path) -> Option<Built> {
    let facts: BuildFacts = serde_json::from_str(&std::fs::read_to_string(dir.join("build.json")).ok()?).ok()?;
    let ipk = dir.join(&facts.ipk);
    ipk.is_file().then(|| Built { ipk, log: dir.join("build.log"), facts, cache_hit: true })
}

/// Keep the package, its facts and the log; drop the source, the objects, and what
/// dpkg-source left beside the tree.
fn finish(scratch: &Path, dir: &Path, facts: &BuildFacts) -> Result<(), SourceError> {
    for e in std::fs::read_dir(scratch).map_err(io(scratch))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "build.log" || name == facts.ipk {
            continue;
        }
        let p = e.path();
        let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        gone.map_err(io(&p))?;
    }
    let json = serde_json::to_string_pretty(facts).expect("facts serialize");
    std::fs::write(scratch.join("build.json"), json).map_err(io(scratch))?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(scratch, dir).map_err(io(dir))
}

/// The recipe's `make` arguments with the compiler and flags filled in.
fn make_args(recipe: &Recipe, cc: &Path) -> Result<Vec<String>, SourceError> {
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let vars: Vars = [
        ("cc", cc.display().to_string()),
        ("cflags", recipe.cflags.join(" ")),
        ("ldflags", recipe.ldflags.join(" ")),
        ("jobs", jobs.to_string()),
    ]
    .into();
    let name = recipe.path.display().to_string();
    Ok(recipe.make.iter().map(|a| render(&name, a, &vars)).collect::<Result<_, _>>()?)
}

/// The C compiler make calls: `zig cc` for the target, from `zig-cc.sh`.
fn write_cc(
    text: &str,
    template: &Path,
    zig: &Zig,
    triple: &str,
    flags: &TargetFlags,
    scratch: &Path,
) -> Result<PathBuf, SourceError> {
    let vars: Vars =
        [("zig", zig.bin.display().to_string()), ("triple", triple.into()), ("cpu", flags.cpu.join(" "))].into();
    let script = render(&template.display().to_string(), text, &vars)?;
    let cc = scratch.join("cc");
    std::fs::write(&cc, script).map_err(io(&cc))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).map_err(io(&cc))?;
    Ok(cc)
}

/// Copy the recipe's files from the built tree into the package's tree; their sizes.
fn install(recipe: &Recipe, work: &Path, data: &Path) -> Result<BTreeMap<String, u64>, SourceError> {
    let mut files = BTreeMap::new();
    for i in &recipe.install {
        let from = work.join(&i.from);
        if !from.is_file() {
            return Err(SourceError::NotBuilt { recipe: recipe.path.clone(), from: i.from.clone(), dir: work.into() });
        }
        let to = data.join(&i.to);
        std::fs::create_dir_all(to.parent().expect("a file has a parent")).map_err(io(&to))?;
        let bytes = std::fs::copy(&from, &to).map_err(io(&to))?;
        files.insert(i.to.clone(), bytes);
    }
    Ok(files)
}

/// The package version: Debian's, from the .dsc's name; else the fingerprint's start.
fn version(origin: &Origin, f: &Fetched) -> String {
    let from_dsc = || {
        let name = f.at.file_stem()?.to_string_lossy().into_owned();
        Some(name.split_once('_')?.1.to_string())
    };
    match origin {
        Origin::Debian(_) => from_dsc().unwrap_or_else(|| "0".into()),
        Origin::Dir(_) | Origin::Tarball(_) => format!("0+{}", &f.fingerprint[..12]),
    }
}

/// Run one build step with its output appended to `log`; on failure, the log's tail.
fn step(cmd: &mut Command, what: &str, log: &Path) -> Result<(), SourceError> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(io(log))?;
    writeln!(f, "==> {what}").map_err(io(log))?;
    let out = f.try_clone().map_err(io(log))?;
    cmd.stdout(Stdio::from(out)).stderr(Stdio::from(f));
    let status = cmd.status().map_err(|source| SourceError::Spawn { command: what.into(), source })?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    Err(SourceError::Step { what: what.into(), status: status.to_string(), log: log.into(), tail })
}
