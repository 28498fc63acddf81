use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::*;
use crate::accesslog::LogFormat;
use crate::backend::ListenSpec;
use crate::forwarded::ClientIpHeader;
use crate::netaddr::SourceSpec;
use crate::proxyproto::HeaderPolicy;

#[derive(Parser)]
struct Load {
    #[command(flatten)]
    a: LoadArgs,
}

#[derive(Parser)]
struct Backend {
    #[command(flatten)]
    a: BackendArgs,
}

fn load_back(x: &LoadArgs) -> LoadArgs {
    let argv = std::iter::once("load".to_string()).chain(x.to_args());
    Load::try_parse_from(argv).unwrap_or_else(|e| panic!("{:?}: {e}", x.to_args())).a
}

fn backend_back(x: &BackendArgs) -> BackendArgs {
    let argv = std::iter::once("backend".to_string()).chain(x.to_args());
    Backend::try_parse_from(argv).unwrap_or_else(|e| panic!("{:?}: {e}", x.to_args())).a
}

/// Every option set, each connection policy, sub-millisecond durations, an odd rate.
fn loads() -> Vec<LoadArgs> {
    let mut full = LoadArgs::new("https://[fd00::1]:8443/path?q=1");
    full.keylog = Some(PathBuf::from("/run dir/keys.log"));
    full.connections = Some(100_000);
    full.rate = Some(1_234.567_89);
    full.connect_rate = Some(12.5);
    full.think = Some(Duration::from_millis(8_500));
    full.duration = Some(Duration::from_micros(1_500_250));
    full.source = vec![SourceSpec::Addr("10.1.0.2".parse().unwrap()), SourceSpec::Net("fd01::/120".parse().unwrap())];
    full.http2 = true;
    full.ca = Some(PathBuf::from("/pki/ca.crt"));
    full.header = vec!["X-Forwarded-For: 6.6.6.6".into(), "Forwarded: for=\"[::1]\"".into()];
    full.timeout = Duration::from_millis(2_345);
    full.json = Some("/c/steady.load.json".into());
    full.journal = Some("/c/steady.journal.tsv".into());
    full.run_id = Some("cell-3".into());
    full.quiet = true;
    full.warmup = Some(Duration::ZERO);
    full.warmup_json = Some("/c/w.json".into());
    full.warmup_journal = Some("/c/w.tsv".into());
    full.marks = true;
    let mut new_conn = LoadArgs::new("http://10.0.0.1/");
    (new_conn.new_conn, new_conn.insecure, new_conn.requests) = (true, true, Some(7));
    let mut resume = LoadArgs::new("https://10.0.0.1/");
    (resume.resume, resume.rate) = (true, Some(0.5));
    vec![full, LoadArgs::new("https://10.0.0.1/"), new_conn, resume]
}

fn backends() -> Vec<BackendArgs> {
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let mut out = Vec::new();
    for (i, proxy) in
        [None, Some(HeaderPolicy::Off), Some(HeaderPolicy::V1), Some(HeaderPolicy::V2), Some(HeaderPolicy::Any)]
            .into_iter()
            .enumerate()
    {
        let tls = [None, Some(true), Some(false)][i % 3];
        let listen = vec![
            ListenSpec { addr: addr("10.2.0.1:443"), tls, proxy },
            ListenSpec { addr: addr("[fd02::1]:80"), tls: Some(false), proxy: None },
        ];
        let mut b = BackendArgs::new(listen, PathBuf::from(format!("/cell {i}/access.log")));
        b.proxy_protocol = proxy.unwrap_or_default();
        b.client_ip_header = [ClientIpHeader::Xff, ClientIpHeader::Forwarded, ClientIpHeader::None][i % 3];
        b.log_format = [LogFormat::Json, LogFormat::Combined, LogFormat::Main][i % 3];
        if i % 2 == 1 {
            (b.tls_cert, b.tls_key) = (Some("/pki/b.crt".into()), Some("/pki/b.key".into()));
            b.keylog = Some("/cell/keys".into());
            b.reject_log = Some("/cell/rejects.log".into());
            b.trusted = vec!["10.0.0.0/8".parse().unwrap(), "fd00::1/128".parse().unwrap()];
            b.header_timeout = Duration::from_micros(2_500_001);
            b.body_bytes = 1 << 20;
        }
        out.push(b);
    }
    out
}

#[test]
fn every_load_command_line_reads_back_as_the_value_it_was_written_from() {
    std::env::remove_var("SSLKEYLOGFILE");
    for x in loads() {
        assert_eq!(load_back(&x), x, "{:?}", x.to_args());
    }
}

#[test]
fn every_backend_command_line_reads_back_as_the_value_it_was_written_from() {
    std::env::remove_var("SSLKEYLOGFILE");
    for x in backends() {
        assert_eq!(backend_back(&x), x, "{:?}", x.to_args());
    }
}

#[test]
fn the_value_parsers_refuse_what_the_scenario_file_refuses() {
    assert!(duration("-1s").unwrap_err().contains("negative"));
    assert_eq!(duration("0s"), Ok(Duration::ZERO));
    assert!(positive_duration("0s").unwrap_err().contains("zero"));
    assert!(positive_duration("ten").unwrap_err().contains("not a duration"));
    assert!(cidr("10.0.0.0/33").is_err());
}
