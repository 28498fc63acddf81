use std::path::PathBuf;

use harness::scenario::{kebab, load_build, load_plan};
use harness::vm::Target;

use crate::cli::CheckArgs;
use crate::exit::{Classify, CmdResult, Code};

/// Files named, and the `*.toml` in directories named, sorted. A bare name that is no file
/// here is a shipped scenario (`haproxy-reencrypt-xff`, or `faults` for a directory).
pub(crate) fn scenario_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let cache = harness::image::cache_root();
    for p in paths.iter().map(|p| crate::share::scenario_path(p, &cache)) {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            out.extend(files);
        } else {
            out.push(p);
        }
    }
    out
}

pub fn run(a: CheckArgs) -> CmdResult {
    let files = scenario_files(&a.paths);
    if files.is_empty() {
        // As `run` does: checking nothing is not a pass.
        return Err(crate::exit::Failure::BadInput(anyhow::anyhow!("no scenario files in {:?}", a.paths)));
    }
    let targets = a.target.iter().map(|t| t.parse::<Target>()).collect::<Result<Vec<_>, _>>().bad_input()?;
    let (mut bad, mut over) = (0, 0);
    for f in files {
        match load_plan(&f) {
            Ok(mut p) => {
                outln!("ok {} ({})", f.display(), describe(&p));
                if a.builds.is_empty() && targets.is_empty() {
                    continue;
                }
                if !a.builds.is_empty() {
                    let load = |b: &PathBuf| load_build(b, p.proxy.kind, p.proxy.client_ip_header);
                    p.proxy.builds = a.builds.iter().map(load).collect::<Result<_, _>>().bad_input()?;
                }
                let (b, o) = preflight(&p, if targets.is_empty() { &p.targets } else { &targets }, &a.dirs);
                (bad, over) = (bad + b, over + o);
            }
            Err(e) => {
                bad += 1;
                eprintln!("routerlab: error: {}", harness::errtext::Chain(&e));
            }
        }
    }
    Ok(match (bad, over) {
        (0, 0) => Code::Ok,
        (0, _) => Code::AssertionFailed,
        _ => Code::BadInput,
    })
}

/// `name: kind, builds a,b, expect preserved, targets t,u`.
fn describe(p: &harness::scenario::Plan) -> String {
    let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
    let builds: Vec<&str> = p.proxy.builds.iter().map(|b| b.name.as_str()).collect();
    format!(
        "{}: {}, builds {}, expect {}, targets {}",
        p.name,
        kebab(&p.proxy.kind),
        builds.join(","),
        kebab(&p.expect),
        targets.join(",")
    )
}

/// The plan's builds against each target, as `run` checks them before booting: the count
/// of targets a build failed on, and of builds over the plan's `max-flash` (a finding
/// about the build, known before boot: exit 100, as the run's `flash-budget` would).
fn preflight(p: &harness::scenario::Plan, targets: &[Target], dirs: &crate::cli::ImageDirs) -> (usize, usize) {
    let (images, cache) =
        (super::image::images_dir(dirs), dirs.cache.clone().unwrap_or_else(harness::image::cache_root));
    let (mut bad, mut over) = (0, 0);
    for t in targets {
        match harness::runner::preflight(p, *t, &images, &cache) {
            Ok(fits) if fits.is_empty() => outln!("ok {} on {t}: the image's own build", p.name),
            Ok(fits) => {
                for f in fits {
                    match f.flash_verdict() {
                        Some(v) => {
                            over += 1;
                            outln!("over build {} on {t}: {}; {v}", f.build, f.says);
                        }
                        None => outln!("ok build {} on {t}: {}", f.build, f.says),
                    }
                }
            }
            Err(e) => {
                bad += 1;
                eprintln!("routerlab: error: {}", harness::errtext::Chain(&e));
            }
        }
    }
    (bad, over)
}
