//! Stability-optimized circuits (SOC): dense linear algebra for the spectral abscissa, the
//! Gramians of `W − sI` and the smoothed spectral abscissa, a differentiable SSA op for burn,
//! and the SOC optimizer of Hennequin, Vogels & Gerstner (2014).
//!
//! - [`schur`]: real Schur decomposition `W = Z T Zᵀ` (faer Hessenberg + hand-written QR,
//!   see [`schur`] for why) and `α(W) = max Re λ(W)`; the QR iteration in `francis` (the
//!   double-shift sweep, LAPACK `dlahqr`), `aed` (aggressive early deflation), `reorder`
//!   (swapping Schur blocks) and `multishift` (the driver, LAPACK `dlaqr0`).
//! - [`sylvester`]: quasi-triangular Sylvester/Lyapunov solves (Bartels–Stewart, recursive).
//! - [`gramians`]: controllability/observability Gramians of `W − sI` and `G = QP / tr(QP)`.
//! - [`ssa`]: the smoothed spectral abscissa `tr P(W, s) = 1/ε` and its gradient.
//! - [`ssa_op`]: the SSA as a custom autodiff op on burn tensors (Flex, NdArray).
//! - [`optimizer`]: the SOC optimizer ([`SocConfig`], [`SocOptimizer`]).
//! - [`bench`]: [`bench_steps`] and the full N = 200 run for `fit bench`.
//!
//! References: Hennequin, Vogels & Gerstner, Neuron 82 (2014); Vanbiervliet et al., SIAM J.
//! Matrix Anal. Appl. 31 (2009); Stroud, Porter, Hennequin & Vogels, Nat. Neurosci. 21 (2018).

mod aed;
pub mod bench;
pub mod error;
mod francis;
pub mod gramians;
mod multishift;
pub mod optimizer;
mod reorder;
pub mod schur;
pub mod ssa;
pub mod ssa_op;
pub mod sylvester;
#[cfg(test)]
mod test_matrices;

pub use bench::{bench_steps, full_run};
pub use error::SocError;
pub use optimizer::{SocConfig, SocOptimizer, StepStats, initial_weights};
pub use ssa::{SmoothedAbscissa, smoothed_spectral_abscissa};
pub use ssa_op::smoothed_abscissa;
