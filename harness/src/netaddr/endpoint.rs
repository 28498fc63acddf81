use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::AddrError;

/// An address with an optional port: what access logs hold (`1.2.3.4`, `1.2.3.4:80`,
/// `[2001:db8::1]:80`). Serialized as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl From<SocketAddr> for Endpoint {
    fn from(s: SocketAddr) -> Self {
        Endpoint { ip: super::cidr::canonical(s.ip()), port: Some(s.port()) }
    }
}

impl From<IpAddr> for Endpoint {
    fn from(ip: IpAddr) -> Self {
        Endpoint { ip, port: None }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port) {
            (ip, None) => write!(f, "{ip}"),
            (ip, Some(p)) => write!(f, "{}", SocketAddr::new(ip, p)),
        }
    }
}

impl FromStr for Endpoint {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(sa) = SocketAddr::from_str(s) {
            return Ok(Endpoint { ip: sa.ip(), port: Some(sa.port()) });
        }
        let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
        IpAddr::from_str(bare)
            .map(|ip| Endpoint { ip, port: None })
            .map_err(|_| AddrError::BadEndpoint { value: s.to_string() })
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_all_forms() {
        for s in ["1.2.3.4", "1.2.3.4:80", "[2001:db8::1]:443", "2001:db8::1"] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
        assert_eq!("[2001:db8::1]".parse::<Endpoint>().unwrap().to_string(), "2001:db8::1");
        assert!("1.2.3".parse::<Endpoint>().is_err());
    }

    #[test]
    fn mapped_socket_addr_is_canonical() {
        let sa: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        assert_eq!(Endpoint::from(sa).to_string(), "10.0.0.1:5");
    }
}
