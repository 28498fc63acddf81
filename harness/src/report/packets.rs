//! report.html's "Packets" section: what each link carried for the first failing request
//! ids, where the client's address was lost, and how to open the pcaps in Wireshark.
use std::fmt::Write;

use super::escape::esc;
use crate::model::{CaptureSection, CellReport, HopView};

/// The section, or nothing when the cell kept no capture and had no capture error.
pub(super) fn packets(k: &CellReport, root: &std::path::Path) -> String {
    let Some(c) = k.capture.as_ref().filter(|c| c.kept || c.error.is_some()) else { return String::new() };
    let mut b = String::from("<h3>Packets</h3>");
    if let Some(e) = &c.error {
        let _ = write!(b, "<p class=\"fail\">capture: {}</p>", esc(e));
    }
    if c.kept {
        b.push_str(&bundle(c, root));
    }
    for t in &c.traces {
        let client = t.client.map(|a| a.to_string()).unwrap_or_else(|| "?".into());
        let _ = write!(b, "<h4>request {} from {client}: {}</h4>", esc(&t.request_id), esc(&t.why));
        b.push_str(
            "<table class=\"hops\"><tr><th>link</th><th>source → destination</th><th>PROXY header</th>\
             <th>X-Forwarded-For</th><th>Forwarded</th><th>client address</th></tr>",
        );
        for h in &t.hops {
            b.push_str(&hop_row(h));
        }
        b.push_str("</table>");
        if let Some(at) = &t.lost_at {
            let _ = write!(b, "<p class=\"fail\">The client address was lost at {}.</p>", esc(at));
        }
    }
    if c.kept && c.traces.is_empty() {
        b.push_str("<p>No failing request id to follow: the cell failed on something else.</p>");
    }
    b
}

fn bundle(c: &CaptureSection, root: &std::path::Path) -> String {
    let rel = |p: &str| {
        let p = std::path::Path::new(p);
        p.strip_prefix(root).unwrap_or(p).display().to_string()
    };
    let mut b = format!(
        "<p>{} link(s), {:.1} MiB with the key log; {} packet(s) dropped by the kernel.</p><ul class=\"files\">",
        c.files.len(),
        c.bytes as f64 / 1048576.0,
        c.dropped
    );
    for f in &c.files {
        let _ = write!(
            b,
            "<li><a href=\"{0}\">{1}</a> ({2}, {3} bytes)</li>",
            esc(&rel(&f.path)),
            esc(&f.link),
            esc(&f.at),
            f.bytes
        );
    }
    if let Some(k) = &c.keylog {
        let _ = write!(b, "<li><a href=\"{}\">TLS key log</a></li>", esc(&rel(k)));
    }
    b.push_str("</ul>");
    if let Some(w) = &c.wireshark {
        let _ = write!(b, "<pre class=\"wireshark\">{}</pre>", esc(w));
    }
    b
}

fn hop_row(h: &HopView) -> String {
    if !h.seen {
        return format!(
            "<tr><td>{}</td><td colspan=\"5\">not seen (not carried, or not decrypted)</td></tr>",
            esc(&h.link)
        );
    }
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or("-"));
    let (cls, carried) = match &h.client_carried_by {
        Some(by) => ("pass", format!("in the {by}")),
        None => ("fail", "LOST".into()),
    };
    format!(
        "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{cls}\">{}</td></tr>",
        esc(&h.link),
        v(&h.src),
        v(&h.dst),
        v(&h.proxy_header),
        v(&h.x_forwarded_for),
        v(&h.forwarded),
        esc(&carried)
    )
}
