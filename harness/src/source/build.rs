use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::{io, SourceError};
use super::fetch::{self, Fetched};
use super::steps::{self, Env};
use super::toolchain::{TargetFlags, ToolchainFile, Zig};
use super::{ipk, BuildFacts, Built, Recipe, SourcePlan};

/// Bump when the same inputs would build differently.
const BUILDER: &str = "routerlab-source-build 1";

/// How deep `needs` may go: a program, its library, that library's library, and so on.
const MAX_DEPTH: usize = 4;

/// Build `plan` for targets whose image is of Debian architecture `arch`, or find it in
/// the cache. The recipe's directory holds `toolchain.toml`, `deb-src.list` and `zig-cc.sh`.
pub fn build(plan: &SourcePlan, arch: &str, cache: &Path) -> Result<Built, SourceError> {
    let made = made(plan, arch, cache, 0)?;
    let Some(ipk) = made.facts.ipk.clone() else {
        let message = "library = true: it builds a library for other recipes' needs, not a proxy".into();
        return Err(SourceError::Invalid { path: plan.recipe.clone(), message });
    };
    Ok(Built { ipk: made.dir.join(ipk), log: made.dir.join("build.log"), facts: made.facts, cache_hit: made.cache_hit })
}

/// A finished build: its cache directory (the package or the library's `tree/`, the log,
/// `build.json`) and whether it was there already.
struct Made {
    dir: PathBuf,
    facts: BuildFacts,
    cache_hit: bool,
}

/// Everything a build is made of, resolved and hashed, before anything is compiled.
struct Inputs {
    plan: SourcePlan,
    recipe: Recipe,
    tc: ToolchainFile,
    fetched: Fetched,
    cc_text: String,
    libs: Vec<Made>,
}

fn made(plan: &SourcePlan, arch: &str, cache: &Path, depth: usize) -> Result<Made, SourceError> {
    // Absolute: apt and make run in other directories.
    let path = std::path::absolute(&plan.recipe).map_err(io(&plan.recipe))?;
    let recipe = Recipe::load(&path)?;
    if depth >= MAX_DEPTH {
        let message = format!("needs go {MAX_DEPTH} deep; does a library need itself?");
        return Err(SourceError::Invalid { path, message });
    }
    let libs = recipe.need_plans()?.iter().map(|n| made(n, arch, cache, depth + 1)).collect::<Result<_, _>>()?;
    let tc = ToolchainFile::load(&recipe.dir().join("toolchain.toml"))?;
    let fetched = fetch::fetch(&plan.origin, &recipe.dir().join("deb-src.list"), cache)?;
    let cc_template = recipe.dir().join("zig-cc.sh");
    let cc_text = std::fs::read_to_string(&cc_template).map_err(io(&cc_template))?;
    let inputs = Inputs { plan: plan.clone(), recipe, tc, fetched, cc_text, libs };
    let flags = inputs.tc.target(arch)?;
    let key = key(&inputs, flags)?;
    let dir = cache.join("builds/source").join(format!("{}-{arch}-{}", inputs.recipe.name, &key[..16]));
    // One builder per package: a second waits, then finds the first's.
    let lock = dir.with_extension("lock");
    let _lock = crate::filelock::FileLock::acquire(&lock).map_err(io(&lock))?;
    if let Some(facts) = cached(&dir) {
        return Ok(Made { dir, facts, cache_hit: true });
    }
    let facts = compile(plan, &inputs, arch, cache, &dir)?;
    Ok(Made { dir, facts, cache_hit: false })
}

