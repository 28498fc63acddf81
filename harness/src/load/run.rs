use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::{ConnPolicy, LoadConfig, Mode, Stop};
use super::connect::{Connected, Connector};
use super::journal::{JournalFile, JournalHeader};
use super::stats::{SharedStats, WorkerStats};
use super::worker::{worker, Ctx};
use super::{LoadError, LoadSummary};
use crate::tls::{client_config, Resumption};

/// The connections a phase ended with, still open: the next phase's workers start from them,
/// so it opens no connection (and pays no TLS handshake) of its own. Dropping it closes them.
#[derive(Default)]
pub struct Connections(Vec<Option<Connected>>);

/// Run the load described by `cfg` and summarise it. SIGINT, SIGTERM or SIGHUP end the run
/// early; the summary and journal then cover what was sent, marked `interrupted`.
pub async fn run(cfg: LoadConfig) -> Result<LoadSummary, LoadError> {
    run_keeping(cfg, Connections::default()).await.map(|(s, _)| s)
}

/// [`run`], starting from the connections of an earlier phase (worker `i` takes the `i`th)
/// and returning the ones it ends with, still open.
pub async fn run_keeping(cfg: LoadConfig, kept: Connections) -> Result<(LoadSummary, Connections), LoadError> {
    check_rates(&cfg)?;
    let addr = cfg.target.resolve().await?;
    for i in 0..cfg.sources.len().min(4096) as u64 {
        let src = cfg.sources.get(i).expect("index below len");
        if src.is_ipv4() != addr.is_ipv4() {
            let family = if src.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(LoadError::SourceFamily { source_ip: src, family, target: addr });
        }
    }
    let tls = if cfg.target.tls { Some(Arc::new(tls_config(&cfg)?)) } else { None };
    let connector = Connector::new(addr, tls, &cfg.target.host, cfg.http2)?;
    let journal = match &cfg.journal {
        Some(p) => {
            Some(JournalFile::create(p, &JournalHeader { run_id: cfg.run_id.clone(), url: cfg.target.url.clone() })?)
        }
        None => None,
    };
    let t0 = Instant::now();
    let ctx = Arc::new(Ctx {
        deadline: match cfg.stop {
            Stop::After(d) => Some(t0 + d),
            Stop::Requests(_) => None,
        },
        interval: match cfg.mode {
            Mode::Open { rate, .. } => Some(Duration::from_secs_f64(1.0 / rate)),
            Mode::Closed { .. } => None,
        },
        connector,
        t0,
        next_seq: AtomicU64::new(0),
        next_conn: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        behind: AtomicBool::new(false),
        journal: journal.clone(),
        cfg,
    });
    // Stats are sharded by CPU, not kept per worker: each shard's histograms take ~700 KiB,
    // and a run with thousands of connections must not pay that per connection.
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let shards = ctx.cfg.mode.workers().min(cpus * 4);
    let stats: Vec<SharedStats> = (0..shards).map(|_| Arc::new(Mutex::new(WorkerStats::default()))).collect();
    let progress = super::progress::spawn(ctx.clone(), stats.clone());
    let ctrl_c = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let sig = crate::shutdown::requested().await;
            tracing::warn!("{sig}: finishing requests in flight");
            ctx.stop.store(true, Ordering::Relaxed);
        })
    };
    let handles = spawn_workers(&ctx, &stats, kept);
    let mut open = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(conn) => open.push(conn),
            Err(e) => tracing::error!("load worker died: {e}"),
        }
    }
    ctrl_c.abort();
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }
    let merged = WorkerStats::merged(&stats);
    let interrupted = ctx.stop.load(Ordering::Relaxed);
    let journal_errors = journal.as_ref().map(|j| j.write_errors()).unwrap_or(0);
    let mut summary = LoadSummary::build(&ctx.cfg, &merged, elapsed, interrupted, journal_errors);
    summary.unsent = unsent(&ctx, summary.sent);
    Ok((summary, Connections(open)))
}

/// The open loop's schedule for the phase less what was sent, when it ended behind.
fn unsent(ctx: &Ctx, sent: u64) -> u64 {
    match (ctx.behind.load(Ordering::Relaxed), ctx.deadline, ctx.interval) {
        (true, Some(d), Some(iv)) => {
            let scheduled = ((d - ctx.t0).as_secs_f64() / iv.as_secs_f64()).ceil() as u64;
            scheduled.saturating_sub(sent)
        }
        _ => 0,
    }
}

/// One worker per connection, worker `i` starting from the `i`th kept connection; a new
/// one waits its turn at the connect rate (a kept one is open already).
fn spawn_workers(
    ctx: &Arc<Ctx>,
    stats: &[SharedStats],
    kept: Connections,
) -> Vec<tokio::task::JoinHandle<Option<Connected>>> {
    let mut kept = kept.0.into_iter();
    (0..ctx.cfg.mode.workers())
        .map(|i| {
            let kept = kept.next().flatten();
            let start = match (ctx.cfg.connect_rate, &kept) {
                (Some(r), None) => Some(ctx.t0 + Duration::from_secs_f64(i as f64 / r)),
                _ => None,
            };
            tokio::spawn(worker(ctx.clone(), stats[i % stats.len()].clone(), kept, start))
        })
        .collect()
}

/// The rates must be positive numbers.
fn check_rates(cfg: &LoadConfig) -> Result<(), LoadError> {
    if let Some(r) = cfg.connect_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(LoadError::BadOption(format!("--connect-rate must be a positive number, got {r}")));
    }
    match cfg.mode {
        Mode::Open { rate, .. } if !(rate.is_finite() && rate > 0.0) => {
            Err(LoadError::BadOption(format!("--rate must be a positive number, got {rate}")))
        }
        _ => Ok(()),
    }
}

/// The client's TLS config: resumption per the connection policy, ALPN per protocol, and
/// the key log (`--keylog`, or `SSLKEYLOGFILE`).
fn tls_config(cfg: &LoadConfig) -> Result<rustls::ClientConfig, LoadError> {
    let resumption = if cfg.policy == ConnPolicy::NewConn { Resumption::Disabled } else { Resumption::Enabled };
    let alpn: &[&[u8]] = if cfg.http2 { &[b"h2"] } else { &[b"http/1.1"] };
    let mut c = client_config(&cfg.trust, resumption, alpn)?;
    c.key_log = crate::tls::key_log(cfg.keylog.as_deref());
    Ok(c)
}
