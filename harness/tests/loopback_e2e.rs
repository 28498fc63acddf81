//! The traffic engine end to end on loopback: real TLS, real sockets bound to
//! 127.0.0.2-4, the backend's access log reconciled against the load journal.

use std::collections::HashMap;

use harness::forwarded::ClientIpSource;
use harness::load::{read_journal, ConnPolicy, Mode, Stop};
use harness::reconcile::{reconcile, Expect};
use harness::testkit::Lab;

const SOURCES: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

fn url(b: &harness::backend::Backend, scheme: &str) -> String {
    format!("{scheme}://{}/", b.listeners()[0].addr)
}

/// Every journal id appears exactly once in the log, with the journal's source as client IP.
fn assert_exact_attribution(lab: &Lab) -> usize {
    let (_, entries) = read_journal(&lab.journal()).unwrap();
    let sent: HashMap<String, String> =
        entries.map(|e| e.unwrap()).map(|e| (e.id, e.source.unwrap().to_string())).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for rec in lab.records() {
        let id = rec.request_id.clone().expect("every request carries X-Request-Id");
        let src = sent.get(&id).unwrap_or_else(|| panic!("logged id {id} was never sent"));
        assert_eq!(&rec.client_ip.unwrap().to_string(), src, "{id}");
        assert_eq!(rec.client_ip_source, Some(ClientIpSource::Peer));
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), sent.len(), "every sent id is logged");
    assert!(seen.values().all(|n| *n == 1), "no id logged twice");
    sent.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_from_three_sources_is_attributed_exactly() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let s = harness::load::run(lab.load_config(&url(&b, "https"), &SOURCES, 600)).await.unwrap();
    assert_eq!((s.sent, s.ok, s.errors.total()), (600, 600, 0));
    assert_eq!(s.sent, s.ok + s.errors.total());
    assert_eq!(assert_exact_attribution(&lab), 600);
    let recs = lab.records();
    let sources: std::collections::BTreeSet<String> = recs.iter().map(|r| r.client_ip.unwrap().to_string()).collect();
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), SOURCES);
    assert!(recs.iter().all(|r| r.tls_version.as_deref() == Some("TLSv1.3") && r.tls_cipher.is_some()));
    // Four keep-alive connections: four handshakes for 600 requests (a connection that
    // starts after another finished may resume its session).
    assert_eq!(s.handshakes.full + s.handshakes.resumed, 4, "{:?}", s.handshakes);
    assert!(s.handshakes.full >= 1);
    let r = reconcile(&lab.journal(), &lab.access_log, harness::accesslog::LogFormat::Json).unwrap();
    assert!(r.assertions(&Expect::Preserved, 0.0).iter().all(|a| a.passed), "{r:?}");
    assert_eq!(r.verdict(), harness::model::Verdict::Preserved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_per_request_does_full_handshakes() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 90);
    cfg.policy = ConnPolicy::NewConn;
    let s = harness::load::run(cfg).await.unwrap();
    assert_eq!((s.ok, s.handshakes.full, s.handshakes.resumed), (90, 90, 0));
    assert_eq!(s.latency_us.handshake.count, 90);
    assert_eq!(b.stats().snapshot().connections, 90);
    assert_exact_attribution(&lab);
    // New connections rotate through the sources evenly.
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in lab.records() {
        *per.entry(r.client_ip.unwrap().to_string()).or_default() += 1;
    }
    assert!(per.values().all(|n| *n == 30), "{per:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_resumes_after_the_first_handshakes() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 60);
    cfg.policy = ConnPolicy::Resume;
    cfg.mode = Mode::Closed { connections: 1 };
    let s = harness::load::run(cfg).await.unwrap();
    assert_eq!(s.ok, 60);
    assert!(s.handshakes.resumed >= 50, "{:?}", s.handshakes);
    assert_eq!(s.handshakes.full + s.handshakes.resumed, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_and_ipv6_loopback() {
    let lab = Lab::new();
    let b = lab.backend("[::1]:0").await;
    let mut cfg = lab.load_config(&url(&b, "https"), &["::1"], 100);
    cfg.http2 = true;
    let s = harness::load::run(cfg).await.unwrap();
    assert_eq!(s.ok, 100, "{s}");
    let recs = lab.records();
    assert!(recs.iter().all(|r| r.protocol.as_deref() == Some("HTTP/2.0")));
    assert!(recs.iter().all(|r| r.client_ip.unwrap().to_string() == "::1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reports_corrected_and_uncorrected_latency() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0,plain").await;
    let mut cfg = lab.load_config(&url(&b, "http"), &SOURCES, 0);
    cfg.mode = Mode::Open { rate: 200.0, connections: 8 };
    cfg.stop = Stop::After(std::time::Duration::from_millis(1500));
    let s = harness::load::run(cfg).await.unwrap();
    // 200/s for 1.5 s: the schedule, not the server's speed, sets the count.
    assert!((295..=301).contains(&s.sent), "sent {}", s.sent);
    assert_eq!(s.unsent, 0, "a schedule kept leaves nothing unsent");
    let c = s.latency_us.total_corrected.expect("open loop has corrected latency");
    assert_eq!(c.count, s.sent);
    assert!(c.p50 >= s.latency_us.total.p50, "corrected {c:?} vs {:?}", s.latency_us.total);
    assert_exact_attribution(&lab);
}

/// A target that stops answering: an open loop sends its schedule late, but only until a
/// timeout past the deadline, and says how many requests it never sent. (An hour's soak on
/// a collapsed router sent 2 a second of its 40 and would have run for 20 hours.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_far_behind_its_schedule_ends_with_what_it_never_sent() {
    let lab = Lab::new();
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = mute.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = mute.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let mut cfg = lab.load_config(&format!("http://{addr}/"), &SOURCES, 0);
    cfg.mode = Mode::Open { rate: 100.0, connections: 1 };
    cfg.stop = Stop::After(std::time::Duration::from_millis(1000));
    cfg.timeout = std::time::Duration::from_millis(300);
    let s = harness::load::run(cfg).await.unwrap();
    // One connection, each request timing out at 300 ms: a handful sent of 100 scheduled.
    assert!((1..=10).contains(&s.sent), "sent {}", s.sent);
    assert_eq!(s.sent + s.unsent, 100, "sent {} + unsent {}", s.sent, s.unsent);
    assert_eq!(s.errors.timeout, s.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_and_accounted() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    // 404s are answers (logged) but errors of class http-status.
    let mut cfg = lab.load_config(&format!("https://{}/status/404", b.listeners()[0].addr), &SOURCES, 30);
    let s = harness::load::run(cfg.clone()).await.unwrap();
    assert_eq!((s.ok, s.errors.http_status), (0, 30));
    assert_eq!(lab.records().len(), 30);
    // Nothing listens here: connect errors, nothing logged, still accounted for.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    cfg = lab.load_config(&format!("https://127.0.0.1:{port}/"), &SOURCES, 20);
    cfg.journal = Some(lab.dir.path().join("dead.tsv"));
    let s = harness::load::run(cfg).await.unwrap();
    assert_eq!((s.sent, s.ok, s.errors.connect), (20, 0, 20));
    // No request succeeded, so there is no latency to report; the failures have their own.
    assert_eq!(s.latency_us.total.count, 0, "{:?}", s.latency_us.total);
    assert_eq!(s.latency_us.failed.map(|f| f.count), Some(20));
    // A server whose certificate the client can't verify: TLS errors.
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 5);
    cfg.trust = harness::tls::ClientTrust::Ca(lab.pki.frontend_cert.clone());
    cfg.journal = None;
    let s = harness::load::run(cfg).await.unwrap();
    assert_eq!(s.errors.tls, 5);
    let r = reconcile(&lab.dir.path().join("dead.tsv"), &lab.access_log, harness::accesslog::LogFormat::Json).unwrap();
    assert_eq!((r.sent, r.logged, r.failed_unlogged, r.answered_unlogged), (20, 0, 20, 0));
    let checks = r.assertions(&Expect::Preserved, 1.0);
    assert!(!checks.iter().find(|a| a.name == "observed").unwrap().passed, "no observation is never a pass");
    // A failing cell says how its requests failed, not only how many.
    let rate = checks.iter().find(|a| a.name == "error-rate").unwrap();
    assert!(rate.evidence.ends_with("failed (100.00%, limit 100.00%): connect 20"), "{}", rate.evidence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peer_relaying_forged_xff_is_detected_as_a_mismatch() {
    // Negative control: trusting the load generator's own address makes the backend
    // believe the forged header, and reconciliation must notice.
    let lab = Lab::new();
    let mut bc = lab.backend_config("127.0.0.1:0");
    bc.trusted = "127.0.0.2/32".parse().unwrap();
    let b = harness::backend::Backend::start(&bc).await.unwrap();
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 60);
    cfg.headers = vec![harness::load::parse_header("X-Forwarded-For: 6.6.6.6").unwrap()];
    harness::load::run(cfg).await.unwrap();
    let r = reconcile(&lab.journal(), &lab.access_log, harness::accesslog::LogFormat::Json).unwrap();
    assert_eq!(r.logged, 60);
    let from_trusted = r.per_source["127.0.0.2"].requests;
    assert_eq!(r.mismatches, from_trusted, "only the trusted source's requests are mis-attributed");
    assert_eq!(r.logged_client_ips.get("6.6.6.6").copied(), Some(from_trusted));
    assert_eq!(r.verdict(), harness::model::Verdict::Lost);
    assert!(r.mismatch_examples.iter().all(|m| m.xff.as_deref() == Some("6.6.6.6")));
    // Untrusted sources' forged headers were ignored.
    for rec in lab.records().iter().filter(|r| r.peer_addr.unwrap().ip.to_string() != "127.0.0.2") {
        assert_eq!(rec.client_ip, Some(rec.peer_addr.unwrap().ip));
        assert_eq!(rec.xff.as_deref(), Some("6.6.6.6"), "raw header is still logged");
    }
}

/// Percentiles across repetitions come from their histograms merged (report.json carries
/// each phase's), and match the percentiles of every journal line of all the runs together;
/// a median of per-run p99s would not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_histograms_give_the_percentiles_of_all_requests_together() {
    use harness::compare::Metric;
    use harness::hist::LatencyHist;
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let mut cells = Vec::new();
    let mut all = LatencyHist::default();
    for (i, n) in [300u64, 120, 500].into_iter().enumerate() {
        let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, n);
        cfg.journal = Some(lab.dir.path().join(format!("journal-{i}.tsv")));
        let s = harness::load::run(cfg).await.unwrap();
        let (_, entries) = read_journal(&lab.dir.path().join(format!("journal-{i}.tsv"))).unwrap();
        for e in entries.map(|e| e.unwrap()) {
            all.record(e.total_us.unwrap());
        }
        cells.push(harness::model::CellReport { load: Some(s), ..Default::default() });
    }
    assert_eq!(all.len(), 920);
    let refs: Vec<&harness::model::CellReport> = cells.iter().collect();
    for (m, q) in [(Metric::P50, 0.5), (Metric::P99, 0.99), (Metric::P999, 0.999)] {
        assert_eq!(m.pooled(&refs), Some(all.quantile(q) as f64 / 1000.0), "{m:?}");
    }
    // One cell without its histogram (an older report.json): no pooled value, not a wrong one.
    cells[1].load.as_mut().unwrap().latency_us.effective_hist = None;
    assert_eq!(Metric::P99.pooled(&cells.iter().collect::<Vec<_>>()), None);
}

/// Latency is of successful requests only. The backend is killed 1 s into an open-loop run
/// of new connections and restarted 1 s later, so the run mixes fast connect failures with
/// answers; the summary's percentiles must equal those of the journal's successful lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_comes_from_successful_requests_only() {
    use harness::hist::LatencyHist;
    let lab = Lab::new();
    let mut b = lab.backend("127.0.0.1:0").await;
    let addr = b.listeners()[0].addr;
    let mut cfg = lab.load_config(&format!("https://{addr}/"), &SOURCES, 0);
    cfg.mode = Mode::Open { rate: 150.0, connections: 32 };
    cfg.stop = Stop::After(std::time::Duration::from_secs(3));
    cfg.policy = ConnPolicy::NewConn;
    let run = tokio::spawn(harness::load::run(cfg));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    b.stop();
    drop(b);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let _again = lab.backend(&addr.to_string()).await;
    let s = run.await.unwrap().unwrap();
    assert!(s.ok > 50 && s.errors.connect > 50, "a mixed run: {} ok, errors {:?}", s.ok, s.errors);
    let (_, entries) = read_journal(&lab.journal()).unwrap();
    let (mut total, mut corrected, mut ttfb, mut failed) = Default::default();
    let hist = |h: &mut LatencyHist, v: Option<u64>| h.record(v.unwrap());
    for e in entries.map(Result::unwrap) {
        if e.outcome.error_class().is_none() {
            hist(&mut total, e.total_us);
            hist(&mut corrected, e.corrected_us);
            hist(&mut ttfb, e.ttfb_us);
        } else {
            hist(&mut failed, e.total_us);
        }
    }
    let l = &s.latency_us;
    assert_eq!(l.total, total.percentiles());
    assert_eq!(l.total_corrected, Some(corrected.percentiles()));
    assert_eq!(l.ttfb, ttfb.percentiles());
    assert_eq!(l.total.count, s.ok);
    assert_eq!(l.failed, Some(failed.percentiles()));
    assert_eq!(l.failed.unwrap().count, s.errors.total());
    // The histogram compare pools is the successful requests' too.
    let pooled = LatencyHist::decode(l.effective_hist.as_deref().unwrap()).unwrap();
    assert_eq!(pooled.len(), s.ok);
}

