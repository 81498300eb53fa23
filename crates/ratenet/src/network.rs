//! The AI-state rate network of seed 000: N LIF neurons (first 80 % excitatory) whose rates
//! satisfy `r = F(r) = Phi(mu(r), sigma(r))` with
//!
//! ```text
//! mu_i      = tau_i·(Σ_j W_ij r_j + h_i)          (mV)
//! sigma_i²  = tau_i·(Σ_j W2_ij r_j + xi2_i)        (mV²)
//! W_ij  = s_b·J_ab·C_ij,   W2_ij = J_ab²·E[C_ij²]     a = type(i) (post), b = type(j) (pre)
//! ```
//!
//! with signs `s_E = +1`, `s_I = −1` by presynaptic type and magnitudes `J_ab = exp(ℓ_ab)`
//! (the source's parameterization: log-magnitudes with fixed signs, so Dale's law holds under
//! any gradient step). Connectivity `C` is
//! * explicit (`Explicit`: a given 0/1 or weighted matrix, `E[C²] = C²`, e.g. seed000_C.csv), or
//! * a sample of `Bernoulli(P_ab·footprint(θ_i − θ_j; w_ab))` ([`sample_connectivity`]), or
//! * its mean field (`MeanField`: `C_ij = P_ab·footprint(Δθ; w_ab)`, `E[C²] = E[C]` for a
//!   Bernoulli variable), so that P and w receive gradients.
//!
//! Every neuron has a preferred orientation `θ_i = π·k/N_type` (k its index within its type) and
//! `footprint(Δθ; w) = exp((cos 2Δθ − 1)/(4w²))`: a circular (period π) Gaussian of width w
//! radians (`≈ exp(−Δθ²/(2w²))` for small Δθ; → 1 as w → ∞). No autapses (`C_ii = 0`).
//!
//! Parameters are a flat vector θ of [`N_THETA`] = 12 numbers, 2×2 blocks in row-major order
//! (EE, EI, IE, II; row = postsynaptic): `[ℓ (log|J|), P, w]`.

use crate::phi::{LifConstants, PhiError, PhiEval, phi_with_grad};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;
use thiserror::Error;

/// Length of the parameter vector θ = [log|J| (4), P (4), w (4)].
pub const N_THETA: usize = 12;
/// Offset of log|J| in θ.
pub const LOG_J: usize = 0;
/// Offset of P in θ.
pub const P: usize = 4;
/// Offset of w in θ.
pub const W: usize = 8;
/// Offset in θ of a parameter block named as in experiment files: `J` (log|J|), `P` or `w`.
pub fn theta_block(name: &str) -> Option<usize> {
    match name {
        "J" => Some(LOG_J),
        "P" => Some(P),
        "w" => Some(W),
        _ => None,
    }
}

/// The signed couplings `J_ab = ±exp(θ[log|J|]_ab)` as a 2×2 block matrix `[[J_EE, J_EI],
/// [J_IE, J_II]]`: excitatory presynaptic columns positive, inhibitory ones negative.
pub fn signed_j(theta: &[f64; N_THETA]) -> [[f64; 2]; 2] {
    let j = |k: usize, sign: f64| sign * theta[LOG_J + k].exp();
    [[j(0, 1.0), j(1, -1.0)], [j(2, 1.0), j(3, -1.0)]]
}

/// Names of the 12 entries of θ, for files and logs.
pub const THETA_NAMES: [&str; N_THETA] = [
    "log_J_EE", "log_J_EI", "log_J_IE", "log_J_II", "P_EE", "P_EI", "P_IE", "P_II", "w_EE", "w_EI",
    "w_IE", "w_II",
];

/// Invalid network definitions or parameters.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NetworkError {
    /// Too few neurons for both cell types.
    #[error("a network needs at least 2 neurons (one E, one I); got N = {0}")]
    TooSmall(usize),
    /// A per-neuron vector or matrix has the wrong length.
    #[error("`{name}` has length {got}, expected {expected}")]
    Length {
        /// Field name.
        name: &'static str,
        /// Length found.
        got: usize,
        /// Length expected.
        expected: usize,
    },
    /// A value is out of its domain.
    #[error("`{name}` = {value} is invalid: {why}")]
    Domain {
        /// Field name.
        name: String,
        /// The offending value.
        value: f64,
        /// The constraint.
        why: &'static str,
    },
    /// LIF constants are invalid.
    #[error(transparent)]
    Lif(#[from] PhiError),
}

