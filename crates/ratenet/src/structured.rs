//! The large-network path of the fixed-point solver: weights in factored form and
//! matrix-free Krylov solves.
//!
//! Both weight matrices are one connectivity matrix `C` scaled by a per-block constant:
//! `W_ij = s_b·m_ab·C_ij` and `W2_ij = m_ab²·C_ij^(2)` with `C^(2) = C²` for an explicit `C` and
//! `C^(2) = C` for the mean field (`E[C²] = E[C]`). So one N×N array (borrowed for an explicit
//! `C`, built once per θ for the mean field) serves `W r`, `W2 r`, the Jacobian products
//! `(I − ∂F/∂r)x` and `(I − ∂F/∂r)ᵀy` and the θ vector–Jacobian product: every one of them is a
//! single pass over `C` that keeps the E-column and I-column partial sums of each row apart.
//! That halves the memory traffic of the dense `(W, W2)` pair and needs no N×N temporary.
//!
//! The Newton and implicit-gradient systems `(I − ∂F/∂r)δ = g` are solved by restarted GMRES
//! on those products. `I − ∂F/∂r` is the identity plus a perturbation of O(1/N) per entry whose
//! mean-field part has low numerical rank (the orientation footprint is smooth), so GMRES
//! converges in a few dozen products (each O(N²)), against O(N³) for a dense LU. When it does
//! not reach its tolerance the caller falls back to the dense LU.
//!
//! Reference: Saad & Schultz, SIAM J. Sci. Stat. Comput. 7 (1986) (GMRES).

use crate::network::{Connectivity, LOG_J, N_THETA, P, RateNetwork, W, cell_type};
use crate::phi::{PhiEval, phi_with_grad};
use faer::Mat;
use std::borrow::Cow;

/// `W` and `W2` of one θ in factored form (see the module doc).
#[derive(Debug, Clone)]
pub struct FactoredWeights<'a> {
    n: usize,
    n_e: usize,
    /// `C` (N×N row-major, row = post).
    c: Cow<'a, [f64]>,
    /// Whether `W2` uses `C²` (explicit) rather than `C` (mean field).
    square: bool,
    /// `m_ab = exp(ℓ_ab)`, 2×2 row-major.
    mag: [f64; 4],
    /// The mean field's separable expansion (then `c` is empty).
    fourier: Option<Box<Fourier>>,
}

/// Largest Fourier order of the separable mean-field expansion; narrower footprints (w ≲ 0.09
/// rad) fall back to the dense `C`.
const K_MAX: usize = 48;
/// Terms with `e^{−κ} I_k(κ)` below this (relative to the footprint's peak, 1) are dropped.
const FOURIER_TOL: f64 = 1e-18;

