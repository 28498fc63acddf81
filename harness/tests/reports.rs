//! Reports and comparisons rendered from committed fixture run directories (taken from real
//! runs; see tests/fixtures/README.md). The HTML must parse, hold its sections and plots,
//! and be self-contained; JUnit XML must validate; compare's ratios, noise calls and gate
//! must be right.
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::compare::{compare, evaluate, Change, Gate, Metric};
use harness::model::Report;
use harness::report::{html_page, junit_xml, load_run, markdown, RunView};
use scraper::{Html, Selector};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn ab() -> RunView {
    load_run(&fixtures().join("runs/ab")).expect("fixture run")
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

#[test]
fn html_report_has_its_sections_and_plots() {
    let run = ab();
    let doc = Html::parse_document(&html_page(&run).unwrap());
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    let n = run.cells.len();
    assert_eq!(n, 6, "fixture: 2 builds x 3 repetitions");
    let header = doc.select(&sel("header#run")).next().expect("header").text().collect::<String>();
    assert!(header.contains("routerlab") && header.contains("vm"), "{header}");
    assert_eq!(doc.select(&sel("#overview tr")).count(), n + 1);
    let cells: Vec<_> = doc.select(&sel("section.cell")).collect();
    assert_eq!(cells.len(), n);
    for c in &cells {
        let text = c.text().collect::<String>();
        // The build under test, by name, version and sha256.
        assert!(text.contains("HAProxy version 2.6.12") && text.contains("sha256 "), "{text}");
        let rows = c.select(&sel("table.assertions tr")).count();
        assert!(rows >= 5, "assertion table: header + observed, accounted, error-rate, client-ip");
        assert_eq!(c.select(&sel("table.clients tr")).count(), 4, "3 client addresses + header");
        for kind in ["latency", "throughput", "cpu", "rss", "guest-memory"] {
            let fig = c.select(&sel(&format!("figure.plot[data-plot=\"{kind}\"]"))).next();
            let fig = fig.unwrap_or_else(|| panic!("no {kind} plot"));
            assert_eq!(fig.select(&sel("svg")).count(), 1, "{kind}: one inline SVG");
            assert!(fig.select(&sel("polyline")).count() >= 1, "{kind}: a drawn line");
        }
        let conf = c.select(&sel("pre.proxy-config")).next().expect("deployed config").text().collect::<String>();
        assert!(conf.contains("option forwardfor"), "{conf}");
        assert!(c.select(&sel("ul.files a[href$=\"timeline.json\"]")).next().is_some(), "links to the files");
    }
    // Load phases are shaded on the time plots.
    let cpu = doc.select(&sel("figure[data-plot=\"cpu\"]")).next().unwrap().html();
    assert!(cpu.contains("phase: steady") && cpu.contains("phase: warm-up"));
}

/// No field of a cell's header ends in a colon with nothing after it: a passing cell whose
/// backend rejected nothing says "none" (it used to say "0 connections rejected by the
/// backend:").
#[test]
fn no_evidence_line_is_left_empty() {
    let mut run = ab();
    run.cells[0].cell.backend_rejects = Some(harness::model::RejectSummary::default());
    let doc = Html::parse_document(&html_page(&run).unwrap());
    let mut seen = 0;
    for dl in doc.select(&sel("section.cell dl.meta")) {
        let keys: Vec<String> = dl.select(&sel("dt")).map(|d| d.text().collect()).collect();
        let values: Vec<String> = dl.select(&sel("dd")).map(|d| d.text().collect()).collect();
        for (k, v) in keys.iter().zip(&values) {
            assert!(!v.trim().is_empty() && !v.trim_end().ends_with(':'), "{k}: {v:?}");
            if k == "backend rejects" {
                assert_eq!(v, "none");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 1, "the cell given an empty rejects summary shows it");
}

#[test]
fn html_report_is_self_contained() {
    let html = html_page(&ab()).unwrap();
    let doc = Html::parse_document(&html);
    for tag in ["script", "link", "img", "iframe", "object", "embed", "image", "use"] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "<{tag}> would fetch or run something");
    }
    for el in doc.root_element().descendants().filter_map(scraper::ElementRef::wrap) {
        for (name, value) in el.value().attrs() {
            if name == "xmlns" || name.starts_with("xmlns:") {
                continue; // a namespace name, never fetched
            }
            assert!(!value.contains("://") && !value.starts_with("//") && !value.starts_with('/'), "{name}={value:?}");
        }
    }
    assert!(!html.contains("url("), "no CSS fetches");
}

#[test]
fn an_errored_cell_is_shown_with_its_message() {
    let run = load_run(&fixtures().join("runs/deploy-error")).unwrap();
    let html = html_page(&run).unwrap();
    assert!(html.contains("Refusing to run workers as root"), "the proxy's own message");
    assert!(html.contains("No timeline.json"), "no plots, and it says so");
    let md = markdown(&run);
    assert!(
        md.contains("0/1 cells passed") && md.contains("**ERROR**") && md.contains("Refusing to run workers"),
        "{md}"
    );
    let x = junit_xml(&run);
    assert!(x.contains("<error message=\"") && x.contains("type=\"infrastructure\""), "{x}");
    xmllint_ok(&x).unwrap();
}

#[test]
fn markdown_has_one_row_per_cell() {
    let run = ab();
    let md = markdown(&run);
    assert!(md.starts_with("## routerlab: 6/6 cells passed"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("| haproxy-reencrypt-xff on aarch64-virt [")).count(), 6);
    assert!(!md.contains("### Problems"));
}

/// Validate JUnit XML with xmllint against docs/junit.xsd.
fn xmllint_ok(xml: &str) -> Result<(), String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("junit.xml");
    std::fs::write(&f, xml).unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/junit.xsd");
    let o = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&f)
        .output()
        .expect("xmllint (Debian libxml2-utils; ci/setup installs it)");
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn junit_validates_against_the_schema_and_the_schema_bites() {
    let x = junit_xml(&ab());
    xmllint_ok(&x).unwrap();
    assert_eq!(x.matches("<testsuite ").count(), 6, "one suite per cell");
    assert!(x.contains("<testcase name=\"client-ip-preserved\""), "one case per assertion");
    // The schema is not a rubber stamp: a suite without its hostname is refused.
    let broken = x.replacen(" hostname=\"vm\"", "", 1);
    assert!(broken != x);
    assert!(xmllint_ok(&broken).is_err(), "missing hostname must fail validation");
}

