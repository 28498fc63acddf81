use std::io::Write;

use anyhow::Context;
use harness::backend::{Backend, BackendConfig, BackendError};
use harness::netaddr::CidrList;

use crate::cli::BackendArgs;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(a: BackendArgs) -> CmdResult {
    let mut cfg = BackendConfig::new(a.listen, a.access_log);
    cfg.tls_cert = a.tls_cert;
    cfg.tls_key = a.tls_key;
    cfg.keylog = a.keylog;
    cfg.proxy_protocol = a.proxy_protocol;
    cfg.trusted = CidrList::new(a.trusted);
    cfg.client_ip_header = a.client_ip_header;
    cfg.log_format = a.log_format;
    cfg.reject_log = a.reject_log;
    cfg.header_timeout = a.header_timeout;
    cfg.body_bytes = a.body_bytes;
    // Before `listening` is printed: whoever reads it may signal us at once.
    harness::shutdown::install().infra()?;
    super::runtime()?.block_on(async move {
        let backend = Backend::start(&cfg).await.map_err(|e| match e {
            BackendError::Bind { .. } => Failure::Infrastructure(e.into()),
            other => Failure::BadInput(other.into()),
        })?;
        {
            let mut out = std::io::stdout().lock();
            for l in backend.listeners() {
                writeln!(out, "listening {}", l.describe()).context("stdout").infra()?;
            }
            out.flush().context("stdout").infra()?;
        }
        wait_for_signal().await.infra()?;
        let stats = backend.stats().snapshot();
        outln!("{}", serde_json::to_string(&stats).expect("stats serialize"));
        Ok(Code::Ok)
    })
}

/// Until SIGINT, SIGTERM or SIGHUP: a backend is stopped, not interrupted, so this is a
/// clean exit.
async fn wait_for_signal() -> std::io::Result<()> {
    harness::shutdown::requested().await;
    Ok(())
}
