//! Random rate networks (seed 002, DESIGN §6).
//!
//! ```text
//! linear:     dx/dt = (W − I) x
//! nonlinear:  dx/dt = −x + W tanh(x)
//! ```
//!
//! `W_ij` is the weight from unit `j` to unit `i`, drawn i.i.d. `N(mean, g²/N)` (the seed's
//! `np.random.normal(mean, g/sqrt(N), (N, N))`) from a seeded ChaCha8 stream, or given. By the
//! circular law the eigenvalues of `W` (mean 0) fill the disc of radius `g` as `N → ∞`; the
//! tanh network has a stable origin for `g < 1` and becomes chaotic for `g > 1`
//! (Sompolinsky, Crisanti & Sommers 1988). Time is in units of the unit time constant.
//!
//! States are row vectors, so the drift is computed as `x Wᵀ` on `[B, N]` batches.

use crate::drift::{Drift, tensor_from_rows};
use crate::error::{LowdimError, finite};
use crate::jacobian::TangentDrift;
use crate::stability::eigenvalues;
use burn::tensor::{Device, Tensor};
use faer::c64;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Mutex;

/// The nonlinearity of a [`RateNetwork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Nonlinearity {
    /// `dx/dt = (W − I) x`.
    Linear,
    /// `dx/dt = −x + W tanh(x)`.
    #[default]
    Tanh,
}

impl Nonlinearity {
    /// Parses `linear` or `tanh`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "linear" => Some(Self::Linear),
            "tanh" => Some(Self::Tanh),
            _ => None,
        }
    }
}

/// A rate network with `N` units and weight matrix `W` (row-major, `W[i·N + j]` from `j` to `i`).
#[derive(Debug)]
pub struct RateNetwork {
    n: usize,
    weights: Vec<f64>,
    /// Nonlinearity of the network.
    pub nonlinearity: Nonlinearity,
    /// `Wᵀ` per base device, built on first use (the matrix is large; the drift is hot).
    cache: Mutex<Vec<(Device, Tensor<2>)>>,
}

impl Clone for RateNetwork {
    fn clone(&self) -> Self {
        Self::from_matrix(self.weights.clone(), self.n, self.nonlinearity)
            .expect("a valid network clones to a valid network")
    }
}

impl RateNetwork {
    /// A network with a given weight matrix (row-major `N × N`).
    pub fn from_matrix(
        weights: Vec<f64>,
        n: usize,
        nonlinearity: Nonlinearity,
    ) -> Result<Self, LowdimError> {
        if n == 0 || weights.len() != n * n {
            return Err(LowdimError::Shape { what: "weight matrix", expected: n * n, got: weights.len() });
        }
        if let Some(bad) = weights.iter().find(|w| !w.is_finite()) {
            return Err(LowdimError::InvalidParameter {
                name: "W",
                value: *bad,
                reason: "all weights must be finite",
            });
        }
        Ok(Self { n, weights, nonlinearity, cache: Mutex::new(Vec::new()) })
    }

    /// A random network, `W_ij = mean + (g/√N) ξ_ij` with `ξ_ij ~ N(0, 1)` from ChaCha8(`seed`).
    pub fn random(
        n: usize,
        mean: f64,
        g: f64,
        seed: u64,
        nonlinearity: Nonlinearity,
    ) -> Result<Self, LowdimError> {
        finite("mean", mean)?;
        finite("g", g)?;
        if n == 0 {
            return Err(LowdimError::Shape { what: "network size", expected: 1, got: 0 });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let scale = g / (n as f64).sqrt();
        let weights = (0..n * n)
            .map(|_| {
                let xi: f64 = StandardNormal.sample(&mut rng);
                mean + scale * xi
            })
            .collect();
        Self::from_matrix(weights, n, nonlinearity)
    }

    /// Number of units `N`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The weight matrix, row-major.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The same weights with another nonlinearity.
    pub fn with_nonlinearity(&self, nonlinearity: Nonlinearity) -> Self {
        Self { nonlinearity, ..self.clone() }
    }

    /// Eigenvalues of `W − I` (the Jacobian of both forms at the origin), via faer.
    pub fn eigenvalues_shifted(&self) -> Result<Vec<c64>, LowdimError> {
        let mut m = self.weights.clone();
        for i in 0..self.n {
            m[i * self.n + i] -= 1.0;
        }
        eigenvalues(&m, self.n)
    }

    /// Spectral radius `max |λ(W)|` (≈ `g` for large `N`, mean 0).
    pub fn spectral_radius(&self) -> Result<f64, LowdimError> {
        Ok(eigenvalues(&self.weights, self.n)?.iter().map(|z| z.norm()).fold(0.0, f64::max))
    }

    /// `Wᵀ` on the base device of `device` (cached).
    fn weights_t(&self, device: &Device) -> Tensor<2> {
        let base = device.clone().inner();
        let mut cache = self.cache.lock().expect("the cache lock is never poisoned by a panic here");
        if let Some((_, t)) = cache.iter().find(|(d, _)| *d == base) {
            return t.clone();
        }
        let n = self.n;
        let mut wt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                wt[j * n + i] = self.weights[i * n + j];
            }
        }
        let t = tensor_from_rows(&wt, n, n, &base);
        cache.push((base, t.clone()));
        t
    }
}

impl Drift for RateNetwork {
    fn dim(&self) -> usize {
        self.n
    }

    fn drift(&self, _t: f64, x: Tensor<2>) -> Tensor<2> {
        let wt = self.weights_t(&x.device());
        match self.nonlinearity {
            Nonlinearity::Linear => x.clone().matmul(wt) - x,
            Nonlinearity::Tanh => x.clone().tanh().matmul(wt) - x,
        }
    }

    fn name(&self) -> String {
        format!("RateNetwork(N={}, {:?})", self.n, self.nonlinearity)
    }
}

impl TangentDrift for RateNetwork {
    /// `J(x) v = −v + W (f'(x) ⊙ v)` with `f' = 1 − tanh²` (or `1` for the linear network).
    fn tangent(&self, _t: f64, x: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        let wt = self.weights_t(&x.device());
        let gated = match self.nonlinearity {
            Nonlinearity::Linear => v.clone(),
            Nonlinearity::Tanh => {
                let th = x.tanh();
                (th.clone() * th).neg().add_scalar(1.0) * v.clone()
            }
        };
        gated.matmul(wt) - v
    }

    /// One `[2B, N] × [N, N]` product for both: the product is memory-bound on `W`, so reading
    /// it once halves the cost of a Benettin step.
    fn drift_and_tangent(&self, _t: f64, x: Tensor<2>, v: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let b = x.dims()[0];
        let wt = self.weights_t(&x.device());
        let (fx, gated) = match self.nonlinearity {
            Nonlinearity::Linear => (x.clone(), v.clone()),
            Nonlinearity::Tanh => {
                let th = x.clone().tanh();
                let slope = (th.clone() * th.clone()).neg().add_scalar(1.0);
                (th, slope * v.clone())
            }
        };
        let both = Tensor::cat(vec![fx, gated], 0).matmul(wt);
        (both.clone().narrow(0, 0, b) - x, both.narrow(0, b, b) - v)
    }
}
