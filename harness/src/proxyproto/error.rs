use std::net::IpAddr;
use std::time::Duration;

/// Why a PROXY header was rejected. `reason()` is the stable short code that is
/// counted and logged; `Display` is the sentence for people.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("PROXY header from untrusted source {0}")]
    Untrusted(IpAddr),
    #[error("no PROXY signature: first bytes {0:02x?}")]
    BadSignature(Vec<u8>),
    #[error("PROXY {got:?} header on a listener configured for {want}")]
    WrongVersion { got: super::Version, want: super::HeaderPolicy },
    #[error("PROXY v1 line longer than {max} bytes without CRLF", max = super::V1_MAX_LEN)]
    V1TooLong,
    #[error("PROXY v1 line has a bare {0} (lines end in CRLF)")]
    V1BadLineEnd(&'static str),
    #[error("PROXY v1 has an invalid {field}: {value:?}")]
    V1BadField { field: &'static str, value: String },
    #[error("PROXY v2 version nibble is {0}, expected 2")]
    V2BadVersion(u8),
    #[error("PROXY v2 unknown command {0:#x}")]
    V2BadCommand(u8),
    #[error("PROXY v2 unknown address family {0:#x}")]
    V2BadFamily(u8),
    #[error("PROXY v2 unknown or unsupported transport {0:#x}")]
    V2BadTransport(u8),
    #[error("PROXY v2 length {len} is too short for the {family} address block ({need} bytes)")]
    V2ShortLength { family: &'static str, len: usize, need: usize },
    #[error("PROXY v2 TLV at offset {offset} overruns the header length {len}")]
    V2TlvOverrun { offset: usize, len: usize },
    #[error("connection closed after {0} bytes of an incomplete PROXY header")]
    Truncated(usize),
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("reading PROXY header")]
    Io(#[from] std::io::Error),
}

impl ProxyError {
    pub fn reason(&self) -> &'static str {
        match self {
            ProxyError::Untrusted(_) => "untrusted-source",
            ProxyError::BadSignature(_) => "bad-signature",
            ProxyError::WrongVersion { .. } => "wrong-version",
            ProxyError::V1TooLong => "v1-too-long",
            ProxyError::V1BadLineEnd(_) => "v1-bad-line-end",
            ProxyError::V1BadField { .. } => "v1-bad-field",
            ProxyError::V2BadVersion(_) => "v2-bad-version",
            ProxyError::V2BadCommand(_) => "v2-bad-command",
            ProxyError::V2BadFamily(_) => "v2-bad-family",
            ProxyError::V2BadTransport(_) => "v2-bad-transport",
            ProxyError::V2ShortLength { .. } => "v2-short-length",
            ProxyError::V2TlvOverrun { .. } => "v2-tlv-overrun",
            ProxyError::Truncated(_) => "truncated",
            ProxyError::Timeout(_) => "timeout",
            ProxyError::Io(_) => "io",
        }
    }
}
