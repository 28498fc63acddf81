use harness::load::{parse_header, ConnPolicy, LoadConfig, Mode, Stop, Target};
use harness::netaddr::SourcePool;
use harness::tls::ClientTrust;

use crate::cli::LoadArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: LoadArgs) -> CmdResult {
    let cfg = config(a.url.as_str(), &a)?;
    let summary = super::runtime()?.block_on(harness::load::run(cfg)).map_err(|e| match e {
        harness::load::LoadError::Journal { .. } => Failure::Infrastructure(e.into()),
        other => Failure::BadInput(other.into()),
    })?;
    if let Some(path) = &a.json {
        super::write_json(path, &summary)?;
    }
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

fn config(url: &str, a: &LoadArgs) -> Result<LoadConfig, Failure> {
    let target = Target::parse(url).bad_input()?;
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
    cfg.journal = a.journal.clone();
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
