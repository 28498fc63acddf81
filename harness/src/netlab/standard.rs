//! The standard lab: clients with many public-looking addresses → an internet hop → the
//! router (stand-in namespace or VM) → a tunnel with NAT → the hub → the backend.
use std::net::IpAddr;

use ipnet::IpNet;

use super::{HostSpec, Impairment, LabError, LinkEnd, LinkSpec, RouteSpec, Topology};

/// The standard lab's fixed addresses: the one table the topology, the router-side
/// templates ([`addr::template_vars`]), the certificates and the scenario defaults read.
pub mod addr {
    /// The WAN (internet hop ↔ router).
    pub const WAN_PREFIX4: u8 = 24;
    pub const ROUTER_WAN4: &str = "192.0.2.1";
    pub const ROUTER_WAN6: &str = "2001:db8:1::1";
    pub const INTERNET_WAN4: &str = "192.0.2.254";
    pub const INTERNET_WAN6: &str = "2001:db8:1::fe";
    /// The tunnel's inner addresses (on `wg0`, or on `tun0` without WireGuard), /30 and /64.
    pub const ROUTER_TUN4: &str = "10.1.0.1";
    pub const ROUTER_TUN6: &str = "fd00:1::1";
    pub const HUB_TUN4: &str = "10.1.0.2";
    pub const HUB_TUN6: &str = "fd00:1::2";
    /// The WireGuard underlay on `tun0` (router ↔ hub), /30 and /64.
    pub const ROUTER_UNDERLAY4: &str = "10.9.0.1";
    pub const ROUTER_UNDERLAY6: &str = "fd00:9::1";
    pub const HUB_UNDERLAY4: &str = "10.9.0.2";
    pub const HUB_UNDERLAY6: &str = "fd00:9::2";
    /// The backend's network behind the hub.
    pub const BACKEND_NET4: &str = "10.2.0.0/24";
    pub const BACKEND_NET6: &str = "fd00:2::/64";
    pub const HUB_LAN4: &str = "10.2.0.254";
    pub const HUB_LAN6: &str = "fd00:2::fe";
    pub const BACKEND4: &str = "10.2.0.1";
    pub const BACKEND6: &str = "fd00:2::1";
    /// Client IPv4 addresses are taken from these, in order.
    pub const CLIENT_NETS4: [&str; 3] = ["203.0.113.0/24", "198.51.100.0/24", "198.18.0.0/22"];
    pub const CLIENT_NET6: &str = "2001:db8:c::/64";
    /// The access link (clients ↔ internet hop), /30 and /64.
    pub const CLIENTS_ACCESS4: &str = "172.31.0.2";
    pub const CLIENTS_ACCESS6: &str = "fd00:31::2";
    pub const INTERNET_ACCESS4: &str = "172.31.0.1";
    pub const INTERNET_ACCESS6: &str = "fd00:31::1";

    /// The most client IPv4 addresses the client networks hold.
    pub fn max_clients_v4() -> usize {
        CLIENT_NETS4.iter().map(|n| n.parse::<ipnet::IpNet>().expect("static network").hosts().count()).sum()
    }

