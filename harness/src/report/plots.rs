//! Plots as inline SVG, drawn by plotters: the HDR latency percentile plot and series over
//! time with the load phases shaded. Several runs can be overlaid (compare).
use plotters::prelude::*;

use super::ReportError;
use crate::model::{LatencyCurve, Phase};

const W: u32 = 540;
const H: u32 = 290;
/// Colour-blind-safe palette (Okabe-Ito), one per overlaid series.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];

/// One line on a plot.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

fn plot_err(what: &str) -> impl Fn(String) -> ReportError + '_ {
    move |detail| ReportError::Plot { plot: what.to_string(), detail }
}

/// HDR percentile plot: x is the percentile on a log scale of 1/(1-p) (so 90, 99, 99.9 are
/// equally spaced), y is latency in milliseconds.
pub fn latency_plot(title: &str, curves: &[(String, &LatencyCurve)]) -> Result<String, ReportError> {
    // x = log10(1 / (1 - p/100)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9 ...
    let x_of = |p: f64| (1.0 / (1.0 - (p / 100.0).min(0.99999))).log10();
    let series: Vec<Series> = curves
        .iter()
        .map(|(label, c)| Series {
            label: label.clone(),
            points: c.points.iter().map(|(p, us)| (x_of(*p), *us as f64 / 1000.0)).collect(),
        })
        .collect();
    let x_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0f64, f64::max).ceil();
    draw(title, "percentile", "latency (ms)", &series, &[], (0.0, x_max), |x| {
        let p = 100.0 * (1.0 - 10f64.powf(-x));
        match x.round() as i32 {
            0 => "0%".into(),
            _ => format!("{}%", trim(p)),
        }
    })
}

/// Series over time (seconds on x) with the phases shaded. x starts at 0 (the first load
/// phase) or earlier, where an idle phase or samples come before it.
pub fn time_plot(title: &str, y_label: &str, series: &[Series], phases: &[Phase]) -> Result<String, ReportError> {
    let xs = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let x_max = xs().chain(phases.iter().map(|p| p.end_s)).fold(1.0f64, f64::max);
    let x_min = xs().chain(phases.iter().map(|p| p.start_s)).fold(0.0f64, f64::min);
    draw(title, "time (s)", y_label, series, phases, (x_min, x_max), |x| trim(*x))
}

/// A tick label without trailing zeros: 99.9, 2.5, 3.
fn trim(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn draw(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    phases: &[Phase],
    x_range: (f64, f64),
    x_fmt: impl Fn(&f64) -> String,
) -> Result<String, ReportError> {
    let err = plot_err(title);
    let y_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range.0..x_range.1, 0.0..y_max)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&x_fmt)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (i, p) in phases.iter().enumerate() {
            // Fault windows in red, over the phases; phases alternate yellow and blue.
            let fault = p.name.starts_with("fault");
            let shade = match (fault, i % 2) {
                (true, _) => RGBColor(248, 196, 196),
                (false, 0) => RGBColor(255, 243, 205),
                _ => RGBColor(221, 238, 255),
            };
            let label = if fault { p.name.clone() } else { format!("phase: {}", p.name) };
            chart
                .draw_series(std::iter::once(Rectangle::new([(p.start_s, 0.0), (p.end_s, y_max)], shade.filled())))
                .map_err(|e| err(e.to_string()))?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], shade.filled()));
        }
        // One colour per run or build: repetitions (`label #2`) share their side's colour.
        let mut sides: Vec<&str> = Vec::new();
        for s in series {
            let side = s.label.split(" #").next().unwrap_or(&s.label);
            let i = sides.iter().position(|x| *x == side).unwrap_or_else(|| {
                sides.push(side);
                sides.len() - 1
            });
            let colour = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_plot_has_one_path_per_curve_and_percentile_ticks() {
        let c =
            LatencyCurve { name: "total".into(), points: vec![(0.0, 1000), (90.0, 2000), (99.0, 8000), (99.9, 20000)] };
        let svg = latency_plot("latency", &[("A".into(), &c), ("B".into(), &c)]).expect("plot");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("99%") && svg.contains("99.9%"), "percentile ticks");
        assert!(svg.matches("<polyline").count() >= 2, "one line per curve");
    }

    #[test]
    fn repetitions_share_their_sides_colour() {
        let s = |l: &str| Series { label: l.into(), points: vec![(0.0, 1.0), (1.0, 2.0)] };
        let svg = time_plot("t", "y", &[s("A"), s("A #2"), s("B")], &[]).expect("plot");
        let blue = svg.matches("#0072B2").count();
        let orange = svg.matches("#D55E00").count();
        assert!(blue >= 2 * orange && orange > 0, "A twice in blue, B once in orange: {blue} {orange}");
    }

    #[test]
    fn time_plot_shades_phases() {
        let s = Series { label: "cpu".into(), points: vec![(0.0, 10.0), (5.0, 60.0)] };
        let ph = [Phase { name: "steady".into(), start_s: 1.0, end_s: 4.0 }];
        let svg = time_plot("cpu", "%", &[s], &ph).expect("plot");
        assert!(svg.contains("phase: steady"));
        assert!(svg.contains("fill=\"#FFF3CD\"") || svg.to_lowercase().contains("#fff3cd"), "phase shade drawn");
    }
}
