//! # solvers — integrators, monitors, noise and the network simulation kernel
//!
//! * [`integrator`]: explicit Runge-Kutta methods as data (Euler, Heun, RK4; Euler and Heun
//!   also with additive noise, Heun being TVB-O's stochastic Heun), one node step and its
//!   adjoint for any model.
//! * [`lanes`]: four `f64` lanes as one drift scalar, so the kernel steps four regions per
//!   evaluation of a model with each lane bit-for-bit the scalar result.
//! * [`monitor`]: what a run records (sub-sampling, temporal averages, BOLD) and its gradient.
//! * [`bold`]: the Balloon-Windkessel BOLD monitor, integrated inside the kernel.
//! * [`noise`]: standard normal draws generated inside the kernel from a seekable ChaCha8
//!   stream (or read from an array).
//! * [`network_kernel`]: the one plain-Rust kernel simulating a batch of delayed networks of any
//!   registered model and coupling (forward pass and reverse-mode adjoint with segment
//!   checkpointing).
//! * [`simulate_op`]: that kernel registered as one custom autodiff operation on burn, so the
//!   whole simulation is a single node of the tape.
//! * [`huge_pages`]: large traces and tapes allocated on 2 MiB pages (fewer page faults).
//! * [`threads`]: how many worker threads the process may use (SLURM allocation, affinity).
//! * [`reference`]: the same simulation written as per-step burn tensor operations; slow, but
//!   obviously right, it is the oracle that checks the fused kernel and its gradients.

pub mod bold;
pub mod huge_pages;
pub mod integrator;
pub mod lanes;
pub mod monitor;
pub mod network_kernel;
pub mod noise;
pub mod reference;
pub mod simulate_op;
pub mod threads;

pub use bold::{BoldConstants, BoldMonitor};
pub use integrator::{Method, Tableau};
pub use monitor::{Monitor, MonitorKind};
pub use network_kernel::{Layout, NetworkProblem, SimulationOutput};
pub use noise::NoiseSource;
pub use simulate_op::{Simulation, simulate};