/// The mean-field connectivity as a separable sum (exact to rounding):
/// with `φ = 2θ` and `κ = 1/(4w²)`, `footprint = exp(κ(cos(φ_i − φ_j) − 1))
/// = Σ_k d_k (cos kφ_i cos kφ_j + sin kφ_i sin kφ_j)`, `d_0 = e^{−κ}I_0(κ)`,
/// `d_k = 2e^{−κ}I_k(κ)` (modified Bessel functions), so that
/// `C^{ab} = P_ab (Σ_k d_k^{ab} [cos kφ cos kφᵀ + sin kφ sin kφᵀ] − δ_ab I)`: every product with
/// `C` costs O(N·K) instead of O(N²), and no N×N array exists. `∂/∂κ` of the same sum gives
/// `C ⊙ k` (`k_ij = (cos(φ_i − φ_j) − 1)/4`) for the footprint-width gradient.
#[derive(Debug, Clone)]
struct Fourier {
    /// `d_k` per block (length: the order used + 1, at most `K_MAX + 1`).
    d: [Vec<f64>; 4],
    /// `∂d_k/∂κ` per block.
    dd: [Vec<f64>; 4],
    /// `P_ab`.
    p: [f64; 4],
    /// Table width `kt = max order + 1`; `cos[i·kt + k] = cos(k φ_i)`, likewise `sin`.
    kt: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

/// `e^{−κ} I_k(κ)` for `k = 0..len` by the power series (all terms positive, so accurate to
/// rounding; used for κ ≤ 30 only).
fn scaled_bessel_i(kappa: f64, len: usize) -> Vec<f64> {
    let half = 0.5 * kappa;
    let mut out = Vec::with_capacity(len);
    let mut lead = (-kappa).exp(); // e^{−κ} (κ/2)^k / k!
    for k in 0..len {
        if k > 0 {
            lead *= half / k as f64;
        }
        let (mut term, mut sum) = (lead, lead);
        let mut m = 0usize;
        while m <= 400 && (term > 1e-17 * sum || (m as f64) < half) {
            m += 1;
            term *= half * half / (m as f64 * (m + k) as f64);
            sum += term;
        }
        out.push(sum);
    }
    out
}

impl Fourier {
    /// The expansion for θ's P and w on `net`'s orientations, or None when some footprint is
    /// too narrow for [`K_MAX`] orders.
    fn new(net: &RateNetwork, theta: &[f64; N_THETA]) -> Option<Self> {
        let mut d: [Vec<f64>; 4] = Default::default();
        let mut dd: [Vec<f64>; 4] = Default::default();
        let mut kt = 1;
        for b in 0..4 {
            let w = theta[W + b];
            let kappa = if w.is_infinite() { 0.0 } else { 0.25 / (w * w) };
            if kappa.is_nan() || kappa > 30.0 {
                return None;
            }
            let e = scaled_bessel_i(kappa, K_MAX + 2);
            let k = (0..=K_MAX).find(|&k| e[k] < FOURIER_TOL && e[k + 1] < FOURIER_TOL)?;
            kt = kt.max(k + 1);
            d[b] = (0..=k)
                .map(|j| if j == 0 { e[0] } else { 2.0 * e[j] })
                .collect();
            // d/dκ (e^{−κ} I_k) = e^{−κ}((I_{k−1} + I_{k+1})/2 − I_k), I_0' = I_1.
            dd[b] = (0..=k)
                .map(|j| {
                    if j == 0 {
                        e[1] - e[0]
                    } else {
                        2.0 * (0.5 * (e[j - 1] + e[j + 1]) - e[j])
                    }
                })
                .collect();
        }
        let n = net.n;
        let (mut cos, mut sin) = (vec![0.0; n * kt], vec![0.0; n * kt]);
        for (i, t) in net.theta_pref.iter().enumerate() {
            for k in 0..kt {
                let (s, c) = (2.0 * k as f64 * t).sin_cos();
                cos[i * kt + k] = c;
                sin[i * kt + k] = s;
            }
        }
        Some(Self {
            d,
            dd,
            p: std::array::from_fn(|b| theta[P + b]),
            kt,
            cos,
            sin,
        })
    }

    /// `Σ_j (cos kφ_j, sin kφ_j)·z_j` over `range`, for `k < kt`.
    #[inline]
    fn moments(
        &self,
        range: std::ops::Range<usize>,
        z: impl Fn(usize) -> f64,
    ) -> ([f64; K_MAX + 1], [f64; K_MAX + 1]) {
        let kt = self.kt;
        let (mut sc, mut ss) = ([0.0f64; K_MAX + 1], [0.0f64; K_MAX + 1]);
        for j in range {
            let zj = z(j);
            let (cj, sj) = (
                &self.cos[j * kt..(j + 1) * kt],
                &self.sin[j * kt..(j + 1) * kt],
            );
            for k in 0..kt {
                sc[k] += cj[k] * zj;
                ss[k] += sj[k] * zj;
            }
        }
        (sc, ss)
    }

