//! Learning-rate schedules (optax's `schedules`) and `scale_by_learning_rate`.

use crate::{GradientTransformation, State, wrong_state};
use serde::{Deserialize, Serialize};

/// A step-size schedule: the value at update count `t` (0 for the first update).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The same value at every step.
    Constant {
        /// The value.
        value: f64,
    },
    /// optax `exponential_decay`: `init · rate^((t − begin)/transition_steps)` for
    /// `t > begin` (floored exponent with `staircase`), `init` before, bounded by `end_value`.
    ExponentialDecay {
        /// Value before and at `transition_begin`.
        init_value: f64,
        /// Steps per factor of `decay_rate`.
        transition_steps: u64,
        /// Factor per `transition_steps`.
        decay_rate: f64,
        /// First step of the decay.
        #[serde(default)]
        transition_begin: u64,
        /// Decay in whole factors.
        #[serde(default)]
        staircase: bool,
        /// Floor (ceiling when `decay_rate > 1`).
        #[serde(default)]
        end_value: Option<f64>,
    },
    /// optax `cosine_decay_schedule`: `init · ((1−α)·(½(1+cos(π·min(t,T)/T)))^p + α)`.
    CosineDecay {
        /// Value at t = 0.
        init_value: f64,
        /// T: steps of the decay.
        decay_steps: u64,
        /// Final value as a fraction of `init_value`.
        #[serde(default)]
        alpha: f64,
        /// p.
        #[serde(default = "one")]
        exponent: f64,
    },
    /// optax `warmup_cosine_decay_schedule`: linear from `init_value` to `peak_value` over
    /// `warmup_steps`, then cosine decay to `end_value` at `decay_steps` (warm-up included).
    WarmupCosineDecay {
        /// Value at t = 0.
        init_value: f64,
        /// Value at the end of the warm-up.
        peak_value: f64,
        /// Warm-up steps.
        warmup_steps: u64,
        /// Total steps of warm-up and decay.
        decay_steps: u64,
        /// Final value.
        #[serde(default)]
        end_value: f64,
        /// Exponent of the cosine.
        #[serde(default = "one")]
        exponent: f64,
    },
}

fn one() -> f64 {
    1.0
}

fn cosine(init_value: f64, decay_steps: f64, alpha: f64, exponent: f64, count: f64) -> f64 {
    let count = count.min(decay_steps);
    let cosine_decay = 0.5 * (1.0 + (std::f64::consts::PI * count / decay_steps).cos());
    let decayed = (1.0 - alpha) * cosine_decay.powf(exponent) + alpha;
    init_value * decayed
}

/// optax `linear_schedule` (a polynomial schedule of power 1).
fn linear(init_value: f64, end_value: f64, transition_steps: u64, count: f64) -> f64 {
    if transition_steps == 0 {
        return init_value;
    }
    let steps = transition_steps as f64;
    let count = count.clamp(0.0, steps);
    let frac = 1.0 - count / steps;
    (init_value - end_value) * frac + end_value
}

impl Schedule {
    /// The value at update count `count`.
    pub fn value(&self, count: u64) -> f64 {
        match *self {
            Self::Constant { value } => value,
            Self::ExponentialDecay {
                init_value,
                transition_steps,
                decay_rate,
                transition_begin,
                staircase,
                end_value,
            } => {
                if transition_steps == 0 || decay_rate == 0.0 {
                    return init_value;
                }
                let decreased = count as f64 - transition_begin as f64;
                let mut p = decreased / transition_steps as f64;
                if staircase {
                    p = p.floor();
                }
                let v = if decreased <= 0.0 {
                    init_value
                } else {
                    init_value * decay_rate.powf(p)
                };
                match end_value {
                    Some(e) if decay_rate < 1.0 => v.max(e),
                    Some(e) => v.min(e),
                    None => v,
                }
            }
            Self::CosineDecay {
                init_value,
                decay_steps,
                alpha,
                exponent,
            } => cosine(
                init_value,
                decay_steps as f64,
                alpha,
                exponent,
                count as f64,
            ),
            Self::WarmupCosineDecay {
                init_value,
                peak_value,
                warmup_steps,
                decay_steps,
                end_value,
                exponent,
            } => {
                if count < warmup_steps {
                    linear(init_value, peak_value, warmup_steps, count as f64)
                } else {
                    let alpha = if peak_value == 0.0 {
                        0.0
                    } else {
                        end_value / peak_value
                    };
                    cosine(
                        peak_value,
                        decay_steps.saturating_sub(warmup_steps) as f64,
                        alpha,
                        exponent,
                        (count - warmup_steps) as f64,
                    )
                }
            }
        }
    }

    /// Checks the settings; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        match *self {
            Self::Constant { value } => positive("value", value),
            Self::ExponentialDecay {
                init_value,
                transition_steps,
                decay_rate,
                end_value,
                ..
            } => {
                positive("init_value", init_value)?;
                positive("decay_rate", decay_rate)?;
                if transition_steps == 0 {
                    return Err("transition_steps must be >= 1".into());
                }
                if let Some(e) = end_value {
                    positive("end_value", e)?;
                }
                Ok(())
            }
            Self::CosineDecay {
                init_value,
                decay_steps,
                alpha,
                ..
            } => {
                positive("init_value", init_value)?;
                if decay_steps == 0 {
                    return Err("decay_steps must be >= 1".into());
                }
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(format!("alpha must be in [0, 1], got {alpha}"));
                }
                Ok(())
            }
            Self::WarmupCosineDecay {
                init_value,
                peak_value,
                warmup_steps,
                decay_steps,
                end_value,
                ..
            } => {
                if !(init_value.is_finite() && init_value >= 0.0) {
                    return Err(format!("init_value must be >= 0, got {init_value}"));
                }
                positive("peak_value", peak_value)?;
                if !(end_value.is_finite() && end_value >= 0.0) {
                    return Err(format!("end_value must be >= 0, got {end_value}"));
                }
                if decay_steps <= warmup_steps {
                    return Err(format!(
                        "decay_steps ({decay_steps}) must exceed warmup_steps ({warmup_steps})"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Multiplies updates by `−schedule(t)` (optax `scale_by_learning_rate`, `flip_sign = true`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleByLearningRate {
    /// The learning rate.
    pub schedule: Schedule,
}

/// [`ScaleByLearningRate`].
pub fn scale_by_learning_rate(schedule: Schedule) -> ScaleByLearningRate {
    ScaleByLearningRate { schedule }
}

impl GradientTransformation for ScaleByLearningRate {
    fn init(&self, _params: &[f64]) -> State {
        State::Count { count: 0 }
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        state: &mut State,
        _params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        let State::Count { count } = state else {
            wrong_state("scale_by_learning_rate", state)
        };
        let step_size = -self.schedule.value(*count);
        *count += 1;
        for u in &mut updates {
            *u *= step_size;
        }
        updates
    }
}
