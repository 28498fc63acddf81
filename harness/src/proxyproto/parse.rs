use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Command, HeaderPolicy, ProxyError, ProxyHeader, Version};

/// The 12-byte v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (spec section 2.1).
pub const V1_MAX_LEN: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";
const V2_FIXED: usize = 16;

/// Result of feeding the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Valid so far; more bytes are needed.
    Incomplete,
    /// A complete header occupying `buf[..consumed]`.
    Complete { header: ProxyHeader, consumed: usize },
}

/// Parse the start of a connection. `mode` must not be `Off`.
pub fn parse(buf: &[u8], mode: HeaderPolicy) -> Result<Parsed, ProxyError> {
    let Some(&first) = buf.first() else { return Ok(Parsed::Incomplete) };
    let (version, prefix): (Version, &[u8]) = match first {
        b'P' => (Version::V1, V1_PREFIX),
        b'\r' => (Version::V2, &V2_SIGNATURE),
        _ => return Err(bad_signature(buf)),
    };
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Err(bad_signature(buf));
    }
    if n < prefix.len() {
        return Ok(Parsed::Incomplete);
    }
    if !mode.accepts(version) {
        return Err(ProxyError::WrongVersion { got: version, want: mode });
    }
    match version {
        Version::V1 => parse_v1(buf),
        Version::V2 => parse_v2(buf),
    }
}

fn bad_signature(buf: &[u8]) -> ProxyError {
    ProxyError::BadSignature(buf[..buf.len().min(12)].to_vec())
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(pos) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX_LEN { Err(ProxyError::V1TooLong) } else { Ok(Parsed::Incomplete) };
    };
    if window[pos] == b'\n' {
        return Err(ProxyError::V1BadLineEnd("LF"));
    }
    if pos + 2 > V1_MAX_LEN {
        return Err(ProxyError::V1TooLong); // the LF would be byte 108
    }
    match buf.get(pos + 1) {
        None => return Ok(Parsed::Incomplete),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::V1BadLineEnd("CR")),
    }
    let line = &buf[V1_PREFIX.len()..pos];
    let text = std::str::from_utf8(line)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| field("line", &String::from_utf8_lossy(line)))?;
    let mut parts = text.split(' ');
    let proto = parts.next().unwrap_or_default();
    let (source, destination) = match proto {
        // "the receiver must ignore anything presented before the CRLF"
        "UNKNOWN" => (None, None),
        "TCP4" | "TCP6" => {
            let fields: Vec<&str> = parts.collect();
            if fields.len() != 4 {
                return Err(field("field count", text));
            }
            let v6 = proto == "TCP6";
            let src = v1_ip(fields[0], v6, "source address")?;
            let dst = v1_ip(fields[1], v6, "destination address")?;
            let sport = v1_port(fields[2], "source port")?;
            let dport = v1_port(fields[3], "destination port")?;
            (Some(SocketAddr::new(src, sport)), Some(SocketAddr::new(dst, dport)))
        }
        other => return Err(field("protocol", other)),
    };
    let header = ProxyHeader { version: Version::V1, command: Command::Proxy, source, destination, tlv_len: 0 };
    Ok(Parsed::Complete { header, consumed: pos + 2 })
}

fn field(name: &'static str, value: &str) -> ProxyError {
    ProxyError::V1BadField { field: name, value: value.to_string() }
}

fn v1_ip(s: &str, v6: bool, name: &'static str) -> Result<IpAddr, ProxyError> {
    let ip = if v6 { s.parse::<Ipv6Addr>().map(IpAddr::V6).ok() } else { s.parse::<Ipv4Addr>().map(IpAddr::V4).ok() };
    ip.ok_or_else(|| field(name, s))
}

/// Decimal 0..=65535 with no sign and no leading zero.
fn v1_port(s: &str, name: &'static str) -> Result<u16, ProxyError> {
    let ok =
        !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !ok {
        return Err(field(name, s));
    }
    s.parse::<u16>().map_err(|_| field(name, s))
}

const FAMILY_UNSPEC: u8 = 0;
const FAMILY_INET: u8 = 1;
const FAMILY_INET6: u8 = 2;
const FAMILY_UNIX: u8 = 3;
const TRANSPORT_STREAM: u8 = 1;

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    // Validate each fixed byte as soon as it arrives, so garbage is rejected early.
    let command = match buf.get(12) {
        None => return Ok(Parsed::Incomplete),
        Some(&b) => {
            if b >> 4 != 2 {
                return Err(ProxyError::V2BadVersion(b >> 4));
            }
            match b & 0x0f {
                0 => Command::Local,
                1 => Command::Proxy,
                c => return Err(ProxyError::V2BadCommand(c)),
            }
        }
    };
    let Some(&fam) = buf.get(13) else { return Ok(Parsed::Incomplete) };
    let (family, transport) = (fam >> 4, fam & 0x0f);
    if command == Command::Proxy {
        if family > FAMILY_UNIX {
            return Err(ProxyError::V2BadFamily(family));
        }
        // Only UNSPEC/UNSPEC or <family>/STREAM make sense on a stream listener.
        let ok =
            (family == FAMILY_UNSPEC && transport == 0) || (family != FAMILY_UNSPEC && transport == TRANSPORT_STREAM);
        if !ok {
            return Err(ProxyError::V2BadTransport(transport));
        }
    }
    if buf.len() < V2_FIXED {
        return Ok(Parsed::Incomplete);
    }
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let (family_name, need) = match (command, family) {
        (Command::Local, _) | (_, FAMILY_UNSPEC) => ("UNSPEC", 0),
        (_, FAMILY_INET) => ("INET", 12),
        (_, FAMILY_INET6) => ("INET6", 36),
        _ => ("UNIX", 216),
    };
    if len < need {
        return Err(ProxyError::V2ShortLength { family: family_name, len, need });
    }
    let total = V2_FIXED + len;
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    let block = &buf[V2_FIXED..total];
    let (source, destination) = match (command, family) {
        (Command::Proxy, FAMILY_INET) => {
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(block[o], block[o + 1], block[o + 2], block[o + 3]));
            let port = |o: usize| u16::from_be_bytes([block[o], block[o + 1]]);
            (Some(SocketAddr::new(ip(0), port(8))), Some(SocketAddr::new(ip(4), port(10))))
        }
        (Command::Proxy, FAMILY_INET6) => {
            let ip = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&block[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(a))
            };
            let port = |o: usize| u16::from_be_bytes([block[o], block[o + 1]]);
            (Some(SocketAddr::new(ip(0), port(32))), Some(SocketAddr::new(ip(16), port(34))))
        }
        _ => (None, None),
    };
    // TLVs only follow a known address block; LOCAL and UNSPEC blocks are discarded whole.
    let tlv_len = if need > 0 { check_tlvs(block, need)? } else { 0 };
    let header = ProxyHeader { version: Version::V2, command, source, destination, tlv_len };
    Ok(Parsed::Complete { header, consumed: total })
}

fn check_tlvs(block: &[u8], start: usize) -> Result<usize, ProxyError> {
    let mut off = start;
    while off < block.len() {
        if off + 3 > block.len() {
            return Err(ProxyError::V2TlvOverrun { offset: off, len: block.len() });
        }
        let l = u16::from_be_bytes([block[off + 1], block[off + 2]]) as usize;
        if off + 3 + l > block.len() {
            return Err(ProxyError::V2TlvOverrun { offset: off, len: block.len() });
        }
        off += 3 + l;
    }
    Ok(block.len() - start)
}
