//! The library plans `routerlab backend` and `routerlab load` for the lab as typed values
//! (`runner::plan::backend_command`, `runner::load_command`) and writes them with
//! `to_args()`; this binary's parser reads them. These tests parse what the library writes
//! for every shipped scenario, under the subcommand's name, and check that the value read is
//! the value meant, and that it is what the plan asked for.
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use harness::forwarded::ClientIpHeader;
use harness::proxyproto::HeaderPolicy;
use harness::runner::plan::{backend_command, CellDirs};
use harness::runner::{load_command, LoadTarget};
use harness::scenario::{load_plan, ClientIpHeaderMode, ConnPolicyPlan, Plan, ProxyKind, ProxyMode};

use super::{Cli, Command};

fn shipped_plans() -> Vec<Plan> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [root.clone(), root.join("faults"), root.join("soak")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let plans: Vec<Plan> =
        files.iter().map(|f| load_plan(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))).collect();
    assert!(plans.len() >= 10, "{} shipped scenarios", plans.len());
    plans
}

fn parse(args: Vec<String>) -> Command {
    let argv = std::iter::once("routerlab".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}")).command
}

#[test]
fn the_backend_command_line_the_runner_writes_reads_back_as_planned() {
    let dirs = CellDirs { pki: Path::new("/pki"), cell: Path::new("/cell"), templates: Path::new("/t") };
    for plan in shipped_plans() {
        let want = backend_command(&plan, &dirs);
        let argv = [vec!["backend".to_string()], want.to_args()].concat();
        let Command::Backend(a) = parse(argv) else { panic!("{}: not backend", plan.name) };
        assert_eq!(a, want, "{}: the subcommand reads back what the runner meant", plan.name);
        // And what it meant is the plan's.
        let n = &plan.name;
        assert_eq!(a.listen.len(), 2, "{n}: both families");
        let plain = plan.proxy.mode == Some(ProxyMode::TerminatePlain);
        let proxy = match plan.proxy.client_ip_header {
            Some(ClientIpHeaderMode::ProxyV1) => Some(HeaderPolicy::V1),
            Some(ClientIpHeaderMode::ProxyV2) => Some(HeaderPolicy::V2),
            _ => None,
        };
        for l in &a.listen {
            assert_eq!(l.addr.port(), if plain { 80 } else { 443 }, "{n}: {l:?}");
            assert_eq!(l.tls, plain.then_some(false), "{n}: {l:?}");
            assert_eq!(l.proxy, proxy, "{n}: {l:?}");
        }
        let header = match plan.proxy.client_ip_header {
            Some(ClientIpHeaderMode::Forwarded) => ClientIpHeader::Forwarded,
            Some(ClientIpHeaderMode::XffAppend | ClientIpHeaderMode::XffReplace) => ClientIpHeader::Xff,
            _ => ClientIpHeader::None,
        };
        assert_eq!(a.client_ip_header, header, "{n}");
        assert_eq!(a.access_log, Path::new("/cell/access.log"), "{n}");
        assert_eq!(a.reject_log.as_deref(), Some(Path::new("/cell/rejects.log")), "{n}");
        let trusted = if plan.proxy.kind == ProxyKind::L4Forward { 0 } else { plan.trusted.nets().len() };
        assert_eq!(a.trusted.len(), trusted, "{n}");
        assert!(a.tls_cert.is_some() && a.tls_key.is_some(), "{n}");
    }
}

#[test]
fn the_load_command_line_the_runner_writes_reads_back_as_planned() {
    std::env::remove_var("SSLKEYLOGFILE");
    let sources: Vec<IpAddr> = vec!["10.1.0.2".parse().unwrap(), "fd00:1::2".parse().unwrap()];
    let to = LoadTarget {
        dir: Path::new("/cell"),
        url: "https://10.0.0.1/",
        ca: Path::new("/pki/ca.crt"),
        sources: &sources,
        keylog: Some(Path::new("/cell/keys")),
    };
    for plan in shipped_plans() {
        for warm in [false, true] {
            let want = load_command(&plan, &to, warm);
            let argv = [vec!["load".to_string()], want.to_args()].concat();
            let Command::Load(a) = parse(argv) else { panic!("{}: not load", plan.name) };
            assert_eq!(a, want, "{}: the subcommand reads back what the runner meant", plan.name);
            let n = &plan.name;
            assert_eq!(a.url, to.url, "{n}");
            assert_eq!(a.ca.as_deref(), Some(to.ca), "{n}");
            assert_eq!(a.connections, Some(plan.load.connections), "{n}");
            assert_eq!(a.rate, plan.load.rate, "{n}");
            assert_eq!(a.duration, Some(plan.load.duration), "{n}: exactly, not rounded to milliseconds");
            assert_eq!(a.warmup, warm.then_some(plan.load.warmup), "{n}");
            assert_eq!(
                (a.new_conn, a.resume),
                match plan.load.conn_policy {
                    ConnPolicyPlan::NewConn => (true, false),
                    ConnPolicyPlan::Resume => (false, true),
                    ConnPolicyPlan::KeepAlive => (false, false),
                },
                "{n}"
            );
            assert_eq!(a.http2, plan.load.http2, "{n}");
            assert_eq!(a.header, plan.load.spoof_headers, "{n}");
            assert_eq!(a.source.len(), sources.len(), "{n}");
            assert_eq!(a.journal.as_deref(), Some(Path::new("/cell/steady.journal.tsv")), "{n}");
            assert_eq!(a.keylog.as_deref(), to.keylog, "{n}");
            assert!(a.quiet && a.marks, "{n}");
        }
    }
}
