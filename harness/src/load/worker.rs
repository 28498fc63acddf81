use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use tokio::time::timeout_at;

use super::config::{ConnPolicy, LoadConfig, Mode, Stop};
use super::connect::{Connected, Connector, Sender};
use super::journal::{ErrorClass, JournalBuf, JournalEntry, JournalFile, Outcome};
use super::stats::{SharedStats, WorkerStats};

/// State shared by all workers of a run.
pub(crate) struct Ctx {
    pub cfg: LoadConfig,
    pub connector: Connector,
    pub t0: Instant,
    pub deadline: Option<Instant>,
    /// Open loop: time between intended sends.
    pub interval: Option<Duration>,
    pub next_seq: AtomicU64,
    pub next_conn: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub stop: AtomicBool,
    /// Set when an open loop ended a timeout past its deadline with requests of its schedule
    /// still unsent (the target had fallen that far behind).
    pub behind: AtomicBool,
    pub journal: Option<Arc<JournalFile>>,
}

/// Pause after a connect or TLS failure in closed loop, so a dead target isn't hammered.
const FAIL_BACKOFF: Duration = Duration::from_millis(10);

impl Ctx {
    /// The next request's sequence number and intended send time, or `None` when the run is
    /// over. `unsettled`: this connection has had no success yet (see `LoadConfig::settle`).
    fn next(&self, unsettled: bool) -> Option<(u64, Option<Instant>)> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if let Stop::Requests(n) = self.cfg.stop {
            if seq >= n {
                return None;
            }
        }
        let intended = self.interval.map(|iv| self.t0 + iv.mul_f64(seq as f64));
        let when = intended.unwrap_or_else(Instant::now);
        let grace = match self.deadline {
            Some(d) if self.cfg.settle && unsettled => Some(d + self.cfg.timeout),
            d => d,
        };
        if grace.is_some_and(|d| when >= d) {
            return None;
        }
        // An open loop sends what its schedule meant, late if need be (wrk2), but not for
        // ever: a router that collapsed to 2 requests a second would take 20 hours to send
        // an hour's schedule of 40 a second. A timeout past the deadline, the rest are unsent.
        if intended.is_some() && grace.is_some_and(|d| Instant::now() >= d + self.cfg.timeout) {
            self.behind.store(true, Ordering::Relaxed);
            return None;
        }
        Some((seq, intended))
    }

    /// Closed loop with a think time, after an answer: when to send the next request (at
    /// the latest the run's end, so a phase ends on time with its connections idle).
    fn think_until(&self, answered: bool) -> Option<Instant> {
        let think = self.cfg.think.filter(|_| answered && matches!(self.cfg.mode, Mode::Closed { .. }))?;
        let until = Instant::now() + think;
        Some(self.deadline.map_or(until, |d| until.min(d)))
    }
}

/// One connection's loop. It starts from `conn` (a connection an earlier phase kept open, if
/// any) and returns the connection it ends with, still open, for the next phase.
pub(crate) async fn worker(
    ctx: Arc<Ctx>,
    stats: SharedStats,
    mut conn: Option<Connected>,
    start: Option<Instant>,
) -> Option<Connected> {
    if let Some(at) = start {
        tokio::time::sleep_until(at.into()).await;
    }
    let mut journal = JournalBuf::new(ctx.journal.clone());
    let mut settled = false;
    // A connection kept from the previous phase counts once, when it carries a request.
    let mut carried = conn.is_some();
    while let Some((seq, intended)) = ctx.next(!settled) {
        if let Some(at) = intended {
            tokio::time::sleep_until(at.into()).await;
        }
        let id = format!("{}-{seq}", ctx.cfg.run_id);
        let kept = std::mem::take(&mut carried) && conn.as_ref().is_some_and(|c| !c.sender.is_closed());
        let a = attempt(&ctx, &mut conn, &id, intended).await;
        let outcome = a.outcome();
        {
            let mut s = stats.lock().expect("stats lock");
            s.connections_used += u64::from(kept);
            a.record(&mut s, ctx.t0);
        }
        journal.push(&a.entry(id, ctx.t0));
        settled |= outcome.error_class().is_none() && conn.is_some();
        ctx.completed.fetch_add(1, Ordering::Relaxed);
        if outcome.error_class().is_some() {
            ctx.failed.fetch_add(1, Ordering::Relaxed);
        }
        if matches!(outcome, Outcome::Failed(ErrorClass::Connect | ErrorClass::Tls))
            && matches!(ctx.cfg.mode, Mode::Closed { .. })
        {
            tokio::time::sleep(FAIL_BACKOFF).await;
        } else if let Some(until) = ctx.think_until(outcome.error_class().is_none()) {
            tokio::time::sleep_until(until.into()).await;
        }
    }
    journal.flush();
    conn
}

/// One request as it went: when, over which connection (and its handshake, if it opened
/// one), and what came back. Aggregation happens elsewhere ([`Attempt::record`]).
struct Attempt {
    start: Instant,
    /// When an open-loop schedule meant to send it.
    intended: Option<Instant>,
    done: Instant,
    source: Option<std::net::IpAddr>,
    handshake: Option<Duration>,
    resumed: bool,
    result: Result<Exchange, ErrorClass>,
}

