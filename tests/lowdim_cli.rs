//! `fit run` on the three lowdim experiments (sizes reduced by `--set` where the numbers allow):
//! the run folders hold the numbers and the plots.

// The reference numbers are kept digit for digit.
#![allow(clippy::excessive_precision)]

use serde_json::Value;
use std::path::{Path, PathBuf};

fn experiment(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name)
        .display()
        .to_string()
}

fn run(name: &str, out: &Path, sets: &[&str]) -> Value {
    let exp = experiment(name);
    let out_s = out.display().to_string();
    let mut args = vec![
        "fit",
        "run",
        exp.as_str(),
        "--out",
        out_s.as_str(),
        "--quiet",
    ];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    fit::cli::run_from_args(&args).unwrap();
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowdim_cli_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn assert_pngs(dir: &Path, names: &[&str]) {
    for n in names {
        let bytes = std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(
            bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"),
            "{n} is not a PNG"
        );
    }
}

/// Single population: three fixed points with the eigenvalues; the full 61 × 31 map
/// has 192 points with three fixed points and 1699 with one.
#[test]
fn population_experiment_writes_fixed_points_and_map() {
    let dir = tmp("population");
    let s = run(
        "population_fixed_points.yaml",
        &dir,
        &["noise.duration=100.0"],
    );
    let fps = s["fixed_points"].as_array().unwrap();
    let expected = [
        (0.041536699013317648, -0.58320986361371436),
        (0.44711922408983447, 0.49776238361041764),
        (0.89971715385608657, -0.62642250767799850),
    ];
    assert_eq!(fps.len(), 3);
    for (fp, (r, lam)) in fps.iter().zip(expected) {
        assert!((fp["x"][0].as_f64().unwrap() - r).abs() < 1e-12);
        assert!((fp["eigenvalues"][0][0].as_f64().unwrap() - lam).abs() < 1e-12);
    }
    let hist = &s["bifurcation_map"]["points_with_k_fixed_points"];
    assert_eq!(
        (hist["3"].as_u64(), hist["1"].as_u64()),
        (Some(192), Some(1699))
    );
    assert!(dir.join("bifurcation_map.csv").exists() && dir.join("trajectories.csv").exists());
    assert_pngs(
        &dir,
        &[
            "drdt.png",
            "trajectories.png",
            "bifurcation_map.png",
            "ou_trajectory.png",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// FitzHugh-Nagumo: the stable focus, both Hopf points, the period at I = 0.5, and the Adam
/// workflow (20 runs here) polished by Newton in every run.
#[test]
fn fhn_experiment_writes_fixed_point_hopf_and_adam() {
    let dir = tmp("fhn");
    let s = run("fhn_fixed_point.yaml", &dir, &["optimization.runs=20"]);
    let fp = &s["fixed_points"][0];
    assert_eq!(fp["stability"], "stable_focus");
    assert!((fp["x"][0].as_f64().unwrap() + 1.1994080352440350).abs() < 1e-12);
    let hopf = s["hopf_points_I"].as_array().unwrap();
    assert!((hopf[0].as_f64().unwrap() - 0.331281337455).abs() < 1e-11);
    assert!((hopf[1].as_f64().unwrap() - 1.418718662545).abs() < 1e-11);
    assert!((s["limit_cycle"]["period"].as_f64().unwrap() - 39.47).abs() < 0.03);
    assert_eq!(s["adam_workflow"]["newton_polish_below_1e-12"], 20);
    assert!(
        s["adam_workflow"]["adam_final_loss"]["median"]
            .as_f64()
            .unwrap()
            > 1e-6
    );
    assert_pngs(
        &dir,
        &[
            "phase_plane.png",
            "traces.png",
            "limit_cycle.png",
            "adam_losses.png",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Random tanh network (N = 150 here): spectral radius near g, the J = G(x) W check, a
/// positive Lyapunov exponent at g = 2, and a strict parse error for a misspelt field.
#[test]
fn random_network_experiment_writes_spectrum_and_lyapunov() {
    let dir = tmp("network");
    let s = run(
        "random_tanh.yaml",
        &dir,
        &[
            "model.parameters.n=150",
            "lyapunov.realizations=1",
            "lyapunov.duration=100.0",
        ],
    );
    assert!((s["spectral_radius_W"].as_f64().unwrap() / 2.0 - 1.0).abs() < 0.1);
    assert!(
        s["jacobian_check"]["max_abs_error_autodiff_vs_GW"]
            .as_f64()
            .unwrap()
            < 1e-12
    );
    assert!(s["lyapunov"]["mean_lambda_max"].as_f64().unwrap() > 0.0);
    assert_pngs(
        &dir,
        &[
            "spectrum.png",
            "traces_linear.png",
            "traces_tanh.png",
            "lyapunov_running.png",
        ],
    );
    let (w, shape) = fit::npy::read_npy(&dir.join("W.npy")).unwrap();
    assert_eq!((w.len(), shape), (150 * 150, vec![150, 150]));
    let exp = experiment("random_tanh.yaml");
    let out = dir.display().to_string();
    let err = fit::cli::run_from_args(&[
        "fit",
        "run",
        &exp,
        "--out",
        &out,
        "--set",
        "lyapunov.durtion=1",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The FitzHugh-Nagumo Adam workflow runs on the one training driver: 60 steps, then a
/// resume to 120 (a step-count change is allowed on resume), equals 120 steps in one go —
/// the loss of every run at every step, the endpoints and the Newton polish.
#[test]
fn fhn_adam_workflow_resumes_on_the_driver() {
    let sets = ["optimization.runs=8", "optimization.checkpoint_every=25"];
    let whole = tmp("fhn_adam_whole");
    run(
        "fhn_fixed_point.yaml",
        &whole,
        &[
            sets[0],
            sets[1],
            "optimization.steps=120",
            "outputs.plots=false",
        ],
    );
    let split = tmp("fhn_adam_split");
    run(
        "fhn_fixed_point.yaml",
        &split,
        &[
            sets[0],
            sets[1],
            "optimization.steps=60",
            "outputs.plots=false",
        ],
    );
    let first = std::fs::read_to_string(split.join("adam_trajectory.csv")).unwrap();
    assert_eq!(first.lines().count(), 61, "header and 60 rows");
    let exp = experiment("fhn_fixed_point.yaml");
    let out_s = split.display().to_string();
    let mut args = vec![
        "fit",
        "run",
        exp.as_str(),
        "--out",
        out_s.as_str(),
        "--quiet",
    ];
    args.push("--resume");
    for s in [
        sets[0],
        sets[1],
        "optimization.steps=120",
        "outputs.plots=false",
    ] {
        args.push("--set");
        args.push(s);
    }
    fit::cli::run_from_args(&args).unwrap();
    for f in ["adam_trajectory.csv", "adam_runs.csv"] {
        let a = std::fs::read_to_string(whole.join(f)).unwrap();
        let b = std::fs::read_to_string(split.join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between one run and a resumed one");
    }
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("summary.json")).unwrap())
            .unwrap();
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(a["adam_workflow"], b["adam_workflow"]);
    assert_eq!(a["adam_workflow"]["steps"], 120);
    // Checkpoints in the one format: a manifest with checksums.
    let manifest = split.join("checkpoints/step-000100/manifest.json");
    assert!(manifest.exists(), "{} missing", manifest.display());
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&split);
}

/// A scan's progress file carries a checksum: a damaged one is moved aside with a message and
/// the scan starts over, giving the same numbers as the first run.
#[test]
fn damaged_scan_progress_is_not_resumed() {
    let dir = tmp("population_damaged");
    let sets = ["noise.duration=100.0", "outputs.plots=false"];
    let first = run("population_fixed_points.yaml", &dir, &sets);
    let path = dir.join("checkpoint.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut cp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cp["progress_sha256"].as_str().unwrap().len(), 64);
    // Claim a row is done with a wrong count: the checksum no longer matches.
    cp["progress"][0][1] = serde_json::json!(7);
    std::fs::write(&path, serde_json::to_string(&cp).unwrap()).unwrap();
    let again = run("population_fixed_points.yaml", &dir, &sets);
    assert!(dir.join("checkpoint.json.damaged").exists());
    assert_eq!(first["bifurcation_map"], again["bifurcation_map"]);
    let _ = std::fs::remove_dir_all(&dir);
}
