use std::path::PathBuf;

use harness::scenario::{kebab, load_plan};

use crate::exit::{CmdResult, Code};

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

pub fn run(paths: Vec<PathBuf>) -> CmdResult {
    let files = scenario_files(&paths);
    if files.is_empty() {
        // As `run` does: checking nothing is not a pass.
        return Err(crate::exit::Failure::BadInput(anyhow::anyhow!("no scenario files in {paths:?}")));
    }
    let mut bad = 0;
    for f in files {
        match load_plan(&f) {
            Ok(p) => {
                let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
                let builds: Vec<&str> = p.proxy.builds.iter().map(|b| b.name.as_str()).collect();
                outln!(
                    "ok {} ({}: {}, builds {}, expect {}, targets {})",
                    f.display(),
                    p.name,
                    kebab(&p.proxy.kind),
                    builds.join(","),
                    kebab(&p.expect),
                    targets.join(",")
                );
            }
            Err(e) => {
                bad += 1;
                eprintln!("routerlab: error: {}", harness::errtext::Chain(&e));
            }
        }
    }
    Ok(if bad == 0 { Code::Ok } else { Code::BadInput })
}
