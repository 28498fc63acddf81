use super::*;

const HOST_LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn host_libc() -> Library {
    Library::read(&std::fs::read(HOST_LIBC).unwrap()).expect("the host's libc is a shared object")
}

/// The host's own `true` (Debian 12, glibc 2.36) imports glibc's versioned symbols, which
/// the host's libc defines; weak references such as `__gmon_start__` are not imports.
#[test]
fn a_glibc_binary_imports_versioned_symbols_that_its_libc_defines() {
    let data = std::fs::read("/bin/true").unwrap();
    let elf = Elf::parse(&data).unwrap();
    let imports = imports(&elf);
    assert!(imports.iter().any(|i| i == "__libc_start_main@GLIBC_2.34"), "{imports:?}");
    assert!(imports.iter().all(|i| !i.starts_with("__gmon_start__")), "weak: {imports:?}");
    let libc = host_libc();
    assert!(libc.versions.iter().any(|v| v == "GLIBC_2.36"), "{:?}", libc.versions);
    assert!(!libc.versions.iter().any(|v| v == "GLIBC_2.38"), "bookworm's glibc is 2.36");
    let missing: Vec<&String> = imports.iter().filter(|i| !libc.defines(i)).collect();
    assert!(missing.is_empty(), "libc.so.6 defines all that true imports: {missing:?}");
    // A version libc lacks binds nothing, the unversioned name binds any version, and a
    // name libc never had binds nothing at all.
    assert!(libc.defines("memcpy@GLIBC_2.14") && libc.defines("memcpy"));
    assert!(!libc.defines("memcpy@GLIBC_2.99") && !libc.defines("strlcpy") && !libc.defines("strlcpy@GLIBC_2.38"));
    assert!(Library::read(b"\x7fELF not really").is_none());
}

/// An image's libraries are found through their links, and a link to a file that is no
/// library is dropped.
#[test]
fn image_libraries_resolve_through_links() {
    let mut tree = Tree::default();
    tree.host_file("/lib/libc.so", HOST_LIBC.into(), 0o755);
    tree.symlink("/lib/ld-musl-mipsel-sf.so.1", "libc.so");
    tree.symlink("/usr/lib/libc.so.6", "../../lib/ld-musl-mipsel-sf.so.1");
    tree.bytes("/lib/libjunk.so", b"not an elf".to_vec(), 0o644);
    tree.symlink("/lib/libjunk.so.1", "libjunk.so");
    tree.symlink("/lib/dangling.so", "nowhere.so");
    let libs = ImageLibraries::of(&tree).unwrap();
    assert_eq!(libs.libraries.keys().collect::<Vec<_>>(), ["/lib/libc.so"]);
    assert_eq!(libs.at("/usr/lib/libc.so.6").map(|(p, _)| p), Some("/lib/libc.so"));
    assert_eq!(libs.at("/lib/ld-musl-mipsel-sf.so.1").map(|(p, _)| p), Some("/lib/libc.so"));
    assert!(libs.at("/lib/libjunk.so.1").is_none() && libs.at("/lib/dangling.so").is_none());
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("exports.json");
    libs.write(&f).unwrap();
    assert_eq!(ImageLibraries::read(&f), Some(libs));
}
