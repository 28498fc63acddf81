//! PROXY protocol through the real backend: valid headers become the logged client IP;
//! every violation closes the connection, is logged as a rejection, and its claimed
//! address never reaches the access log.

use std::net::SocketAddr;
use std::time::Duration;

use harness::forwarded::ClientIpSource;
use harness::proxyproto::{encode_v1, encode_v2, Command, V2_SIGNATURE};
use harness::testkit::Lab;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SPOOF: &str = "6.6.6.6";

async fn backend(lab: &Lab, listen: &str) -> (harness::backend::Backend, SocketAddr) {
    let mut c = lab.backend_config(listen);
    c.trusted = "127.0.0.0/8".parse().unwrap();
    c.header_timeout = Duration::from_millis(400);
    c.request_header_timeout = Duration::from_millis(400);
    let b = harness::backend::Backend::start(&c).await.unwrap();
    let addr = b.listeners()[0].addr;
    (b, addr)
}

/// Send `prefix` then a plain HTTP request in `chunk`-byte writes; return the response text.
async fn exchange(addr: SocketAddr, prefix: &[u8], id: &str, chunk: usize) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n");
    let all = [prefix, req.as_bytes()].concat();
    for part in all.chunks(chunk) {
        if s.write_all(part).await.is_err() {
            break;
        }
        if chunk < all.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn valid_v1_and_v2_headers_name_the_client() {
    let lab = Lab::new();
    let (_b, addr) = backend(&lab, "127.0.0.1:0,plain,proxy-protocol=any").await;
    let v1 = encode_v1(sa("203.0.113.7:5000"), sa("192.0.2.1:443"));
    assert!(exchange(addr, v1.as_bytes(), "v1", 1).await.starts_with("HTTP/1.1 200"));
    let v2 = encode_v2(
        Command::Proxy,
        Some((sa("[2001:db8:c::9]:6000"), sa("[2001:db8:1::1]:443"))),
        &[(0x02, b"router.test")],
    );
    assert!(exchange(addr, &v2, "v2", 3).await.starts_with("HTTP/1.1 200"));
    let local = encode_v2(Command::Local, None, &[]);
    assert!(exchange(addr, &local, "local", 1000).await.starts_with("HTTP/1.1 200"));
    let unknown = b"PROXY UNKNOWN\r\n";
    assert!(exchange(addr, unknown, "unknown", 1000).await.starts_with("HTTP/1.1 200"));

    let recs = lab.records();
    let by_id = |id: &str| recs.iter().find(|r| r.request_id.as_deref() == Some(id)).unwrap().clone();
    let r = by_id("v1");
    assert_eq!(
        (r.client_ip.unwrap().to_string(), r.client_ip_source),
        ("203.0.113.7".into(), Some(ClientIpSource::ProxyProtocol))
    );
    assert_eq!(r.proxy_addr.unwrap().to_string(), "203.0.113.7:5000");
    assert_eq!(r.peer_addr.unwrap().ip.to_string(), "127.0.0.1");
    assert_eq!(by_id("v2").client_ip.unwrap().to_string(), "2001:db8:c::9");
    // LOCAL and UNKNOWN: the real connection endpoint.
    for id in ["local", "unknown"] {
        let r = by_id(id);
        assert_eq!(
            (r.client_ip.unwrap().to_string(), r.client_ip_source),
            ("127.0.0.1".into(), Some(ClientIpSource::Peer))
        );
    }
}

#[tokio::test]
async fn proxy_header_in_front_of_tls() {
    let lab = Lab::new();
    let (_b, addr) = backend(&lab, "127.0.0.1:0,tls,proxy-protocol=v2").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&encode_v2(Command::Proxy, Some((sa("198.51.100.20:1"), sa("192.0.2.1:443"))), &[])).await.unwrap();
    let cfg = harness::tls::client_config(
        &harness::tls::ClientTrust::Ca(lab.pki.ca_cert.clone()),
        harness::tls::Resumption::Disabled,
        &[b"http/1.1"],
    )
    .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let mut t = tls.connect("router.test".try_into().unwrap(), s).await.unwrap();
    t.write_all(b"GET / HTTP/1.1\r\nHost: router.test\r\nX-Request-Id: pp-tls\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = t.read_to_end(&mut out).await;
    assert!(out.starts_with(b"HTTP/1.1 200"));
    let r = lab.records().pop().unwrap();
    assert_eq!(r.client_ip.unwrap().to_string(), "198.51.100.20");
    assert_eq!(r.tls_version.as_deref(), Some("TLSv1.3"));
}

fn bad_v2(ver_cmd: u8, fam: u8, len: u16, body: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.extend_from_slice(&[ver_cmd, fam]);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[tokio::test]
async fn every_violation_is_rejected_and_never_logged_as_a_client() {
    let lab = Lab::new();
    let (b, addr) = backend(&lab, "127.0.0.1:0,plain,proxy-protocol=any").await;
    let spoof4 = [6, 6, 6, 6, 192, 0, 2, 1, 0, 1, 1, 187];
    let mut too_long = format!("PROXY TCP4 {SPOOF} 192.0.2.1 1 443 ").into_bytes();
    too_long.resize(110, b'x');
    too_long.extend_from_slice(b"\r\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("too-long", too_long, "v1-too-long"),
        ("bare-lf", format!("PROXY TCP4 {SPOOF} 192.0.2.1 1 443\n").into_bytes(), "v1-bad-line-end"),
        ("wrong-sig", b"\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c".to_vec(), "bad-signature"),
        ("v1-in-v2", bad_v2(0x11, 0x11, 12, &spoof4), "v2-bad-version"),
        ("bad-cmd", bad_v2(0x23, 0x11, 12, &spoof4), "v2-bad-command"),
        ("bad-family", bad_v2(0x21, 0x51, 12, &spoof4), "v2-bad-family"),
        ("overrun", bad_v2(0x21, 0x11, 15, &[&spoof4[..], &[1, 0, 9]].concat()), "v2-tlv-overrun"),
        ("short-len", bad_v2(0x21, 0x21, 12, &spoof4), "v2-short-length"),
        ("no-header", Vec::new(), "bad-signature"),
    ];
    for (id, prefix, _) in &cases {
        let resp = exchange(addr, prefix, id, 1000).await;
        assert!(resp.is_empty(), "{id}: connection must be closed without an answer, got {resp:?}");
    }
    // Truncated: half a header, then silence past the timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("PROXY TCP4 {SPOOF}").as_bytes()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("closed by the server's header timeout");
    assert_eq!(n.unwrap_or(0), 0);

    let rejects = lab.rejects();
    for (id, _, reason) in &cases {
        assert!(rejects.iter().any(|r| r["reason"] == *reason), "{id}: no {reason} rejection in {rejects:?}");
    }
    assert!(rejects.iter().any(|r| r["reason"] == "timeout"));
    assert_eq!(b.stats().snapshot().rejected_total as usize, cases.len() + 1);
    assert!(lab.records().is_empty(), "no request may be logged from a rejected connection");
    assert!(!std::fs::read_to_string(&lab.access_log).unwrap_or_default().contains(SPOOF));
}

#[tokio::test]
async fn headers_from_untrusted_sources_are_rejected() {
    let lab = Lab::new();
    let mut c = lab.backend_config("127.0.0.1:0,plain,proxy-protocol=v1");
    c.trusted = "127.0.0.9/32".parse().unwrap();
    let b = harness::backend::Backend::start(&c).await.unwrap();
    let addr = b.listeners()[0].addr;
    let v1 = encode_v1(sa("6.6.6.6:1"), sa("192.0.2.1:443"));
    assert!(exchange(addr, v1.as_bytes(), "u", 1000).await.is_empty());
    assert_eq!(lab.rejects()[0]["reason"], "untrusted-source");
    assert_eq!(lab.rejects()[0]["peer_addr"].as_str().unwrap().split(':').next(), Some("127.0.0.1"));
    assert!(lab.records().is_empty());
}

#[tokio::test]
async fn a_listener_without_proxy_protocol_serves_headers_as_garbage() {
    // Off means off: a PROXY line on a plain listener is not interpreted.
    let lab = Lab::new();
    let (_b, addr) = backend(&lab, "127.0.0.1:0,plain,proxy-protocol=off").await;
    let v1 = encode_v1(sa("6.6.6.6:1"), sa("192.0.2.1:443"));
    let resp = exchange(addr, v1.as_bytes(), "off", 1000).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "the PROXY line is a bad request line: {resp:?}");
    assert!(!std::fs::read_to_string(&lab.access_log).unwrap_or_default().contains(SPOOF));
    // The listener is alive: a plain request on it is served and logged.
    let resp = exchange(addr, b"", "after-off", 1000).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp:?}");
    assert!(lab.records().iter().any(|r| r.request_id.as_deref() == Some("after-off")), "{:?}", lab.records());
}

