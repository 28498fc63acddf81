//! The access-log line readers (routerlab JSON, nginx combined and main): no panic on any
//! line, in any format.
#![no_main]
use harness::accesslog::{parse_line, LogFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines() {
        for f in [LogFormat::Json, LogFormat::Combined, LogFormat::Main] {
            let _ = parse_line(line, f);
        }
    }
});
