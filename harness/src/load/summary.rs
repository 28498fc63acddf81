use std::fmt;

use super::config::{LoadConfig, Mode};
use super::journal::ErrorClass;
use super::stats::{class_index, WorkerStats};
use crate::hist::Percentiles;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorCounts {
    pub connect: u64,
    pub tls: u64,
    pub timeout: u64,
    pub http_status: u64,
    pub protocol: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.connect + self.tls + self.timeout + self.http_status + self.protocol
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HandshakeCounts {
    pub full: u64,
    pub resumed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySet {
    pub handshake: Percentiles,
    pub ttfb: Percentiles,
    /// From the actual send time: what a closed-loop tool reports.
    pub total: Percentiles,
    /// From the intended send time (open loop); `None` in closed loop.
    pub total_corrected: Option<Percentiles>,
    /// Failed requests (no answer, or an HTTP status of 400 or more), from send to
    /// failure; `None` when none failed. Every other figure here is of successful requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Percentiles>,
    /// The histogram behind [`LatencySet::effective_total`], HdrHistogram V2 in base64:
    /// `compare` merges these across repetitions instead of taking a median of percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_hist: Option<String>,
}

impl LatencySet {
    /// The latency to judge by: corrected where the load was open loop, else the total.
    pub fn effective_total(&self) -> Percentiles {
        self.total_corrected.unwrap_or(self.total)
    }
}

/// The result of one `routerlab load` run (`--json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadSummary {
    pub schema_version: u32,
    pub run_id: String,
    pub url: String,
    pub mode: String,
    pub rate: Option<f64>,
    pub connections: usize,
    pub conn_policy: String,
    pub http2: bool,
    pub sources: u64,
    pub duration_s: f64,
    /// True when the run was cut short (Ctrl-C); the numbers cover what ran.
    pub interrupted: bool,
    pub sent: u64,
    /// Open loop: requests the phase's schedule meant to send that were never sent, as the
    /// target had fallen over a timeout behind it at the deadline (the phase ends then).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsent: u64,
    pub ok: u64,
    pub errors: ErrorCounts,
    pub requests_per_s: f64,
    pub ok_per_s: f64,
    pub handshakes: HandshakeCounts,
    /// Connections that carried this phase's requests: opened in it (one handshake each),
    /// or kept open from the warm-up.
    #[serde(default)]
    pub connections_used: u64,
    pub full_handshakes_per_s: f64,
    pub bytes: u64,
    pub latency_us: LatencySet,
    /// Completed requests in each second of the run.
    pub timeline: Vec<u64>,
    pub journal: Option<String>,
    pub journal_write_errors: u64,
}

impl LoadSummary {
    pub(crate) fn build(
        cfg: &LoadConfig,
        s: &WorkerStats,
        elapsed: f64,
        interrupted: bool,
        journal_errors: u64,
    ) -> Self {
        let e = |c| s.errors[class_index(c)];
        let (mode, rate) = match cfg.mode {
            Mode::Closed { .. } => ("closed", None),
            Mode::Open { rate, .. } => ("open", Some(rate)),
        };
        let per_s = |n: u64| if elapsed > 0.0 { n as f64 / elapsed } else { 0.0 };
        LoadSummary {
            schema_version: 1,
            run_id: cfg.run_id.clone(),
            url: cfg.target.url.clone(),
            mode: mode.into(),
            rate,
            connections: cfg.mode.workers(),
            conn_policy: <&'static str>::from(cfg.policy).into(),
            http2: cfg.http2,
            sources: cfg.sources.len().min(u128::from(u64::MAX)) as u64,
            duration_s: elapsed,
            interrupted,
            sent: s.sent,
            unsent: 0,
            ok: s.ok,
            errors: ErrorCounts {
                connect: e(ErrorClass::Connect),
                tls: e(ErrorClass::Tls),
                timeout: e(ErrorClass::Timeout),
                http_status: e(ErrorClass::HttpStatus),
                protocol: e(ErrorClass::Protocol),
            },
            requests_per_s: per_s(s.sent),
            ok_per_s: per_s(s.ok),
            handshakes: HandshakeCounts { full: s.full_handshakes, resumed: s.resumed_handshakes },
            connections_used: s.connections_used,
            full_handshakes_per_s: per_s(s.full_handshakes),
            bytes: s.bytes,
            latency_us: LatencySet {
                handshake: s.handshake.percentiles(),
                ttfb: s.ttfb.percentiles(),
                total: s.total.percentiles(),
                total_corrected: matches!(cfg.mode, Mode::Open { .. }).then(|| s.corrected.percentiles()),
                failed: (!s.failed.is_empty()).then(|| s.failed.percentiles()),
                effective_hist: Some(
                    if matches!(cfg.mode, Mode::Open { .. }) { &s.corrected } else { &s.total }.encode(),
                ),
            },
            timeline: s.timeline.clone(),
            journal: cfg.journal.as_ref().map(|p| p.display().to_string()),
            journal_write_errors: journal_errors,
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self.rate.map(|r| format!(" at {r} req/s")).unwrap_or_default();
        writeln!(
            f,
            "{} {} ({} loop{rate}, {} connections, {}, {} sources{})",
            self.run_id,
            self.url,
            self.mode,
            self.connections,
            self.conn_policy,
            self.sources,
            if self.http2 { ", HTTP/2" } else { "" }
        )?;
        writeln!(
            f,
            "  requests  {} sent, {} ok, {} errors in {:.2}s{}",
            self.sent,
            self.ok,
            self.errors.total(),
            self.duration_s,
            if self.interrupted { " (interrupted)" } else { "" }
        )?;
        writeln!(
            f,
            "  rate      {:.1} req/s, {:.1} ok/s, {:.1} full handshakes/s ({} full, {} resumed)",
            self.requests_per_s,
            self.ok_per_s,
            self.full_handshakes_per_s,
            self.handshakes.full,
            self.handshakes.resumed
        )?;
        let e = &self.errors;
        writeln!(
            f,
            "  errors    connect {} tls {} timeout {} http-status {} protocol {}",
            e.connect, e.tls, e.timeout, e.http_status, e.protocol
        )?;
        writeln!(f, "  latency ms      p50      p90      p99    p99.9      max   (successful requests)")?;
        let mut row = |name: &str, p: &Percentiles| {
            writeln!(
                f,
                "  {name:<12} {:>8} {:>8} {:>8} {:>8} {:>8}",
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.p999),
                ms(p.max)
            )
        };
        row("handshake", &self.latency_us.handshake)?;
        row("ttfb", &self.latency_us.ttfb)?;
        row("total", &self.latency_us.total)?;
        if let Some(c) = &self.latency_us.total_corrected {
            row("corrected", c)?;
        }
        if let Some(x) = &self.latency_us.failed {
            row("failed", x)?;
        }
        if let Some(j) = &self.journal {
            writeln!(f, "  journal   {j}")?;
        }
        Ok(())
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
