//! What a cell's packet capture kept, and what each hop carried for its first failing
//! requests (report.json `capture`).
use std::net::IpAddr;

/// The packets of one cell: where they are and how to open them, and the decoded hops of
/// the first failing request ids.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaptureSection {
    /// `on-failure` or `always`.
    pub mode: String,
    /// Whether the pcaps and the key log were kept (a passing cell under `on-failure` drops them).
    pub kept: bool,
    /// The capture directory, when kept.
    pub dir: Option<String>,
    /// One file per link, when kept.
    pub files: Vec<CaptureFile>,
    /// The TLS key log (SSLKEYLOGFILE format) of the load generator and the backend.
    pub keylog: Option<String>,
    /// One line that opens a link's packets in Wireshark, decrypted.
    pub wireshark: Option<String>,
    /// Bytes of the kept bundle (pcaps and key log).
    pub bytes: u64,
    /// Packets a capture reported as dropped by the kernel, over all links.
    pub dropped: u64,
    /// The first failing request ids, hop by hop.
    pub traces: Vec<RequestTrace>,
    /// Why some part could not be done (tcpdump or tshark missing, a decode error).
    pub error: Option<String>,
}

/// One link's pcap.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaptureFile {
    /// `access`, `wan`, `tunnel` or `lan`.
    pub link: String,
    /// Where it was captured: `host/interface`.
    pub at: String,
    pub path: String,
    pub bytes: u64,
}

/// One request id followed across the links, in order from the clients to the backend.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestTrace {
    pub request_id: String,
    /// The address the load generator sent it from.
    pub client: Option<IpAddr>,
    /// Why this id is here (`mismatch: backend logged 10.1.0.1`, `failed: timeout`, ...).
    pub why: String,
    pub hops: Vec<HopView>,
    /// The first link where the request was seen without the client's address, with the
    /// device between it and the link before (`tunnel (after the router)`).
    pub lost_at: Option<String>,
}

/// What one link carried for one request.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HopView {
    pub link: String,
    /// The request was decoded on this link (false: not carried, or not decryptable).
    pub seen: bool,
    pub src: Option<String>,
    pub dst: Option<String>,
    /// The PROXY header's source address on this connection.
    pub proxy_header: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub forwarded: Option<String>,
    /// How the client's address travels on this link (`source address`, `PROXY header`,
    /// `X-Forwarded-For`, `Forwarded`), or none: lost here.
    pub client_carried_by: Option<String>,
}

impl RequestTrace {
    /// One line per hop, as junit.xml's `system-out` and the terminal show it.
    pub fn lines(&self) -> Vec<String> {
        let client = self.client.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
        let mut out = vec![format!("request {} from {client} ({})", self.request_id, self.why)];
        for h in &self.hops {
            if !h.seen {
                out.push(format!("  {:<7} not seen", h.link));
                continue;
            }
            let mut parts = vec![format!("{} -> {}", h.src.as_deref().unwrap_or("?"), h.dst.as_deref().unwrap_or("?"))];
            let field = |name: &str, v: &Option<String>| v.as_ref().map(|v| format!("{name} {v}"));
            parts.extend(field("PROXY", &h.proxy_header));
            parts.extend(field("X-Forwarded-For:", &h.x_forwarded_for));
            parts.extend(field("Forwarded:", &h.forwarded));
            let carried = match &h.client_carried_by {
                Some(by) => format!("client in {by}"),
                None => "client address LOST".into(),
            };
            out.push(format!("  {:<7} {}; {carried}", h.link, parts.join(", ")));
        }
        if let Some(at) = &self.lost_at {
            out.push(format!("  the client address was lost at {at}"));
        }
        out
    }
}
