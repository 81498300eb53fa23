//! Jansen-Rit on a connectome: parity with the TVB-O kernel, gradients, batching, and the fused
//! kernel against the per-step tensor-op oracle.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{rel, setup};
use dynamics::jansen_rit::{JrParam, N_JR_PARAMS};
use dynamics::{BackendKind, f64_device};
use solvers::network_kernel::{self, Monitor};
use solvers::reference::simulate_reference;
use solvers::{JrSimulation, simulate_jr};
use std::sync::Arc;

/// σ = 0, dk84 raw weights, a_c = 20/458885, cold start, 1000 steps: the TVB-O kernel's numbers.
// The reference numbers are quoted digit for digit as the issue prints them.
#[allow(clippy::excessive_precision)]
#[test]
fn deterministic_dk84_matches_tvbo_kernel() {
    let s = setup("jr_dk84.yaml", &["integration.noise.sigma=0"]);
    let p = &s.problem;
    assert_eq!((p.n, p.steps, p.horizon), (84, 1000, 76));
    let (out, _) = network_kernel::forward(p, &s.base_params, false);
    let tr = &out.trace; // [1000, 6, 84]
    let node0 = |k: usize| -> Vec<f64> { (0..6).map(|v| tr[(k * 6 + v) * 84]).collect() };
    let t1 = [
        0.19593412830552465,
        0.24042911476578369,
        0.21309118953826045,
        0.09211352634660729,
        0.1779414156997374,
        0.15731211400196196,
    ];
    let t1000 = [
        0.30860068411172026,
        55.781660596723022,
        46.719176769865591,
        0.0026079344668552534,
        0.050899158489508656,
        0.76228559823167885,
    ];
    for (got, want) in node0(0).iter().zip(t1) {
        assert!((got - want).abs() <= 1e-9, "t = 1 ms: {got} vs {want}");
    }
    for (got, want) in node0(999).iter().zip(t1000) {
        assert!((got - want).abs() <= 1e-9, "t = 1000 ms: {got} vs {want}");
    }
    let sum: f64 = tr.iter().sum();
    assert!(rel(sum, 9016574.987147195) < 1e-12, "sum {sum}");
    assert!(tr.iter().all(|v| v.is_finite()));
    let (kmax, vmax) =
        tr.iter().enumerate().fold(
            (0, 0.0f64),
            |m, (k, v)| if v.abs() > m.1 { (k, v.abs()) } else { m },
        );
    assert!((vmax - 81.95).abs() < 0.01, "max |value| {vmax}");
    assert_eq!((kmax / 84) % 6, 2, "the maximum is in y2");
}

/// The same numbers through the burn op, on both CPU backends.
#[test]
fn burn_op_equals_kernel_on_flex_and_ndarray() {
    let s = setup(
        "jr_dk84.yaml",
        &["integration.noise.sigma=0", "integration.duration=200"],
    );
    let (out, _) = network_kernel::forward(&s.problem, &s.base_params, false);
    for kind in [BackendKind::Flex, BackendKind::NdArray] {
        let device = f64_device(kind, false);
        let params = Tensor::<1>::from_data(
            TensorData::new(s.base_params.clone(), [N_JR_PARAMS * 84]),
            &device,
        )
        .reshape([1, N_JR_PARAMS, 84]);
        let trace = simulate_jr(params, &JrSimulation(Arc::new(s.problem.clone())));
        assert_eq!(trace.dims(), [1, 200, 6, 84]);
        let got: Vec<f64> = trace.into_data().try_into_vec().unwrap();
        assert_eq!(got, out.trace, "{kind:?}");
    }
}

/// A batch of 8 parameter sets equals 8 single runs (to 1e-12; in fact bit for bit).
#[test]
fn batch_of_eight_equals_single_runs() {
    let s = setup("jr_dk84.yaml", &["integration.duration=300"]);
    let n = 84;
    let mut batch = Vec::new();
    let mut singles = Vec::new();
    for k in 0..8 {
        let mut p = s.base_params.clone();
        let (a, b) = (0.03 + 0.01 * k as f64, 0.035 + 0.008 * k as f64);
        p[JrParam::a.index() * n..(JrParam::a.index() + 1) * n].fill(a);
        p[JrParam::b.index() * n..(JrParam::b.index() + 1) * n].fill(b);
        // Per-region heterogeneity in one set.
        if k == 3 {
            for i in 0..n {
                p[JrParam::mu.index() * n + i] = 0.1 + 0.001 * i as f64;
            }
        }
        singles.push(network_kernel::forward(&s.problem, &p, false).0.trace);
        batch.extend(p);
    }
    let (out, _) = network_kernel::forward(&s.problem, &batch, false);
    let len = s.problem.trace_len();
    for (k, single) in singles.iter().enumerate() {
        let err = out.trace[k * len..(k + 1) * len]
            .iter()
            .zip(single)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err <= 1e-12, "set {k}: {err}");
    }
}

