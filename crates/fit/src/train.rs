//! The training loop: the `optim` crate's optimizers on the free parameters of a network
//! experiment.
//!
//! Short and explicit, optax style: evaluate the objective, backpropagate, log a row, update
//! the unconstrained values `u` on the host in f64 (`updates = chain.update(grads, state, u)`,
//! `u += updates`), checkpoint. Row `k` of `trajectory.csv` holds the parameters (natural
//! units θ = T(u)) after `k` updates, their loss and gradient norm (with respect to u); the last
//! row evaluates the final parameters. Early stopping ends the run sooner; `restore_best` ends
//! it on the parameters of the lowest loss.

use crate::checkpoint;
use crate::config::TargetCfg;
use crate::context::RunContext;
use crate::objective::{Objective, Target, TargetFiles};
use crate::optimizer::Optimizer;
use crate::plot::{Series, line_plot};
use crate::run_dir::{read_csv, write_json};
use crate::simulate::{load, write_resolved};
use crate::yaml::resolved_tree;
use anyhow::{Result, anyhow, bail};
use fitting::family::Family;
pub use fitting::network::family::{
    Evaluation, FitParams, FitState, HostParams, NetworkFamily, column_names, evaluate, flatten,
    initial_values, unflatten,
};
use std::path::Path;
use std::time::Instant;

/// The error of a run that the driver ended by an interruption or a divergence (`Ok` when it
/// finished), shared by every family.
pub fn outcome_error(
    outcome: &fitting::driver::Outcome,
    steps: usize,
    out_dir: &Path,
) -> Result<()> {
    use fitting::driver::Outcome;
    match outcome {
        Outcome::Finished { .. } => Ok(()),
        Outcome::Interrupted { step } => Err(crate::interrupt::Interrupted(format!(
            "the fit stopped after {step} of {steps} steps; the checkpoint at step {step} is in {} \
             (continue with --resume)",
            out_dir.display()
        ))
        .into()),
        Outcome::Diverged { detail, kept, .. } => {
            let kept = match kept {
                Some(k) => format!(
                    " The last good checkpoint is kept (step {k}, the state before the last \
                     finite row, in {}): continue it with --resume and a smaller learning rate.",
                    out_dir.join("checkpoints").display()
                ),
                None => " No finite step of this run was checkpointed.".to_string(),
            };
            bail!("{detail}{kept}")
        }
    }
}

/// The true value of each column (`a`, `a[3]`, `coupling.a`) when the target is simulated.
pub fn truth_of_columns(
    cfg: &crate::config::OptimizationCfg,
    names: &[String],
) -> Vec<Option<f64>> {
    let TargetCfg::Simulated { parameters } = &cfg.target else {
        return vec![None; names.len()];
    };
    names
        .iter()
        .map(|n| {
            let base = n.split('[').next().unwrap_or(n);
            parameters.get(base).copied()
        })
        .collect()
}

