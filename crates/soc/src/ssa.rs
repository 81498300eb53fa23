//! The smoothed spectral abscissa (SSA) and its gradient.
//!
//! For `s > α(W)` let `P(W, s)` solve `(W − sI) P + P (W − sI)ᵀ = −2I`, so that
//! `tr P = 2∫₀^∞ ‖e^{(W−sI)t}‖²_F dt`, a decreasing convex function of `s` that diverges as
//! `s ↓ α(W)`. The SSA `α̃_ε(W)` is the root `s` of `tr P(W, s) = 1/ε`; it is an upper bound of
//! `α(W)` that tends to `α(W)` as `ε → 0` (Vanbiervliet et al. 2009). Smaller `ε` tracks `α`
//! more closely; larger `ε` is smoother. With `Q` the observability Gramian of `W − sI`,
//! implicit differentiation of `tr P = 1/ε` gives `∂α̃/∂W = QP / tr(QP)` and
//! `∂ tr P / ∂s = −tr(QP)`.
//!
//! Root finder: safeguarded Newton on `h(s) = 1/tr P(s) − ε`, which is nearly linear in `s`
//! on both ends (`tr P ≈ c/(s − α)` near `α`, `≈ n/s` far away); `h′(s) = tr(QP)/tr P²`.
//! A bracket `(lo, hi)` with `lo = α` is kept and a step leaving it is replaced by bisection.
//! All evaluations reuse one Schur decomposition (only the shift changes).
//!
//! References: Vanbiervliet, Vandereycken, Michiels, Vandewalle & Diehl, SIAM J. Matrix Anal.
//! Appl. 31 (2009); Hennequin, Vogels & Gerstner, Neuron 82 (2014).

use crate::error::SocError;
use crate::gramians::SchurGramians;
use crate::schur::RealSchur;
use faer::{Mat, MatRef, Par};

/// Default smoothing `ε` (used by [`crate::ssa_op`] callers that do not choose one).
pub const DEFAULT_EPSILON: f64 = 0.01;

/// Result of solving for the smoothed spectral abscissa.
#[derive(Debug, Clone)]
pub struct SmoothedAbscissa {
    /// The smoothed spectral abscissa `α̃_ε(W)`.
    pub value: f64,
    /// The spectral abscissa `α(W)`.
    pub alpha: f64,
    /// `∂α̃/∂W = QP / tr(QP)` (n × n).
    pub gradient: Mat<f64>,
    /// Newton/bisection iterations used.
    pub iterations: usize,
}

/// Solves `tr P(W, s) = 1/ε` for `s` and returns the SSA with its gradient.
pub fn smoothed_spectral_abscissa(
    w: MatRef<'_, f64>,
    epsilon: f64,
    par: Par,
) -> Result<SmoothedAbscissa, SocError> {
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(SocError::InvalidParameter {
            name: "epsilon",
            value: epsilon,
            expected: "> 0",
        });
    }
    let schur = RealSchur::new(w, par)?;
    let alpha = schur.spectral_abscissa();
    let h = |s: f64| -> Result<(f64, f64, SchurGramians), SocError> {
        let g = SchurGramians::new(&schur, s, par)?;
        let tr = g.trace_p();
        Ok((1.0 / tr - epsilon, g.trace_qp() / (tr * tr), g))
    };
    // Bracket: h(α⁺) = −ε < 0; grow hi until h(hi) ≥ 0.
    let scale = alpha.abs().max(1.0);
    let mut lo = alpha;
    let mut width = scale;
    let mut cur = loop {
        let s = alpha + width;
        let e = h(s)?;
        if e.0 >= 0.0 {
            break (s, e);
        }
        lo = s;
        width *= 2.0;
        if width > 1e12 * scale {
            return Err(SocError::RootFinding("could not bracket the root".into()));
        }
    };
    let mut hi = cur.0;
    for it in 1..=200 {
        let (s, (hv, dh, _)) = (&cur.0, &cur.1);
        let s = *s;
        if *hv >= 0.0 {
            hi = hi.min(s);
        } else {
            lo = lo.max(s);
        }
        let newton = s - hv / dh;
        let tol = 4.0 * f64::EPSILON * s.abs().max(1.0);
        if (newton - s).abs() <= tol || hi - lo <= tol {
            let gradient = cur.1.2.normalized_qp(&schur, par);
            return Ok(SmoothedAbscissa {
                value: s,
                alpha,
                gradient,
                iterations: it,
            });
        }
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        cur = (next, h(next)?);
    }
    Err(SocError::RootFinding(
        "no convergence in 200 iterations".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Mat<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(n, n, |_, _| {
            (rng.random::<f64>() - 0.5) / (n as f64).sqrt() * 3.0
        })
    }

    #[test]
    fn normal_matrix_has_closed_form() {
        // W = diag(λ): tr P = Σ 1/(s − λ_i) = 1/ε.  For λ = (0, -1): s² − (1/ε − ... ) solved
        // numerically against the scalar equation.
        let lam = [0.3, -1.0, -2.5];
        let w = Mat::from_fn(3, 3, |i, j| if i == j { lam[i] } else { 0.0 });
        let eps = 0.5;
        let r = smoothed_spectral_abscissa(w.as_ref(), eps, Par::Seq).unwrap();
        let f: f64 = lam.iter().map(|l| 1.0 / (r.value - l)).sum();
        assert!((f - 1.0 / eps).abs() < 1e-13, "{f}");
        assert!(r.value > r.alpha && (r.alpha - 0.3).abs() < 1e-15);
        // Gradient of a diagonal W: diagonal, ∝ 1/(s − λ_i)², trace 1.
        let d: Vec<f64> = lam.iter().map(|l| (r.value - l).powi(-2)).collect();
        let tot: f64 = d.iter().sum();
        for i in 0..3 {
            assert!((r.gradient[(i, i)] - d[i] / tot).abs() < 1e-13);
        }
    }

    #[test]
    fn gradient_matches_central_differences_n20() {
        let n = 20;
        let w = random(n, 20);
        let eps = DEFAULT_EPSILON;
        let r = smoothed_spectral_abscissa(w.as_ref(), eps, Par::Seq).unwrap();
        let gmax = r.gradient.norm_max();
        let h = 1e-5;
        let mut max_err: f64 = 0.0;
        for j in 0..n {
            for i in 0..n {
                let mut wp = w.clone();
                wp[(i, j)] += h;
                let mut wm = w.clone();
                wm[(i, j)] -= h;
                let fp = smoothed_spectral_abscissa(wp.as_ref(), eps, Par::Seq)
                    .unwrap()
                    .value;
                let fm = smoothed_spectral_abscissa(wm.as_ref(), eps, Par::Seq)
                    .unwrap()
                    .value;
                let fd = (fp - fm) / (2.0 * h);
                max_err = max_err.max((fd - r.gradient[(i, j)]).abs());
            }
        }
        eprintln!(
            "SSA N=20: iterations {} value {} alpha {} max|G| {gmax:e} max FD err / max|G| {:e}",
            r.iterations,
            r.value,
            r.alpha,
            max_err / gmax
        );
        assert!(
            max_err / gmax <= 1e-7,
            "relative FD error {:e}",
            max_err / gmax
        );
    }

    #[test]
    fn bad_epsilon_is_an_error() {
        let w = random(4, 1);
        assert!(smoothed_spectral_abscissa(w.as_ref(), 0.0, Par::Seq).is_err());
    }
}
