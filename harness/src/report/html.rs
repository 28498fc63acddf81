//! The HTML report: one self-contained file (inline CSS and SVG, no scripts, no URLs),
//! readable offline and attachable to a CI run as is.
use std::fmt::Write;

use super::escape::esc;
use super::plots::{latency_plot, time_plot, Series};
use super::view::{CellView, RunView};
use super::ReportError;
use crate::model::{fixed, CellSummary, Outcome};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}\
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}\
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;margin:6px 0}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#0a7d32;font-weight:600}\
.fail,.error{color:#b3261e;font-weight:600}.plots{display:flex;flex-wrap:wrap;gap:8px}\
figure{margin:0}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}pre.wireshark{white-space:pre-wrap;word-break:break-all}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#666}dd{margin:0}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

/// The report for one run directory.
pub fn html_page(run: &RunView) -> Result<String, ReportError> {
    html_page_with(run, "")
}

/// The report with `lead` (an HTML fragment, such as an A/B run's comparison of its
/// builds) between the run's header and its cells.
pub fn html_page_with(run: &RunView, lead: &str) -> Result<String, ReportError> {
    let r = &run.report;
    let title = match run.cells.as_slice() {
        [one] => format!("routerlab: {}", one.title()),
        cells => format!("routerlab: {} cells, {}", cells.len(), r.started_at),
    };
    let mut b = format!("<header id=\"run\"><h1>{}</h1><dl class=\"meta\">", esc(&title));
    let rev = if r.git_revision.is_empty() { String::new() } else { format!(" ({})", r.git_revision) };
    for (k, v) in [
        ("routerlab", format!("{}{rev}", r.routerlab_version)),
        ("host", r.host.clone()),
        ("started", r.started_at.clone()),
        (
            "cells",
            format!(
                "{} ({} passed)",
                run.cells.len(),
                run.cells.iter().filter(|c| c.cell.outcome == Outcome::Pass).count()
            ),
        ),
    ] {
        let _ = write!(b, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    b.push_str("</dl></header>\n");
    b.push_str(lead);
    b.push_str(&overview(run));
    for (i, c) in run.cells.iter().enumerate() {
        b.push_str(&cell_section(i, c, run)?);
    }
    Ok(page(&title, &b))
}

fn overview(run: &RunView) -> String {
    let mut b = String::from(
        "<section id=\"overview\"><h2>Cells</h2><table><tr><th>cell</th><th>result</th><th>client IP</th>\
         <th>req/s</th><th>p99 ms</th><th>proxy CPU %</th><th>peak RSS MiB</th>\
         <th title=\"requests per connection: client leg / backend leg\">req/conn</th><th>backend leg</th></tr>",
    );
    for (i, c) in run.cells.iter().enumerate() {
        let s = CellSummary::of(&c.cell);
        let _ = write!(
            b,
            "<tr><td><a href=\"#cell-{i}\">{}</a></td><td class=\"{o}\">{o}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td></tr>",
            esc(&s.title),
            s.verdict_text(),
            fixed(s.requests_per_s, 1),
            esc(&s.p99_text()),
            fixed(s.proxy_cpu_pct, 1),
            s.rss_mib_text(),
            esc(&s.reuse_text()),
            esc(&s.backend_conns_text()),
            o = s.outcome,
        );
    }
    b.push_str("</table></section>\n");
    b
}

/// `client leg: 3 connections, 412.3 requests each, 0 full + 0 resumed TLS handshakes; backend leg: ...`.
fn reuse_text(r: &crate::model::ConnectionReuse) -> String {
    let leg = |name: &str, l: &Option<crate::reconcile::LegReuse>| match l {
        Some(l) => format!(
            "{name} leg: {} connections, {} requests each, {} full + {} resumed TLS handshakes",
            l.connections,
            fixed(l.requests_per_connection, 1),
            l.tls_full,
            l.tls_resumed
        ),
        None => format!("{name} leg: not recorded"),
    };
    format!("{}; {}", leg("client", &r.client), leg("backend", &r.backend))
}

fn cell_section(i: usize, c: &CellView, run: &RunView) -> Result<String, ReportError> {
    let k = &c.cell;
    let mut b = format!(
        "<section class=\"cell\" id=\"cell-{i}\"><h2>{} <span class=\"{o}\">{o}</span></h2><dl class=\"meta\">",
        esc(&c.title()),
        o = k.outcome
    );
    let build = k.build.as_ref().map(|b| {
        let parts = [b.name.clone(), b.version.clone(), b.facts_line(), format!("sha256 {}", b.sha256)];
        parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" — ")
    });
    let tools: Vec<String> = k.router_tools.iter().map(|p| p.describe()).collect();
    for (key, v) in [
        ("proxy", Some(k.proxy.clone())),
        ("build", build),
        ("build source", k.build.as_ref().map(|b| b.source.clone())),
        ("tunnel", Some(k.tunnel.clone())),
        ("expect", Some(k.expect.to_string())),
        ("image", k.image.clone()),
        ("router", k.router.map(|r| r.describe())),
        ("router tools", (!tools.is_empty()).then(|| tools.join("; "))),
        ("connections", k.connections.as_ref().map(reuse_text)),
        ("backend rejects", k.backend_rejects.as_ref().map(|r| r.describe())),
        ("error", k.error.clone()),
    ] {
        if let Some(v) = v {
            let _ = write!(b, "<dt>{key}</dt><dd>{}</dd>", esc(&v));
        }
    }
    b.push_str("</dl>");
    if let Some(info) = k.build.as_ref().filter(|i| !i.details.is_empty()) {
        let _ = write!(
            b,
            "<details><summary>how {} was built</summary><pre>{}</pre></details>",
            esc(&info.name),
            esc(&info.details)
        );
    }
    b.push_str(&assertions(c));
    b.push_str(&super::packets::packets(k, &run.root));
    b.push_str(&faults(k));
    b.push_str(&clients(c));
    b.push_str(&numbers(c));
    b.push_str(&plots(c)?);
    if let Some(conf) = &c.proxy_conf {
        let _ = write!(b, "<h3>Deployed proxy config</h3><pre class=\"proxy-config\">{}</pre>", esc(conf));
    }
    let links = c.links(&run.root, &run.cells);
    if !links.is_empty() {
        b.push_str("<h3>Files</h3><ul class=\"files\">");
        for (name, href) in links {
            let _ = write!(b, "<li><a href=\"{}\">{}</a></li>", esc(&href), esc(&name));
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>\n");
    Ok(b)
}

/// The faults injected, with their windows (seconds since the steady phase began).
fn faults(k: &crate::model::CellReport) -> String {
    if k.faults.is_empty() {
        return String::new();
    }
    let mut b = String::from("<h3>Faults</h3><ul class=\"faults\">");
    for (i, f) in k.faults.iter().enumerate() {
        let note = f.error.as_ref().map(|e| format!(": {}", esc(e))).unwrap_or_default();
        let _ =
            write!(b, "<li>fault {}: {} from {:.2} s to {:.2} s{note}</li>", i + 1, esc(&f.action), f.start_s, f.end_s);
    }
    b.push_str("</ul>");
    b
}

fn assertions(c: &CellView) -> String {
    let mut b = String::from(
        "<h3>Assertions</h3><table class=\"assertions\"><tr><th>assertion</th><th>result</th><th>evidence</th></tr>",
    );
    for a in &c.cell.assertions {
        let (cls, word) = if a.passed { ("pass", "pass") } else { ("fail", "FAIL") };
        let _ =
            write!(b, "<tr><td>{}</td><td class=\"{cls}\">{word}</td><td>{}</td></tr>", esc(&a.name), esc(&a.evidence));
    }
    b.push_str("</table>");
    if let Some(rec) = c.reconciliation.as_ref().filter(|r| !r.mismatch_examples.is_empty()) {
        b.push_str("<h3>First mismatching requests</h3><table class=\"mismatches\"><tr><th>request id</th><th>sent from</th><th>logged as</th><th>X-Forwarded-For</th></tr>");
        for m in &rec.mismatch_examples {
            let ip = |v: Option<std::net::IpAddr>| v.map(|a| a.to_string()).unwrap_or_else(|| "-".into());
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.request_id),
                ip(m.sent_from),
                ip(m.logged_client_ip),
                esc(m.xff.as_deref().unwrap_or("-"))
            );
        }
        b.push_str("</table>");
    }
    for s in &c.cell.spoofable {
        let _ = write!(b, "<p class=\"fail\">Spoofable log format: {}</p>", esc(s));
    }
    b
}

fn clients(c: &CellView) -> String {
    let Some(rec) = &c.reconciliation else { return String::new() };
    let mut b = String::from(
        "<h3>Per client address</h3><table class=\"clients\"><tr><th>source</th><th>requests</th><th>ok</th>\
         <th>logged</th><th>attributed correctly</th></tr>",
    );
    for (src, o) in &rec.per_source {
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(src),
            o.requests,
            o.ok,
            o.logged,
            o.attributed
        );
    }
    b.push_str("</table>");
    b
}