/// `--connect-rate`: connection i opens i/R seconds in, so the handshakes (journal entries
/// with a handshake) start spread over the ramp, not together; a bad rate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_open_at_the_connect_rate() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 0);
    (cfg.mode, cfg.stop) = (Mode::Closed { connections: 8 }, Stop::After(std::time::Duration::from_millis(900)));
    cfg.connect_rate = Some(10.0);
    let s = harness::load::run(cfg.clone()).await.unwrap();
    assert_eq!(s.handshakes.full + s.handshakes.resumed, 8, "{:?}", s.handshakes);
    let (_, entries) = read_journal(&lab.journal()).unwrap();
    let mut opens: Vec<u64> =
        entries.map(|e| e.unwrap()).filter(|e| e.handshake_us.is_some()).map(|e| e.start_us).collect();
    opens.sort();
    assert_eq!(opens.len(), 8);
    // The 8th opens 0.7 s in; without a connect rate all eight open within milliseconds.
    assert!(opens[7] >= 690_000 && opens[7] < 850_000, "{opens:?}");
    assert!(opens.windows(2).all(|w| w[1] - w[0] >= 80_000), "about 100 ms apart: {opens:?}");
    cfg.connect_rate = Some(0.0);
    let e = harness::load::run(cfg).await.unwrap_err().to_string();
    assert!(e.contains("--connect-rate must be a positive number"), "{e}");
}

/// `--think`: a closed loop whose connections wait after each answer sends a request per
/// connection per think time (not as many as the backend answers), on connections it keeps
/// open: idle keep-alive connections, and the run still ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_with_a_think_time_keeps_its_connections_open_and_mostly_idle() {
    let lab = Lab::new();
    let b = lab.backend("127.0.0.1:0").await;
    let mut cfg = lab.load_config(&url(&b, "https"), &SOURCES, 0);
    (cfg.mode, cfg.stop) = (Mode::Closed { connections: 4 }, Stop::After(std::time::Duration::from_millis(1_100)));
    cfg.think = Some(std::time::Duration::from_millis(400));
    let t0 = std::time::Instant::now();
    let s = harness::load::run(cfg).await.unwrap();
    let took = t0.elapsed();
    // Each connection sends at 0, 0.4 and 0.8 s: 12 requests, all on the 4 connections
    // opened for the first of them. Without a think time loopback answers thousands.
    assert_eq!((s.sent, s.ok), (12, 12), "{s:?}");
    assert_eq!(s.handshakes.full + s.handshakes.resumed, 4, "{:?}", s.handshakes);
    assert!(took < std::time::Duration::from_millis(1_600), "a think never outlasts the run: {took:?}");
}
