//! The network lab: hosts are network namespaces, links are veth pairs (or taps for a VM),
//! built from a [`Topology`] (data) by one builder. Everything made is named with a per-run
//! prefix and recorded in a ledger before it is made, so `routerlab clean` can remove what
//! a crashed run left, and nothing else.
mod error;
mod lab;
mod ledger;
mod router;
mod standard;
mod topology;
mod wireguard;

pub use error::LabError;
pub use lab::{Lab, TeardownReport};
pub use ledger::{clean_dead_runs, state_dir, CleanReport, Ledger, LedgerEntry};
pub use router::{
    l4_forward_steps, router_steps, GuestStep, CONNTRACK_MAX_PROBE, L4_FORWARD_PATH, NAT_PATH, TUN_MAC, WAN_MAC,
};
pub use standard::{client_addresses, router_nft, standard_topology, LabOptions, Tunnel, ADDR};
pub use topology::{HostSpec, Impairment, LinkEnd, LinkSpec, RouteSpec, Topology};
pub use wireguard::{boringtun_path, keypair, start_hub, WgKeys, WgPlan};
