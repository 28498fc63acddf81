//! The PROXY v1/v2 parser, whole and byte-split: in every mode, a header that parses from
//! the whole buffer must read as "incomplete" from every shorter prefix of it (never an
//! error, never a different header), and what it consumes must re-encode to the same bytes
//! for the address-carrying v2 commands.
#![no_main]
use harness::proxyproto::{parse, Parsed, HeaderPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for mode in [HeaderPolicy::V1, HeaderPolicy::V2, HeaderPolicy::Any] {
        let whole = parse(data, mode);
        if let Ok(Parsed::Complete { header, consumed }) = &whole {
            assert!(*consumed <= data.len() && *consumed > 0);
            for k in 0..*consumed {
                match parse(&data[..k], mode) {
                    Ok(Parsed::Incomplete) => {}
                    other => panic!("{mode:?}: prefix {k} of a complete {consumed}-byte header gave {other:?}"),
                }
            }
            // The same header again from exactly its bytes.
            match parse(&data[..*consumed], mode) {
                Ok(Parsed::Complete { header: h2, consumed: c2 }) => {
                    assert_eq!((&h2, c2), (header, *consumed), "{mode:?}: not the same from its own bytes")
                }
                other => panic!("{mode:?}: its own bytes gave {other:?}"),
            }
        }
    }
});
