//! A run's preflight: every build that is not the image's own is staged (cached) and its
//! binary checked against each target's CPU and image before any lab is built or VM
//! booted (`crate::preflight`), so a binary for the wrong machine costs milliseconds, not
//! a boot and a deploy.
use std::path::Path;

use super::stage::{stage, Staged};
use crate::image::{build, BuildOptions};
use crate::model::{mib, Footprint};
use crate::preflight::{check, Candidate, ImageView, PreflightError};
use crate::scenario::{BuildPlan, BuildSource, Plan, ProxyMode};
use crate::vm::Target;

/// One build found fit: `haproxy-musl on mipsel-malta: usr/sbin/haproxy, MIPS32
/// little-endian soft-float ELF, static`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    pub build: String,
    pub target: Target,
    pub says: String,
    /// Its flash footprint, and the plan's `max-flash` when the footprint is over it: known
    /// before boot, judged again in the cell as the `flash-budget` assertion.
    pub flash: Option<Footprint>,
    pub over_flash: Option<u64>,
}

/// Check `plan`'s builds for `target`; the image's own builds need no check. The target's
/// image is built (or taken from the cache) first, so the loader and libraries can be
/// looked up.
pub fn preflight(plan: &Plan, target: Target, images_dir: &Path, cache: &Path) -> Result<Vec<Fit>, PreflightError> {
    let staged: Vec<&BuildPlan> = plan.proxy.builds.iter().filter(|b| b.source != BuildSource::Image).collect();
    if staged.is_empty() {
        return Ok(Vec::new());
    }
    let opts = BuildOptions { images_dir: images_dir.into(), cache: cache.into(), force: false };
    let img = build(target.name(), &opts).map_err(|source| PreflightError::Image { target, source })?;
    let view = ImageView::of(&img);
    // The Debian architecture the image (and so each staged build) is for.
    let arch = &img.manifest.debian_arch;
    staged.into_iter().map(|b| one(plan, b, target, arch, cache, view.as_ref())).collect()
}

fn one(
    plan: &Plan,
    b: &BuildPlan,
    target: Target,
    arch: &str,
    cache: &Path,
    view: Option<&ImageView>,
) -> Result<Fit, PreflightError> {
    let staged = stage(b, arch, cache).map_err(|e| PreflightError::Stage {
        build: b.name.clone(),
        target,
        source: Box::new(e),
    })?;
    if !staged.script {
        let terminates_tls = matches!(plan.proxy.mode, Some(ProxyMode::TerminateReencrypt | ProxyMode::TerminatePlain));
        let (facts, own_libs) = (staged.binary.as_ref(), &staged.lib_files[..]);
        let passes_through = plan.proxy.mode == Some(ProxyMode::PassthroughProxyProtocol);
        let kind = plan.proxy.kind;
        let own_symbols = &staged.lib_symbols;
        let c = Candidate {
            build: &b.name,
            file: &b.path,
            facts,
            own_libs,
            own_symbols,
            kind,
            terminates_tls,
            passes_through,
        };
        check(&c, target, view)?;
    }
    let over_flash = plan.budgets.flash_bytes.filter(|max| staged.flash.is_some_and(|f| !f.fits(*max)));
    Ok(Fit { build: b.name.clone(), target, says: says(b, &staged), flash: staged.flash, over_flash })
}

fn says(b: &BuildPlan, s: &Staged) -> String {
    let what = match &s.binary {
        Some(f) => format!("{}, {}, {}", b.path, f.describe(), f.libc()),
        None => format!("{}, a #! script", b.path),
    };
    match s.flash {
        Some(f) => format!("{what}; flash {}", f.describe()),
        None => what,
    }
}

impl Fit {
    /// `over max-flash 1.00 MiB: 2.10 MiB as xz`, when it is.
    pub fn flash_verdict(&self) -> Option<String> {
        let (max, f) = (self.over_flash?, self.flash?);
        Some(format!("over max-flash {}: {} as xz", mib(max), mib(f.xz)))
    }
}
