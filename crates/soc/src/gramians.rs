//! Controllability and observability Gramians of `W − sI` on a real Schur form.
//!
//! With `W = Z T Zᵀ`, the Lyapunov equations
//! `(W − sI) P + P (W − sI)ᵀ = −2I` and `(W − sI)ᵀ Q + Q (W − sI) = −2I`
//! become `(T − sI) X + X (T − sI)ᵀ = −2I` and `(T − sI)ᵀ Y + Y (T − sI) = −2I` with
//! `P = Z X Zᵀ`, `Q = Z Y Zᵀ` (the right-hand side is invariant under the orthogonal change of
//! basis): one Schur decomposition serves both equations and every shift `s` (Bartels &
//! Stewart 1972). `P = 2∫₀^∞ e^{(W−sI)t} e^{(W−sI)ᵀt} dt` exists iff `s > α(W)`.

use crate::error::SocError;
use crate::schur::RealSchur;
use crate::sylvester::{lyapunov_controllability, lyapunov_observability};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

/// Gramians of `T − sI` in the Schur basis: `X = Zᵀ P Z`, `Y = Zᵀ Q Z`.
#[derive(Debug, Clone)]
pub struct SchurGramians {
    /// The shift `s`.
    pub s: f64,
    /// Controllability Gramian in the Schur basis.
    pub x: Mat<f64>,
    /// Observability Gramian in the Schur basis.
    pub y: Mat<f64>,
}

impl SchurGramians {
    /// Solves both Lyapunov equations for `T − sI`; requires `s > α(W)`.
    pub fn new(schur: &RealSchur, s: f64, par: Par) -> Result<Self, SocError> {
        let alpha = schur.spectral_abscissa();
        if s.is_nan() || s <= alpha {
            return Err(SocError::NotStable { s, alpha });
        }
        let n = schur.t.nrows();
        let c = Mat::<f64>::identity(n, n) * -2.0;
        let x = lyapunov_controllability(schur.t.as_ref(), s, c.as_ref(), par);
        let y = lyapunov_observability(schur.t.as_ref(), s, c.as_ref(), par);
        let finite = |m: &Mat<f64>| (0..n).all(|j| (0..n).all(|i| m[(i, j)].is_finite()));
        if !finite(&x) || !finite(&y) {
            return Err(SocError::NotStable { s, alpha });
        }
        Ok(Self { s, x, y })
    }

    /// `tr P = tr X`.
    pub fn trace_p(&self) -> f64 {
        (0..self.x.nrows()).map(|i| self.x[(i, i)]).sum()
    }

    /// `tr(QP) = tr(YX) = Σ_ij Y_ij X_ji`.
    pub fn trace_qp(&self) -> f64 {
        let n = self.x.nrows();
        let mut acc = 0.0;
        for j in 0..n {
            for i in 0..n {
                acc += self.y[(i, j)] * self.x[(j, i)];
            }
        }
        acc
    }

    /// The normalised gradient `G = QP / tr(QP) = Z (Y X) Zᵀ / tr(YX)` (trace 1) in the
    /// original basis: the gradient of the smoothed spectral abscissa with respect to `W`.
    pub fn normalized_qp(&self, schur: &RealSchur, par: Par) -> Mat<f64> {
        let n = self.x.nrows();
        let mut yx = Mat::<f64>::zeros(n, n);
        matmul(
            yx.as_mut(),
            Accum::Replace,
            self.y.as_ref(),
            self.x.as_ref(),
            1.0,
            par,
        );
        let mut zyx = Mat::<f64>::zeros(n, n);
        matmul(
            zyx.as_mut(),
            Accum::Replace,
            schur.z.as_ref(),
            yx.as_ref(),
            1.0,
            par,
        );
        let scale = 1.0 / self.trace_qp();
        let mut g = Mat::<f64>::zeros(n, n);
        matmul(
            g.as_mut(),
            Accum::Replace,
            zyx.as_ref(),
            schur.z.transpose(),
            scale,
            par,
        );
        g
    }

    /// The Gramians `(P, Q)` in the original basis.
    pub fn to_original_basis(&self, schur: &RealSchur, par: Par) -> (Mat<f64>, Mat<f64>) {
        let n = self.x.nrows();
        let back = |m: &Mat<f64>| {
            let mut zm = Mat::<f64>::zeros(n, n);
            matmul(
                zm.as_mut(),
                Accum::Replace,
                schur.z.as_ref(),
                m.as_ref(),
                1.0,
                par,
            );
            let mut out = Mat::<f64>::zeros(n, n);
            matmul(
                out.as_mut(),
                Accum::Replace,
                zm.as_ref(),
                schur.z.transpose(),
                1.0,
                par,
            );
            out
        };
        (back(&self.x), back(&self.y))
    }
}

/// Controllability and observability Gramians `(P, Q)` of `W − sI` (requires `s > α(W)`).
pub fn gramians(
    w: faer::MatRef<'_, f64>,
    s: f64,
    par: Par,
) -> Result<(Mat<f64>, Mat<f64>), SocError> {
    let schur = RealSchur::new(w, par)?;
    Ok(SchurGramians::new(&schur, s, par)?.to_original_basis(&schur, par))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn gramians_solve_lyapunov_in_original_basis() {
        let n = 60;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let w = Mat::from_fn(n, n, |_, _| (rng.random::<f64>() - 0.5) * 0.5);
        let schur = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
        let s = schur.spectral_abscissa() + 0.2;
        let (p, q) = gramians(w.as_ref(), s, Par::Seq).unwrap();
        let a = &w - Mat::<f64>::identity(n, n) * s;
        let two = Mat::<f64>::identity(n, n) * 2.0;
        let rp = (&a * &p + &p * a.transpose() + &two).norm_max() / p.norm_max();
        let rq = (a.transpose() * &q + &q * &a + &two).norm_max() / q.norm_max();
        assert!(rp < 1e-12 && rq < 1e-12, "{rp:e} {rq:e}");
        // Gramians are symmetric positive definite.
        assert!((&p - p.transpose()).norm_max() < 1e-11 * p.norm_max());
        assert!(
            p.as_ref().llt(faer::Side::Lower).is_ok() && q.as_ref().llt(faer::Side::Lower).is_ok()
        );
        // G = QP / tr(QP) has trace 1.
        let g = SchurGramians::new(&schur, s, Par::Seq)
            .unwrap()
            .normalized_qp(&schur, Par::Seq);
        let tr: f64 = (0..n).map(|i| g[(i, i)]).sum();
        assert!((tr - 1.0).abs() < 1e-12);
        let direct = &q * &p;
        let trd: f64 = (0..n).map(|i| direct[(i, i)]).sum();
        assert!((&g - direct * (1.0 / trd)).norm_max() < 1e-10 * g.norm_max());
    }

    #[test]
    fn unstable_shift_is_an_error() {
        let w = Mat::<f64>::identity(3, 3);
        assert!(matches!(
            gramians(w.as_ref(), 0.5, Par::Seq),
            Err(SocError::NotStable { .. })
        ));
    }
}
