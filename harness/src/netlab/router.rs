//! The router VM's side of the lab as data: what to write and run on its console so that it
//! has the topology's addresses, routes, tunnel and NAT. Rendered from the templates in
//! `scenarios/templates/router/` with the addresses of [`ADDR`]; nothing here runs anything.
use super::standard::{router_nft, L4_FORWARD_NFT};
use super::{WgPlan, ADDR};
use crate::template::{commands, render, Vars};

const NETWORK_SH: &str = include_str!("../../../scenarios/templates/router/network.sh");
const TUNNEL_WIREGUARD_SH: &str = include_str!("../../../scenarios/templates/router/tunnel-wireguard.sh");
const TUNNEL_ROUTED_SH: &str = include_str!("../../../scenarios/templates/router/tunnel-routed.sh");
const CONNTRACK_SH: &str = include_str!("../../../scenarios/templates/router/conntrack.sh");

/// What the guest prints of its conntrack table's size, after [`router_steps`].
pub const CONNTRACK_MAX_PROBE: &str = "cat /proc/sys/net/netfilter/nf_conntrack_max";

/// Where the router's rulesets go in the guest.
pub const NAT_PATH: &str = "/etc/routerlab/nat.nft";
pub const L4_FORWARD_PATH: &str = "/etc/routerlab/l4-forward.nft";

/// One thing to do on the router's console, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestStep {
    /// Put this file into the guest (small: configs, rulesets).
    File { path: String, contents: String },
    /// Copy this host file into the guest (certificates made for the run).
    Copy { from: std::path::PathBuf, path: String },
    /// Run this shell command; it must exit 0.
    Run(String),
}

impl GuestStep {
    pub fn run(cmd: impl Into<String>) -> GuestStep {
        GuestStep::Run(cmd.into())
    }
}

/// The MACs the runner gives the router's lab NICs, which the guest renames by.
pub const WAN_MAC: &str = "52:54:00:00:01:01";
pub const TUN_MAC: &str = "52:54:00:00:01:02";

fn rendered(name: &str, text: &str, vars: &Vars) -> Vec<GuestStep> {
    let text = render(name, text, vars).expect("shipped router template renders with the lab's fields");
    commands(&text).into_iter().map(GuestStep::Run).collect()
}

/// Name the NICs after the topology (`wan0`, `tun0`), address them, reach the hub through
/// `wg0` (with `wg`) or over `tun0` itself (a routed link, `None`), route the backend
/// network there and masquerade into it (IPv4 and IPv6), as a home router does; with
/// `conntrack_max`, size the connection-tracking table the NAT loaded.
pub fn router_steps(wg: Option<&WgPlan>, conntrack_max: Option<u32>) -> Vec<GuestStep> {
    let mut vars = ADDR::template_vars();
    vars.insert("wan_mac", WAN_MAC.into());
    vars.insert("tun_mac", TUN_MAC.into());
    let mut steps = rendered("router/network.sh", NETWORK_SH, &vars);
    let tunnel_if = match wg {
        Some(plan) => {
            vars.insert("wg_port", plan.port.to_string());
            vars.insert("wg_private_key", plan.router.private.clone());
            vars.insert("wg_hub_public_key", plan.hub.public.clone());
            steps.extend(rendered("router/tunnel-wireguard.sh", TUNNEL_WIREGUARD_SH, &vars));
            "wg0"
        }
        None => {
            steps.extend(rendered("router/tunnel-routed.sh", TUNNEL_ROUTED_SH, &vars));
            "tun0"
        }
    };
    steps.push(GuestStep::File { path: NAT_PATH.into(), contents: router_nft(tunnel_if, false) });
    steps.push(GuestStep::run(format!("nft -f {NAT_PATH}")));
    if let Some(n) = conntrack_max {
        vars.insert("conntrack_max", n.to_string());
        steps.extend(rendered("router/conntrack.sh", CONNTRACK_SH, &vars));
    }
    steps
}

/// The layer-4 baseline on the router: DNAT of the WAN's TCP 443 and 80 to the backend.
pub fn l4_forward_steps() -> Vec<GuestStep> {
    let text = render("router/l4-forward.nft", L4_FORWARD_NFT, &ADDR::template_vars())
        .expect("shipped router template renders with the lab's fields");
    vec![
        GuestStep::File { path: L4_FORWARD_PATH.into(), contents: text },
        GuestStep::run(format!("nft -f {L4_FORWARD_PATH}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlab::WgKeys;

    fn wg() -> WgPlan {
        let k = |s: &str| WgKeys { private: format!("{s}-private"), public: format!("{s}-public") };
        WgPlan { router: k("router"), hub: k("hub"), hub_ifname: "rlxwg".into(), port: 51820 }
    }

    fn runs(steps: &[GuestStep]) -> Vec<&str> {
        steps.iter().filter_map(|s| if let GuestStep::Run(c) = s { Some(c.as_str()) } else { None }).collect()
    }

    #[test]
    fn wireguard_puts_the_tunnel_addresses_on_wg0_and_masquerades_there() {
        let steps = router_steps(Some(&wg()), None);
        let all = runs(&steps).join("\n");
        assert!(all.contains(&format!("ip addr add {}/30 dev wg0", ADDR::ROUTER_TUN4)), "{all}");
        assert!(all.contains(&format!("ip addr add {}/30 dev tun0", ADDR::ROUTER_UNDERLAY4)), "{all}");
        assert!(all.contains("peer hub-public endpoint 10.9.0.2:51820"), "{all}");
        assert!(all.contains("echo router-private > /tmp/wg.key"), "{all}");
        let nat = steps.iter().find_map(|s| match s {
            GuestStep::File { path, contents } if path == NAT_PATH => Some(contents.clone()),
            _ => None,
        });
        assert!(nat.unwrap().contains("oifname \"wg0\" masquerade"));
        assert_eq!(steps.last(), Some(&GuestStep::run(format!("nft -f {NAT_PATH}"))));
    }

    #[test]
    fn a_routed_tunnel_has_no_wireguard_and_every_command_fits_the_console() {
        let steps = router_steps(None, None);
        let all = runs(&steps).join("\n");
        assert!(
            !all.contains("wg") && all.contains(&format!("ip route add {} via {}", ADDR::BACKEND_NET4, ADDR::HUB_TUN4))
        );
        for s in router_steps(Some(&wg()), None).iter().chain(&steps).chain(&l4_forward_steps()) {
            if let GuestStep::Run(c) = s {
                assert!(c.len() < 900, "over the console's line limit: {c}");
            }
        }
    }

    #[test]
    fn a_conntrack_size_is_set_after_the_nat_that_loads_the_table() {
        let steps = router_steps(None, Some(16384));
        let nft = steps.iter().position(|s| s == &GuestStep::run(format!("nft -f {NAT_PATH}"))).unwrap();
        assert_eq!(&steps[nft + 1..], [GuestStep::run("sysctl -qw net.netfilter.nf_conntrack_max=16384")]);
        assert!(!runs(&router_steps(None, None)).join("\n").contains("conntrack"));
    }

    #[test]
    fn the_l4_forward_goes_to_the_backend_on_both_families() {
        let GuestStep::File { contents, .. } = &l4_forward_steps()[0] else { panic!("a file first") };
        assert!(
            contents.contains("dnat to 10.2.0.1:443") && contents.contains("dnat to [fd00:2::1]:443"),
            "{contents}"
        );
    }
}
