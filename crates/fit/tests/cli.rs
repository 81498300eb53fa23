//! The `fit` binary end to end: bad input, simulate, kill-and-resume, refusal of a changed
//! experiment, divergence, shards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neurodyn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn exp(name: &str) -> String {
    root().join("experiments").join(name).display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a variant of a shipped experiment with `from` replaced by `to` (datasets named in it
/// are still found: the binary also searches the repository's `datasets/`).
fn variant(dir: &Path, name: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(exp(name)).unwrap();
    assert!(text.contains(from), "{from} not in {name}");
    let p = dir.join(name);
    std::fs::write(&p, text.replace(from, to)).unwrap();
    p.display().to_string()
}

fn expect_error(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {e}");
    assert!(!e.contains("panicked"), "panic instead of an error: {e}");
    for n in needles {
        assert!(e.contains(n), "message lacks `{n}`: {e}");
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let d = tmp("bad");
    let e = exp("jr_dk84.yaml");
    expect_error(
        &fit(&[
            "validate",
            &variant(&d, "jr_dk84.yaml", "name: JansenRit", "name: JansenRot"),
        ]),
        &["unknown model `JansenRot`", "JansenRit"],
    );
    expect_error(
        &fit(&[
            "validate",
            &variant(&d, "jr_dk84.yaml", "conduction_speed:", "conduction_sped:"),
        ]),
        &[
            "jr_dk84.yaml:",
            "unknown field `conduction_sped`",
            "conduction_speed",
        ],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "integration.dt=fast"]),
        &["integration", "invalid type"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "integration.dt=-1"]),
        &["integration.dt = -1"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "integration.dt=0"]),
        &["integration.dt = 0"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "integration.duration=1000.5"]),
        &["not a multiple of dt"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "connectivity.dataset=no_such_set"]),
        &["dataset `no_such_set` not found", "looked in"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "model.parameters.mu.value=.nan"]),
        &["model.parameters.mu.value", "not a finite number"],
    );
    expect_error(
        &fit(&["validate", &e, "--set", "model.parameters.mu.value=.inf"]),
        &["not a finite number"],
    );
    // Connectome files of the wrong shape.
    std::fs::write(d.join("w.csv"), "0,1,2\n1,0,2\n").unwrap();
    std::fs::write(d.join("l.csv"), "0,1\n1,0\n").unwrap();
    std::fs::write(d.join("l3.csv"), "0,1,1\n1,0,1\n1,1,0\n").unwrap();
    let files = |w: &str, l: &str| {
        vec![
            "connectivity.dataset=null".to_string(),
            format!("connectivity.weights={}", d.join(w).display()),
            format!("connectivity.lengths={}", d.join(l).display()),
        ]
    };
    let mut args = vec!["validate".to_string(), e.clone()];
    for s in files("w.csv", "l.csv") {
        args.extend(["--set".to_string(), s]);
    }
    expect_error(
        &fit(&args.iter().map(String::as_str).collect::<Vec<_>>()),
        &["not square"],
    );
    std::fs::write(d.join("w2.csv"), "0,1\n1,0\n").unwrap();
    let mut args = vec!["validate".to_string(), e.clone()];
    for s in files("w2.csv", "l3.csv") {
        args.extend(["--set".to_string(), s]);
    }
    expect_error(
        &fit(&args.iter().map(String::as_str).collect::<Vec<_>>()),
        &["weights are 2x2 but lengths are 3x3"],
    );
    // A noise file of the wrong shape.
    let bad_noise = d.join("noise.npy");
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 6, 84), }";
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    npy.extend((h.len() as u16).to_le_bytes());
    npy.extend(h.as_bytes());
    npy.extend(vec![0u8; 10 * 6 * 84 * 8]);
    std::fs::write(&bad_noise, npy).unwrap();
    let set = format!("integration.noise.file={}", bad_noise.display());
    expect_error(
        &fit(&["validate", &e, "--set", &set]),
        &["noise file has shape [10, 6, 84]", "[1000, 6, 84]"],
    );
    expect_error(
        &fit(&["validate", "/no/such/file.yaml"]),
        &["cannot read experiment file"],
    );
}

