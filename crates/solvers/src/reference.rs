//! The Jansen-Rit network simulation written as per-step burn tensor operations.
//!
//! Every step is a handful of tensor ops on `[B, N]` tensors, differentiated by burn's own
//! autodiff. It is ~100× slower than the fused kernel and needs memory per step, so it is used
//! for short runs only: it is the independent oracle for the kernel's forward values and for its
//! hand-written adjoint.

use crate::network_kernel::JrProblem;
use burn::tensor::{Int, Tensor, TensorData};
use dynamics::jansen_rit::{JrParam, TensorParams, coupling_sigmoid_tensor, drift_tensor};

/// Simulates `params` `[B, 19, n]` with tensor ops; returns the monitored trace like
/// [`crate::simulate_jr`].
pub fn simulate_reference(params: Tensor<3>, problem: &JrProblem) -> Tensor<4> {
    let device = params.device();
    let [b, _, n] = params.dims();
    let nh = problem.horizon;
    let p = TensorParams::from_packed(params);
    let batch_init = |data: &[f64], per: usize, shape: [usize; 3]| -> Tensor<3> {
        let t = Tensor::<1>::from_data(TensorData::new(data.to_vec(), [data.len()]), &device);
        if data.len() == per {
            t.reshape([1, shape[1], shape[2]]).repeat_dim(0, b)
        } else {
            t.reshape(shape)
        }
    };
    let state0 = batch_init(&problem.init_state, 6 * n, [b, 6, n]);
    let hist0 = batch_init(&problem.init_history, nh * 2 * n, [b, nh * 2, n]);
    let mut y: [Tensor<2>; 6] =
        std::array::from_fn(|v| state0.clone().narrow(1, v, 1).reshape([b, n]));
    // History of coupling sigmoids, oldest first.
    let mut hist: Vec<Tensor<2>> = (0..nh)
        .map(|r| {
            let y1 = hist0.clone().narrow(1, 2 * r, 1).reshape([b, n]);
            let y2 = hist0.clone().narrow(1, 2 * r + 1, 1).reshape([b, n]);
            coupling_sigmoid_tensor(&p, y1, y2)
        })
        .collect();
    // Flat gather index into [nh·n]: (nh − 1 − lag_ij)·n + j for target i, source j.
    let idx: Vec<i64> = (0..n * n)
        .map(|ij| ((nh - 1 - problem.lag[ij]) * n + ij % n) as i64)
        .collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n * n]), &device);
    let w = Tensor::<1>::from_data(TensorData::new(problem.weights.to_vec(), [n * n]), &device)
        .reshape([1, n, n]);
    let noise = problem.noise.as_ref().map(|xi| {
        Tensor::<1>::from_data(TensorData::new(xi.to_vec(), [xi.len()]), &device)
            .reshape([problem.steps, 6, n])
            .mul_scalar(problem.dt.sqrt() * problem.sigma)
    });
    let dt = problem.dt;
    let mut samples = Vec::new();
    for k in 0..problem.steps {
        let window = Tensor::cat(hist[hist.len() - nh..].to_vec(), 1); // [B, nh·n]
        let delayed = window.select(1, idx.clone()).reshape([b, n, n]);
        let c = (delayed * w.clone()).sum_dim(2).reshape([b, n]) * p.get(JrParam::coupling_a);
        let eta: [Option<Tensor<2>>; 6] = std::array::from_fn(|v| {
            noise
                .as_ref()
                .map(|z| z.clone().narrow(0, k, 1).narrow(1, v, 1).reshape([1, n]))
        });
        let add_eta = |t: Tensor<2>, v: usize| match &eta[v] {
            Some(e) => t + e.clone(),
            None => t,
        };
        let d0 = drift_tensor(&p, &y, c.clone());
        let x1: [Tensor<2>; 6] =
            std::array::from_fn(|v| add_eta(y[v].clone() + d0[v].clone().mul_scalar(dt), v));
        let d1 = drift_tensor(&p, &x1, c);
        y = std::array::from_fn(|v| {
            add_eta(
                y[v].clone() + (d0[v].clone() + d1[v].clone()).mul_scalar(dt / 2.0),
                v,
            )
        });
        hist.push(coupling_sigmoid_tensor(&p, y[1].clone(), y[2].clone()));
        if k % problem.monitor.stride == 0 {
            let vars: Vec<Tensor<2>> = problem
                .monitor
                .variables
                .iter()
                .map(|&v| y[v].clone())
                .collect();
            samples.push(Tensor::stack::<3>(vars, 1)); // [B, V, n]
        }
    }
    Tensor::stack(samples, 1)
}