fn loss_and_grad(s: &fit::jr_setup::JrSetup, a: f64, b: f64) -> (f64, [f64; 2]) {
    let n = s.n();
    let device = f64_device(BackendKind::Flex, true);
    let mut problem = s.problem.clone();
    problem.monitor = Monitor {
        stride: 1,
        variables: vec![0],
    };
    let sim = JrSimulation(Arc::new(problem));
    let base = Tensor::<1>::from_data(
        TensorData::new(s.base_params.clone(), [N_JR_PARAMS * n]),
        &device,
    )
    .reshape([1, N_JR_PARAMS, n]);
    let scalar =
        |v: f64| Tensor::<1>::from_data(TensorData::new(vec![v], [1]), &device).require_grad();
    let (ta, tb) = (scalar(a), scalar(b));
    let onehot = |p: JrParam| {
        let mut m = vec![0.0; N_JR_PARAMS];
        m[p.index()] = 1.0;
        Tensor::<1>::from_data(TensorData::new(m, [N_JR_PARAMS]), &device).reshape([
            1,
            N_JR_PARAMS,
            1,
        ])
    };
    let (ma, mb) = (onehot(JrParam::a), onehot(JrParam::b));
    let mut packed = base.clone() - base.clone() * ma.clone() + ta.clone().reshape([1, 1, 1]) * ma;
    packed = packed.clone() - packed * mb.clone() + tb.clone().reshape([1, 1, 1]) * mb;
    let trace = simulate_jr(packed, &sim); // [1, T, 1, n]
    let t = trace.dims()[1];
    let loss = trace.narrow(1, t - 100, 100).mean();
    let value = loss.clone().into_scalar::<f64>();
    let grads = loss.backward();
    let ga = ta.grad(&grads).unwrap().into_scalar::<f64>();
    let gb = tb.grad(&grads).unwrap().into_scalar::<f64>();
    (value, [ga, gb])
}

/// d mean(y0 over the last 100 steps) / d(a, b) through 1000 noisy steps with delays equals
/// central finite differences to relative 1e-6. The trace depends strongly nonlinearly on `a`
/// (plain central differences converge like h²: error 1.4e-4 at h = 1e-6, 1.4e-6 at 1e-7), so
/// the reference is the Richardson extrapolation of two central differences (error O(h⁴)).
#[test]
fn gradient_wrt_a_and_b_matches_finite_differences() {
    let s = setup("jr_dk84.yaml", &[]);
    let (a, b) = (0.04, 0.04);
    let (_, g) = loss_and_grad(&s, a, b);
    let central = |h: f64, da: f64, db: f64| {
        (loss_and_grad(&s, a + h * da, b + h * db).0 - loss_and_grad(&s, a - h * da, b - h * db).0)
            / (2.0 * h)
    };
    let richardson = |da: f64, db: f64| {
        let h = 4e-7;
        (4.0 * central(h / 2.0, da, db) - central(h, da, db)) / 3.0
    };
    let (fd_a, fd_b) = (richardson(1.0, 0.0), richardson(0.0, 1.0));
    assert!(rel(g[0], fd_a) < 1e-6, "d/da: AD {} vs FD {fd_a}", g[0]);
    assert!(rel(g[1], fd_b) < 1e-6, "d/db: AD {} vs FD {fd_b}", g[1]);
}

