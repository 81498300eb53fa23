//! The `optimization:` block's optimizer, schedule, stopping and per-parameter transforms, and
//! their translation into the `optim` crate's gradient transformations.
//!
//! Two spellings choose the optimizer: the short `adam: {lr, beta1, beta2, eps}` (older files)
//! and `optimizer: {name: adam | adamw | adamax | sgd | lbfgs, …}`. The chain built from them
//! is, in order: `clip_value` (per component), `grad_clip` (global norm), the optimizer's
//! scaling, weight decay (AdamW), the learning rate with its schedule, and reduce-on-plateau.

use crate::network::config::{BoundsCfg, Experiment, OptimizationCfg};
use crate::network::objective::Transform;
use crate::network::setup::NetworkSetup;
use anyhow::{Result, bail};
use optim::lbfgs::{Lbfgs, LbfgsState};
use optim::plateau::ReduceOnPlateau;
use optim::stopping::{EarlyStopping, StoppingState};
use optim::{Chain, GradientTransformation, Schedule, State};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A free parameter's transform θ = T(u) (the optimizer moves u).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformCfg {
    /// θ = u.
    Identity,
    /// θ = exp(u): positive values, steps relative to the value.
    Log,
    /// θ = low + (high − low)·sigmoid(u): bounded in (low, high).
    Sigmoid,
}

fn b1() -> f64 {
    0.9
}
fn b2() -> f64 {
    0.999
}
fn eps() -> f64 {
    1e-8
}
fn wd() -> f64 {
    1e-4
}
fn memory() -> usize {
    10
}
fn c1() -> f64 {
    1e-4
}
fn half() -> f64 {
    0.5
}
fn evals() -> usize {
    20
}
fn first_step() -> f64 {
    1e-3
}
fn ten() -> u64 {
    10
}
fn rtol() -> f64 {
    1e-4
}

/// `optimization.optimizer:` an optimizer by `name` (optax's names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerCfg {
    /// optax `adam`.
    Adam {
        /// Learning rate (the schedule's base value).
        lr: f64,
        /// First-moment decay.
        #[serde(default = "b1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "b2")]
        beta2: f64,
        /// Denominator epsilon.
        #[serde(default = "eps")]
        eps: f64,
    },
    /// optax `adamw`: Adam with decoupled weight decay (on the unconstrained values).
    Adamw {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "b1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "b2")]
        beta2: f64,
        /// Denominator epsilon.
        #[serde(default = "eps")]
        eps: f64,
        /// Weight decay (optax default 1e-4).
        #[serde(default = "wd")]
        weight_decay: f64,
    },
    /// optax `adamax`.
    Adamax {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "b1")]
        beta1: f64,
        /// Infinity-moment decay.
        #[serde(default = "b2")]
        beta2: f64,
        /// Epsilon added to |g|.
        #[serde(default = "eps")]
        eps: f64,
    },
    /// optax `sgd`, with optional (Nesterov) momentum.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum decay; `null` = plain gradient descent.
        #[serde(default)]
        momentum: Option<f64>,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
    },
    /// L-BFGS with a backtracking Armijo line search (deterministic problems only).
    Lbfgs {
        /// Stored (s, y) pairs.
        #[serde(default = "memory")]
        memory: usize,
        /// Armijo constant.
        #[serde(default = "c1")]
        c1: f64,
        /// Step factor per rejected trial.
        #[serde(default = "half")]
        shrink: f64,
        /// Most evaluations per iteration.
        #[serde(default = "evals")]
        max_evals: usize,
        /// Length of the first, steepest-descent step (in the transformed values u).
        #[serde(default = "first_step")]
        initial_step: f64,
    },
}

