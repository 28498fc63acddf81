use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{duration, positive_duration, Argv};
use crate::netaddr::SourceSpec;

/// `routerlab load`: drive HTTP(S) load from many source addresses and journal every request.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct LoadArgs {
    /// http:// or https:// URL.
    pub url: String,
    /// Append TLS secrets here (SSLKEYLOGFILE format), so Wireshark can decrypt the traffic.
    #[arg(long, env = "SSLKEYLOGFILE", value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// Closed loop with N connections (default 16), or with --rate the most requests in flight (default 64).
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: Option<u32>,
    /// Open loop: requests per second, latency measured from the intended send time.
    #[arg(short = 'r', long, value_name = "R")]
    pub rate: Option<f64>,
    /// Open the connections at most R a second (connection i waits i/R seconds), not all at
    /// once: an emulated router handshakes 5-20 a second, and hundreds at once time out.
    #[arg(long, value_name = "R")]
    pub connect_rate: Option<f64>,
    /// Closed loop: each connection waits D after each answer before its next request, so
    /// it stays open and mostly idle (keep-alive connections a router holds, not serves).
    #[arg(long, value_parser = positive_duration, allow_hyphen_values = true, value_name = "D")]
    pub think: Option<Duration>,
    /// How long to run (default 10s).
    #[arg(short = 'd', long, value_parser = positive_duration, allow_hyphen_values = true, conflicts_with = "requests", value_name = "D")]
    pub duration: Option<Duration>,
    /// Stop after N requests.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,
    /// Source address or CIDR; connections take the next address in turn.
    #[arg(long, value_name = "ADDR|CIDR")]
    pub source: Vec<SourceSpec>,
    /// A new connection and full TLS handshake per request.
    #[arg(long, conflicts_with = "resume")]
    pub new_conn: bool,
    /// A new connection per request, resuming the TLS session.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub http2: bool,
    /// Accept any server certificate.
    #[arg(short = 'k', long, conflicts_with = "ca")]
    pub insecure: bool,
    /// CA certificate to verify the server with.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Extra request header, e.g. 'X-Forwarded-For: 6.6.6.6' (spoofing scenarios).
    #[arg(short = 'H', long, value_name = "'Name: value'")]
    pub header: Vec<String>,
    /// Per-request time budget, connect and handshake included.
    #[arg(long, default_value = "10s", value_parser = positive_duration, allow_hyphen_values = true, value_name = "D")]
    pub timeout: Duration,
    /// Write the summary as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the per-request journal (TSV).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Prefix for X-Request-Id (random by default).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// No summary on stdout.
    #[arg(short, long)]
    pub quiet: bool,
    /// Warm up for D first, on the connections the measured phase then keeps using, so that
    /// phase opens none (and pays no TLS handshake) of its own. A connection with no success
    /// yet keeps trying past D, for at most --timeout more. Its summary and journal go
    /// to --warmup-json and --warmup-journal; its request ids take the prefix `warmup-<run-id>`.
    #[arg(long, value_parser = duration, allow_hyphen_values = true, value_name = "D")]
    pub warmup: Option<Duration>,
    #[arg(long, value_name = "PATH", requires = "warmup")]
    pub warmup_json: Option<PathBuf>,
    #[arg(long, value_name = "PATH", requires = "warmup")]
    pub warmup_journal: Option<PathBuf>,
    /// At each phase boundary print `mark warmup-end` or `mark steady-end` on stdout and wait
    /// for a line on stdin, with the connections open and no request in flight: a caller reads
    /// its counters (guest instructions) exactly there.
    #[arg(long)]
    pub marks: bool,
}

impl LoadArgs {
    /// The arguments, after `load`, that clap reads back as this value; the timeout only
    /// where it differs from the default.
    pub fn to_args(&self) -> Vec<String> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut a = Argv::default();
        a.arg(&self.url);
        a.opt_some("--ca", path(&self.ca));
        a.flag("--insecure", self.insecure);
        a.flag("--quiet", self.quiet);
        a.flag("--marks", self.marks);
        if let Some(d) = self.duration {
            a.time("--duration", d);
        }
        a.opt_some("--requests", self.requests);
        a.opt_some("--journal", path(&self.journal));
        a.opt_some("--json", path(&self.json));
        if let Some(d) = self.warmup {
            a.time("--warmup", d);
        }
        a.opt_some("--warmup-journal", path(&self.warmup_journal));
        a.opt_some("--warmup-json", path(&self.warmup_json));
        a.opt_some("--rate", self.rate);
        a.opt_some("--connections", self.connections);
        a.opt_some("--connect-rate", self.connect_rate);
        if let Some(d) = self.think {
            a.time("--think", d);
        }
        a.flag("--new-conn", self.new_conn);
        a.flag("--resume", self.resume);
        a.flag("--http2", self.http2);
        a.each("--header", &self.header);
        a.each("--source", &self.source);
        a.opt_some("--keylog", path(&self.keylog));
        a.opt_some("--run-id", self.run_id.as_ref());
        if self.timeout != LoadArgs::new("").timeout {
            a.time("--timeout", self.timeout);
        }
        a.0
    }

    /// Closed loop to `url` with the defaults the command line gives.
    pub fn new(url: impl Into<String>) -> LoadArgs {
        LoadArgs {
            url: url.into(),
            keylog: None,
            connections: None,
            rate: None,
            connect_rate: None,
            think: None,
            duration: None,
            requests: None,
            source: Vec::new(),
            new_conn: false,
            resume: false,
            http2: false,
            insecure: false,
            ca: None,
            header: Vec::new(),
            timeout: Duration::from_secs(10),
            json: None,
            journal: None,
            run_id: None,
            quiet: false,
            warmup: None,
            warmup_json: None,
            warmup_journal: None,
            marks: false,
        }
    }
}
