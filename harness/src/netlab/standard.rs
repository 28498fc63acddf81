//! The standard lab: clients with many public-looking addresses → an internet hop → the
//! router (stand-in namespace or VM) → a tunnel with NAT → the hub → the backend.
use std::net::IpAddr;

use ipnet::IpNet;

use super::{HostSpec, Impairment, LabError, LinkEnd, LinkSpec, RouteSpec, Topology};

/// The standard lab's fixed addresses.
pub mod addr {
    pub const ROUTER_WAN4: &str = "192.0.2.1";
    pub const ROUTER_WAN6: &str = "2001:db8:1::1";
    pub const INTERNET_WAN4: &str = "192.0.2.254";
    pub const INTERNET_WAN6: &str = "2001:db8:1::fe";
    pub const ROUTER_TUN4: &str = "10.1.0.1";
    pub const ROUTER_TUN6: &str = "fd00:1::1";
    pub const HUB_TUN4: &str = "10.1.0.2";
    pub const HUB_TUN6: &str = "fd00:1::2";
    pub const HUB_LAN4: &str = "10.2.0.254";
    pub const HUB_LAN6: &str = "fd00:2::fe";
    pub const BACKEND4: &str = "10.2.0.1";
    pub const BACKEND6: &str = "fd00:2::1";
    /// Client IPv4 addresses are taken from these, in order.
    pub const CLIENT_NETS4: [&str; 3] = ["203.0.113.0/24", "198.51.100.0/24", "198.18.0.0/22"];
    pub const CLIENT_NET6: &str = "2001:db8:c::/64";
}
pub use addr as ADDR;

/// How the router reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tunnel {
    /// A plain routed link, labelled as such in reports.
    #[default]
    None,
    /// WireGuard between the router and the hub.
    WireGuard,
}

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub clients_v4: usize,
    pub clients_v6: usize,
    pub tunnel: Tunnel,
    /// The router is a VM (taps) rather than the stand-in namespace.
    pub router_vm: bool,
    /// Stand-in router only: forward TCP 443 on the WAN to the backend (DNAT), the L4 baseline.
    pub l4_forward: bool,
    /// Impairment of the WAN link (clients' side of the router).
    pub wan_impair: Impairment,
    /// Impairment of the tunnel link.
    pub tunnel_impair: Impairment,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            clients_v4: 3,
            clients_v6: 1,
            tunnel: Tunnel::None,
            router_vm: false,
            l4_forward: true,
            wan_impair: Impairment::default(),
            tunnel_impair: Impairment::default(),
        }
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("static address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("static address")
}

fn end(host: &str, ifname: &str, addrs: &[&str]) -> LinkEnd {
    LinkEnd { host: host.into(), ifname: ifname.into(), addrs: addrs.iter().map(|a| net(a)).collect() }
}

/// The client addresses a lab with `opts` has, IPv4 first.
pub fn client_addresses(opts: &LabOptions) -> Vec<IpAddr> {
    let mut out = Vec::new();
    'v4: for n in addr::CLIENT_NETS4 {
        for h in net(n).hosts() {
            if out.len() == opts.clients_v4 {
                break 'v4;
            }
            out.push(h);
        }
    }
    out.extend(net(addr::CLIENT_NET6).hosts().skip(1).take(opts.clients_v6));
    out
}