/// `optimization.schedule:` how the learning rate changes with the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleCfg {
    /// The optimizer's `lr` at every step.
    Constant,
    /// `lr · decay_rate^((t − transition_begin) / transition_steps)`.
    ExponentialDecay {
        /// Steps per factor.
        transition_steps: u64,
        /// Factor per `transition_steps`.
        decay_rate: f64,
        /// First step of the decay.
        #[serde(default)]
        transition_begin: u64,
        /// Whole factors only.
        #[serde(default)]
        staircase: bool,
        /// Floor of the learning rate.
        #[serde(default)]
        end_value: Option<f64>,
    },
    /// Cosine decay from `lr` to `alpha·lr` over `decay_steps` (default: all steps).
    CosineDecay {
        /// Decay length; `null` = `optimization.steps`.
        #[serde(default)]
        decay_steps: Option<u64>,
        /// Final fraction of `lr`.
        #[serde(default)]
        alpha: f64,
    },
    /// Linear warm-up from `init_value` to `lr`, then cosine decay to `end_value` at
    /// `decay_steps` (default: all steps).
    WarmupCosineDecay {
        /// Warm-up steps.
        warmup_steps: u64,
        /// Total length; `null` = `optimization.steps`.
        #[serde(default)]
        decay_steps: Option<u64>,
        /// Learning rate at step 0.
        #[serde(default)]
        init_value: f64,
        /// Learning rate at the end.
        #[serde(default)]
        end_value: f64,
    },
    /// optax.contrib `reduce_on_plateau`: multiply the step by `factor` after `patience`
    /// steps without a relative improvement of `rtol`.
    ReduceOnPlateau {
        /// Factor in (0, 1).
        #[serde(default = "half")]
        factor: f64,
        /// Steps without improvement.
        #[serde(default = "ten")]
        patience: u64,
        /// Steps ignored after a reduction.
        #[serde(default)]
        cooldown: u64,
        /// Relative improvement that counts.
        #[serde(default = "rtol")]
        rtol: f64,
        /// Absolute improvement that counts.
        #[serde(default)]
        atol: f64,
        /// Smallest scale.
        #[serde(default)]
        min_scale: f64,
    },
}

/// `optimization.early_stopping:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingCfg {
    /// Stop after this many steps without improvement by more than `min_delta`.
    #[serde(default)]
    pub patience: Option<u64>,
    /// Smallest improvement that counts.
    #[serde(default)]
    pub min_delta: f64,
    /// Stop once the loss is at or below this.
    #[serde(default)]
    pub target: Option<f64>,
}

/// The optimizer's method.
#[derive(Debug)]
pub enum Method {
    /// A chain of gradient transformations (first-order methods).
    Chain(Chain),
    /// L-BFGS with line search.
    Lbfgs(Lbfgs),
}

/// The optimizer resolved from the experiment.
#[derive(Debug)]
pub struct Optimizer {
    /// Its name (progress bar, messages).
    pub name: &'static str,
    /// The method.
    pub method: Method,
    /// Early stopping.
    pub stopping: EarlyStopping,
}

/// The optimizer's state: the chain's or L-BFGS's, plus the early-stopping bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptState {
    /// The chain's state (first-order methods).
    #[serde(default)]
    pub chain: Option<State>,
    /// L-BFGS memory.
    #[serde(default)]
    pub lbfgs: Option<LbfgsState>,
    /// Best loss so far and steps since.
    pub stopping: StoppingState,
}

fn positive(path: &Path, field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!(
            "{}: {field} must be a positive number, got {v}",
            path.display()
        );
    }
    Ok(())
}

fn unit_interval(path: &Path, field: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        bail!("{}: {field} must be in [0, 1), got {v}", path.display());
    }
    Ok(())
}

fn non_negative(path: &Path, field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        bail!("{}: {field} must be >= 0, got {v}", path.display());
    }
    Ok(())
}

/// The optimizer of an `optimization:` block, checked (errors name the field).
pub fn optimizer_cfg(cfg: &OptimizationCfg, path: &Path) -> Result<(OptimizerCfg, &'static str)> {
    match (&cfg.adam, &cfg.optimizer) {
        (Some(_), Some(_)) => bail!(
            "{}: optimization: give either `adam:` or `optimizer:`, not both",
            path.display()
        ),
        (None, None) => bail!(
            "{}: optimization: needs `optimizer: {{name: adam, lr: …}}` (or the short `adam: {{lr: …}}`); valid names: adam, adamw, adamax, sgd, lbfgs",
            path.display()
        ),
        (Some(a), None) => Ok((
            OptimizerCfg::Adam {
                lr: a.lr,
                beta1: a.beta1,
                beta2: a.beta2,
                eps: a.eps,
            },
            "optimization.adam",
        )),
        (None, Some(o)) => Ok((o.clone(), "optimization.optimizer")),
    }
}

