//! # neurodyn
//!
//! Differentiable simulation of neural dynamics with gradient-based parameter fitting, on burn.
//! This facade re-exports the workspace's layers, bottom to top:
//!
//! | crate | owns |
//! |---|---|
//! | [`backend`] | the burn CPU backends, each configured for `f64` ([`backend::f64_device`]) |
//! | [`dynamics`] | models (Jansen-Rit) and connectomes with delays |
//! | [`solvers`] | stochastic Heun, the fused differentiable network simulation, its tensor-op oracle |
//! | [`spectra`] | Welch PSD, peak statistics, spectral losses |
//! | [`ratenet`] | AI-state rate networks: LIF transfer function, fixed points, implicit gradients |
//! | [`lowdim`] | single population, FitzHugh-Nagumo, random networks; fixed points and stability |
//! | [`soc`] | stability-optimised circuits: smoothed spectral abscissa and the SOC optimizer |
//! | [`fitting`] | the fitting library: network objective (parameters → simulation → observation → loss), optimizer chain, resource budget |
//!
//! The `fit` command line (experiment files, datasets, run folders, plots) builds on these and
//! is not part of the facade.

pub use backend;
pub use dynamics;
pub use fitting;
pub use lowdim;
pub use ratenet;
pub use soc;
pub use solvers;
pub use spectra;
