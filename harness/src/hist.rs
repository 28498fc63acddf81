//! Latency histograms (HdrHistogram, microseconds) and the percentile summary reports use.
use hdrhistogram::Histogram;

#[derive(Debug, thiserror::Error)]
pub enum HistError {
    #[error("not base64")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram encoding")]
    Decode(#[from] hdrhistogram::serialization::DeserializeError),
    #[error("values beyond 10 minutes")]
    Range,
    #[error("interval log line {line}: {detail}")]
    Log { line: usize, detail: String },
}

/// Highest trackable latency: 10 minutes in microseconds; larger values are clamped.
const MAX_US: u64 = 600_000_000;

/// A microsecond latency histogram with 3 significant figures; its memory is fixed
/// (about 30 KiB) however many values it records.
#[derive(Debug, Clone)]
pub struct LatencyHist(Histogram<u64>);

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist(Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds"))
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencyHist {
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_US));
    }
    pub fn record_duration(&mut self, d: std::time::Duration) {
        self.record(d.as_micros().min(u128::from(MAX_US)) as u64);
    }
    pub fn merge(&mut self, other: &LatencyHist) {
        self.0.add(&other.0).expect("histograms share bounds");
    }
    pub fn len(&self) -> u64 {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: self.0.len(),
            min: self.0.min(),
            mean: self.0.mean(),
            p50: self.0.value_at_quantile(0.50),
            p90: self.0.value_at_quantile(0.90),
            p99: self.0.value_at_quantile(0.99),
            p999: self.0.value_at_quantile(0.999),
            max: self.0.max(),
        }
    }
    /// HdrHistogram's compressed V2 encoding in base64, as interval logs hold it and as
    /// report.json keeps a phase's latency, so runs can be merged later.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        use hdrhistogram::serialization::Serializer as _;
        let mut buf = Vec::new();
        hdrhistogram::serialization::V2DeflateSerializer::new()
            .serialize(&self.0, &mut buf)
            .expect("a histogram serializes into memory");
        base64::engine::general_purpose::STANDARD.encode(buf)
    }
    /// The histogram [`LatencyHist::encode`] wrote (or any V2 encoding in base64).
    pub fn decode(text: &str) -> Result<LatencyHist, HistError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        let h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new().deserialize(&mut bytes.as_slice())?;
        let mut out = LatencyHist::default();
        out.0.add(&h).map_err(|_| HistError::Range)?;
        Ok(out)
    }
    /// (percentile, value) pairs along the HDR percentile curve, for plots.
    pub fn percentile_curve(&self) -> Vec<(f64, u64)> {
        self.0.iter_quantiles(1).map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to())).collect()
    }
}

/// An HdrHistogram interval log (`.hlog`, read by HistogramLogAnalyzer and `hdr-plot`) of
/// `(completed at, latency)` pairs in microseconds since `start`: one histogram per
/// `interval_s` seconds of completion time, tagged `tag`.
pub fn interval_log(points: &[(u64, u64)], interval_s: u64, start: std::time::SystemTime, tag: &str) -> String {
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use std::time::Duration;
    let step = interval_s.max(1) * 1_000_000;
    let mut buckets: std::collections::BTreeMap<u64, LatencyHist> = Default::default();
    for &(done, us) in points {
        buckets.entry(done / step).or_default().record(us);
    }
    let mut buf = Vec::new();
    let mut ser = hdrhistogram::serialization::V2DeflateSerializer::new();
    {
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment("routerlab: request latency in microseconds, by completion time")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut ser)
            .expect("a log header writes into memory");
        for (i, h) in &buckets {
            let at = Duration::from_micros(i * step);
            w.write_histogram(&h.0, at, Duration::from_micros(step), Tag::new(tag)).expect("writes into memory");
        }
    }
    String::from_utf8(buf).expect("interval logs are ASCII")
}

/// Every interval of an interval log, merged into one histogram.
pub fn read_interval_log(text: &str) -> Result<LatencyHist, HistError> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut out = LatencyHist::default();
    for (i, e) in IntervalLogIterator::new(text.as_bytes()).enumerate() {
        match e {
            Ok(LogEntry::Interval(h)) => out.merge(&LatencyHist::decode(h.encoded_histogram())?),
            Ok(_) => {}
            Err(e) => return Err(HistError::Log { line: i + 1, detail: format!("{e:?}") }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_histogram_and_an_interval_log_give_back_the_same_percentiles() {
        let mut all = LatencyHist::default();
        let mut points = Vec::new();
        for i in 0..5_000u64 {
            let us = 200 + (i * 7919) % 90_000;
            all.record(us);
            points.push((i * 1_000, us));
        }
        let back = LatencyHist::decode(&all.encode()).unwrap();
        assert_eq!(back.percentiles(), all.percentiles());
        let log = interval_log(&points, 1, std::time::SystemTime::UNIX_EPOCH, "total");
        assert_eq!(log.lines().filter(|l| l.starts_with("Tag=total,")).count(), 5, "{log}");
        assert_eq!(read_interval_log(&log).unwrap().percentiles(), all.percentiles());
        assert!(LatencyHist::decode("not base64!").is_err());
        assert!(read_interval_log("Tag=x,0.0,1.0,2.0,AAAA\n").is_err());
    }

    fn within(v: u64, want: u64) -> bool {
        (v as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0
    }

    #[test]
    fn uniform_distribution_percentiles() {
        let mut h = LatencyHist::default();
        for v in 1..=100_000 {
            h.record(v);
        }
        let p = h.percentiles();
        assert_eq!((p.count, p.min), (100_000, 1));
        assert!(within(p.p50, 50_000), "{p:?}");
        assert!(within(p.p90, 90_000), "{p:?}");
        assert!(within(p.p99, 99_000), "{p:?}");
        assert!(within(p.p999, 99_900), "{p:?}");
        assert!(within(p.max, 100_000), "{p:?}");
        assert!((p.mean - 50_000.5).abs() < 50.0, "{p:?}");
    }

    #[test]
    fn bimodal_distribution_and_merge() {
        // 99% fast (100 us), 1% slow (50 ms): p99 sits at the edge, p99.9 in the slow mode.
        let (mut a, mut b) = (LatencyHist::default(), LatencyHist::default());
        for i in 0..10_000u64 {
            if i % 100 == 0 {
                b.record(50_000)
            } else {
                a.record(100)
            }
        }
        a.merge(&b);
        let p = a.percentiles();
        assert!(within(p.p50, 100) && within(p.p90, 100), "{p:?}");
        assert!(within(p.p999, 50_000), "{p:?}");
        assert_eq!(p.count, 10_000);
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = LatencyHist::default();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.percentiles().max >= MAX_US);
    }
}
