//! # solvers — integrators and simulation kernels
//!
//! * [`heun`]: the stochastic Heun step with TVB-O semantics (coupling frozen across stages, the
//!   same noise in predictor and corrector) and its hand-written adjoint.
//! * [`network_kernel`]: a plain-Rust kernel simulating a batch of Jansen-Rit networks with
//!   conduction delays (forward pass and reverse-mode adjoint with segment checkpointing).
//! * [`simulate_op`]: that kernel registered as one custom autodiff operation on burn, so the
//!   whole simulation is a single node of the tape.
//! * [`reference`]: the same simulation written as per-step burn tensor operations; slow, but
//!   obviously right, it is the oracle that checks the fused kernel and its gradients.

pub mod heun;
pub mod network_kernel;
pub mod reference;
pub mod simulate_op;

pub use network_kernel::{JrProblem, Monitor, SimulationOutput};
pub use simulate_op::{JrSimulation, simulate_jr};
