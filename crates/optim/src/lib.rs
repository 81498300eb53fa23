//! Optimizers as composable gradient transformations, in f64 — the optax design.
//!
//! A [`GradientTransformation`] is an `init`/`update` pair: `init(params)` builds its
//! [`State`], `update(grads, state, params, value)` turns gradients into updates (and advances
//! the state). Transformations compose with [`chain!`]; [`apply_updates`] adds the updates to
//! the parameters. Every number is an `f64` (β, ε, bias corrections) and every formula follows
//! optax's operation order (`optax/_src/transform.py`, `optax/_src/alias.py`), so
//! [`adam`]`(lr)` equals `optax.adam(lr)` to round-off per step.
//!
//! ```
//! use optim::{GradientTransformation, Schedule, chain, clip_by_global_norm, scale_by_adam};
//! use optim::scale_by_learning_rate;
//! let opt = chain![
//!     clip_by_global_norm(1.0),
//!     scale_by_adam(0.9, 0.999, 1e-8),
//!     scale_by_learning_rate(Schedule::Constant { value: 0.01 }),
//! ];
//! let mut params = vec![1.0, -2.0];
//! let mut state = opt.init(&params);
//! let grads = vec![2.0 * params[0], 2.0 * params[1]];
//! let updates = opt.update(grads, &mut state, &params, None);
//! optim::apply_updates(&mut params, &updates);
//! assert!(params[0] < 1.0 && params[1] > -2.0);
//! ```
//!
//! State is plain data ([`State`]) that serialises exactly (f64 as bit patterns), so a
//! checkpointed run continues bit for bit. For deterministic problems [`lbfgs::Lbfgs`] adds
//! L-BFGS with a backtracking Armijo line search; [`stopping::EarlyStopping`] tracks the best
//! value and decides when to stop.

pub mod adam;
pub mod adamax;
pub mod adamw;
pub mod bits;
pub mod chain;
pub mod clip;
pub mod lbfgs;
pub mod plateau;
pub mod schedule;
pub mod sgd;
pub mod stopping;

pub use adam::{adam, scale_by_adam};
pub use adamax::{adamax, scale_by_adamax};
pub use adamw::{adamw, add_decayed_weights};
pub use chain::Chain;
pub use clip::{clip, clip_by_global_norm};
pub use plateau::reduce_on_plateau;
pub use schedule::{Schedule, scale_by_learning_rate};
pub use sgd::{sgd, trace};

use serde::{Deserialize, Serialize};

/// The state of a transformation: plain data, serialised exactly (f64 as bit patterns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    /// A stateless transformation.
    Empty,
    /// A step counter (schedules).
    Count {
        /// Updates made so far.
        count: u64,
    },
    /// First and second (or infinity) moments with their step count (Adam, Adamax).
    Moments {
        /// Updates made so far.
        count: u64,
        /// First moment.
        #[serde(with = "bits::vec")]
        mu: Vec<f64>,
        /// Second (Adam) or infinity (Adamax) moment.
        #[serde(with = "bits::vec")]
        nu: Vec<f64>,
    },
    /// Momentum accumulator (SGD's `trace`).
    Trace {
        /// The accumulated trace.
        #[serde(with = "bits::vec")]
        trace: Vec<f64>,
    },
    /// Reduce-on-plateau bookkeeping (optax.contrib's `ReduceLROnPlateauState`).
    Plateau(plateau::PlateauState),
    /// One state per element of a [`Chain`].
    Chain {
        /// The elements' states, in order.
        states: Vec<State>,
    },
}

/// A gradient transformation: `init` builds its state, `update` maps gradients to updates.
pub trait GradientTransformation: Send + Sync + std::fmt::Debug {
    /// The initial state for parameters `params`.
    fn init(&self, params: &[f64]) -> State;
    /// Transforms `updates` (gradients on entry to a chain) and advances `state`. `params` are
    /// the current parameters; `value` is the current loss, read by transformations that need
    /// it (reduce-on-plateau) and ignored by the others.
    fn update(
        &self,
        updates: Vec<f64>,
        state: &mut State,
        params: &[f64],
        value: Option<f64>,
    ) -> Vec<f64>;
}

impl<T: GradientTransformation + ?Sized> GradientTransformation for Box<T> {
    fn init(&self, params: &[f64]) -> State {
        (**self).init(params)
    }
    fn update(
        &self,
        updates: Vec<f64>,
        state: &mut State,
        params: &[f64],
        value: Option<f64>,
    ) -> Vec<f64> {
        (**self).update(updates, state, params, value)
    }
}

/// `params += updates` (optax's `apply_updates`).
pub fn apply_updates(params: &mut [f64], updates: &[f64]) {
    assert_eq!(
        params.len(),
        updates.len(),
        "params and updates differ in length"
    );
    for (p, u) in params.iter_mut().zip(updates) {
        *p += u;
    }
}

/// Panics with a clear message when a transformation gets a state of another kind (a
/// programming error: the state was built by a different transformation).
pub(crate) fn wrong_state(name: &str, state: &State) -> ! {
    panic!("{name}: state of the wrong kind ({state:?})")
}
