//! Adamax (optax's `scale_by_adamax` and `adamax`).

use crate::adam::bias_correction;
use crate::schedule::{Schedule, scale_by_learning_rate};
use crate::{Chain, GradientTransformation, State, chain, wrong_state};

/// Rescales updates by Adam's first moment over an infinity norm (optax `scale_by_adamax`):
///
/// `mu ← (1−b1)·g + b1·mu`, `nu ← max(|g| + eps, b2·nu)`, `u = (mu/(1−b1^t)) / nu`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleByAdamax {
    /// First-moment decay.
    pub b1: f64,
    /// Infinity-moment decay.
    pub b2: f64,
    /// Added to |g| in the infinity moment.
    pub eps: f64,
}

/// [`ScaleByAdamax`].
pub fn scale_by_adamax(b1: f64, b2: f64, eps: f64) -> ScaleByAdamax {
    ScaleByAdamax { b1, b2, eps }
}

impl GradientTransformation for ScaleByAdamax {
    fn init(&self, params: &[f64]) -> State {
        State::Moments {
            count: 0,
            mu: vec![0.0; params.len()],
            nu: vec![0.0; params.len()],
        }
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        state: &mut State,
        _params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        let State::Moments { count, mu, nu } = state else {
            wrong_state("scale_by_adamax", state)
        };
        *count += 1;
        let c1 = bias_correction(self.b1, *count);
        for ((g, m), v) in updates.iter_mut().zip(mu.iter_mut()).zip(nu.iter_mut()) {
            *m = (1.0 - self.b1) * *g + self.b1 * *m;
            *v = (g.abs() + self.eps).max(self.b2 * *v);
            *g = (*m / c1) / *v;
        }
        updates
    }
}

/// optax `adamax`: `chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(lr))`.
pub fn adamax(lr: Schedule, b1: f64, b2: f64, eps: f64) -> Chain {
    chain![scale_by_adamax(b1, b2, eps), scale_by_learning_rate(lr)]
}
