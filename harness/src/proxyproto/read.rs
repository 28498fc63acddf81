use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{parse, HeaderPolicy, Parsed, ProxyError, ProxyHeader};
use crate::netaddr::CidrList;

/// How long to wait for a complete header (the spec asks for at least 3 s).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(3);

/// A valid header and the bytes that arrived after it (the start of TLS or HTTP).
#[derive(Debug)]
pub struct HeaderOutcome {
    pub header: ProxyHeader,
    pub leftover: Vec<u8>,
}

/// Read and validate the PROXY header that `mode` requires. A peer outside `trusted`
/// is rejected before a byte is read: its header could only be a forgery.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: IpAddr,
    trusted: &CidrList,
    mode: HeaderPolicy,
    timeout: Duration,
) -> Result<HeaderOutcome, ProxyError> {
    if !trusted.contains(peer) {
        return Err(ProxyError::Untrusted(peer));
    }
    let work = async {
        let mut buf: Vec<u8> = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ProxyError::Truncated(buf.len()));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Parsed::Complete { header, consumed } = parse(&buf, mode)? {
                let leftover = buf.split_off(consumed);
                return Ok(HeaderOutcome { header, leftover });
            }
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| ProxyError::Timeout(timeout))?
}
