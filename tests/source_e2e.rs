//! A proxy built from source the way OpenWrt builds it: Debian's HAProxy and OpenSSL source
//! packages, the shipped recipes (scenarios/recipes/haproxy.toml and the openssl.toml it
//! needs) and the pinned zig cc, for the MT7621 OpenWrt userland. The .ipk installs with the
//! router's own opkg, and the build terminates TLS, adds X-Forwarded-For and re-encrypts,
//! with every request accounted for. The second build is a cache hit. nginx, built the way
//! OpenWrt builds nginx-ssl (scenarios/recipes/nginx.toml), does the same.
use std::path::Path;
use std::process::Command;

mod common;
use common::{exe, root};

const BUILD: &str = "scenarios/builds/haproxy-tls-source.toml";
const SCENARIO: &str = "scenarios/haproxy-reencrypt-xff.toml";
const TARGET: &str = "mipsel-malta-openwrt";

/// `routerlab check` of the re-encrypting scenario with the source build on `TARGET`: it
/// builds (or finds) the package and preflights its binary.
fn check() -> String {
    let (code, text) = check_scenario(&root().join(SCENARIO), BUILD);
    assert_eq!(code, Some(0), "{text}");
    text
}

fn check_scenario(scenario: &Path, build: &str) -> (Option<i32>, String) {
    let o = Command::new(exe())
        .args(["check", scenario.to_str().unwrap(), "--target", TARGET, "--builds", build])
        .current_dir(root())
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// The scenario with `max-flash = max` under `[expect]`: `check`'s exit code and words.
fn check_flash(dir: &Path, max: &str) -> (Option<i32>, String) {
    let text = std::fs::read_to_string(root().join(SCENARIO)).unwrap();
    let file = dir.join(format!("flash-{max}.toml"));
    std::fs::write(&file, text.replace("[expect]\n", &format!("[expect]\nmax-flash = \"{max}\"\n"))).unwrap();
    check_scenario(&file, BUILD)
}

/// The packages built from the recipe `package` for mipsel in the cache, of a source
/// `version` starting so, newest last. The version tells builds of one recipe apart: the
/// tests run at once, and HAProxy 2.6 and 3.0 share the recipe.
fn built(cache: &Path, package: &str, version: &str) -> Vec<std::path::PathBuf> {
    let dir = cache.join("builds/source");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("build.json").is_file()).collect())
        .unwrap_or_default();
    v.retain(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{package}-mipsel-")));
    v.retain(|p| {
        let facts: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("build.json")).unwrap_or_default())
                .unwrap_or_default();
        facts["version"].as_str().is_some_and(|v| v.starts_with(version))
    });
    v.sort_by_key(|p| std::fs::metadata(p.join("build.json")).and_then(|m| m.modified()).ok());
    v
}

/// A shipped scenario on `TARGET` with `build`, two seconds of steady load, into `out`.
fn run_briefly(scenario: &str, build: &str, out: &Path) -> common::Ran {
    let args = [scenario, "--target", TARGET, "--builds", build, "--duration", "2s", "--warmup", "300ms"];
    common::run(&[&args[..], &["--idle", "0s"]].concat(), out)
}

