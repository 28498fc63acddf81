use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use super::ReconcileError;
use crate::accesslog::{read_log, LogFormat};
use crate::load::{read_journal, Outcome};

/// How many examples of each kind of problem are kept.
const EXAMPLES: usize = 10;

/// A logged request whose effective client IP is not the address that sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mismatch {
    pub request_id: String,
    pub sent_from: Option<IpAddr>,
    pub logged_client_ip: Option<IpAddr>,
    pub client_ip_source: Option<String>,
    pub xff: Option<String>,
}

/// Outcome per source address.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceOutcome {
    pub requests: u64,
    pub ok: u64,
    pub logged: u64,
    pub attributed: u64,
}

/// The accounting of one run. `sent == logged + failed_unlogged + answered_unlogged`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reconciliation {
    pub run_id: String,
    pub sent: u64,
    pub ok: u64,
    /// Requests logged exactly once or more (duplicates counted separately).
    pub logged: u64,
    /// Failed with a classified error and absent from the log.
    pub failed_unlogged: u64,
    /// Failed on the client (e.g. timeout) although the backend logged them.
    pub failed_but_logged: u64,
    /// Failures by class (`connect`, `tls`, `timeout`, `http-status`, `protocol`).
    pub failed_by_class: BTreeMap<String, u64>,
    /// The server answered, yet nothing was logged: a lost observation.
    pub answered_unlogged: u64,
    pub duplicates: u64,
    /// Log lines of this run's id prefix that the journal doesn't know.
    pub unknown_ids: u64,
    /// Log lines from other runs or without X-Request-Id.
    pub foreign_lines: u64,
    /// Logged requests whose client IP equals the sending address.
    pub attributed: u64,
    pub mismatches: u64,
    pub mismatch_examples: Vec<Mismatch>,
    pub unlogged_examples: Vec<String>,
    /// Which addresses the backend named as the client, with counts.
    pub logged_client_ips: BTreeMap<String, u64>,
    pub per_source: BTreeMap<String, SourceOutcome>,
    /// The connections the backend saw this run's requests on; absent when its log does
    /// not say (a format without a connection field).
    #[serde(default)]
    pub backend_connections: Option<super::LegReuse>,
}

struct Sent {
    source: Option<IpAddr>,
    outcome: Outcome,
    logged: u32,
}

/// Read both files and account for every request of the journal's run.
pub fn reconcile(journal: &Path, access_log: &Path, format: LogFormat) -> Result<Reconciliation, ReconcileError> {
    let (header, entries) = read_journal(journal)?;
    let prefix = format!("{}-", header.run_id);
    let mut sent: HashMap<String, Sent> = HashMap::new();
    let mut r = Reconciliation { run_id: header.run_id.clone(), ..Default::default() };
    let mut conns = super::reuse::ConnTally::default();
    for e in entries {
        let e = e?;
        r.sent += 1;
        if e.outcome.error_class().is_none() {
            r.ok += 1;
        }
        let src = r.per_source.entry(e.source.map(|s| s.to_string()).unwrap_or_else(|| "-".into())).or_default();
        src.requests += 1;
        src.ok += u64::from(e.outcome.error_class().is_none());
        sent.insert(e.id, Sent { source: e.source, outcome: e.outcome, logged: 0 });
    }
    for rec in read_log(access_log, format)? {
        let rec = rec?;
        let Some(id) = rec.request_id.as_deref().filter(|id| id.starts_with(&prefix)) else {
            r.foreign_lines += 1;
            continue;
        };
        let Some(s) = sent.get_mut(id) else {
            r.unknown_ids += 1;
            continue;
        };
        s.logged += 1;
        if s.logged > 1 {
            r.duplicates += 1;
            continue;
        }
        r.logged += 1;
        conns.add(&rec);
        // ::ffff:a.b.c.d is a.b.c.d (RFC 4291); a backend behind a dual-stack socket logs that form.
        let logged_ip = rec.client_ip.map(crate::netaddr::canonical);
        *r.logged_client_ips.entry(logged_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into())).or_default() += 1;
        let src_key = s.source.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let per = r.per_source.entry(src_key).or_default();
        per.logged += 1;
        if logged_ip.is_some() && logged_ip == s.source {
            r.attributed += 1;
            per.attributed += 1;
        } else {
            r.mismatches += 1;
            if r.mismatch_examples.len() < EXAMPLES {
                r.mismatch_examples.push(Mismatch {
                    request_id: id.to_string(),
                    sent_from: s.source,
                    logged_client_ip: rec.client_ip,
                    client_ip_source: rec.client_ip_source.map(|c| c.as_str().to_string()),
                    xff: rec.xff.clone(),
                });
            }
        }
    }
    r.backend_connections = conns.finish();
    let mut ids: Vec<(&String, &Sent)> = sent.iter().filter(|(_, s)| s.logged == 0).collect();
    ids.sort_by(|a, b| a.0.cmp(b.0));
    for s in sent.values() {
        match (s.logged > 0, s.outcome.error_class()) {
            (false, Some(class)) => {
                r.failed_unlogged += 1;
                *r.failed_by_class.entry(class.as_str().to_string()).or_default() += 1;
            }
            (false, None) => r.answered_unlogged += 1,
            (true, Some(class)) => {
                r.failed_but_logged += 1;
                *r.failed_by_class.entry(class.as_str().to_string()).or_default() += 1;
            }
            (true, None) => {}
        }
    }
    r.unlogged_examples =
        ids.into_iter().filter(|(_, s)| s.outcome.answered()).take(EXAMPLES).map(|(id, _)| id.clone()).collect();
    Ok(r)
}