/// How the connectivity matrix is given.
#[derive(Debug, Clone, PartialEq)]
pub enum Connectivity {
    /// A fixed matrix `C` (N×N row-major, row = post); P and w do not enter.
    Explicit(Vec<f64>),
    /// The mean field `E[C_ij] = P_ab·footprint(θ_i − θ_j; w_ab)`, `E[C²] = E[C]`.
    MeanField,
}

/// Cell type of neuron `i` in a network with `n_e` excitatory neurons: 0 = E, 1 = I.
#[inline]
pub fn cell_type(i: usize, n_e: usize) -> usize {
    usize::from(i >= n_e)
}

/// Number of excitatory neurons, `floor(0.8 N)` as in the seed.
pub fn excitatory_count(n: usize) -> usize {
    4 * n / 5
}

/// Preferred orientations `θ_i = π·k/N_type` (rad), E and I each tiling [0, π).
pub fn orientations(n: usize, n_e: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if i < n_e {
                PI * i as f64 / n_e as f64
            } else {
                PI * (i - n_e) as f64 / (n - n_e) as f64
            }
        })
        .collect()
}

/// `footprint(Δθ; w) = exp((cos 2Δθ − 1)/(4w²))` and its derivative with respect to w.
#[inline]
pub fn footprint(dtheta: f64, w: f64) -> (f64, f64) {
    if w.is_infinite() {
        return (1.0, 0.0);
    }
    let k = ((2.0 * dtheta).cos() - 1.0) / 4.0;
    let f = (k / (w * w)).exp();
    (f, -2.0 * k * f / (w * w * w))
}

/// Samples `C_ij ~ Bernoulli(P_ab·footprint(θ_i − θ_j; w_ab))`, `C_ii = 0`, from a seeded
/// ChaCha8 stream (row-major, row = post). `p` and `w` are 2×2 row-major.
pub fn sample_connectivity(
    n: usize,
    p: [f64; 4],
    w: [f64; 4],
    seed: u64,
) -> Result<Vec<f64>, NetworkError> {
    check_p_w(&p, &w)?;
    let n_e = excitatory_count(n);
    let theta = orientations(n, n_e);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let blk = 2 * cell_type(i, n_e) + cell_type(j, n_e);
            let prob = p[blk] * footprint(theta[i] - theta[j], w[blk]).0;
            let u: f64 = rng.random();
            if i != j && u < prob {
                c[i * n + j] = 1.0;
            }
        }
    }
    Ok(c)
}

fn check_p_w(p: &[f64], w: &[f64]) -> Result<(), NetworkError> {
    for (k, &v) in p.iter().enumerate() {
        if !(v > 0.0 && v <= 1.0) {
            let why = "connection probabilities must lie in (0, 1]";
            return Err(NetworkError::Domain {
                name: format!("P[{k}]"),
                value: v,
                why,
            });
        }
    }
    for (k, &v) in w.iter().enumerate() {
        if v.is_nan() || v <= 0.0 {
            let why = "footprint widths must be > 0 (inf = flat)";
            return Err(NetworkError::Domain {
                name: format!("w[{k}]"),
                value: v,
                why,
            });
        }
    }
    Ok(())
}

/// Weight matrices of one parameter set (N×N row-major): `w` enters mu, `w2` enters sigma².
#[derive(Debug, Clone)]
pub struct Weights {
    /// Signed mean weights `W_ij` (mV·s).
    pub w: Vec<f64>,
    /// Variance weights `W2_ij = J²·E[C²]` (mV²·s).
    pub w2: Vec<f64>,
}

/// A rate network: sizes, per-neuron constants and connectivity (parameters θ are separate).
#[derive(Debug, Clone, PartialEq)]
pub struct RateNetwork {
    /// Number of neurons N.
    pub n: usize,
    /// Number of excitatory neurons (the first `n_e`).
    pub n_e: usize,
    /// Membrane time constants `tau_i` (s).
    pub tau: Vec<f64>,
    /// Relaxation constants `T_i` (s) of the auxiliary dynamics `T dr/dt = −r + F(r)`.
    pub t_relax: Vec<f64>,
    /// External mean drive `h_i` (mV/s; enters as `tau·h`).
    pub h: Vec<f64>,
    /// External input variance `xi2_i` (mV²/s; enters as `tau·xi2`).
    pub xi2: Vec<f64>,
    /// LIF threshold, reset and refractory period.
    pub lif: LifConstants,
    /// Connectivity.
    pub connectivity: Connectivity,
    /// Preferred orientations (rad).
    pub theta_pref: Vec<f64>,
}