#[test]
fn simulate_writes_trace_time_config_and_plot() {
    let d = tmp("sim");
    let o = fit(&[
        "simulate",
        &exp("jr_seed.yaml"),
        "--out",
        d.to_str().unwrap(),
        "--set",
        "integration.duration=50",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["trace.npy", "time.npy", "config.yaml", "y0.png"] {
        assert!(d.join(f).exists(), "{f} missing");
    }
    let bytes = std::fs::read(d.join("trace.npy")).unwrap();
    let header = String::from_utf8_lossy(&bytes[10..128]);
    assert!(header.contains("'shape': (50, 6, 87"), "{header}");
    let cfg = std::fs::read_to_string(d.join("config.yaml")).unwrap();
    assert!(cfg.contains("duration: 50"), "{cfg}");
}

fn traj_without_wall_time(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("trajectory.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[..cells.len() - 1].join(",")
        })
        .collect()
}

const SHORT: [&str; 6] = [
    "--set",
    "optimization.steps=10",
    "--set",
    "integration.duration=400",
    "--set",
    "optimization.checkpoint_every=5",
];

/// A 10-step fit SIGKILLed after its row 7 (checkpoint at 5) and resumed gives the same
/// trajectory.csv as an uninterrupted run (every column but wall time); a changed experiment
/// is refused with the change named.
#[test]
fn killed_fit_resumes_to_the_uninterrupted_trajectory() {
    let d = tmp("resume");
    let (full, killed) = (d.join("full"), d.join("killed"));
    let run = |out: &Path, extra: &[&str]| {
        let e = exp("jr_peak.yaml");
        let mut args = vec!["run", &e[..], "--out", out.to_str().unwrap(), "--quiet"];
        args.extend(SHORT);
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(run(&full, &[]))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(run(&killed, &[]))
        .env("NEURODYN_PAUSE_AFTER_ROW", "7")
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let rows = std::fs::read_to_string(killed.join("trajectory.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rows >= 9 {
            break; // header + rows 0..=7
        }
        assert!(t0.elapsed().as_secs() < 300, "the fit never reached row 7");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(killed.join("checkpoints/step-000005").exists());
    assert!(!killed.join("final.json").exists());

    let o = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(run(&killed, &["--resume"]))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        traj_without_wall_time(&full),
        traj_without_wall_time(&killed)
    );
    assert_eq!(traj_without_wall_time(&full).len(), 12);

    // A resume may change the learning rate (said so), not the model, data or loss.
    let o = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(run(&killed, &["--set", "optimization.optimizer.lr=0.01"]))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed, allowed: optimization.optimizer.lr: 0.005 -> 0.01"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(run(&killed, &["--set", "integration.noise.sigma=0.002"]))
        .current_dir(root())
        .output()
        .unwrap();
    expect_error(
        &o,
        &[
            "different experiment",
            "integration.noise.sigma: 0.001 -> 0.002",
        ],
    );
}

/// A diverging fit (Adam at lr = 2 throws `a` and `b` far out until the simulation overflows)
/// stops with the step and parameter values, and the checkpoint written before that step stays
/// intact.
#[test]
fn diverging_fit_stops_and_keeps_the_checkpoint() {
    let d = tmp("nan");
    let e = exp("jr_peak.yaml");
    let o = fit(&[
        "run",
        &e,
        "--out",
        d.to_str().unwrap(),
        "--quiet",
        "--set",
        "integration.duration=300",
        "--set",
        "optimization.optimizer.lr=2.0",
        "--set",
        "optimization.schedule=null",
        "--set",
        "optimization.steps=30",
        "--set",
        "optimization.checkpoint_every=1",
    ]);
    expect_error(
        &o,
        &[
            "is not finite at step ",
            "a = ",
            "b = ",
            "last good checkpoint is kept",
        ],
    );
    let msg = stderr(&o);
    let step: usize = msg
        .split("at step ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(step > 1 && step < 30, "{msg}");
    // The kept checkpoint is the last finite state (before row step-1), not the one that
    // produced the NaN; no later one is left to resume into the NaN again.
    let kept = step - 1;
    assert!(
        msg.contains(&format!("checkpoint is kept (step {kept}")),
        "{msg}"
    );
    let meta = d.join(format!("checkpoints/step-{kept:06}/meta.json"));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["step"], kept);
    assert!(!d.join(format!("checkpoints/step-{step:06}")).exists());
    assert!(!d.join("final.json").exists());
    let rows = std::fs::read_to_string(d.join("trajectory.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(rows, step + 1, "header + rows 0..step-1");
    // Resuming with a smaller learning rate continues from there (a change a resume allows).
    let o = fit(&[
        "run",
        &e,
        "--out",
        d.to_str().unwrap(),
        "--quiet",
        "--resume",
        "--set",
        "integration.duration=300",
        "--set",
        "optimization.optimizer.lr=0.0001",
        "--set",
        "optimization.schedule=null",
        "--set",
        "optimization.steps=30",
        "--set",
        "optimization.checkpoint_every=1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("changed, allowed: optimization.optimizer.lr: 2.0 -> 0.0001"));
    let (_, rows) = fit::run_dir::read_csv(&d.join("trajectory.csv")).unwrap();
    let steps: Vec<usize> = rows.iter().map(|r| r[0] as usize).collect();
    assert_eq!(steps, (0..=30).collect::<Vec<_>>());
    assert!(rows.iter().flatten().all(|v| v.is_finite()));
}

/// Shards run as separate processes merge to exactly the unsharded grid.
#[test]
fn merged_shards_equal_the_unsharded_grid() {
    let d = tmp("shards");
    let set = [
        "--set",
        "integration.duration=300",
        "--set",
        "model.parameters.a.n=3",
        "--set",
        "model.parameters.b.n=4",
        "--quiet",
    ];
    let whole = d.join("whole");
    let sharded = d.join("sharded");
    let grid = exp("jr_grid.yaml");
    let mut args = vec!["explore", &grid[..], "--out", whole.to_str().unwrap()];
    args.extend(set);
    let o = fit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fit(&["merge", sharded.to_str().unwrap()]);
    assert!(!o.status.success());
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let mut args = vec![
            "explore",
            &grid[..],
            "--out",
            sharded.to_str().unwrap(),
            "--shard",
            &spec,
        ];
        args.extend(set);
        let o = fit(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        if k == 2 {
            let o = fit(&["merge", sharded.to_str().unwrap()]);
            expect_error(&o, &["shards [3] of 3 are missing"]);
        }
    }
    let o = fit(&["merge", sharded.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "grid_peak_frequency.npy",
        "grid_spectral_max.npy",
        "axes.json",
    ] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(sharded.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// Every network model is chosen by `model.name`, with its own strictly checked parameter names,
/// and a model/coupling pair that does not fit is refused with the reason.
#[test]
fn network_models_and_couplings_are_validated() {
    let g = exp("g2do_dk84.yaml");
    let d = tmp("models");
    expect_error(
        &fit(&[
            "validate",
            &variant(
                &d,
                "g2do_dk84.yaml",
                "name: Generic2dOscillator",
                "name: Generic2D",
            ),
        ]),
        &[
            "unknown model `Generic2D`",
            "Generic2dOscillator",
            "ReducedWongWang",
            "WilsonCowan",
        ],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "coupling.name=Lineal"]),
        &[
            "coupling.name",
            "unknown coupling `Lineal`",
            "Linear",
            "Difference",
        ],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "model.parameters.alfa.value=1"]),
        &[
            "model.parameters.alfa",
            "unknown parameter of model Generic2dOscillator",
            "alpha",
        ],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "coupling.parameters.cmax.value=1"]),
        &["coupling.parameters.cmax", "coupling Linear", "valid: a, b"],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "coupling.name=SigmoidalJansenRit"]),
        &[
            "SigmoidalJansenRit",
            "Generic2dOscillator",
            "two coupling variables",
        ],
    );
    expect_error(
        &fit(&[
            "validate",
            &exp("mpr_dk84.yaml"),
            "--set",
            "coupling.name=SigmoidalJansenRit",
        ]),
        &["MontbrioPazoRoxin reads 2", "r, V"],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "integration.method=RK4"]),
        &["RK4 is deterministic", "Euler or Heun"],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "observation.variable=X"]),
        &["observation.variable", "`X`", "V, W"],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "optimization.noise_realisations=0"]),
        &[
            "g2do_dk84.yaml",
            "optimization.noise_realisations must be >= 1",
        ],
    );
    expect_error(
        &fit(&["validate", &g, "--set", "optimization.grad_horizon=0"]),
        &["optimization.grad_horizon must be >= 1"],
    );
    expect_error(
        &fit(&[
            "validate",
            &g,
            "--set",
            "connectivity.conduction_speed={value: 3.0, free: true, low: 2.0}",
        ]),
        &["conduction_speed is free", "history_interpolation: linear"],
    );
    for name in [
        "jr_dk84.yaml",
        "g2do_dk84.yaml",
        "rww_dk84.yaml",
        "mpr_dk84.yaml",
        "wc_dk84.yaml",
    ] {
        let o = fit(&["validate", &exp(name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    // Simulate and gradcheck run on a new model (short run).
    let out = d.join("rww-sim");
    let o = fit(&[
        "simulate",
        &exp("rww_dk84.yaml"),
        "--set",
        "integration.duration=50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let header = std::fs::read(out.join("trace.npy")).unwrap();
    let header = String::from_utf8_lossy(&header[..128]);
    assert!(header.contains("'shape': (50, 1, 84"), "{header}");
    let o = fit(&[
        "gradcheck",
        &exp("g2do_dk84.yaml"),
        "--set",
        "integration.duration=100",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let worst: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("worst relative error "))
        .and_then(|v| v.trim().parse().ok())
        .expect("gradcheck prints the worst relative error");
    assert!(worst < 1e-5, "{text}");
    // A grid over a new model's parameter, from a file without an `exploration` section,
    // records the default statistic (the peak frequency).
    let grid = d.join("g2do-grid");
    let o = fit(&[
        "explore",
        &g,
        "--set",
        "model.parameters.a.n=3",
        "--set",
        "integration.duration=300",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(grid.join("grid_peak_frequency.npy").exists());
}

/// Optimizer, schedule and transform mistakes are errors that name the field and list the
/// valid names.
#[test]
fn bad_optimizer_settings_give_clear_errors() {
    let e = exp("jr_peak.yaml");
    let validate = |sets: &[&str]| {
        let mut args = vec!["validate", &e[..]];
        for s in sets {
            args.extend(["--set", s]);
        }
        fit(&args)
    };
    expect_error(
        &validate(&["optimization.optimizer={name: adamm, lr: 0.01}"]),
        &["adamm", "adam", "adamw", "adamax", "sgd", "lbfgs"],
    );
    expect_error(
        &validate(&["optimization.schedule={kind: cosine}"]),
        &["cosine", "warmup_cosine_decay", "reduce_on_plateau"],
    );
    expect_error(
        &validate(&["model.parameters.a.transform=logit"]),
        &["logit", "identity", "log", "sigmoid"],
    );
    expect_error(
        &validate(&["optimization.optimizer.lr=0"]),
        &["optimization.optimizer.lr must be a positive number"],
    );
    expect_error(
        &validate(&["optimization.optimizer.lr=.nan"]),
        &["optimization.optimizer.lr must be a positive number, got NaN"],
    );
    expect_error(
        &validate(&[
            "model.parameters.a.transform=sigmoid",
            "model.parameters.a.low=0.05",
        ]),
        &[
            "model.parameters.a.transform",
            "not strictly inside the bounds (0.05, 0.2)",
        ],
    );
    expect_error(
        &validate(&["optimization.adam={lr: 0.01}"]),
        &["either `adam:` or `optimizer:`"],
    );
}

/// A short fit writes integer steps, reports the error against the truth, stops early at a
/// target loss, and `fit compare` names the differing fields and writes its table and plots.
#[test]
fn early_stopping_restore_best_and_compare() {
    let d = tmp("compare");
    let e = exp("jr_peak.yaml");
    let (a, b) = (d.join("a"), d.join("b"));
    let base = [
        "--set",
        "optimization.steps=12",
        "--set",
        "integration.duration=400",
    ];
    let mut args = vec!["run", &e[..], "--out", a.to_str().unwrap(), "--quiet"];
    args.extend(base);
    let o = fit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("parameter error against the truth: a = "),
        "{out}"
    );
    let traj = std::fs::read_to_string(a.join("trajectory.csv")).unwrap();
    let steps: Vec<&str> = traj
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, (0..=12).map(|k| k.to_string()).collect::<Vec<_>>());
    let fin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("final.json")).unwrap()).unwrap();
    assert_eq!(fin["truth"]["a"], 0.07);
    assert_eq!(fin["restored_best"], fin["best_step"] != 12);
    assert_eq!(fin["final_loss"], fin["best_loss"]);

    let mut args = vec!["run", &e[..], "--out", b.to_str().unwrap(), "--quiet"];
    args.extend(base);
    args.extend([
        "--set",
        "optimization.optimizer.lr=0.003",
        "--set",
        "optimization.early_stopping={target: 0.5}",
    ]);
    let o = fit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let fin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("final.json")).unwrap()).unwrap();
    let last = fin["last_step"].as_u64().unwrap();
    assert!(last < 12, "{fin}");
    assert!(fin["last_loss"].as_f64().unwrap() <= 0.5);
    assert!(fin["stopped_early"].as_str().unwrap().contains("target"));

    let cmp = d.join("cmp");
    let o = fit(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
        "--by",
        "time",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("optimization.optimizer.lr: 0.005 | 0.003"),
        "{out}"
    );
    assert!(
        out.contains("optimization.early_stopping.target: - | 0.5"),
        "{out}"
    );
    assert!(out.contains("truth: a = 0.07, b = 0.065"), "{out}");
    let csv = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "run,steps,final_loss,best_loss,best_step,a,b,wall_time"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[2].split(',').nth(1).unwrap().parse::<f64>().unwrap() == last as f64);
    for f in ["compare_parameters.png", "compare_loss.png"] {
        assert!(std::fs::metadata(cmp.join(f)).unwrap().len() > 1000, "{f}");
    }
}

/// L-BFGS on the main job (the same noise in fit and target, so the loss is deterministic):
/// every iteration lowers the loss and 40 iterations land within 1e-6 of the truth.
#[test]
fn lbfgs_fit_descends_and_lands() {
    let d = tmp("lbfgs");
    let e = exp("jr_peak.yaml");
    let run = |out: &Path, steps: &str| {
        let s = format!("optimization.steps={steps}");
        fit(&[
            "run",
            &e,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--set",
            "optimization.optimizer={name: lbfgs}",
            "--set",
            "optimization.schedule=null",
            "--set",
            &s,
        ])
    };
    let o = run(&d.join("full"), "40");
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, rows) = fit::run_dir::read_csv(&d.join("full/trajectory.csv")).unwrap();
    assert_eq!(rows.len(), 41);
    for w in rows.windows(2) {
        assert!(w[1][1] <= w[0][1], "loss rose: {} -> {}", w[0][1], w[1][1]);
    }
    let last = rows.last().unwrap();
    assert!(last[1] < 1e-10, "final loss {}", last[1]);
    assert!(((last[2] - 0.07) / 0.07).abs() < 1e-6, "a = {}", last[2]);
    assert!(((last[3] - 0.065) / 0.065).abs() < 1e-6, "b = {}", last[3]);
}

