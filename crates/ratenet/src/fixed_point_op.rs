//! The fixed point `r*(θ)` as one custom autodiff operation, with the implicit-function backward.
//!
//! Forward: Newton ([`crate::fixed_point::solve_fixed_point`]) on plain f64 data, no tape.
//! Backward: one transposed linear solve ([`crate::fixed_point::implicit_gradient`]):
//! `dL/dθ = λᵀ ∂F/∂θ` with `(I − ∂F/∂r)ᵀ λ = dL/dr*`. The tape holds θ and r* only, so memory is
//! independent of the number of iterations (compare [`crate::tensor_network::unrolled_euler`]).
#![allow(deprecated)] // burn-ndarray is deprecated in 0.22 but is the backend named in the design card

use crate::fixed_point::{
    FixedPoint, FixedPointError, NewtonConfig, implicit_gradient, solve_fixed_point,
};
use crate::network::{N_THETA, RateNetwork};
use crate::phi_op::to_host;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, unary},
};
use burn::backend::{Autodiff, Backend, Flex, NdArray, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Tensor, TensorData};
use std::sync::{Arc, Mutex};

/// A fixed-point problem shared with the backend: the network, the Newton options, the initial
/// rates, and a slot where the forward pass leaves its result or error (the op cannot return one).
#[derive(Debug, Clone)]
pub struct FixedPointProblem {
    /// The network (constants and connectivity).
    pub net: Arc<RateNetwork>,
    /// Newton options.
    pub newton: NewtonConfig,
    /// Initial rates for the solve (Hz), e.g. the previous fit step's r*.
    pub r_init: Arc<Vec<f64>>,
    /// Outcome of the last forward solve.
    pub outcome: Arc<Mutex<Option<Result<FixedPoint, FixedPointError>>>>,
}

impl FixedPointProblem {
    /// A problem starting from `r_init`.
    pub fn new(net: Arc<RateNetwork>, newton: NewtonConfig, r_init: Vec<f64>) -> Self {
        Self {
            net,
            newton,
            r_init: Arc::new(r_init),
            outcome: Arc::new(Mutex::new(None)),
        }
    }

    /// The outcome of the last forward pass (None before any).
    pub fn last_outcome(&self) -> Option<Result<FixedPoint, FixedPointError>> {
        self.outcome.lock().ok().and_then(|g| g.clone())
    }

    fn solve(&self, theta: &[f64]) -> Vec<f64> {
        let th: [f64; N_THETA] = theta.try_into().unwrap_or([f64::NAN; N_THETA]);
        let result = solve_fixed_point(&self.net, &th, &self.r_init, &self.newton);
        // A failed solve yields NaN rates: the caller checks `last_outcome` (errors, not panics).
        let rates = match &result {
            Ok(fp) => fp.rates.clone(),
            Err(_) => vec![f64::NAN; self.net.n],
        };
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(result);
        }
        rates
    }
}

/// Backend extension: the network fixed point.
#[backend_extension(NdArray, Flex, Autodiff)]
pub trait FixedPointOps: Backend {
    /// θ `[12]` → r* `[N]`.
    fn rate_fixed_point(theta: FloatTensor<Self>, problem: FixedPointProblem) -> FloatTensor<Self>;
}

fn host_forward<B: Backend>(
    theta: FloatTensor<B>,
    problem: &FixedPointProblem,
) -> (FloatTensor<B>, Vec<f64>, Vec<f64>) {
    let device = theta.device();
    let th = to_host::<B>(theta);
    let rates = problem.solve(&th);
    let out = B::float_from_data(TensorData::new(rates.clone(), [problem.net.n]), &device);
    (out, th, rates)
}

impl FixedPointOps for Flex {
    fn rate_fixed_point(theta: FloatTensor<Self>, problem: FixedPointProblem) -> FloatTensor<Self> {
        host_forward::<Self>(theta, &problem).0
    }
}

impl FixedPointOps for NdArray {
    fn rate_fixed_point(theta: FloatTensor<Self>, problem: FixedPointProblem) -> FloatTensor<Self> {
        host_forward::<Self>(theta, &problem).0
    }
}

