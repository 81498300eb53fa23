//! Largest Lyapunov exponent by Benettin's algorithm.
//!
//! The state and a tangent vector are advanced together (`dx/dt = f(x)`, `dv/dt = J(x) v`, same
//! Runge–Kutta stages); every `renorm_interval` the tangent vector's norm is accumulated in
//! `Σ ln ‖v‖` and `v` is rescaled to unit length, so it never overflows or underflows. After a
//! transient the estimate is `λ_max = Σ ln ‖v‖ / T`. Its error decays like `1/T`.
//!
//! References: Benettin, Galgani, Giorgilli & Strelcyn (1980), *Meccanica* 15; Sompolinsky,
//! Crisanti & Sommers (1988), *PRL* 61, for random tanh networks.

use crate::drift::{tensor_from_rows, to_host};
use crate::error::{LowdimError, positive};
use crate::jacobian::TangentDrift;
use crate::rate_network::{Nonlinearity, RateNetwork};
use crate::stability::spectral_abscissa;
use crate::stepper::{RK4, Tableau};
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Options of the Benettin estimate (times in the model's unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LyapunovOptions {
    /// Step size.
    pub dt: f64,
    /// Time simulated before measuring (the state settles on its attractor and the tangent vector
    /// aligns with the most unstable direction).
    pub transient: f64,
    /// Measured time `T`.
    pub duration: f64,
    /// Time between renormalisations of the tangent vector.
    pub renorm_interval: f64,
    /// Integration method.
    pub method: Tableau,
    /// Seed of the initial tangent vector.
    pub seed: u64,
}

impl Default for LyapunovOptions {
    fn default() -> Self {
        Self {
            dt: 0.1,
            transient: 100.0,
            duration: 500.0,
            renorm_interval: 1.0,
            method: RK4,
            seed: 0,
        }
    }
}

/// The estimate for each batch row.
#[derive(Debug, Clone, PartialEq)]
pub struct LyapunovEstimate {
    /// `λ_max` of each row.
    pub exponents: Vec<f64>,
    /// Times of the running estimates (after the transient).
    pub times: Vec<f64>,
    /// Running estimate `Σ ln ‖v‖ / t` of each row at each time, row-major `[times, rows]`.
    pub running: Vec<f64>,
}

/// One realisation of a random rate network and its largest Lyapunov exponent.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomNetworkLyapunov {
    /// Seed of the weights `W` ([`RateNetwork::random`]).
    pub weight_seed: u64,
    /// `λ_max` of the first initial state.
    pub lambda_max: f64,
    /// Spectral abscissa of `W − I` (the linear prediction `−1 + max Re λ(W)`).
    pub abscissa: f64,
    /// The whole Benettin estimate (running estimates for plots).
    pub estimate: LyapunovEstimate,
}

/// Draws the random network `W ~ N(mean, g²/N)` of `weight_seed` and estimates its largest
/// Lyapunov exponent from `x0`, beside the spectral abscissa of `W − I`: one realisation of the
/// chaos-transition study, whose realisations use seeds `seed, seed + 1, …`.
pub fn random_network_lyapunov(
    n: usize,
    mean: f64,
    g: f64,
    weight_seed: u64,
    nonlinearity: Nonlinearity,
    x0: &[f64],
    opts: &LyapunovOptions,
    device: &Device,
) -> Result<RandomNetworkLyapunov, LowdimError> {
    let net = RateNetwork::random(n, mean, g, weight_seed, nonlinearity)?;
    let abscissa = spectral_abscissa(&net.eigenvalues_shifted()?);
    let estimate = largest_lyapunov(&net, x0, opts, device)?;
    Ok(RandomNetworkLyapunov {
        weight_seed,
        lambda_max: estimate.exponents[0],
        abscissa,
        estimate,
    })
}

/// Largest Lyapunov exponent of `model` from each initial state (row-major `[rows, dim]`).
pub fn largest_lyapunov<D: TangentDrift + ?Sized>(
    model: &D,
    x0: &[f64],
    opts: &LyapunovOptions,
    device: &Device,
) -> Result<LyapunovEstimate, LowdimError> {
    positive("dt", opts.dt)?;
    positive("duration", opts.duration)?;
    positive("renorm_interval", opts.renorm_interval)?;
    if opts.transient < 0.0 {
        return Err(LowdimError::InvalidParameter {
            name: "transient",
            value: opts.transient,
            reason: "must be ≥ 0",
        });
    }
    let dim = model.dim();
    if x0.is_empty() || !x0.len().is_multiple_of(dim) {
        return Err(LowdimError::Shape {
            what: "initial states",
            expected: dim,
            got: x0.len(),
        });
    }
    let rows = x0.len() / dim;
    let steps_per_renorm = ((opts.renorm_interval / opts.dt).round() as usize).max(1);
    let renorms = ((opts.duration / (steps_per_renorm as f64 * opts.dt)).round() as usize).max(1);
    let transient_steps = (opts.transient / opts.dt).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut v0: Vec<f64> = (0..rows * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    for row in v0.chunks_mut(dim) {
        let n = row.iter().map(|a| a * a).sum::<f64>().sqrt();
        row.iter_mut().for_each(|a| *a /= n);
    }
    let mut v = tensor_from_rows(&v0, rows, dim, device);
    let mut x = tensor_from_rows(x0, rows, dim, device);
    let mut t = 0.0;
    // The tangent vector evolves during the transient too, so that by the time we measure it
    // is aligned with the most unstable direction (otherwise the alignment, slow when the top
    // of the spectrum is crowded, biases the estimate by O(1/T)).
    for k in 0..transient_steps {
        (x, v) = opts.method.step_tangent(model, t, x, v, opts.dt);
        t += opts.dt;
        if (k + 1) % steps_per_renorm == 0 {
            let norms = v.clone().square().sum_dim(1).sqrt();
            v = v / norms;
        }
    }
    let mut log_sum = vec![0.0; rows];
    let mut times = Vec::with_capacity(renorms);
    let mut running = Vec::with_capacity(renorms * rows);
    let t0 = t;
    for _ in 0..renorms {
        for _ in 0..steps_per_renorm {
            (x, v) = opts.method.step_tangent(model, t, x, v, opts.dt);
            t += opts.dt;
        }
        let norms = v.clone().square().sum_dim(1).sqrt(); // [rows, 1]
        let host = to_host(norms.clone());
        if host.iter().any(|n| !n.is_finite() || *n == 0.0) {
            return Err(LowdimError::NotFound(
                "tangent vector overflowed or vanished: shorten renorm_interval".into(),
            ));
        }
        for (s, n) in log_sum.iter_mut().zip(&host) {
            *s += n.ln();
        }
        v = v / norms;
        times.push(t - t0);
        running.extend(log_sum.iter().map(|s| s / (t - t0)));
    }
    let exponents = log_sum.iter().map(|s| s / (t - t0)).collect();
    Ok(LyapunovEstimate {
        exponents,
        times,
        running,
    })
}
