//! Jansen-Rit on a connectome: parity with the TVB-O kernel, the burn op on both backends,
//! gradients through a noisy run, noise files and warm starts. (Oracle parity, batching and the
//! TVB comparison run for every model in `model_suite.rs`.)

mod common;

use backend::{BackendKind, f64_device};
use burn::tensor::{Tensor, TensorData};
use common::{rel, setup};
use solvers::network_kernel;
use solvers::{Monitor, Simulation, simulate};
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
        let np = s.n_params();
        let params =
            Tensor::<1>::from_data(TensorData::new(s.base_params.clone(), [np * 84]), &device)
                .reshape([1, np, 84]);
        let trace = simulate(params, &Simulation(Arc::new(s.problem.clone())));
        assert_eq!(trace.dims(), [1, 200, 6, 84]);
        let got: Vec<f64> = trace.into_data().try_into_vec().unwrap();
        assert_eq!(got, out.trace, "{kind:?}");
    }
}

fn loss_and_grad(s: &fit::network_setup::NetworkSetup, a: f64, b: f64) -> (f64, [f64; 2]) {
    let n = s.n();
    let device = f64_device(BackendKind::Flex, true);
    let mut problem = s.problem.clone();
    problem.monitor = Monitor::raw(vec![0]);
    let sim = Simulation(Arc::new(problem));
    let np = s.n_params();
    let base = Tensor::<1>::from_data(TensorData::new(s.base_params.clone(), [np * n]), &device)
        .reshape([1, np, n]);
    let scalar =
        |v: f64| Tensor::<1>::from_data(TensorData::new(vec![v], [1]), &device).require_grad();
    let (ta, tb) = (scalar(a), scalar(b));
    let onehot = |name: &str| {
        let mut m = vec![0.0; np];
        m[s.param_ref(name).unwrap().index()] = 1.0;
        Tensor::<1>::from_data(TensorData::new(m, [np]), &device).reshape([1, np, 1])
    };
    let (ma, mb) = (onehot("a"), onehot("b"));
    let mut packed = base.clone() - base.clone() * ma.clone() + ta.clone().reshape([1, 1, 1]) * ma;
    packed = packed.clone() - packed * mb.clone() + tb.clone().reshape([1, 1, 1]) * mb;
    let trace = simulate(packed, &sim); // [1, T, 1, n]
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

/// Noise read from an `.npy` of standard normal draws gives exactly the run with the same
/// draws from the seeded generator (the path for cross-checks with other simulators).
#[test]
fn noise_file_reproduces_the_generator_run() {
    let s = setup("jr_dk84.yaml", &["integration.duration=200"]);
    let dir = std::env::temp_dir().join(format!("neurodyn-noise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xi.npy");
    let xi = fit::network_setup::draw_noise(42, 200, 6, 84);
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