fn numbers(c: &CellView) -> String {
    let k = &c.cell;
    let mut b = String::from("<h3>Numbers</h3>");
    if let Some(l) = &k.load {
        let e = &l.errors;
        let _ = write!(
            b,
            "<p>{:.1} requests/s, {:.1} full TLS handshakes/s ({} sent, {} ok; errors: connect {}, tls {}, timeout {}, http status {}, protocol {})</p>",
            l.requests_per_s, l.full_handshakes_per_s, l.sent, l.ok, e.connect, e.tls, e.timeout, e.http_status, e.protocol
        );
        b.push_str("<table class=\"latency\"><tr><th>latency (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
        let rows = [
            ("handshake", Some(l.latency_us.handshake)),
            ("TTFB", Some(l.latency_us.ttfb)),
            ("total (uncorrected)", Some(l.latency_us.total)),
            ("total (corrected)", l.latency_us.total_corrected),
        ];
        for (name, p) in rows {
            let Some(p) = p.filter(|p| p.count > 0) else { continue };
            let ms = |v: u64| format!("{:.2}", v as f64 / 1000.0);
            let _ = write!(
                b,
                "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                ms(p.p50), ms(p.p90), ms(p.p99), ms(p.p999), ms(p.max)
            );
        }
        b.push_str("</table>");
    }
    if let Some(m) = &k.metrics {
        b.push_str(&metrics_line(m));
    }
    b.push_str(&insns_numbers(k));
    let t = &k.timings;
    let _ = write!(
        b,
        "<p>Timings: lab {:.1} s, boot {:.2} s, deploy {:.1} s, warm-up {:.1} s, steady {:.1} s, teardown {:.1} s. Image: kernel {:.1} MiB, initramfs {:.1} MiB.</p>",
        t.lab_s, t.boot_s, t.deploy_s, t.warmup_s, t.steady_s, t.teardown_s,
        k.image_kernel_bytes as f64 / 1048576.0, k.image_initrd_bytes as f64 / 1048576.0
    );
    b
}

/// The proxy's CPU and RSS (or why there are none), then the guest's and QEMU's.
fn metrics_line(m: &crate::model::ProxyMetrics) -> String {
    let mib = |kb: Option<f64>| fixed(kb.map(|k| k / 1024.0), 1);
    let proxy = match (&m.process, m.samples) {
        (None, _) => "No proxy process (layer-4 forward)".to_string(),
        (Some(p), 0) => format!("{}: never sampled in the steady phase", esc(p)),
        (Some(p), n) => format!(
            "{}: CPU mean {}% / peak {}% of a guest CPU; RSS mean {} / peak {} MiB ({n} samples)",
            esc(p),
            fixed(m.cpu_mean_pct, 1),
            fixed(m.cpu_peak_pct, 1),
            mib(m.rss_mean_kb),
            mib(m.rss_peak_kb.map(|k| k as f64)),
        ),
    };
    format!(
        "<p>{proxy}. Guest CPU {}%; QEMU {}% of a host CPU.</p>",
        fixed(m.guest_cpu_mean_pct, 1),
        fixed(m.qemu_host_cpu_mean_pct, 1)
    )
}

/// Instruction counts per phase, the background and the agent's cost, or why there are none.
fn insns_numbers(k: &crate::model::CellReport) -> String {
    use crate::cost::human;
    let Some(i) = &k.insns else { return String::new() };
    if let Some(why) = &i.unavailable {
        return format!("<p class=\"insns\">Instruction counts: unavailable ({})</p>", esc(why));
    }
    let opt = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
    let mut b = String::from(
        "<table class=\"insns\"><tr><th>guest instructions</th><th>user</th><th>kernel</th><th>per s</th>\
         <th>per request (net)</th><th>user / kernel (net)</th><th>per request (raw)</th><th>per full handshake (net)</th></tr>",
    );
    for (name, p) in [("warm-up", &i.warmup), ("steady", &i.steady)] {
        let Some(p) = p else { continue };
        let _ = write!(
            b,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            human(p.user as f64), human(p.kernel as f64), human(p.per_s), opt(p.per_request),
            opt(p.per_request_user), opt(p.per_request_kernel), opt(p.per_request_raw), opt(p.per_handshake)
        );
    }
    b.push_str("</table>");
    if let Some((n, per)) = i.steady.as_ref().and_then(|s| Some((s.tlb_refills?, s.tlb_refills_per_request?))) {
        let _ = write!(b, "<p>TLB refills (done in software by the guest's kernel): {} per request in the steady phase, net, {} in all.</p>", human(per), human(n as f64));
    }
    if let Some(bg) = &i.background {
        let _ = write!(
            b,
            "<p>Background subtracted: {}/s (quiet {}/s",
            human(bg.total_per_s()),
            human(i.quiet.map(|q| q.total_per_s()).unwrap_or(0.0))
        );
        if let Some(a) = &i.agent {
            let share = a.share_of_steady_pct.map(|s| format!(", {s:.2}% of the steady phase")).unwrap_or_default();
            let _ =
                write!(b, " plus the metrics agent: {} per sample, {}/s{share}", human(a.per_sample()), human(a.per_s));
        }
        b.push_str(").</p>");
    }
    b
}

fn figure(kind: &str, svg: String) -> String {
    format!("<figure class=\"plot\" data-plot=\"{kind}\">{svg}</figure>")
}

fn plots(c: &CellView) -> Result<String, ReportError> {
    let Some(t) = &c.timeline else { return Ok("<p>No timeline.json: no plots for this cell.</p>".into()) };
    let mut b = String::from("<h3>Plots</h3><div class=\"plots\">");
    let curves: Vec<(String, &crate::model::LatencyCurve)> = t
        .latency
        .iter()
        .filter(|l| l.name == "total" || l.name == "corrected")
        .map(|l| (if l.name == "total" { "uncorrected".to_string() } else { "corrected".into() }, l))
        .collect();
    if !curves.is_empty() {
        b.push_str(&figure("latency", latency_plot("Latency by percentile (steady)", &curves)?));
    }
    let f = |v: &[(f64, f64)], label: &str| Series { label: label.into(), points: v.to_vec() };
    let thr: Vec<(f64, f64)> = t.throughput.iter().map(|(x, n)| (*x, *n as f64)).collect();
    // The phases, then the faults' windows on top.
    let marks: Vec<_> = t.phases.iter().chain(&t.faults).cloned().collect();
    let mut thr_series = vec![f(&thr, "completed")];
    if t.failed.iter().any(|(_, n)| *n > 0) {
        let failed: Vec<(f64, f64)> = t.failed.iter().map(|(x, n)| (*x, *n as f64)).collect();
        thr_series.push(f(&failed, "failed"));
    }
    b.push_str(&figure("throughput", time_plot("Throughput", "requests/s", &thr_series, &marks)?));
    let cpu: Vec<_> = t.proxy.iter().map(|p| (p.t, p.cpu_pct)).collect();
    let label = format!("{} CPU", t.proxy_process);
    let mut cpu_series = vec![f(&cpu, &label)];
    // The whole guest's CPU, ten times a second, where the insn-count plugin said it.
    let busy: Vec<_> = t.insns.iter().filter_map(|p| Some((p.t, p.busy_pct?))).collect();
    let title = if busy.is_empty() { "Proxy CPU" } else { "Proxy and guest CPU" };
    if !busy.is_empty() {
        cpu_series.push(f(&busy, "guest busy"));
    }
    b.push_str(&figure("cpu", time_plot(title, "% of one guest CPU", &cpu_series, &marks)?));
    let rss: Vec<_> = t.proxy.iter().map(|p| (p.t, p.rss_kb as f64 / 1024.0)).collect();
    let label = format!("{} RSS", t.proxy_process);
    b.push_str(&figure("rss", time_plot("Proxy RSS", "MiB", &[f(&rss, &label)], &marks)?));
    let mem: Vec<_> = t.guest.iter().map(|g| (g.t, g.mem_used_kb as f64 / 1024.0)).collect();
    b.push_str(&figure("guest-memory", time_plot("Guest memory in use", "MiB", &[f(&mem, "used")], &marks)?));
    if !t.insns.is_empty() {
        let user: Vec<_> = t.insns.iter().map(|p| (p.t, p.user_per_s / 1e6)).collect();
        let kernel: Vec<_> = t.insns.iter().map(|p| (p.t, p.kernel_per_s / 1e6)).collect();
        let series = [f(&user, "user"), f(&kernel, "kernel")];
        b.push_str(&figure("insns", time_plot("Guest instructions", "M instructions/s", &series, &marks)?));
    }
    b.push_str("</div>");
    Ok(b)
}

/// The comparison page: the comparison table, then per cell group the compared runs'
/// latency and throughput overlaid.
pub fn overlay_page(
    title: &str,
    table_html: &str,
    groups: &[(String, Vec<(String, &CellView)>)],
) -> Result<String, ReportError> {
    let mut b =
        format!("<header id=\"run\"><h1>{}</h1></header><section id=\"comparison\">{table_html}</section>", esc(title));
    for (name, members) in groups {
        let _ = write!(b, "<section class=\"group\"><h2>{}</h2><div class=\"plots\">", esc(name));
        let curves: Vec<(String, &crate::model::LatencyCurve)> = members
            .iter()
            .filter_map(|(label, c)| {
                let t = c.timeline.as_ref()?;
                let l = t
                    .latency
                    .iter()
                    .find(|l| l.name == "corrected")
                    .or_else(|| t.latency.iter().find(|l| l.name == "total"))?;
                Some((label.clone(), l))
            })
            .collect();
        if !curves.is_empty() {
            b.push_str(&figure("latency", latency_plot("Latency by percentile", &curves)?));
        }
        let thr: Vec<Series> = members
            .iter()
            .filter_map(|(label, c)| {
                let t = c.timeline.as_ref()?;
                let s0 = t.phases.iter().find(|p| p.name == "steady").map(|p| p.start_s).unwrap_or(0.0);
                let points = t.throughput.iter().filter(|(x, _)| *x >= s0).map(|(x, n)| (x - s0, *n as f64)).collect();
                Some(Series { label: label.clone(), points })
            })
            .collect();
        if !thr.is_empty() {
            b.push_str(&figure("throughput", time_plot("Throughput (steady)", "requests/s", &thr, &[])?));
        }
        b.push_str("</div></section>\n");
    }
    Ok(page(title, &b))
}
