use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Which PROXY header a listener requires. It is configured, never guessed:
/// with anything but `Off`, a connection without a valid header is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum HeaderPolicy {
    #[default]
    Off,
    V1,
    V2,
    /// Either version; a header is still required.
    Any,
}

impl HeaderPolicy {
    pub fn accepts(self, v: Version) -> bool {
        matches!((self, v), (HeaderPolicy::Any, _) | (HeaderPolicy::V1, Version::V1) | (HeaderPolicy::V2, Version::V2))
    }
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for HeaderPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HeaderPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::from_name(s).ok_or_else(|| {
            format!("unknown PROXY protocol mode {s:?} (expected {})", crate::names::choices::<HeaderPolicy>())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Command {
    /// The sender speaks for itself (health checks): use the real connection endpoints.
    Local,
    /// The sender relays a connection; the addresses (if any) are the original ones.
    Proxy,
}

/// A parsed, valid header. `source` is `None` for v1 `UNKNOWN`, v2 `LOCAL`, and v2
/// families without IP addresses (UNSPEC, UNIX): the receiver then uses the real peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    pub version: Version,
    pub command: Command,
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
    /// Bytes of v2 TLVs after the address block (validated, not interpreted).
    pub tlv_len: usize,
}
