use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::AddrError;

/// A list of networks. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match their IPv4 form,
/// because a dual-stack socket reports IPv4 peers that way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrList(Vec<IpNet>);

impl CidrList {
    pub fn new(nets: Vec<IpNet>) -> Self {
        CidrList(nets)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
    /// Parse one CIDR or bare address (a bare address is a /32 or /128).
    pub fn parse_net(s: &str) -> Result<IpNet, AddrError> {
        let bad = || AddrError::BadCidr { value: s.to_string() };
        if s.contains('/') {
            IpNet::from_str(s).map(|n| n.trunc()).map_err(|_| bad())
        } else {
            IpAddr::from_str(s).map(IpNet::from).map_err(|_| bad())
        }
    }
}

impl FromStr for CidrList {
    type Err = AddrError;
    /// Comma-separated networks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(CidrList::parse_net)
            .collect::<Result<_, _>>()
            .map(CidrList)
    }
}

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; everything else is unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_handles_v4_mapped_and_bare_addresses() {
        let l: CidrList = "10.0.0.0/8, 2001:db8::/32,127.0.0.1".parse().unwrap();
        assert!(l.contains("10.2.3.4".parse().unwrap()));
        assert!(l.contains("::ffff:10.2.3.4".parse().unwrap()));
        assert!(l.contains("2001:db8::5".parse().unwrap()));
        assert!(l.contains("127.0.0.1".parse().unwrap()));
        assert!(!l.contains("127.0.0.2".parse().unwrap()));
        assert!(!l.contains("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_cidr_names_the_value() {
        let e = "10.0.0.0/8,10.0.0/33".parse::<CidrList>().unwrap_err();
        assert_eq!(e.to_string(), "\"10.0.0/33\" is not a CIDR (expected e.g. 10.0.0.0/8 or 2001:db8::/32)");
    }
}
