//! A comparison as a terminal table, Markdown, and an HTML page with the runs overlaid.
use std::fmt::Write;

use super::metric::Metric;
use super::table::{Change, Comparison, Group, Row};
use super::Tripped;
use crate::model::Verdict;
use crate::report::{esc, md_cell, overlay_page, CellView, ReportError, RunView};

fn fmt_num(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        crate::cost::human(v)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn change_word(c: Change) -> std::borrow::Cow<'static, str> {
    let word = match c {
        Change::Baseline => "",
        Change::NoData => "no data",
        Change::Same => "same",
        Change::WithinNoise => "within noise",
        Change::Better { certain: true } => "better",
        Change::Worse { certain: true } => "worse",
        Change::Better { certain: false } => "better? (n=1)",
        Change::Worse { certain: false } => "worse? (n=1)",
        Change::TooFewSamples(t) => return t.words().into(),
    };
    word.into()
}

/// One side's cell: the value (`median ±spread% (n)`, or the fitted per-request cost) then,
/// for candidates, `ratio [95% interval] change`.
fn side_cell(row: &Row, i: usize) -> String {
    let Some(s) = row.stats[i] else { return "-".into() };
    let mut t = fmt_num(row.shown(i).unwrap_or(s.median));
    if row.fitted().is_some() {
        let _ = write!(t, " (fit, n={})", s.n);
    } else if s.n > 1 {
        let _ = write!(t, " ±{:.1}% (n={})", s.spread_pct() / 2.0, s.n);
    }
    if let Some(r) = row.ratios[i] {
        let _ = write!(t, " {r:.3}x");
        if let Some(e) = row.estimates[i] {
            let _ = write!(t, " [{:.3}, {:.3}]", e.lo, e.hi);
        }
        let _ = write!(t, " {}", change_word(row.changes[i]));
    } else if let Change::TooFewSamples(short) = row.changes[i] {
        let _ = write!(t, " {}", short.words());
    }
    t
}

/// The metrics whose interval is worth a sentence under each table.
const SENTENCES: [Metric; 3] = [Metric::Insns, Metric::Throughput, Metric::P99];

/// One readable line per candidate and headline metric: the change with its 95% interval,
/// p-value and the smallest change the run could detect.
pub fn verdict_lines(cmp: &Comparison, g: &Group) -> Vec<String> {
    let mut out = Vec::new();
    for i in 1..cmp.sides.len() {
        if let (Some(a), Some(b)) = (g.counted[0], g.counted[i]) {
            if a != b {
                let (yes, no) = if a { (0, i) } else { (i, 0) };
                out.push(format!(
                    "note: {} counted guest instructions and {} did not; counting slows the guest by about a \
                     tenth (docs/reports.md), so its wall-clock figures (req/s, latency, CPU) are biased against it",
                    cmp.sides[yes].label, cmp.sides[no].label
                ));
            }
        }
        out.extend(speed_note(cmp, g, i));
        out.extend(tlb_note(cmp, g, i));
        out.extend(kernel_note(cmp, g, i));
        for r in g.rows.iter().filter(|r| SENTENCES.contains(&r.metric)) {
            let line = match (r.estimates[i], r.stats[i], r.changes[i]) {
                (Some(e), _, _) => e.sentence(),
                (None, Some(_), Change::TooFewSamples(t)) => format!("not judged: {}", t.words()),
                (None, Some(_), _) => "no interval: repetitions on both sides are needed (--repeat 3 or more)".into(),
                (None, None, _) => continue,
            };
            out.push(format!("{} {}: {line}", cmp.sides[i].label, r.metric.name()));
        }
        out.extend(history_lines(cmp, g, i));
    }
    out
}

