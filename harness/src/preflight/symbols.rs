//! A dynamic binary's imports against the libraries the loader would map for it in the
//! image: its interpreter, then its DT_NEEDED breadth-first, each from the build's own
//! libraries or the image's. An import none of them defines stops the binary at load with
//! "symbol not found" (musl) or "version `GLIBC_2.38' not found" (glibc): a binary linked
//! against a newer C library than the router's, which is said here before boot.
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{BinaryFacts, ImageView};
use crate::image::symbols::{ImageLibraries, Library};

/// What the loader would not find: the imports (`__clock_gettime64`, `strlcpy@GLIBC_2.38`)
/// and, where it can be told, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unresolved {
    pub missing: Vec<String>,
    pub why: String,
}

/// The imports of `f` that nothing in its load scope defines; `None` when all resolve.
pub(super) fn unresolved(
    f: &BinaryFacts,
    img: &ImageView,
    libs: &ImageLibraries,
    own: &BTreeMap<String, Library>,
) -> Option<Unresolved> {
    let scope = load_scope(f, img, libs, own);
    let missing: Vec<String> =
        f.imports.iter().filter(|i| !scope.iter().any(|(_, lib)| lib.defines(i))).cloned().collect();
    if missing.is_empty() {
        return None;
    }
    let why = explain(&missing, &scope);
    Some(Unresolved { missing, why })
}

/// The libraries mapped for `f`, by where they come from (`/lib/libc.so`, `the build's
/// libfoo.so.1`): the interpreter, then DT_NEEDED breadth-first. One not found is left
/// out (the DT_NEEDED check names it).
fn load_scope<'a>(
    f: &BinaryFacts,
    img: &'a ImageView,
    libs: &'a ImageLibraries,
    own: &'a BTreeMap<String, Library>,
) -> Vec<(String, &'a Library)> {
    let mut scope: Vec<(String, &Library)> = Vec::new();
    if let Some((path, lib)) = f.interp.as_deref().and_then(|i| libs.at(i)) {
        scope.push((path.to_string(), lib));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = f.needed.iter().cloned().collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let found = match own.get(&name) {
            Some(lib) => Some((format!("the build's {name}"), lib)),
            None => img.library_path(&name, &f.runpath).and_then(|p| libs.at(p)).map(|(p, l)| (p.to_string(), l)),
        };
        if let Some((at, lib)) = found {
            queue.extend(lib.needed.iter().cloned());
            if !scope.iter().any(|(p, _)| *p == at) {
                scope.push((at, lib));
            }
        }
    }
    scope
}

/// Why, in the two cases routers meet: a glibc-style version newer than the scope's newest
/// (`libc.so.6 there defines GLIBC_2.17 … GLIBC_2.36`), and musl 1.2's 64-bit time_t
/// symbols on a 32-bit musl 1.1.
fn explain(missing: &[String], scope: &[(String, &Library)]) -> String {
    let mut says = Vec::new();
    let prefixes: BTreeSet<&str> =
        missing.iter().filter_map(|m| m.split_once('@')).filter_map(|(_, v)| version_parts(v).map(|p| p.0)).collect();
    for prefix in prefixes {
        let newest = scope
            .iter()
            .flat_map(|(at, lib)| lib.versions.iter().map(move |v| (at, v)))
            .filter_map(|(at, v)| version_parts(v).filter(|p| p.0 == prefix).map(|p| (p.1, at, v)))
            .max();
        if let Some((_, at, v)) = newest {
            says.push(format!("{at} there has {prefix} versions up to {v}, so it was linked against a newer one"));
        }
    }
    if missing.iter().any(|m| m.starts_with("__") && m.contains("time64")) {
        says.push(
            "the __*time64 symbols are musl 1.2's 64-bit time_t, so it was linked against musl 1.2 or later and the image's musl is older"
                .into(),
        );
    }
    if says.is_empty() {
        String::new()
    } else {
        format!(" ({})", says.join("; "))
    }
}

/// `GLIBC_2.36` as (`GLIBC_`, [2, 36]); `None` for a version without numbers
/// (`GLIBC_PRIVATE`).
fn version_parts(v: &str) -> Option<(&str, Vec<u32>)> {
    let cut = v.rfind('_')? + 1;
    let nums: Option<Vec<u32>> = v[cut..].split('.').map(|n| n.parse().ok()).collect();
    Some((&v[..cut], nums?))
}

/// `a, b, c, d, e and 3 more`.
pub(super) fn shown(missing: &[String]) -> String {
    const SHOW: usize = 5;
    let head = missing.iter().take(SHOW).cloned().collect::<Vec<_>>().join(", ");
    match missing.len().saturating_sub(SHOW) {
        0 => head,
        n => format!("{head} and {n} more"),
    }
}
