//! JUnit XML (the Ant format, docs/junit.xsd): one test suite per cell, one test case per
//! assertion, and an `error` case when the cell could not run. CI systems show these natively.
use std::fmt::Write;

use super::html::esc;
use super::view::RunView;
use crate::model::{fixed, CellSummary};

/// `20261125T144449Z` (how runs are stamped) as Ant's zone-less timestamp.
fn ant_timestamp(stamp: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00".into())
}

fn class_token(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

pub fn junit_xml(run: &RunView) -> String {
    let r = &run.report;
    let host = if r.host.trim().is_empty() { "localhost" } else { r.host.trim() };
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (id, c) in run.cells.iter().enumerate() {
        let k = &c.cell;
        let classname = format!("routerlab.{}.{}", class_token(&k.scenario), class_token(&k.target));
        let failures = k.assertions.iter().filter(|a| !a.passed).count();
        let errored = k.outcome.is_error();
        let sum = CellSummary::of(k);
        let t = &k.timings;
        let time = t.lab_s + t.boot_s + t.deploy_s + t.warmup_s + t.steady_s + t.teardown_s;
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" package=\"routerlab\" id=\"{id}\" timestamp=\"{}\" hostname=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"0\" time=\"{time:.3}\">",
            esc(&c.title()),
            ant_timestamp(&r.started_at),
            esc(host),
            k.assertions.len() + usize::from(errored),
            usize::from(errored),
        );
        x.push_str("    <properties>\n");
        let build =
            k.build.as_ref().map(|b| format!("{} {} sha256:{}", b.name, b.version, b.sha256)).unwrap_or_default();
        for (n, v) in [
            ("proxy", k.proxy.clone()),
            ("build", build),
            ("tunnel", k.tunnel.clone()),
            ("expect", k.expect.to_string()),
            ("verdict", sum.verdict_text().into()),
            ("requests-per-s", fixed(sum.requests_per_s, 1)),
            ("p99-ms", sum.p99_text()),
            ("proxy-cpu-pct", fixed(sum.proxy_cpu_pct, 1)),
            ("proxy-rss-peak-mib", sum.rss_mib_text()),
            ("insns-per-request", sum.insns_text()),
            ("client-requests-per-connection", fixed(sum.client_req_per_conn, 1)),
            ("backend-requests-per-connection", fixed(sum.backend_req_per_conn, 1)),
            ("backend-connections", sum.backend_conns_text()),
            ("backend-rejects", k.backend_rejects.as_ref().map(|r| r.count.to_string()).unwrap_or_else(|| "-".into())),
        ] {
            let _ = writeln!(x, "      <property name=\"{n}\" value=\"{}\"/>", esc(&v));
        }
        x.push_str("    </properties>\n");
        for a in &k.assertions {
            let _ = write!(x, "    <testcase name=\"{}\" classname=\"{classname}\" time=\"0\"", esc(&a.name));
            if a.passed {
                x.push_str("/>\n");
            } else {
                let _ = writeln!(
                    x,
                    "><failure type=\"assertion\" message=\"{0}\">{0}</failure></testcase>",
                    esc(&a.evidence)
                );
            }
        }
        if let Some(e) = k.error.as_ref().filter(|_| errored) {
            let _ = writeln!(x, "    <testcase name=\"run\" classname=\"{classname}\" time=\"0\"><error type=\"infrastructure\" message=\"{0}\">{0}</error></testcase>", esc(e));
        }
        let _ = writeln!(x, "    <system-out>{}</system-out>\n    <system-err/>\n  </testsuite>", esc(&k.dir));
    }
    x.push_str("</testsuites>\n");
    x
}