/// Per-type constants used to build a [`RateNetwork`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkSpec {
    /// Number of neurons.
    pub n: usize,
    /// Membrane time constants (E, I) (s).
    pub tau: [f64; 2],
    /// Relaxation constants (E, I) (s).
    pub t_relax: [f64; 2],
    /// External mean drive h (same for all neurons).
    pub h: f64,
    /// External variance xi2 (same for all neurons).
    pub xi2: f64,
}

impl NetworkSpec {
    /// Seed 000's network: N = 20, tau = 0.01 s, T_E = 0.01 s, T_I = 0.005 s, h = 2000, xi2 = 1.
    pub fn seed000() -> Self {
        Self {
            n: 20,
            tau: [0.01, 0.01],
            t_relax: [0.01, 0.005],
            h: 2000.0,
            xi2: 1.0,
        }
    }
}

impl RateNetwork {
    /// Builds a network from per-type constants and a connectivity.
    pub fn new(
        spec: &NetworkSpec,
        lif: LifConstants,
        connectivity: Connectivity,
    ) -> Result<Self, NetworkError> {
        let n = spec.n;
        let n_e = excitatory_count(n);
        let per_type = |v: [f64; 2]| (0..n).map(|i| v[cell_type(i, n_e)]).collect::<Vec<_>>();
        let net = Self {
            n,
            n_e,
            tau: per_type(spec.tau),
            t_relax: per_type(spec.t_relax),
            h: vec![spec.h; n],
            xi2: vec![spec.xi2; n],
            lif,
            connectivity,
            theta_pref: orientations(n, n_e),
        };
        net.validate()?;
        Ok(net)
    }

