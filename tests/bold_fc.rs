//! The BOLD monitor and functional connectivity against independent implementations
//! (`tools/make_bold_fixtures.py`: numpy's explicit Euler, scipy's solve_ivp, numpy.corrcoef).

use solvers::bold::{BoldConstants, bold_of_signal};
use std::path::PathBuf;

fn fixture(name: &str) -> (Vec<f64>, Vec<usize>) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bold")
        .join(name);
    fit::npy::read_npy(&p).unwrap()
}

/// The Balloon-Windkessel BOLD of a fixed input equals the same explicit-Euler recursion
/// written independently in numpy, for both constant sets.
#[test]
fn bold_equals_an_independent_euler_recursion() {
    let (u, _) = fixture("input.npy");
    for (name, c) in [
        ("classical", BoldConstants::classical()),
        ("revised", BoldConstants::revised()),
    ] {
        let (want, _) = fixture(&format!("euler_{name}.npy"));
        let got = bold_of_signal(&c, &u, 1.0, 720, 2000);
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "{name} sample {k}: {a} vs {b}"
            );
        }
    }
}

/// Explicit Euler converges at first order in dt to a tight-tolerance ODE solution.
#[test]
fn bold_converges_at_first_order_to_solve_ivp() {
    let (want, _) = fixture("ivp_classical.npy");
    let c = BoldConstants::classical();
    let u_of_t = |t: f64| {
        0.5 + 0.4 * (2.0 * std::f64::consts::PI * 0.1 * t).sin()
            + 0.2 * (2.0 * std::f64::consts::PI * 0.37 * t + 1.0).sin()
    };
    let err = |dt_ms: f64| {
        let steps = (20_000.0 / dt_ms).round() as usize;
        let u: Vec<f64> = (0..steps)
            .map(|k| u_of_t((k + 1) as f64 * dt_ms / 1000.0))
            .collect();
        let period = (1000.0 / dt_ms).round() as usize;
        let got = bold_of_signal(&c, &u, dt_ms, period, 0);
        got.iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let (e1, e2, e3) = (err(8.0), err(4.0), err(2.0));
    let slope = (e1 / e3).ln() / 4f64.ln();
    assert!(
        (slope - 1.0).abs() < 0.1,
        "order {slope} ({e1:e}, {e2:e}, {e3:e})"
    );
    assert!(err(0.5) < 1e-3 * want.iter().fold(0.0f64, |m, v| m.max(v.abs())));
}

/// FC equals numpy's corrcoef of the columns.
#[test]
fn fc_equals_numpy_corrcoef() {
    use burn::tensor::{Tensor, TensorData};
    let (x, shape) = fixture("fc_x.npy");
    let (want, _) = fixture("fc.npy");
    let device = backend::f64_device(backend::BackendKind::Flex, false);
    let t = Tensor::<1>::from_data(TensorData::new(x, [shape[0] * shape[1]]), &device)
        .reshape([1, shape[0], shape[1]]);
    let got: Vec<f64> = spectra::fc(t).into_data().try_into_vec().unwrap();
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
}

mod common;

/// The gradient of 1 − corr(FC_sim, FC_empirical) with respect to the global coupling through a
/// whole 60 s Reduced Wong-Wang simulation with delays and the BOLD monitor equals central
/// finite differences to 1e-5 (the noise is fixed by the seed, so the loss is deterministic).
#[test]
fn fc_loss_gradient_through_sixty_seconds_matches_finite_differences() {
    use backend::{BackendKind, f64_device};
    use fit::objective::{Objective, TargetFiles};
    use fit::train::{FitParams, evaluate};
    let s = common::setup("rww_fc.yaml", &[]);
    assert_eq!(s.problem.steps, 60_000);
    let device = f64_device(BackendKind::Flex, true);
    let mut obj = Objective::new(&s, 1, &device, false).unwrap();
    obj.set_target(&s, &common::experiment("rww_fc.yaml"))
        .unwrap();
    let at = |a: f64| {
        let m = FitParams::from_host(&[vec![a]], &[[1, 1]], &device);
        let e = evaluate(&obj, &m).unwrap();
        (e.losses[0], e.grads[0][0])
    };
    let a = 0.3;
    let (_, g) = at(a);
    let h = 1e-6;
    let fd = (at(a + h).0 - at(a - h).0) / (2.0 * h);
    assert!(common::rel(g, fd) < 1e-5, "AD {g} vs FD {fd}");
}

/// Parameter recovery: with a target FC simulated at coupling 0.4 (same noise), the fit from
/// 0.3 recovers the coupling within 2%.
#[test]
fn fc_fit_recovers_the_global_coupling() {
    let out = std::env::temp_dir().join(format!("neurodyn-fcfit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let exp = common::experiment("rww_fc.yaml");
    let args = [
        "fit",
        "run",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "integration.duration=20000",
        "--set",
        "observation.bold.transient=2000",
        "--set",
        "coupling.parameters.a.value=0.3",
        "--set",
        "optimization.target={kind: simulated, parameters: {coupling.a: 0.4}}",
        "--set",
        "optimization.steps=40",
        "--set",
        "outputs.plots=false",
    ];
    fit::cli::run_from_args(&args).unwrap();
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("final.json")).unwrap()).unwrap();
    let text = fin.to_string();
    let a = fin["parameters"]["coupling.a"]
        .as_f64()
        .unwrap_or_else(|| panic!("coupling.a in final.json: {text}"));
    assert!(
        (a - 0.4).abs() < 0.008,
        "recovered coupling {a} (truth 0.4): {text}"
    );
}