    /// `Σ_k coef_k (cos kφ_i S^c_k + sin kφ_i S^s_k)`.
    #[inline(always)]
    fn evaluate(&self, i: usize, coef: &[f64], sc: &[f64], ss: &[f64]) -> f64 {
        let kt = self.kt;
        let (ci, si) = (&self.cos[i * kt..], &self.sin[i * kt..]);
        let mut acc = 0.0;
        for k in 0..coef.len() {
            acc += coef[k] * (ci[k] * sc[k] + si[k] * ss[k]);
        }
        acc
    }
}

/// Per-row sums over the E columns and the I columns.
#[derive(Debug, Clone, Copy, Default)]
struct RowSums {
    e: f64,
    i: f64,
}

/// `Σ_j x_j` over a slice pair with four independent accumulators (a serial sum is bound by
/// the add latency).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let mut s = [0.0f64; 4];
    for (aq, bq) in ac.zip(bc) {
        for l in 0..4 {
            s[l] += aq[l] * bq[l];
        }
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in ar.iter().zip(br) {
        t += x * y;
    }
    t
}

/// `Σ_j a_j² x_j` with four accumulators.
#[inline(always)]
fn dot_sq(a: &[f64], b: &[f64]) -> f64 {
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let mut s = [0.0f64; 4];
    for (aq, bq) in ac.zip(bc) {
        for l in 0..4 {
            s[l] += aq[l] * aq[l] * bq[l];
        }
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in ar.iter().zip(br) {
        t += x * x * y;
    }
    t
}

impl<'a> FactoredWeights<'a> {
    /// The factored weights of `net` at θ: borrows an explicit `C`, builds the mean-field `C`
    /// (one exponential per entry; `cos 2(θ_i − θ_j)` by the angle-addition formula).
    pub fn new(net: &'a RateNetwork, theta: &[f64; N_THETA]) -> Self {
        let n = net.n;
        let mag: [f64; 4] = std::array::from_fn(|k| theta[LOG_J + k].exp());
        let (c, square) = match &net.connectivity {
            Connectivity::Explicit(c) => (Cow::Borrowed(c.as_slice()), true),
            Connectivity::MeanField if let Some(f) = Fourier::new(net, theta) => {
                return Self {
                    n,
                    n_e: net.n_e,
                    c: Cow::Borrowed(&[]),
                    square: false,
                    mag,
                    fourier: Some(Box::new(f)),
                };
            }
            Connectivity::MeanField => {
                let cs: Vec<(f64, f64)> = net
                    .theta_pref
                    .iter()
                    .map(|t| ((2.0 * t).cos(), (2.0 * t).sin()))
                    .collect();
                let mut c = vec![0.0; n * n];
                for (i, row) in c.chunks_exact_mut(n).enumerate() {
                    let (ci, si) = cs[i];
                    let a = cell_type(i, net.n_e);
                    for (j, v) in row.iter_mut().enumerate() {
                        let b = 2 * a + cell_type(j, net.n_e);
                        let (p, w) = (theta[P + b], theta[W + b]);
                        let k = (ci * cs[j].0 + si * cs[j].1 - 1.0) / 4.0;
                        *v = p * (k / (w * w)).exp();
                    }
                    row[i] = 0.0;
                }
                (Cow::Owned(c), false)
            }
        };
        Self {
            n,
            n_e: net.n_e,
            c,
            square,
            mag,
            fourier: None,
        }
    }

    /// `C x` split into E and I columns for every row, from the separable expansion:
    /// calls `sink(i, u)` with `u = ((C x)^E_i, (C x)^I_i)`.
    fn fourier_rows(&self, f: &Fourier, x: &[f64], mut sink: impl FnMut(usize, RowSums)) {
        let (n, n_e) = (self.n, self.n_e);
        let me = f.moments(0..n_e, |j| x[j]);
        let mi = f.moments(n_e..n, |j| x[j]);
        for i in 0..n {
            let a = 2 * cell_type(i, n_e);
            let mut u = [0.0f64; 2];
            for (b, (sc, ss)) in [&me, &mi].into_iter().enumerate() {
                let blk = a + b;
                let mut v = f.evaluate(i, &f.d[blk], sc, ss);
                if a / 2 == b {
                    v -= x[i];
                }
                u[b] = f.p[blk] * v;
            }
            sink(i, RowSums { e: u[0], i: u[1] });
        }
    }

    #[inline(always)]
    fn row(&self, i: usize) -> &[f64] {
        &self.c[i * self.n..(i + 1) * self.n]
    }

    /// Row `i` of `C x` and of `C^(2) x`, each split into E and I columns.
    #[inline(always)]
    fn row_sums(&self, i: usize, x: &[f64]) -> (RowSums, RowSums) {
        let (ce, ci) = self.row(i).split_at(self.n_e);
        let (xe, xi) = x.split_at(self.n_e);
        let u = RowSums {
            e: dot(ce, xe),
            i: dot(ci, xi),
        };
        let v = if self.square {
            RowSums {
                e: dot_sq(ce, xe),
                i: dot_sq(ci, xi),
            }
        } else {
            u
        };
        (u, v)
    }

    /// `(W x)_i` and `(W2 x)_i` from the split row sums.
    #[inline(always)]
    fn combine(&self, i: usize, u: RowSums, v: RowSums) -> (f64, f64) {
        let a = 2 * cell_type(i, self.n_e);
        let (me, mi) = (self.mag[a], self.mag[a + 1]);
        (me * u.e - mi * u.i, me * me * v.e + mi * mi * v.i)
    }

    /// `mu = tau(W r + h)` and `sigma = sqrt(tau(W2 r + xi2))` into the given buffers.
    pub fn drive_into(&self, net: &RateNetwork, r: &[f64], mu: &mut [f64], sigma: &mut [f64]) {
        if let Some(f) = &self.fourier {
            self.fourier_rows(f, r, |i, u| {
                let (wr, w2r) = self.combine(i, u, u);
                mu[i] = net.tau[i] * (wr + net.h[i]);
                sigma[i] = (net.tau[i] * (w2r + net.xi2[i])).max(0.0).sqrt();
            });
            return;
        }
        for i in 0..self.n {
            let (u, v) = self.row_sums(i, r);
            let (wr, w2r) = self.combine(i, u, v);
            mu[i] = net.tau[i] * (wr + net.h[i]);
            // Negative rates (only in trial Newton steps) could make the variance negative.
            sigma[i] = (net.tau[i] * (w2r + net.xi2[i])).max(0.0).sqrt();
        }
    }

    /// `y = x − α⊙(W x) − β⊙(W2 x)`: the Newton matrix `I − ∂F/∂r` applied to x.
    pub fn apply(&self, alpha: &[f64], beta: &[f64], x: &[f64], y: &mut [f64]) {
        if let Some(f) = &self.fourier {
            self.fourier_rows(f, x, |i, u| {
                let (wx, w2x) = self.combine(i, u, u);
                y[i] = x[i] - alpha[i] * wx - beta[i] * w2x;
            });
            return;
        }
        for i in 0..self.n {
            let (u, v) = self.row_sums(i, x);
            let (wx, w2x) = self.combine(i, u, v);
            y[i] = x[i] - alpha[i] * wx - beta[i] * w2x;
        }
    }

    /// `z = y − Wᵀ(α⊙y) − W2ᵀ(β⊙y)`: the transposed Newton matrix applied to y (one pass over
    /// `C` by rows, an axpy per row).
    pub fn apply_transpose(&self, alpha: &[f64], beta: &[f64], y: &[f64], z: &mut [f64]) {
        z.copy_from_slice(y);
        let n_e = self.n_e;
        if let Some(f) = &self.fourier {
            // z_j −= Σ_i C_ij ζ^{b(j)}_i with ζ^b_i = s_b m_ab α_i y_i + m_ab² β_i y_i (a = type i).
            let n = self.n;
            let zeta = |i: usize, b: usize| {
                let blk = 2 * cell_type(i, n_e) + b;
                let m = self.mag[blk];
                let s = if b == 0 { 1.0 } else { -1.0 };
                (s * m * alpha[i] + m * m * beta[i]) * y[i]
            };
            let rows = [0..n_e, n_e..n];
            for b in 0..2 {
                for (a, ra) in rows.iter().enumerate() {
                    let blk = 2 * a + b;
                    let (sc, ss) = f.moments(ra.clone(), |i| zeta(i, b));
                    for j in rows[b].clone() {
                        let mut v = f.evaluate(j, &f.d[blk], &sc, &ss);
                        if a == b {
                            v -= zeta(j, b);
                        }
                        z[j] -= f.p[blk] * v;
                    }
                }
            }
            return;
        }
        for i in 0..self.n {
            let a = 2 * cell_type(i, n_e);
            let (me, mi) = (self.mag[a], self.mag[a + 1]);
            let (p, q) = (alpha[i] * y[i], beta[i] * y[i]);
            let (ce, ci) = self.row(i).split_at(n_e);
            let (ze, zi) = z.split_at_mut(n_e);
            // Coefficients of C_ij and C_ij² for E columns (sign +) and I columns (sign −).
            let (le, li) = (me * p, -mi * p);
            let (qe, qi) = (me * me * q, mi * mi * q);
            if self.square {
                for (zj, cj) in ze.iter_mut().zip(ce) {
                    *zj -= cj * (le + qe * cj);
                }
                for (zj, cj) in zi.iter_mut().zip(ci) {
                    *zj -= cj * (li + qi * cj);
                }
            } else {
                let (se, si) = (le + qe, li + qi);
                for (zj, cj) in ze.iter_mut().zip(ce) {
                    *zj -= se * cj;
                }
                for (zj, cj) in zi.iter_mut().zip(ci) {
                    *zj -= si * cj;
                }
            }
        }
    }

    /// The dense Newton matrix `I − diag(α) W − diag(β) W2` (the fallback when GMRES fails).
    pub fn dense_newton_matrix(&self, alpha: &[f64], beta: &[f64]) -> Mat<f64> {
        let n = self.n;
        Mat::from_fn(n, n, |i, j| {
            let blk = 2 * cell_type(i, self.n_e) + cell_type(j, self.n_e);
            let m = self.mag[blk];
            let s = if j < self.n_e { 1.0 } else { -1.0 };
            let c = match &self.fourier {
                // The fallback only: entries summed from the expansion.
                Some(f) if i != j => {
                    let kt = f.kt;
                    let sum: f64 = (0..f.d[blk].len())
                        .map(|k| {
                            f.d[blk][k]
                                * (f.cos[i * kt + k] * f.cos[j * kt + k]
                                    + f.sin[i * kt + k] * f.sin[j * kt + k])
                        })
                        .sum();
                    sum * f.p[blk]
                }
                Some(_) => 0.0,
                None => self.c[i * n + j],
            };
            let c2 = if self.square { c * c } else { c };
            let d = f64::from(u8::from(i == j));
            d - alpha[i] * s * m * c - beta[i] * m * m * c2
        })
    }

    /// `Σ_i λ_i ∂F_i/∂θ` at rates `r`, given `α_i = λ_i·Phi_mu,i·tau_i` and
    /// `β_i = λ_i·Phi_sigma,i·tau_i/(2 sigma_i)` (see `RateNetwork::theta_vjp`): one pass over
    /// `C` (two for the mean field's footprint widths).
    pub fn theta_vjp(
        &self,
        net: &RateNetwork,
        theta: &[f64; N_THETA],
        r: &[f64],
        alpha: &[f64],
        beta: &[f64],
    ) -> [f64; N_THETA] {
        let n_e = self.n_e;
        let mean_field = net.connectivity == Connectivity::MeanField;
        if let Some(f) = &self.fourier {
            return self.theta_vjp_fourier(f, theta, r, alpha, beta);
        }
        let cs: Vec<(f64, f64)> = if mean_field {
            net.theta_pref
                .iter()
                .map(|t| ((2.0 * t).cos(), (2.0 * t).sin()))
                .collect()
        } else {
            Vec::new()
        };
        let mut g = [0.0; N_THETA];
        // Per block: Σ_i (α_i s m + β_i m²)·(C r)^b_i (for P) and the same with C ⊙ k (for w).
        let mut dp = [0.0f64; 4];
        let mut dw = [0.0f64; 4];
        for i in 0..self.n {
            let (u, v) = self.row_sums(i, r);
            let a = 2 * cell_type(i, n_e);
            for (b, (ub, vb, s)) in [(u.e, v.e, 1.0), (u.i, v.i, -1.0)].into_iter().enumerate() {
                let blk = a + b;
                let m = self.mag[blk];
                // W ∝ e^ℓ and W2 ∝ e^{2ℓ}.
                g[LOG_J + blk] += alpha[i] * s * m * ub + 2.0 * beta[i] * m * m * vb;
                if mean_field {
                    let d = alpha[i] * s * m + beta[i] * m * m;
                    dp[blk] += d * ub;
                    let (ci, si) = cs[i];
                    let cols = if b == 0 { 0..n_e } else { n_e..self.n };
                    let row = &self.row(i)[cols.clone()];
                    let (rc, csc) = (&r[cols.clone()], &cs[cols]);
                    let mut acc = [0.0f64; 2];
                    for (k, ((cj, rj), (cc, sc))) in row.iter().zip(rc).zip(csc).enumerate() {
                        let kij = (ci * cc + si * sc - 1.0) / 4.0;
                        acc[k & 1] += cj * kij * rj;
                    }
                    dw[blk] += d * (acc[0] + acc[1]);
                }
            }
        }
        if mean_field {
            for blk in 0..4 {
                let (p, w) = (theta[P + blk], theta[W + blk]);
                // C = P·f and ∂f/∂w = −2 k f / w³.
                g[P + blk] = dp[blk] / p;
                g[W + blk] = if w.is_infinite() {
                    0.0
                } else {
                    -2.0 * dw[blk] / (w * w * w)
                };
            }
        }
        g
    }
}

impl FactoredWeights<'_> {
    /// [`Self::theta_vjp`] on the separable expansion: `C r` and `(C ⊙ k) r` in O(N·K).
    fn theta_vjp_fourier(
        &self,
        f: &Fourier,
        theta: &[f64; N_THETA],
        r: &[f64],
        alpha: &[f64],
        beta: &[f64],
    ) -> [f64; N_THETA] {
        let (n, n_e) = (self.n, self.n_e);
        let me = f.moments(0..n_e, |j| r[j]);
        let mi = f.moments(n_e..n, |j| r[j]);
        let mut g = [0.0; N_THETA];
        let (mut dp, mut dw) = ([0.0f64; 4], [0.0f64; 4]);
        for i in 0..n {
            let a = 2 * cell_type(i, n_e);
            for (b, (sc, ss)) in [&me, &mi].into_iter().enumerate() {
                let blk = a + b;
                let mut cr = f.evaluate(i, &f.d[blk], sc, ss);
                if a / 2 == b {
                    cr -= r[i];
                }
                cr *= f.p[blk];
                // (C ⊙ k) r = (P/4) ∂/∂κ of the expansion (k_ii = 0: no diagonal term).
                let ckr = 0.25 * f.p[blk] * f.evaluate(i, &f.dd[blk], sc, ss);
                let m = self.mag[blk];
                let s = if b == 0 { 1.0 } else { -1.0 };
                g[LOG_J + blk] += alpha[i] * s * m * cr + 2.0 * beta[i] * m * m * cr;
                let d = alpha[i] * s * m + beta[i] * m * m;
                dp[blk] += d * cr;
                dw[blk] += d * ckr;
            }
        }
        for blk in 0..4 {
            let (p, w) = (theta[P + blk], theta[W + blk]);
            g[P + blk] = dp[blk] / p;
            g[W + blk] = if w.is_infinite() {
                0.0
            } else {
                -2.0 * dw[blk] / (w * w * w)
            };
        }
        g
    }
}

/// Phi evaluations and sigmas at rates r, into reused buffers.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Input means (mV).
    pub mu: Vec<f64>,
    /// Input SDs (mV).
    pub sigma: Vec<f64>,
    /// Phi and its derivatives.
    pub evals: Vec<PhiEval>,
}