    /// Checks sizes and domains (tau, T > 0; xi2 > 0 so sigma > 0; finite h).
    pub fn validate(&self) -> Result<(), NetworkError> {
        let n = self.n;
        if n < 2 || self.n_e == 0 || self.n_e >= n {
            return Err(NetworkError::TooSmall(n));
        }
        self.lif.validate()?;
        for (name, v) in [
            ("tau", &self.tau),
            ("t_relax", &self.t_relax),
            ("h", &self.h),
            ("xi2", &self.xi2),
            ("theta_pref", &self.theta_pref),
        ] {
            if v.len() != n {
                return Err(NetworkError::Length {
                    name,
                    got: v.len(),
                    expected: n,
                });
            }
        }
        for i in 0..n {
            for (name, v, why) in [
                ("tau", self.tau[i], "must be finite and > 0 (s)"),
                ("t_relax", self.t_relax[i], "must be finite and > 0 (s)"),
                (
                    "xi2",
                    self.xi2[i],
                    "must be finite and > 0 (sigma > 0 keeps F smooth)",
                ),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(NetworkError::Domain {
                        name: format!("{name}[{i}]"),
                        value: v,
                        why,
                    });
                }
            }
            if !self.h[i].is_finite() {
                let why = "must be finite";
                return Err(NetworkError::Domain {
                    name: format!("h[{i}]"),
                    value: self.h[i],
                    why,
                });
            }
        }
        if let Connectivity::Explicit(c) = &self.connectivity {
            if c.len() != n * n {
                return Err(NetworkError::Length {
                    name: "C",
                    got: c.len(),
                    expected: n * n,
                });
            }
            if let Some(k) = c.iter().position(|v| !v.is_finite()) {
                let why = "connectivity entries must be finite";
                return Err(NetworkError::Domain {
                    name: format!("C[{k}]"),
                    value: c[k],
                    why,
                });
            }
        }
        Ok(())
    }

    /// Checks a parameter vector: finite log|J|, P in (0, 1], w > 0 (the last two only matter
    /// for the mean field).
    pub fn check_theta(&self, theta: &[f64; N_THETA]) -> Result<(), NetworkError> {
        for k in 0..4 {
            if !theta[LOG_J + k].is_finite() {
                let why = "log-magnitudes must be finite";
                let name = THETA_NAMES[k].to_string();
                return Err(NetworkError::Domain {
                    name,
                    value: theta[k],
                    why,
                });
            }
        }
        if self.connectivity == Connectivity::MeanField {
            check_p_w(&theta[P..P + 4], &theta[W..W + 4])?;
        }
        Ok(())
    }

    /// Block index (0..4, row-major EE, EI, IE, II) of the synapse j → i.
    #[inline]
    pub fn block(&self, i: usize, j: usize) -> usize {
        2 * cell_type(i, self.n_e) + cell_type(j, self.n_e)
    }

    /// Sign of presynaptic neuron j (+1 E, −1 I).
    #[inline]
    pub fn sign(&self, j: usize) -> f64 {
        if j < self.n_e { 1.0 } else { -1.0 }
    }

    /// The mean-field connection probability `E[C_ij]` and its derivative with respect to `w_ab`.
    #[inline]
    fn mean_field_entry(&self, theta: &[f64; N_THETA], i: usize, j: usize) -> (f64, f64) {
        if i == j {
            return (0.0, 0.0);
        }
        let b = self.block(i, j);
        let (f, df) = footprint(self.theta_pref[i] - self.theta_pref[j], theta[W + b]);
        (theta[P + b] * f, theta[P + b] * df)
    }

    /// Weight matrices `W` and `W2` for parameters θ.
    pub fn weights(&self, theta: &[f64; N_THETA]) -> Weights {
        let n = self.n;
        let mag: [f64; 4] = std::array::from_fn(|k| theta[LOG_J + k].exp());
        let mut w = vec![0.0; n * n];
        let mut w2 = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let b = self.block(i, j);
                let (c, c2) = match &self.connectivity {
                    Connectivity::Explicit(c) => (c[i * n + j], c[i * n + j] * c[i * n + j]),
                    Connectivity::MeanField => {
                        let p = self.mean_field_entry(theta, i, j).0;
                        (p, p)
                    }
                };
                w[i * n + j] = self.sign(j) * mag[b] * c;
                w2[i * n + j] = mag[b] * mag[b] * c2;
            }
        }
        Weights { w, w2 }
    }

    /// Input mean and SD: `mu = tau(W r + h)`, `sigma = sqrt(tau(W2 r + xi2))`.
    pub fn drive(&self, weights: &Weights, r: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = self.n;
        let mut mu = vec![0.0; n];
        let mut sigma = vec![0.0; n];
        for i in 0..n {
            let row = &weights.w[i * n..(i + 1) * n];
            let row2 = &weights.w2[i * n..(i + 1) * n];
            // Four independent partial sums per row: a serial sum is bound by the add latency.
            let (mut a4, mut b4) = ([0.0f64; 4], [0.0f64; 4]);
            let (rc, wc, w2c) = (r.chunks_exact(4), row.chunks_exact(4), row2.chunks_exact(4));
            let (rr, wr, w2r) = (rc.remainder(), wc.remainder(), w2c.remainder());
            for ((rq, wq), w2q) in rc.zip(wc).zip(w2c) {
                for l in 0..4 {
                    a4[l] += wq[l] * rq[l];
                    b4[l] += w2q[l] * rq[l];
                }
            }
            let mut a = (a4[0] + a4[1]) + (a4[2] + a4[3]);
            let mut b = (b4[0] + b4[1]) + (b4[2] + b4[3]);
            for ((rj, wj), w2j) in rr.iter().zip(wr).zip(w2r) {
                a += wj * rj;
                b += w2j * rj;
            }
            mu[i] = self.tau[i] * (a + self.h[i]);
            // Negative rates (only in trial Newton steps) could make the variance negative.
            sigma[i] = (self.tau[i] * (b + self.xi2[i])).max(0.0).sqrt();
        }
        (mu, sigma)
    }

    /// `F(r) = Phi(mu(r), sigma(r))` with the Phi derivatives at each neuron.
    pub fn transfer(&self, weights: &Weights, r: &[f64]) -> Vec<PhiEval> {
        let (mu, sigma) = self.drive(weights, r);
        (0..self.n)
            .map(|i| phi_with_grad(mu[i], sigma[i], self.tau[i], &self.lif))
            .collect()
    }

    /// Euler right-hand side `dr/dt = T⁻¹(F(r) − r)`.
    pub fn rhs(&self, weights: &Weights, r: &[f64]) -> Vec<f64> {
        let f = self.transfer(weights, r);
        (0..self.n)
            .map(|i| (f[i].phi - r[i]) / self.t_relax[i])
            .collect()
    }

    /// The Jacobian `∂F_i/∂r_j = Phi_mu,i·tau_i·W_ij + Phi_sigma,i·tau_i·W2_ij/(2 sigma_i)`,
    /// given the Phi evaluations at r (and the sigmas they used).
    pub fn jacobian(&self, weights: &Weights, evals: &[PhiEval], sigma: &[f64]) -> Mat<f64> {
        let n = self.n;
        let (a, b) = self.chain_coefficients(evals, sigma, None);
        Mat::from_fn(n, n, |i, j| {
            a[i] * weights.w[i * n + j] + b[i] * weights.w2[i * n + j]
        })
    }

    /// `α_i = λ_i·Phi_mu,i·tau_i` and `β_i = λ_i·Phi_sigma,i·tau_i/(2 sigma_i)` (λ = 1 if None):
    /// the sensitivities of `λ·F` to `(W r)_i` and `(W2 r)_i`.
    fn chain_coefficients(
        &self,
        evals: &[PhiEval],
        sigma: &[f64],
        lambda: Option<&[f64]>,
    ) -> (Vec<f64>, Vec<f64>) {
        let l = |i: usize| lambda.map_or(1.0, |l| l[i]);
        let a = (0..self.n)
            .map(|i| l(i) * evals[i].dmu * self.tau[i])
            .collect();
        let b = (0..self.n)
            .map(|i| l(i) * evals[i].dsigma * self.tau[i] / (2.0 * sigma[i]))
            .collect();
        (a, b)
    }

    /// Vector–Jacobian product `Σ_i λ_i ∂F_i/∂θ` at rates r (θ = [log|J|, P, w]).
    pub fn theta_vjp(&self, theta: &[f64; N_THETA], r: &[f64], lambda: &[f64]) -> [f64; N_THETA] {
        let n = self.n;
        let weights = self.weights(theta);
        let (_, sigma) = self.drive(&weights, r);
        let evals = self.transfer(&weights, r);
        let (a, b) = self.chain_coefficients(&evals, &sigma, Some(lambda));
        let mut g = [0.0; N_THETA];
        let mag: [f64; 4] = std::array::from_fn(|k| theta[LOG_J + k].exp());
        for i in 0..n {
            for j in 0..n {
                let blk = self.block(i, j);
                let (gw, gw2) = (a[i] * r[j], b[i] * r[j]);
                let (w, w2) = (weights.w[i * n + j], weights.w2[i * n + j]);
                // W ∝ e^ℓ and W2 ∝ e^{2ℓ}.
                g[LOG_J + blk] += gw * w + 2.0 * gw2 * w2;
                if self.connectivity == Connectivity::MeanField && i != j {
                    let (f, df) =
                        footprint(self.theta_pref[i] - self.theta_pref[j], theta[W + blk]);
                    let d_c = gw * self.sign(j) * mag[blk] + gw2 * mag[blk] * mag[blk];
                    g[P + blk] += d_c * f;
                    g[W + blk] += d_c * theta[P + blk] * df;
                }
            }
        }
        g
    }

    /// Mean rates of the E and I populations.
    pub fn population_means(&self, r: &[f64]) -> (f64, f64) {
        let e = r[..self.n_e].iter().sum::<f64>() / self.n_e as f64;
        let i = r[self.n_e..].iter().sum::<f64>() / (self.n - self.n_e) as f64;
        (e, i)
    }
}

