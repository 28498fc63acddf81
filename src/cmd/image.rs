use std::path::PathBuf;

use harness::image::{build, cache_root, list_cached, BuildOptions};

use crate::cli::{ImageCmd, ImageDirs};
use crate::exit::{CmdResult, Code, Failure};

pub fn run(cmd: ImageCmd) -> CmdResult {
    match cmd {
        ImageCmd::Build { names, force, dirs } => {
            let opts = BuildOptions {
                images_dir: images_dir(&dirs),
                cache: dirs.cache.clone().unwrap_or_else(cache_root),
                force,
            };
            for name in names {
                let t = std::time::Instant::now();
                let img = build(&name, &opts).map_err(Failure::lib)?;
                let m = &img.manifest;
                outln!(
                    "{} {} kernel {} ({:.1} MiB) initrd {:.1} MiB gz / {:.1} MiB unpacked, {} packages, {} modules{}{}, {:.2}s{}",
                    m.name,
                    img.dir.display(),
                    m.kernel_version,
                    mib(m.kernel.bytes),
                    mib(m.initrd.bytes),
                    mib(m.initrd_unpacked_bytes),
                    m.packages.len(),
                    m.modules,
                    m.openwrt
                        .as_ref()
                        .map(|o| format!(", OpenWrt {} userland ({} feed packages)", o.release, o.packages.len()))
                        .unwrap_or_default(),
                    m.mips.as_ref().map(|n| format!(", user space {}", n.summary())).unwrap_or_default(),
                    t.elapsed().as_secs_f64(),
                    if img.cache_hit { " (cache hit)" } else { "" }
                );
            }
            Ok(Code::Ok)
        }
        ImageCmd::List { dirs } => {
            let dir = images_dir(&dirs);
            let mut recipes: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            recipes.retain(|r| r != "openwrt");
            recipes.sort();
            outln!("recipes in {}: {}", dir.display(), recipes.join(", "));
            for (path, m) in list_cached(&dirs.cache.clone().unwrap_or_else(cache_root)) {
                outln!(
                    "{}\t{}\t{}\tinitrd {:.1} MiB\t{}",
                    m.name,
                    m.key,
                    m.kernel_version,
                    mib(m.initrd.bytes),
                    path.display()
                );
            }
            Ok(Code::Ok)
        }
        ImageCmd::Fetch { name, dirs } => {
            super::fetch::run(&name, &images_dir(&dirs), &dirs.cache.clone().unwrap_or_else(cache_root))
        }
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// `--images`, else `./images`, else the `images/` of the checkout this binary was built in.
pub(crate) fn images_dir(dirs: &ImageDirs) -> PathBuf {
    if let Some(d) = &dirs.images {
        return d.clone();
    }
    let cwd = PathBuf::from("images");
    if cwd.join("aarch64-virt.toml").is_file() {
        return cwd;
    }
    crate::share::root(&dirs.cache.clone().unwrap_or_else(cache_root)).join("images")
}
