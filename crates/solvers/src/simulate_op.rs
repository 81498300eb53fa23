//! The network simulation as one custom autodiff operation on burn, for every model.
//!
//! Forward: the plain-Rust kernel of [`crate::network_kernel`] over the whole batch. Backward:
//! its adjoint, reading the tape stored by the forward pass. The operation is registered with
//! burn's backend-extension mechanism for the Flex and NdArray CPU backends and for `Autodiff`
//! on top of them, so [`simulate`] works on any of those devices and is a single node on the
//! autodiff tape regardless of the number of steps. The model is data of the problem (one op
//! for all models); the kernel monomorphises on it once per call.

// burn 0.22 deprecates burn-ndarray in favour of Flex; the design card requires ndarray support.
#![allow(deprecated)]

use crate::network_kernel::{self, NetworkProblem, Tape};
use backend::float_to_host as to_host;
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, unary},
};
use burn::backend::{Autodiff, Backend, Flex, NdArray, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Shape, Tensor, TensorData};
use std::sync::Arc;

/// A simulation problem shared with the backend (cheap to clone).
#[derive(Debug, Clone)]
pub struct Simulation(pub Arc<NetworkProblem>);

/// Backend extension: the fused network simulation.
#[backend_extension(NdArray, Flex, Autodiff)]
pub trait NetworkSimulateOps: Backend {
    /// Simulates `params` `[B, P, n]` and returns the monitored trace `[B, samples, vars, n]`.
    fn network_simulate(params: FloatTensor<Self>, sim: Simulation) -> FloatTensor<Self>;
}

fn trace_shape(problem: &NetworkProblem, batch: usize) -> Shape {
    Shape::from([
        batch,
        problem.monitor.samples(problem.steps),
        problem.monitor.variables.len(),
        problem.n,
    ])
}

fn host_forward<B: Backend>(
    params: FloatTensor<B>,
    sim: &Simulation,
    record: bool,
) -> (FloatTensor<B>, Vec<f64>, Vec<Tape>) {
    let device = params.device();
    let shape = params.shape();
    let np = sim.0.layout().np();
    assert_eq!(shape[1], np, "params must be [B, {np}, n]");
    let host = to_host::<B>(params);
    let (out, tapes) = network_kernel::forward(&sim.0, &host, record);
    let trace = TensorData::new(out.trace, trace_shape(&sim.0, shape[0]));
    (B::float_from_data(trace, &device), host, tapes)
}

impl NetworkSimulateOps for Flex {
    fn network_simulate(params: FloatTensor<Self>, sim: Simulation) -> FloatTensor<Self> {
        host_forward::<Self>(params, &sim, false).0
    }
}

impl NetworkSimulateOps for NdArray {
    fn network_simulate(params: FloatTensor<Self>, sim: Simulation) -> FloatTensor<Self> {
        host_forward::<Self>(params, &sim, false).0
    }
}

/// What the backward pass needs: the problem, the parameters and the forward tapes.
#[derive(Debug, Clone)]
struct SimState {
    sim: Simulation,
    params: Arc<Vec<f64>>,
    tapes: Arc<Vec<Tape>>,
    shape: Shape,
}

#[derive(Debug)]
struct SimBackward;

impl<B: Backend> Backward<B, 1> for SimBackward {
    type State = SimState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let device = grad.device();
            let g = to_host::<B>(grad);
            let dp = network_kernel::backward(&state.sim.0, &state.params, &state.tapes, &g);
            B::float_from_data(TensorData::new(dp, state.shape.clone()), &device)
        });
    }
}

impl<B: Backend + NetworkSimulateOps, C: CheckpointStrategy> NetworkSimulateOps for Autodiff<B, C> {
    fn network_simulate(params: FloatTensor<Self>, sim: Simulation) -> FloatTensor<Self> {
        let guard = params.node();
        let inner = params.into_primitive();
        match SimBackward.prepare::<C>([guard]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let shape = inner.shape();
                let (out, host, tapes) = host_forward::<B>(inner, &sim, true);
                let state = SimState {
                    sim,
                    params: Arc::new(host),
                    tapes: Arc::new(tapes),
                    shape,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::network_simulate(inner, sim)),
        }
    }
}

/// Simulates a batch of networks: `params` `[B, P, n]` (the model's parameters, then the
/// coupling's) → monitored trace `[B, samples, variables, n]`. Differentiable with respect to
/// every parameter on autodiff devices.
pub fn simulate(params: Tensor<3>, sim: &Simulation) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as NetworkSimulateOps>::network_simulate(
        params.into_dispatch(),
        sim.clone(),
    ))
}
