//! The network simulation written as per-step burn tensor operations, for every model.
//!
//! Every step is a handful of tensor ops on `[B, N]` tensors — the model's drift instantiated
//! with [`dynamics::TensorScalar`], the coupling's pre and post functions likewise — and burn's
//! own autodiff differentiates it. It is ~100× slower than the fused kernel and needs memory per
//! step, so it is used for short runs only: it is the independent oracle for the kernel's
//! forward values and for its adjoint.

use crate::monitor::MonitorKind;
use crate::network_kernel::NetworkProblem;
use crate::noise::NoiseCursor;
use burn::tensor::{Int, Tensor, TensorData};
use dynamics::tensor_scalar::eval_tensor;
use dynamics::{ModelVisitor, NodeModel, drift_tensor};

/// Simulates `params` `[B, P, n]` with tensor ops; returns the monitored trace like
/// [`crate::simulate`].
pub fn simulate_reference(params: Tensor<3>, problem: &NetworkProblem) -> Tensor<4> {
    problem.model.visit(Oracle { params, problem })
}

struct Oracle<'a> {
    params: Tensor<3>,
    problem: &'a NetworkProblem,
}

fn clamp_bounds<M: NodeModel>(x: Vec<Tensor<2>>) -> Vec<Tensor<2>> {
    x.into_iter()
        .enumerate()
        .map(|(v, t)| {
            let (lo, hi) = M::STATE[v].bounds;
            let t = if lo > f64::NEG_INFINITY {
                t.clamp_min(lo)
            } else {
                t
            };
            if hi < f64::INFINITY {
                t.clamp_max(hi)
            } else {
                t
            }
        })
        .collect()
}

