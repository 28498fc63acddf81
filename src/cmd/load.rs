use harness::load::{
    parse_header, run_keeping, ConnPolicy, Connections, LoadConfig, LoadError, LoadSummary, Mode, Stop, Url,
};
use harness::netaddr::SourcePool;
use harness::tls::ClientTrust;

use crate::cli::LoadArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: LoadArgs) -> CmdResult {
    let mut steady = config(a.url.as_str(), &a)?;
    let warm = match a.warmup {
        Some(d) => {
            let mut w = steady.clone();
            // The warm-up opens the connections at --connect-rate; the measured phase
            // starts on them, and reopens one it lost at once.
            steady.connect_rate = None;
            w.stop = Stop::After(d);
            w.settle = true;
            w.journal = a.warmup_journal.clone();
            // Not `<run-id>-...`: reconciliation claims every id with the measured phase's
            // prefix, and would count warm-up requests as unknown ones.
            w.run_id = format!("warmup-{}", steady.run_id);
            Some(w)
        }
        None => None,
    };
    harness::shutdown::install().infra()?;
    let summary = super::runtime()?.block_on(phases(warm, steady, &a))?;
    if !a.quiet {
        out!("{summary}");
    }
    if summary.journal_write_errors > 0 {
        return Err(Failure::Infrastructure(anyhow::anyhow!(
            "{} journal writes failed; the journal is incomplete",
            summary.journal_write_errors
        )));
    }
    Ok(if summary.interrupted { Code::Interrupted } else { Code::Ok })
}

/// The warm-up (if any), then the measured phase on the connections the warm-up left open,
/// with a mark after each. Returns the measured phase's summary, or the warm-up's if that
/// was interrupted.
async fn phases(warm: Option<LoadConfig>, steady: LoadConfig, a: &LoadArgs) -> Result<LoadSummary, Failure> {
    let failure = |e: LoadError| match e {
        LoadError::Journal { .. } => Failure::Infrastructure(e.into()),
        other => Failure::BadInput(other.into()),
    };
    let mut kept = Connections::default();
    if let Some(w) = warm {
        let (s, k) = run_keeping(w, kept).await.map_err(failure)?;
        if let Some(path) = &a.warmup_json {
            super::write_json(path, &s)?;
        }
        if s.interrupted || (a.marks && !mark("warmup-end").await) {
            return Ok(LoadSummary { interrupted: true, ..s });
        }
        kept = k;
    }
    let (s, open) = run_keeping(steady, kept).await.map_err(failure)?;
    if let Some(path) = &a.json {
        super::write_json(path, &s)?;
    }
    let interrupted = s.interrupted || (a.marks && !mark("steady-end").await);
    drop(open);
    Ok(LoadSummary { interrupted, ..s })
}

/// Say `mark NAME` on stdout and wait for a line (or the end) on stdin. False if a signal
/// came first.
async fn mark(name: &str) -> bool {
    use tokio::io::AsyncBufReadExt as _;
    outln!("mark {name}");
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    tokio::select! {
        _ = stdin.read_line(&mut line) => true,
        sig = harness::shutdown::requested() => {
            tracing::warn!("{sig} at mark {name}");
            false
        }
    }
}

fn config(url: &str, a: &LoadArgs) -> Result<LoadConfig, Failure> {
    let target = Url::parse(url).bad_input()?;
    let mode = match a.rate {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            return Err(Failure::BadInput(anyhow::anyhow!(
                "--rate {rate} must be a positive number of requests per second"
            )))
        }
        Some(rate) => Mode::Open { rate, connections: a.connections.unwrap_or(64) as usize },
        None => Mode::Closed { connections: a.connections.unwrap_or(16) as usize },
    };
    let stop = match (a.requests, a.duration) {
        (Some(0), _) => return Err(Failure::BadInput(anyhow::anyhow!("--requests must be at least 1"))),
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::After(d),
        (None, None) => Stop::After(std::time::Duration::from_secs(10)),
    };
    let mut cfg = LoadConfig::new(target, mode, stop);
    cfg.sources = SourcePool::new(&a.source).bad_input()?;
    cfg.policy = if a.new_conn {
        ConnPolicy::NewConn
    } else if a.resume {
        ConnPolicy::Resume
    } else {
        ConnPolicy::KeepAlive
    };
    cfg.http2 = a.http2;
    cfg.trust = match &a.ca {
        Some(ca) => {
            // Read it now so a missing file is a one-line input error before any traffic.
            harness::tls::load_certs(ca).bad_input()?;
            ClientTrust::Ca(ca.clone())
        }
        None if a.insecure || !cfg.target.tls => ClientTrust::Insecure,
        None => {
            return Err(Failure::BadInput(anyhow::anyhow!(
                "{url} is HTTPS: pass --ca FILE to verify the server, or --insecure"
            )))
        }
    };
    cfg.headers = a.header.iter().map(|h| parse_header(h)).collect::<Result<_, _>>().bad_input()?;
    cfg.timeout = a.timeout;
    cfg.connect_rate = a.connect_rate;
    if a.think.is_some() && a.rate.is_some() {
        return Err(Failure::BadInput(anyhow::anyhow!(
            "--think is for the closed loop, where each connection waits for its answer; an open loop (--rate) sends on its own schedule"
        )));
    }
    cfg.think = a.think;
    cfg.journal = a.journal.clone();
    cfg.keylog = a.keylog.clone();
    if let Some(id) = &a.run_id {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Failure::BadInput(anyhow::anyhow!(
                "--run-id {id:?} may only hold letters, digits, '-' and '_'"
            )));
        }
        cfg.run_id = id.clone();
    }
    cfg.progress = !a.quiet;
    Ok(cfg)
}
