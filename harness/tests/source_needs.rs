//! Recipes that need libraries: the library is built first by its own recipe, for the
//! same target, into the program's `{{sysroot}}`; a change to the library rebuilds the
//! program; an unchanged second build is a cache hit. Real zig cc, real make, a tiny
//! library and program from local directories (tests/fixtures/source).
use std::path::{Path, PathBuf};

use harness::source::{build, Origin, SourcePlan};

/// The fixtures and the shipped toolchain files in one directory, and a cache that shares
/// the real cache's toolchains (zig is fetched once, from the package registry).
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipes = d.path().join("recipes");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(here.join("tests/fixtures/source"))
        .arg(&recipes)
        .status()
        .unwrap();
    assert!(copy.success());
    for f in ["toolchain.toml", "zig-cc.sh", "deb-src.list"] {
        std::fs::copy(here.join("../scenarios/recipes").join(f), recipes.join(f)).unwrap();
    }
    let cache = d.path().join("cache");
    let shared = harness::image::cache_root().join("toolchains");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(&shared, cache.join("toolchains")).unwrap();
    (d, recipes, cache)
}

fn plan(recipes: &Path, dir: &str, recipe: &str) -> SourcePlan {
    SourcePlan { origin: Origin::Dir(recipes.join(dir)), recipe: recipes.join(recipe), patches: Vec::new() }
}

fn facts(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("build.json")).unwrap()).unwrap()
}

#[test]
fn a_program_links_the_library_its_recipe_needs_and_rebuilds_when_the_library_changes() {
    let (_d, recipes, cache) = setup();
    let hello = plan(&recipes, "hello", "hello.toml");
    let first = build(&hello, "arm64", &cache).unwrap();
    assert!(!first.cache_hit);
    assert_eq!(first.facts.needs.len(), 1, "{:?}", first.facts);
    assert!(first.facts.needs[0].starts_with("greet 0+"), "{:?}", first.facts.needs);
    assert!(first.ipk.is_file(), "{}", first.ipk.display());

    // The library was built for the same target with its recipe's arm64 flags, and kept
    // as a tree, not a package.
    let libs: Vec<_> = std::fs::read_dir(cache.join("builds/source"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("greet-arm64-"))
        .collect();
    assert_eq!(libs.len(), 1, "{libs:?}");
    let lib = facts(&libs[0]);
    assert_eq!(lib["target"], "aarch64-linux-musl", "{lib}");
    assert!(lib["ipk"].is_null(), "{lib}");
    assert!(lib["cflags"].as_array().unwrap().iter().any(|f| f == "-DGREET_ARM64"), "{lib}");
    assert!(libs[0].join("tree/lib/libgreet.a").is_file() && libs[0].join("tree/include/greet.h").is_file());

    // The program is a static AArch64 binary that holds the library's string.
    let bin = program(&first.ipk);
    let elf = harness::preflight::BinaryFacts::read(&bin).expect("an ELF");
    assert_eq!((elf.describe().as_str(), elf.libc()), ("AArch64 ELF", "static"));
    assert!(holds(&bin, "hello from libgreet"), "the library was linked in");

    let again = build(&hello, "arm64", &cache).unwrap();
    assert!(again.cache_hit, "same inputs: a cache hit");
    assert_eq!(again.ipk, first.ipk);

    // A changed library is a changed program.
    let c = recipes.join("greet-lib/greet.c");
    std::fs::write(&c, std::fs::read_to_string(&c).unwrap().replace("libgreet", "libgreet 2")).unwrap();
    let changed = build(&hello, "arm64", &cache).unwrap();
    assert!(!changed.cache_hit, "the library changed, so the program was built again");
    assert_ne!(changed.ipk.parent(), first.ipk.parent());
}

/// The program in a built package, read from its data.tar.gz.
fn program(ipk: &Path) -> Vec<u8> {
    let tree = tempfile::tempdir().unwrap();
    let data = tree.path().join("data.tar.gz");
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("tar -xzOf {} ./data.tar.gz > {}", ipk.display(), data.display()))
        .status()
        .unwrap();
    assert!(ok.success());
    let out = std::process::Command::new("tar").arg("-xzf").arg(&data).arg("-C").arg(tree.path()).status().unwrap();
    assert!(out.success());
    std::fs::read(tree.path().join("usr/bin/hello")).unwrap()
}

fn holds(bin: &[u8], s: &str) -> bool {
    bin.windows(s.len()).any(|w| w == s.as_bytes())
}

#[test]
fn a_build_s_own_patches_apply_after_the_recipe_s_and_make_another_package() {
    let (_d, recipes, cache) = setup();
    let plain = build(&plan(&recipes, "hello", "hello.toml"), "arm64", &cache).unwrap();
    let patched_plan =
        SourcePlan { patches: vec![recipes.join("louder.patch")], ..plan(&recipes, "hello", "hello.toml") };
    let patched = build(&patched_plan, "arm64", &cache).unwrap();
    assert_ne!(patched.ipk.parent(), plain.ipk.parent(), "a patch is part of the key");
    assert_eq!(patched.facts.patches, ["louder.patch"]);
    assert!(patched.facts.summary().contains("patched with louder.patch"), "{}", patched.facts.summary());
    assert!(holds(&program(&patched.ipk), "patched by the build"));
    assert!(!holds(&program(&plain.ipk), "patched by the build"));

    // A patch that does not apply names itself and shows patch's words.
    let bad = recipes.join("bad.patch");
    std::fs::write(
        &bad,
        std::fs::read_to_string(recipes.join("louder.patch")).unwrap().replace("puts(greeting())", "x()"),
    )
    .unwrap();
    let e = build(&SourcePlan { patches: vec![bad], ..patched_plan }, "arm64", &cache).unwrap_err().to_string();
    assert!(e.contains("patch ") && e.contains("bad.patch failed") && e.contains("hunk"), "{e}");
}

#[test]
fn a_library_is_not_a_proxy_build_and_a_need_says_where_its_source_is() {
    let (_d, recipes, cache) = setup();
    let e = build(&plan(&recipes, "greet-lib", "greet.toml"), "arm64", &cache).unwrap_err().to_string();
    assert!(e.contains("greet.toml: library = true"), "{e}");

    let r = recipes.join("hello.toml");
    let text = std::fs::read_to_string(&r).unwrap();
    std::fs::write(&r, text.replace("dir = \"greet-lib\", ", "")).unwrap();
    let e = build(&plan(&recipes, "hello", "hello.toml"), "arm64", &cache).unwrap_err().to_string();
    assert!(e.contains("hello.toml: needs[0]: give one of debian, dir or tarball"), "{e}");
    std::fs::write(&r, text.replace("greet.toml", "gone.toml")).unwrap();
    let e = build(&plan(&recipes, "hello", "hello.toml"), "arm64", &cache).unwrap_err().to_string();
    assert!(e.contains("needs[0].recipe:") && e.contains("gone.toml does not exist"), "{e}");
}
