//! Statistics for a candidate against the baseline: the ratio of the two with a 95%
//! confidence interval, a p-value, and the smallest change the data could have detected
//! (80% power), as benchstat and criterion state theirs.
//!
//! Ratios are worked on the log scale, where "1.03x" and "0.97x" are symmetric:
//! - `Paired`: one A/B run alternated A B A B, so repetition i of each side ran back to back
//!   on one router; the log ratios of the pairs take the host's drift out (t, n−1 df).
//! - `Welch`: independent runs, Welch's t on the logs.
//! - `Fit`: instructions per request, from a least-squares fit over the cells of both sides
//!   (`compare::fit`). Host speed moves req/s, and with it the share of `b` in each
//!   request; the fit takes that out, where a per-cell ratio cannot.
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Confidence level of every interval, and the power behind the detectable change.
pub const LEVEL: f64 = 0.95;
pub const POWER: f64 = 0.80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Paired,
    Welch,
    Fit,
    /// The fit with a term for full TLS handshakes in the steady phase (see `fit`).
    FitHandshakes,
}

impl Method {
    pub fn is_fit(self) -> bool {
        matches!(self, Method::Fit | Method::FitHandshakes)
    }
}

/// A candidate's ratio to the baseline with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub method: Method,
    pub ratio: f64,
    /// 95% confidence interval of the ratio.
    pub lo: f64,
    pub hi: f64,
    /// Two-sided p-value of "no change".
    pub p: f64,
    /// Smallest change (percent) this data would detect at 95% confidence with 80% power.
    pub detectable_pct: f64,
    pub df: f64,
    /// Per-side values the ratio is of (fit slopes for `Fit`, geometric means otherwise).
    pub base: f64,
    pub value: f64,
}

/// Student's t with `df` degrees of freedom, as every interval here uses it.
pub(super) struct Student {
    t: StudentsT,
    /// The two-sided quantile at [`LEVEL`].
    pub q: f64,
    /// `q` plus the one-sided quantile at [`POWER`]: the smallest detectable effect in
    /// standard errors.
    pub detect: f64,
}

impl Student {
    pub fn new(df: f64) -> Option<Student> {
        let t = StudentsT::new(0.0, 1.0, df).ok()?;
        let q = t.inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0);
        let detect = q + t.inverse_cdf(POWER);
        Some(Student { t, q, detect })
    }

    /// Two-sided p-value of `d = 0` given its standard error.
    pub fn p(&self, d: f64, se: f64) -> f64 {
        if se > 0.0 {
            2.0 * (1.0 - self.t.cdf((d / se).abs()))
        } else {
            f64::from(d == 0.0)
        }
    }
}

impl Estimate {
    pub(super) fn from_log(method: Method, d: f64, se: f64, df: f64, base: f64, value: f64) -> Option<Estimate> {
        if !(d.is_finite() && se.is_finite() && df >= 1.0) {
            return None;
        }
        let t = Student::new(df)?;
        let (q, p) = (t.q, t.p(d, se));
        let detectable = t.detect * se;
        Some(Estimate {
            method,
            ratio: d.exp(),
            lo: (d - q * se).exp(),
            hi: (d + q * se).exp(),
            p,
            detectable_pct: (detectable.exp() - 1.0) * 100.0,
            df,
            base,
            value,
        })
    }

    /// Whether the interval excludes "no change".
    pub fn significant(&self) -> bool {
        self.lo > 1.0 || self.hi < 1.0
    }

    /// One line a person can read:
    /// `+3.1% [+2.2%, +4.0%] at 95%, p=0.004, could detect ±1.2% (paired A/B, 3 df)`.
    pub fn sentence(&self) -> String {
        let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
        format!(
            "{} [{}, {}] at 95%, {}, could detect ±{:.1}% ({}, {} df)",
            pct(self.ratio),
            pct(self.lo),
            pct(self.hi),
            p_text(self.p),
            self.detectable_pct,
            match self.method {
                Method::Paired => "paired A/B",
                Method::Welch => "Welch",
                Method::Fit => "fit a·req/s + b",
                Method::FitHandshakes => "fit a·req/s + h·handshakes/s + b",
            },
            self.df.round()
        )
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p<0.001".into()
    } else {
        format!("p={p:.3}")
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn var(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
}

fn logs(v: &[f64]) -> Option<Vec<f64>> {
    v.iter().map(|x| (*x > 0.0 && x.is_finite()).then(|| x.ln())).collect()
}

/// Pairs `(a_i, b_i)` that ran back to back.
pub fn paired(a: &[f64], b: &[f64]) -> Option<Estimate> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (la, lb) = (logs(a)?, logs(b)?);
    let d: Vec<f64> = la.iter().zip(&lb).map(|(x, y)| y - x).collect();
    let n = d.len() as f64;
    let se = (var(&d) / n).sqrt();
    Estimate::from_log(Method::Paired, mean(&d), se, n - 1.0, mean(&la).exp(), mean(&lb).exp())
}

/// Independent samples: Welch's t on the logs.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Estimate> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (la, lb) = (logs(a)?, logs(b)?);
    let (va, vb) = (var(&la) / la.len() as f64, var(&lb) / lb.len() as f64);
    let se = (va + vb).sqrt();
    let df = if va + vb > 0.0 {
        (va + vb).powi(2) / (va.powi(2) / (la.len() as f64 - 1.0) + vb.powi(2) / (lb.len() as f64 - 1.0))
    } else {
        (la.len() + lb.len() - 2) as f64
    };
    Estimate::from_log(Method::Welch, mean(&lb) - mean(&la), se, df, mean(&la).exp(), mean(&lb).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_takes_the_drift_out_that_welch_sees_as_noise() {
        // The host slows down over the run; B is 3% dearer in every pair.
        let a = [100.0, 120.0, 140.0, 160.0];
        let b: Vec<f64> = a.iter().enumerate().map(|(i, x)| x * (1.03 + 0.001 * i as f64)).collect();
        let p = paired(&a, &b).unwrap();
        assert!(p.significant() && p.lo > 1.025 && p.hi < 1.035, "{p:?}");
        let w = welch(&a, &b).unwrap();
        assert!(!w.significant(), "the drift swamps 3% when the pairs are ignored: {w:?}");
        assert!(w.detectable_pct > 10.0 && p.detectable_pct < 1.0, "{} vs {}", w.detectable_pct, p.detectable_pct);
    }

    #[test]
    fn no_change_is_not_significant_and_p_is_large() {
        let a = [200.0, 202.0, 199.0, 201.0];
        let b = [201.0, 200.0, 200.5, 199.5];
        let e = welch(&a, &b).unwrap();
        assert!(!e.significant() && e.p > 0.5, "{e:?}");
        assert!(e.sentence().contains("at 95%"), "{}", e.sentence());
    }

    #[test]
    fn too_little_data_gives_no_estimate() {
        assert!(paired(&[1.0], &[2.0]).is_none());
        assert!(welch(&[1.0, 2.0], &[2.0]).is_none());
        assert!(paired(&[1.0, -1.0], &[1.0, 1.0]).is_none(), "logs of non-positive values");
    }
}
