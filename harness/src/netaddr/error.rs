/// Address parsing errors; each names the value that was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("{value:?} is not an IP address or CIDR")]
    BadSource { value: String },
    #[error("{value:?} is not a CIDR (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")]
    BadCidr { value: String },
    #[error("{value:?} is not an address (expected 1.2.3.4, 1.2.3.4:80 or [2001:db8::1]:80)")]
    BadEndpoint { value: String },
    #[error("CIDR {value} has no usable host addresses")]
    EmptyCidr { value: String },
}