/// The standard topology. Client addresses sit on the clients' interface as /32 and /128.
pub fn standard_topology(opts: &LabOptions) -> Result<(Topology, Vec<IpAddr>), LabError> {
    let max = addr::CLIENT_NETS4.iter().map(|n| net(n).hosts().count()).sum::<usize>();
    if !(1..=max).contains(&opts.clients_v4) || opts.clients_v6 > 65_000 {
        return Err(LabError::Options {
            detail: format!("clients: 1-{max} IPv4 addresses (asked {}), up to 65000 IPv6", opts.clients_v4),
        });
    }
    if opts.tunnel == Tunnel::WireGuard && !opts.router_vm {
        return Err(LabError::Options {
            detail: "tunnel = \"wireguard\" needs the router VM (the host kernel has no WireGuard)".into(),
        });
    }
    let clients = client_addresses(opts);
    let wg = opts.tunnel == Tunnel::WireGuard;
    let mut cl = HostSpec::new("clients");
    cl.extra_addrs = clients.iter().map(|a| ("cl0".to_string(), IpNet::from(*a))).collect();
    cl.routes = vec![RouteSpec { dst: None, via: ip("172.31.0.1") }, RouteSpec { dst: None, via: ip("fd00:31::1") }];

    let mut inet = HostSpec::new("internet");
    inet.forwarding = true;
    for n in addr::CLIENT_NETS4 {
        inet.routes.push(RouteSpec { dst: Some(net(n)), via: ip("172.31.0.2") });
    }
    inet.routes.push(RouteSpec { dst: Some(net(addr::CLIENT_NET6)), via: ip("fd00:31::2") });

    let mut router = HostSpec::new("router");
    router.forwarding = true;
    router.vm = opts.router_vm;
    if !opts.router_vm {
        router.routes = vec![
            RouteSpec { dst: None, via: ip(addr::INTERNET_WAN4) },
            RouteSpec { dst: None, via: ip(addr::INTERNET_WAN6) },
            RouteSpec { dst: Some(net("10.2.0.0/24")), via: ip(addr::HUB_TUN4) },
            RouteSpec { dst: Some(net("fd00:2::/64")), via: ip(addr::HUB_TUN6) },
        ];
        router.nft = Some(router_nft(opts.l4_forward));
    }

    let mut hub = HostSpec::new("hub");
    hub.forwarding = true;
    let mut backend = HostSpec::new("backend");
    backend.routes =
        vec![RouteSpec { dst: None, via: ip(addr::HUB_LAN4) }, RouteSpec { dst: None, via: ip(addr::HUB_LAN6) }];

    let links = vec![
        LinkSpec {
            name: "access".into(),
            a: end("clients", "cl0", &["172.31.0.2/30", "fd00:31::2/64"]),
            b: end("internet", "in0", &["172.31.0.1/30", "fd00:31::1/64"]),
            impair: Impairment::default(),
        },
        LinkSpec {
            name: "wan".into(),
            a: end("internet", "in1", &["192.0.2.254/24", "2001:db8:1::fe/64"]),
            b: end("router", "wan0", &["192.0.2.1/24", "2001:db8:1::1/64"]),
            impair: opts.wan_impair.clone(),
        },
        // With WireGuard this link is the underlay; 10.1.0.0/30 lives on the wg interfaces.
        LinkSpec {
            name: "tunnel".into(),
            a: end(
                "router",
                "tun0",
                if wg { &["10.9.0.1/30", "fd00:9::1/64"] } else { &["10.1.0.1/30", "fd00:1::1/64"] },
            ),
            b: end("hub", "hub0", if wg { &["10.9.0.2/30", "fd00:9::2/64"] } else { &["10.1.0.2/30", "fd00:1::2/64"] }),
            impair: opts.tunnel_impair.clone(),
        },
        LinkSpec {
            name: "lan".into(),
            a: end("hub", "be0", &["10.2.0.254/24", "fd00:2::fe/64"]),
            b: end("backend", "eth0", &["10.2.0.1/24", "fd00:2::1/64"]),
            impair: Impairment::default(),
        },
    ];
    Ok((Topology { hosts: vec![cl, inet, router, hub, backend], links }, clients))
}

/// A home router's NAT: masquerade into the tunnel; optionally the L4 forward of TCP 443.
pub fn router_nft(l4_forward: bool) -> String {
    let dnat = |to: &str| {
        if l4_forward {
            format!("        iifname \"wan0\" tcp dport 443 dnat to {to}\n        iifname \"wan0\" tcp dport 80 dnat to {}\n", to.replace(":443", ":80"))
        } else {
            String::new()
        }
    };
    let table = |fam: &str, to: &str| {
        format!(
            "table {fam} routerlab {{\n    chain prerouting {{\n        type nat hook prerouting priority dstnat; policy accept;\n{}    }}\n    chain postrouting {{\n        type nat hook postrouting priority srcnat; policy accept;\n        oifname \"tun0\" masquerade\n    }}\n}}\n",
            dnat(to)
        )
    };
    format!("{}{}", table("ip", &format!("{}:443", addr::BACKEND4)), table("ip6", &format!("[{}]:443", addr::BACKEND6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_topology_validates_with_1000_clients() {
        let (t, clients) =
            standard_topology(&LabOptions { clients_v4: 1000, clients_v6: 100, ..Default::default() }).unwrap();
        t.validate().unwrap();
        assert_eq!(clients.len(), 1100);
        assert_eq!(clients[0].to_string(), "203.0.113.1");
        assert_eq!(clients[254].to_string(), "198.51.100.1", "the 254 hosts of the first /24, then the next /24");
        assert!(clients.iter().filter(|a| a.is_ipv6()).all(|a| a.to_string().starts_with("2001:db8:c::")));
    }

    #[test]
    fn bad_options_are_explained() {
        let e = standard_topology(&LabOptions { clients_v4: 0, ..Default::default() }).unwrap_err().to_string();
        assert!(e.starts_with("clients: 1-"), "{e}");
        let e =
            standard_topology(&LabOptions { tunnel: Tunnel::WireGuard, ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("host kernel has no WireGuard"), "{e}");
    }

    #[test]
    fn nft_rules_masquerade_and_optionally_forward() {
        let r = router_nft(true);
        assert!(
            r.contains("oifname \"tun0\" masquerade")
                && r.contains("dnat to 10.2.0.1:443")
                && r.contains("dnat to [fd00:2::1]:443")
        );
        assert!(!router_nft(false).contains("dnat"));
    }
}
