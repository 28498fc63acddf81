//! Instructions per request, side against side, from the cells' steady phases:
//! `insns/s = a_side × req/s + b`, fitted by least squares over every cell of both sides with
//! one shared `b`, the guest's per-second background under load. Host speed moves req/s, and
//! with it the share of `b` in each request; the fit takes that out, where a per-cell ratio
//! cannot.
//!
//! - The ratio is `a_B / a_A`, with Fieller's interval and a p-value that tests `a_B − a_A`
//!   (see [`fieller`]).
//! - When some cells opened connections in the steady phase and others did not (a warm-up
//!   that timed out leaves the steady phase to reconnect, and a full TLS handshake costs a
//!   mipsel router tens of millions of instructions), the fit adds `h × handshakes/s`, so
//!   those cells do not pass their handshakes off as dearer requests.
use super::stats::{Estimate, Method, Student};

/// One cell's steady phase, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitPoint {
    pub rps: f64,
    pub insns: f64,
    /// Full TLS handshakes.
    pub handshakes: f64,
}

impl FitPoint {
    pub fn new(rps: f64, insns: f64) -> FitPoint {
        FitPoint { rps, insns, handshakes: 0.0 }
    }
}

/// The candidate `b` against the baseline `a`; `None` with fewer than two cells a side, or
/// when the data cannot tell the slopes from the background.
pub fn fit(a: &[FitPoint], b: &[FitPoint]) -> Option<Estimate> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    // Only a mix calls for the handshake term: where every cell has handshakes (a new
    // connection per request), they are part of what a request costs.
    if mixes_handshakes(a, b) {
        if let Some(mut e) = fit_with(a, b, true) {
            e.method = Method::FitHandshakes;
            return Some(e);
        }
    }
    fit_with(a, b, false)
}

/// Whether some cells, not all, opened connections in their steady phase.
pub(super) fn mixes_handshakes(a: &[FitPoint], b: &[FitPoint]) -> bool {
    let with = a.iter().chain(b).filter(|p| p.handshakes > 0.0).count();
    with > 0 && with < a.len() + b.len()
}

fn fit_with(a: &[FitPoint], b: &[FitPoint], handshakes: bool) -> Option<Estimate> {
    // Columns: req/s on A's cells, req/s on B's, 1, and handshakes/s if asked.
    let row = |p: &FitPoint, side_a: bool| {
        let mut r = vec![if side_a { p.rps } else { 0.0 }, if side_a { 0.0 } else { p.rps }, 1.0];
        if handshakes {
            r.push(p.handshakes);
        }
        (r, p.insns)
    };
    let rows: Vec<(Vec<f64>, f64)> = a.iter().map(|p| row(p, true)).chain(b.iter().map(|p| row(p, false))).collect();
    let k = rows[0].0.len();
    if rows.len() <= k {
        return None;
    }
    let (beta, inv, rss) = least_squares(&rows)?;
    let df = (rows.len() - k) as f64;
    let s2 = rss / df;
    let (aa, ab) = (beta[0], beta[1]);
    if aa <= 0.0 || ab <= 0.0 {
        return None;
    }
    fieller(aa, ab, [s2 * inv[0][0], s2 * inv[0][1], s2 * inv[1][1]], df)
}

/// Ordinary least squares: the coefficients, `(XᵀX)⁻¹` and the residual sum of squares;
/// `None` if the columns are (nearly) dependent.
fn least_squares(rows: &[(Vec<f64>, f64)]) -> Option<(Vec<f64>, Vec<Vec<f64>>, f64)> {
    let k = rows.first()?.0.len();
    let mut xtx = vec![vec![0.0; k]; k];
    let mut xty = vec![0.0; k];
    for (r, y) in rows {
        for i in 0..k {
            xty[i] += r[i] * y;
            for j in 0..k {
                xtx[i][j] += r[i] * r[j];
            }
        }
    }
    let inv = invert(&xtx)?;
    let beta: Vec<f64> = (0..k).map(|i| (0..k).map(|j| inv[i][j] * xty[j]).sum()).collect();
    let rss = rows.iter().map(|(r, y)| (y - r.iter().zip(&beta).map(|(x, b)| x * b).sum::<f64>()).powi(2)).sum();
    Some((beta, inv, rss))
}

