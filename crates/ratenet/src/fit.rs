//! Losses on fixed-point rates and an Adam fit of θ through the implicit-gradient op.
//!
//! Unconstrained parameters `raw = [ℓ (4), q (4), v (4)]` map to θ by
//! `log|J| = ℓ`, `P = 1/(1 + e^{−q})` ∈ (0, 1), `w = e^{v}` > 0 (tensor ops, so the chain rule is
//! burn's). Entries not selected by the mask keep their value (their gradient is zeroed, and
//! Adam moves nothing with zero moments). The optimizer is the `optim` crate's `adam` (optax's
//! formulas, every number f64), stepped on the raw vector; its moments are exported exactly for
//! checkpoints, so a resumed fit is bit-identical to an uninterrupted one.
//!
//! Losses ([`rate_loss`]): with [`RateError::Relative`] (the default) relative squared errors
//! of the population means, `((⟨r⟩_E − t_E)/t_E)² + ((⟨r⟩_I − t_I)/t_I)²`, plus optionally
//! per-neuron rates, `Σ(r − t)²/Σ t²`; with [`RateError::Absolute`] the same in Hz²:
//! `(⟨r⟩_E − t_E)² + (⟨r⟩_I − t_I)²` and `Σ(r − t)²/N`. Every division is a multiplication by
//! an f64 reciprocal (burn's `div_scalar` backward rounds the reciprocal to f32, which put every
//! gradient component off by ~2⁻²⁶ relative). The fixed-point residual loss is
//! [`crate::tensor_network::residual_loss`].

use crate::fixed_point::{FixedPointError, NewtonConfig, Stability, stability};
use crate::fixed_point_op::{FixedPointProblem, fixed_point_rates};
use crate::network::{N_THETA, RateNetwork};
use burn::tensor::{Device, Tensor, TensorData};
use optim::{GradientTransformation, Schedule, State};
use std::sync::Arc;
use thiserror::Error;

/// Failures of a fit step.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FitError {
    /// The fixed point could not be found.
    #[error("fit step {step}: {source}")]
    FixedPoint {
        /// Step index.
        step: usize,
        /// Cause.
        source: FixedPointError,
    },
    /// Invalid fit settings.
    #[error("invalid fit settings: {0}")]
    Config(String),
    /// Gradients were not finite.
    #[error("fit step {0}: non-finite loss or gradient")]
    NonFinite(usize),
}

/// How rate errors enter the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateError {
    /// Errors relative to the target (dimensionless).
    #[default]
    Relative,
    /// Errors in Hz.
    Absolute,
}

/// Rate targets of the loss.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Targets {
    /// Target mean excitatory rate (Hz).
    pub mean_e: Option<f64>,
    /// Target mean inhibitory rate (Hz).
    pub mean_i: Option<f64>,
    /// Target per-neuron rates (Hz), length N.
    pub per_neuron: Option<Vec<f64>>,
    /// Relative or absolute errors.
    pub error: RateError,
}

impl Targets {
    /// Checks positivity and lengths.
    pub fn validate(&self, n: usize) -> Result<(), FitError> {
        for (name, v) in [("mean_e", self.mean_e), ("mean_i", self.mean_i)] {
            if let Some(v) = v
                && !(v > 0.0 && v.is_finite())
            {
                return Err(FitError::Config(format!(
                    "target {name} = {v} must be > 0 Hz"
                )));
            }
        }
        if let Some(t) = &self.per_neuron
            && t.len() != n
        {
            return Err(FitError::Config(format!(
                "per-neuron targets: {} values for N = {n}",
                t.len()
            )));
        }
        if self.mean_e.is_none() && self.mean_i.is_none() && self.per_neuron.is_none() {
            return Err(FitError::Config("no target rates given".into()));
        }
        Ok(())
    }

    /// Whether the population means are within relative `tol` of their targets.
    pub fn reached(&self, mean_e: f64, mean_i: f64, tol: f64) -> bool {
        let ok = |t: Option<f64>, v: f64| t.is_none_or(|t| ((v - t) / t).abs() <= tol);
        ok(self.mean_e, mean_e) && ok(self.mean_i, mean_i)
    }
}

