//! Differential: routerlab's strict PROXY parser against the independent `ppp` crate.
//! Whatever routerlab accepts as a complete header, ppp must accept too, from the same
//! bytes, with the same source and destination (an address-less LOCAL, UNSPEC, UNKNOWN or
//! UNIX header carries none in both). routerlab is allowed to be the stricter: an input
//! ppp accepts and routerlab refuses is not a finding.
#![no_main]
use std::net::SocketAddr;

use harness::proxyproto::{parse, Command, HeaderPolicy, Parsed, Version};
use libfuzzer_sys::fuzz_target;
use ppp::{v1, v2, HeaderResult};

type Ends = (Option<SocketAddr>, Option<SocketAddr>);

fn v1_ends(a: v1::Addresses) -> Ends {
    match a {
        v1::Addresses::Unknown => (None, None),
        v1::Addresses::Tcp4(x) => (
            Some((x.source_address, x.source_port).into()),
            Some((x.destination_address, x.destination_port).into()),
        ),
        v1::Addresses::Tcp6(x) => (
            Some((x.source_address, x.source_port).into()),
            Some((x.destination_address, x.destination_port).into()),
        ),
    }
}

fn v2_ends(h: &v2::Header<'_>) -> Ends {
    if h.command == v2::Command::Local {
        return (None, None);
    }
    match h.addresses {
        v2::Addresses::IPv4(x) => (
            Some((x.source_address, x.source_port).into()),
            Some((x.destination_address, x.destination_port).into()),
        ),
        v2::Addresses::IPv6(x) => (
            Some((x.source_address, x.source_port).into()),
            Some((x.destination_address, x.destination_port).into()),
        ),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => (None, None),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Parsed::Complete { header, consumed }) = parse(data, HeaderPolicy::Any) else { return };
    let bytes = &data[..consumed];
    let theirs = match HeaderResult::parse(bytes) {
        HeaderResult::V1(Ok(h)) => v1_ends(h.addresses),
        HeaderResult::V2(Ok(h)) => v2_ends(&h),
        // Known differences, where the spec sides with routerlab: a v2 LOCAL header
        // must be accepted and its protocol block discarded "including the family which is
        // ignored", so routerlab takes any family and block length there; ppp checks them
        // (an unknown family, or a UNIX family without its 216-byte block). Anything else
        // is a finding. (ppp then tries v1 on the same bytes, so its error may be either.)
        _ if header.version == Version::V2 && header.command == Command::Local => return,
        // The same for v1 UNKNOWN: "the receiver must ignore anything presented before the
        // CRLF", which routerlab does; ppp refuses some of what follows UNKNOWN.
        _ if header.version == Version::V1 && header.source.is_none() => return,
        other => panic!("routerlab accepted {bytes:?} as {header:?}; ppp said {other:?}"),
    };
    let ours = if header.command == Command::Local { (None, None) } else { (header.source, header.destination) };
    assert_eq!(ours, theirs, "{bytes:?}");
});
