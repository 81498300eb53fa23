//! `fit run` on the AI-state rate network experiments: run folder contents, targets reached,
//! stability, and checkpoint resume (bit-identical to an uninterrupted run).

use std::path::{Path, PathBuf};

fn experiment(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neurodyn-ratenet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn final_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("final.json")).unwrap()).unwrap()
}

/// ai_rates.yaml reaches mean E = 5 Hz and mean I = 10 Hz within 1 % in ≤ 150 Adam steps, at a
/// stable fixed point, and writes trajectory, final state, rates and plots.
#[test]
fn ai_rates_reaches_targets_and_writes_run_folder() {
    let out = fresh_dir("fit");
    let exp = experiment("ai_rates.yaml");
    fit::cli::run_from_args(&[
        "fit",
        "run",
        &exp,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .unwrap();
    let f = final_json(&out);
    assert_eq!(f["reached_targets"], true);
    let (e, i) = (
        f["mean_rate_E"].as_f64().unwrap(),
        f["mean_rate_I"].as_f64().unwrap(),
    );
    assert!(
        (e / 5.0 - 1.0).abs() <= 0.01 && (i / 10.0 - 1.0).abs() <= 0.01,
        "E {e} I {i}"
    );
    assert!(f["steps"].as_u64().unwrap() <= 150);
    assert_eq!(f["stable"], true);
    assert!(f["spectral_abscissa"].as_f64().unwrap() < 0.0);
    assert!(f["residual"].as_f64().unwrap() <= 1e-12);
    for file in [
        "trajectory.csv",
        "rates.npy",
        "loss.png",
        "mean_rates.png",
        "rates.png",
        "eigenvalues.png",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let traj = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
    assert!(traj.starts_with("step,loss,grad_norm,mean_rate_E,mean_rate_I"));
    let _ = std::fs::remove_dir_all(&out);
}

/// 12 steps in one go equal 6 steps + resume to 12 (trajectory rows bit-identical; a resume may
/// change the step count), and a changed target is refused on resume.
#[test]
fn resume_reproduces_uninterrupted_run() {
    let exp = experiment("ai_rates.yaml");
    let run = |dir: &Path, steps: &str, resume: bool| -> Result<(), String> {
        let set = format!("optimization.steps={steps}");
        let mut args = vec![
            "fit",
            "run",
            &exp,
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
            "--set",
            &set,
        ];
        args.extend([
            "--set",
            "optimization.checkpoint_every=3",
            "--set",
            "outputs.plots=false",
        ]);
        if resume {
            args.push("--resume");
        }
        fit::cli::run_from_args(&args).map_err(|e| format!("{e:#}"))
    };
    let a = fresh_dir("whole");
    run(&a, "12", false).unwrap();
    let b = fresh_dir("split");
    run(&b, "6", false).unwrap();
    // A resume may raise the step count: 6 steps, then resumed to 12, equal 12 in one go.
    run(&b, "12", true).unwrap();
    assert_eq!(
        std::fs::read_to_string(a.join("trajectory.csv")).unwrap(),
        std::fs::read_to_string(b.join("trajectory.csv")).unwrap()
    );
    // A changed loss target is refused, named.
    let exp2 = exp.clone();
    let err = fit::cli::run_from_args(&[
        "fit",
        "run",
        &exp2,
        "--out",
        b.to_str().unwrap(),
        "--quiet",
        "--set",
        "optimization.steps=12",
        "--set",
        "optimization.checkpoint_every=3",
        "--set",
        "outputs.plots=false",
        "--set",
        "optimization.targets.mean_E=6",
    ])
    .map(|_| ())
    .map_err(|e| format!("{e:#}"))
    .unwrap_err();
    assert!(
        err.contains("different experiment") && err.contains("optimization.targets.mean_E"),
        "{err}"
    );
    let c = fresh_dir("resume");
    run(&c, "12", false).unwrap();
    // Delete the checkpoints after step 6 and the final state, then resume to 12.
    for entry in std::fs::read_dir(c.join("checkpoints")).unwrap() {
        let p = entry.unwrap().path();
        let step: usize = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("step-")
            .parse()
            .unwrap_or(0);
        if step > 6 {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    run(&c, "12", true).unwrap();
    let ta = std::fs::read_to_string(a.join("trajectory.csv")).unwrap();
    let tc = std::fs::read_to_string(c.join("trajectory.csv")).unwrap();
    assert_eq!(ta, tc);
    assert_eq!(ta.lines().count(), 13);
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Misspelt fields are reported with file and line.
#[test]
fn unknown_field_is_reported() {
    let src = std::fs::read_to_string(experiment("ai_rates.yaml")).unwrap();
    let dir = fresh_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, src.replace("  lr: 0.03", "  learning_rat: 0.03")).unwrap();
    let out = dir.join("run");
    let err = fit::cli::run_from_args(&[
        "fit",
        "run",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("learning_rat"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
