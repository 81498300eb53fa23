//! AdamW: Adam with decoupled weight decay (optax's `add_decayed_weights` and `adamw`).

use crate::adam::scale_by_adam;
use crate::schedule::{Schedule, scale_by_learning_rate};
use crate::{Chain, GradientTransformation, State, chain};

/// Adds `weight_decay · params` to the updates (optax `add_decayed_weights`, no mask).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddDecayedWeights {
    /// The decay rate.
    pub weight_decay: f64,
}

/// [`AddDecayedWeights`].
pub fn add_decayed_weights(weight_decay: f64) -> AddDecayedWeights {
    AddDecayedWeights { weight_decay }
}

impl GradientTransformation for AddDecayedWeights {
    fn init(&self, _params: &[f64]) -> State {
        State::Empty
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        _state: &mut State,
        params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        if self.weight_decay == 0.0 {
            return updates;
        }
        for (g, p) in updates.iter_mut().zip(params) {
            *g += self.weight_decay * p;
        }
        updates
    }
}

/// optax `adamw`: `chain(scale_by_adam, add_decayed_weights(wd), scale_by_learning_rate(lr))`
/// (optax's default weight decay is 1e-4).
pub fn adamw(lr: Schedule, b1: f64, b2: f64, eps: f64, weight_decay: f64) -> Chain {
    chain![
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr)
    ]
}
