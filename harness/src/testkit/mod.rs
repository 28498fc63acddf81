//! For tests: whether this machine can run a test that needs root (namespaces, taps,
//! nftables) or QEMU. Without them the test says so on stderr and is skipped, so plain
//! `cargo test` works as a normal user; `ci/test` sets `ROUTERLAB_REQUIRE_PRIVILEGED=1`,
//! which turns every such skip into a failure, so CI can never skip them quietly.
//! `ci/test --quick` sets `ROUTERLAB_QUICK=1` instead, which skips every test that needs
//! QEMU even where QEMU is installed.

mod loopback;

pub use loopback::{pki, Lab};

/// What a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Effective uid 0.
    Root,
    /// `qemu-system-aarch64` and `qemu-system-mipsel` on PATH.
    Qemu,
    /// The OpenWrt mirror (`shared/openwrt` beside the checkout, or
    /// `$ROUTERLAB_OPENWRT_MIRROR`), which CI has.
    OpenWrtMirror,
}

/// The variable that forbids skipping.
pub const REQUIRE_VAR: &str = "ROUTERLAB_REQUIRE_PRIVILEGED";
/// The variable of `ci/test --quick`: every test that needs QEMU is skipped, whatever the
/// machine has.
pub const QUICK_VAR: &str = "ROUTERLAB_QUICK";

/// What of `needs` this machine lacks, in words.
pub fn missing(needs: &[Need]) -> Vec<String> {
    lacks(needs, std::env::var_os(QUICK_VAR).is_some_and(|v| v != "0"))
}

/// [`missing`], with the quick tier's choice given.
fn lacks(needs: &[Need], quick: bool) -> Vec<String> {
    let on_path =
        |bin: &str| std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()));
    let mut out = Vec::new();
    for n in needs {
        match n {
            // SAFETY: geteuid has no preconditions and cannot fail.
            Need::Root if unsafe { libc::geteuid() } != 0 => out.push("root".to_string()),
            Need::Qemu if quick => {
                out.push(format!("QEMU, which the quick tier ({QUICK_VAR}) leaves out"));
            }
            Need::Qemu => {
                for q in ["qemu-system-aarch64", "qemu-system-mipsel"] {
                    if !on_path(q) {
                        out.push(q.to_string());
                    }
                }
            }
            Need::OpenWrtMirror => {
                let images = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../images");
                let mirror = crate::image::openwrt::mirror_dir(&images);
                if !mirror.join("README.md").is_file() {
                    out.push(format!("the OpenWrt mirror at {}", mirror.display()));
                }
            }
            _ => {}
        }
    }
    out
}

/// Skip the enclosing test unless the machine has each need (`Root`, `Qemu`,
/// `OpenWrtMirror`), saying why under the test's own path; under
/// `ROUTERLAB_REQUIRE_PRIVILEGED` a lack fails the test instead.
///
/// ```ignore
/// #[test]
/// fn boots() {
///     harness::needs!(Root, Qemu);
///     // ...
/// }
/// ```
#[macro_export]
macro_rules! needs {
    ($($need:ident),+ $(,)?) => {
        // The test's path, from a function nested in it: no name to repeat and keep in step.
        fn here() {}
        let name = ::std::any::type_name_of_val(&here).trim_end_matches("::here");
        if !$crate::testkit::can_run(name, &[$($crate::testkit::Need::$need),+]) {
            return;
        }
    };
}

/// True when `test` can run here. Otherwise it prints why and returns false (the caller
/// returns: skipped), or panics when `ROUTERLAB_REQUIRE_PRIVILEGED` is set.
pub fn can_run(test: &str, needs: &[Need]) -> bool {
    let lacking = missing(needs);
    if lacking.is_empty() {
        return true;
    }
    let why = format!("{test} needs {}", lacking.join(" and "));
    if std::env::var_os(REQUIRE_VAR).is_some_and(|v| v != "0") {
        panic!("{why}, and {REQUIRE_VAR} forbids skipping it");
    }
    eprintln!("skipped: {why} (run as root with QEMU installed, as ci/test does)");
    false
}

/// Cells the scenarios in `dir` make on `target` (on all their targets when `None`): one
/// per build and ramp step, counted from the files, so adding a scenario needs no edit in
/// a test.
pub fn shipped_cells(dir: &std::path::Path, target: Option<&str>) -> usize {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| crate::scenario::load_plan(p).unwrap_or_else(|e| panic!("{e}")))
        .map(|plan| {
            let on = plan.targets.iter().filter(|t| target.is_none_or(|want| t.to_string() == want)).count();
            let steps = plan.load.ramp.as_ref().map_or(1, |r| r.values.len());
            on * plan.proxy.builds.len().max(1) * steps
        })
        .sum()
}

/// Files under `dir` (recursively) that hold an ANSI escape (ESC `[`), packet captures
/// and other binary files aside.
pub fn files_with_ansi(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_with_ansi(&p));
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            if text.contains("\u{1b}[") {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_needed_is_never_missing_and_root_is_judged_by_the_euid() {
        assert!(missing(&[]).is_empty());
        // SAFETY: as above.
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(missing(&[Need::Root]).is_empty(), root);
        // The quick tier skips QEMU whether or not it is installed, and says so.
        assert_eq!(lacks(&[Need::Qemu], true), ["QEMU, which the quick tier (ROUTERLAB_QUICK) leaves out"]);
        assert!(lacks(&[Need::Root], true).is_empty() == root, "only QEMU is left out");
    }
}
