//! Single excitatory population with a sigmoid transfer function (seed 001, DESIGN §5).
//!
//! ```text
//! tau dr/dt = −r + F(w r + I(t)),    F(x; a, θ) = 1/(1 + e^{−a(x−θ)}) − 1/(1 + e^{aθ})
//! ```
//!
//! `r` is the population rate (a.u.), `tau` the time constant (ms), `w` the recurrent weight, `a`
//! the gain and `θ` the threshold of `F`; the second term of `F` makes `F(0) = 0`. The input is
//! `I(t) = I_ext + I_ou(t)` with an optional Ornstein–Uhlenbeck series (held constant over each
//! sampling interval, as the seed's Euler loop reads `I_ext[k]` at step `k`).
//! At a fixed point `r*` the eigenvalue is `λ = (−1 + w F'(w r* + I_ext))/tau`.
//!
//! References: Wilson & Cowan (1972); Neuromatch Academy W2D4 Tutorial 1 (seed 001).

use crate::drift::Drift;
use crate::error::{LowdimError, finite, positive};
use crate::jacobian::TangentDrift;
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Parameters of the single-population rate model (defaults are the seed's `default_pars_single`).
#[derive(Debug, Clone, PartialEq)]
pub struct SigmoidPopulation {
    /// Gain `a` of the sigmoid (1/a.u. of input).
    pub a: f64,
    /// Threshold `θ` of the sigmoid (a.u. of input).
    pub theta: f64,
    /// Recurrent weight `w` (input per unit rate).
    pub w: f64,
    /// Constant external input `I_ext`.
    pub i_ext: f64,
    /// Time constant `tau` (ms).
    pub tau: f64,
    /// Optional extra input series (e.g. OU noise) sampled every `input_dt` ms from `t = 0`.
    pub input: Option<InputSeries>,
}

/// A sampled input `I(t) = values[⌊t / dt⌋]` (the last value is held beyond the end).
#[derive(Debug, Clone, PartialEq)]
pub struct InputSeries {
    /// Samples of the input.
    pub values: Vec<f64>,
    /// Sampling interval (ms).
    pub dt: f64,
}

impl InputSeries {
    /// The held sample at time `t` (ms).
    pub fn at(&self, t: f64) -> f64 {
        // A tiny offset so that t = k·dt computed in floating point maps to sample k, not k − 1.
        let k = ((t / self.dt) + 1e-9).floor().max(0.0) as usize;
        self.values[k.min(self.values.len() - 1)]
    }
}

impl Default for SigmoidPopulation {
    fn default() -> Self {
        Self {
            a: 1.2,
            theta: 2.8,
            w: 0.0,
            i_ext: 0.0,
            tau: 1.0,
            input: None,
        }
    }
}

impl SigmoidPopulation {
    /// Builds a validated model (`a`, `tau` > 0; all finite).
    pub fn new(a: f64, theta: f64, w: f64, i_ext: f64, tau: f64) -> Result<Self, LowdimError> {
        Ok(Self {
            a: positive("a", a)?,
            theta: finite("theta", theta)?,
            w: finite("w", w)?,
            i_ext: finite("I_ext", i_ext)?,
            tau: positive("tau", tau)?,
            input: None,
        })
    }

    /// Adds a sampled input series (added to `I_ext`).
    pub fn with_input(mut self, input: InputSeries) -> Result<Self, LowdimError> {
        positive("input dt", input.dt)?;
        if input.values.is_empty() {
            return Err(LowdimError::Shape {
                what: "input series",
                expected: 1,
                got: 0,
            });
        }
        self.input = Some(input);
        Ok(self)
    }

    /// The transfer function `F(x; a, θ)` on the host.
    pub fn transfer(&self, x: f64) -> f64 {
        1.0 / (1.0 + (-self.a * (x - self.theta)).exp()) - 1.0 / (1.0 + (self.a * self.theta).exp())
    }

    /// Its derivative `F'(x) = a e^{−a(x−θ)} / (1 + e^{−a(x−θ)})²`.
    pub fn transfer_derivative(&self, x: f64) -> f64 {
        let e = (-self.a * (x - self.theta)).exp();
        self.a * e / (1.0 + e).powi(2)
    }

    /// The analytic eigenvalue `λ = (−1 + w F'(w r* + I_ext))/tau` at a fixed point `r*` (1/ms).
    pub fn analytic_eigenvalue(&self, r_star: f64) -> f64 {
        (-1.0 + self.w * self.transfer_derivative(self.w * r_star + self.i_ext)) / self.tau
    }

    fn input_at(&self, t: f64) -> f64 {
        self.i_ext + self.input.as_ref().map_or(0.0, |s| s.at(t))
    }
}

impl Drift for SigmoidPopulation {
    fn dim(&self) -> usize {
        1
    }

    fn drift(&self, t: f64, r: Tensor<2>) -> Tensor<2> {
        let x = r.clone().mul_scalar(self.w).add_scalar(self.input_at(t));
        // The sigmoid is written out: burn-ndarray's built-in sigmoid computes f64 in f32.
        let f = x
            .sub_scalar(self.theta)
            .mul_scalar(-self.a)
            .exp()
            .add_scalar(1.0)
            .recip()
            .sub_scalar(1.0 / (1.0 + (self.a * self.theta).exp()));
        (f - r).mul_scalar(1.0 / self.tau)
    }

    fn name(&self) -> String {
        format!("SigmoidPopulation(w={}, I_ext={})", self.w, self.i_ext)
    }
}

impl TangentDrift for SigmoidPopulation {
    /// `J v = (−1 + w F'(w r + I(t))) v / tau`.
    fn tangent(&self, t: f64, r: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        let e = r
            .mul_scalar(self.w)
            .add_scalar(self.input_at(t) - self.theta)
            .mul_scalar(-self.a)
            .exp();
        let slope = e.clone().mul_scalar(self.a) / (e.add_scalar(1.0)).square();
        (slope.mul_scalar(self.w).sub_scalar(1.0) * v).mul_scalar(1.0 / self.tau)
    }
}

/// Ornstein–Uhlenbeck input as generated by the seed's `my_OU` (Euler–Maruyama):
///
/// ```text
/// I_ou[0] = σ ξ_0,   I_ou[k+1] = I_ou[k] − (dt/τ_ou) I_ou[k] + sqrt(2 dt/τ_ou) σ ξ_{k+1}
/// ```
///
/// with `ξ_k ~ N(0, 1)` from a ChaCha8 stream seeded by `seed`; stationary std `σ`.
pub fn ou_input(
    steps: usize,
    dt: f64,
    tau_ou: f64,
    sigma: f64,
    seed: u64,
) -> Result<InputSeries, LowdimError> {
    positive("dt", dt)?;
    positive("tau_ou", tau_ou)?;
    finite("sigma", sigma)?;
    if steps == 0 {
        return Err(LowdimError::Shape {
            what: "OU steps",
            expected: 1,
            got: 0,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(steps);
    let mut noise = || -> f64 { StandardNormal.sample(&mut rng) };
    values.push(noise() * sigma);
    let kick = (2.0 * dt / tau_ou).sqrt() * sigma;
    for k in 0..steps - 1 {
        let next = values[k] - dt / tau_ou * values[k] + kick * noise();
        values.push(next);
    }
    Ok(InputSeries { values, dt })
}

/// How a noisy rate trace visits the two stable states of a bistable population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bistability {
    /// The rate midway between the low and the high state.
    pub threshold: f64,
    /// Times the trace crosses the threshold (between consecutive samples).
    pub crossings: usize,
    /// Fraction of samples at or above the threshold (NaN for an empty trace).
    pub fraction_high: f64,
}

/// Switching statistics of a rate trace `r` between the states `low` and `high` (the lowest
/// and highest fixed point): a crossing is a pair of consecutive samples on different sides of
/// the midway threshold.
pub fn bistability(r: &[f64], low: f64, high: f64) -> Bistability {
    let threshold = 0.5 * (high + low);
    let crossings = r
        .windows(2)
        .filter(|w| (w[0] < threshold) != (w[1] < threshold))
        .count();
    let fraction_high = r.iter().filter(|&&x| x >= threshold).count() as f64 / r.len() as f64;
    Bistability {
        threshold,
        crossings,
        fraction_high,
    }
}

// The issue's reference numbers are kept digit for digit.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn bistability_counts_crossings_of_the_midway_threshold() {
        let r = [0.0, 0.2, 0.8, 0.9, 0.1, 0.5];
        let b = bistability(&r, 0.0, 1.0);
        assert_eq!(b.threshold, 0.5);
        // 0.2 → 0.8 up, 0.9 → 0.1 down, 0.1 → 0.5 up (0.5 counts as high).
        assert_eq!(b.crossings, 3);
        assert_eq!(b.fraction_high, 3.0 / 6.0);
        assert!(bistability(&[], 0.0, 1.0).fraction_high.is_nan());
    }
    use crate::fixed_points::{NewtonOptions, find_fixed_points, grid_starts};
    use crate::jacobian::drift_jacobian;
    use crate::scan::count_fixed_points_grid;
    use crate::stability::Stability;
    use crate::stepper::{EULER, simulate};
    use crate::test_util::{flex, ndarray};

    const FPS: [f64; 3] = [
        0.041536699013317648,
        0.44711922408983447,
        0.89971715385608657,
    ];
    const EIGS: [f64; 3] = [
        -0.58320986361371436,
        0.49776238361041764,
        -0.62642250767799850,
    ];

    fn bistable() -> SigmoidPopulation {
        SigmoidPopulation::new(1.2, 2.8, 5.0, 0.5, 1.0).unwrap()
    }

    /// Issue 6: w = 5, I_ext = 0.5 has three fixed points with the given eigenvalues, to 1e-12,
    /// on both backends; the autodiff eigenvalue equals the analytic (−1 + w F')/tau.
    #[test]
    fn three_fixed_points_and_eigenvalues_match_reference() {
        let model = bistable();
        for device in [flex(), ndarray()] {
            let starts = grid_starts(&[-0.1], &[1.0], 23);
            let fps =
                find_fixed_points(&model, &starts, &NewtonOptions::default(), &device).unwrap();
            assert_eq!(fps.len(), 3, "{fps:?}");
            for (k, fp) in fps.iter().enumerate() {
                assert!((fp.x[0] - FPS[k]).abs() < 1e-12, "r*{k} = {:.17}", fp.x[0]);
                assert!(fp.residual < 1e-14, "residual {}", fp.residual);
                let lam = fp.eigenvalues[0];
                assert!(
                    (lam.re - EIGS[k]).abs() < 1e-12 && lam.im == 0.0,
                    "λ{k} = {lam:?}"
                );
                assert!((lam.re - model.analytic_eigenvalue(fp.x[0])).abs() < 1e-13);
            }
            let kinds: Vec<_> = fps.iter().map(|f| f.stability).collect();
            assert_eq!(
                kinds,
                [
                    Stability::StableNode,
                    Stability::UnstableNode,
                    Stability::StableNode
                ]
            );
        }
    }

    /// The tangent (J v) equals the autodiff Jacobian times v.
    #[test]
    fn tangent_matches_autodiff_jacobian() {
        let model = bistable();
        let device = flex();
        let x = [0.3, -0.2, 0.8];
        let jac = drift_jacobian(&model, 0.0, &x, &device);
        let xt = crate::drift::tensor_from_rows(&x, 3, 1, &device);
        let v = crate::drift::tensor_from_rows(&[1.0, 2.0, -0.5], 3, 1, &device);
        let jv = crate::drift::to_host(model.tangent(0.0, xt, v));
        for (k, s) in [1.0, 2.0, -0.5].iter().enumerate() {
            assert!((jv[k] - jac[k] * s).abs() < 1e-14);
            let r = x[k];
            let analytic = (-1.0 + 5.0 * model.transfer_derivative(5.0 * r + 0.5)) / 1.0;
            assert!((jac[k] - analytic).abs() < 1e-14);
        }
    }

    /// Euler with w = 0 from r(0) = 0.2 follows the analytic relaxation of the seed,
    /// r(t) = F(I) + (r0 − F(I)) e^{−t/τ}, within the O(dt) error of Euler.
    #[test]
    fn feedforward_relaxation_matches_analytic_solution() {
        let model = SigmoidPopulation::new(1.2, 2.8, 0.0, 5.0, 3.0).unwrap();
        let traj = simulate(&model, &EULER, &[0.2], 0.1, 200, 1, &flex()).unwrap();
        let target = model.transfer(5.0);
        let err = traj
            .times
            .iter()
            .zip(traj.component(0, 0))
            .map(|(t, r)| (r - (target + (0.2 - target) * (-t / 3.0).exp())).abs())
            .fold(0.0, f64::max);
        // Euler's global error for this linear relaxation is below dt/(2τ)·|r0 − F(I)|·max(t e^{-t/τ})/τ.
        assert!(err > 1e-5 && err < 5e-3, "max error {err}");
    }

    /// Issue 6: the 61 × 31 map over w ∈ [1, 7] × I_ext ∈ [0, 3] has 192 points with three fixed
    /// points and 1699 with one; cross-checked by counting sign changes of dr/dt on a fine grid.
    #[test]
    fn bifurcation_map_counts_match_reference() {
        let ws: Vec<f64> = (0..61).map(|i| 1.0 + 0.1 * i as f64).collect();
        let is: Vec<f64> = (0..31).map(|j| 0.1 * j as f64).collect();
        let starts = grid_starts(&[-0.05], &[1.0], 12);
        let map = count_fixed_points_grid(
            &ws,
            &is,
            |w, i| SigmoidPopulation::new(1.2, 2.8, w, i, 1.0).unwrap(),
            &starts,
            &NewtonOptions::default(),
            &flex(),
        )
        .unwrap();
        assert_eq!(map.points_with(3), 192);
        assert_eq!(map.points_with(1), 1699);
        for (k, &c) in map.counts.iter().enumerate() {
            let m = SigmoidPopulation::new(1.2, 2.8, ws[k / 31], is[k % 31], 1.0).unwrap();
            let f = |r: f64| -r + m.transfer(m.w * r + m.i_ext);
            let sign_changes = (0..20000)
                .filter(|&n| {
                    let (a, b) = (-0.05 + n as f64 * 5.25e-5, -0.05 + (n + 1) as f64 * 5.25e-5);
                    (f(a) < 0.0) != (f(b) < 0.0)
                })
                .count();
            assert_eq!(c, sign_changes, "w = {}, I = {}", m.w, m.i_ext);
            assert_eq!(map.stable[k], c.div_ceil(2));
        }
    }

    /// The OU input has the seed's recursion and stationary standard deviation σ.
    #[test]
    fn ou_input_recursion_and_variance() {
        let ou = ou_input(200_000, 0.1, 1.0, 0.7, 2020).unwrap();
        let tail = &ou.values[1000..];
        let n = tail.len() as f64;
        let mean = tail.iter().sum::<f64>() / n;
        let sd = (tail.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        // Euler–Maruyama's stationary variance is σ²/(1 − dt/(2τ)).
        let expected = 0.7 / (1.0f64 - 0.05).sqrt();
        assert!(
            (sd - expected).abs() < 0.03 * expected,
            "sd {sd} vs {expected}"
        );
        assert!(ou_input(10, 0.1, 0.0, 0.7, 1).is_err());
        let model = bistable().with_input(ou.clone()).unwrap();
        assert_eq!(model.input_at(0.35), 0.5 + ou.values[3]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(SigmoidPopulation::new(0.0, 2.8, 5.0, 0.5, 1.0).is_err());
        assert!(SigmoidPopulation::new(1.2, 2.8, 5.0, 0.5, -1.0).is_err());
        assert!(SigmoidPopulation::new(1.2, f64::NAN, 5.0, 0.5, 1.0).is_err());
    }
}
