//! Early stopping and best-value tracking.

use crate::bits;
use serde::{Deserialize, Serialize};

/// When to stop: after `patience` steps without improvement by more than `min_delta`, or
/// once the loss is at or below `target`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EarlyStopping {
    /// Steps without improvement before stopping (`None`: never for this reason).
    pub patience: Option<u64>,
    /// Smallest decrease of the loss that counts as an improvement.
    pub min_delta: f64,
    /// Stop once the loss is at or below this value.
    pub target: Option<f64>,
}

/// Best value seen and steps since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoppingState {
    /// The lowest loss so far.
    #[serde(with = "bits::f64")]
    pub best_value: f64,
    /// The step it was seen at.
    pub best_step: u64,
    /// Steps observed since the best.
    pub since_best: u64,
}

impl Default for StoppingState {
    fn default() -> Self {
        Self {
            best_value: f64::INFINITY,
            best_step: 0,
            since_best: 0,
        }
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// The loss reached the target.
    Target(f64),
    /// No improvement for this many steps.
    Patience(u64),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Target(t) => write!(f, "the loss reached the target {t:e}"),
            Self::Patience(p) => write!(f, "no improvement for {p} steps"),
        }
    }
}

impl EarlyStopping {
    /// Records the loss at `step`; returns whether it is a new best and whether to stop.
    pub fn observe(
        &self,
        state: &mut StoppingState,
        step: u64,
        value: f64,
    ) -> (bool, Option<StopReason>) {
        let improved = value < state.best_value - self.min_delta || state.best_value.is_infinite();
        if improved {
            state.best_value = value;
            state.best_step = step;
            state.since_best = 0;
        } else {
            state.since_best += 1;
        }
        let stop = match (self.target, self.patience) {
            (Some(t), _) if value <= t => Some(StopReason::Target(t)),
            (_, Some(p)) if state.since_best >= p => Some(StopReason::Patience(p)),
            _ => None,
        };
        (improved, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_and_target() {
        let es = EarlyStopping {
            patience: Some(2),
            min_delta: 0.0,
            target: Some(0.1),
        };
        let mut s = StoppingState::default();
        assert_eq!(es.observe(&mut s, 0, 1.0), (true, None));
        assert_eq!(es.observe(&mut s, 1, 0.5), (true, None));
        assert_eq!(es.observe(&mut s, 2, 0.6), (false, None));
        assert_eq!(
            es.observe(&mut s, 3, 0.7),
            (false, Some(StopReason::Patience(2)))
        );
        assert_eq!((s.best_value, s.best_step), (0.5, 1));
        let mut s = StoppingState::default();
        assert_eq!(
            es.observe(&mut s, 0, 0.05),
            (true, Some(StopReason::Target(0.1)))
        );
    }
}
