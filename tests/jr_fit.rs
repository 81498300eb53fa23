//! The jr_peak fitting workflow: gradient against finite differences, recovery of the target,
//! and batched grid points against single simulations.

mod common;

use backend::{BackendKind, f64_device};
use common::{experiment, rel, setup};
use fit::objective::{Objective, TargetFiles};
use fit::train::{FitParams, evaluate};

fn loss_at(obj: &Objective, a: f64, b: f64) -> (f64, Vec<f64>) {
    let device = f64_device(BackendKind::Flex, true);
    let m = FitParams::from_host(&[vec![a], vec![b]], &[[1, 1], [1, 1]], &device);
    let e = evaluate(obj, &m).unwrap();
    (e.losses[0], e.grads.iter().flatten().copied().collect())
}

/// Gradient of 1 − corr(spectrum, target) wrt (a, b) at the start point (1000 noisy steps,
/// delays) equals central finite differences to relative 1e-5.
#[test]
fn jr_peak_gradient_matches_finite_differences() {
    let s = setup("jr_peak.yaml", &[]);
    let device = f64_device(BackendKind::Flex, true);
    let mut obj = Objective::new(&s, 1, &device, false).unwrap();
    obj.set_target(&s, &experiment("jr_peak.yaml")).unwrap();
    let (l, g) = loss_at(&obj, 0.04, 0.04);
    assert!(l > 0.8 && l < 1.1, "start loss {l}");
    let h = 1e-7;
    let fd_a = (loss_at(&obj, 0.04 + h, 0.04).0 - loss_at(&obj, 0.04 - h, 0.04).0) / (2.0 * h);
    let fd_b = (loss_at(&obj, 0.04, 0.04 + h).0 - loss_at(&obj, 0.04, 0.04 - h).0) / (2.0 * h);
    assert!(rel(g[0], fd_a) < 1e-5, "d/da {} vs FD {fd_a}", g[0]);
    assert!(rel(g[1], fd_b) < 1e-5, "d/db {} vs FD {fd_b}", g[1]);
}

