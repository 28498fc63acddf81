//! Parser throughput: access-log lines/s per format, PROXY headers/s per version,
//! and client-IP resolution. Run with `cargo bench --bench parsers`.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::accesslog::{parse_line, LogFormat};
use harness::forwarded::{parse_forwarded, parse_xff, resolve, ClientIpSource};
use harness::netaddr::CidrList;
use harness::proxyproto::{encode_v1, encode_v2, parse, Command, HeaderPolicy};

const JSON: &str = r#"{"time":"2026-11-25T13:16:07.562148832Z","peer_addr":"10.2.0.2:40544","proxy_addr":null,"xff":"203.0.113.7","forwarded":null,"client_ip":"203.0.113.7","client_ip_source":"xff","request_id":"d9a162c7-0","method":"GET","path":"/","protocol":"HTTP/1.1","status":200,"bytes":3,"duration_us":29,"tls_version":"TLSv1.3","tls_cipher":"TLS13_AES_256_GCM_SHA384","user_agent":"routerlab"}"#;
const COMBINED: &str =
    r#"203.0.113.7 - - [25/Nov/2026:13:55:36 +0000] "GET /index.html?a=1 HTTP/1.1" 200 612 "-" "curl/7.88.1""#;
const MAIN: &str =
    r#"6.6.6.6, 203.0.113.7 - - [25/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1""#;

fn access_log(c: &mut Criterion) {
    let mut g = c.benchmark_group("access-log-parse");
    g.throughput(Throughput::Elements(1));
    for (name, line, fmt) in
        [("json", JSON, LogFormat::Json), ("combined", COMBINED, LogFormat::Combined), ("main", MAIN, LogFormat::Main)]
    {
        g.bench_function(name, |b| b.iter(|| parse_line(black_box(line), fmt).unwrap()));
    }
    g.finish();
}

fn proxy_header(c: &mut Criterion) {
    let src = "203.0.113.7:56324".parse().unwrap();
    let dst = "192.0.2.1:443".parse().unwrap();
    let v1 = encode_v1(src, dst).into_bytes();
    let v1_6 = encode_v1("[2001:db8:c::5]:1".parse().unwrap(), "[2001:db8:1::1]:443".parse().unwrap()).into_bytes();
    let v2 = encode_v2(Command::Proxy, Some((src, dst)), &[]);
    let v2_tlv =
        encode_v2(Command::Proxy, Some((src, dst)), &[(0x02, b"router.test"), (0x01, b"h2"), (0x04, &[0; 32])]);
    let mut g = c.benchmark_group("proxy-header-parse");
    g.throughput(Throughput::Elements(1));
    for (name, buf) in [("v1-tcp4", &v1), ("v1-tcp6", &v1_6), ("v2-inet", &v2), ("v2-inet-tlvs", &v2_tlv)] {
        g.bench_function(name, |b| b.iter(|| parse(black_box(buf), HeaderPolicy::Any).unwrap()));
    }
    g.finish();
}

fn client_ip(c: &mut Criterion) {
    let trusted: CidrList = "10.0.0.0/8,192.0.2.0/24".parse().unwrap();
    let peer = "10.2.0.2".parse().unwrap();
    let mut g = c.benchmark_group("client-ip-resolve");
    g.throughput(Throughput::Elements(1));
    g.bench_function("xff-3-hops", |b| {
        b.iter(|| {
            let chain = parse_xff([black_box("6.6.6.6, 203.0.113.7, 192.0.2.1")]);
            resolve(peer, None, &chain, ClientIpSource::Xff, &trusted)
        })
    });
    g.bench_function("forwarded-2-elements", |b| {
        b.iter(|| {
            let chain = parse_forwarded([black_box(r#"for="[2001:db8:c::5]:4711";proto=https, for=192.0.2.1"#)]);
            resolve(peer, None, &chain, ClientIpSource::Forwarded, &trusted)
        })
    });
    g.finish();
}

criterion_group!(benches, access_log, proxy_header, client_ip);
criterion_main!(benches);
