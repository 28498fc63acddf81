//! Connection reuse on one leg: how many connections carried the requests, and how their
//! TLS handshakes went. A proxy that opens a backend connection per request pays a TCP and
//! TLS set-up each time; a comparison has to show that, not hide it in req/s.
use std::collections::HashMap;

use crate::accesslog::AccessRecord;
use crate::model::LegReuse;

/// Requests per backend connection, from the log lines of one run.
#[derive(Debug, Default)]
pub(crate) struct ConnTally {
    /// Connection serial → whether its handshake resumed (None: no TLS).
    conns: HashMap<u64, Option<bool>>,
    requests: u64,
    /// Lines that did not say their connection (an older log, another format).
    unknown: u64,
}

impl ConnTally {
    pub fn add(&mut self, rec: &AccessRecord) {
        match rec.conn {
            Some(c) => {
                self.requests += 1;
                self.conns.entry(c).or_insert(rec.tls_resumed);
            }
            None => self.unknown += 1,
        }
    }

    /// `None` when no line said its connection: unknown, not zero.
    pub fn finish(&self) -> Option<LegReuse> {
        if self.conns.is_empty() || self.unknown > 0 {
            return None;
        }
        let resumed = self.conns.values().filter(|r| **r == Some(true)).count() as u64;
        let full = self.conns.values().filter(|r| **r == Some(false)).count() as u64;
        Some(LegReuse::new(self.conns.len() as u64, self.requests, full, resumed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(conn: Option<u64>, resumed: Option<bool>) -> AccessRecord {
        let mut r: AccessRecord = serde_json::from_str(
            r#"{"time":"2026-11-26T08:00:00+00:00","method":"GET","path":"/","status":200,"bytes":3}"#,
        )
        .unwrap();
        (r.conn, r.tls_resumed) = (conn, resumed);
        r
    }

    #[test]
    fn requests_are_grouped_by_connection_and_each_handshake_counted_once() {
        let mut t = ConnTally::default();
        for _ in 0..30 {
            t.add(&rec(Some(1), Some(false)));
        }
        for _ in 0..10 {
            t.add(&rec(Some(2), Some(true)));
        }
        let r = t.finish().unwrap();
        assert_eq!((r.connections, r.requests, r.tls_full, r.tls_resumed), (2, 40, 1, 1));
        assert_eq!(r.requests_per_connection, Some(20.0));
    }

    #[test]
    fn a_log_that_does_not_say_is_unknown_not_one_connection() {
        assert_eq!(ConnTally::default().finish(), None);
        let mut t = ConnTally::default();
        t.add(&rec(Some(1), None));
        t.add(&rec(None, None));
        assert_eq!(t.finish(), None);
        assert_eq!(LegReuse::new(0, 0, 0, 0).requests_per_connection, None);
    }
}