/// Hostile clients get a bounded wait, and the backend keeps serving and logging others.
#[tokio::test]
async fn slowloris_huge_headers_and_stalled_handshakes_get_a_bounded_wait() {
    let lab = Lab::new();
    let (_b, plain) = backend(&lab, "127.0.0.1:0,plain").await;
    // Headers one byte at a time, never finished: cut after the request header timeout (400 ms).
    let mut slow = TcpStream::connect(plain).await.unwrap();
    let t0 = std::time::Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut closed = false;
    for _ in 0..50 {
        if slow.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {} // a 408, then the close
            Err(_) => {}
        }
    }
    assert!(closed && t0.elapsed() < Duration::from_secs(3), "slowloris held on for {:?}", t0.elapsed());

    // 100 KB of headers: a clear answer, not a hang, and the backend still serves.
    let mut big = TcpStream::connect(plain).await.unwrap();
    let filler = "a".repeat(1000);
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: huge\r\nConnection: close\r\n");
    for i in 0..100 {
        req += &format!("X-Filler-{i}: {filler}\r\n");
    }
    req += "\r\n";
    let _ = big.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(5), big.read_to_end(&mut out)).await;
    assert!(got.is_ok(), "100 KB of headers: no answer in 5 s");
    let status = String::from_utf8_lossy(&out).lines().next().unwrap_or("").to_string();
    assert!(status.starts_with("HTTP/1.1 "), "100 KB of headers: {status:?}");

    // A TLS listener: a client that connects and never says hello is cut too.
    let (_t, tls) = backend(&lab, "127.0.0.1:0,tls").await;
    let mut mute = TcpStream::connect(tls).await.unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(3), mute.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "a mute TLS client was not cut: {r:?}");

    // Meanwhile a good request is served and logged.
    let ok = exchange(plain, b"", "good-after-abuse", 4096).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(lab.records().iter().any(|r| r.request_id.as_deref() == Some("good-after-abuse")));
}