/// Send request `id` on `conn`, opening a connection first if there is none; a failed or
/// closing exchange leaves `conn` empty.
async fn attempt(ctx: &Ctx, conn: &mut Option<Connected>, id: &str, intended: Option<Instant>) -> Attempt {
    let start = Instant::now();
    let budget = (start + ctx.cfg.timeout).into();
    let (mut handshake, mut resumed) = (None, false);
    if conn.as_ref().is_some_and(|c| c.sender.is_closed()) {
        *conn = None; // the server closed an idle keep-alive connection: not an error
    }
    let mut result: Result<Exchange, ErrorClass> = Err(ErrorClass::Protocol);
    let mut source = conn.as_ref().and_then(|c| c.source);
    if conn.is_none() {
        source = ctx.cfg.sources.get(ctx.next_conn.fetch_add(1, Ordering::Relaxed));
        match timeout_at(budget, ctx.connector.connect(source)).await {
            Ok(Ok(c)) => {
                (handshake, resumed) = (c.handshake, c.resumed);
                *conn = Some(c);
            }
            Ok(Err(class)) => result = Err(class),
            Err(_) => result = Err(ErrorClass::Timeout),
        }
    }
    let mut close = ctx.cfg.policy != ConnPolicy::KeepAlive;
    if let Some(c) = conn.as_mut() {
        let req = build_request(&ctx.cfg, id, matches!(c.sender, Sender::H2(_)));
        result = timeout_at(budget, exchange(&mut c.sender, req)).await.unwrap_or(Err(ErrorClass::Timeout));
        close |= result.is_err();
    }
    if close {
        *conn = None;
    }
    Attempt { start, intended, done: Instant::now(), source, handshake, resumed, result }
}

impl Attempt {
    fn outcome(&self) -> Outcome {
        match &self.result {
            Ok(x) => Outcome::Status(x.status),
            Err(c) => Outcome::Failed(*c),
        }
    }

    fn entry(&self, id: String, t0: Instant) -> JournalEntry {
        let us = |d: Duration| d.as_micros() as u64;
        JournalEntry {
            id,
            source: self.source,
            outcome: self.outcome(),
            start_us: us(self.start - t0),
            handshake_us: self.handshake.map(us),
            ttfb_us: self.result.as_ref().ok().map(|x| us(x.ttfb - self.start)),
            total_us: Some(us(self.done - self.start)),
            corrected_us: self.intended.map(|at| us(self.done.saturating_duration_since(at))),
        }
    }

    /// Into the worker's histograms and counters.
    fn record(&self, s: &mut WorkerStats, t0: Instant) {
        if let Some(h) = self.handshake {
            s.connections_used += 1;
            s.handshake.record_duration(h);
            if self.resumed {
                s.resumed_handshakes += 1
            } else {
                s.full_handshakes += 1
            }
        }
        if let Ok(x) = &self.result {
            s.bytes += x.body_bytes;
        }
        // Latency is taken from successful requests only, as wrk and oha do: a refused
        // connection would pull the percentiles down and a timeout push them up, so a build
        // that fails fast could look faster. Failures keep a histogram of their own.
        match &self.result {
            Ok(x) if self.outcome().error_class().is_none() => {
                s.ttfb.record_duration(x.ttfb - self.start);
                s.total.record_duration(self.done - self.start);
                if let Some(at) = self.intended {
                    s.corrected.record_duration(self.done.saturating_duration_since(at));
                }
            }
            _ => s.failed.record_duration(self.done - self.start),
        }
        s.count(self.outcome(), (self.done - t0).as_secs() as usize);
    }
}

fn build_request(cfg: &LoadConfig, id: &str, h2: bool) -> Request<Empty<Bytes>> {
    let t = &cfg.target;
    let uri = if h2 {
        format!("{}://{}{}", if t.tls { "https" } else { "http" }, t.authority, t.path)
    } else {
        t.path.clone()
    };
    let mut b =
        Request::builder().method(Method::GET).uri(uri).header("x-request-id", id).header("user-agent", "routerlab");
    if !h2 {
        b = b.header("host", t.authority.as_str());
    }
    if let Some(h) = b.headers_mut() {
        for (name, value) in &cfg.headers {
            h.append(name.clone(), value.clone());
        }
    }
    b.body(Empty::new()).expect("request from validated parts")
}

/// What one request got back.
struct Exchange {
    status: u16,
    /// When the response headers arrived.
    ttfb: Instant,
    body_bytes: u64,
}

/// Send one request and read the whole body.
async fn exchange(sender: &mut Sender, req: Request<Empty<Bytes>>) -> Result<Exchange, ErrorClass> {
    let resp = match sender {
        Sender::H1(s) => {
            s.ready().await.map_err(|_| ErrorClass::Protocol)?;
            s.send_request(req).await
        }
        Sender::H2(s) => {
            s.ready().await.map_err(|_| ErrorClass::Protocol)?;
            s.send_request(req).await
        }
    }
    .map_err(|e| {
        tracing::debug!("request failed: {e}");
        ErrorClass::Protocol
    })?;
    let ttfb = Instant::now();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ErrorClass::Protocol)?;
        if let Some(d) = frame.data_ref() {
            bytes += d.len() as u64;
        }
    }
    Ok(Exchange { status, ttfb, body_bytes: bytes })
}
