//! Losses comparing spectra with a target, along the last axis.

use burn::tensor::Tensor;

/// `1 − corr(s, t)` (Pearson) along the last axis; `target` broadcasts against `s`.
/// This is the seed's `1 - jnp.corrcoef(S, target)[0, 1]`.
pub fn one_minus_correlation<const D: usize>(s: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
    let sc = s.clone() - s.mean_dim(D - 1);
    let tc = target.clone() - target.mean_dim(D - 1);
    let cov = (sc.clone() * tc.clone()).sum_dim(D - 1);
    let norm = ((sc.clone() * sc).sum_dim(D - 1) * (tc.clone() * tc).sum_dim(D - 1)).sqrt();
    (cov / norm).neg().add_scalar(1.0)
}

/// Mean squared difference of natural-log spectra along the last axis.
pub fn log_spectrum_mse<const D: usize>(s: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
    let d = s.log() - target.log();
    (d.clone() * d).mean_dim(D - 1)
}
