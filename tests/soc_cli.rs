//! `fit run` on the stability-optimized-circuit experiment (experiments/soc.yaml, reduced to
//! N = 40): run folder contents, target reached, deterministic steps, W0 from a file, resume
//! from a checkpoint (identical to an uninterrupted run), and clear errors for bad input.

use std::path::{Path, PathBuf};

fn experiment() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join("soc.yaml")
        .to_string_lossy()
        .into_owned()
}

fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neurodyn-soc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The reduced experiment: N = 40, seed 1 (310 steps), a checkpoint every 50 steps.
const SMALL: [&str; 6] = [
    "--set",
    "model.parameters.N=40",
    "--set",
    "initial_weights.seed=1",
    "--set",
    "optimization.checkpoint_every=50",
];

/// `fit run EXP --out DIR --quiet` with extra arguments; the error as `{:#}` text.
fn run(exp: &str, dir: &Path, extra: &[&str]) -> Result<(), String> {
    let mut args = vec!["fit", "run", exp, "--out", dir.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    fit::cli::run_from_args(&args).map_err(|e| format!("{e:#}"))
}

fn run_small(dir: &Path, extra: &[&str]) -> Result<(), String> {
    let mut args = SMALL.to_vec();
    args.extend_from_slice(extra);
    run(&experiment(), dir, &args)
}

fn final_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("final.json")).unwrap()).unwrap()
}