#[test]
fn haproxy_built_from_source_installs_with_opkg_and_keeps_client_ips_on_openwrt() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    let cache = harness::image::cache_root();
    let said = check();
    assert!(said.contains("static"), "a static musl binary, preflighted: {said}");
    let first = built(&cache, "haproxy", "2.6.12-");
    let again = check();
    assert_eq!(
        built(&cache, "haproxy", "2.6.12-"),
        first,
        "the second check found the first build, and built nothing: {again}"
    );
    // Its flash footprint is known before boot: over a budget `check` says so (exit 100, a
    // finding about the build), under one it is fine.
    assert!(said.contains("MiB installed") && said.contains("MiB as xz"), "{said}");
    let scratch = tempfile::tempdir().unwrap();
    let (code, over) = check_flash(scratch.path(), "1MiB");
    assert_eq!(code, Some(100), "{over}");
    assert!(over.contains("over build haproxy-tls-source on mipsel-malta-openwrt:"), "{over}");
    assert!(over.contains("over max-flash 1.00 MiB"), "{over}");
    let (code, under) = check_flash(scratch.path(), "16MiB");
    assert_eq!(code, Some(0), "{under}");

    // The package is an OpenWrt package: the router's opkg installs it, and it runs.
    let dir = first.last().expect("a build in the cache");
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("build.json")).unwrap()).unwrap();
    assert_eq!(facts["target"], "mipsel-linux-musleabi", "{facts}");
    assert!(facts["version"].as_str().unwrap().starts_with("2.6.12-"), "{facts}");
    assert!(facts["needs"][0].as_str().unwrap().starts_with("openssl 3.0."), "{facts}");
    let ipk = dir.join(facts["ipk"].as_str().unwrap());
    let d = tempfile::tempdir().unwrap();
    let out = opkg_install(&ipk, "opkg list-installed | grep '^haproxy ' && haproxy -vv | head -30", d.path());
    assert!(out.contains("haproxy - 2.6.12-"), "opkg recorded it: {out}");
    assert!(out.contains("HAProxy version 2.6.12"), "it runs on the router: {out}");
    assert!(out.contains("TARGET  = linux-musl"), "built as the recipe says: {out}");
    assert!(out.contains("Running on OpenSSL version : OpenSSL 3.0."), "with the OpenSSL it needs: {out}");

    // And it does the job: TLS terminated, X-Forwarded-For added, re-encrypted to the backend.
    let ran = run_briefly(SCENARIO, BUILD, d.path());
    assert_eq!(ran.code, 0, "{}", ran.out);
    let cell = &ran.report.cells[0];
    let b = cell.build.as_ref().expect("the build is described");
    assert_eq!(b.libc.as_deref(), Some("static"), "{b:?}");
    assert!(b.version.contains("2.6.12"), "{b:?}");
    assert!(
        b.source.contains("zig 0.17.0 for mipsel-linux-musleabi")
            && b.source.contains("with openssl 3.0.")
            && b.source.contains("usr/sbin/haproxy"),
        "{b:?}"
    );
    // What the binary said about itself, kept in the report: its -vv, TLS library and size.
    assert!(b.details.contains("TARGET  = linux-musl"), "{b:?}");
    assert!(b.tls.as_deref().is_some_and(|t| t.starts_with("OpenSSL 3.0.")), "{b:?}");
    assert_eq!(b.bytes, facts["files"]["usr/sbin/haproxy"].as_u64(), "the installed binary is the built one");
    let flash = b.flash.expect("a carried build's flash footprint");
    assert!(flash.installed >= b.bytes.unwrap() && flash.xz < flash.installed / 2, "{flash:?}");
    assert_eq!(cell.client_ip.verdict, Some(harness::model::Verdict::Preserved), "{}", ran.out);
    assert!(cell.client_ip.sent > 0 && cell.client_ip.sent == cell.client_ip.logged + cell.client_ip.failed);
}

/// The shipped comparison's newer side names its source by a .dsc's address and sha256
/// (trixie's HAProxy 3.0, which bookworm's apt index does not list): the .dsc and the
/// tarballs it pins are fetched and checked, Debian's patches applied, and the same recipe
/// builds it for the router.
#[test]
fn the_newest_haproxy_comes_from_its_pinned_dsc_and_builds_with_the_same_recipe() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    const NEWEST: &str = "scenarios/builds/haproxy-newest-source.toml";
    let (code, said) = check_scenario(&root().join(SCENARIO), NEWEST);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("ok build haproxy-newest-source on mipsel-malta-openwrt") && said.contains("static"),
        "{said}"
    );
    let cache = harness::image::cache_root();
    let dsc = cache.join("sources/dsc/haproxy_3.0.11-1+deb13u3.dsc");
    let pin = "11e6fc6750be89dbe61e9ab2b338254957a2724d1f2b5d0b9ea707556a9ebb1f";
    assert_eq!(harness::image::sha256_hex(&std::fs::read(&dsc).unwrap()), pin);
    assert!(cache.join("sources/dsc/haproxy_3.0.11.orig.tar.gz").is_file());
    let dir = built(&cache, "haproxy", "3.0.11-1+deb13u3").pop();
    let facts = std::fs::read_to_string(dir.expect("a 3.0.11 build in the cache").join("build.json")).unwrap();
    assert!(facts.contains(pin) && facts.contains("Debian source haproxy_3.0.11-1+deb13u3.dsc"), "{facts}");
}