    /// Every address above as a template field (`router_wan4`, `backend_net6`, ...).
    pub fn template_vars() -> crate::template::Vars {
        [
            ("wan_prefix4", WAN_PREFIX4.to_string()),
            ("router_wan4", ROUTER_WAN4.into()),
            ("router_wan6", ROUTER_WAN6.into()),
            ("internet_wan4", INTERNET_WAN4.into()),
            ("internet_wan6", INTERNET_WAN6.into()),
            ("router_tun4", ROUTER_TUN4.into()),
            ("router_tun6", ROUTER_TUN6.into()),
            ("hub_tun4", HUB_TUN4.into()),
            ("hub_tun6", HUB_TUN6.into()),
            ("router_underlay4", ROUTER_UNDERLAY4.into()),
            ("router_underlay6", ROUTER_UNDERLAY6.into()),
            ("hub_underlay4", HUB_UNDERLAY4.into()),
            ("hub_underlay6", HUB_UNDERLAY6.into()),
            ("backend_net4", BACKEND_NET4.into()),
            ("backend_net6", BACKEND_NET6.into()),
            ("backend4", BACKEND4.into()),
            ("backend6", BACKEND6.into()),
        ]
        .into_iter()
        .collect()
    }
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

/// One end of a link with its IPv4 and IPv6 address and their prefix lengths.
fn end(host: &str, ifname: &str, (a4, p4): (&str, u8), (a6, p6): (&str, u8)) -> LinkEnd {
    LinkEnd {
        host: host.into(),
        ifname: ifname.into(),
        addrs: vec![net(&format!("{a4}/{p4}")), net(&format!("{a6}/{p6}"))],
    }
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
    let max = addr::max_clients_v4();
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
    cl.routes = vec![
        RouteSpec { dst: None, via: ip(addr::INTERNET_ACCESS4) },
        RouteSpec { dst: None, via: ip(addr::INTERNET_ACCESS6) },
    ];

    let mut inet = HostSpec::new("internet");
    inet.forwarding = true;
    for n in addr::CLIENT_NETS4 {
        inet.routes.push(RouteSpec { dst: Some(net(n)), via: ip(addr::CLIENTS_ACCESS4) });
    }
    inet.routes.push(RouteSpec { dst: Some(net(addr::CLIENT_NET6)), via: ip(addr::CLIENTS_ACCESS6) });

    let mut router = HostSpec::new("router");
    router.forwarding = true;
    router.vm = opts.router_vm;
    if !opts.router_vm {
        router.routes = vec![
            RouteSpec { dst: None, via: ip(addr::INTERNET_WAN4) },
            RouteSpec { dst: None, via: ip(addr::INTERNET_WAN6) },
            RouteSpec { dst: Some(net(addr::BACKEND_NET4)), via: ip(addr::HUB_TUN4) },
            RouteSpec { dst: Some(net(addr::BACKEND_NET6)), via: ip(addr::HUB_TUN6) },
        ];
        router.nft = Some(router_nft("tun0", opts.l4_forward));
    }

    let mut hub = HostSpec::new("hub");
    hub.forwarding = true;
    let mut backend = HostSpec::new("backend");
    backend.routes =
        vec![RouteSpec { dst: None, via: ip(addr::HUB_LAN4) }, RouteSpec { dst: None, via: ip(addr::HUB_LAN6) }];

    let links = links(opts, wg);
    Ok((Topology { hosts: vec![cl, inet, router, hub, backend], links }, clients))
}

/// The lab's four links with the table's addresses: access, WAN, tunnel (the WireGuard
/// underlay when `wg`), LAN.
fn links(opts: &LabOptions, wg: bool) -> Vec<LinkSpec> {
    use addr::*;
    let w = WAN_PREFIX4;
    // With WireGuard the tunnel link is the underlay; the tunnel addresses live on the wg interfaces.
    let (router_tun, hub_tun) = if wg {
        (((ROUTER_UNDERLAY4, 30), (ROUTER_UNDERLAY6, 64)), ((HUB_UNDERLAY4, 30), (HUB_UNDERLAY6, 64)))
    } else {
        (((ROUTER_TUN4, 30), (ROUTER_TUN6, 64)), ((HUB_TUN4, 30), (HUB_TUN6, 64)))
    };
    let (lan4, lan6) = (net(BACKEND_NET4).prefix_len(), net(BACKEND_NET6).prefix_len());
    vec![
        LinkSpec {
            name: "access".into(),
            a: end("clients", "cl0", (CLIENTS_ACCESS4, 30), (CLIENTS_ACCESS6, 64)),
            b: end("internet", "in0", (INTERNET_ACCESS4, 30), (INTERNET_ACCESS6, 64)),
            impair: Impairment::default(),
        },
        LinkSpec {
            name: "wan".into(),
            a: end("internet", "in1", (INTERNET_WAN4, w), (INTERNET_WAN6, 64)),
            b: end("router", "wan0", (ROUTER_WAN4, w), (ROUTER_WAN6, 64)),
            impair: opts.wan_impair.clone(),
        },
        LinkSpec {
            name: "tunnel".into(),
            a: end("router", "tun0", router_tun.0, router_tun.1),
            b: end("hub", "hub0", hub_tun.0, hub_tun.1),
            impair: opts.tunnel_impair.clone(),
        },
        LinkSpec {
            name: "lan".into(),
            a: end("hub", "be0", (HUB_LAN4, lan4), (HUB_LAN6, lan6)),
            b: end("backend", "eth0", (BACKEND4, lan4), (BACKEND6, lan6)),
            impair: Impairment::default(),
        },
    ]
}

/// The router's nftables templates (`scenarios/templates/router/`), compiled in.
pub const NAT_NFT: &str = include_str!("../../../scenarios/templates/router/nat.nft");
pub const L4_FORWARD_NFT: &str = include_str!("../../../scenarios/templates/router/l4-forward.nft");

/// A home router's NAT: masquerade into the tunnel (`tunnel_if`); optionally the layer-4
/// forward of TCP 443 and 80 to the backend. One ruleset for `nft -f`, in the stand-in
/// router namespace and on the router VM alike.
pub fn router_nft(tunnel_if: &str, l4_forward: bool) -> String {
    let mut vars = addr::template_vars();
    vars.insert("tunnel_if", tunnel_if.into());
    let render = |name: &str, text: &str| crate::template::render(name, text, &vars).expect("shipped template renders");
    let mut out = render("router/nat.nft", NAT_NFT);
    if l4_forward {
        out.push_str(&render("router/l4-forward.nft", L4_FORWARD_NFT));
    }
    out
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
        let r = router_nft("tun0", true);
        assert!(
            r.contains("oifname \"tun0\" masquerade")
                && r.contains("dnat to 10.2.0.1:443")
                && r.contains("dnat to [fd00:2::1]:443")
        );
        assert!(!router_nft("wg0", false).contains("dnat"));
        assert!(router_nft("wg0", false).contains("oifname \"wg0\" masquerade"));
    }
}