impl Workspace {
    /// Buffers for N neurons.
    pub fn new(n: usize) -> Self {
        Self {
            mu: vec![0.0; n],
            sigma: vec![0.0; n],
            evals: vec![
                PhiEval {
                    phi: 0.0,
                    dmu: 0.0,
                    dsigma: 0.0,
                    dtau: 0.0,
                };
                n
            ],
        }
    }

    /// Evaluates `F(r)` with its derivatives.
    pub fn transfer(&mut self, net: &RateNetwork, fw: &FactoredWeights<'_>, r: &[f64]) {
        fw.drive_into(net, r, &mut self.mu, &mut self.sigma);
        for i in 0..net.n {
            self.evals[i] = phi_with_grad(self.mu[i], self.sigma[i], net.tau[i], &net.lif);
        }
    }

    /// Chain coefficients `α`, `β` (optionally times λ) at the last evaluation.
    pub fn chain(
        &self,
        net: &RateNetwork,
        lambda: Option<&[f64]>,
        alpha: &mut [f64],
        beta: &mut [f64],
    ) {
        for i in 0..net.n {
            let l = lambda.map_or(1.0, |l| l[i]);
            alpha[i] = l * self.evals[i].dmu * net.tau[i];
            beta[i] = l * self.evals[i].dsigma * net.tau[i] / (2.0 * self.sigma[i]);
        }
    }
}

