//! # dynamics — models of neural dynamics
//!
//! The bottom layer of neurodyn: each model is a small value holding its parameters, with a
//! drift (`f(state, coupling, params) -> d state`) written twice:
//!
//! * as plain `f64` arithmetic per node (with a hand-written vector–Jacobian product), used by the
//!   fused simulation kernels in the `solvers` crate, and
//! * as burn tensor operations, the clear reference ("oracle") that checks the fast path.
//!
//! Models here never touch files; loading connectomes from disk lives in the `fit` crate.

pub mod backend;
pub mod connectome;
pub mod jansen_rit;

pub use backend::{BackendKind, f64_device};
pub use connectome::{Connectome, ConnectomeError, Delays, Normalisation};
pub use jansen_rit::{CouplingParams, JansenRit, JrParam, N_JR_PARAMS, SigmoidalJansenRit};
