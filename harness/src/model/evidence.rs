//! What a cell's checks found: named assertions with their evidence, and how each leg
//! reused its connections. Data only; `reconcile` and the runner's judges produce them.

/// A named check with its result and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assertion {
    pub name: String,
    pub passed: bool,
    pub evidence: String,
}

/// Something the guest kernel said during a cell (an OOM kill, a full conntrack table, a
/// SYN flood, a crash): its kind, how many lines said it, and the first of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelEvent {
    pub kind: String,
    pub count: u32,
    pub first: String,
}

/// One leg's connections: the client leg (from the load generator) or the backend leg
/// (from the backend's access log).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LegReuse {
    pub connections: u64,
    pub requests: u64,
    /// `requests / connections`; absent with no connection.
    pub requests_per_connection: Option<f64>,
    /// TLS handshakes that were full, and that resumed a session (0 and 0 without TLS).
    pub tls_full: u64,
    pub tls_resumed: u64,
}

impl LegReuse {
    pub fn new(connections: u64, requests: u64, tls_full: u64, tls_resumed: u64) -> Self {
        let requests_per_connection = (connections > 0).then(|| requests as f64 / connections as f64);
        LegReuse { connections, requests, requests_per_connection, tls_full, tls_resumed }
    }
}
