use std::net::{IpAddr, SocketAddr};

use super::{Command, V2_SIGNATURE};

/// A v1 line for a TCP connection. Mixed families give `PROXY UNKNOWN`.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr) -> String {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!("PROXY TCP4 {s} {d} {} {}\r\n", src.port(), dst.port()),
        (IpAddr::V6(s), IpAddr::V6(d)) => format!("PROXY TCP6 {s} {d} {} {}\r\n", src.port(), dst.port()),
        _ => "PROXY UNKNOWN\r\n".to_string(),
    }
}

/// A v2 header. `addrs: None` (or mixed families) encodes family UNSPEC.
pub fn encode_v2(command: Command, addrs: Option<(SocketAddr, SocketAddr)>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x20 | if command == Command::Proxy { 1 } else { 0 });
    let mut block = Vec::new();
    let fam = match addrs.map(|(s, d)| (s.ip(), d.ip(), s.port(), d.port())) {
        Some((IpAddr::V4(s), IpAddr::V4(d), sp, dp)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            block.extend_from_slice(&sp.to_be_bytes());
            block.extend_from_slice(&dp.to_be_bytes());
            0x11
        }
        Some((IpAddr::V6(s), IpAddr::V6(d), sp, dp)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            block.extend_from_slice(&sp.to_be_bytes());
            block.extend_from_slice(&dp.to_be_bytes());
            0x21
        }
        _ => 0x00,
    };
    for (t, v) in tlvs {
        block.push(*t);
        block.extend_from_slice(&(v.len() as u16).to_be_bytes());
        block.extend_from_slice(v);
    }
    out.push(fam);
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out
}