/// Request smuggling: Content-Length and Transfer-Encoding together. Whatever the backend
/// answers, the request hidden in the body must never be served or logged as one.
#[tokio::test]
async fn content_length_with_transfer_encoding_smuggles_nothing() {
    let lab = Lab::new();
    let (_b, addr) = backend(&lab, "127.0.0.1:0,plain").await;
    let hidden = "GET /hidden HTTP/1.1\r\nHost: x\r\nX-Request-Id: smuggled\r\n\r\n";
    let chunked = format!("0\r\n\r\n{hidden}");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Request-Id: outer\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}",
        chunked.len()
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    // A clear answer (a reject, or one response) and then the connection closes.
    assert!(read.is_ok(), "the connection stayed open: {text:?}");
    assert!(text.starts_with("HTTP/1.1 "), "{text:?}");
    assert!(text.matches("HTTP/1.1 ").count() <= 1, "a second response means the hidden request ran: {text}");
    let ids: Vec<Option<String>> = lab.records().into_iter().map(|r| r.request_id).collect();
    assert!(!ids.contains(&Some("smuggled".into())), "{ids:?}");
    // The backend still serves and logs a good request.
    assert!(exchange(addr, b"", "after-smuggle", 4096).await.starts_with("HTTP/1.1 200"));
    assert!(lab.records().iter().any(|r| r.request_id.as_deref() == Some("after-smuggle")));
}

/// A PROXY v2 header, then a whole TLS handshake written one byte at a time: the backend
/// reassembles both, logs the PROXY source as the client, and answers over TLS.
#[tokio::test]
async fn a_proxy_header_then_a_client_hello_split_byte_by_byte_is_served() {
    use std::sync::Arc;
    let lab = Lab::new();
    let mut c = lab.backend_config("127.0.0.1:0,tls,proxy-protocol=v2");
    c.trusted = "127.0.0.0/8".parse().unwrap();
    let b = harness::backend::Backend::start(&c).await.unwrap();
    let addr = b.listeners()[0].addr;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let header = encode_v2(Command::Proxy, Some((sa("203.0.113.77:5555"), sa("192.0.2.1:443"))), &[]);
    for byte in &header {
        tcp.write_all(std::slice::from_ref(byte)).await.unwrap();
    }
    // The TLS client writes into a pipe; a pump carries its bytes to the socket one at a time.
    let (app, pump) = tokio::io::duplex(1 << 16);
    let (mut pump_rd, mut pump_wr) = tokio::io::split(pump);
    let (mut tcp_rd, mut tcp_wr) = tcp.into_split();
    let to_server = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut sent = 0usize;
        while let Ok(n) = pump_rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for byte in &buf[..n] {
                if tcp_wr.write_all(std::slice::from_ref(byte)).await.is_err() {
                    return sent;
                }
                sent += 1;
                tokio::task::yield_now().await;
            }
        }
        sent
    });
    tokio::spawn(async move { tokio::io::copy(&mut tcp_rd, &mut pump_wr).await });
    let trust = harness::tls::ClientTrust::Ca(lab.pki.ca_cert.clone());
    let cfg = harness::tls::client_config(&trust, harness::tls::Resumption::Disabled, &[b"http/1.1"]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = rustls_pki_types::ServerName::try_from("router.test").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, app))
        .await
        .expect("the split handshake finishes")
        .expect("the backend completes TLS after the PROXY header");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: router.test\r\nX-Request-Id: split-hello\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
    drop(tls); // the pump's pipe ends with the TLS client
    let sent = tokio::time::timeout(Duration::from_secs(5), to_server).await.expect("the pump ends").unwrap();
    assert!(sent > 200, "the ClientHello and the request went byte by byte ({sent} bytes)");
    let rec = lab.records().into_iter().find(|r| r.request_id.as_deref() == Some("split-hello")).expect("logged");
    assert_eq!(rec.client_ip.map(|a| a.to_string()).as_deref(), Some("203.0.113.77"));
    assert_eq!(rec.client_ip_source, Some(ClientIpSource::ProxyProtocol));
}
