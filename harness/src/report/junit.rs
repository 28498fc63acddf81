//! JUnit XML (docs/junit.xsd): one test suite per cell, one test case per
//! assertion, and an `error` case when the cell could not run. CI systems show these natively.
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::view::RunView;
use crate::model::{fixed, CellSummary};

/// `20261125T144449Z` (how runs are stamped) as a UTC time; the epoch if it is not one.
fn timestamp(stamp: &str) -> DateTime<FixedOffset> {
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").unwrap_or_default().and_utc().fixed_offset()
}

fn class_token(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// One `testsuite` per cell (its properties, one `testcase` per assertion, an `error` case
/// when the cell could not run, the directory and traced packets as `system-out`), written
/// by quick-junit, nextest's JUnit writer.
pub fn junit_xml(run: &RunView) -> String {
    let r = &run.report;
    let host = if r.host.trim().is_empty() { "localhost" } else { r.host.trim() };
    let mut report = Report::new("routerlab");
    let stamp = timestamp(&r.started_at);
    report.set_timestamp(stamp);
    for (id, c) in run.cells.iter().enumerate() {
        let k = &c.cell;
        let classname = format!("routerlab.{}.{}", class_token(&k.scenario), class_token(&k.target));
        let mut suite = TestSuite::new(c.title());
        suite.set_timestamp(stamp);
        let t = &k.timings;
        let secs = t.lab_s + t.boot_s + t.deploy_s + t.warmup_s + t.steady_s + t.teardown_s;
        suite.set_time(Duration::from_secs_f64(secs.max(0.0)));
        for (key, v) in [("hostname", host.to_string()), ("package", "routerlab".into()), ("id", id.to_string())] {
            suite.extra.insert(key.into(), v.into());
        }
        suite.add_properties(properties(k));
        for a in &k.assertions {
            let status = if a.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("assertion").set_message(a.evidence.as_str()).set_description(a.evidence.as_str());
                s
            };
            suite.add_test_case(case(&a.name, &classname, status));
        }
        if let Some(e) = k.error.as_ref().filter(|_| k.outcome.is_error()) {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("infrastructure").set_message(e.as_str()).set_description(e.as_str());
            suite.add_test_case(case("run", &classname, s));
        }
        suite.set_system_out(system_out(k));
        suite.set_system_err("");
        report.add_test_suite(suite);
    }
    report.to_string().expect("JUnit XML serializes to a string")
}

fn case(name: &str, classname: &str, status: TestCaseStatus) -> TestCase {
    let mut t = TestCase::new(name, status);
    t.set_classname(classname);
    t.set_time(Duration::ZERO);
    t
}

/// What a CI page shows beside the cell's cases: proxy, build, verdict and the numbers.
fn properties(k: &crate::model::CellReport) -> Vec<Property> {
    let sum = CellSummary::of(k);
    let build = k.build.as_ref().map(|b| format!("{} {} sha256:{}", b.name, b.version, b.sha256)).unwrap_or_default();
    [
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
    ]
    .into_iter()
    .map(|(n, v)| Property::new(n, v))
    .collect()
}

/// The cell's directory, then what its capture kept and each traced request hop by hop.
fn system_out(k: &crate::model::CellReport) -> String {
    let mut out = vec![k.dir.clone()];
    if let Some(c) = k.capture.as_ref().filter(|c| c.kept || c.error.is_some()) {
        out.extend(c.wireshark.as_ref().map(|w| format!("packets: {w}")));
        out.extend(c.error.as_ref().map(|e| format!("capture: {e}")));
        out.extend(c.traces.iter().flat_map(|t| t.lines()));
    }
    out.join("\n")
}
