//! SGD with momentum (optax's `trace` and `sgd`), optionally Nesterov.

use crate::schedule::{Schedule, scale_by_learning_rate};
use crate::{Chain, GradientTransformation, State, chain, wrong_state};

/// Momentum accumulator (optax `trace`): `t ← g + decay·t`; the update is `t`, or
/// `g + decay·t` (the new t) with Nesterov.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trace {
    /// Momentum decay.
    pub decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// [`Trace`].
pub fn trace(decay: f64, nesterov: bool) -> Trace {
    Trace { decay, nesterov }
}

impl GradientTransformation for Trace {
    fn init(&self, params: &[f64]) -> State {
        State::Trace {
            trace: vec![0.0; params.len()],
        }
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        state: &mut State,
        _params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        let State::Trace { trace } = state else {
            wrong_state("trace", state)
        };
        for (g, t) in updates.iter_mut().zip(trace.iter_mut()) {
            *t = *g + self.decay * *t;
            *g = if self.nesterov {
                *g + self.decay * *t
            } else {
                *t
            };
        }
        updates
    }
}

/// optax `sgd`: `chain(trace(momentum, nesterov), scale_by_learning_rate(lr))`; without
/// momentum (`None`) plain gradient descent.
pub fn sgd(lr: Schedule, momentum: Option<f64>, nesterov: bool) -> Chain {
    match momentum {
        Some(m) => chain![trace(m, nesterov), scale_by_learning_rate(lr)],
        None => chain![scale_by_learning_rate(lr)],
    }
}
