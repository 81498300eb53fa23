//! Welch's PSD by FFT as one custom autodiff operation on burn tensors.
//!
//! Forward: [`Welch::forward_host`] (rustfft, plain Rust) keeps every segment's spectrum.
//! Backward: [`Welch::vjp_host`], the transposed transform on those spectra (one inverse FFT per
//! segment; the formula is in [`crate::welch`]). Registered with burn's backend-extension
//! mechanism for Flex, NdArray and `Autodiff` on top of them (the pattern of
//! `solvers::simulate_op`). burn 0.22's own `rfft` has no complete backward, and the DFT as a
//! matmul ([`Welch::psd_dft`]) costs `O(L·F)` per segment each way.

// burn 0.22 deprecates NdArray in favour of Flex; the design card requires NdArray to work.
#![allow(deprecated)]

use crate::welch::Welch;
use backend::float_to_host as to_host;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, unary},
};
use burn::backend::{Autodiff, Backend, Flex, NdArray, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Tensor, TensorData};
use rustfft::num_complex::Complex;
use std::sync::Arc;

/// Backend extension: Welch's PSD of each row.
#[backend_extension(NdArray, Flex, Autodiff)]
pub trait WelchOps: Backend {
    /// `x` `[rows, T]` → `[rows, F]`.
    fn welch_psd(x: FloatTensor<Self>, welch: Welch) -> FloatTensor<Self>;
}

/// The forward pass on `x` `[rows, T]`: the PSD tensor, the row count and (with `keep`) the
/// segment spectra.
fn host_forward<B: Backend>(
    x: FloatTensor<B>,
    welch: &Welch,
    keep: bool,
) -> (FloatTensor<B>, usize, Vec<Complex<f64>>) {
    let device = x.device();
    let shape = x.shape();
    assert!(
        shape.num_dims() == 2 && shape[1] == welch.len(),
        "welch: x must be [rows, {}]",
        welch.len()
    );
    let rows = shape[0];
    let (power, spectra) = welch.forward_host(&to_host::<B>(x), rows, keep);
    let out = TensorData::new(power, [rows, welch.freqs().len()]);
    (B::float_from_data(out, &device), rows, spectra)
}

impl WelchOps for Flex {
    fn welch_psd(x: FloatTensor<Self>, welch: Welch) -> FloatTensor<Self> {
        host_forward::<Self>(x, &welch, false).0
    }
}

impl WelchOps for NdArray {
    fn welch_psd(x: FloatTensor<Self>, welch: Welch) -> FloatTensor<Self> {
        host_forward::<Self>(x, &welch, false).0
    }
}

/// What the backward pass needs: the estimator and the forward's segment spectra.
#[derive(Debug, Clone)]
struct WelchState {
    welch: Welch,
    spectra: Arc<Vec<Complex<f64>>>,
    rows: usize,
}

#[derive(Debug)]
struct WelchBackward;

impl<B: Backend> Backward<B, 1> for WelchBackward {
    type State = WelchState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let device = grad.device();
            let g = to_host::<B>(grad);
            let dx = state.welch.vjp_host(&state.spectra, &g, state.rows);
            let shape = [state.rows, state.welch.len()];
            B::float_from_data(TensorData::new(dx, shape), &device)
        });
    }
}

impl<B: Backend + WelchOps, C: CheckpointStrategy> WelchOps for Autodiff<B, C> {
    fn welch_psd(x: FloatTensor<Self>, welch: Welch) -> FloatTensor<Self> {
        let guard = x.node();
        let inner = x.into_primitive();
        match WelchBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, rows, spectra) = host_forward::<B>(inner, &welch, true);
                let state = WelchState {
                    welch,
                    spectra: Arc::new(spectra),
                    rows,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::welch_psd(inner, welch)),
        }
    }
}

/// Welch's PSD of each row of `x` `[rows, T]` → `[rows, F]`; differentiable on autodiff devices.
pub fn psd(x: Tensor<2>, welch: &Welch) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as WelchOps>::welch_psd(
        x.into_dispatch(),
        welch.clone(),
    ))
}