fn report(name: &str) -> (String, Report) {
    let p = fixtures().join("compare").join(name);
    (name.trim_end_matches(".json").to_string(), serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
}

fn row(c: &harness::compare::Comparison, m: Metric) -> &harness::compare::Row {
    c.groups[0].rows.iter().find(|r| r.metric == m).unwrap()
}

#[test]
fn compare_ratios_come_with_an_interval_around_the_median_ratio() {
    let c = compare(&[report("base.json"), report("regressed.json")]);
    assert_eq!(c.sides.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["base", "regressed"]);
    let p99 = row(&c, Metric::P99);
    let (a, b) = (p99.stats[0].unwrap(), p99.stats[1].unwrap());
    assert_eq!((a.n, a.median, a.min, a.max), (3, 21.0, 20.0, 22.0));
    assert_eq!(b.median, 31.0);
    // Repetitions on both sides: the ratio is Welch's on the logs (geometric means), and its
    // 95% interval holds the ratio of medians.
    let e = p99.estimates[1].unwrap();
    assert_eq!(p99.ratios[1], Some(e.ratio));
    assert!(e.lo < 31.0 / 21.0 && 31.0 / 21.0 < e.hi && e.lo > 1.0, "{e:?}");
    assert_eq!(p99.changes[1], Change::Worse { certain: true });
    let rps = row(&c, Metric::Throughput);
    let e = rps.estimates[1].unwrap();
    assert!(e.lo < 245.0 / 305.0 && 245.0 / 305.0 < e.hi && e.hi < 1.0, "{e:?}");
    assert_eq!(rps.changes[1], Change::Worse { certain: true }, "fewer requests/s is worse");
    assert_eq!(row(&c, Metric::PeakRss).changes[1], Change::Same);
}

#[test]
fn overlapping_ranges_are_within_noise_and_do_not_trip() {
    let c = compare(&[report("base.json"), report("noisy.json")]);
    let p99 = row(&c, Metric::P99);
    let e = p99.estimates[1].unwrap();
    assert!(e.lo < 1.0 && 1.0 < e.hi, "the interval holds no change: {e:?}");
    assert_eq!(p99.changes[1], Change::WithinNoise);
    let gates: Vec<Gate> = ["p99 > 1.10x", "rps < 0.95x"].iter().map(|g| g.parse().unwrap()).collect();
    assert!(evaluate(&c, &gates).is_empty(), "a ratio inside the noise is not a regression");
}

#[test]
fn the_gate_trips_on_a_regression_and_names_it() {
    let c = compare(&[report("base.json"), report("regressed.json")]);
    let gate = |g: &str| evaluate(&c, &[g.parse().unwrap()]);
    let t = gate("p99 > 1.10x");
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].group.as_str(), t[0].side.as_str()), ("haproxy-reencrypt-xff on aarch64-virt", "regressed"));
    assert!(t[0].detail.contains("p99 vs base: +49.2% [+33.8%, +66.4%] at 95%"), "{}", t[0].detail);
    assert!(gate("p99 > 1.60x").is_empty());
    assert!(gate("rss > 1.20x").is_empty());
    assert_eq!(gate("rps < 0.9x").len(), 1);
    assert_eq!(gate("p99 > +10%").len(), 1, "percent form");
    assert!(gate("errors > 0").is_empty());
    assert!(gate("client-ip != preserved").is_empty());
    let lost = compare(&[report("base.json"), report("lost.json")]);
    let t = evaluate(&lost, &["client-ip != preserved".parse().unwrap()]);
    assert_eq!(t.len(), 1, "one repetition lost the client IP");
    assert!(t[0].detail.contains("repetition 2: client IP lost"), "{}", t[0].detail);
}