/// θ from J magnitudes, P and w (2×2 row-major each).
pub fn theta_from(j_magnitude: [f64; 4], p: [f64; 4], w: [f64; 4]) -> [f64; N_THETA] {
    let mut t = [0.0; N_THETA];
    for k in 0..4 {
        t[LOG_J + k] = j_magnitude[k].ln();
        t[P + k] = p[k];
        t[W + k] = w[k];
    }
    t
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// seed000_C.csv, the connectivity recovered from the seed's printout.
    pub(crate) const SEED_C_CSV: &str = include_str!("../tests/fixtures/seed000_C.csv");

    pub(crate) fn seed_c() -> Vec<f64> {
        SEED_C_CSV
            .lines()
            .filter(|l| !l.trim().is_empty())
            .flat_map(|l| l.split(',').map(|v| v.trim().parse::<f64>().unwrap()))
            .collect()
    }

    pub(crate) fn seed_network() -> RateNetwork {
        let c = seed_c();
        assert_eq!(c.len(), 400);
        RateNetwork::new(
            &NetworkSpec::seed000(),
            LifConstants::default(),
            Connectivity::Explicit(c),
        )
        .unwrap()
    }

    pub(crate) fn seed_theta() -> [f64; N_THETA] {
        theta_from([1.0; 4], [1.0; 4], [1.0; 4])
    }

    #[test]
    fn seed_drive_reproduces_printed_mu_sigma() {
        use crate::phi::tests::{SEED_MU, SEED_R, SEED_SIGMA};
        let net = seed_network();
        let (mu, sigma) = net.drive(&net.weights(&seed_theta()), &SEED_R);
        for i in 0..20 {
            // printed R has 8 decimals; |W| ≤ 1 and tau = 0.01 → errors ≲ 1e-7
            assert!(
                (mu[i] - SEED_MU[i]).abs() < 1e-6,
                "mu[{i}] {} vs {}",
                mu[i],
                SEED_MU[i]
            );
            assert!((sigma[i] - SEED_SIGMA[i]).abs() < 1e-6, "sigma[{i}]");
        }
    }

    /// The analytic Jacobian and θ-VJP against central finite differences, mean-field network.
    #[test]
    fn jacobian_and_theta_vjp_match_finite_differences() {
        let spec = NetworkSpec {
            n: 10,
            tau: [0.01, 0.008],
            t_relax: [0.01, 0.005],
            h: 1500.0,
            xi2: 900.0,
        };
        let net =
            RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField).unwrap();
        let theta = theta_from(
            [1.2, 0.9, 1.1, 0.8],
            [0.5, 0.6, 0.7, 0.4],
            [0.6, 0.9, 1.3, 2.0],
        );
        let r: Vec<f64> = (0..10).map(|i| 3.0 + i as f64).collect();
        let weights = net.weights(&theta);
        let (_, sigma) = net.drive(&weights, &r);
        let evals = net.transfer(&weights, &r);
        let jac = net.jacobian(&weights, &evals, &sigma);
        let f = |r: &[f64], th: &[f64; N_THETA]| -> Vec<f64> {
            net.transfer(&net.weights(th), r)
                .iter()
                .map(|e| e.phi)
                .collect()
        };
        for j in 0..10 {
            let h = 1e-5 * r[j];
            let (mut rp, mut rm) = (r.clone(), r.clone());
            rp[j] += h;
            rm[j] -= h;
            let (fp, fm) = (f(&rp, &theta), f(&rm, &theta));
            for i in 0..10 {
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                assert!(
                    (jac[(i, j)] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                    "J[{i},{j}]"
                );
            }
        }
        let lambda: Vec<f64> = (0..10).map(|i| 1.0 - 0.15 * i as f64).collect();
        let g = net.theta_vjp(&theta, &r, &lambda);
        for k in 0..N_THETA {
            let h = 1e-6 * theta[k].abs().max(0.1);
            let (mut tp, mut tm) = (theta, theta);
            tp[k] += h;
            tm[k] -= h;
            let (fp, fm) = (f(&r, &tp), f(&r, &tm));
            let fd: f64 = (0..10)
                .map(|i| lambda[i] * (fp[i] - fm[i]) / (2.0 * h))
                .sum();
            assert!(
                (g[k] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "{}: {} vs {fd}",
                THETA_NAMES[k],
                g[k]
            );
        }
    }

    #[test]
    fn sampling_is_seeded_and_respects_probabilities() {
        let a = sample_connectivity(200, [0.5, 0.5, 0.5, 0.5], [f64::INFINITY; 4], 7).unwrap();
        let b = sample_connectivity(200, [0.5, 0.5, 0.5, 0.5], [f64::INFINITY; 4], 7).unwrap();
        assert_eq!(a, b);
        assert!((0..200).all(|i| a[i * 200 + i] == 0.0));
        let density = a.iter().sum::<f64>() / (200.0 * 199.0);
        assert!((density - 0.5).abs() < 0.01, "density {density}");
        assert!(sample_connectivity(10, [0.0, 0.5, 0.5, 0.5], [1.0; 4], 1).is_err());
        let spec = NetworkSpec {
            n: 1,
            ..NetworkSpec::seed000()
        };
        assert!(RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField).is_err());
    }
}
