//! The backend as a process under many idle connections: it keeps serving and logging, and
//! its memory grows by a bounded amount per connection.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::start_backend;

const IDLE: usize = 10_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A request with `id` on a fresh connection; the status line.
fn get(addr: &str, id: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_string()
}

#[test]
fn ten_thousand_idle_connections_leave_the_backend_serving_with_bounded_memory() {
    // Both ends hold a descriptor per connection: make room (the hard limit allows it here).
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on this process; children inherit the limit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        assert!(lim.rlim_max as usize > IDLE + 500, "the hard descriptor limit {} is too low", lim.rlim_max);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let (b, url, _out) = start_backend(dir.path(), &[]);
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let pid = b.0.id();
    assert!(get(&addr, "before").starts_with("HTTP/1.1 200"));
    let before = rss_kib(pid);
    let idle: Vec<TcpStream> =
        (0..IDLE).map(|i| TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{i}: {e}"))).collect();
    std::thread::sleep(Duration::from_millis(500));
    // Served and logged while they all hang on.
    assert!(get(&addr, "amid-idle").starts_with("HTTP/1.1 200"));
    let during = rss_kib(pid);
    let per_conn = (during.saturating_sub(before)) as f64 / IDLE as f64;
    eprintln!("backend RSS {before} KiB -> {during} KiB with {IDLE} idle connections ({per_conn:.2} KiB each)");
    assert!(per_conn < 16.0, "{per_conn:.2} KiB per idle connection");
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert!(get(&addr, "after").starts_with("HTTP/1.1 200"));
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    for id in ["before", "amid-idle", "after"] {
        assert!(log.contains(&format!("\"request_id\":\"{id}\"")), "{id} not logged");
    }
}
