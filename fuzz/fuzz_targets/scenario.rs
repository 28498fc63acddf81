//! The scenario loader (TOML to a validated plan): no panic, and every error is one line that
//! names the file and a place in it.
#![no_main]
use harness::scenario::load_plan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("routerlab-fuzz-scenario-{}.toml", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Err(e) = load_plan(&path) {
        let msg = e.to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
    }
});