/// The loss on rates `r` `[N]` (first `n_e` excitatory).
pub fn rate_loss(r: Tensor<1>, n_e: usize, targets: &Targets) -> Tensor<1> {
    let n = r.dims()[0];
    let device = r.device();
    let mut loss = Tensor::<1>::zeros([1], &device);
    let relative = targets.error == RateError::Relative;
    // Means as sums times an f64 reciprocal (no f32-rounded scalar in any backward).
    let mean = |x: Tensor<1>, m: usize| x.sum().mul_scalar(1.0 / m as f64);
    if let Some(t) = targets.mean_e {
        let mut e = mean(r.clone().slice(0..n_e), n_e).sub_scalar(t);
        if relative {
            e = e.mul_scalar(1.0 / t);
        }
        loss = loss + e.clone() * e;
    }
    if let Some(t) = targets.mean_i {
        let mut i = mean(r.clone().slice(n_e..n), n - n_e).sub_scalar(t);
        if relative {
            i = i.mul_scalar(1.0 / t);
        }
        loss = loss + i.clone() * i;
    }
    if let Some(t) = &targets.per_neuron {
        let norm: f64 = if relative {
            t.iter().map(|v| v * v).sum::<f64>().max(f64::MIN_POSITIVE)
        } else {
            n as f64
        };
        let d = r - Tensor::<1>::from_data(TensorData::new(t.clone(), [n]), &device);
        loss = loss + (d.clone() * d).sum().mul_scalar(1.0 / norm);
    }
    loss
}

/// θ from raw parameters (tensor ops; see the module doc).
pub fn theta_of_raw(raw: Tensor<1>) -> Tensor<1> {
    let log_j = raw.clone().slice(0..4);
    // The logistic function written out: NdArray's built-in sigmoid computes f64 in f32.
    let p = raw.clone().slice(4..8).neg().exp().add_scalar(1.0).recip();
    let w = raw.slice(8..12).exp();
    Tensor::cat(vec![log_j, p, w], 0)
}

/// Raw parameters from θ (inverse of [`theta_of_raw`]; P = 1 maps to a large finite logit).
pub fn raw_of_theta(theta: &[f64; N_THETA]) -> [f64; N_THETA] {
    std::array::from_fn(|k| match k {
        0..4 => theta[k],
        4..8 => {
            let p = theta[k].min(1.0 - 1e-12);
            (p / (1.0 - p)).ln()
        }
        _ => theta[k].ln(),
    })
}

/// θ from raw parameters on the host.
pub fn theta_of_raw_host(raw: &[f64; N_THETA]) -> [f64; N_THETA] {
    std::array::from_fn(|k| match k {
        0..4 => raw[k],
        4..8 => 1.0 / (1.0 + (-raw[k]).exp()),
        _ => raw[k].exp(),
    })
}

/// Settings of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// Adam learning rate.
    pub lr: f64,
    /// Adam ε (burn's default is 1e-5; 1e-8 as in the numpy reference).
    pub epsilon: f64,
    /// Which θ entries are fitted.
    pub mask: [bool; N_THETA],
    /// Targets.
    pub targets: Targets,
    /// Newton options for each forward solve.
    pub newton: NewtonConfig,
}

/// Exact fit state for checkpoints: raw parameters, Adam moments and the warm start.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSnapshot {
    /// Steps done.
    pub step: usize,
    /// Raw parameters.
    pub raw: Vec<f64>,
    /// Adam step counter (0 before the first step).
    pub adam_time: usize,
    /// Adam first moments.
    pub moment_1: Vec<f64>,
    /// Adam second moments.
    pub moment_2: Vec<f64>,
    /// Rates used to start the next Newton solve.
    pub r_warm: Vec<f64>,
}

/// What one step measured (before its update).
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Step index (0-based).
    pub step: usize,
    /// Loss at the pre-update parameters.
    pub loss: f64,
    /// Euclidean norm of the masked raw-parameter gradient.
    pub grad_norm: f64,
    /// θ at the pre-update parameters.
    pub theta: [f64; N_THETA],
    /// Mean E rate (Hz).
    pub mean_e: f64,
    /// Mean I rate (Hz).
    pub mean_i: f64,
    /// Fixed-point residual (Hz).
    pub residual: f64,
    /// Newton iterations.
    pub newton_iterations: usize,
    /// The fixed-point rates (Hz).
    pub rates: Vec<f64>,
}

