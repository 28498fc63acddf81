use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::AddrError;

/// One `--source` value: an address or a CIDR whose host addresses are all used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Addr(IpAddr),
    Net(IpNet),
}

impl FromStr for SourceSpec {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            IpNet::from_str(s).map(|n| SourceSpec::Net(n.trunc())).map_err(|_| AddrError::BadSource { value: s.into() })
        } else {
            IpAddr::from_str(s).map(SourceSpec::Addr).map_err(|_| AddrError::BadSource { value: s.into() })
        }
    }
}

/// The `--source` value that reads back as this spec.
impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Addr(a) => write!(f, "{a}"),
            SourceSpec::Net(n) => write!(f, "{n}"),
        }
    }
}

/// Largest number of addresses taken from one IPv6 network (a /64 has 2^64).
const MAX_PER_NET: u128 = 1 << 20;

/// An indexable pool of source addresses, without materialising CIDRs.
/// `get(i)` cycles through every address of every spec in order.
#[derive(Debug, Clone, Default)]
pub struct SourcePool {
    ranges: Vec<(IpAddr, u128)>, // first address, count
    total: u128,
}

impl SourcePool {
    pub fn new(specs: &[SourceSpec]) -> Result<SourcePool, AddrError> {
        let mut pool = SourcePool::default();
        for spec in specs {
            let (first, count) = match spec {
                SourceSpec::Addr(ip) => (*ip, 1),
                SourceSpec::Net(net) => host_range(net)?,
            };
            pool.ranges.push((first, count));
            pool.total += count;
        }
        Ok(pool)
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Number of distinct addresses (capped per IPv6 network).
    pub fn len(&self) -> u128 {
        self.total
    }

    /// The `i`-th address, cycling. `None` for an empty pool.
    pub fn get(&self, i: u64) -> Option<IpAddr> {
        if self.total == 0 {
            return None;
        }
        let mut k = u128::from(i) % self.total;
        for (first, count) in &self.ranges {
            if k < *count {
                return Some(offset(*first, k));
            }
            k -= count;
        }
        None
    }
}

fn host_range(net: &IpNet) -> Result<(IpAddr, u128), AddrError> {
    let empty = || AddrError::EmptyCidr { value: net.to_string() };
    match net {
        IpNet::V4(n) => {
            let size = 1u128 << (32 - n.prefix_len());
            // /31 and /32 have no network/broadcast addresses to skip (RFC 3021).
            if n.prefix_len() >= 31 {
                Ok((IpAddr::V4(n.network()), size))
            } else {
                let first = u32::from(n.network()) + 1;
                Ok((IpAddr::V4(Ipv4Addr::from(first)), size.checked_sub(2).filter(|c| *c > 0).ok_or_else(empty)?))
            }
        }
        IpNet::V6(n) => {
            let bits = 128 - u32::from(n.prefix_len());
            let size = if bits >= 127 { u128::MAX } else { 1u128 << bits };
            if n.prefix_len() == 128 {
                return Ok((IpAddr::V6(n.network()), 1));
            }
            // Skip the subnet-router anycast address (all-zero host part).
            let first = u128::from(n.network()) + 1;
            Ok((IpAddr::V6(Ipv6Addr::from(first)), (size - 1).min(MAX_PER_NET)))
        }
    }
}

fn offset(first: IpAddr, k: u128) -> IpAddr {
    match first {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(k as u32))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(k))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(specs: &[&str]) -> SourcePool {
        SourcePool::new(&specs.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn v4_cidr_skips_network_and_broadcast_and_cycles() {
        let p = pool(&["203.0.113.0/30", "127.0.0.9"]);
        assert_eq!(p.len(), 3);
        let got: Vec<String> = (0..4).map(|i| p.get(i).unwrap().to_string()).collect();
        assert_eq!(got, ["203.0.113.1", "203.0.113.2", "127.0.0.9", "203.0.113.1"]);
    }

    #[test]
    fn v6_net_is_capped_and_starts_after_anycast() {
        let p = pool(&["2001:db8:c::/64"]);
        assert_eq!(p.len(), MAX_PER_NET);
        assert_eq!(p.get(0).unwrap().to_string(), "2001:db8:c::1");
    }

    #[test]
    fn bad_source_names_value() {
        assert_eq!(
            "300.1.1.1".parse::<SourceSpec>().unwrap_err().to_string(),
            "\"300.1.1.1\" is not an IP address or CIDR"
        );
    }
}
