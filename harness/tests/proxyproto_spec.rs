//! The good and bad cases of haproxy's proxy-protocol.txt, fed to the parser whole,
//! byte by byte, and over a real socket through `read_header`.
use std::net::SocketAddr;
use std::time::Duration;

use harness::netaddr::CidrList;
use harness::proxyproto::{
    encode_v1, encode_v2, parse, read_header, Command, HeaderPolicy, Parsed, ProxyError, Version, V2_SIGNATURE,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn complete(buf: &[u8], mode: HeaderPolicy) -> (harness::proxyproto::ProxyHeader, usize) {
    match parse(buf, mode).unwrap_or_else(|e| panic!("{e} for {buf:02x?}")) {
        Parsed::Complete { header, consumed } => (header, consumed),
        Parsed::Incomplete => panic!("incomplete: {buf:02x?}"),
    }
}

/// Every strict prefix must be Incomplete (never an error, never complete).
fn assert_prefixes_incomplete(buf: &[u8], mode: HeaderPolicy) {
    for n in 0..buf.len() {
        assert_eq!(parse(&buf[..n], mode).unwrap(), Parsed::Incomplete, "prefix of {n} bytes");
    }
}

#[test]
fn v1_tcp4_tcp6_unknown() {
    let (h, n) = complete(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nGET", HeaderPolicy::V1);
    assert_eq!((h.source, h.destination, n), (Some(sa("203.0.113.7:56324")), Some(sa("192.0.2.1:443")), 44));
    let (h, _) = complete(b"PROXY TCP6 2001:db8:c::5 2001:db8:1::1 65535 0\r\n", HeaderPolicy::Any);
    assert_eq!(h.source, Some(sa("[2001:db8:c::5]:65535")));
    let (h, n) = complete(b"PROXY UNKNOWN\r\n", HeaderPolicy::V1);
    assert_eq!((h.source, n), (None, 15));
    // The receiver ignores whatever UNKNOWN carries.
    let (h, _) = complete(b"PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n", HeaderPolicy::V1);
    assert_eq!(h.source, None);
    assert_prefixes_incomplete(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n", HeaderPolicy::V1);
}

#[test]
fn v1_longest_legal_line_is_107_bytes() {
    let line =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(line.len(), 104);
    complete(line.as_bytes(), HeaderPolicy::V1);
    let mut unknown = b"PROXY UNKNOWN ".to_vec();
    unknown.resize(105, b'x');
    unknown.extend_from_slice(b"\r\n");
    assert_eq!(unknown.len(), 107);
    complete(&unknown, HeaderPolicy::V1);
}

#[test]
fn v1_bad_cases() {
    let mut too_long = b"PROXY UNKNOWN ".to_vec();
    too_long.resize(106, b'x');
    too_long.extend_from_slice(b"\r\n"); // 108 bytes
    let cases: &[(&[u8], &str)] = &[
        (&too_long, "v1-too-long"),
        (b"PROXZ TCP4", "bad-signature"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1-bad-line-end"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "v1-bad-line-end"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "v1-bad-field"),
        (b"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", "v1-bad-field"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 80 2\r\n", "v1-bad-field"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad-signature"),
        (b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad-signature"),
        (b"GET / HTTP/1.1\r\n", "bad-signature"),
        (b"\x16\x03\x01\x02\x00", "bad-signature"),
    ];
    for (buf, want) in cases {
        let err = parse(buf, HeaderPolicy::Any).expect_err(&String::from_utf8_lossy(buf));
        assert_eq!(err.reason(), *want, "{:?}: {err}", String::from_utf8_lossy(buf));
    }
    // 107 bytes with no CRLF is already too long: no need to wait for more.
    assert_eq!(
        parse(&[b"PROXY ".as_slice(), &[b'x'; 101]].concat(), HeaderPolicy::V1).unwrap_err().reason(),
        "v1-too-long"
    );
}

#[test]
fn v2_good_cases() {
    let h4 = encode_v2(Command::Proxy, Some((sa("203.0.113.7:4000"), sa("192.0.2.1:443"))), &[]);
    assert_eq!(h4.len(), 28);
    let (h, n) = complete(&[h4.as_slice(), b"\x16\x03"].concat(), HeaderPolicy::V2);
    assert_eq!((h.version, h.command, h.source, n), (Version::V2, Command::Proxy, Some(sa("203.0.113.7:4000")), 28));
    assert_prefixes_incomplete(&h4, HeaderPolicy::V2);

    let h6 = encode_v2(
        Command::Proxy,
        Some((sa("[2001:db8:c::5]:1"), sa("[2001:db8:1::1]:443"))),
        &[(0x02, b"router.test"), (0x04, b"")],
    );
    let (h, n) = complete(&h6, HeaderPolicy::Any);
    assert_eq!((h.source, h.tlv_len, n), (Some(sa("[2001:db8:c::5]:1")), 14 + 3, 16 + 36 + 17));
    assert_prefixes_incomplete(&h6, HeaderPolicy::Any);

    // LOCAL: use the real endpoints, whatever the block says.
    let local = encode_v2(Command::Local, Some((sa("6.6.6.6:1"), sa("7.7.7.7:2"))), &[]);
    let (h, _) = complete(&local, HeaderPolicy::V2);
    assert_eq!((h.command, h.source), (Command::Local, None));
    // LOCAL "must be accepted ... the family is ignored", even one the spec does not define
    // (the differential fuzz target found that the ppp crate refuses this; the spec does not).
    let (h, n) = complete(&v2_with(0x20, 0xf6, 0, &[]), HeaderPolicy::V2);
    assert_eq!((h.command, h.source, n), (Command::Local, None, 16));
    // v1 UNKNOWN: "the receiver must ignore anything presented before the CRLF".
    let (h, n) = complete(b"PROXY UNKNOWN (1.6 :: :: 510NK2.0 \r\nGET", HeaderPolicy::V1);
    assert_eq!((h.source, n), (None, 36));
    // ... and a UNIX family with no address block at all.
    let (h, n) = complete(&v2_with(0x20, 0x31, 0, &[]), HeaderPolicy::V2);
    assert_eq!((h.command, h.source, n), (Command::Local, None, 16));
    // UNSPEC family with PROXY: no addresses.
    let (h, _) = complete(&encode_v2(Command::Proxy, None, &[]), HeaderPolicy::V2);
    assert_eq!(h.source, None);
}

fn v2_with(ver_cmd: u8, fam: u8, len: u16, body: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(ver_cmd);
    v.push(fam);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn v2_bad_cases() {
    let addr4 = [203, 0, 113, 7, 192, 0, 2, 1, 0x0f, 0xa0, 0x01, 0xbb];
    let mut bad_sig = V2_SIGNATURE.to_vec();
    bad_sig[11] = b'X';
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (bad_sig, "bad-signature"),
        (v2_with(0x11, 0x11, 12, &addr4), "v2-bad-version"), // version 1 in a v2 header
        (v2_with(0x31, 0x11, 12, &addr4), "v2-bad-version"),
        (v2_with(0x22, 0x11, 12, &addr4), "v2-bad-command"),
        (v2_with(0x2f, 0x11, 12, &addr4), "v2-bad-command"),
        (v2_with(0x21, 0x41, 12, &addr4), "v2-bad-family"),
        (v2_with(0x21, 0x13, 12, &addr4), "v2-bad-transport"),
        (v2_with(0x21, 0x12, 12, &addr4), "v2-bad-transport"), // DGRAM on a stream listener
        (v2_with(0x21, 0x10, 12, &addr4), "v2-bad-transport"),
        (v2_with(0x21, 0x11, 11, &addr4[..11]), "v2-short-length"),
        (v2_with(0x21, 0x21, 12, &addr4), "v2-short-length"), // INET6 needs 36
        (v2_with(0x21, 0x11, 16, &[&addr4[..], &[0x04, 0x00, 0x05, 0xaa]].concat()), "v2-tlv-overrun"),
        (v2_with(0x21, 0x11, 14, &[&addr4[..], &[0x04, 0x00]].concat()), "v2-tlv-overrun"),
    ];
    for (buf, want) in cases {
        let err = parse(&buf, HeaderPolicy::V2).expect_err(&format!("{buf:02x?}"));
        assert_eq!(err.reason(), want, "{buf:02x?}: {err}");
    }
    // The mode is configured, not guessed.
    assert_eq!(parse(b"PROXY UNKNOWN\r\n", HeaderPolicy::V2).unwrap_err().reason(), "wrong-version");
    let v2 = encode_v2(Command::Proxy, Some((sa("1.2.3.4:1"), sa("5.6.7.8:2"))), &[]);
    assert_eq!(parse(&v2, HeaderPolicy::V1).unwrap_err().reason(), "wrong-version");
}

// ---- over a real socket ----

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

fn loopback() -> CidrList {
    "127.0.0.0/8".parse().unwrap()
}

#[tokio::test]
async fn one_byte_writes_are_accepted_and_leftover_kept() {
    let (mut c, mut s) = pair().await;
    let msg =
        [encode_v1(sa("203.0.113.7:5000"), sa("192.0.2.1:443")).into_bytes(), b"GET / HTTP/1.1\r\n".to_vec()].concat();
    let writer = tokio::spawn(async move {
        for b in msg {
            c.write_all(&[b]).await.unwrap();
            c.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        c
    });
    let out = read_header(&mut s, "127.0.0.1".parse().unwrap(), &loopback(), HeaderPolicy::V1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.header.source, Some(sa("203.0.113.7:5000")));
    let _c = writer.await.unwrap();
    // Anything read past the header is handed back, not lost.
    assert!(b"GET / HTTP/1.1\r\n".starts_with(&out.leftover), "{:?}", out.leftover);
}

#[tokio::test]
async fn silence_past_the_timeout_is_rejected() {
    let (mut c, mut s) = pair().await;
    c.write_all(b"PROXY TCP4 1.2.3.4").await.unwrap();
    let t0 = std::time::Instant::now();
    let err =
        read_header(&mut s, "127.0.0.1".parse().unwrap(), &loopback(), HeaderPolicy::V1, Duration::from_millis(300))
            .await
            .unwrap_err();
    assert_eq!(err.reason(), "timeout");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(harness::proxyproto::DEFAULT_HEADER_TIMEOUT, Duration::from_secs(3));
}

#[tokio::test]
async fn truncated_header_then_close_is_rejected() {
    let (mut c, mut s) = pair().await;
    let v2 = encode_v2(Command::Proxy, Some((sa("1.2.3.4:1"), sa("5.6.7.8:2"))), &[]);
    c.write_all(&v2[..20]).await.unwrap();
    drop(c);
    let err = read_header(&mut s, "127.0.0.1".parse().unwrap(), &loopback(), HeaderPolicy::V2, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Truncated(20)), "{err}");
}

#[tokio::test]
async fn untrusted_sender_is_rejected_before_reading() {
    let (mut c, mut s) = pair().await;
    c.write_all(encode_v1(sa("6.6.6.6:1"), sa("5.6.7.8:2")).as_bytes()).await.unwrap();
    let only_other: CidrList = "10.0.0.0/8".parse().unwrap();
    let err = read_header(&mut s, "127.0.0.1".parse().unwrap(), &only_other, HeaderPolicy::Any, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "untrusted-source");
}
