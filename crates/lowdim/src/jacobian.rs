//! Jacobians by burn's reverse-mode autodiff, and the tangent (Jacobian–vector) capability.
//!
//! For a row-wise map `f: [R, n] → [R, m]` the whole Jacobian of every row comes from **one**
//! backward pass: each state is replicated `m` times, row `(b, i)` of the output is masked to its
//! `i`-th component, and the gradient of the masked sum with respect to the replicated input is
//! `∂f_i/∂x (x_b)` in row `(b, i)`. This relies on rows being independent (see [`crate::drift`]).

use crate::drift::{Drift, tensor_from_rows, to_host};
use burn::tensor::{Device, Tensor};

/// A drift that also provides its Jacobian–vector product `J(t, x) v` (the tangent dynamics used
/// by Lyapunov exponents). Each implementation is checked against [`drift_jacobian`] in tests.
pub trait TangentDrift: Drift {
    /// `J(t, x) v` for every row of `x` and `v` (`[B, dim]` each).
    fn tangent(&self, t: f64, x: Tensor<2>, v: Tensor<2>) -> Tensor<2>;

    /// `(f(t, x), J(t, x) v)` together; override when the two share work (one matmul for both).
    fn drift_and_tangent(&self, t: f64, x: Tensor<2>, v: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        (self.drift(t, x.clone()), self.tangent(t, x, v))
    }
}

/// Jacobians of a row-wise map `f` from `n_in` to `n_out` columns at the `rows` states `x`
/// (row-major `[rows, n_in]`), by autodiff on the autodiff view of `device`.
/// Returns row-major `[rows, n_out, n_in]`.
pub fn jacobian_of<F>(f: F, x: &[f64], n_in: usize, n_out: usize, device: &Device) -> Vec<f64>
where
    F: Fn(Tensor<2>) -> Tensor<2>,
{
    let rows = x.len() / n_in;
    let ad = device.clone().autodiff();
    let mut rep = Vec::with_capacity(rows * n_out * n_in);
    let mut mask = vec![0.0; rows * n_out * n_out];
    for b in 0..rows {
        for i in 0..n_out {
            rep.extend_from_slice(&x[b * n_in..(b + 1) * n_in]);
            mask[(b * n_out + i) * n_out + i] = 1.0;
        }
    }
    let leaf = tensor_from_rows(&rep, rows * n_out, n_in, &ad).require_grad();
    let mask = tensor_from_rows(&mask, rows * n_out, n_out, &ad);
    let loss = (f(leaf.clone()) * mask).sum();
    let grads = loss.backward();
    let g = leaf
        .grad(&grads)
        .expect("the replicated state is a leaf that requires grad");
    to_host(g)
}

/// Jacobians `∂f/∂x (t, x_b)` of a drift at each row `x_b` of `x` (row-major `[rows, dim]`).
/// Returns row-major `[rows, dim, dim]`.
pub fn drift_jacobian<D: Drift + ?Sized>(
    model: &D,
    t: f64,
    x: &[f64],
    device: &Device,
) -> Vec<f64> {
    let dim = model.dim();
    jacobian_of(|s| model.drift(t, s), x, dim, dim, device)
}

/// The feed-forward map `r = f(W x)` with `f = tanh`, as a row-wise tensor map (`x` `[B, n]`,
/// `W` `[m, n]` row-major given as `Wᵀ` `[n, m]` tensor).
pub fn feedforward_tanh(x: Tensor<2>, w_t: Tensor<2>) -> Tensor<2> {
    x.matmul(w_t).tanh()
}

/// The analytic linearisation of `r = f(W x)` (seed 002, question 1): `J(x) = G(x) W` with
/// `G = diag(f'(W x))`, `f = tanh`, `f' = 1 − tanh²`. `w` is row-major `[m, n]`; returns `[m, n]`.
pub fn feedforward_tanh_jacobian(w: &[f64], m: usize, n: usize, x: &[f64]) -> Vec<f64> {
    let mut j = vec![0.0; m * n];
    for i in 0..m {
        let u: f64 = (0..n).map(|k| w[i * n + k] * x[k]).sum();
        let g = 1.0 - u.tanh().powi(2);
        for k in 0..n {
            j[i * n + k] = g * w[i * n + k];
        }
    }
    j
}