/// A grid of fits (2 × 2 starts as one batch, each start its own optimizer state, here with a
/// global-norm clip and a cosine schedule) gives every start the trajectory of a single `fit
/// run` from that start.
#[test]
fn grid_of_fits_equals_single_fits() {
    let d = tmp("gridfits");
    let e = exp("jr_grid_fits.yaml");
    let common = [
        "--set",
        "integration.duration=300",
        "--set",
        "optimization.steps=4",
        "--set",
        "optimization.grad_clip=5.0",
        "--set",
        "optimization.schedule={kind: cosine_decay}",
    ];
    let grid = d.join("grid");
    let mut args = vec![
        "explore",
        &e[..],
        "--out",
        grid.to_str().unwrap(),
        "--quiet",
        "--set",
        "model.parameters.a.n=2",
        "--set",
        "model.parameters.b.n=2",
    ];
    args.extend(common);
    let o = fit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let cols = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').take(4).map(str::to_string).collect())
            .collect()
    };
    for (p, (a0, b0)) in [(0, (0.02, 0.02)), (3, (0.12, 0.12))] {
        let start = std::fs::read_to_string(grid.join(format!("starts/start-{p:05}.csv"))).unwrap();
        let single = d.join(format!("single-{p}"));
        let (sa, sb) = (
            format!("model.parameters.a.value={a0}"),
            format!("model.parameters.b.value={b0}"),
        );
        let mut args = vec![
            "run",
            &e[..],
            "--out",
            single.to_str().unwrap(),
            "--quiet",
            "--set",
            &sa,
            "--set",
            &sb,
        ];
        args.extend(common);
        let o = fit(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let one = std::fs::read_to_string(single.join("trajectory.csv")).unwrap();
        assert_eq!(cols(&start), cols(&one), "start {p}");
        assert_eq!(cols(&one).len(), 5);
    }
}

