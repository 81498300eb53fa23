//! The one seam every model implements: a batched drift `dx/dt = f(t, x)`.
//!
//! States are `[B, dim]` tensors: each row is an independent copy of the system (a start of a
//! multi-start search, a realisation, a grid point). Every tool in this crate — steppers, Newton,
//! Jacobians, Lyapunov exponents — relies on rows being independent: the drift of row `b`
//! depends on row `b` only. That is what lets one backward pass over a replicated batch give a
//! whole Jacobian ([`crate::jacobian`]).

use burn::tensor::{Device, Tensor, TensorData};

/// A vector field `dx/dt = f(t, x)` evaluated on a batch of states `[B, dim]`.
///
/// Implementations must not use `Tensor::div_scalar` on differentiated paths: burn-autodiff
/// 0.22.1 computes its backward with the reciprocal in `f32` (a 1e-8 relative error in every
/// Jacobian); multiply by the reciprocal instead.
///
/// Implementations build their constants on the device of `x`, so the same model runs on a
/// plain device (simulation) and on its autodiff view (Jacobians, Adam).
pub trait Drift {
    /// Dimension of one state (the number of columns of `x`).
    fn dim(&self) -> usize;

    /// The drift `f(t, x)` for every row of `x` `[B, dim]`; returns `[B, dim]`. `t` is in the
    /// model's time unit; autonomous models ignore it, and the fixed-point tools call it with
    /// `t = 0`.
    fn drift(&self, t: f64, x: Tensor<2>) -> Tensor<2>;

    /// Short human-readable name (used in reports and plots).
    fn name(&self) -> String;
}

/// Makes a `[rows, cols]` tensor on `device` from row-major host data.
pub fn tensor_from_rows(data: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor::<2>::from_data(TensorData::new(data.to_vec(), [rows, cols]), device)
}

/// Reads any float tensor back to the host as row-major `f64`.
pub fn to_host<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("a tensor converted to f64 reads back as f64")
}

/// Evaluates the drift at `t` on host states (row-major `[rows, dim]`) and returns it on the host.
pub fn eval_drift<D: Drift + ?Sized>(model: &D, t: f64, x: &[f64], device: &Device) -> Vec<f64> {
    let dim = model.dim();
    let rows = x.len() / dim;
    to_host(model.drift(t, tensor_from_rows(x, rows, dim, device)))
}