/// Under `--history`: each headline metric's call by history, and any other metric that
/// history calls significant.
fn history_lines(cmp: &Comparison, g: &Group, i: usize) -> Vec<String> {
    g.rows
        .iter()
        .filter_map(|r| Some((r, r.history.get(i).copied().flatten()?)))
        .filter(|(r, call)| SENTENCES.contains(&r.metric) || call.significant())
        .map(|(r, call)| format!("{} {} by history: {}", cmp.sides[i].label, r.metric.name(), call.words()))
        .collect()
}

/// The kernel's detectable change past this many times user space's gets a note.
const KERNEL_LOOSER: f64 = 3.0;

/// A note when the total and user space disagree on whether candidate `i` changed, and the
/// kernel's part scattered far more than user space's: the guest's timer work runs while it
/// is busy, so per request it follows how long requests took on the host.
fn kernel_note(cmp: &Comparison, g: &Group, i: usize) -> Option<String> {
    let est = |m: Metric| g.rows.iter().find(|r| r.metric == m)?.estimates.get(i).copied().flatten();
    let (total, user, kernel) = (est(Metric::Insns)?, est(Metric::InsnsUser)?, est(Metric::InsnsKernel)?);
    let looser = kernel.detectable_pct >= KERNEL_LOOSER * user.detectable_pct;
    if total.significant() == user.significant() || !looser || kernel.method.is_fit() {
        return None;
    }
    Some(format!(
        "note: {}'s kernel instructions per request could detect only ±{:.1}% where user space could detect \
         ±{:.1}%: the guest's timer work follows how long each request took on the host, so on a busy host \
         gate on insns/req-user (docs/reports.md)",
        cmp.sides[i].label, kernel.detectable_pct, user.detectable_pct
    ))
}

/// Sides whose req/s differ this much (either way) get a note under instruction counts.
const SPEED_APART: f64 = 1.5;

/// A note when candidate `i`'s cells ran at a very different req/s from the baseline's,
/// and its instruction counts were compared cell by cell: per-request figures then carry
/// a different share of the work the guest does per second.
fn speed_note(cmp: &Comparison, g: &Group, i: usize) -> Option<String> {
    let row = |m: Metric| g.rows.iter().find(|r| r.metric == m);
    let insns = row(Metric::Insns)?.estimates.get(i).copied().flatten()?;
    let rps = row(Metric::Throughput)?;
    let (a, b) = (rps.stats.first().copied().flatten()?, rps.stats.get(i).copied().flatten()?);
    let x = b.median / a.median;
    if insns.method.is_fit() || !x.is_finite() || (1.0 / SPEED_APART..=SPEED_APART).contains(&x) {
        return None;
    }
    Some(format!(
        "note: {}'s cells ran at {x:.2}x the req/s of {}'s; instructions per request move with req/s on an \
         unevenly loaded host (per-second work, and on mipsel TLB refills), so read a small insns/req change \
         with care (docs/reports.md)",
        cmp.sides[i].label, cmp.sides[0].label
    ))
}

/// TLB refill ratios past this (either way) get a note.
const TLB_APART: f64 = 1.5;

/// A note when candidate `i` refilled the TLB far more (or less) often per request than the
/// baseline: where the kernel refills it in software (MIPS), that is a working set crossing
/// the TLB's reach, which moves kernel instructions out of proportion to the change.
fn tlb_note(cmp: &Comparison, g: &Group, i: usize) -> Option<String> {
    let row = g.rows.iter().find(|r| r.metric == Metric::TlbRefills)?;
    let e = row.estimates.get(i).copied().flatten()?;
    let (a, b) = (row.stats.first().copied().flatten()?, row.stats.get(i).copied().flatten()?);
    if !e.significant() || (1.0 / TLB_APART..=TLB_APART).contains(&e.ratio) {
        return None;
    }
    Some(format!(
        "note: {}'s requests took {:.1}x the TLB refills of {}'s ({:.0} against {:.0} per request): its working \
         set {} the router's TLB, which moves kernel instructions out of proportion to the change \
         (docs/reports.md)",
        cmp.sides[i].label,
        e.ratio,
        cmp.sides[0].label,
        b.median,
        a.median,
        if e.ratio > 1.0 { "outgrew" } else { "fits better in" }
    ))
}