/// Patch, configure, make and install in a scratch directory; then package and keep it.
fn compile(plan: &SourcePlan, i: &Inputs, arch: &str, cache: &Path, dir: &Path) -> Result<BuildFacts, SourceError> {
    let (recipe, flags) = (&i.recipe, i.tc.target(arch)?);
    let zig = Zig::ensure(&i.tc, cache)?;
    let t0 = Instant::now();
    let scratch = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    let work = scratch.join("src");
    fetch::unpack(&plan.origin, &i.fetched, &work)?;
    let log = scratch.join("build.log");
    let lib_dirs: Vec<&Path> = i.libs.iter().map(|l| l.dir.as_path()).collect();
    let sysroot = steps::sysroot(&lib_dirs, &scratch)?;
    steps::patch(&patches(recipe, plan), &work, &log)?;
    let triple = flags.triple(recipe.libc);
    let extra = recipe.extra(arch);
    let cc_template = recipe.dir().join("zig-cc.sh");
    let cc = steps::write_cc(&i.cc_text, &cc_template, &zig, triple, flags, &scratch)?;
    let env = Env {
        cc,
        cflags: [recipe.cflags.clone(), extra.cflags.clone()].concat(),
        sysroot,
        zig_cache: zig.cache.clone(),
        local_cache: scratch.join("zig-cache"),
    };
    steps::configure(recipe, &extra, &env, &work, &log)?;
    steps::make(recipe, &env, &work, &log, triple)?;
    let data = scratch.join("data");
    let files = steps::install(recipe, &work, &data)?;
    let version = steps::version(&plan.origin, &i.fetched);
    let (ipk, ipk_bytes) = if recipe.library {
        std::fs::rename(&data, scratch.join("tree")).map_err(io(&data))?;
        (None, 0)
    } else {
        package(recipe, flags, plan, &version, &files, &scratch)?
    };
    let facts = BuildFacts {
        recipe: recipe.name.clone(),
        version,
        source: plan.origin.describe(),
        fingerprint: i.fetched.fingerprint.clone(),
        toolchain: format!("zig {}", zig.version),
        target: triple.into(),
        cflags: [flags.cpu.clone(), env.cflags].concat(),
        ldflags: recipe.ldflags.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        files,
        patches: patches(recipe, plan)
            .iter()
            .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into())
            .collect(),
        needs: i.libs.iter().map(|l| format!("{} {}", l.facts.recipe, l.facts.version)).collect(),
        ipk,
        ipk_bytes,
    };
    finish(&scratch, dir, &facts)?;
    Ok(facts)
}

/// The `.ipk` of the installed files in `scratch/data`: its name and size.
fn package(
    recipe: &Recipe,
    flags: &TargetFlags,
    plan: &SourcePlan,
    version: &str,
    files: &std::collections::BTreeMap<String, u64>,
    scratch: &Path,
) -> Result<(Option<String>, u64), SourceError> {
    let ipk_name = format!("{}_{version}_{}.ipk", recipe.name, flags.openwrt_arch);
    let control = ipk::Control {
        package: &recipe.name,
        version,
        arch: &flags.openwrt_arch,
        source: &plan.origin.describe(),
        description: &recipe.description,
        installed_size: files.values().sum(),
    };
    ipk::write(&scratch.join("data"), &control, scratch, &scratch.join(&ipk_name))?;
    let bytes = std::fs::metadata(scratch.join(&ipk_name)).map_err(io(scratch))?.len();
    Ok((Some(ipk_name), bytes))
}

/// The cache key: everything that can change the package.
fn key(i: &Inputs, flags: &TargetFlags) -> Result<String, SourceError> {
    let (recipe, tc) = (&i.recipe, &i.tc);
    let mut k = format!("{BUILDER}\n{}\n{}\n{}\n", tc.zig.version, tc.zig.sha256, i.fetched.fingerprint);
    k.push_str(&serde_json::to_string(flags).expect("flags serialize"));
    k.push_str(&std::fs::read_to_string(&recipe.path).map_err(io(&recipe.path))?);
    k.push_str(&i.cc_text);
    for file in patches(recipe, &i.plan) {
        k.push_str(&crate::image::sha256_hex(&std::fs::read(&file).map_err(io(&file))?));
    }
    // A library's directory is named by its own key.
    for l in &i.libs {
        k.push_str(&format!("\nneeds {}", l.dir.display()));
    }
    Ok(crate::image::sha256_hex(k.as_bytes()))
}

/// Every patch, in the order applied: the recipe's, then the build's.
fn patches(recipe: &Recipe, plan: &SourcePlan) -> Vec<PathBuf> {
    recipe.patches.iter().map(|p| recipe.dir().join(p)).chain(plan.patches.iter().cloned()).collect()
}

/// A finished build's facts in `dir`, if there is one.
fn cached(dir: &Path) -> Option<BuildFacts> {
    let facts: BuildFacts = serde_json::from_str(&std::fs::read_to_string(dir.join("build.json")).ok()?).ok()?;
    let done = match &facts.ipk {
        Some(ipk) => dir.join(ipk).is_file(),
        None => dir.join("tree").is_dir(),
    };
    done.then_some(facts)
}

/// Keep the package (or the library's tree), its facts and the log; drop the source, the
/// objects, and what dpkg-source left beside the tree.
fn finish(scratch: &Path, dir: &Path, facts: &BuildFacts) -> Result<(), SourceError> {
    for e in std::fs::read_dir(scratch).map_err(io(scratch))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "build.log" || name == "tree" || Some(&name) == facts.ipk.as_ref() {
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
