//! One request id followed across the links: what each carried, and the first link where
//! the client's address was gone.
use std::net::IpAddr;

use super::{CapturePoint, Sighting};
use crate::forwarded::{parse_forwarded, parse_xff, Node};
use crate::model::{HopView, RequestTrace};
use crate::netaddr::Endpoint;

/// Follow `id` (sent from `client`) through `seen`, the sightings of each point in order.
pub fn trace(
    id: &str,
    client: Option<IpAddr>,
    why: String,
    points: &[CapturePoint],
    seen: &[Vec<Sighting>],
) -> RequestTrace {
    let mut t = RequestTrace { request_id: id.to_string(), client, why, ..Default::default() };
    for (i, p) in points.iter().enumerate() {
        let s = seen.get(i).and_then(|v| v.iter().find(|s| s.request_id == id));
        let hop = match s {
            None => HopView { link: p.link.clone(), ..Default::default() },
            Some(s) => HopView {
                link: p.link.clone(),
                seen: true,
                src: Some(s.src.clone()),
                dst: Some(s.dst.clone()),
                proxy_header: s.proxy_src.clone(),
                x_forwarded_for: s.x_forwarded_for.clone(),
                forwarded: s.forwarded.clone(),
                client_carried_by: client.and_then(|c| carried_by(c, s)).map(String::from),
            },
        };
        if t.lost_at.is_none() && hop.seen && client.is_some() && hop.client_carried_by.is_none() {
            t.lost_at = Some(match i.checked_sub(1).and_then(|j| shared_host(&points[j], p)) {
                Some(device) => format!("{} (after the {device})", p.link),
                None => format!("{} (at the {})", p.link, p.ends.0),
            });
        }
        t.hops.push(hop);
    }
    t
}

/// How `s` carries `client`, if it does: as the connection's source, in the PROXY header,
/// or anywhere in X-Forwarded-For or Forwarded.
fn carried_by(client: IpAddr, s: &Sighting) -> Option<&'static str> {
    let ip = |e: &str| e.parse::<Endpoint>().ok().map(|e| e.ip).or_else(|| e.parse().ok());
    let has = |nodes: Vec<Node>| nodes.contains(&Node::Ip(client));
    if ip(&s.src) == Some(client) {
        Some("source address")
    } else if s.proxy_src.as_deref().and_then(ip) == Some(client) {
        Some("PROXY header")
    } else if s.x_forwarded_for.as_deref().is_some_and(|v| has(parse_xff([v]))) {
        Some("X-Forwarded-For")
    } else if s.forwarded.as_deref().is_some_and(|v| has(parse_forwarded([v]))) {
        Some("Forwarded")
    } else {
        None
    }
}

/// The host two consecutive links share: the device between them.
fn shared_host(a: &CapturePoint, b: &CapturePoint) -> Option<String> {
    [&a.ends.0, &a.ends.1].into_iter().find(|h| *h == &b.ends.0 || *h == &b.ends.1).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<CapturePoint> {
        [
            ("access", "clients", "internet"),
            ("wan", "internet", "router"),
            ("tunnel", "router", "hub"),
            ("lan", "hub", "backend"),
        ]
        .map(|(l, a, b)| CapturePoint {
            link: l.into(),
            host: a.into(),
            ifname: "x".into(),
            ends: (a.into(), b.into()),
        })
        .into()
    }

    fn sight(id: &str, src: &str) -> Sighting {
        Sighting { request_id: id.into(), src: src.into(), dst: "10.2.0.1:443".into(), ..Default::default() }
    }

    #[test]
    fn a_nat_that_drops_the_client_is_named_as_the_device_after_which_it_was_lost() {
        let c: IpAddr = "203.0.113.7".parse().unwrap();
        let seen = vec![
            vec![sight("r-1", "203.0.113.7:5000")],
            vec![sight("r-1", "203.0.113.7:5000"), sight("r-2", "203.0.113.8:1")],
            vec![sight("r-1", "10.1.0.1:6000")],
            vec![sight("r-1", "10.1.0.1:6000")],
        ];
        let t = trace("r-1", Some(c), "mismatch".into(), &points(), &seen);
        let by: Vec<Option<&str>> = t.hops.iter().map(|h| h.client_carried_by.as_deref()).collect();
        assert_eq!(by, [Some("source address"), Some("source address"), None, None]);
        assert_eq!(t.lost_at.as_deref(), Some("tunnel (after the router)"));
        assert!(t.lines().iter().any(|l| l.contains("tunnel") && l.contains("LOST")), "{:?}", t.lines());
    }

    #[test]
    fn headers_and_proxy_headers_carry_the_client_and_an_unseen_hop_is_not_a_loss() {
        let c: IpAddr = "2001:db8:c::2".parse().unwrap();
        let mut xff = sight("r-1", "10.1.0.1:1");
        xff.x_forwarded_for = Some("6.6.6.6, 2001:db8:c::2".into());
        let mut pp = sight("r-1", "10.1.0.1:2");
        pp.proxy_src = Some("2001:db8:c::2".into());
        let mut fwd = sight("r-1", "10.1.0.1:3");
        fwd.forwarded = Some("for=\"[2001:db8:c::2]:4711\"".into());
        let seen = vec![vec![sight("r-1", "[2001:db8:c::2]:9")], vec![xff], vec![pp], vec![fwd]];
        let t = trace("r-1", Some(c), String::new(), &points(), &seen);
        let by: Vec<_> = t.hops.iter().map(|h| h.client_carried_by.clone().unwrap()).collect();
        assert_eq!(by, ["source address", "X-Forwarded-For", "PROXY header", "Forwarded"]);
        assert_eq!(t.lost_at, None);
        let t = trace("r-1", Some(c), String::new(), &points(), &[vec![], vec![], vec![], vec![]]);
        assert!(t.hops.iter().all(|h| !h.seen) && t.lost_at.is_none());
    }

    #[test]
    fn a_forged_header_without_the_client_is_still_a_loss() {
        let mut s = sight("r-1", "10.1.0.1:1");
        s.x_forwarded_for = Some("6.6.6.6".into());
        let t = trace("r-1", "203.0.113.7".parse().ok(), String::new(), &points()[2..], &[vec![s]]);
        assert_eq!(t.lost_at.as_deref(), Some("tunnel (at the router)"));
    }
}