/// `steps.csv` rows without the wall-time column (the only column that may differ).
fn steps_without_wall(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("steps.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

fn alphas(dir: &Path) -> Vec<f64> {
    let (header, rows) = fit::run_dir::read_csv(&dir.join("steps.csv")).unwrap();
    assert_eq!(header[1], "alpha");
    rows.iter().map(|r| r[1]).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// N = 40 reaches α ≤ 0.15 (from α(W0) ≈ 10), writes every output with the right shapes,
/// keeps the excitatory weights and Dale's law, and two runs give identical α sequences; W0
/// loaded from the written `W0.npy` reproduces the run exactly.
#[test]
fn small_run_reaches_target_and_is_deterministic() {
    let a = fresh_dir("a");
    run_small(&a, &[]).unwrap();
    for file in [
        "W0.npy",
        "W_final.npy",
        "eigenvalues_initial.npy",
        "eigenvalues_final.npy",
        "steps.csv",
        "final.json",
        "alpha.png",
        "eigenvalues.png",
    ] {
        assert!(a.join(file).exists(), "{file} missing");
    }
    let f = final_json(&a);
    let steps = f["steps"].as_u64().unwrap() as usize;
    let alpha0 = f["alpha_initial"].as_f64().unwrap();
    assert_eq!(f["reached_target"], true);
    assert_eq!(f["excitatory_unchanged"], true);
    assert!(f["alpha_final"].as_f64().unwrap() <= 0.15);
    assert!(alpha0 > 5.0, "α(W0) = {alpha0}");
    assert!((50..2000).contains(&steps), "{steps} steps");
    // Balance keeps both block-mean ratios at γ = 3 up to the later Dale/sparsity projections.
    for r in ["ratio_IE_EE", "ratio_II_EI"] {
        let v = f[r].as_f64().unwrap();
        assert!((v - 3.0).abs() < 0.2, "{r} = {v}");
    }

    // One row per update plus the converged check; α decreases to the target.
    let al = alphas(&a);
    assert_eq!(al.len(), steps + 1);
    assert_eq!(al[0], alpha0);
    assert!(al[steps] <= 0.15 && al[..steps].iter().all(|&x| x > 0.15));

    let (w0, s0) = fit::npy::read_npy(&a.join("W0.npy")).unwrap();
    let (w1, s1) = fit::npy::read_npy(&a.join("W_final.npy")).unwrap();
    let (e0, se0) = fit::npy::read_npy(&a.join("eigenvalues_initial.npy")).unwrap();
    let (e1, se1) = fit::npy::read_npy(&a.join("eigenvalues_final.npy")).unwrap();
    assert_eq!((s0, s1), (vec![40, 40], vec![40, 40]));
    assert_eq!((se0, se1), (vec![40, 2], vec![40, 2]));
    let max_re = |e: &[f64]| e.chunks(2).map(|z| z[0]).fold(f64::MIN, f64::max);
    assert_eq!(max_re(&e0), alpha0);
    assert!((max_re(&e1) - al[steps]).abs() < 1e-12);
    // Trace of W (zero diagonal) = sum of the eigenvalues.
    assert!(e1.chunks(2).map(|z| z[0]).sum::<f64>().abs() < 1e-9);
    for i in 0..40 {
        for j in 0..40 {
            let (v0, v1) = (w0[i * 40 + j], w1[i * 40 + j]);
            if j < 20 {
                assert_eq!(v0, v1, "excitatory weight ({i}, {j}) changed");
            } else {
                assert!(v1 <= 0.0, "Dale's law broken at ({i}, {j})");
            }
        }
        assert_eq!(w1[i * 40 + i], 0.0);
    }

    let b = fresh_dir("b");
    run_small(&b, &[]).unwrap();
    assert_eq!(alphas(&b), al, "two runs from the same W0 differ");
    assert_eq!(
        std::fs::read(b.join("W_final.npy")).unwrap(),
        std::fs::read(a.join("W_final.npy")).unwrap()
    );

    // The same W0 from a file gives the same steps.
    let c = fresh_dir("file");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(a.join("W0.npy"), c.join("start.npy")).unwrap();
    let exp = c.join("from_file.yaml");
    std::fs::write(
        &exp,
        "model: {name: StabilityOptimizedCircuit, parameters: {N: 40}}\n\
         initial_weights: {kind: file, path: start.npy}\n\
         optimization: {checkpoint_every: 1000}\n\
         outputs: {plots: false}\n",
    )
    .unwrap();
    let out = c.join("run");
    run(exp.to_str().unwrap(), &out, &[]).unwrap();
    assert_eq!(steps_without_wall(&out), steps_without_wall(&a));
    // A changed W0 file is noticed when the folder is run again.
    let scaled: Vec<f64> = w0.iter().map(|x| 0.5 * x).collect();
    fit::npy::write_npy(&c.join("start.npy"), &scaled, &[40, 40]).unwrap();
    let err = run(exp.to_str().unwrap(), &out, &[]).unwrap_err();
    assert!(err.contains("different W0"), "{err}");
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// A run interrupted after the checkpoint at step 250 (rows up to 279 written, later
/// checkpoints and outputs lost) continues to exactly the uninterrupted result; a changed
/// experiment and `--resume` without a checkpoint are refused.
#[test]
fn resume_matches_uninterrupted_run() {
    let a = fresh_dir("whole");
    run_small(&a, &[]).unwrap();
    let steps = final_json(&a)["steps"].as_u64().unwrap() as usize;
    assert!(
        steps > 300,
        "{steps} steps: the test expects checkpoints at 250 and 300"
    );

    let c = fresh_dir("resumed");
    copy_dir(&a, &c);
    for e in std::fs::read_dir(c.join("checkpoints")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_str().unwrap() != "step-000250" {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    let text = std::fs::read_to_string(c.join("steps.csv")).unwrap();
    let kept: Vec<&str> = text.lines().take(1 + 280).collect();
    std::fs::write(c.join("steps.csv"), kept.join("\n") + "\n").unwrap();
    for f in [
        "final.json",
        "W_final.npy",
        "eigenvalues_final.npy",
        "alpha.png",
    ] {
        std::fs::remove_file(c.join(f)).unwrap();
    }

    // Another experiment (any override changes it) must not continue this folder.
    let err = run_small(&c, &["--set", "model.parameters.eta=5"]).unwrap_err();
    assert!(
        err.contains("different experiment") && err.contains("eta"),
        "{err}"
    );

    run_small(&c, &["--resume"]).unwrap();
    assert_eq!(steps_without_wall(&c), steps_without_wall(&a));
    assert_eq!(
        std::fs::read(c.join("W_final.npy")).unwrap(),
        std::fs::read(a.join("W_final.npy")).unwrap()
    );
    let (mut fa, mut fc) = (final_json(&a), final_json(&c));
    fa["wall_time_s"] = 0.into();
    fc["wall_time_s"] = 0.into();
    assert_eq!(fa, fc);

    // `fit compare` reads SOC run folders (α in the loss column): the resumed run ends where
    // the uninterrupted one does.
    let cmp = fresh_dir("compare");
    let (sa, sc, so) = (
        a.display().to_string(),
        c.display().to_string(),
        cmp.display().to_string(),
    );
    fit::cli::run_from_args(&["fit", "compare", &sa, &sc, "--out", &so]).unwrap();
    let text = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one row per run:\n{text}");
    // Columns after the run folder: steps, final α, best α, … — equal for both runs.
    let tail = |l: &str| -> Vec<String> {
        l.rsplit_once("\",")
            .unwrap()
            .1
            .split(',')
            .take(3)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(tail(lines[1]), tail(lines[2]), "{text}");
    let _ = std::fs::remove_dir_all(&cmp);

    let empty = fresh_dir("empty");
    let err = run_small(&empty, &["--resume"]).unwrap_err();
    assert!(err.contains("no checkpoint"), "{err}");
    for d in [a, c, empty] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Odd N, p outside (0, 1], γ ≤ 0, a W0 file of the wrong shape or signs, and misspelt fields
/// are errors that say what is wrong.
#[test]
fn bad_input_is_a_clear_error() {
    let dir = fresh_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run");
    let bad = |set: &str| run(&experiment(), &out, &["--set", set]).unwrap_err();
    let e = bad("model.parameters.N=41");
    assert!(e.contains("must be even") && e.contains("41"), "{e}");
    let e = bad("model.parameters.p=0");
    assert!(e.contains("p = 0") && e.contains("(0, 1]"), "{e}");
    let e = bad("model.parameters.p=1.5");
    assert!(e.contains("p = 1.5"), "{e}");
    let e = bad("model.parameters.gamma=-1");
    assert!(e.contains("gamma = -1") && e.contains("> 0"), "{e}");
    let e = bad("model.parameters.gama=3");
    assert!(e.contains("unknown field `gama`"), "{e}");

    let exp = dir.join("file.yaml");
    std::fs::write(
        &exp,
        "model: {name: StabilityOptimizedCircuit, parameters: {N: 40}}\n\
         initial_weights: {kind: file, path: w.npy}\n",
    )
    .unwrap();
    let from_file = || run(exp.to_str().unwrap(), &out, &[]).unwrap_err();
    fit::npy::write_npy(&dir.join("w.npy"), &vec![0.0; 40 * 39], &[40, 39]).unwrap();
    let e = from_file();
    assert!(e.contains("shape [40, 39], expected [40, 40]"), "{e}");
    fit::npy::write_npy(&dir.join("w.npy"), &vec![0.0; 1600], &[1600]).unwrap();
    let e = from_file();
    assert!(e.contains("shape [1600]"), "{e}");
    let mut w = vec![0.0; 1600];
    w[3 * 40 + 25] = 0.5; // positive weight from inhibitory neuron 25
    fit::npy::write_npy(&dir.join("w.npy"), &w, &[40, 40]).unwrap();
    let e = from_file();
    assert!(e.contains("Dale") && e.contains("(3, 25)"), "{e}");
    let e = run(
        exp.to_str().unwrap(),
        &out,
        &["--set", "initial_weights.path=missing.npy"],
    )
    .unwrap_err();
    assert!(e.contains("missing.npy"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
