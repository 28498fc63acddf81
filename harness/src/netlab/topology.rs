//! A lab topology as plain data, and the checks that reject it before anything is built.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::LabError;

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Host names become part of namespace names `<prefix>-<host>`; keep them short.
pub const HOST_MAX: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `None` for the default route.
    pub dst: Option<IpNet>,
    pub via: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    /// Route between interfaces (IPv4 and IPv6).
    pub forwarding: bool,
    pub routes: Vec<RouteSpec>,
    /// An nftables ruleset loaded with `nft -f -`.
    pub nft: Option<String>,
    /// Extra addresses (e.g. many client addresses), as (interface, address/len).
    pub extra_addrs: Vec<(String, IpNet)>,
    /// A VM runs here instead of the host itself being the node (links become taps).
    pub vm: bool,
}

impl HostSpec {
    pub fn new(name: &str) -> HostSpec {
        HostSpec {
            name: name.into(),
            forwarding: false,
            routes: Vec::new(),
            nft: None,
            extra_addrs: Vec::new(),
            vm: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnd {
    pub host: String,
    pub ifname: String,
    pub addrs: Vec<IpNet>,
}

/// Link impairments, applied with netem where a kernel has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impairment {
    pub delay: Option<std::time::Duration>,
    pub jitter: Option<std::time::Duration>,
    /// Loss in percent, e.g. "0.5".
    pub loss_pct: Option<String>,
    /// Rate, e.g. "10mbit".
    pub rate: Option<String>,
}

impl Impairment {
    pub fn is_empty(&self) -> bool {
        self.delay.is_none() && self.jitter.is_none() && self.loss_pct.is_none() && self.rate.is_none()
    }

    /// Arguments after `tc qdisc replace dev IF root netem`.
    pub fn netem_args(&self) -> Vec<String> {
        let us = |d: std::time::Duration| format!("{}us", d.as_micros());
        let mut a = Vec::new();
        if let Some(d) = self.delay {
            a.extend(["delay".to_string(), us(d)]);
            if let Some(j) = self.jitter {
                a.push(us(j));
            }
        }
        if let Some(l) = &self.loss_pct {
            a.extend(["loss".to_string(), format!("{l}%")]);
        }
        if let Some(r) = &self.rate {
            a.extend(["rate".to_string(), r.clone()]);
        }
        a
    }
}

/// A point-to-point link: a veth pair, or for a VM host a tap bridged to the peer's veth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub name: String,
    pub a: LinkEnd,
    pub b: LinkEnd,
    /// Applied on both ends (each direction), or inside the VM for a VM end.
    pub impair: Impairment,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub hosts: Vec<HostSpec>,
    pub links: Vec<LinkSpec>,
}

impl Topology {
    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Reject the topology before anything is built: bad names, unknown hosts, overlapping
    /// subnets, duplicate addresses.
    pub fn validate(&self) -> Result<(), LabError> {
        let mut names = BTreeSet::new();
        for h in &self.hosts {
            let bad = |detail: String| LabError::BadHost { host: h.name.clone(), detail };
            if h.name.is_empty()
                || h.name.len() > HOST_MAX
                || !h.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(bad(format!("names are 1-{HOST_MAX} lower-case letters and digits")));
            }
            if !names.insert(h.name.as_str()) {
                return Err(bad("defined twice".into()));
            }
            for (ifname, _) in &h.extra_addrs {
                check_ifname(ifname).map_err(bad)?;
            }
        }
        let mut ifnames: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut subnets: Vec<(IpNet, &str)> = Vec::new();
        let mut addrs: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut links = BTreeSet::new();
        for l in &self.links {
            let bad = |detail: String| LabError::BadLink { link: l.name.clone(), detail };
            if !links.insert(l.name.as_str()) {
                return Err(bad("defined twice".into()));
            }
            for end in [&l.a, &l.b] {
                if self.host(&end.host).is_none() {
                    return Err(bad(format!("unknown host {:?}", end.host)));
                }
                check_ifname(&end.ifname).map_err(bad)?;
                if !ifnames.insert((end.host.as_str(), end.ifname.as_str())) {
                    return Err(bad(format!("interface {} on {} is used twice", end.ifname, end.host)));
                }
                for a in &end.addrs {
                    if let Some(other) = addrs.insert(a.addr(), format!("{}/{}", l.name, end.host)) {
                        return Err(bad(format!("address {} is also on {other}", a.addr())));
                    }
                }
            }
            if l.a.host == l.b.host {
                return Err(bad(format!("both ends are on {}", l.a.host)));
            }
            if l.impair.jitter.is_some() && l.impair.delay.is_none() {
                return Err(bad("jitter needs a delay".into()));
            }
            if let Some(loss) = &l.impair.loss_pct {
                if !loss.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v)) {
                    return Err(bad(format!("loss {loss:?} is not a percentage from 0 to 100")));
                }
            }
            let nets: BTreeSet<IpNet> = l.a.addrs.iter().chain(&l.b.addrs).map(|a| a.trunc()).collect();
            for n in nets {
                if let Some((m, other)) = subnets
                    .iter()
                    .find(|(m, other)| *other != l.name && (m.contains(&n.network()) || n.contains(&m.network())))
                {
                    return Err(bad(format!("subnet {n} overlaps {m} of link {other:?}")));
                }
                subnets.push((n, &l.name));
            }
        }
        for h in &self.hosts {
            for (_, a) in &h.extra_addrs {
                if let Some(other) = addrs.insert(a.addr(), format!("host {}", h.name)) {
                    return Err(LabError::BadHost {
                        host: h.name.clone(),
                        detail: format!("address {} is also on {other}", a.addr()),
                    });
                }
            }
        }
        Ok(())
    }
}