/// Boot `TARGET`, install `ipk` with the router's own opkg and run `then`: what it printed.
fn opkg_install(ipk: &Path, then: &str, run_dir: &Path) -> String {
    let o = Command::new(exe())
        .args(["vm", "run", TARGET, "--run-dir", run_dir.to_str().unwrap()])
        .args(["--upload", &format!("{}:/tmp/p.ipk", ipk.display())])
        .args(["--", &format!("opkg install /tmp/p.ipk && {then}")])
        .current_dir(root())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// nginx's configure runs what it compiles to learn the system, which a cross build cannot:
/// the recipe's patch judges those tests by compiling alone and asks the compiler for sizes
/// and byte order. What it learnt is the router's (4-byte pointers, little endian, epoll),
/// the package holds it, and it re-encrypts with every client IP kept.
#[test]
fn nginx_built_from_source_learns_the_router_at_configure_and_keeps_client_ips_on_openwrt() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    const NGINX: &str = "scenarios/builds/nginx-source.toml";
    const SCENARIO: &str = "scenarios/nginx-reencrypt-xff.toml";
    let (code, said) = check_scenario(&root().join(SCENARIO), NGINX);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("MIPS32 little-endian soft-float ELF, static"), "{said}");
    let built = built(&harness::image::cache_root(), "nginx-ssl", "1.22.1-");
    let dir = built.last().expect("a build in the cache");
    let log = std::fs::read_to_string(dir.join("build.log")).unwrap();
    for answer in ["for void * size ... 4 bytes", "for long size ... 4 bytes", "byte ordering ... little endian"] {
        assert!(log.contains(answer), "configure learnt {answer:?} for mipsel: {log}");
    }
    assert!(log.contains("checking for epoll ... found") && log.contains("for OpenSSL library ... found"), "{log}");

    // The package is the same kind of .ipk as HAProxy's above, which opkg installs: here
    // only what it holds is checked, to spare a boot.
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("build.json")).unwrap()).unwrap();
    let ipk = dir.join(facts["ipk"].as_str().unwrap());
    let list = |tgz: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("tar -xzOf '{}' ./{tgz} | tar -tzf -", ipk.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(list("data.tar.gz").contains("./usr/sbin/nginx"), "{ipk:?}");
    assert!(list("control.tar.gz").contains("./control"), "{ipk:?}");
    assert!(ipk.to_string_lossy().ends_with("_mipsel_24kc.ipk"), "{ipk:?}");

    let d = tempfile::tempdir().unwrap();
    let ran = run_briefly(SCENARIO, NGINX, d.path());
    assert_eq!(ran.code, 0, "{}", ran.out);
    let cell = &ran.report.cells[0];
    let b = cell.build.as_ref().expect("the build is described");
    assert!(b.source.contains("patched with nginx-crossbuild.patch") && b.source.contains("usr/sbin/nginx"), "{b:?}");
    assert!(b.tls.as_deref().is_some_and(|t| t.starts_with("OpenSSL 3.0.")), "{b:?}");
    assert!(b.details.contains("nginx version: nginx/1.22.1"), "its nginx -V is in the report: {b:?}");
    assert!(b.details.contains("--with-http_ssl_module") && b.details.contains("--crossbuild=Linux::mips"), "{b:?}");
    assert_eq!(cell.client_ip.verdict, Some(harness::model::Verdict::Preserved), "{}", ran.out);
    assert!(cell.client_ip.sent > 0 && cell.client_ip.sent == cell.client_ip.logged + cell.client_ip.failed);
}

/// A planted regression in C: one patch on the build (tests/fixtures/plants/haproxy-http-loop.patch)
/// spins 1,000 times each time HAProxy's request analyser runs, twice a request. Run A B C
/// A B C against its unpatched twin and an identical build under another name, the user-space
/// instruction gate trips on the plant and stays quiet on the twin. Measured here: +7.3%
/// [+6.2%, +8.4%] in user space (13.9 k instructions a request) and the twin 0.998x [0.985, 1.012].
#[test]
fn a_patch_in_c_trips_the_user_space_instruction_gate_and_its_twin_stays_quiet() {
    harness::needs!(Root, Qemu, OpenWrtMirror);
    let d = tempfile::tempdir().unwrap();
    let builds = [BUILD, "tests/fixtures/plants/haproxy-c-plant.toml", "tests/fixtures/plants/haproxy-tls-twin.toml"];
    let ran = common::run(
        &[SCENARIO, "--target", TARGET, "--builds", &builds.join(","), "--repeat", "3"]
            .into_iter()
            .chain(["--duration", "1s", "--warmup", "300ms", "--idle", "1s"])
            .collect::<Vec<_>>(),
        d.path(),
    );
    assert_eq!(ran.code, 0, "{}", ran.out);
    let plant = ran.report.cells.iter().find(|c| c.build.as_ref().is_some_and(|b| b.name == "haproxy-c-plant"));
    let b = plant.and_then(|c| c.build.as_ref()).expect("the plant ran");
    assert!(b.source.contains("patched with haproxy-http-loop.patch"), "{b:?}");

    let j = d.path().join("c.json");
    let o = Command::new(exe())
        .args(["compare", d.path().to_str().unwrap(), "--json", j.to_str().unwrap()])
        .args(["--fail-if", "insns/req-user > 1.02x"])
        .current_dir(root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(102), "the plant trips the gate: {text}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    let sides: Vec<&str> = doc["tripped"].as_array().unwrap().iter().map(|t| t["side"].as_str().unwrap()).collect();
    assert_eq!(sides, ["haproxy-c-plant"], "the twin stays quiet: {text}");
    // The loop's cost, as the patch says: 2,000 iterations of a volatile load, add, store,
    // compare and branch, 10 k-18 k user-space instructions a request.
    let user = doc["groups"][0]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "insns/req-user");
    let user = user.expect("user-space instructions on the OpenWrt image");
    let added = user["sides"][1]["value"].as_f64().unwrap() - user["sides"][0]["value"].as_f64().unwrap();
    assert!((10_000.0..18_000.0).contains(&added), "the plant added {added:.0} instructions a request: {text}");
}
