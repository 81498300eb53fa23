//! Adam (optax's `scale_by_adam` and `adam`).

use crate::schedule::{Schedule, scale_by_learning_rate};
use crate::{Chain, GradientTransformation, State, chain, wrong_state};

/// Rescales updates by Adam's bias-corrected moments (optax `scale_by_adam`, `eps_root = 0`):
///
/// `mu ← (1−b1)·g + b1·mu`, `nu ← (1−b2)·g² + b2·nu`, `t ← t+1`,
/// `u = (mu/(1−b1^t)) / (sqrt(nu/(1−b2^t)) + eps)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleByAdam {
    /// First-moment decay.
    pub b1: f64,
    /// Second-moment decay.
    pub b2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Term inside the square root (optax `eps_root`).
    pub eps_root: f64,
}

/// [`ScaleByAdam`] with `eps_root = 0` (optax's default).
pub fn scale_by_adam(b1: f64, b2: f64, eps: f64) -> ScaleByAdam {
    ScaleByAdam {
        b1,
        b2,
        eps,
        eps_root: 0.0,
    }
}

/// `1 − decay^count` (optax `tree.bias_correction`).
pub(crate) fn bias_correction(decay: f64, count: u64) -> f64 {
    1.0 - decay.powi(count as i32)
}

impl GradientTransformation for ScaleByAdam {
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
            wrong_state("scale_by_adam", state)
        };
        *count += 1;
        let c1 = bias_correction(self.b1, *count);
        let c2 = bias_correction(self.b2, *count);
        for ((g, m), v) in updates.iter_mut().zip(mu.iter_mut()).zip(nu.iter_mut()) {
            *m = (1.0 - self.b1) * *g + self.b1 * *m;
            *v = (1.0 - self.b2) * (*g * *g) + self.b2 * *v;
            let m_hat = *m / c1;
            let v_hat = *v / c2;
            *g = m_hat / ((v_hat + self.eps_root).sqrt() + self.eps);
        }
        updates
    }
}

/// optax `adam`: `chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))`.
pub fn adam(lr: Schedule, b1: f64, b2: f64, eps: f64) -> Chain {
    chain![scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr)]
}