#[test]
fn a_side_that_counted_instructions_against_one_that_did_not_is_pointed_out() {
    // Counting slows the guest by about a tenth, which wall-clock ratios would pin on the build.
    let (_, base) = report("base.json");
    let mut counted = report("regressed.json");
    counted.0 = "counted".into();
    for c in &mut counted.1.cells {
        c.insns = Some(harness::cost::InsnSection::default());
    }
    let note = "note: counted counted guest instructions and base did not";
    let text = harness::compare::comparison_text(&compare(&[("base".into(), base.clone()), counted.clone()]), &[]);
    assert!(text.contains(note), "{text}");
    // Both sides alike, or instruction counts unavailable on the candidate too: no note.
    for c in &mut counted.1.cells {
        c.insns = Some(harness::cost::InsnSection::unavailable("turned off (--no-insn-count)"));
    }
    let text = harness::compare::comparison_text(&compare(&[("base".into(), base), counted]), &[]);
    assert!(!text.contains("note:"), "{text}");
}

#[test]
fn bad_gates_say_what_is_allowed() {
    for (g, want) in [
        ("p98 > 1.1x", "unknown metric \"p98\""),
        ("p99 1.1x", "expected METRIC OP VALUE"),
        ("p99 > fast", "not a number, a ratio like 1.10x"),
        ("client-ip > preserved", "client-ip takes == or !="),
        ("client-ip != kept", "preserved or lost"),
    ] {
        let e = g.parse::<Gate>().unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(g), "{g}: {e}");
    }
}

#[test]
fn one_ab_run_compares_its_builds() {
    let run = ab();
    let c = compare(&[("ab".into(), run.report.clone())]);
    let labels: Vec<&str> = c.sides.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["haproxy-image", "haproxy-deb12u3"]);
    assert_eq!(c.groups.len(), 1);
    assert_eq!(row(&c, Metric::Throughput).stats[1].unwrap().n, 3, "three repetitions per build");
    assert_eq!(c.groups[0].verdicts[1], [Some(harness::model::Verdict::Preserved); 3]);
}

fn steady(r: &mut Report, cell: usize) -> &mut harness::cost::PhaseCost {
    r.cells[cell].insns.as_mut().and_then(|i| i.steady.as_mut()).expect("a steady phase's counts")
}

