//! Sequential composition (optax's `chain`): each transformation sees the previous one's
//! updates; the state is one [`State`] per element.

use crate::{GradientTransformation, State, wrong_state};

/// Transformations applied one after another.
#[derive(Debug)]
pub struct Chain(pub Vec<Box<dyn GradientTransformation>>);

impl GradientTransformation for Chain {
    fn init(&self, params: &[f64]) -> State {
        State::Chain {
            states: self.0.iter().map(|t| t.init(params)).collect(),
        }
    }

    fn update(
        &self,
        mut updates: Vec<f64>,
        state: &mut State,
        params: &[f64],
        value: Option<f64>,
    ) -> Vec<f64> {
        let State::Chain { states } = state else {
            wrong_state("chain", state)
        };
        assert_eq!(
            states.len(),
            self.0.len(),
            "chain: one state per transformation"
        );
        for (t, s) in self.0.iter().zip(states.iter_mut()) {
            updates = t.update(updates, s, params, value);
        }
        updates
    }
}

/// `chain![t1, t2, …]`: a [`Chain`] of the given transformations (boxed for you).
#[macro_export]
macro_rules! chain {
    ($($t:expr),* $(,)?) => {
        $crate::Chain(vec![$(Box::new($t) as Box<dyn $crate::GradientTransformation>),*])
    };
}