#[derive(Debug, Clone)]
struct FixedPointState {
    net: Arc<RateNetwork>,
    theta: [f64; N_THETA],
    rates: Arc<Vec<f64>>,
}

#[derive(Debug)]
struct ImplicitBackward;

impl<B: Backend> Backward<B, 1> for ImplicitBackward {
    type State = FixedPointState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let device = grad.device();
            let g = to_host::<B>(grad);
            // A failed forward or a singular system gives NaN gradients, visible to the caller.
            let dtheta =
                implicit_gradient(&s.net, &s.theta, &s.rates, &g).unwrap_or([f64::NAN; N_THETA]);
            B::float_from_data(TensorData::new(dtheta.to_vec(), [N_THETA]), &device)
        });
    }
}

impl<B: Backend + FixedPointOps, C: CheckpointStrategy> FixedPointOps for Autodiff<B, C> {
    fn rate_fixed_point(theta: FloatTensor<Self>, problem: FixedPointProblem) -> FloatTensor<Self> {
        let guard = theta.node();
        let inner = theta.into_primitive();
        match ImplicitBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, th, rates) = host_forward::<B>(inner, &problem);
                let theta: [f64; N_THETA] = th.try_into().unwrap_or([f64::NAN; N_THETA]);
                let state = FixedPointState {
                    net: problem.net.clone(),
                    theta,
                    rates: Arc::new(rates),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rate_fixed_point(inner, problem)),
        }
    }
}

