//! Phi as one custom autodiff operation on burn tensors.
//!
//! Forward: the exact f64 kernel of [`crate::phi`] over every element (split across two threads
//! for large batches). Backward: `dL/dmu = g·dPhi/dmu`, `dL/dsigma = g·dPhi/dsigma`, with the
//! derivatives computed analytically in the forward pass and kept as the op's state (the tape
//! holds one node per call, whatever the batch size). `tau` is a constant (no gradient).
//! Registered with burn's backend-extension mechanism for Flex, NdArray and `Autodiff` on top.
#![allow(deprecated)] // burn-ndarray is deprecated in 0.22 but is the backend named in the design card

use crate::phi::{LifConstants, PhiEval, phi_with_grad};
pub(crate) use backend::float_to_host as to_host;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, binary},
};
use burn::backend::{Autodiff, Backend, Flex, NdArray, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Shape, Tensor, TensorData};
use std::sync::Arc;
use std::time::Instant;

/// Backend extension: the LIF transfer function, element-wise.
#[backend_extension(NdArray, Flex, Autodiff)]
pub trait PhiOps: Backend {
    /// `Phi(mu, sigma; tau)` element-wise (all three of the same shape).
    fn lif_phi(
        mu: FloatTensor<Self>,
        sigma: FloatTensor<Self>,
        tau: FloatTensor<Self>,
        lif: LifConstants,
    ) -> FloatTensor<Self>;
}

/// Evaluates Phi and its derivatives on slices (two threads above 4096 elements).
pub fn phi_batch(mu: &[f64], sigma: &[f64], tau: &[f64], lif: &LifConstants) -> Vec<PhiEval> {
    let n = mu.len();
    let eval = |range: std::ops::Range<usize>| -> Vec<PhiEval> {
        range
            .map(|i| phi_with_grad(mu[i], sigma[i], tau[i], lif))
            .collect()
    };
    if n < 4096 {
        return eval(0..n);
    }
    let half = n / 2;
    let (first, second) = std::thread::scope(|s| {
        let h = s.spawn(|| eval(half..n));
        (eval(0..half), h.join().expect("Phi worker thread panicked"))
    });
    let mut out = first;
    out.extend(second);
    out
}

struct Forward<B: Backend> {
    out: FloatTensor<B>,
    dmu: Vec<f64>,
    dsigma: Vec<f64>,
}

fn host_forward<B: Backend>(
    mu: FloatTensor<B>,
    sigma: FloatTensor<B>,
    tau: FloatTensor<B>,
    lif: &LifConstants,
) -> Forward<B> {
    let device = mu.device();
    let shape = mu.shape();
    assert_eq!(
        shape,
        sigma.shape(),
        "lif_phi: mu and sigma must have the same shape"
    );
    assert_eq!(
        shape,
        tau.shape(),
        "lif_phi: mu and tau must have the same shape"
    );
    let evals = phi_batch(
        &to_host::<B>(mu),
        &to_host::<B>(sigma),
        &to_host::<B>(tau),
        lif,
    );
    let phi: Vec<f64> = evals.iter().map(|e| e.phi).collect();
    let out = B::float_from_data(TensorData::new(phi, shape), &device);
    Forward {
        out,
        dmu: evals.iter().map(|e| e.dmu).collect(),
        dsigma: evals.iter().map(|e| e.dsigma).collect(),
    }
}

impl PhiOps for Flex {
    fn lif_phi(
        mu: FloatTensor<Self>,
        sigma: FloatTensor<Self>,
        tau: FloatTensor<Self>,
        lif: LifConstants,
    ) -> FloatTensor<Self> {
        host_forward::<Self>(mu, sigma, tau, &lif).out
    }
}

impl PhiOps for NdArray {
    fn lif_phi(
        mu: FloatTensor<Self>,
        sigma: FloatTensor<Self>,
        tau: FloatTensor<Self>,
        lif: LifConstants,
    ) -> FloatTensor<Self> {
        host_forward::<Self>(mu, sigma, tau, &lif).out
    }
}

/// Backward state: the analytic partial derivatives at the forward inputs.
#[derive(Debug, Clone)]
struct PhiState {
    dmu: Arc<Vec<f64>>,
    dsigma: Arc<Vec<f64>>,
    shape: Shape,
}

#[derive(Debug)]
struct PhiBackward;

fn scale<B: Backend>(grad: FloatTensor<B>, d: &[f64], shape: &Shape) -> FloatTensor<B> {
    let device = grad.device();
    let g = to_host::<B>(grad);
    let v: Vec<f64> = g.iter().zip(d).map(|(g, d)| g * d).collect();
    B::float_from_data(TensorData::new(v, shape.clone()), &device)
}

impl<B: Backend> Backward<B, 2> for PhiBackward {
    type State = PhiState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |g| scale::<B>(g, &s.dmu, &s.shape),
            |g| scale::<B>(g, &s.dsigma, &s.shape),
        );
    }
}

