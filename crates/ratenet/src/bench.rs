//! Benchmarks for `fit bench` (not tests): Phi throughput, and the N = 2000 fixed point with its
//! implicit gradient against unrolled Euler gradients (time and memory).
//!
//! Memory is the growth of the process's peak resident set (`VmHWM` in `/proc/self/status`,
//! Linux) across each phase; the implicit phase runs first, so the unrolled figure is the extra
//! peak it needs beyond that. Where `/proc` is unavailable the memory fields are `None`.

use crate::fixed_point::{NewtonConfig, implicit_gradient, solve_fixed_point};
use crate::fixed_point_op::{FixedPointProblem, fixed_point_rates};
use crate::network::{Connectivity, N_THETA, NetworkError, NetworkSpec, RateNetwork, theta_from};
use crate::phi::LifConstants;
use crate::tensor_network::{TensorNetwork, unrolled_euler};
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;
use std::time::Instant;

pub use crate::phi_op::bench_phi_evals_per_second;

/// Timings and memory of one fixed-point gradient benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPointBench {
    /// Network size.
    pub n: usize,
    /// Newton solve (s), host code.
    pub fixed_point_seconds: f64,
    /// Newton iterations.
    pub newton_iterations: usize,
    /// Implicit gradient (one transposed LU solve + VJP) (s).
    pub implicit_gradient_seconds: f64,
    /// Fixed point + implicit gradient through the burn op, end to end (s).
    pub op_forward_backward_seconds: f64,
    /// Peak-memory growth of the implicit path (bytes).
    pub implicit_peak_bytes: Option<u64>,
    /// Euler steps unrolled.
    pub unrolled_steps: usize,
    /// Unrolled Euler forward + backward through burn's tape (s).
    pub unrolled_seconds: f64,
    /// Extra peak memory of the unrolled path (bytes).
    pub unrolled_peak_bytes: Option<u64>,
    /// Max relative difference between unrolled and implicit gradients.
    pub gradient_rel_diff: f64,
}

fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The mean-field benchmark network: N neurons, h = 1500, xi2 = 900, tau = 10 ms,
/// T_E = 10 ms, T_I = 5 ms, and a θ whose fixed point is in the AI regime.
pub fn bench_network(n: usize) -> Result<(RateNetwork, [f64; N_THETA]), NetworkError> {
    let spec = NetworkSpec {
        n,
        tau: [0.01, 0.01],
        t_relax: [0.01, 0.005],
        h: 1500.0,
        xi2: 900.0,
    };
    let net = RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField)?;
    // Per-synapse magnitudes scale like 1/N so that the total input stays O(1) as N grows.
    let s = 20.0 / n as f64;
    let theta = theta_from([s, s, s, s], [0.5, 0.6, 0.7, 0.4], [0.6, 0.9, 1.3, 2.0]);
    Ok((net, theta))
}

/// The implicit path alone on the network of [`bench_network`]: the Newton fixed point from
/// r = 5 Hz and the implicit gradient of `Σ r_i`, as `(fixed point s, Newton iterations,
/// gradient s)` (the caller measures its heap around this call).
pub fn bench_implicit_path(n: usize) -> Result<(f64, usize, f64), Box<dyn std::error::Error>> {
    let (net, theta) = bench_network(n)?;
    let t0 = Instant::now();
    let fp = solve_fixed_point(&net, &theta, &vec![5.0; n], &NewtonConfig::default())?;
    let fixed_point_seconds = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let g = implicit_gradient(&net, &theta, &fp.rates, &vec![1.0; n])?;
    let gradient_seconds = t0.elapsed().as_secs_f64();
    if g.iter().any(|v| !v.is_finite()) {
        return Err("non-finite implicit gradient".into());
    }
    Ok((fixed_point_seconds, fp.iterations, gradient_seconds))
}

/// Fixed point + implicit gradient vs `unrolled_steps` Euler steps under autodiff, for the
/// loss `Σ r_i` on the network of [`bench_network`], on `device` (plain; its autodiff view is
/// used for gradients).
pub fn bench_fixed_point(
    n: usize,
    unrolled_steps: usize,
    device: &Device,
) -> Result<FixedPointBench, Box<dyn std::error::Error>> {
    let (net, theta) = bench_network(n)?;
    let net = Arc::new(net);
    let newton = NewtonConfig::default();
    let ones = vec![1.0; n];
    let base = peak_rss_bytes();
    let t0 = Instant::now();
    let fp = solve_fixed_point(&net, &theta, &vec![5.0; n], &newton)?;
    let fixed_point_seconds = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let implicit = implicit_gradient(&net, &theta, &fp.rates, &ones)?;
    let implicit_gradient_seconds = t0.elapsed().as_secs_f64();

    let ad = device.clone().autodiff();
    let th =
        || Tensor::<1>::from_data(TensorData::new(theta.to_vec(), [N_THETA]), &ad).require_grad();
    let t0 = Instant::now();
    let problem = FixedPointProblem::new(net.clone(), newton, vec![5.0; n]);
    let theta_t = th();
    let grads = fixed_point_rates(theta_t.clone(), &problem)?
        .sum()
        .backward();
    let _ = theta_t.grad(&grads);
    let op_forward_backward_seconds = t0.elapsed().as_secs_f64();
    let after_implicit = peak_rss_bytes();

    let t0 = Instant::now();
    let tn = TensorNetwork::new(&net, &ad);
    let theta_t = th();
    let r0 = Tensor::<1>::from_data(TensorData::new(vec![5.0; n], [n]), &ad);
    let grads = unrolled_euler(&tn, theta_t.clone(), r0, unrolled_steps, 1e-3)
        .sum()
        .backward();
    let unrolled: Vec<f64> = theta_t
        .grad(&grads)
        .map(|g| {
            g.to_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let unrolled_seconds = t0.elapsed().as_secs_f64();
    let after_unrolled = peak_rss_bytes();

    let scale = implicit.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let gradient_rel_diff = implicit
        .iter()
        .zip(&unrolled)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    Ok(FixedPointBench {
        n,
        fixed_point_seconds,
        newton_iterations: fp.iterations,
        implicit_gradient_seconds,
        op_forward_backward_seconds,
        implicit_peak_bytes: base.zip(after_implicit).map(|(a, b)| b - a),
        unrolled_steps,
        unrolled_seconds,
        unrolled_peak_bytes: after_implicit.zip(after_unrolled).map(|(a, b)| b - a),
        gradient_rel_diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::{BackendKind, f64_device};

    /// Small-size smoke run of the benchmark (the N = 2000 run is for `fit bench`).
    #[test]
    fn bench_runs_and_paths_agree_at_small_n() {
        let b = bench_fixed_point(100, 500, &f64_device(BackendKind::Flex, false)).unwrap();
        assert!(b.gradient_rel_diff < 1e-8, "{b:?}");
        assert!(bench_phi_evals_per_second(10_000) > 1e4);
    }
}