/// `fit run EXP.yaml`: fits the free parameters; resumes from the run folder's checkpoint.
pub fn run_fit(ctx: &RunContext) -> Result<()> {
    let setup = load(ctx)?;
    let path = &ctx.exp_path;
    let cfg = setup.exp.optimization.clone().ok_or_else(|| {
        anyhow!(
            "{}: `fit run` needs an `optimization` section",
            path.display()
        )
    })?;
    if setup.free.is_empty() {
        bail!("{}: no parameter is marked `free: true`", path.display());
    }
    let optimizer: Optimizer = crate::optimizer::build(&cfg, path)?;
    if cfg.checkpoint_every == 0 {
        bail!(
            "{}: optimization.checkpoint_every must be >= 1",
            path.display()
        );
    }
    let device = backend::f64_device(setup.backend, true);
    let mut obj = Objective::new(&setup, 1, &device, false)?;
    obj.transforms = crate::optimizer::transforms(&setup, cfg.bounds, path)?;
    obj.set_target(&setup, path)?;
    let names = column_names(&setup);
    let hash = ctx.experiment_hash();
    let config_json = serde_json::to_value(resolved_tree(path, &ctx.text, &ctx.overrides)?)?;
    crate::cli::create_run_dir(&ctx.out_dir)?;
    let traj_path = ctx.out_dir.join("trajectory.csv");
    let mut header = vec!["step".to_string(), "loss".to_string()];
    header.extend(names.iter().cloned());
    header.extend(["grad_norm".to_string(), "wall_time".to_string()]);

    let resumed = crate::run_dir::resume_point(ctx)?;
    let (values, shapes) = initial_values(&setup, &obj)?;
    let flat = flatten(&values);
    let mut fam = NetworkFamily {
        setup: &setup,
        obj: &obj,
        optimizer: &optimizer,
        device: device.clone(),
        names: names.clone(),
        header: header.clone(),
        state: FitState {
            optimizer: optimizer.init(&flat),
            best_u: flat,
        },
        values,
        shapes,
        step: 0,
        steps: cfg.steps,
        pending: None,
        last: None,
        stopped: None,
        wall0: 0.0,
        t0: Instant::now(),
        on_start: Some(Box::new(|eval: &Evaluation| {
            // Kept on disk so that the start spectrum survives an interruption and a resume.
            let path = ctx.out_dir.join("start_spectrum.npy");
            crate::npy::write_npy(&path, &eval.spectra, &[eval.spectra.len()])
        })),
    };
    if let Some(c) = &resumed {
        checkpoint::check_same_experiment(&c.meta, &hash, &config_json, &ctx.out_dir)?;
        fam.restore(&checkpoint::snapshot_of(c)).map_err(|e| {
            anyhow!(
                "{}: the checkpoint at step {} holds no readable optimizer state ({e:#}). Use \
                 --fresh to start over.",
                ctx.out_dir.display(),
                c.meta.step
            )
        })?;
        if !ctx.quiet {
            eprintln!(
                "resuming {} from the checkpoint at step {}",
                ctx.out_dir.display(),
                c.meta.step
            );
        }
    }
    write_resolved(ctx)?;
    let shown_names = names.clone();
    let outcome = crate::run_dir::drive(
        ctx,
        &mut fam,
        resumed.as_ref(),
        hash.clone(),
        config_json.clone(),
        crate::run_dir::DriveSpec {
            trajectory: &traj_path,
            prefix: optimizer.name,
            total: cfg.steps,
            seed: setup.exp.integration.noise.seed,
            backend: setup.backend.name().to_string(),
            checkpoint_every: cfg.checkpoint_every,
            message: Some(Box::new(move |r| {
                let shown: Vec<String> = shown_names
                    .iter()
                    .zip(&r.row[1..])
                    .take(4)
                    .map(|(n, v)| format!("{n}={v:.5}"))
                    .collect();
                format!("loss {:.5} {}", r.row[0], shown.join(" "))
            })),
        },
    )?;
    let fitting::driver::Outcome::Finished { last_step, .. } = outcome else {
        bail!("the fit ended without finishing");
    };
    let stopped = fam.stopped;
    let state = fam.state.clone();
    let values = fam.values.clone();
    let shapes = fam.shapes.clone();
    // A resume of a finished run (fewer steps than its checkpoint) evaluates the parameters.
    let last = match fam.last.take() {
        Some(l) => l,
        None => {
            let e = evaluate(&obj, &FitParams::from_host(&values, &shapes, &device))?;
            (e, fam.wall0 + fam.t0.elapsed().as_secs_f64())
        }
    };
    let (last_eval, wall) = last;
    let best_step = state.optimizer.stopping.best_step as usize;
    let restored = cfg.restore_best && best_step != last_step;
    let eval = if restored {
        let best = unflatten(&state.best_u, &values);
        evaluate(&obj, &FitParams::from_host(&best, &shapes, &device))?
    } else {
        Evaluation {
            losses: last_eval.losses.clone(),
            thetas: last_eval.thetas.clone(),
            grads: last_eval.grads.clone(),
            spectra: last_eval.spectra.clone(),
        }
    };
    let as_map = |thetas: &[Vec<f64>]| -> serde_json::Map<String, serde_json::Value> {
        names
            .iter()
            .zip(thetas.iter().flatten())
            .map(|(n, v)| (n.clone(), serde_json::json!(v)))
            .collect()
    };
    let final_params = as_map(&eval.thetas);
    let last_params = as_map(&last_eval.thetas);
    let (_, rows) = read_csv(&traj_path)?;
    let best = rows
        .iter()
        .min_by(|a, b| a[1].total_cmp(&b[1]))
        .cloned()
        .unwrap_or_default();
    let best_params: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.clone(), serde_json::json!(best[2 + k])))
        .collect();
    let truth = truth_of_columns(&cfg, &names);
    let errors: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(eval.thetas.iter().flatten())
        .zip(&truth)
        .filter_map(|((n, v), t)| t.map(|t| (n.clone(), serde_json::json!((v - t) / t))))
        .collect();
    let truth_map: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&truth)
        .filter_map(|(n, t)| t.map(|t| (n.clone(), serde_json::json!(t))))
        .collect();
    write_json(
        &ctx.out_dir.join("final.json"),
        &serde_json::json!({
            "experiment": path.display().to_string(),
            "optimizer": optimizer.name,
            "steps": last_step,
            "max_steps": cfg.steps,
            "stopped_early": stopped.clone(),
            "restored_best": restored,
            "final_loss": eval.losses[0],
            "parameters": final_params,
            "last_step": last_step,
            "last_loss": last_eval.losses[0],
            "last_parameters": last_params,
            "best_step": best[0] as usize,
            "best_loss": best[1],
            "best_parameters": best_params,
            "truth": if truth_map.is_empty() { serde_json::Value::Null } else { truth_map.into() },
            "relative_error": if errors.is_empty() { serde_json::Value::Null } else { errors.clone().into() },
            "wall_time_s": wall,
            "backend": setup.backend.name(),
        }),
    )?;
    crate::npy::write_npy(
        &ctx.out_dir.join("final_spectrum.npy"),
        &eval.spectra,
        &[eval.spectra.len()],
    )?;
    if let Some(Target::Spectrum(t)) = obj.target() {
        crate::npy::write_npy(&ctx.out_dir.join("target_spectrum.npy"), t, &[t.len()])?;
    }
    let start_spectrum = crate::npy::read_npy(&ctx.out_dir.join("start_spectrum.npy")).ok();
    write_plots(
        &ctx.out_dir,
        &obj,
        start_spectrum.as_ref().map(|s| &s.0[..]),
        &eval.spectra,
        &truth,
    )?;
    if let Some(s) = stopped {
        println!("stopped early at step {last_step}: {s}");
    }
    if restored {
        println!(
            "restore_best: ending on step {best_step} (loss {:.3e}) instead of the last step {last_step} (loss {:.3e})",
            eval.losses[0], last_eval.losses[0]
        );
    }
    println!(
        "fit finished: {} steps, final loss {:.3e} (best {:.3e} at step {}), {}; run folder {}",
        last_step,
        eval.losses[0],
        best[1],
        best[0] as usize,
        final_params
            .iter()
            .take(6)
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        ctx.out_dir.display()
    );
    if !errors.is_empty() {
        println!(
            "parameter error against the truth: {}",
            names
                .iter()
                .zip(eval.thetas.iter().flatten())
                .zip(&truth)
                .filter_map(|((n, v), t)| t
                    .map(|t| format!("{n} = {v:.6} vs {t} ({:+.2e} relative)", (v - t) / t)))
                .take(8)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Loss curve, parameter trajectories, and start/target/final spectra.
fn write_plots(
    dir: &Path,
    obj: &Objective,
    start: Option<&[f64]>,
    last: &[f64],
    truth: &[Option<f64>],
) -> Result<()> {
    let (header, rows) = read_csv(&dir.join("trajectory.csv"))?;
    let step: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    let loss: Vec<f64> = rows.iter().map(|r| r[1]).collect();
    line_plot(
        &dir.join("loss.png"),
        "loss",
        "step",
        "loss",
        &[Series::new("loss", step.clone(), loss)],
        true,
    )?;
    let (x0, x1) = (
        step.first().copied().unwrap_or(0.0),
        step.last().copied().unwrap_or(1.0),
    );
    let mut params: Vec<Series> = Vec::new();
    for (k, c) in (2..header.len() - 2).take(12).enumerate() {
        params.push(
            Series::new(
                header[c].clone(),
                step.clone(),
                rows.iter().map(|r| r[c]).collect(),
            )
            .with_color(k),
        );
        if let Some(Some(t)) = truth.get(k) {
            params.push(
                Series::new(format!("{} (truth)", header[c]), vec![x0, x1], vec![*t, *t])
                    .with_color(k)
                    .dashed(),
            );
        }
    }
    line_plot(
        &dir.join("parameters.png"),
        "parameter trajectories",
        "step",
        "value",
        &params,
        false,
    )?;
    if obj.kind != crate::config::ObservationKind::Spectrum {
        let loss: Vec<f64> = rows.iter().map(|r| r[1]).collect();
        return crate::fc_plots::write(dir, obj, last, &step, &loss);
    }
    let f = obj.welch.freqs().to_vec();
    let nf = f.len();
    let mut series = Vec::new();
    if let Some(s) = start {
        series.push(Series::new("start", f.clone(), s[..nf].to_vec()));
    }
    if let Some(Target::Spectrum(t)) = obj.target() {
        series.push(Series::new("target", f.clone(), t[..nf].to_vec()));
    }
    series.push(Series::new("final", f, last[..nf].to_vec()));
    line_plot(
        &dir.join("spectra.png"),
        "spectra (region mean or first region)",
        "frequency (Hz)",
        "PSD",
        &series,
        true,
    )
}