impl ModelVisitor for Oracle<'_> {
    type Output = Tensor<4>;

    fn visit<M: NodeModel>(self) -> Tensor<4> {
        let problem = self.problem;
        let lay = problem.layout();
        let device = self.params.device();
        let [b, np, n] = self.params.dims();
        assert_eq!(np, lay.np());
        let nh = problem.horizon;
        let (ns, ncv, nch) = (lay.ns, lay.ncv, lay.nch);
        let cvar = problem.model.info().cvar;
        let p: Vec<Tensor<2>> = (0..np)
            .map(|k| self.params.clone().narrow(1, k, 1).reshape([b, n]))
            .collect();
        let (pm, pc) = p.split_at(lay.npm);
        let batch_init = |data: &[f64], per: usize, shape: [usize; 3]| -> Tensor<3> {
            let t = Tensor::<1>::from_data(TensorData::new(data.to_vec(), [data.len()]), &device);
            if data.len() == per {
                t.reshape([1, shape[1], shape[2]]).repeat_dim(0, b)
            } else {
                t.reshape(shape)
            }
        };
        let state0 = batch_init(&problem.init_state, ns * n, [b, ns, n]);
        let hist0 = batch_init(&problem.init_history, nh * ncv * n, [b, nh * ncv, n]);
        let mut x: Vec<Tensor<2>> = (0..ns)
            .map(|v| state0.clone().narrow(1, v, 1).reshape([b, n]))
            .collect();
        // History of pre-synaptic values per channel, oldest first.
        let mut hist: Vec<Vec<Tensor<2>>> = (0..nh)
            .map(|r| {
                let xv: Vec<Tensor<2>> = (0..ncv)
                    .map(|q| hist0.clone().narrow(1, r * ncv + q, 1).reshape([b, n]))
                    .collect();
                problem.coupling.pre_tensor(&xv, pc, nch)
            })
            .collect();
        // Flat gather index into [nh·n]: (nh − 1 − lag_ij)·n + j for target i, source j.
        let idx: Vec<i64> = (0..n * n)
            .map(|ij| ((nh - 1 - problem.lag[ij]) * n + ij % n) as i64)
            .collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n * n]), &device);
        let w = Tensor::<1>::from_data(TensorData::new(problem.weights.to_vec(), [n * n]), &device)
            .reshape([1, n, n]);
        let rowsum: Vec<f64> = (0..n)
            .map(|i| problem.weights[i * n..(i + 1) * n].iter().sum())
            .collect();
        let rowsum = Tensor::<1>::from_data(TensorData::new(rowsum, [n]), &device).reshape([1, n]);
        let scale = if problem.noise.is_some() {
            problem.dt.sqrt() * problem.sigma
        } else {
            0.0
        };
        assert!(
            !matches!(problem.noise, crate::noise::NoiseSource::Realisations(_))
                && problem.grad_horizon.is_none()
                && problem.interpolation == crate::network_kernel::DelayInterpolation::Nearest,
            "the oracle simulates one noise realisation with the full gradient"
        );
        let mut noise = NoiseCursor::new(&problem.noise);
        let mut eta_host = vec![0.0; ns * n];
        let tab = problem.method.tableau();
        let dt = problem.dt;
        let mon = &problem.monitor;
        let mut samples: Vec<Tensor<3>> = Vec::new();
        let mut acc: Option<Tensor<3>> = None;
        let mut z: Option<Vec<Tensor<2>>> = None;
        for k in 0..problem.steps {
            let sums: Vec<Tensor<2>> = (0..nch)
                .map(|h| {
                    let window = Tensor::cat(
                        hist[hist.len() - nh..]
                            .iter()
                            .map(|r| r[h].clone())
                            .collect(),
                        1,
                    );
                    let delayed = window.select(1, idx.clone()).reshape([b, n, n]);
                    (delayed * w.clone()).sum_dim(2).reshape([b, n])
                })
                .collect();
            let xi: Vec<Tensor<2>> = cvar.iter().map(|&cv| x[cv].clone()).collect();
            let c = problem.coupling.post_tensor(&sums, &xi, &rowsum, pc);
            noise.next_step(scale, &mut eta_host);
            let eta: Vec<Tensor<2>> = (0..ns)
                .map(|v| {
                    Tensor::<1>::from_data(
                        TensorData::new(eta_host[v * n..(v + 1) * n].to_vec(), [n]),
                        &device,
                    )
                    .reshape([1, n])
                })
                .collect();
            let mut ks: Vec<Vec<Tensor<2>>> = Vec::new();
            for s in 0..tab.stages {
                let xs = if s == 0 {
                    x.clone()
                } else {
                    let xs = (0..ns)
                        .map(|v| {
                            let mut t = x[v].clone();
                            for j in 0..s {
                                if tab.a[s][j] != 0.0 {
                                    t = t + ks[j][v].clone().mul_scalar(dt * tab.a[s][j]);
                                }
                            }
                            if scale > 0.0 && tab.c[s] != 0.0 {
                                t = t + eta[v].clone().mul_scalar(tab.c[s]);
                            }
                            t
                        })
                        .collect();
                    clamp_bounds::<M>(xs)
                };
                ks.push(drift_tensor::<M>(&xs, &c, pm));
            }
            let next = (0..ns)
                .map(|v| {
                    let mut t = x[v].clone();
                    for s in 0..tab.stages {
                        t = t + ks[s][v].clone().mul_scalar(dt * tab.b[s]);
                    }
                    if scale > 0.0 {
                        t = t + eta[v].clone();
                    }
                    t
                })
                .collect();
            x = clamp_bounds::<M>(next);
            let xv: Vec<Tensor<2>> = cvar.iter().map(|&cv| x[cv].clone()).collect();
            hist.push(problem.coupling.pre_tensor(&xv, pc, nch));
            if let Some(bm) = mon.bold() {
                // The haemodynamic model as tensor ops, from the same generic field.
                let u = bm
                    .driver
                    .iter()
                    .map(|&(v, w)| x[v].clone().mul_scalar(w))
                    .reduce(|a, b| a + b)
                    .expect("a BOLD driver has at least one variable");
                let zs = z.get_or_insert_with(|| {
                    let zero = u.zeros_like();
                    crate::bold::REST
                        .map(|r| zero.clone().add_scalar(r))
                        .to_vec()
                });
                let mut inputs = zs.clone();
                inputs.push(u.clone());
                let c = bm.constants;
                let h = problem.dt / 1000.0;
                let next = eval_tensor(&inputs, 5, &u, |v, out| {
                    let zz = [v[0], v[1], v[2], v[3]];
                    let g = crate::bold::field(&c, &zz, v[4]);
                    for j in 0..4 {
                        out[j] = zz[j] + g[j] * h;
                    }
                    out[4] = crate::bold::signal(&c, &[out[0], out[1], out[2], out[3]]);
                });
                *zs = next[..4].to_vec();
                if bm.sample_of(k, problem.steps).is_some() {
                    samples.push(next[4].clone().reshape([b, 1, n]));
                }
            }
            if let Some((m, wgt)) = mon.sample_of(k, problem.steps) {
                let vars: Vec<Tensor<2>> = mon.variables.iter().map(|&v| x[v].clone()).collect();
                let sample = Tensor::stack::<3>(vars, 1); // [B, V, n]
                match mon.kind {
                    MonitorKind::Bold(_) => unreachable!("BOLD samples are recorded above"),
                    MonitorKind::SubSample => samples.push(sample),
                    MonitorKind::TemporalAverage => {
                        let s = sample.mul_scalar(wgt);
                        acc = Some(match acc.take() {
                            Some(a) => a + s,
                            None => s,
                        });
                        if (k + 1) % mon.stride == 0 {
                            samples.push(acc.take().expect("accumulated"));
                        }
                        let _ = m;
                    }
                }
            }
        }
        Tensor::stack(samples, 1)
    }
}
