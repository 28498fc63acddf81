//! Alternate proxy builds: unpack on the host (cached by content), carry into the router
//! over its WAN link (a listener in the lab's internet namespace; console base64 is far
//! too slow for megabytes), unpack in the guest, and say what ran (version and sha256).
use std::path::PathBuf;

use super::deploy::must;
use super::stage::{stage, Staged};
use crate::model::BuildInfo;
use crate::netlab::{Lab, ADDR};
use crate::runner::RunError;
use crate::scenario::{BuildPlan, BuildSource, ProxyKind};
use crate::vm::{Target, Vm};

/// Where builds live in the guest.
const GUEST_ROOT: &str = "/opt/build";

/// A build ready to run in the guest: the binary and the environment it needs.
#[derive(Clone)]
pub(crate) struct Installed {
    pub bin: String,
    /// `LD_LIBRARY_PATH=...` for libraries that came with the build, or empty.
    pub env: String,
    pub info: BuildInfo,
}

/// What a session staged and carried: each build staged on the host once per run (an apt
/// build's download check alone takes most of a second), and which staged tarball the
/// guest's [`GUEST_ROOT`] holds now, so a build the router still has is not sent again.
#[derive(Default)]
pub(crate) struct Carried {
    staged: std::collections::HashMap<String, Staged>,
    unpacked: Option<PathBuf>,
    /// What each build was found to be (path, version, sha256) the first time: the same
    /// image, or the same staged tarball unpacked again, holds the same binary.
    found: std::collections::HashMap<String, Installed>,
}

/// Put the build on the router and say what it is: the image's own proxy as it is, or an
/// alternate build staged and carried in.
pub(crate) async fn install(
    vm: &mut Vm,
    lab: &Lab,
    carried: &mut Carried,
    (target, kind): (Target, ProxyKind),
    b: &BuildPlan,
    ctx: &crate::runner::RunContext,
) -> Result<Installed, RunError> {
    if crate::vm::resend_all() {
        *carried = Carried::default();
    }
    let t = target.to_string();
    let facts = crate::scenario::kinds::facts(kind);
    let image = b.source == BuildSource::Image;
    if let Some(found) = carried.found.get(&b.name).filter(|_| image) {
        return Ok(found.clone());
    }
    let Placed { bin, env, source, libc, flash } = if image {
        // The image's own proxy: the kind's process, found on the guest's PATH.
        let name = facts.process.as_deref().or(b.process.as_deref()).unwrap_or_default();
        let path = must(vm, &t, "proxy build", &format!("command -v {name}")).await?;
        // Its libc is the image manifest's to say (the session fills it in).
        let source = "image".to_string();
        Placed { bin: path.trim().to_string(), env: String::new(), source, libc: None, flash: None }
    } else {
        carry(vm, lab, carried, target, b, ctx).await?
    };
    if let Some(found) = carried.found.get(&b.name) {
        return Ok(found.clone());
    }
    let flag = facts.version_flag.as_deref().unwrap_or("--version");
    let version = vm
        .exec(&format!("{env} {bin} {flag} 2>&1 | grep -v '^$' | head -1"))
        .await
        .map(|o| o.stdout.trim().to_string())
        .unwrap_or_default();
    let sum = must(vm, &t, "proxy build", &format!("sha256sum {bin}")).await?;
    let sha256 = sum.split_whitespace().next().unwrap_or_default().to_string();
    let (details, bytes) = build_details(vm, &bin, &env, facts.build_info_flag.as_deref()).await;
    let tls = BuildInfo::tls_of(&details);
    let info = BuildInfo { name: b.name.clone(), version, sha256, source, libc, details, tls, bytes, flash };
    let installed = Installed { bin, env, info };
    carried.found.insert(b.name.clone(), installed.clone());
    Ok(installed)
}

/// What the binary says about its build (`-vv`, `-V`; up to 80 lines) and its size. Both
/// are description, not judgement: a binary that cannot say leaves them empty.
async fn build_details(vm: &mut Vm, bin: &str, env: &str, flag: Option<&str>) -> (String, Option<u64>) {
    let details = match flag {
        Some(f) => vm.exec(&format!("{env} {bin} {f} 2>&1 | head -80")).await.map(|o| o.stdout).unwrap_or_default(),
        None => String::new(),
    };
    let bytes = vm.exec(&format!("wc -c < {bin}")).await.ok().and_then(|o| o.stdout.trim().parse().ok());
    (details.trim_end().to_string(), bytes)
}

/// A build in place on the router: the binary's path, its environment, where it came from,
/// its libc and its flash footprint.
struct Placed {
    bin: String,
    env: String,
    source: String,
    libc: Option<String>,
    flash: Option<crate::model::Footprint>,
}

/// An alternate build: staged on the host (once per session), carried over the WAN link
/// and unpacked under [`GUEST_ROOT`] unless the guest holds it already.
async fn carry(
    vm: &mut Vm,
    lab: &Lab,
    carried: &mut Carried,
    target: Target,
    b: &BuildPlan,
    ctx: &crate::runner::RunContext,
) -> Result<Placed, RunError> {
    let (t, phase) = (target.to_string(), "proxy build");
    let staged = match carried.staged.get(&b.name) {
        Some(s) => s.clone(),
        None => {
            // The recipe says which Debian architecture the target's image is built from.
            let arch = crate::image::Recipe::find(&ctx.images_dir, target.name())
                .map_err(|e| RunError::caused(&t, phase, e))?
                .debian_arch;
            // On the blocking pool, not block_in_place: the worker thread stays a worker, and
            // the children it spawns later keep a parent thread that lives (see crate::proc).
            let (plan, cache) = (b.clone(), ctx.cache.clone());
            let staged = tokio::task::spawn_blocking(move || stage(&plan, &arch, &cache))
                .await
                .map_err(|e| RunError::caused(&t, phase, e))?
                .map_err(|e| RunError::caused(&t, phase, e))?;
            carried.staged.insert(b.name.clone(), staged.clone());
            staged
        }
    };
    if carried.unpacked.as_ref() != Some(&staged.tarball) {
        let addr = ADDR::INTERNET_WAN4;
        let listener = lab
            .bind_tcp("internet", format!("{addr}:0").parse().expect("static address"))
            .map_err(|source| RunError::Lab { target: t.clone(), phase, source: Box::new(source) })?;
        carried.unpacked = None;
        vm.upload_via(listener, addr, &staged.tarball, "/tmp/build.tgz").await.map_err(|source| RunError::Vm {
            target: t.clone(),
            phase: "proxy build upload",
            source: Box::new(source),
        })?;
        must(vm, &t, phase, &format!("rm -rf {GUEST_ROOT} && mkdir -p {GUEST_ROOT} && tar -xzf /tmp/build.tgz -C {GUEST_ROOT} && rm /tmp/build.tgz")).await?;
        carried.unpacked = Some(staged.tarball.clone());
    }
    let env = if staged.libs.is_empty() {
        String::new()
    } else {
        let dirs: Vec<String> = staged.libs.iter().map(|l| format!("{GUEST_ROOT}/{l}")).collect();
        format!("LD_LIBRARY_PATH={}", dirs.join(":"))
    };
    let source = match &staged.built {
        Some(f) => format!("{}: {}", b.describe_source(), f.summary()),
        None => b.describe_source(),
    };
    let bin = format!("{GUEST_ROOT}/{}", b.path);
    Ok(Placed { bin, env, source, libc: staged.libc(), flash: staged.flash })
}