/// The fused kernel equals the per-step tensor-op oracle: forward values, and gradients wrt
/// every parameter of every region (a short noisy run with delays, coupling made strong so the
/// delayed terms matter).
#[test]
fn fused_kernel_matches_tensor_op_oracle() {
    let s = setup(
        "jr_dk84.yaml",
        &["integration.duration=60", "integration.segment=7"],
    );
    let n = s.n();
    let mut problem = s.problem.clone();
    problem.monitor = Monitor {
        stride: 3,
        variables: vec![0, 1, 2, 4],
    };
    let mut params = s.base_params.clone();
    params[JrParam::coupling_a.index() * n..(JrParam::coupling_a.index() + 1) * n].fill(1e-2);
    params[JrParam::local_coupling.index() * n..(JrParam::local_coupling.index() + 1) * n]
        .fill(0.05);
    for i in 0..n {
        params[JrParam::a.index() * n + i] = 0.04 + 0.0002 * i as f64;
    }
    let device = f64_device(BackendKind::Flex, true);
    let sim = JrSimulation(Arc::new(problem.clone()));
    let make = || {
        Tensor::<1>::from_data(TensorData::new(params.clone(), [N_JR_PARAMS * n]), &device)
            .reshape([1, N_JR_PARAMS, n])
            .require_grad()
    };
    let weights: Vec<f64> = (0..problem.trace_len())
        .map(|k| (k % 97) as f64 / 97.0 - 0.5)
        .collect();
    let w = Tensor::<1>::from_data(TensorData::new(weights, [problem.trace_len()]), &device);
    let (pf, pr) = (make(), make());
    let fused = simulate_jr(pf.clone(), &sim);
    let oracle = simulate_reference(pr.clone(), &problem);
    let fv: Vec<f64> = fused.clone().into_data().try_into_vec().unwrap();
    let ov: Vec<f64> = oracle.clone().into_data().try_into_vec().unwrap();
    let err = fv
        .iter()
        .zip(&ov)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-11, "forward differs by {err}");
    let gf = (fused.reshape([problem.trace_len()]) * w.clone())
        .sum()
        .backward();
    let gr = (oracle.reshape([problem.trace_len()]) * w).sum().backward();
    let gf: Vec<f64> = pf.grad(&gf).unwrap().into_data().try_into_vec().unwrap();
    let gr: Vec<f64> = pr.grad(&gr).unwrap().into_data().try_into_vec().unwrap();
    for p in JrParam::ALL {
        let k = p.index();
        let scale = gr[k * n..(k + 1) * n]
            .iter()
            .map(|g| g.abs())
            .fold(0.0, f64::max)
            .max(1e-300);
        let err = (0..n)
            .map(|i| (gf[k * n + i] - gr[k * n + i]).abs())
            .fold(0.0, f64::max);
        assert!(
            err <= 1e-8 * scale,
            "{}: max error {err} (scale {scale})",
            p.qualified_name()
        );
    }
}

/// Noise read from an `.npy` of standard normal draws gives exactly the run with the same
/// draws from the seeded generator (the path for cross-checks with other simulators).
#[test]
fn noise_file_reproduces_the_generator_run() {
    let s = setup("jr_dk84.yaml", &["integration.duration=200"]);
    let dir = std::env::temp_dir().join(format!("neurodyn-noise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xi.npy");
    let xi = fit::jr_setup::draw_noise(42, 200, 84);
    fit::npy::write_npy(&path, &xi, &[200, 6, 84]).unwrap();
    let set = format!("integration.noise.file={}", path.display());
    let f = setup("jr_dk84.yaml", &["integration.duration=200", &set]);
    let a = network_kernel::forward(&s.problem, &s.base_params, false)
        .0
        .trace;
    let b = network_kernel::forward(&f.problem, &f.base_params, false)
        .0
        .trace;
    assert_eq!(a, b);
}

/// A warm start from a previous run's trace continues it exactly (σ = 0): 400 + 400 steps
/// chained through `initial_conditions: {kind: file}` equal one 800-step run.
#[test]
fn warm_start_from_a_trace_continues_the_run() {
    let dir = std::env::temp_dir().join(format!("neurodyn-warm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = setup(
        "jr_dk84.yaml",
        &["integration.noise.sigma=0", "integration.duration=800"],
    );
    let first = setup(
        "jr_dk84.yaml",
        &["integration.noise.sigma=0", "integration.duration=400"],
    );
    let full = network_kernel::forward(&whole.problem, &whole.base_params, false)
        .0
        .trace;
    let head = network_kernel::forward(&first.problem, &first.base_params, false)
        .0
        .trace;
    let path = dir.join("trace.npy");
    fit::npy::write_npy(&path, &head, &[400, 6, 84]).unwrap();
    let ic = format!(
        "initial_conditions={{kind: file, path: {}}}",
        path.display()
    );
    let second = setup(
        "jr_dk84.yaml",
        &["integration.noise.sigma=0", "integration.duration=400", &ic],
    );
    let tail = network_kernel::forward(&second.problem, &second.base_params, false)
        .0
        .trace;
    assert_eq!(&full[..head.len()], &head[..]);
    let err = full[head.len()..]
        .iter()
        .zip(&tail)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err <= 1e-12, "continuation differs by {err}");
}
