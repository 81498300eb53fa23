//! # lowdim — low-dimensional and random-network dynamics
//!
//! The teaching-scale systems of seeds 001 and 002, as batched burn tensor programs, and the
//! generic tools that analyse any of them:
//!
//! * models ([`Drift`]): [`SigmoidPopulation`] (single excitatory population, optional OU
//!   input), [`FitzHughNagumo`] (standard form and the seed's swapped form), [`RateNetwork`]
//!   (random `W ~ N(mean, g²/N)`, linear or tanh);
//! * simulation with explicit Runge–Kutta tableaux ([`EULER`], [`HEUN`], [`RK4`]);
//! * Jacobians by autodiff ([`drift_jacobian`]), fixed points by damped Newton from many starts
//!   ([`find_fixed_points`]), the seed's Adam workflow followed by a Newton polish
//!   ([`adam_fixed_points`]), eigenvalues and classification ([`classify`]);
//! * parameter scans counting fixed points ([`count_fixed_points_grid`]), Hopf points by
//!   continuation and bisection ([`hopf_points`]), nullclines, oscillation periods, and the
//!   largest Lyapunov exponent by Benettin's algorithm ([`largest_lyapunov`]).
//!
//! States are `[B, dim]` tensors whose rows are independent systems; constants are built on the
//! device of the state, so the same model runs on a plain device and on its autodiff view.
//! Nothing here touches files: the `fit` crate writes results and plots.

pub mod adam_workflow;
pub mod drift;
pub mod error;
pub mod fitzhugh_nagumo;
pub mod fixed_points;
pub mod jacobian;
pub mod lyapunov;
pub mod period;
pub mod phase_plane;
pub mod population;
pub mod rate_network;
pub mod scan;
pub mod stability;
pub mod stepper;

pub use adam_workflow::{AdamOptions, AdamOutcome, AdamSearch, adam_fixed_points};
pub use drift::{Drift, eval_drift, tensor_from_rows, to_host};
pub use error::LowdimError;
pub use fitzhugh_nagumo::{FhnForm, FitzHughNagumo};
pub use fixed_points::{
    FixedPoint, NewtonOptions, NewtonRun, find_fixed_points, grid_starts, newton, uniform_starts,
};
pub use jacobian::{TangentDrift, drift_jacobian, jacobian_of};
pub use lyapunov::{
    LyapunovEstimate, LyapunovOptions, RandomNetworkLyapunov, largest_lyapunov,
    random_network_lyapunov,
};
pub use period::oscillation_period;
pub use phase_plane::nullclines;
pub use population::{Bistability, InputSeries, SigmoidPopulation, bistability, ou_input};
pub use rate_network::{Nonlinearity, RateNetwork};
pub use scan::{BifurcationMap, count_fixed_points_grid, hopf_points};
pub use stability::{Stability, classify, eigenvalues, spectral_abscissa};
pub use stepper::{EULER, HEUN, RK4, Tableau, Trajectory, log_log_slope, simulate};

#[cfg(test)]
pub(crate) mod test_util {
    use backend::{BackendKind, f64_device};
    use burn::tensor::Device;

    /// Plain Flex device configured for f64.
    pub fn flex() -> Device {
        f64_device(BackendKind::Flex, false)
    }

    /// Plain NdArray device configured for f64.
    pub fn ndarray() -> Device {
        f64_device(BackendKind::NdArray, false)
    }
}