fn schedule(
    cfg: &OptimizationCfg,
    lr: f64,
    path: &Path,
) -> Result<(Schedule, Option<ReduceOnPlateau>)> {
    let steps = cfg.steps as u64;
    let f = "optimization.schedule";
    let s = match cfg.schedule.clone().unwrap_or(ScheduleCfg::Constant) {
        ScheduleCfg::Constant => (Schedule::Constant { value: lr }, None),
        ScheduleCfg::ExponentialDecay {
            transition_steps,
            decay_rate,
            transition_begin,
            staircase,
            end_value,
        } => {
            if transition_steps == 0 {
                bail!("{}: {f}.transition_steps must be >= 1", path.display());
            }
            positive(path, &format!("{f}.decay_rate"), decay_rate)?;
            if let Some(e) = end_value {
                positive(path, &format!("{f}.end_value"), e)?;
            }
            (
                Schedule::ExponentialDecay {
                    init_value: lr,
                    transition_steps,
                    decay_rate,
                    transition_begin,
                    staircase,
                    end_value,
                },
                None,
            )
        }
        ScheduleCfg::CosineDecay { decay_steps, alpha } => {
            let decay_steps = decay_steps.unwrap_or(steps).max(1);
            if !(0.0..=1.0).contains(&alpha) {
                bail!(
                    "{}: {f}.alpha must be in [0, 1], got {alpha}",
                    path.display()
                );
            }
            (
                Schedule::CosineDecay {
                    init_value: lr,
                    decay_steps,
                    alpha,
                    exponent: 1.0,
                },
                None,
            )
        }
        ScheduleCfg::WarmupCosineDecay {
            warmup_steps,
            decay_steps,
            init_value,
            end_value,
        } => {
            let decay_steps = decay_steps.unwrap_or(steps);
            if decay_steps <= warmup_steps {
                bail!(
                    "{}: {f}.decay_steps ({decay_steps}) must exceed warmup_steps ({warmup_steps})",
                    path.display()
                );
            }
            non_negative(path, &format!("{f}.init_value"), init_value)?;
            non_negative(path, &format!("{f}.end_value"), end_value)?;
            (
                Schedule::WarmupCosineDecay {
                    init_value,
                    peak_value: lr,
                    warmup_steps,
                    decay_steps,
                    end_value,
                    exponent: 1.0,
                },
                None,
            )
        }
        ScheduleCfg::ReduceOnPlateau {
            factor,
            patience,
            cooldown,
            rtol,
            atol,
            min_scale,
        } => {
            let r = ReduceOnPlateau {
                factor,
                patience,
                rtol,
                atol,
                cooldown,
                accumulation_size: 1,
                min_scale,
            };
            if let Err(e) = r.validate() {
                bail!("{}: {f} (reduce_on_plateau): {e}", path.display());
            }
            (Schedule::Constant { value: lr }, Some(r))
        }
    };
    Ok(s)
}

/// Builds the optimizer of an `optimization:` block; every bad value is an error naming its
/// field.
pub fn build(cfg: &OptimizationCfg, path: &Path) -> Result<Optimizer> {
    let (ocfg, field) = optimizer_cfg(cfg, path)?;
    let mut pre: Vec<Box<dyn GradientTransformation>> = Vec::new();
    if let Some(v) = cfg.clip_value {
        positive(path, "optimization.clip_value", v)?;
        pre.push(Box::new(optim::clip(v)));
    }
    if let Some(v) = cfg.grad_clip {
        positive(path, "optimization.grad_clip", v)?;
        pre.push(Box::new(optim::clip_by_global_norm(v)));
    }
    let stopping = match &cfg.early_stopping {
        None => EarlyStopping::default(),
        Some(e) => {
            if e.patience == Some(0) {
                bail!(
                    "{}: optimization.early_stopping.patience must be >= 1",
                    path.display()
                );
            }
            non_negative(path, "optimization.early_stopping.min_delta", e.min_delta)?;
            if let Some(t) = e.target
                && !t.is_finite()
            {
                bail!(
                    "{}: optimization.early_stopping.target must be finite, got {t}",
                    path.display()
                );
            }
            EarlyStopping {
                patience: e.patience,
                min_delta: e.min_delta,
                target: e.target,
            }
        }
    };
    let adam_like = |lr: f64, beta1: f64, beta2: f64, eps: f64| -> Result<()> {
        positive(path, &format!("{field}.lr"), lr)?;
        unit_interval(path, &format!("{field}.beta1"), beta1)?;
        unit_interval(path, &format!("{field}.beta2"), beta2)?;
        non_negative(path, &format!("{field}.eps"), eps)
    };
    let (name, core, lr): (&'static str, Vec<Box<dyn GradientTransformation>>, f64) = match ocfg {
        OptimizerCfg::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            adam_like(lr, beta1, beta2, eps)?;
            (
                "adam",
                vec![Box::new(optim::scale_by_adam(beta1, beta2, eps))],
                lr,
            )
        }
        OptimizerCfg::Adamw {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            adam_like(lr, beta1, beta2, eps)?;
            non_negative(path, &format!("{field}.weight_decay"), weight_decay)?;
            (
                "adamw",
                vec![
                    Box::new(optim::scale_by_adam(beta1, beta2, eps)),
                    Box::new(optim::add_decayed_weights(weight_decay)),
                ],
                lr,
            )
        }
        OptimizerCfg::Adamax {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            adam_like(lr, beta1, beta2, eps)?;
            (
                "adamax",
                vec![Box::new(optim::scale_by_adamax(beta1, beta2, eps))],
                lr,
            )
        }
        OptimizerCfg::Sgd {
            lr,
            momentum,
            nesterov,
        } => {
            positive(path, &format!("{field}.lr"), lr)?;
            let mut v: Vec<Box<dyn GradientTransformation>> = Vec::new();
            if let Some(m) = momentum {
                unit_interval(path, &format!("{field}.momentum"), m)?;
                v.push(Box::new(optim::trace(m, nesterov)));
            } else if nesterov {
                bail!("{}: {field}.nesterov needs a momentum", path.display());
            }
            ("sgd", v, lr)
        }
        OptimizerCfg::Lbfgs {
            memory,
            c1,
            shrink,
            max_evals,
            initial_step,
        } => {
            let l = Lbfgs {
                memory,
                c1,
                shrink,
                max_evals,
                initial_step,
            };
            if let Err(e) = l.validate() {
                bail!("{}: {field} (lbfgs): {e}", path.display());
            }
            if cfg.schedule.is_some() || !pre.is_empty() {
                bail!(
                    "{}: optimization.schedule, grad_clip and clip_value do not apply to lbfgs (its line search sets the step)",
                    path.display()
                );
            }
            return Ok(Optimizer {
                name: "lbfgs",
                method: Method::Lbfgs(l),
                stopping,
            });
        }
    };
    let (sched, plateau) = schedule(cfg, lr, path)?;
    let mut all = pre;
    all.extend(core);
    all.push(Box::new(optim::scale_by_learning_rate(sched)));
    if let Some(p) = plateau {
        all.push(Box::new(p));
    }
    Ok(Optimizer {
        name,
        method: Method::Chain(Chain(all)),
        stopping,
    })
}

