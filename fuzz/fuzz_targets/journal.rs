//! The load journal reader, through a file as `verify` reads it: no panic, and every error
//! names the line.
#![no_main]
use harness::load::read_journal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("routerlab-fuzz-journal-{}.tsv", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok((_, entries)) = read_journal(&path) {
        for e in entries {
            if let Err(e) = e {
                assert!(e.to_string().contains("line "), "{e}");
            }
        }
    }
});