/// An Adam fit of θ to rate targets through the implicit-gradient fixed point.
pub struct RateFit {
    /// The network.
    pub net: Arc<RateNetwork>,
    /// Settings.
    pub settings: FitSettings,
    raw: [f64; N_THETA],
    adam: optim::Chain,
    adam_state: State,
    r_warm: Vec<f64>,
    step: usize,
    device: Device,
}

fn host(t: Tensor<1>) -> Vec<f64> {
    t.to_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("f64 tensor data")
}

impl RateFit {
    /// A fit starting at θ₀ with rates warm-started at `r_init`; `device` is the plain (non
    /// autodiff) device, its autodiff view is used for gradients.
    pub fn new(
        net: Arc<RateNetwork>,
        theta0: &[f64; N_THETA],
        r_init: Vec<f64>,
        settings: FitSettings,
        device: &Device,
    ) -> Result<Self, FitError> {
        net.check_theta(theta0)
            .map_err(|e| FitError::Config(e.to_string()))?;
        settings.targets.validate(net.n)?;
        if !(settings.lr > 0.0 && settings.lr.is_finite()) {
            return Err(FitError::Config(format!(
                "learning rate {} must be > 0",
                settings.lr
            )));
        }
        if r_init.len() != net.n {
            return Err(FitError::Config(format!(
                "r_init has {} values for N = {}",
                r_init.len(),
                net.n
            )));
        }
        let adam = optim::adam(
            Schedule::Constant { value: settings.lr },
            0.9,
            0.999,
            settings.epsilon,
        );
        let raw = raw_of_theta(theta0);
        let adam_state = adam.init(&raw);
        Ok(Self {
            net,
            raw,
            adam,
            adam_state,
            r_warm: r_init,
            step: 0,
            device: device.clone().autodiff(),
            settings,
        })
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Current θ.
    pub fn theta(&self) -> [f64; N_THETA] {
        theta_of_raw_host(&self.raw)
    }

    /// The raw (unconstrained) parameters the optimizer moves.
    pub fn raw(&self) -> [f64; N_THETA] {
        self.raw
    }

    /// The loss at raw parameters `raw` and its exact gradient (implicit differentiation
    /// through the fixed point, warm-started at the current rates), unmasked; with the fixed
    /// point it solved. The one evaluation of [`RateFit::step`] and of gradient checks.
    pub fn loss_and_gradient(
        &self,
        raw: &[f64; N_THETA],
    ) -> Result<(f64, Vec<f64>, crate::fixed_point::FixedPoint), FitError> {
        let step = self.step;
        let problem =
            FixedPointProblem::new(self.net.clone(), self.settings.newton, self.r_warm.clone());
        let raw = Tensor::<1>::from_data(TensorData::new(raw.to_vec(), [N_THETA]), &self.device)
            .require_grad();
        let theta = theta_of_raw(raw.clone());
        let r = fixed_point_rates(theta, &problem)
            .map_err(|source| FitError::FixedPoint { step, source })?;
        let fp = match problem.last_outcome() {
            Some(Ok(fp)) => fp,
            Some(Err(source)) => return Err(FitError::FixedPoint { step, source }),
            None => return Err(FitError::Config("fixed-point op did not run".into())),
        };
        let loss = rate_loss(r, self.net.n_e, &self.settings.targets);
        let loss_value = host(loss.clone().detach())[0];
        let grads = loss.backward();
        let g = raw
            .grad(&grads)
            .map(host)
            .unwrap_or_else(|| vec![0.0; N_THETA]);
        Ok((loss_value, g, fp))
    }

    /// One Adam step: solve the fixed point, backpropagate the loss by implicit
    /// differentiation, update the masked parameters.
    pub fn step(&mut self) -> Result<StepReport, FitError> {
        let step = self.step;
        let (loss_value, mut g, fp) = self.loss_and_gradient(&self.raw)?;
        for k in 0..N_THETA {
            if !self.settings.mask[k] {
                g[k] = 0.0;
            }
        }
        if !loss_value.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(FitError::NonFinite(step));
        }
        let (mean_e, mean_i) = self.net.population_means(&fp.rates);
        let report = StepReport {
            step,
            loss: loss_value,
            grad_norm: g.iter().map(|v| v * v).sum::<f64>().sqrt(),
            theta: self.theta(),
            mean_e,
            mean_i,
            residual: fp.residual,
            newton_iterations: fp.iterations,
            rates: fp.rates.clone(),
        };
        let updates = self
            .adam
            .update(g, &mut self.adam_state, &self.raw, Some(loss_value));
        for k in 0..N_THETA {
            if self.settings.mask[k] {
                self.raw[k] += updates[k];
            }
        }
        self.r_warm = fp.rates;
        self.step += 1;
        Ok(report)
    }

