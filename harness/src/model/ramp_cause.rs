//! What failed first in a ramp step that did not hold, named with its evidence: the guest
//! kernel's own words first (its OOM killer, a full conntrack table, socket memory), then
//! what the clients saw. A connections step whose requests timed out while handshakes
//! trickled in ran out of handshake rate, not memory: opening N connections at the rate
//! the router completes full handshakes takes longer than the clients wait.
use super::ramp::RampOf;
use super::KernelEvent;
use crate::load::ErrorCounts;

/// What one step showed, as the cause is judged from it.
pub(super) struct Seen<'a> {
    pub of: RampOf,
    pub value: f64,
    pub errors: &'a ErrorCounts,
    pub kernel: &'a [KernelEvent],
    pub full_handshakes_per_s: f64,
    /// The backend leg: requests that reached the backend, and the TLS handshakes (full or
    /// resumed) it saw: a proxy that reopens its backend connection pays one per request.
    pub backend: Option<(u64, u64)>,
}

/// The cause in words, or `None` when nothing failed and the kernel said nothing.
pub(super) fn cause(s: &Seen) -> Option<String> {
    let count = |kind: &str| s.kernel.iter().find(|e| e.kind == kind).map(|e| e.count);
    if let Some(n) = count("oom-kill") {
        return Some(format!("memory: the guest kernel's OOM killer ({n} kernel lines)"));
    }
    if let Some(n) = count("conntrack-full") {
        return Some(format!("the router's conntrack table was full ({n} kernel lines)"));
    }
    for kind in ["alloc-failure", "tcp-memory", "orphan-sockets"] {
        if let Some(n) = count(kind) {
            return Some(format!("the guest kernel's memory for sockets ({kind}, {n} kernel lines)"));
        }
    }
    let e = s.errors;
    let classes = [e.timeout, e.connect, e.tls, e.http_status, e.protocol];
    let most = *classes.iter().max()?;
    if most == 0 {
        return None;
    }
    let hs = s.full_handshakes_per_s;
    Some(if most == e.timeout {
        timed_out(s, hs)
    } else if most == e.connect {
        "connections refused or reset before TLS: the proxy's accept queue, maxconn or file descriptors (no kernel line says which)".into()
    } else if most == e.tls {
        "TLS handshakes failed".into()
    } else if most == e.http_status {
        "the proxy answered with HTTP error statuses".into()
    } else {
        "answers the clients could not parse".into()
    })
}

/// Timeouts: on a connections step, the time to open them all at the handshake rate seen.
fn timed_out(s: &Seen, hs: f64) -> String {
    match (s.of, s.backend) {
        (_, Some((reached, opened))) if hs <= 0.0 && opened > 0 => format!(
            "requests timed out on client connections already open: the backend leg, where {opened} of the {reached} requests that reached the backend opened a new TLS connection to it"
        ),
        _ if hs <= 0.0 => "requests timed out, and no full TLS handshake completed".into(),
        (RampOf::Connections, _) => format!(
            "the handshake rate: the router completed {hs:.1} full handshakes/s, so opening {:.0} connections takes about {:.0} s, and requests timed out waiting on them",
            s.value,
            s.value / hs
        ),
        (RampOf::Rate, _) => format!("the router fell behind: requests timed out while it completed {hs:.1} full handshakes/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(of: RampOf, errors: &'a ErrorCounts, kernel: &'a [KernelEvent], hs: f64) -> Seen<'a> {
        Seen { of, value: 200.0, errors, kernel, full_handshakes_per_s: hs, backend: None }
    }

    /// The measured case (aarch64, 128 MiB, 200 connections): every request timed out at
    /// 17.8 full handshakes/s, so the cause is the handshake rate, with its arithmetic.
    #[test]
    fn a_connections_step_that_timed_out_names_the_handshake_rate() {
        let e = ErrorCounts { timeout: 400, connect: 2, ..Default::default() };
        let c = cause(&seen(RampOf::Connections, &e, &[], 17.8)).unwrap();
        assert_eq!(
            c,
            "the handshake rate: the router completed 17.8 full handshakes/s, so opening 200 connections takes about 11 s, and requests timed out waiting on them"
        );
        assert!(cause(&seen(RampOf::Connections, &e, &[], 0.0)).unwrap().contains("no full TLS handshake completed"));
        assert!(cause(&seen(RampOf::Rate, &e, &[], 9.0)).unwrap().starts_with("the router fell behind"));
        // Idle keep-alive clients (aarch64, 200 connections, a 4 s think time): no client
        // handshake, but the proxy reopened its backend connection for each request.
        let idle = Seen { backend: Some((3, 2)), ..seen(RampOf::Connections, &e, &[], 0.0) };
        assert_eq!(
            cause(&idle).unwrap(),
            "requests timed out on client connections already open: the backend leg, where 2 of the 3 requests that reached the backend opened a new TLS connection to it"
        );
    }

    /// The kernel's word outranks what the clients saw, most telling first.
    #[test]
    fn the_kernel_is_named_before_the_clients_failures() {
        let e = ErrorCounts { connect: 50, ..Default::default() };
        let ev = |kind: &str| KernelEvent { kind: kind.into(), count: 3, first: String::new() };
        let both = [ev("conntrack-full"), ev("oom-kill")];
        assert_eq!(
            cause(&seen(RampOf::Connections, &e, &both, 5.0)).unwrap(),
            "memory: the guest kernel's OOM killer (3 kernel lines)"
        );
        assert!(cause(&seen(RampOf::Connections, &e, &both[..1], 5.0)).unwrap().starts_with("the router's conntrack"));
        assert!(cause(&seen(RampOf::Connections, &e, &[ev("tcp-memory")], 5.0)).unwrap().contains("tcp-memory"));
        assert!(cause(&seen(RampOf::Connections, &e, &[], 5.0)).unwrap().starts_with("connections refused or reset"));
        let tls = ErrorCounts { tls: 9, timeout: 1, ..Default::default() };
        assert_eq!(cause(&seen(RampOf::Rate, &tls, &[], 5.0)).as_deref(), Some("TLS handshakes failed"));
        assert_eq!(cause(&seen(RampOf::Rate, &ErrorCounts::default(), &[], 5.0)), None, "nothing failed");
    }
}