/// Fixed-point rates `r*(θ)` `[N]` for θ `[12]` (a θ of another length is a `Network` error) (see [`crate::network`] for its layout);
/// differentiable in θ by implicit differentiation. Errors of the solve are returned (rates are
/// read back once to check them; the backward pass is built only on success).
pub fn fixed_point_rates(
    theta: Tensor<1>,
    problem: &FixedPointProblem,
) -> Result<Tensor<1>, FixedPointError> {
    let out = Tensor::from_dispatch(<Dispatch as FixedPointOps>::rate_fixed_point(
        theta.into_dispatch(),
        problem.clone(),
    ));
    match problem.last_outcome() {
        Some(Err(e)) => Err(e),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_point::implicit_gradient;
    use crate::network::{Connectivity, NetworkSpec, theta_from};
    use crate::phi::LifConstants;
    use crate::tensor_network::{TensorNetwork, unrolled_euler};
    use backend::{BackendKind, f64_device};

    fn problem() -> (FixedPointProblem, [f64; N_THETA]) {
        let spec = NetworkSpec {
            n: 20,
            tau: [0.01, 0.01],
            t_relax: [0.01, 0.005],
            h: 1500.0,
            xi2: 900.0,
        };
        let net =
            RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField).unwrap();
        let theta = theta_from(
            [1.0, 0.8, 1.2, 0.9],
            [0.5, 0.6, 0.7, 0.4],
            [0.6, 0.9, 1.3, 2.0],
        );
        (
            FixedPointProblem::new(Arc::new(net), NewtonConfig::default(), vec![5.0; 20]),
            theta,
        )
    }

    fn vec_of(t: Tensor<1>) -> Vec<f64> {
        t.to_data().convert::<f64>().try_into_vec::<f64>().unwrap()
    }

    /// On Flex and NdArray: the op's backward equals the host implicit gradient (itself checked
    /// against finite differences in `fixed_point`), and unrolled gradients through 500 Euler
    /// steps of the tensor-op network agree with it to 1e-12 (relative to the largest entry;
    /// observed ≤ 2e-14).
    #[test]
    fn implicit_op_matches_host_gradient_and_unrolled_euler() {
        let (problem, theta) = problem();
        let c: Vec<f64> = (0..20).map(|i| 1.0 + 0.1 * i as f64).collect();
        let fp = solve_fixed_point(&problem.net, &theta, &problem.r_init, &problem.newton).unwrap();
        let host = implicit_gradient(&problem.net, &theta, &fp.rates, &c).unwrap();
        let scale = host.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for kind in [BackendKind::Flex, BackendKind::NdArray] {
            let device = f64_device(kind, true);
            let th = Tensor::<1>::from_data(TensorData::new(theta.to_vec(), [N_THETA]), &device)
                .require_grad();
            let ct = Tensor::<1>::from_data(TensorData::new(c.clone(), [20]), &device);
            let r = fixed_point_rates(th.clone(), &problem).unwrap();
            assert_eq!(vec_of(r.clone().detach()), fp.rates);
            let grads = (r * ct.clone()).sum().backward();
            let g = vec_of(th.grad(&grads).unwrap());
            for k in 0..N_THETA {
                assert!((g[k] - host[k]).abs() <= 1e-12 * scale, "{kind:?} θ[{k}]");
            }
            // Unrolled: 500 Euler steps (dt = 1 ms) from r = 5 Hz, backpropagated by burn.
            let th = Tensor::<1>::from_data(TensorData::new(theta.to_vec(), [N_THETA]), &device)
                .require_grad();
            let tn = TensorNetwork::new(&problem.net, &device);
            let r0 = Tensor::<1>::from_data(TensorData::new(vec![5.0; 20], [20]), &device);
            let r = unrolled_euler(&tn, th.clone(), r0, 500, 1e-3);
            let rv = vec_of(r.clone().detach());
            for i in 0..20 {
                assert!((rv[i] - fp.rates[i]).abs() < 1e-9, "unrolled rate {i}");
            }
            let grads = (r * ct).sum().backward();
            let gu = vec_of(th.grad(&grads).unwrap());
            for k in 0..N_THETA {
                let rel = (gu[k] - host[k]).abs() / scale;
                eprintln!("{kind:?} unrolled(500) vs implicit θ[{k}]: {rel:.1e}");
                assert!(
                    rel <= 1e-12,
                    "{kind:?} θ[{k}]: unrolled {} vs implicit {} ({rel:e})",
                    gu[k],
                    host[k]
                );
            }
        }
    }

    /// The fit's loss (relative and absolute rate errors) differentiated through the fixed
    /// point with implicit gradients equals the same loss backpropagated through 500 unrolled
    /// Euler steps, component by component to 1e-12 relative.
    #[test]
    fn rate_loss_implicit_gradient_equals_unrolled() {
        use crate::fit::{RateError, Targets, rate_loss};
        let (problem, theta) = problem();
        let n_e = problem.net.n_e;
        let device = f64_device(BackendKind::Flex, true);
        let th = || {
            Tensor::<1>::from_data(TensorData::new(theta.to_vec(), [N_THETA]), &device)
                .require_grad()
        };
        for error in [RateError::Relative, RateError::Absolute] {
            let targets = Targets {
                mean_e: Some(5.0),
                mean_i: Some(10.0),
                per_neuron: Some((0..20).map(|i| 4.0 + 0.3 * i as f64).collect()),
                error,
            };
            let t = th();
            let r = fixed_point_rates(t.clone(), &problem).unwrap();
            let g = vec_of(t.grad(&rate_loss(r, n_e, &targets).backward()).unwrap());
            let t = th();
            let tn = TensorNetwork::new(&problem.net, &device);
            let r0 = Tensor::<1>::from_data(TensorData::new(vec![5.0; 20], [20]), &device);
            let r = unrolled_euler(&tn, t.clone(), r0, 500, 1e-3);
            let gu = vec_of(t.grad(&rate_loss(r, n_e, &targets).backward()).unwrap());
            for k in 0..N_THETA {
                let rel = (g[k] - gu[k]).abs() / gu[k].abs();
                assert!(
                    rel <= 1e-12,
                    "{error:?} θ[{k}]: implicit {} vs unrolled {} ({rel:e})",
                    g[k],
                    gu[k]
                );
            }
        }
    }

    #[test]
    fn failed_solve_is_an_error_not_a_panic() {
        let (mut problem, theta) = problem();
        problem.newton = NewtonConfig {
            tol: 1e-12,
            max_iter: 1,
            warmup_steps: 0,
        };
        let device = f64_device(BackendKind::Flex, true);
        let th = Tensor::<1>::from_data(TensorData::new(theta.to_vec(), [N_THETA]), &device)
            .require_grad();
        let err = fixed_point_rates(th, &problem).unwrap_err();
        assert!(matches!(err, FixedPointError::NotConverged { .. }), "{err}");
    }
}
