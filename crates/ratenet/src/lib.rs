//! AI-state rate networks (seed 000): the LIF transfer function, network fixed points with
//! implicit gradients, and fits of J, P and w.
//!
//! Layers, bottom up:
//! * [`phi`]: the Ricciardi/Siegert transfer function `Phi(mu, sigma; tau)` exact in f64 over
//!   the whole range (scaled form and `log Phi` far below threshold, the `sigma → 0` limit) with
//!   analytic derivatives; its special functions are in [`erfcx_integral`].
//! * [`phi_op`]: Phi as a custom burn autodiff op (Flex, NdArray, Autodiff).
//! * [`network`]: `mu = tau(W r + h)`, `sigma² = tau(W2 r + xi2)`, `W = J⊙C` with signed
//!   log-magnitudes, explicit / sampled / mean-field connectivity; analytic Jacobian and
//!   θ-vector–Jacobian products.
//! * [`fixed_point`]: the seed's `Euler2fixedpt`, exact Newton, stability, implicit gradients;
//!   [`fixed_point_op`] packages `θ → r*(θ)` as one autodiff op with the implicit backward.
//! * [`tensor_network`]: the same network as burn tensor code (unrolled Euler, residual loss),
//!   the reference the implicit gradients are checked against.
//! * [`structured`]: the large-network path (factored weights, GMRES) of the fixed-point solvers.
//! * [`fit`]: losses and the Adam fit; [`bench`]: benchmark functions for `fit bench`.
//!
//! All arithmetic is f64. References: Ricciardi (1977); Siegert (1951); Brunel (2000);
//! Amit & Brunel (1997) for the AI-state mean-field equations.

pub mod bench;
pub mod erfcx_integral;
pub mod fit;
pub mod fixed_point;
pub mod fixed_point_op;
pub mod network;
pub mod phi;
pub mod phi_op;
pub mod structured;
pub mod tensor_network;

pub use fit::{FitSettings, FitSnapshot, RateError, RateFit, StepReport, Targets};
pub use fixed_point::{EulerConfig, FixedPoint, FixedPointError, NewtonConfig, Stability};
pub use network::{Connectivity, N_THETA, NetworkSpec, RateNetwork, THETA_NAMES};
pub use phi::{LifConstants, PhiEval, log_phi, phi, phi_with_grad};