fn verdict_cell(g: &Group, i: usize) -> String {
    let v = &g.verdicts[i];
    if v.is_empty() {
        return "-".into();
    }
    let first = &v[0];
    let word = |v: &Option<Verdict>| v.map(Verdict::as_str).unwrap_or("none").to_string();
    if v.iter().all(|x| x == first) {
        format!("{}×{}", word(first), v.len())
    } else {
        v.iter().map(word).collect::<Vec<_>>().join(",")
    }
}

fn metric_label(row: &Row) -> String {
    let u = row.metric.unit();
    if u.is_empty() {
        row.metric.name().to_string()
    } else {
        format!("{} ({u})", row.metric.name())
    }
}

/// Rows of text cells per group: the header, one row per metric, then client IP.
fn grid(cmp: &Comparison, g: &Group) -> Vec<Vec<String>> {
    let mut head = vec!["metric".to_string()];
    head.extend(cmp.sides.iter().enumerate().map(|(i, s)| {
        if i == 0 {
            format!("{} (baseline)", s.label)
        } else {
            s.label.clone()
        }
    }));
    let mut rows = vec![head];
    for r in &g.rows {
        let mut line = vec![metric_label(r)];
        line.extend((0..cmp.sides.len()).map(|i| side_cell(r, i)));
        rows.push(line);
    }
    let mut ip = vec!["client-ip".to_string()];
    ip.extend((0..cmp.sides.len()).map(|i| verdict_cell(g, i)));
    rows.push(ip);
    rows
}

pub fn comparison_text(cmp: &Comparison, tripped: &[Tripped]) -> String {
    let mut out = builds_text(cmp);
    for g in &cmp.groups {
        let rows = grid(cmp, g);
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let _ = writeln!(out, "{}", g.title());
        for r in &rows {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        }
        for l in verdict_lines(cmp, g) {
            let _ = writeln!(out, "  {l}");
        }
        out.push('\n');
    }
    out.push_str(&gate_text(tripped));
    out
}

/// One line per side whose build described itself: version, TLS library, libc, size.
fn builds_text(cmp: &Comparison) -> String {
    let lines: Vec<String> = cmp
        .sides
        .iter()
        .filter_map(|s| s.info.as_ref().map(|i| format!("  {}: {}; {}\n", s.label, i.version, i.facts_line())))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("builds\n{}\n", lines.concat())
}

fn gate_text(tripped: &[Tripped]) -> String {
    let mut out = String::new();
    for t in tripped {
        let _ = writeln!(out, "REGRESSION {}: {} [{}]: {}", t.gate, t.group, t.side, t.detail);
    }
    out
}

pub fn comparison_markdown(cmp: &Comparison, tripped: &[Tripped]) -> String {
    format!("## routerlab compare\n\n{}", comparison_markdown_body(cmp, tripped, "###"))
}