/// Bad BOLD/FC settings are clear errors naming the field.
#[test]
fn bold_and_fc_settings_are_validated() {
    let e = exp("rww_fc.yaml");
    let out = tmp("bold-bad");
    let run = |sets: &[&str]| {
        let mut args = vec!["run", e.as_str(), "--out", out.to_str().unwrap()];
        for s in sets {
            args.extend(["--set", s]);
        }
        fit(&args)
    };
    expect_error(
        &run(&["observation.bold.period=720.5"]),
        &[
            "rww_fc.yaml",
            "observation.bold.period = 720.5",
            "multiple of dt",
        ],
    );
    expect_error(
        &run(&["observation.bold.transient=70000"]),
        &["observation.bold.transient", "not shorter than the run"],
    );
    expect_error(
        &run(&["observation.bold.driver=X"]),
        &["observation.bold.driver", "`X`", "valid: S"],
    );
    expect_error(
        &run(&["observation.bold.constants=modern"]),
        &["observation.bold.constants", "classical, revised"],
    );
    expect_error(
        &run(&["optimization.loss=spectral_correlation"]),
        &[
            "optimization.loss = spectral_correlation",
            "fc_correlation or fc_rmse",
        ],
    );
    expect_error(
        &run(&[
            "observation.kind=fcd",
            "observation.fcd={window: 500, step: 5}",
            "optimization.loss=fcd_wasserstein",
        ]),
        &[
            "observation.fcd.window = 500",
            "longer than the observed series",
        ],
    );
    expect_error(
        &run(&[
            "optimization.target.path=../datasets/dk87_dtor/space-MNI152Nlin2009c_atlas-DesikanKilliany_desc-dTOR_weights.csv",
        ]),
        &["optimization.target", "87x87", "84 regions"],
    );
    let d = tmp("bold-nan");
    let mut rows = vec![vec!["0.5".to_string(); 84]; 84];
    rows[3][7] = "nan".into();
    let text: String = rows.iter().map(|r| r.join("\t") + "\n").collect();
    std::fs::write(d.join("fc.tsv"), text).unwrap();
    let set = format!("optimization.target.path={}", d.join("fc.tsv").display());
    expect_error(
        &run(&[&set]),
        &["optimization.target", "[3, 7]", "not finite"],
    );
}
