//! # dynamics — neural mass models and couplings, each written once
//!
//! The bottom layer of neurodyn. A model ([`NodeModel`]) is a small value with named state
//! variables, a parameter table and a drift `dx = f(x, c, θ)` written once, generic over
//! [`Scalar`]; the `f64` fast path, the vector–Jacobian product ([`Rev`]) and the burn tensor
//! oracle ([`TensorScalar`]) all come from that one source. Couplings ([`CouplingFunction`])
//! are written the same way. Registered models live in [`models`] (one file each), registered
//! couplings in [`couplings`]; the connectome with its conduction delays in [`connectome`].
//!
//! Nothing here touches files; loading connectomes from disk lives in the `fit` crate.

pub mod connectome;
pub mod coupling;
pub mod couplings;
pub mod exp;
pub mod model;
pub mod models;
pub mod rev;
pub mod scalar;
pub mod tensor_scalar;

pub use connectome::{Connectome, ConnectomeError, Delays, Normalisation};
pub use coupling::{CouplingFunction, CouplingInfo};
pub use couplings::{CouplingKind, CouplingVisitor};
pub use model::{
    MAX_AUX, MAX_COUPLING, MAX_MODEL_PARAMS, MAX_STATE, ModelInfo, NodeModel, ParamInfo, StateInfo,
    drift_tensor, drift_vjp_derived, drift_vjp_lanewise,
};
pub use models::{ModelKind, ModelVisitor};
pub use rev::Rev;
pub use scalar::{Lanes, Scalar};
pub use tensor_scalar::TensorScalar;