    /// The fixed point at the current parameters (no gradient) and its stability.
    pub fn evaluate(&self) -> Result<(Vec<f64>, Stability), FixedPointError> {
        let theta = self.theta();
        let fp = crate::fixed_point::solve_fixed_point(
            &self.net,
            &theta,
            &self.r_warm,
            &self.settings.newton,
        )?;
        let st = stability(&self.net, &theta, &fp.rates)?;
        Ok((fp.rates, st))
    }

    /// The exact state for a checkpoint.
    pub fn snapshot(&self) -> FitSnapshot {
        let (adam_time, moment_1, moment_2) = match &self.adam_state {
            State::Chain { states } => match &states[0] {
                State::Moments { count, mu, nu } => (*count as usize, mu.clone(), nu.clone()),
                other => unreachable!("adam's first state is its moments, not {other:?}"),
            },
            other => unreachable!("adam's state is a chain, not {other:?}"),
        };
        FitSnapshot {
            step: self.step,
            raw: self.raw.to_vec(),
            adam_time,
            moment_1,
            moment_2,
            r_warm: self.r_warm.clone(),
        }
    }

    /// Restores a snapshot taken by [`RateFit::snapshot`].
    pub fn restore(&mut self, snap: &FitSnapshot) -> Result<(), FitError> {
        let n = N_THETA;
        if snap.raw.len() != n || snap.moment_1.len() != n || snap.moment_2.len() != n {
            return Err(FitError::Config(
                "checkpoint parameter vectors must have 12 entries".into(),
            ));
        }
        if snap.r_warm.len() != self.net.n {
            return Err(FitError::Config(format!(
                "checkpoint has {} rates for a network of N = {}",
                snap.r_warm.len(),
                self.net.n
            )));
        }
        self.raw.copy_from_slice(&snap.raw);
        self.step = snap.step;
        self.r_warm = snap.r_warm.clone();
        self.adam_state = State::Chain {
            states: vec![
                State::Moments {
                    count: snap.adam_time as u64,
                    mu: snap.moment_1.clone(),
                    nu: snap.moment_2.clone(),
                },
                State::Count {
                    count: snap.adam_time as u64,
                },
            ],
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::seed_c;
    use crate::network::{Connectivity, NetworkSpec, theta_from};
    use crate::phi::LifConstants;
    use backend::{BackendKind, f64_device};

    /// ai_rates: the seed network (seed000_C.csv) in the fluctuation-driven regime, h = 1500,
    /// xi2 = 900; fit log J from |J| = 1 to mean E = 5 Hz and mean I = 10 Hz with Adam(0.03).
    pub(crate) fn ai_rates_fit(kind: BackendKind) -> RateFit {
        let spec = NetworkSpec {
            n: 20,
            tau: [0.01, 0.01],
            t_relax: [0.01, 0.005],
            h: 1500.0,
            xi2: 900.0,
        };
        let net = RateNetwork::new(
            &spec,
            LifConstants::default(),
            Connectivity::Explicit(seed_c()),
        )
        .unwrap();
        let mut mask = [false; N_THETA];
        mask[..4].fill(true);
        let settings = FitSettings {
            lr: 0.03,
            epsilon: 1e-8,
            mask,
            targets: Targets {
                mean_e: Some(5.0),
                mean_i: Some(10.0),
                per_neuron: None,
                error: RateError::Relative,
            },
            newton: NewtonConfig::default(),
        };
        let theta0 = theta_from([1.0; 4], [1.0; 4], [1.0; 4]);
        RateFit::new(
            Arc::new(net),
            &theta0,
            vec![1.0; 20],
            settings,
            &f64_device(kind, false),
        )
        .unwrap()
    }

    #[test]
    fn ai_rates_reaches_targets_within_150_steps_and_is_stable() {
        let mut fit = ai_rates_fit(BackendKind::Flex);
        let mut reached = None;
        for _ in 0..150 {
            let rep = fit.step().unwrap();
            if fit.settings.targets.reached(rep.mean_e, rep.mean_i, 0.01) {
                reached = Some(rep);
                break;
            }
        }
        let rep = reached.expect("targets not reached within 150 Adam steps");
        eprintln!(
            "reached at step {}: E {:.4} Hz, I {:.4} Hz",
            rep.step, rep.mean_e, rep.mean_i
        );
        let st = crate::fixed_point::stability(&fit.net, &rep.theta, &rep.rates).unwrap();
        assert!(
            st.is_stable(),
            "fitted fixed point unstable: abscissa {}",
            st.abscissa
        );
        assert!(rep.residual <= 1e-12);
    }

    /// Snapshot after 5 steps, restore into a fresh fit, 5 more steps: identical to 10 steps.
    #[test]
    fn resume_from_snapshot_is_bit_identical() {
        let mut a = ai_rates_fit(BackendKind::NdArray);
        for _ in 0..10 {
            a.step().unwrap();
        }
        let mut b = ai_rates_fit(BackendKind::NdArray);
        for _ in 0..5 {
            b.step().unwrap();
        }
        let snap = b.snapshot();
        let mut c = ai_rates_fit(BackendKind::NdArray);
        c.restore(&snap).unwrap();
        for _ in 0..5 {
            c.step().unwrap();
        }
        assert_eq!(a.snapshot(), c.snapshot());
    }

    #[test]
    fn rate_loss_gradient_is_exact_in_f64() {
        // ∂L/∂r_k for the relative and the absolute loss, written out, against burn's backward:
        // equal to round-off (the former div_scalar backward was off by ~2^-26 relative).
        let dev = f64_device(BackendKind::Flex, true);
        let (n, n_e) = (5, 3);
        let rates = vec![4.1, 5.3, 6.7, 9.1, 11.3];
        let per = vec![5.0, 5.5, 6.0, 9.0, 12.0];
        for error in [RateError::Relative, RateError::Absolute] {
            let targets = Targets {
                mean_e: Some(5.0),
                mean_i: Some(10.0),
                per_neuron: Some(per.clone()),
                error,
            };
            let r =
                Tensor::<1>::from_data(TensorData::new(rates.clone(), [n]), &dev).require_grad();
            let loss = rate_loss(r.clone(), n_e, &targets);
            let grads = loss.backward();
            let g: Vec<f64> = r
                .grad(&grads)
                .unwrap()
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap();
            let me = rates[..n_e].iter().sum::<f64>() / n_e as f64;
            let mi = rates[n_e..].iter().sum::<f64>() / (n - n_e) as f64;
            let (se, si, norm) = match error {
                RateError::Relative => (5.0, 10.0, per.iter().map(|t| t * t).sum::<f64>()),
                RateError::Absolute => (1.0, 1.0, n as f64),
            };
            for k in 0..n {
                let pop = if k < n_e {
                    2.0 * (me - 5.0) / (se * se) / n_e as f64
                } else {
                    2.0 * (mi - 10.0) / (si * si) / (n - n_e) as f64
                };
                let want = pop + 2.0 * (rates[k] - per[k]) / norm;
                let rel = ((g[k] - want) / want).abs();
                assert!(
                    rel < 1e-14,
                    "{error:?} component {k}: {} vs {want} ({rel:e})",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let fit = ai_rates_fit(BackendKind::Flex);
        let mut s = fit.settings.clone();
        s.targets = Targets::default();
        let theta0 = fit.theta();
        let dev = f64_device(BackendKind::Flex, false);
        assert!(RateFit::new(fit.net.clone(), &theta0, vec![1.0; 20], s.clone(), &dev).is_err());
        s.targets.mean_e = Some(-1.0);
        assert!(RateFit::new(fit.net.clone(), &theta0, vec![1.0; 20], s, &dev).is_err());
    }
}
