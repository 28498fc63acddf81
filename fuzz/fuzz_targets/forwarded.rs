//! X-Forwarded-For and RFC 7239 Forwarded parsing and client-IP resolution: no panic, and the
//! resolved client is always an address the resolver was given (the peer, the PROXY source
//! or one in the chain), never invented.
#![no_main]
use std::net::IpAddr;

use harness::forwarded::{parse_forwarded, parse_xff, resolve, ClientIpSource, Node};
use harness::netaddr::{canonical, CidrList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Headers are the lines; the first byte picks who is trusted.
    let values: Vec<&str> = text.lines().collect();
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    let trusted = CidrList::new(match data.first().map(|b| b % 3) {
        Some(0) => vec![],
        Some(1) => vec!["10.0.0.0/8".parse().unwrap()],
        _ => vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
    });
    for (chain, source) in
        [(parse_xff(values.iter().copied()), ClientIpSource::Xff), (parse_forwarded(values.iter().copied()), ClientIpSource::Forwarded)]
    {
        for proxy in [None, Some("192.0.2.7".parse::<IpAddr>().unwrap())] {
            let r = resolve(peer, proxy, &chain, source, &trusted);
            let given = |ip: IpAddr| canonical(ip) == r.ip;
            let known = given(peer)
                || proxy.is_some_and(given)
                || chain.iter().any(|n| matches!(n, Node::Ip(ip) if given(*ip)));
            assert!(known, "resolved {} from neither the peer, the PROXY source nor {chain:?}", r.ip);
        }
    }
});
