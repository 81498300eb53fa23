//! The stochastic Heun step (TVB-O semantics) for one Jansen-Rit region, and its adjoint.
//!
//! ```text
//! dX0     = f(X_k, c_k)
//! X1      = X_k + dt·dX0 + η_k                    (predictor)
//! dX1     = f(X1, c_k)                            (same coupling c_k: computed once per step)
//! X_{k+1} = X_k + (dX0 + dX1)·dt/2 + η_k          (the same η_k as in the predictor)
//! ```
//!
//! with `η_k = sqrt(dt)·σ·ξ_k`, `ξ ~ N(0, 1)`. For σ = 0 this is Heun's method (order 2); with
//! additive noise its strong order is 1. Both choices that differ between tools — coupling
//! frozen across stages and the noise entering the predictor — are fixed here to match TVB-O.

use dynamics::jansen_rit::{N_JR_PARAMS, NodeParams, drift, drift_vjp};

/// One stochastic Heun step of one region; `eta` is the already scaled noise increment.
#[inline]
pub fn heun_step(p: &NodeParams, y: &[f64; 6], c: f64, eta: &[f64; 6], dt: f64) -> [f64; 6] {
    let d0 = drift(p, y, c);
    let mut x1 = [0.0; 6];
    for v in 0..6 {
        x1[v] = y[v] + d0[v] * dt + eta[v];
    }
    let d1 = drift(p, &x1, c);
    let mut out = [0.0; 6];
    for v in 0..6 {
        out[v] = y[v] + (d0[v] + d1[v]) * (dt / 2.0) + eta[v];
    }
    out
}

/// Adjoint of [`heun_step`]: given `lam = ∂L/∂X_{k+1}`, returns `∂L/∂X_k` and `∂L/∂c_k`, and
/// adds `∂L/∂params` to `dp`. The noise is data, so it receives no gradient.
#[inline]
pub fn heun_step_vjp(
    p: &NodeParams,
    y: &[f64; 6],
    c: f64,
    eta: &[f64; 6],
    dt: f64,
    lam: &[f64; 6],
    dp: &mut [f64; N_JR_PARAMS],
) -> ([f64; 6], f64) {
    let d0 = drift(p, y, c);
    let mut x1 = [0.0; 6];
    let mut lam_d = [0.0; 6];
    for v in 0..6 {
        x1[v] = y[v] + d0[v] * dt + eta[v];
        lam_d[v] = lam[v] * (dt / 2.0);
    }
    // Through the corrector stage dX1 = f(X1, c).
    let mut lam_x1 = [0.0; 6];
    let dc1 = drift_vjp(p, &x1, c, &lam_d, &mut lam_x1, dp);
    // X1 = X_k + dt·dX0 + η and X_{k+1} = X_k + dt/2·(dX0 + dX1) + η.
    let mut lam_y = [0.0; 6];
    let mut lam_d0 = [0.0; 6];
    for v in 0..6 {
        lam_d0[v] = lam_d[v] + dt * lam_x1[v];
        lam_y[v] = lam[v] + lam_x1[v];
    }
    let dc0 = drift_vjp(p, y, c, &lam_d0, &mut lam_y, dp);
    (lam_y, dc0 + dc1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamics::jansen_rit::{JansenRit, SigmoidalJansenRit, pack};

    /// Heun on a deterministic region converges with order 2: halving dt divides the error by 4.
    #[test]
    fn deterministic_heun_has_order_two() {
        let p = NodeParams(pack(&JansenRit::default(), &SigmoidalJansenRit::default()));
        let run = |dt: f64| {
            let mut y = [0.1; 6];
            let steps = (16.0 / dt).round() as usize;
            for _ in 0..steps {
                y = heun_step(&p, &y, 0.002, &[0.0; 6], dt);
            }
            y
        };
        let reference = run(1.0 / 256.0);
        let err = |dt: f64| {
            let y = run(dt);
            (0..6)
                .map(|v| (y[v] - reference[v]).abs())
                .fold(0.0, f64::max)
        };
        let (e1, e2, e3) = (err(0.5), err(0.25), err(0.125));
        let slope = ((e1 / e3).ln() / 4f64.ln()).abs();
        assert!(
            (slope - 2.0).abs() < 0.15,
            "order {slope} ({e1}, {e2}, {e3})"
        );
    }

    #[test]
    fn heun_vjp_matches_finite_differences() {
        let p = NodeParams(pack(&JansenRit::default(), &SigmoidalJansenRit::default()));
        let y = [0.12, 16.0, 11.0, 0.01, -0.2, 0.4];
        let eta = [1e-3, -2e-3, 5e-4, 0.0, 1e-3, -1e-3];
        let lam = [0.5, -1.0, 0.25, 1.5, 0.3, -0.7];
        let f = |y: &[f64; 6], c: f64| -> f64 {
            heun_step(&p, y, c, &eta, 1.0)
                .iter()
                .zip(lam)
                .map(|(a, b)| a * b)
                .sum()
        };
        let mut dp = [0.0; N_JR_PARAMS];
        let (dy, dc) = heun_step_vjp(&p, &y, 0.003, &eta, 1.0, &lam, &mut dp);
        for k in 0..6 {
            let h = 1e-6 * y[k].abs().max(1.0);
            let (mut a, mut b) = (y, y);
            a[k] += h;
            b[k] -= h;
            let fd = (f(&a, 0.003) - f(&b, 0.003)) / (2.0 * h);
            assert!(
                (fd - dy[k]).abs() < 1e-7 * fd.abs().max(1.0),
                "y{k}: {fd} vs {}",
                dy[k]
            );
        }
        let fd = (f(&y, 0.003 + 1e-7) - f(&y, 0.003 - 1e-7)) / 2e-7;
        assert!((fd - dc).abs() < 1e-6 * fd.abs().max(1.0));
    }
}
