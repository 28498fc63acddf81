//! Statistics for a candidate against the baseline: the ratio of the two with a 95%
//! confidence interval, a p-value, and the smallest change the data could have detected
//! (80% power), as benchstat and criterion state theirs.
//!
//! Ratios are worked on the log scale, where "1.03x" and "0.97x" are symmetric:
//! - `Paired`: one A/B run alternated A B A B, so repetition i of each side ran back to back
//!   on one router; the log ratios of the pairs take the host's drift out (t, n−1 df).
//! - `Welch`: independent runs, Welch's t on the logs.
//! - `Fit`: instructions per request, from `insns/s = a_side × req/s + b` fitted by least
//!   squares over all cells of both sides with one shared `b`, the guest's per-second
//!   background under load. The ratio is `a_B / a_A`; its interval is Fieller's, from the
//!   fit's covariance (n−3 df), and the p-value tests `a_B − a_A`. Host speed moves req/s, and with it the share of `b` in each
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

impl Estimate {
    fn from_log(method: Method, d: f64, se: f64, df: f64, base: f64, value: f64) -> Option<Estimate> {
        if !(d.is_finite() && se.is_finite() && df >= 1.0) {
            return None;
        }
        let t = StudentsT::new(0.0, 1.0, df).ok()?;
        let q = t.inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0);
        let p = if se > 0.0 {
            2.0 * (1.0 - t.cdf((d / se).abs()))
        } else if d == 0.0 {
            1.0
        } else {
            0.0
        };
        let detectable = (q + t.inverse_cdf(POWER)) * se;
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

/// Cells as (req/s, insns/s). Fits `y = a_A·x + b` on A's cells and `y = a_B·x + b` on B's.
pub fn fit(a: &[(f64, f64)], b: &[(f64, f64)]) -> Option<Estimate> {
    let n = a.len() + b.len();
    if a.len() < 2 || b.len() < 2 || n < 4 {
        return None;
    }
    // Normal equations for (a_A, a_B, b); columns: x·[A], x·[B], 1.
    let rows = a.iter().map(|&(x, y)| ([x, 0.0, 1.0], y)).chain(b.iter().map(|&(x, y)| ([0.0, x, 1.0], y)));
    let (mut xtx, mut xty) = ([[0.0f64; 3]; 3], [0.0f64; 3]);
    for (r, y) in rows.clone() {
        for i in 0..3 {
            xty[i] += r[i] * y;
            for j in 0..3 {
                xtx[i][j] += r[i] * r[j];
            }
        }
    }
    let inv = invert3(&xtx)?;
    let beta: Vec<f64> = (0..3).map(|i| (0..3).map(|j| inv[i][j] * xty[j]).sum()).collect();
    let rss: f64 = rows.map(|(r, y)| (y - (0..3).map(|i| r[i] * beta[i]).sum::<f64>()).powi(2)).sum();
    let df = (n - 3) as f64;
    let s2 = rss / df;
    let (aa, ab) = (beta[0], beta[1]);
    if aa <= 0.0 || ab <= 0.0 {
        return None;
    }
    let v = |i: usize, j: usize| s2 * inv[i][j];
    fieller(aa, ab, [v(0, 0), v(0, 1), v(1, 1)], df)
}

/// The ratio `b / a` of two correlated estimates with covariance `[v_aa, v_ab, v_bb]`:
/// Fieller's interval, the set of ratios `r` that a t-test of `b − r·a = 0` keeps. It
/// excludes 1 exactly when the difference `b − a` is significant, which stays sharp when
/// `a` and `b` share an uncertain part (the fit's background moves both slopes together);
/// the delta method would call that part noise in the ratio. `None` if `a` itself is not
/// told from 0 at 95%: then the interval is unbounded.
fn fieller(a: f64, b: f64, [vaa, vab, vbb]: [f64; 3], df: f64) -> Option<Estimate> {
    if df < 1.0 || !(a.is_finite() && b.is_finite()) {
        return None;
    }
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    let q = t.inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0);
    let qa = a * a - q * q * vaa;
    let qb = a * b - q * q * vab;
    let qc = b * b - q * q * vbb;
    let disc = qb * qb - qa * qc;
    if qa <= 0.0 || disc < 0.0 {
        return None;
    }
    let se_diff = (vaa + vbb - 2.0 * vab).max(0.0).sqrt();
    let d = b - a;
    let p = if se_diff > 0.0 { 2.0 * (1.0 - t.cdf((d / se_diff).abs())) } else { f64::from(d == 0.0) };
    Some(Estimate {
        method: Method::Fit,
        ratio: b / a,
        lo: (qb - disc.sqrt()) / qa,
        hi: (qb + disc.sqrt()) / qa,
        p,
        detectable_pct: (q + t.inverse_cdf(POWER)) * se_diff / a * 100.0,
        df,
        base: a,
        value: b,
    })
}

fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let scale = m.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs()));
    if !det.is_finite() || det.abs() <= 1e-12 * scale.powi(3) {
        return None;
    }
    let c = |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [c(1, 1, 2, 2), -c(0, 1, 2, 2), c(0, 1, 1, 2)],
        [-c(1, 0, 2, 2), c(0, 0, 2, 2), -c(0, 0, 1, 2)],
        [c(1, 0, 2, 1), -c(0, 0, 2, 1), c(0, 0, 1, 1)],
    ];
    Some(adj.map(|row| row.map(|x| x / det)))
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
    fn the_fit_recovers_per_request_cost_whatever_the_host_speed() {
        // insns/s = a·rps + 13 M; A costs 155 k per request, B 3% more; rps swings 4x.
        let bg = 13e6;
        let noise = [1.002, 0.997, 1.001, 0.999, 1.003, 0.998];
        let a: Vec<(f64, f64)> =
            [100.0, 250.0, 400.0].iter().zip(&noise).map(|(x, n)| (*x, (155e3 * x + bg) * n)).collect();
        let b: Vec<(f64, f64)> =
            [120.0, 300.0, 380.0].iter().zip(&noise[3..]).map(|(x, n)| (*x, (155e3 * 1.03 * x + bg) * n)).collect();
        let e = fit(&a, &b).unwrap();
        assert!(e.significant() && e.lo > 1.01 && e.hi < 1.05 && (e.ratio - 1.03).abs() < 0.01, "{e:?}");
        assert!((e.base / 155e3 - 1.0).abs() < 0.02, "{e:?}");
        // Per-cell insns/req would mix in bg/rps: 285 k at 100 rps, 188 k at 400 rps.
        let raw_a: Vec<f64> = a.iter().map(|(x, y)| y / x).collect();
        assert!(raw_a[0] / raw_a[2] > 1.4);
    }

    #[test]
    fn a_clear_difference_is_called_when_req_s_hardly_varies() {
        // mipsel-malta in ci/test: req/s 40-50 on both sides, a large background under load,
        // B 25% dearer per request. The background and the slopes trade off, so the ratio's
        // far end is loose, but the difference is not: the interval must still clear 2%.
        // (The delta method gave [+1.5%, +50.1%] here, and [-19.7%, +110.5%] on such a run.)
        let (bg, a_cost) = (9e6, 330e3);
        let noise = [1.02, 0.98, 1.0, 0.97, 1.03, 1.0];
        let cell = |x: f64, cost: f64, n: f64| (x, (cost * x + bg) * n);
        let a: Vec<(f64, f64)> = [40.0, 44.0, 50.0].iter().zip(&noise).map(|(x, n)| cell(*x, a_cost, *n)).collect();
        let b: Vec<(f64, f64)> =
            [42.0, 47.0, 50.0].iter().zip(&noise[3..]).map(|(x, n)| cell(*x, a_cost * 1.25, *n)).collect();
        let e = fit(&a, &b).unwrap();
        assert!(e.significant() && e.lo > 1.02 && e.p < 0.01, "{e:?}");
        assert!(e.lo < 1.25 && e.hi > 1.25, "the interval holds the true ratio: {e:?}");
        assert!(e.hi - 1.25 > 1.25 - e.lo, "and is loose on the far side, as Fieller's is: {e:?}");
    }

    #[test]
    fn fieller_agrees_with_the_difference_test_and_refuses_an_unknown_denominator() {
        // Independent a and b, each ±1% (1 sd), 10 df.
        // The interval excludes 1 exactly when the difference's t-test rejects at 5%.
        let t = StudentsT::new(0.0, 1.0, 10.0).unwrap();
        for (b, called) in [(103.0, false), (104.0, true)] {
            let e = fieller(100.0, b, [1.0, 0.0, 1.0], 10.0).unwrap();
            let p = 2.0 * (1.0 - t.cdf((b - 100.0) / 2f64.sqrt()));
            assert!((e.p - p).abs() < 1e-12 && e.significant() == called && (p < 0.05) == called, "{e:?}");
            assert!(e.lo < b / 100.0 && e.hi > b / 100.0, "{e:?}");
        }
        // a is 10 ± 10: any ratio from near 0 to infinity fits.
        assert!(fieller(10.0, 12.0, [100.0, 0.0, 1.0], 10.0).is_none());
    }

    #[test]
    fn too_little_data_gives_no_estimate() {
        assert!(paired(&[1.0], &[2.0]).is_none());
        assert!(welch(&[1.0, 2.0], &[2.0]).is_none());
        assert!(fit(&[(1.0, 1.0)], &[(2.0, 2.0), (3.0, 3.0)]).is_none());
        // All cells at one rate: a and b cannot be told apart.
        assert!(fit(&[(100.0, 1.0), (100.0, 1.1)], &[(100.0, 1.2), (100.0, 1.3)]).is_none());
        assert!(paired(&[1.0, -1.0], &[1.0, 1.0]).is_none(), "logs of non-positive values");
    }
}