/// The shipped jr_peak.yaml (the main job) lands: within 1% of the true (a, b) = (0.07, 0.065)
/// with a loss below 1e-3 at the last step, from a start loss of about 0.96.
#[test]
fn jr_peak_recovers_the_target() {
    let out = std::env::temp_dir().join(format!("neurodyn-jrpeak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let exp = experiment("jr_peak.yaml");
    fit::cli::run_from_args(&[
        "fit",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .unwrap();
    let (header, rows) = fit::run_dir::read_csv(&out.join("trajectory.csv")).unwrap();
    assert_eq!(header[..4], ["step", "loss", "a", "b"]);
    assert_eq!(rows.len(), 201);
    let first = rows[0][1];
    assert!((first - 0.96).abs() < 0.1, "start loss {first}");
    let last = rows.last().unwrap();
    assert!(last[1] < 1e-3, "last loss {}", last[1]);
    let fin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("final.json")).unwrap()).unwrap();
    for (name, truth) in [("a", 0.07), ("b", 0.065)] {
        for key in ["parameters", "last_parameters"] {
            let v = fin[key][name].as_f64().unwrap();
            assert!(
                ((v - truth) / truth).abs() < 0.01,
                "{key}.{name} = {v} vs {truth}"
            );
        }
        let e = fin["relative_error"][name].as_f64().unwrap();
        assert!(e.abs() < 0.01, "relative error of {name}: {e}");
    }
    for f in [
        "final.json",
        "loss.png",
        "parameters.png",
        "spectra.png",
        "checkpoints/step-000200/meta.json",
        "checkpoints/step-000200/optimizer.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}

/// N(0, 1) draws of `tools/make_jr_optax_reference.py`'s `lcg_normals`: a 64-bit LCG (exact
/// integer arithmetic) and Box-Muller.
fn lcg_normals(count: usize) -> Vec<f64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 11) as f64 + 0.5) * 2f64.powi(-53)
    };
    (0..count)
        .map(|_| {
            let (u1, u2) = (next(), next());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

/// Runs the main job's experiment as 15 steps of constant-rate Adam(0.005) (the seed's
/// settings) with `extra` overrides and compares every row of `trajectory.csv` with the optax
/// reference in `tests/fixtures/optax/<fixture>` (independent JAX implementation of the
/// network, Welch and loss; `tools/make_jr_optax_reference.py`).
fn adam_trajectory_equals_optax(fixture: &str, extra: &[String]) {
    let out = std::env::temp_dir().join(format!("neurodyn-optax-{fixture}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let exp = experiment("jr_peak.yaml");
    let mut args: Vec<String> = [
        "fit",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--set",
        "optimization.optimizer={name: adam, lr: 0.005}",
        "--set",
        "optimization.schedule=null",
        "--set",
        "optimization.restore_best=false",
        "--set",
        "optimization.steps=15",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    fit::cli::run_from_args(&args).unwrap();
    let (_, rows) = fit::run_dir::read_csv(&out.join("trajectory.csv")).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/optax")
        .join(fixture);
    let fx: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let want = fx["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    let f = |v: &serde_json::Value| f64::from_bits(v.as_u64().unwrap());
    let mut worst = 0.0_f64;
    for (r, w) in rows.iter().zip(want) {
        let (a, b) = (f(&w["params"][0]), f(&w["params"][1]));
        for (got, want, what) in [(r[2], a, "a"), (r[3], b, "b")] {
            let e = rel(got, want);
            worst = worst.max(e);
            assert!(
                e < 1e-10,
                "{fixture} step {}: {what} = {got} vs optax {want} ({e:e})",
                r[0]
            );
        }
        let l = f(&w["loss"]);
        assert!(
            rel(r[1], l) < 1e-9,
            "{fixture} step {}: loss {} vs {l}",
            r[0],
            r[1]
        );
    }
    eprintln!("{fixture}: worst relative parameter difference {worst:.1e}");
}

/// Deterministic 1000-step Jansen-Rit fit: Adam's 15 steps equal optax's to 1e-10.
#[test]
fn adam_on_deterministic_jr_equals_optax() {
    adam_trajectory_equals_optax(
        "jr_adam_deterministic.json",
        &["--set".into(), "integration.noise.sigma=0".into()],
    );
}

/// The noisy fit driven by a noise file (the reference's draws): Adam's 15 steps equal optax's
/// to 1e-10.
#[test]
fn adam_on_noise_file_jr_equals_optax() {
    let dir = std::env::temp_dir().join(format!("neurodyn-optax-noise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("xi.npy");
    let n = 84;
    fit::npy::write_npy(&file, &lcg_normals(1000 * 6 * n), &[1000, 6, n]).unwrap();
    adam_trajectory_equals_optax(
        "jr_adam_noisy.json",
        &[
            "--set".into(),
            "integration.noise.sigma=0.001".into(),
            "--set".into(),
            format!("integration.noise.file={}", file.display()),
        ],
    );
}

/// Differentiable delays: with `history_interpolation: linear` and the conduction speed free,
/// a target simulated at 5.0 mm/ms is recovered from 3.0 within 2%.
#[test]
fn free_conduction_speed_is_recovered() {
    let out = std::env::temp_dir().join(format!("neurodyn-speed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let exp = experiment("jr_peak.yaml");
    let sets = [
        "connectivity.conduction_speed={value: 3.0, free: true, low: 2.0, high: 8.0}",
        "connectivity.history_interpolation=linear",
        "model.parameters.a={value: 0.07}",
        "model.parameters.b={value: 0.065}",
        "optimization.target={kind: simulated, parameters: {connectivity.conduction_speed: 5.0}}",
        "optimization.optimizer={name: adam, lr: 0.1}",
        "optimization.steps=60",
        "outputs.plots=false",
    ];
    let mut args = vec![
        "fit".to_string(),
        "run".into(),
        exp.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for s in sets {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    fit::cli::run_from_args(&args).unwrap();
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("final.json")).unwrap()).unwrap();
    let v = fin["parameters"]["connectivity.conduction_speed"]
        .as_f64()
        .unwrap_or_else(|| panic!("{fin}"));
    assert!((v - 5.0).abs() < 0.1, "recovered speed {v}");
    let _ = std::fs::remove_dir_all(&out);
}
