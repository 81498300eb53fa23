//! # spectra — differentiable spectra and spectral losses
//!
//! * [`welch`]: Welch power spectral density exactly as `scipy.signal.welch` (periodic Hann,
//!   constant detrend, one-sided density scaling, mean over segments), by FFT, differentiable
//!   on every backend as one custom autodiff operation ([`welch_op`]; burn 0.22's rfft backward
//!   is incomplete), with the DFT-as-matmul tensor program as its tested oracle.
//! * [`peak`]: peak frequency (first argmax) and a differentiable soft peak statistic.
//! * [`loss`]: 1 − Pearson correlation and log-spectrum MSE against a target.
//! * [`fc`]: functional connectivity, its dynamics (FCD) and the FC/FCD losses.

pub mod fc;
pub mod loss;
pub mod peak;
pub mod welch;
pub mod welch_op;

pub use fc::{fc, fc_correlation_loss, fc_rmse, fcd, upper_triangle, wasserstein_1};
pub use loss::{log_spectrum_mse, one_minus_correlation};
pub use peak::{peak_frequency, peak_significance, soft_peak_frequency};
pub use welch::{Welch, WelchConfig, WelchError};