impl Optimizer {
    /// The initial state for the unconstrained values `params`.
    pub fn init(&self, params: &[f64]) -> OptState {
        match &self.method {
            Method::Chain(c) => OptState {
                chain: Some(c.init(params)),
                lbfgs: None,
                stopping: StoppingState::default(),
            },
            Method::Lbfgs(_) => OptState {
                chain: None,
                lbfgs: Some(LbfgsState::default()),
                stopping: StoppingState::default(),
            },
        }
    }
}

/// The experiment's setting for the free parameter `qualified` (`a`, `coupling.a`).
fn param_cfg<'a>(
    exp: &'a Experiment,
    qualified: &str,
) -> Option<&'a crate::network::config::Param> {
    match qualified.strip_prefix("coupling.") {
        Some(rest) => exp.coupling.parameters.get(rest),
        None => exp.model.parameters.get(qualified),
    }
}

/// Each free parameter's transform: its own `transform:`, else `optimization.bounds`
/// (`sigmoid` for parameters with both bounds). Checks that every start value lies inside
/// the transform's domain.
pub fn transforms(setup: &NetworkSetup, bounds: BoundsCfg, path: &Path) -> Result<Vec<Transform>> {
    let mut out = Vec::new();
    for f in &setup.free {
        let name = f.param.qualified_name();
        let field = match name.strip_prefix("coupling.") {
            Some(rest) => format!("coupling.parameters.{rest}"),
            None => format!("model.parameters.{name}"),
        };
        let chosen = param_cfg(&setup.exp, &name).and_then(|p| p.transform);
        let t = match (chosen, bounds, f.low, f.high) {
            (Some(TransformCfg::Identity), ..) => Transform::Identity,
            (Some(TransformCfg::Log), ..) => Transform::Log,
            (Some(TransformCfg::Sigmoid), _, Some(lo), Some(hi)) => Transform::Sigmoid { lo, hi },
            (Some(TransformCfg::Sigmoid), ..) => bail!(
                "{}: {field}.transform: sigmoid needs both `low` and `high`",
                path.display()
            ),
            (None, BoundsCfg::Sigmoid, Some(lo), Some(hi)) => Transform::Sigmoid { lo, hi },
            (None, ..) => Transform::Identity,
        };
        for &v in &f.init {
            if let Err(e) = t.inverse(v) {
                bail!("{}: {field}.transform: {e}", path.display());
            }
        }
        out.push(t);
    }
    Ok(out)
}