/// The inverse of a symmetric positive semi-definite matrix, by Gauss-Jordan elimination
/// on its equilibrated form (unit diagonal), so columns of different scales (req/s in the
/// hundreds, handshakes/s under one) are judged alike; `None` if it is (nearly) singular.
fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let k = m.len();
    let d: Vec<f64> = (0..k).map(|i| m[i][i].sqrt()).collect();
    if d.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
        return None;
    }
    let mut a: Vec<Vec<f64>> = (0..k).map(|i| (0..k).map(|j| m[i][j] / (d[i] * d[j])).collect()).collect();
    let mut inv: Vec<Vec<f64>> = (0..k).map(|i| (0..k).map(|j| f64::from(i == j)).collect()).collect();
    for c in 0..k {
        let p = (c..k).max_by(|x, y| a[*x][c].abs().total_cmp(&a[*y][c].abs()))?;
        if a[p][c].abs() < 1e-9 {
            return None;
        }
        a.swap(c, p);
        inv.swap(c, p);
        let pivot = a[c][c];
        for j in 0..k {
            a[c][j] /= pivot;
            inv[c][j] /= pivot;
        }
        for r in (0..k).filter(|r| *r != c) {
            let f = a[r][c];
            for j in 0..k {
                a[r][j] -= f * a[c][j];
                inv[r][j] -= f * inv[c][j];
            }
        }
    }
    Some((0..k).map(|i| (0..k).map(|j| inv[i][j] / (d[i] * d[j])).collect()).collect())
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
    let t = Student::new(df)?;
    let q = t.q;
    let qa = a * a - q * q * vaa;
    let qb = a * b - q * q * vab;
    let qc = b * b - q * q * vbb;
    let disc = qb * qb - qa * qc;
    if qa <= 0.0 || disc < 0.0 {
        return None;
    }
    let se_diff = (vaa + vbb - 2.0 * vab).max(0.0).sqrt();
    let d = b - a;
    let p = t.p(d, se_diff);
    Some(Estimate {
        method: Method::Fit,
        ratio: b / a,
        lo: (qb - disc.sqrt()) / qa,
        hi: (qb + disc.sqrt()) / qa,
        p,
        detectable_pct: t.detect * se_diff / a * 100.0,
        df,
        base: a,
        value: b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, StudentsT};

    #[test]
    fn the_fit_recovers_per_request_cost_whatever_the_host_speed() {
        // insns/s = a·rps + 13 M; A costs 155 k per request, B 3% more; rps swings 4x.
        let bg = 13e6;
        let noise = [1.002, 0.997, 1.001, 0.999, 1.003, 0.998];
        let a: Vec<FitPoint> =
            [100.0, 250.0, 400.0].iter().zip(&noise).map(|(x, n)| FitPoint::new(*x, (155e3 * x + bg) * n)).collect();
        let b: Vec<FitPoint> = [120.0, 300.0, 380.0]
            .iter()
            .zip(&noise[3..])
            .map(|(x, n)| FitPoint::new(*x, (155e3 * 1.03 * x + bg) * n))
            .collect();
        let e = fit(&a, &b).unwrap();
        assert!(e.significant() && e.lo > 1.01 && e.hi < 1.05 && (e.ratio - 1.03).abs() < 0.01, "{e:?}");
        assert!((e.base / 155e3 - 1.0).abs() < 0.02, "{e:?}");
        // Per-cell insns/req would mix in bg/rps: 285 k at 100 rps, 188 k at 400 rps.
        let raw_a: Vec<f64> = a.iter().map(|p| p.insns / p.rps).collect();
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
        let cell = |x: f64, cost: f64, n: f64| FitPoint::new(x, (cost * x + bg) * n);
        let a: Vec<FitPoint> = [40.0, 44.0, 50.0].iter().zip(&noise).map(|(x, n)| cell(*x, a_cost, *n)).collect();
        let b: Vec<FitPoint> =
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
    fn cells_that_reconnected_in_the_steady_phase_do_not_pass_as_dearer_requests() {
        // B is 3% dearer per request. A's second cell reopened its 3 connections in the
        // steady phase (one full handshake in 4 s, at 20 M instructions).
        let (bg, cost) = (2e6, 200e3);
        let p =
            |rps: f64, c: f64, hs: f64, n: f64| FitPoint { rps, insns: (c * rps + bg + hs * 20e6) * n, handshakes: hs };
        let a = [p(120.0, cost, 0.0, 1.002), p(60.0, cost, 0.25, 0.998), p(140.0, cost, 0.0, 1.001)];
        let b = [p(110.0, cost * 1.03, 0.0, 0.999), p(150.0, cost * 1.03, 0.0, 1.002), p(90.0, cost * 1.03, 0.0, 1.0)];
        let e = fit(&a, &b).unwrap();
        assert_eq!(e.method, Method::FitHandshakes);
        assert!(e.lo > 1.0 && e.lo < 1.03 && e.hi > 1.03 && e.df == 2.0, "{e:?}");
        // Blind to the handshakes, the fit takes them for dearer requests on A and misses
        // B's 3% (0.999 [0.78, 1.31] here).
        let blind: Vec<FitPoint> = a.iter().map(|x| FitPoint { handshakes: 0.0, ..*x }).collect();
        let e = fit(&blind, &b).unwrap();
        assert!(e.method == Method::Fit && e.ratio < 1.0 && !e.significant(), "{e:?}");
        // Handshakes in every cell (a new connection per request) are part of the cost.
        let all: Vec<FitPoint> = b.iter().map(|x| FitPoint { handshakes: x.rps, ..*x }).collect();
        let a2: Vec<FitPoint> = a[..1].iter().chain(&a[2..]).copied().collect();
        assert_eq!(fit(&a2, &all).unwrap().method, Method::Fit);
    }

    #[test]
    fn invert_solves_and_refuses_dependent_columns() {
        let m = vec![vec![4.0, 2.0, 0.6], vec![2.0, 5.0, 1.0], vec![0.6, 1.0, 3.0]];
        let inv = invert(&m).unwrap();
        // m · inv is the identity.
        for (i, row) in m.iter().enumerate() {
            for j in 0..3 {
                let x: f64 = row.iter().zip(&inv).map(|(a, r)| a * r[j]).sum();
                assert!((x - f64::from(i == j)).abs() < 1e-12, "{i},{j}: {x}");
            }
        }
        // The third column is the sum of the first two.
        assert!(invert(&[vec![1.0, 0.0, 1.0], vec![0.0, 1.0, 1.0], vec![1.0, 1.0, 2.0]]).is_none());
    }

    #[test]
    fn too_little_data_gives_no_fit() {
        let p = FitPoint::new;
        assert!(fit(&[p(1.0, 1.0)], &[p(2.0, 2.0), p(3.0, 3.0)]).is_none());
        // All cells at one rate: a and b cannot be told apart.
        assert!(fit(&[p(100.0, 1.0), p(100.0, 1.1)], &[p(100.0, 1.2), p(100.0, 1.3)]).is_none());
    }
}
