//! # neurodyn
//!
//! Differentiable simulation of neural dynamics with gradient-based parameter fitting, on burn.
//! This facade re-exports the workspace's layers, bottom to top:
//!
//! | crate | owns |
//! |---|---|
//! | [`dynamics`] | models (Jansen-Rit) and connectomes with delays |
//! | [`solvers`] | stochastic Heun, the fused differentiable network simulation, its tensor-op oracle |
//! | [`spectra`] | Welch PSD, peak statistics, spectral losses |
//! | [`ratenet`] | AI-state rate networks: LIF transfer function, fixed points, implicit gradients |
//! | [`lowdim`] | single population, FitzHugh-Nagumo, random networks; fixed points and stability |
//! | [`soc`] | stability-optimised circuits: smoothed spectral abscissa and the SOC optimizer |
//! | [`fit`] | the command line: experiments, training loop, checkpoints, grids, plots |

pub use dynamics;
pub use fit;
pub use lowdim;
pub use ratenet;
pub use soc;
pub use solvers;
pub use spectra;
