//! Where each link is captured: the topology says it, so a new link is captured too.
use crate::netlab::Topology;

/// One link and the namespace interface it is recorded on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturePoint {
    /// The link's name in the topology (`access`, `wan`, `tunnel`, `lan`).
    pub link: String,
    /// The namespace and interface tcpdump listens on.
    pub host: String,
    pub ifname: String,
    /// The hosts at the link's two ends, clients' side first: the host a link shares with
    /// the one before it is the device between them.
    pub ends: (String, String),
}

impl CapturePoint {
    /// `host/interface`, as reports name it.
    pub fn at(&self) -> String {
        format!("{}/{}", self.host, self.ifname)
    }
}

/// Every link of `topo`, in its order (clients to backend), recorded on the end that is a
/// namespace (a VM's end is QEMU's). With WireGuard, `tunnel_if` is the hub's WireGuard
/// interface: the tunnel's inner packets are captured there, not the encrypted underlay.
pub fn capture_points(topo: &Topology, tunnel_if: Option<&str>) -> Vec<CapturePoint> {
    let is_vm = |host: &str| topo.hosts.iter().any(|h| h.name == host && h.vm);
    topo.links
        .iter()
        .map(|l| {
            let end = if is_vm(&l.a.host) { &l.b } else { &l.a };
            let ifname = match tunnel_if {
                Some(wg) if l.name == "tunnel" => wg.to_string(),
                _ => end.ifname.clone(),
            };
            CapturePoint {
                link: l.name.clone(),
                host: end.host.clone(),
                ifname,
                ends: (l.a.host.clone(), l.b.host.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlab::{standard_topology, LabOptions, Tunnel};

    fn points(tunnel: Tunnel) -> Vec<String> {
        let opts = LabOptions { router_vm: true, l4_forward: false, tunnel, ..Default::default() };
        let (topo, _) = standard_topology(&opts).unwrap();
        capture_points(&topo, (tunnel == Tunnel::WireGuard).then_some("rlabcdwg"))
            .iter()
            .map(|p| format!("{} {}", p.link, p.at()))
            .collect()
    }

    #[test]
    fn every_link_is_captured_in_a_namespace_never_on_the_vm_side() {
        assert_eq!(points(Tunnel::None), ["access clients/cl0", "wan internet/in1", "tunnel hub/hub0", "lan hub/be0"]);
    }

    #[test]
    fn with_wireguard_the_tunnel_is_captured_inside_it() {
        assert_eq!(points(Tunnel::WireGuard)[2], "tunnel hub/rlabcdwg");
    }

    #[test]
    fn the_device_between_two_links_is_the_host_they_share() {
        let (topo, _) = standard_topology(&LabOptions { router_vm: true, ..Default::default() }).unwrap();
        let p = capture_points(&topo, None);
        assert_eq!(p[1].ends, ("internet".to_string(), "router".to_string()));
        assert_eq!(p[2].ends.0, "router");
    }
}
