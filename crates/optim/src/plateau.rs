//! Reduce-on-plateau (optax.contrib's `reduce_on_plateau`): scales the updates down by
//! `factor` after `patience` updates without improvement of the loss.

use crate::{GradientTransformation, State, bits, wrong_state};
use serde::{Deserialize, Serialize};

/// Settings, as optax names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReduceOnPlateau {
    /// Factor in (0, 1) applied to the scale on a plateau.
    pub factor: f64,
    /// Updates without improvement before the scale drops.
    pub patience: u64,
    /// Relative improvement that counts (`value < (1 − rtol)·best − atol`).
    pub rtol: f64,
    /// Absolute improvement that counts.
    pub atol: f64,
    /// Updates after a drop during which plateaus are ignored.
    pub cooldown: u64,
    /// Values averaged before each decision.
    pub accumulation_size: u64,
    /// The scale never drops below this.
    pub min_scale: f64,
}

/// [`ReduceOnPlateau`] with optax's defaults for `rtol = 1e-4`, `atol = 0`,
/// `accumulation_size = 1`, `min_scale = 0`.
pub fn reduce_on_plateau(factor: f64, patience: u64, cooldown: u64) -> ReduceOnPlateau {
    ReduceOnPlateau {
        factor,
        patience,
        rtol: 1e-4,
        atol: 0.0,
        cooldown,
        accumulation_size: 1,
        min_scale: 0.0,
    }
}

/// optax's `ReduceLROnPlateauState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// Best (averaged) value so far.
    #[serde(with = "bits::f64")]
    pub best_value: f64,
    /// Decisions without improvement.
    pub plateau_count: u64,
    /// Current scale of the updates.
    #[serde(with = "bits::f64")]
    pub scale: f64,
    /// Remaining cooldown.
    pub cooldown_count: u64,
    /// Values accumulated towards the next decision.
    pub count: u64,
    /// Their running mean.
    #[serde(with = "bits::f64")]
    pub avg_value: f64,
}

impl ReduceOnPlateau {
    /// Checks the settings as optax does.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(format!("factor must be in (0, 1), got {}", self.factor));
        }
        if !(self.rtol >= 0.0 && self.atol >= 0.0) || (self.rtol == 0.0 && self.atol == 0.0) {
            return Err("rtol and atol must be >= 0 and not both 0".into());
        }
        if self.rtol > 1.0 {
            return Err(format!("rtol must be <= 1, got {}", self.rtol));
        }
        if self.patience == 0 || self.accumulation_size == 0 {
            return Err("patience and accumulation_size must be >= 1".into());
        }
        Ok(())
    }

    fn decide(&self, s: &mut PlateauState) {
        let improved = s.avg_value < (1.0 - self.rtol) * s.best_value - self.atol;
        if improved {
            s.best_value = s.avg_value;
        }
        let curr = if improved { 0 } else { s.plateau_count + 1 };
        if s.cooldown_count > 0 {
            s.plateau_count = 0;
            s.cooldown_count -= 1;
        } else {
            let hit = curr == self.patience;
            s.plateau_count = if hit { 0 } else { curr };
            s.scale = (if hit { s.scale * self.factor } else { s.scale }).max(self.min_scale);
            s.cooldown_count = if hit { self.cooldown } else { 0 };
        }
        s.count = 0;
        s.avg_value = 0.0;
    }
}

impl GradientTransformation for ReduceOnPlateau {
    fn init(&self, _params: &[f64]) -> State {
        State::Plateau(PlateauState {
            best_value: f64::INFINITY,
            plateau_count: 0,
            scale: 1.0,
            cooldown_count: 0,
            count: 0,
            avg_value: 0.0,
        })
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        state: &mut State,
        _params: &[f64],
        value: Option<f64>,
    ) -> Vec<f64> {
        let State::Plateau(s) = state else {
            wrong_state("reduce_on_plateau", state)
        };
        if let Some(v) = value {
            let new_count = s.count + 1;
            s.avg_value = (s.count as f64 * s.avg_value + v) / new_count as f64;
            s.count = new_count;
            if new_count == self.accumulation_size {
                self.decide(s);
            }
        }
        for u in &mut updates {
            *u *= s.scale;
        }
        updates
    }
}