/// Restarted GMRES for `A x = b` with the operator `apply(x, y): y = A x`, from `x = 0`.
/// Returns `Some(x)` when the true residual is at most `rtol·‖b‖`, else `None` (after
/// `restarts` cycles of at most `m` products each, or on non-finite values).
pub fn gmres(
    n: usize,
    mut apply: impl FnMut(&[f64], &mut [f64]),
    b: &[f64],
    rtol: f64,
    m: usize,
    restarts: usize,
) -> Option<Vec<f64>> {
    let bnorm = dot(b, b).sqrt();
    let mut x = vec![0.0; n];
    if bnorm == 0.0 {
        return Some(x);
    }
    if !bnorm.is_finite() {
        return None;
    }
    let target = rtol * bnorm;
    // Krylov basis (m + 1 vectors), Hessenberg (column-major (m+1)×m), Givens rotations.
    let mut v = vec![0.0; (m + 1) * n];
    let mut h = vec![0.0; (m + 1) * m];
    let (mut cs, mut sn) = (vec![0.0; m], vec![0.0; m]);
    let mut e = vec![0.0; m + 1];
    let mut res = b.to_vec();
    let mut ax = vec![0.0; n];
    let mut rnorm = bnorm;
    for _ in 0..restarts {
        let beta = rnorm;
        for (vi, ri) in v[..n].iter_mut().zip(&res) {
            *vi = ri / beta;
        }
        e.iter_mut().for_each(|x| *x = 0.0);
        e[0] = beta;
        let mut k_done = 0;
        for k in 0..m {
            let (done, rest) = v.split_at_mut((k + 1) * n);
            let w = &mut rest[..n];
            apply(&done[k * n..], w);
            // Modified Gram–Schmidt, twice (the second pass restores orthogonality lost when
            // the new vector is nearly in the span, which happens once GMRES has converged).
            let hk = &mut h[k * (m + 1)..(k + 1) * (m + 1)];
            hk.iter_mut().for_each(|x| *x = 0.0);
            for _pass in 0..2 {
                for j in 0..=k {
                    let vj = &done[j * n..(j + 1) * n];
                    let c = dot(vj, w);
                    hk[j] += c;
                    for (wi, vi) in w.iter_mut().zip(vj) {
                        *wi -= c * vi;
                    }
                }
            }
            let wn = dot(w, w).sqrt();
            hk[k + 1] = wn;
            if !wn.is_finite() {
                return None;
            }
            if wn > 0.0 {
                w.iter_mut().for_each(|x| *x /= wn);
            }
            for j in 0..k {
                let t = cs[j] * hk[j] + sn[j] * hk[j + 1];
                hk[j + 1] = -sn[j] * hk[j] + cs[j] * hk[j + 1];
                hk[j] = t;
            }
            let d = hk[k].hypot(hk[k + 1]);
            if d == 0.0 {
                return None;
            }
            cs[k] = hk[k] / d;
            sn[k] = hk[k + 1] / d;
            hk[k] = d;
            hk[k + 1] = 0.0;
            e[k + 1] = -sn[k] * e[k];
            e[k] *= cs[k];
            k_done = k + 1;
            if e[k + 1].abs() <= 0.1 * target || wn == 0.0 {
                break;
            }
        }
        // Back substitution for the least-squares coefficients, then x += V y.
        let mut y = vec![0.0; k_done];
        for j in (0..k_done).rev() {
            let mut s = e[j];
            for l in j + 1..k_done {
                s -= h[l * (m + 1) + j] * y[l];
            }
            y[j] = s / h[j * (m + 1) + j];
        }
        for (j, yj) in y.iter().enumerate() {
            for (xi, vi) in x.iter_mut().zip(&v[j * n..(j + 1) * n]) {
                *xi += yj * vi;
            }
        }
        // The true residual decides (the recurrence's estimate drifts near machine precision).
        apply(&x, &mut ax);
        for ((ri, bi), ai) in res.iter_mut().zip(b).zip(&ax) {
            *ri = bi - ai;
        }
        rnorm = dot(&res, &res).sqrt();
        if !rnorm.is_finite() {
            return None;
        }
        if rnorm <= target {
            return Some(x);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::{seed_network, seed_theta};
    use crate::network::{NetworkSpec, theta_from};
    use crate::phi::LifConstants;

    fn mean_field(n: usize) -> (RateNetwork, [f64; N_THETA]) {
        let spec = NetworkSpec {
            n,
            tau: [0.01, 0.008],
            t_relax: [0.01, 0.005],
            h: 1500.0,
            xi2: 900.0,
        };
        let net =
            RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField).unwrap();
        let s = 20.0 / n as f64;
        let theta = theta_from(
            [1.2 * s, 0.9 * s, 1.1 * s, 0.8 * s],
            [0.5, 0.6, 0.7, 0.4],
            [0.6, 0.9, 1.3, 2.0],
        );
        (net, theta)
    }

    /// A weighted explicit C (C² ≠ C) exercises the squared path.
    fn weighted_explicit() -> (RateNetwork, [f64; N_THETA]) {
        let mut net = seed_network();
        if let Connectivity::Explicit(c) = &mut net.connectivity {
            for (k, v) in c.iter_mut().enumerate() {
                *v *= 0.5 + (k % 7) as f64 / 7.0;
            }
        }
        (net, seed_theta())
    }

    /// The factored drive, Jacobian products and θ-VJP equal the dense ones.
    #[test]
    fn factored_products_match_dense() {
        let (narrow, mut narrow_theta) = mean_field(30);
        // w = 0.05 rad needs more than K_MAX orders: the dense mean-field C.
        narrow_theta[W] = 0.05;
        assert!(
            FactoredWeights::new(&narrow, &narrow_theta)
                .fourier
                .is_none()
        );
        let (wide, mut wide_theta) = mean_field(26);
        wide_theta[W + 3] = f64::INFINITY;
        let (mf, mf_theta) = mean_field(37);
        assert!(FactoredWeights::new(&mf, &mf_theta).fourier.is_some());
        for (net, theta) in [
            (mf, mf_theta),
            (narrow, narrow_theta),
            (wide, wide_theta),
            weighted_explicit(),
            (seed_network(), seed_theta()),
        ] {
            let n = net.n;
            let r: Vec<f64> = (0..n).map(|i| 2.0 + 0.37 * i as f64).collect();
            let dense = net.weights(&theta);
            let fw = FactoredWeights::new(&net, &theta);
            let (mu, sigma) = net.drive(&dense, &r);
            let mut ws = Workspace::new(n);
            ws.transfer(&net, &fw, &r);
            for i in 0..n {
                assert!(
                    (ws.mu[i] - mu[i]).abs() <= 1e-12 * mu[i].abs().max(1.0),
                    "mu[{i}]"
                );
                assert!(
                    (ws.sigma[i] - sigma[i]).abs() <= 1e-12 * sigma[i],
                    "sigma[{i}]"
                );
            }
            let evals = net.transfer(&dense, &r);
            let jac = net.jacobian(&dense, &evals, &sigma);
            let (mut alpha, mut beta) = (vec![0.0; n], vec![0.0; n]);
            ws.chain(&net, None, &mut alpha, &mut beta);
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let (mut y, mut z) = (vec![0.0; n], vec![0.0; n]);
            fw.apply(&alpha, &beta, &x, &mut y);
            fw.apply_transpose(&alpha, &beta, &x, &mut z);
            let a = fw.dense_newton_matrix(&alpha, &beta);
            for i in 0..n {
                let (mut ay, mut az) = (x[i], x[i]);
                for j in 0..n {
                    ay -= jac[(i, j)] * x[j];
                    az -= jac[(j, i)] * x[j];
                    let exact = f64::from(u8::from(i == j)) - jac[(i, j)];
                    assert!((a[(i, j)] - exact).abs() <= 1e-13 * exact.abs().max(1.0));
                }
                assert!((y[i] - ay).abs() <= 1e-12 * ay.abs().max(1.0), "A x [{i}]");
                assert!((z[i] - az).abs() <= 1e-12 * az.abs().max(1.0), "Aᵀ x [{i}]");
            }
            let lambda: Vec<f64> = (0..n).map(|i| 1.0 - 0.05 * i as f64).collect();
            ws.chain(&net, Some(&lambda), &mut alpha, &mut beta);
            let g = fw.theta_vjp(&net, &theta, &r, &alpha, &beta);
            let gd = net.theta_vjp(&theta, &r, &lambda);
            let scale = gd.iter().map(|v| v.abs()).fold(0.0, f64::max);
            for k in 0..N_THETA {
                assert!(
                    (g[k] - gd[k]).abs() <= 1e-12 * scale,
                    "θ[{k}]: {} vs {}",
                    g[k],
                    gd[k]
                );
            }
        }
    }

    /// GMRES solves a nonsymmetric system to its tolerance and reports failure when the
    /// iteration budget cannot reach it.
    #[test]
    fn gmres_solves_and_reports_failure() {
        let n = 50;
        let a = Mat::from_fn(n, n, |i, j| {
            f64::from(u8::from(i == j)) * (2.0 + i as f64 / n as f64)
                + 0.3 * ((i * 7 + j * 3) as f64).sin() / n as f64
        });
        let apply = |x: &[f64], y: &mut [f64]| {
            for i in 0..n {
                y[i] = (0..n).map(|j| a[(i, j)] * x[j]).sum();
            }
        };
        let b: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
        let x = gmres(n, apply, &b, 1e-13, 60, 2).unwrap();
        let mut ax = vec![0.0; n];
        apply(&x, &mut ax);
        let res = (0..n).map(|i| (ax[i] - b[i]).powi(2)).sum::<f64>().sqrt();
        let bn = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(res <= 1e-13 * bn, "residual {res:e}");
        assert!(gmres(n, apply, &b, 1e-13, 2, 1).is_none());
    }
}
