//! The smoothed spectral abscissa as a differentiable operation on burn tensors.
//!
//! Forward: solve `tr P(W, s) = 1/ε` for `s` ([`crate::ssa`], faer, plain Rust). Backward:
//! `∂L/∂W = (∂L/∂s) · QP / tr(QP)`, the gradient computed in the forward pass. Registered with
//! burn's backend-extension mechanism for Flex, NdArray and `Autodiff` on top of them (the
//! pattern of `solvers::simulate_op`), so a fit can add `λ · ssa(W)` to its loss as a
//! stability penalty.

// burn 0.22 deprecates NdArray in favour of Flex; the design card requires NdArray to work.
#![allow(deprecated)]

use crate::ssa::smoothed_spectral_abscissa;
use backend::float_to_host as to_host;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, unary},
};
use burn::backend::{Autodiff, Backend, Flex, NdArray, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Shape, Tensor, TensorData};
use faer::{Mat, Par};
use std::sync::Arc;

/// Backend extension: the smoothed spectral abscissa of a square matrix.
#[backend_extension(NdArray, Flex, Autodiff)]
pub trait SsaOps: Backend {
    /// `w` `[n, n]` → `[1]` holding `α̃_ε(w)`.
    fn smoothed_abscissa(w: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self>;
}

/// Runs the SSA on host data (row-major `[n, n]`): value and row-major gradient. Invalid input
/// (non-square, non-finite, `ε ≤ 0`) panics with the error's message: burn ops cannot return
/// errors; call [`crate::ssa::smoothed_spectral_abscissa`] to handle them.
fn host_forward<B: Backend>(w: FloatTensor<B>, epsilon: f64) -> (FloatTensor<B>, Vec<f64>, Shape) {
    let device = w.device();
    let shape = w.shape();
    assert!(
        shape.num_dims() == 2 && shape[0] == shape[1],
        "ssa: W must be square [n, n]"
    );
    let n = shape[0];
    let host = to_host::<B>(w);
    let m = Mat::from_fn(n, n, |i, j| host[i * n + j]);
    let r = smoothed_spectral_abscissa(m.as_ref(), epsilon, Par::Seq)
        .unwrap_or_else(|e| panic!("smoothed spectral abscissa: {e}"));
    let grad: Vec<f64> = (0..n * n).map(|k| r.gradient[(k / n, k % n)]).collect();
    let out = B::float_from_data(TensorData::new(vec![r.value], [1]), &device);
    (out, grad, shape)
}

impl SsaOps for Flex {
    fn smoothed_abscissa(w: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        host_forward::<Self>(w, epsilon).0
    }
}

impl SsaOps for NdArray {
    fn smoothed_abscissa(w: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        host_forward::<Self>(w, epsilon).0
    }
}

/// The gradient `QP / tr(QP)` saved by the forward pass.
#[derive(Debug, Clone)]
struct SsaState {
    gradient: Arc<Vec<f64>>,
    shape: Shape,
}

#[derive(Debug)]
struct SsaBackward;

impl<B: Backend> Backward<B, 1> for SsaBackward {
    type State = SsaState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let device = grad.device();
            let g = to_host::<B>(grad)[0];
            let dw: Vec<f64> = state.gradient.iter().map(|x| g * x).collect();
            B::float_from_data(TensorData::new(dw, state.shape.clone()), &device)
        });
    }
}

impl<B: Backend + SsaOps, C: CheckpointStrategy> SsaOps for Autodiff<B, C> {
    fn smoothed_abscissa(w: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        let guard = w.node();
        let inner = w.into_primitive();
        match SsaBackward.prepare::<C>([guard]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, gradient, shape) = host_forward::<B>(inner, epsilon);
                prep.finish(
                    SsaState {
                        gradient: Arc::new(gradient),
                        shape,
                    },
                    out,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::smoothed_abscissa(inner, epsilon)),
        }
    }
}

/// Smoothed spectral abscissa `α̃_ε(W)` of `w` `[n, n]` as a `[1]` tensor; differentiable on
/// autodiff devices (`∂α̃/∂W = QP / tr(QP)`). See [`crate::ssa`] for ε and the root finder.
pub fn smoothed_abscissa(w: Tensor<2>, epsilon: f64) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SsaOps>::smoothed_abscissa(
        w.into_dispatch(),
        epsilon,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::{BackendKind, f64_device};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn data(n: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        (0..n * n)
            .map(|_| (rng.random::<f64>() - 0.5) * 3.0 / (n as f64).sqrt())
            .collect()
    }

    fn check(kind: BackendKind) {
        let n = 12;
        let eps = 0.05;
        let host = data(n);
        let device = f64_device(kind, true);
        let w =
            Tensor::<2>::from_data(TensorData::new(host.clone(), [n, n]), &device).require_grad();
        // Loss 3·ssa(W)² checks that the upstream gradient is applied.
        let s = smoothed_abscissa(w.clone(), eps);
        let loss = s.clone().powf_scalar(2.0).mul_scalar(3.0).sum();
        let grads = loss.backward();
        let g = w
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap();
        let sv = s
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap()[0];
        let f = |d: &[f64]| {
            let m = Mat::from_fn(n, n, |i, j| d[i * n + j]);
            smoothed_spectral_abscissa(m.as_ref(), eps, Par::Seq)
                .unwrap()
                .value
        };
        assert!((sv - f(&host)).abs() < 1e-15);
        let h = 1e-5;
        let gmax = g.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let mut err = 0.0f64;
        for k in 0..n * n {
            let (mut p, mut m) = (host.clone(), host.clone());
            p[k] += h;
            m[k] -= h;
            let fd = (3.0 * f(&p).powi(2) - 3.0 * f(&m).powi(2)) / (2.0 * h);
            err = err.max((fd - g[k]).abs());
        }
        assert!(
            err / gmax < 1e-7,
            "{kind:?}: relative FD error {:e}",
            err / gmax
        );
        // Without autodiff the op runs forward only, with the same value.
        let plain = Tensor::<2>::from_data(
            TensorData::new(host.clone(), [n, n]),
            &f64_device(kind, false),
        );
        let v = smoothed_abscissa(plain, eps)
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap()[0];
        assert_eq!(v, sv);
    }

    #[test]
    fn gradient_matches_finite_differences_flex() {
        check(BackendKind::Flex);
    }

    #[test]
    fn gradient_matches_finite_differences_ndarray() {
        check(BackendKind::NdArray);
    }
}
