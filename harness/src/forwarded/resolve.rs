use std::net::IpAddr;

use super::Node;
use crate::netaddr::CidrList;

/// Which forwarding header the backend reads. Only the one its trusted proxy writes
/// may be read: a header the proxy passes through untouched is client-controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ClientIpHeader {
    #[default]
    Xff,
    Forwarded,
    None,
}

impl std::str::FromStr for ClientIpHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The header's own name is accepted for xff.
        let s = if s == "x-forwarded-for" { "xff" } else { s };
        crate::names::from_name(s).ok_or_else(|| {
            format!("unknown client-IP header {s:?} (expected {})", crate::names::choices::<ClientIpHeader>())
        })
    }
}

/// How the effective client IP was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ClientIpSource {
    Peer,
    ProxyProtocol,
    Xff,
    Forwarded,
}

impl ClientIpSource {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub ip: IpAddr,
    pub source: ClientIpSource,
}

/// The effective client: start at the TCP peer (or the PROXY source, which the trusted
/// peer vouched for) and walk the chain right to left while the current hop is trusted.
/// The first untrusted address is the client. `unknown`, obfuscated, missing or invalid
/// entries end the walk at the trusted hop that reported them, so a client can never
/// hide behind them. If every hop is trusted, the leftmost address wins.
pub fn resolve(
    peer: IpAddr,
    proxy_source: Option<IpAddr>,
    chain: &[Node],
    chain_source: ClientIpSource,
    trusted: &CidrList,
) -> Resolution {
    // `::ffff:a.b.c.d` is a.b.c.d (RFC 4291): a dual-stack proxy writes IPv4 clients that way.
    let canon = crate::netaddr::canonical;
    let mut cur = match proxy_source {
        Some(ip) => Resolution { ip: canon(ip), source: ClientIpSource::ProxyProtocol },
        None => Resolution { ip: canon(peer), source: ClientIpSource::Peer },
    };
    for node in chain.iter().rev() {
        if !trusted.contains(cur.ip) {
            return cur;
        }
        match node {
            Node::Ip(ip) => cur = Resolution { ip: canon(*ip), source: chain_source },
            Node::Unknown | Node::Obfuscated(_) | Node::Invalid(_) | Node::Missing => return cur,
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::super::{parse_forwarded, parse_xff};
    use super::*;

    fn trusted() -> CidrList {
        "10.0.0.0/8,2001:db8:ffff::/48".parse().unwrap()
    }

    fn xff(peer: &str, values: &[&str]) -> Resolution {
        resolve(peer.parse().unwrap(), None, &parse_xff(values.iter().copied()), ClientIpSource::Xff, &trusted())
    }

    #[test]
    fn untrusted_peer_ignores_headers() {
        let r = xff("198.51.100.9", &["1.1.1.1"]);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("198.51.100.9", ClientIpSource::Peer));
    }

    #[test]
    fn spoofed_left_entries_are_ignored() {
        // Client sent "6.6.6.6"; the trusted proxy appended the real source.
        let r = xff("10.0.0.2", &["6.6.6.6, 203.0.113.7"]);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("203.0.113.7", ClientIpSource::Xff));
    }

    #[test]
    fn chains_of_trusted_proxies_across_multiple_headers() {
        let r = xff("10.0.0.2", &["6.6.6.6", "203.0.113.7, 10.9.9.9"]);
        assert_eq!(r.ip.to_string(), "203.0.113.7");
        let all_trusted = xff("10.0.0.2", &["10.1.1.1, 10.2.2.2"]);
        assert_eq!(all_trusted.ip.to_string(), "10.1.1.1");
    }

    #[test]
    fn unknown_and_garbage_stop_at_the_reporting_proxy() {
        let r = xff("10.0.0.2", &["6.6.6.6, unknown"]);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("10.0.0.2", ClientIpSource::Peer));
        let r = xff("10.0.0.2", &["6.6.6.6, 10.0.0.7, not-an-ip"]);
        assert_eq!(r.ip.to_string(), "10.0.0.2");
        let r = xff("10.0.0.2", &["not-an-ip, 10.0.0.7"]);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("10.0.0.7", ClientIpSource::Xff));
    }

    #[test]
    fn forwarded_ipv6_and_obfuscated() {
        let fwd = |v: &str| {
            resolve("10.0.0.2".parse().unwrap(), None, &parse_forwarded([v]), ClientIpSource::Forwarded, &trusted())
        };
        let r = fwd(r#"for=6.6.6.6, for="[2001:db8:c::5]:4711""#);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("2001:db8:c::5", ClientIpSource::Forwarded));
        assert_eq!(fwd(r#"for="_hidden""#).ip.to_string(), "10.0.0.2");
        // An unquoted IPv6 node is malformed: the trusted proxy's own address is all we know.
        assert_eq!(fwd("for=[2001:db8:c::5]").ip.to_string(), "10.0.0.2");
        assert_eq!(fwd(r#"for="[2001:db8:c::5]", for="[2001:db8:ffff::1]""#).ip.to_string(), "2001:db8:c::5");
    }

    #[test]
    fn proxy_protocol_source_starts_the_walk() {
        let chain = parse_xff(["6.6.6.6"]);
        let r = resolve(
            "10.0.0.2".parse().unwrap(),
            Some("203.0.113.7".parse().unwrap()),
            &chain,
            ClientIpSource::Xff,
            &trusted(),
        );
        assert_eq!((r.ip.to_string().as_str(), r.source), ("203.0.113.7", ClientIpSource::ProxyProtocol));
    }

    #[test]
    fn v4_mapped_header_entries_are_ipv4() {
        // HAProxy bound on `:::443 v4v6` appends IPv4 clients as ::ffff:a.b.c.d.
        let r = xff("10.0.0.2", &["::ffff:203.0.113.7"]);
        assert_eq!((r.ip.to_string().as_str(), r.source), ("203.0.113.7", ClientIpSource::Xff));
        let r = xff("10.0.0.2", &["203.0.113.7, ::ffff:10.9.9.9"]);
        assert_eq!(r.ip.to_string(), "203.0.113.7", "a mapped trusted hop is still trusted");
    }

    #[test]
    fn v4_mapped_peer_is_matched_as_v4() {
        let r = xff("::ffff:10.0.0.2", &["203.0.113.7"]);
        assert_eq!(r.ip.to_string(), "203.0.113.7");
    }
}