fn check_ifname(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > IFNAME_MAX || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("interface name {n:?} must be 1-{IFNAME_MAX} characters [A-Za-z0-9_-]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(host: &str, ifname: &str, addr: &str) -> LinkEnd {
        LinkEnd { host: host.into(), ifname: ifname.into(), addrs: vec![addr.parse().unwrap()] }
    }

    fn topo() -> Topology {
        Topology {
            hosts: vec![HostSpec::new("a"), HostSpec::new("b"), HostSpec::new("c")],
            links: vec![
                LinkSpec {
                    name: "ab".into(),
                    a: end("a", "a0", "10.0.0.1/30"),
                    b: end("b", "b0", "10.0.0.2/30"),
                    impair: Impairment::default(),
                },
                LinkSpec {
                    name: "bc".into(),
                    a: end("b", "b1", "10.0.1.1/30"),
                    b: end("c", "c0", "10.0.1.2/30"),
                    impair: Impairment::default(),
                },
            ],
        }
    }

    #[test]
    fn netem_arguments_and_checks() {
        let i = Impairment {
            delay: Some(std::time::Duration::from_millis(20)),
            jitter: Some(std::time::Duration::from_millis(5)),
            loss_pct: Some("0.5".into()),
            rate: Some("10mbit".into()),
        };
        assert_eq!(i.netem_args().join(" "), "delay 20000us 5000us loss 0.5% rate 10mbit");
        let mut t = topo();
        t.links[0].impair = Impairment { loss_pct: Some("150".into()), ..Default::default() };
        assert!(t.validate().unwrap_err().to_string().contains("loss \"150\" is not a percentage"));
        t.links[0].impair = Impairment { jitter: Some(std::time::Duration::from_millis(1)), ..Default::default() };
        assert!(t.validate().unwrap_err().to_string().contains("jitter needs a delay"));
    }

    #[test]
    fn a_good_topology_passes() {
        topo().validate().unwrap();
    }

    #[test]
    fn errors_name_the_host_or_link() {
        let mut t = topo();
        t.links[1].b.host = "nowhere".into();
        assert_eq!(t.validate().unwrap_err().to_string(), "topology: link \"bc\": unknown host \"nowhere\"");
        let mut t = topo();
        t.links[0].a.ifname = "averyveryverylongname".into();
        assert!(t
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("topology: link \"ab\": interface name \"averyveryverylongname\" must be 1-15"));
        let mut t = topo();
        t.links[1].a.addrs = vec!["10.0.0.5/29".parse().unwrap()];
        t.links[1].b.addrs = vec!["10.0.0.6/29".parse().unwrap()];
        assert_eq!(
            t.validate().unwrap_err().to_string(),
            "topology: link \"bc\": subnet 10.0.0.0/29 overlaps 10.0.0.0/30 of link \"ab\""
        );
        let mut t = topo();
        t.hosts[2].name = "a-very-long-hostname".into();
        assert!(t.validate().unwrap_err().to_string().starts_with("topology: host \"a-very-long-hostname\""));
        let mut t = topo();
        t.hosts[0].extra_addrs.push(("a0".into(), "10.0.1.2/32".parse().unwrap()));
        assert!(t.validate().unwrap_err().to_string().contains("address 10.0.1.2 is also on bc/c"));
    }
}