/// The comparison's Markdown under a heading of the caller's: each group's table (titled
/// with `heading`, such as `###`) and one-line verdicts, then the gates.
pub fn comparison_markdown_body(cmp: &Comparison, tripped: &[Tripped], heading: &str) -> String {
    let mut out = String::new();
    let labels: Vec<&str> = cmp.sides.iter().map(|s| s.label.as_str()).collect();
    let _ = writeln!(
        out,
        "Baseline: `{}`. Ratios are candidate / baseline with their 95% interval (paired A/B, or Welch; for \
         instruction counts without a measured background, the fit insns/s = a·req/s + b); ± is half the range over repetitions.\n",
        labels[0]
    );
    for g in &cmp.groups {
        let rows = grid(cmp, g);
        let _ = writeln!(out, "{heading} {}\n", g.title());
        let _ = writeln!(out, "| {} |", rows[0].join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(rows[0].len()));
        for r in &rows[1..] {
            let _ = writeln!(out, "| {} |", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
        }
        out.push('\n');
        for l in verdict_lines(cmp, g) {
            let _ = writeln!(out, "- {l}");
        }
        out.push('\n');
    }
    if tripped.is_empty() {
        out.push_str("No regression gate tripped.\n");
    } else {
        let _ = writeln!(out, "{heading} Regressions\n");
        for t in tripped {
            let _ = writeln!(out, "- `{}`: {} [{}]: {}", t.gate, t.group, t.side, t.detail);
        }
    }
    out
}

/// The comparison as HTML: the tables, then each group's runs overlaid.
pub fn comparison_html(
    cmp: &Comparison,
    tripped: &[Tripped],
    cells: &[(String, Vec<(String, &CellView)>)],
) -> Result<String, ReportError> {
    overlay_page("routerlab compare", &comparison_tables_html(cmp, tripped), cells)
}

/// The section that opens an A/B run's report.html: the builds compared, before its cells.
pub fn run_lead_html(cmp: &Comparison) -> String {
    format!(
        "<section id=\"comparison\"><h2>Builds compared</h2><p>Baseline: <code>{}</code>. Ratios are \
         candidate / baseline with their 95% interval. <a href=\"comparison.html\">comparison.html</a> overlays \
         the builds' latency and throughput.</p>{}</section>\n",
        esc(&cmp.sides[0].label),
        comparison_tables_html(cmp, &[])
    )
}

/// The same for summary.md (and so the CI step summary), ending where its cells begin.
pub fn run_lead_markdown(cmp: &Comparison) -> String {
    format!(
        "### Builds compared\n\n{}\n`comparison.html` in the run directory overlays the builds' plots.\n\n\
         ### Cells\n\n",
        comparison_markdown_body(cmp, &[], "####")
    )
}

/// Each group's table and one-line verdicts, then any tripped gate: what opens an A/B
/// run's report.html as well as comparison.html.
pub fn comparison_tables_html(cmp: &Comparison, tripped: &[Tripped]) -> String {
    let mut t = String::new();
    for g in &cmp.groups {
        let rows = grid(cmp, g);
        let _ = write!(t, "<h2>{}</h2><table class=\"comparison\">", esc(&g.title()));
        for (i, r) in rows.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            t.push_str("<tr>");
            for c in r {
                let _ = write!(t, "<{tag}>{}</{tag}>", esc(c));
            }
            t.push_str("</tr>");
        }
        t.push_str("</table><ul class=\"verdicts\">");
        for l in verdict_lines(cmp, g) {
            let _ = write!(t, "<li>{}</li>", esc(&l));
        }
        t.push_str("</ul>");
    }
    if !tripped.is_empty() {
        t.push_str("<h2 class=\"fail\">Regressions</h2><ul>");
        for x in tripped {
            let _ = write!(t, "<li>{}: {} [{}]: {}</li>", esc(&x.gate), esc(&x.group), esc(&x.side), esc(&x.detail));
        }
        t.push_str("</ul>");
    }
    t
}

/// For each group, the cells behind each side (`views` in input order), labelled
/// `side` or `side #rep`, for the overlaid plots.
pub fn overlay_members<'a>(cmp: &Comparison, views: &'a [RunView]) -> Vec<(String, Vec<(String, &'a CellView)>)> {
    cmp.groups
        .iter()
        .map(|g| {
            let members = cmp
                .sides
                .iter()
                .flat_map(|s| {
                    views[s.input].cells.iter().filter(|c| s.holds(&g.scenario, &g.target, &c.cell)).map(|c| {
                        let rep =
                            if c.cell.repetition > 1 { format!(" #{}", c.cell.repetition) } else { String::new() };
                        (format!("{}{rep}", s.label), c)
                    })
                })
                .collect();
            (g.title(), members)
        })
        .collect()
}