impl<B: Backend + PhiOps, C: CheckpointStrategy> PhiOps for Autodiff<B, C> {
    fn lif_phi(
        mu: FloatTensor<Self>,
        sigma: FloatTensor<Self>,
        tau: FloatTensor<Self>,
        lif: LifConstants,
    ) -> FloatTensor<Self> {
        let guards = [mu.node(), sigma.node()];
        let (mu, sigma, tau) = (
            mu.into_primitive(),
            sigma.into_primitive(),
            tau.into_primitive(),
        );
        match PhiBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let shape = mu.shape();
                let f = host_forward::<B>(mu, sigma, tau, &lif);
                let state = PhiState {
                    dmu: Arc::new(f.dmu),
                    dsigma: Arc::new(f.dsigma),
                    shape,
                };
                prep.finish(state, f.out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lif_phi(mu, sigma, tau, lif)),
        }
    }
}

/// `Phi(mu, sigma; tau)` element-wise on burn tensors (Hz); differentiable in mu and sigma
/// (tau is a constant). The three tensors must share one shape (panics otherwise, like burn's
/// element-wise ops).
pub fn phi_tensor<const D: usize>(
    mu: Tensor<D>,
    sigma: Tensor<D>,
    tau: Tensor<D>,
    lif: &LifConstants,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PhiOps>::lif_phi(
        mu.into_dispatch(),
        sigma.into_dispatch(),
        tau.into_dispatch(),
        *lif,
    ))
}

/// Throughput of Phi with derivatives over `n` points spread over all regimes
/// (mu ∈ [−40, 60] mV, sigma ∈ [0.1, 30] mV), plain-Rust batch kernel: evaluations per second.
pub fn bench_phi_evals_per_second(n: usize) -> f64 {
    let lif = LifConstants::default();
    let mu: Vec<f64> = (0..n)
        .map(|i| -40.0 + 100.0 * (i as f64 * 0.618_034).fract())
        .collect();
    let sigma: Vec<f64> = (0..n)
        .map(|i| 0.1 + 29.9 * (i as f64 * 0.414_214).fract())
        .collect();
    let tau = vec![0.01; n];
    let start = Instant::now();
    let out = phi_batch(&mu, &sigma, &tau, &lif);
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(out.len(), n);
    n as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phi::phi;
    use backend::{BackendKind, f64_device};

    /// The op's gradient (through a non-trivial loss) equals central finite differences of the
    /// scalar kernel, on Flex and NdArray.
    #[test]
    fn phi_op_gradients_match_finite_differences() {
        let lif = LifConstants::default();
        let mu = [25.0, 20.0, 21.0, -40.0, 10.0, 15.0];
        let sigma = [2.0, 1.0, 0.2, 30.0, 3.0, 5.0];
        let w = [1.0, -2.0, 0.5, 3.0, 1.5, -0.7];
        for kind in [BackendKind::Flex, BackendKind::NdArray] {
            let device = f64_device(kind, true);
            let t =
                |v: &[f64]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
            let (mu_t, sigma_t) = (t(&mu).require_grad(), t(&sigma).require_grad());
            let out = phi_tensor(mu_t.clone(), sigma_t.clone(), t(&[0.01; 6]), &lif);
            let values = out
                .to_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap();
            let loss = (out * t(&w)).sum();
            let grads = loss.backward();
            let gmu = mu_t
                .grad(&grads)
                .unwrap()
                .to_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap();
            let gs = sigma_t
                .grad(&grads)
                .unwrap()
                .to_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap();
            for i in 0..6 {
                assert_eq!(values[i], phi(mu[i], sigma[i], 0.01, &lif));
                let (hm, hs) = (1e-5 * mu[i].abs().max(1.0), 1e-5 * sigma[i]);
                let fd_mu = w[i]
                    * (phi(mu[i] + hm, sigma[i], 0.01, &lif)
                        - phi(mu[i] - hm, sigma[i], 0.01, &lif))
                    / (2.0 * hm);
                let fd_s = w[i]
                    * (phi(mu[i], sigma[i] + hs, 0.01, &lif)
                        - phi(mu[i], sigma[i] - hs, 0.01, &lif))
                    / (2.0 * hs);
                assert!(
                    (gmu[i] - fd_mu).abs() < 1e-6 * fd_mu.abs().max(1e-3),
                    "{kind:?} mu[{i}]: {} vs {fd_mu}",
                    gmu[i]
                );
                assert!(
                    (gs[i] - fd_s).abs() < 1e-6 * fd_s.abs().max(1e-3),
                    "{kind:?} sigma[{i}]: {} vs {fd_s}",
                    gs[i]
                );
            }
        }
    }

    #[test]
    fn phi_op_without_autodiff_and_batched_threads_agree() {
        let lif = LifConstants::default();
        let n = 5000;
        let device = f64_device(BackendKind::Flex, false);
        let mu: Vec<f64> = (0..n).map(|i| -10.0 + 0.01 * i as f64).collect();
        let sigma = vec![3.0; n];
        let t = |v: Vec<f64>| Tensor::<2>::from_data(TensorData::new(v, [50, 100]), &device);
        let out = phi_tensor(t(mu.clone()), t(sigma.clone()), t(vec![0.01; n]), &lif);
        let v = out
            .to_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap();
        for i in (0..n).step_by(97) {
            assert_eq!(v[i], phi(mu[i], sigma[i], 0.01, &lif));
        }
    }
}
