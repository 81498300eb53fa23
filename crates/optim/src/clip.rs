//! Gradient clipping (optax's `clip_by_global_norm` and `clip`).

use crate::{GradientTransformation, State};

/// Rescales the updates to global norm `max_norm` when their norm is not below it:
/// `u ← (u / ‖u‖) · max_norm` (optax's operation order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipByGlobalNorm {
    /// The largest norm let through unchanged.
    pub max_norm: f64,
}

/// [`ClipByGlobalNorm`].
pub fn clip_by_global_norm(max_norm: f64) -> ClipByGlobalNorm {
    ClipByGlobalNorm { max_norm }
}

/// Euclidean norm of a vector (optax `tree.norm`).
pub fn global_norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

impl GradientTransformation for ClipByGlobalNorm {
    fn init(&self, _params: &[f64]) -> State {
        State::Empty
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        _state: &mut State,
        _params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        let g_norm = global_norm(&updates);
        // optax's `select(g_norm < max_norm, u, clipped)`: a NaN norm takes the clipped branch.
        if g_norm.partial_cmp(&self.max_norm) != Some(std::cmp::Ordering::Less) {
            for u in &mut updates {
                *u = (*u / g_norm) * self.max_norm;
            }
        }
        updates
    }
}

/// Clips every update to `[-max_delta, max_delta]` (optax `clip`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Largest magnitude.
    pub max_delta: f64,
}

/// [`Clip`].
pub fn clip(max_delta: f64) -> Clip {
    Clip { max_delta }
}

impl GradientTransformation for Clip {
    fn init(&self, _params: &[f64]) -> State {
        State::Empty
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        _state: &mut State,
        _params: &[f64],
        _value: Option<f64>,
    ) -> Vec<f64> {
        for u in &mut updates {
            *u = u.clamp(-self.max_delta, self.max_delta);
        }
        updates
    }
}