fn ab_insns() -> Report {
    let p = fixtures().join("runs/ab-insns/report.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn instruction_counts_compare_each_cells_net_figure_and_fit_only_without_one() {
    use harness::compare::Method;
    // Every cell measured its background: the pairs' net figures decide.
    let run = ab_insns();
    let c = compare(&[("ab".into(), run.clone())]);
    let e = row(&c, Metric::Insns).estimates[1].unwrap();
    assert_eq!(e.method, Method::Paired, "{e:?}");
    assert!(e.lo > 1.0 && row(&c, Metric::Insns).changes[1] == Change::Worse { certain: true }, "{e:?}");
    // A cell without a background has no net figure: the fit takes the background out.
    let mut no_bg = run.clone();
    let s = steady(&mut no_bg, 1);
    (s.per_request, s.per_request_user, s.per_request_kernel) = (None, None, None);
    let e = row(&compare(&[("ab".into(), no_bg)]), Metric::Insns).estimates[1].unwrap();
    assert_eq!(e.method, Method::Fit, "{e:?}");
    // A cell that reopened its connections in the steady phase: the fit with a handshake term.
    let mut reconnected = run;
    steady(&mut reconnected, 0).full_handshakes = 3;
    let e = row(&compare(&[("ab".into(), reconnected)]), Metric::Insns).estimates[1].unwrap();
    assert_eq!(e.method, Method::FitHandshakes, "{e:?}");
}

#[test]
fn sides_at_very_different_req_s_get_a_note_under_instruction_counts() {
    let run = ab_insns();
    let note = "the req/s of haproxy-image's; instructions per request move with req/s";
    let text = harness::compare::comparison_text(&compare(&[("ab".into(), run.clone())]), &[]);
    assert!(!text.contains(note), "{text}");
    let mut slow = run;
    for c in slow.cells.iter_mut().filter(|c| c.build.as_ref().is_some_and(|b| b.name == "haproxy-plant")) {
        c.load.as_mut().unwrap().requests_per_s /= 2.0;
    }
    let text = harness::compare::comparison_text(&compare(&[("ab".into(), slow)]), &[]);
    assert!(text.contains(&format!("note: haproxy-plant's cells ran at 0.55x {note}")), "{text}");
}

#[test]
fn a_kernel_part_that_hides_what_user_space_shows_gets_a_note() {
    let note = "kernel instructions per request could detect only";
    let run = ab_insns();
    let text = harness::compare::comparison_text(&compare(&[("ab".into(), run.clone())]), &[]);
    assert!(!text.contains(note), "total and user space agree: {text}");
    // The plant's kernel part scattered by a busy host: ±4% cell to cell.
    let mut scattered = run;
    let plant = scattered.cells.iter_mut().filter(|c| c.build.as_ref().is_some_and(|b| b.name == "haproxy-plant"));
    for (c, k) in plant.zip([8_000.0, -8_000.0, 1_000.0]) {
        let s = c.insns.as_mut().and_then(|i| i.steady.as_mut()).unwrap();
        s.per_request_kernel = s.per_request_kernel.map(|v| v + k);
        s.per_request = s.per_request.map(|v| v + k);
    }
    let c = compare(&[("ab".into(), scattered)]);
    assert_eq!(row(&c, Metric::Insns).changes[1], Change::WithinNoise);
    assert_eq!(row(&c, Metric::InsnsUser).changes[1], Change::Worse { certain: true });
    let text = harness::compare::comparison_text(&c, &[]);
    assert!(text.contains(&format!("note: haproxy-plant's {note} ±")), "{text}");
    assert!(text.contains("so on a busy host gate on insns/req-user"), "{text}");
}

#[test]
fn tlb_refills_get_a_row_only_where_cells_count_them() {
    let gate = |c: &harness::compare::Comparison, g: &str| evaluate(c, &[g.parse().unwrap()]);
    // aarch64 walks its page tables in hardware: no refill counts, no row of dashes, and a
    // gate on an absolute count says it was not measured rather than passing.
    let run = ab_insns();
    let c = compare(&[("ab".into(), run.clone())]);
    assert!(c.groups[0].rows.iter().all(|r| r.metric != Metric::TlbRefills));
    let t = gate(&c, "tlb-refills/req > 5000");
    assert!(t.len() == 1 && t[0].detail == "tlb-refills/req not measured", "{t:?}");
    // Counted (as on mipsel): a plant that refills six times as often is called worse.
    let mut counted = run;
    for (i, c) in counted.cells.iter_mut().enumerate() {
        let plant = c.build.as_ref().is_some_and(|b| b.name == "haproxy-plant");
        let s = c.insns.as_mut().and_then(|i| i.steady.as_mut()).unwrap();
        s.tlb_refills_per_request = Some(if plant { 4200.0 } else { 620.0 } + i as f64);
    }
    let c = compare(&[("ab".into(), counted.clone())]);
    assert_eq!(row(&c, Metric::TlbRefills).changes[1], Change::Worse { certain: true });
    // So many more refills is a working set that outgrew the TLB: the text says so.
    let note = "x the TLB refills of haproxy-image's";
    let text = harness::compare::comparison_text(&c, &[]);
    assert!(
        text.contains(&format!(
            "note: haproxy-plant's requests took 6.8{note} (4203 against 622 per request): its working set outgrew"
        )),
        "{text}"
    );
    let mut near = counted;
    for c in near.cells.iter_mut() {
        let s = c.insns.as_mut().and_then(|i| i.steady.as_mut()).unwrap();
        s.tlb_refills_per_request = s.tlb_refills_per_request.map(|t| if t > 4000.0 { t - 3400.0 } else { t });
    }
    let text = harness::compare::comparison_text(&compare(&[("ab".into(), near)]), &[]);
    assert!(!text.contains(note), "a third more refills is not the cliff: {text}");
    assert_eq!(gate(&c, "tlb-refills/req > 2x").len(), 1);
    assert!(gate(&c, "tlb-refills/req > 8x").is_empty());
}
