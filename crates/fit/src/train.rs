//! The training loop: the `optim` crate's optimizers on the free parameters of a network
//! experiment.
//!
//! Short and explicit, optax style: evaluate the objective, backpropagate, log a row, update
//! the unconstrained values `u` on the host in f64 (`updates = chain.update(grads, state, u)`,
//! `u += updates`), checkpoint. Row `k` of `trajectory.csv` holds the parameters (natural
//! units θ = T(u)) after `k` updates, their loss and gradient norm (with respect to u); the last
//! row evaluates the final parameters. Early stopping ends the run sooner; `restore_best` ends
//! it on the parameters of the lowest loss.

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::TargetCfg;
use crate::context::RunContext;
use crate::network_setup::NetworkSetup;
use crate::objective::{Objective, Target, TargetFiles};
use crate::optimizer::{Method, OptState, Optimizer};
use crate::plot::{Series, line_plot};
use crate::progress::progress_bar;
use crate::run_dir::{CsvAppender, read_csv, write_atomic, write_json};
use crate::simulate::{load, write_resolved};
use crate::yaml::resolved_tree;
use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;
use std::time::Instant;

/// The trainable values: one `[batch, m]` tensor per free parameter (m = 1 or regions).
#[derive(Module, Debug)]
pub struct FitParams {
    /// Unconstrained values `u` (θ = transform(u)).
    pub values: Vec<Param<Tensor<2>>>,
}

impl FitParams {
    /// Builds the module from host values with stable parameter ids (so optimizer state
    /// saved in a checkpoint maps back onto the same parameters).
    pub fn from_host(values: &[Vec<f64>], shapes: &[[usize; 2]], device: &Device) -> Self {
        let values = values
            .iter()
            .zip(shapes)
            .enumerate()
            .map(|(k, (v, s))| {
                let t = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), device)
                    .reshape(*s);
                Param::initialized(ParamId::from(k as u64 + 1), t.require_grad())
            })
            .collect();
        Self { values }
    }

    /// Host copies of the values.
    pub fn to_host(&self) -> Vec<Vec<f64>> {
        self.values
            .iter()
            .map(|p| {
                p.val()
                    .into_data()
                    .convert::<f64>()
                    .try_into_vec()
                    .expect("f64 tensor")
            })
            .collect()
    }
}

/// One evaluation: per-set losses, θ values and gradients wrt `u` (host), plus the spectra.
pub struct Evaluation {
    /// Loss per parameter set.
    pub losses: Vec<f64>,
    /// θ per free parameter, `[batch·m]`.
    pub thetas: Vec<Vec<f64>>,
    /// ∂loss/∂u per free parameter, `[batch·m]`.
    pub grads: Vec<Vec<f64>>,
    /// Spectra `[batch, R', F]`.
    pub spectra: Vec<f64>,
}

fn host(t: Tensor<2>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec()
        .expect("f64 tensor")
}

/// Evaluates the objective and its gradient at the module's values.
pub fn evaluate(obj: &Objective, module: &FitParams) -> Result<Evaluation> {
    let thetas: Vec<Tensor<2>> = module
        .values
        .iter()
        .zip(&obj.transforms)
        .map(|(p, t)| t.forward(p.val()))
        .collect();
    let spectra = obj.spectra(obj.packed(&thetas));
    let per_set = obj.loss_of(spectra.clone())?;
    let losses: Vec<f64> = per_set
        .clone()
        .into_data()
        .convert::<f64>()
        .try_into_vec()?;
    // Sets are independent, so the gradient of the sum is each set's own gradient.
    let grads = per_set.sum().backward();
    let grads_params = GradientsParams::from_grads(grads, module);
    let g = module
        .values
        .iter()
        .map(|p| {
            grads_params
                .get::<2>(p.id)
                .map(host)
                .unwrap_or_else(|| vec![0.0; p.val().dims().iter().product()])
        })
        .collect();
    Ok(Evaluation {
        losses,
        thetas: thetas.into_iter().map(|t| host(t.detach())).collect(),
        grads: g,
        spectra: spectra
            .detach()
            .into_data()
            .convert::<f64>()
            .try_into_vec()?,
    })
}

/// A diverging fit stops with the step and the parameter values.
fn check_finite(
    step: usize,
    names: &[String],
    eval: &Evaluation,
    setup: &NetworkSetup,
    out_dir: &Path,
) -> Result<()> {
    let bad_loss = eval.losses.iter().any(|l| !l.is_finite());
    let bad_grad = eval.grads.iter().flatten().any(|g| !g.is_finite());
    if bad_loss || bad_grad {
        let vals: Vec<String> = names
            .iter()
            .zip(eval.thetas.iter().flatten())
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        let kept = match checkpoint::latest(out_dir) {
            Ok(Some((meta, _))) => format!(
                " The last good checkpoint is kept (step {}, in {}).",
                meta.step,
                out_dir.join("checkpoints").display()
            ),
            _ => " No checkpoint was written yet.".to_string(),
        };
        bail!(
            "{}: the {} is not finite at step {step} (loss {:?}); parameters: {}. {}{kept}",
            setup.path.display(),
            if bad_loss { "loss" } else { "gradient" },
            eval.losses,
            vals.join(", "),
            diagnose(eval, setup, bad_loss)
        );
    }
    Ok(())
}

/// Where a non-finite loss or gradient came from: the simulation (which variable, region and
/// step), the observed spectrum, or the loss formula, with the fields to look at.
fn diagnose(eval: &Evaluation, setup: &NetworkSetup, bad_loss: bool) -> String {
    if !bad_loss {
        return "The loss is finite, so the gradient overflowed: look at the parameters' \
                transforms and bounds, optimization.grad_clip or clip_value and the optimizer's \
                lr and eps."
            .into();
    }
    if eval.spectra.iter().all(|v| v.is_finite()) {
        return "The simulation and the observation are finite, so the loss formula gave it: \
                look at the target (a constant or zero spectrum), optimization.loss and \
                optimization.peak_temperature."
            .into();
    }
    // Re-run the first parameter set without the tape to find the first bad state.
    let n = setup.n();
    let mut params = setup.base_params.clone();
    for (f, theta) in setup.free.iter().zip(&eval.thetas) {
        let row = &mut params[f.param.index() * n..(f.param.index() + 1) * n];
        if theta.len() == n {
            row.copy_from_slice(theta);
        } else if let Some(v) = theta.first() {
            row.fill(*v);
        }
    }
    let mut problem = setup.problem.clone();
    problem.monitor.variables = (0..problem.layout().ns).collect();
    problem.monitor.stride = 1;
    problem.monitor.kind = solvers::monitor::MonitorKind::SubSample;
    let (out, _) = solvers::network_kernel::forward(&problem, &params, false);
    let named: Vec<(String, f64)> = setup
        .param_names()
        .into_iter()
        .enumerate()
        .map(|(k, name)| (name, params[k * n]))
        .collect();
    match crate::simulate::first_non_finite(&out.trace, &problem, &named) {
        Some(msg) => format!(
            "The {msg}; look at integration.dt (smaller steps), the parameter values and bounds, \
             and integration.noise.sigma."
        ),
        None => {
            let big = out.trace.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if big > 1e100 {
                format!(
                    "The simulation blows up (largest |state| {big:.3e}, finite but too large for \
                     its spectrum): look at the parameter values and bounds (low/high, \
                     optimization.bounds), the optimizer's lr and integration.dt."
                )
            } else {
                format!(
                    "The simulation is finite (largest |state| {big:.3e}) but the observed \
                     spectrum is not: look at observation.stride, observation.nperseg and \
                     noverlap, and observation.bold."
                )
            }
        }
    }
}

/// Parameter column names (θ), in module order.
pub fn column_names(setup: &NetworkSetup) -> Vec<String> {
    setup.free.iter().flat_map(|f| f.column_names()).collect()
}

/// Host parameter values (one list per free parameter) and their tensor shapes.
pub type HostParams = (Vec<Vec<f64>>, Vec<[usize; 2]>);

fn initial_values(setup: &NetworkSetup, obj: &Objective) -> Result<HostParams> {
    let mut values = Vec::new();
    let mut shapes = Vec::new();
    for (f, t) in setup.free.iter().zip(&obj.transforms) {
        let u = f
            .init
            .iter()
            .map(|&v| t.inverse(v))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("free parameter {}", f.param.qualified_name()))?;
        shapes.push([1, u.len()]);
        values.push(u);
    }
    Ok((values, shapes))
}

/// Test hook: after appending this row, pause (so a test can SIGKILL the process there).
const PAUSE_ENV: &str = "NEURODYN_PAUSE_AFTER_ROW";

/// The checkpoint payload of a network fit: the optimizer's state and the best values so far.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct FitState {
    /// Optimizer and early-stopping state.
    optimizer: OptState,
    /// Unconstrained values at the lowest loss so far (flattened).
    #[serde(with = "optim::bits::vec")]
    best_u: Vec<f64>,
}

fn flatten(values: &[Vec<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

fn unflatten(flat: &[f64], like: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(like.len());
    let mut k = 0;
    for v in like {
        out.push(flat[k..k + v.len()].to_vec());
        k += v.len();
    }
    out
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

    let resume = checkpoint::latest(&ctx.out_dir)?;
    let (mut values, shapes, mut state, start, wall0) = match resume {
        Some((meta, bytes)) => {
            checkpoint::check_same_experiment(&meta, &hash, &config_json, &ctx.out_dir)?;
            let values = checkpoint::params_from_bits(&meta)?;
            let state: FitState = serde_json::from_slice(&bytes).map_err(|e| {
                anyhow!(
                    "{}: the checkpoint at step {} holds no readable optimizer state ({e}); it may \
                     come from an older neurodyn (burn's optimizer record). Use --fresh to start over.",
                    ctx.out_dir.display(),
                    meta.step
                )
            })?;
            // Rows written after the checkpoint by the interrupted run are recomputed.
            let (_, rows) = read_csv(&traj_path).unwrap_or_default();
            let keep: Vec<String> = rows
                .iter()
                .filter(|r| r.first().is_some_and(|s| (*s as usize) < meta.step))
                .map(|r| {
                    std::iter::once((r[0] as usize).to_string())
                        .chain(r[1..].iter().map(|v| crate::run_dir::fmt_f64(*v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            let text = std::iter::once(header.join(","))
                .chain(keep)
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            write_atomic(&traj_path, text.as_bytes())?;
            if !ctx.quiet {
                eprintln!(
                    "resuming {} from the checkpoint at step {}",
                    ctx.out_dir.display(),
                    meta.step
                );
            }
            (
                values,
                meta.shapes.clone(),
                state,
                meta.step,
                meta.wall_time,
            )
        }
        None => {
            let (values, shapes) = initial_values(&setup, &obj)?;
            CsvAppender::create(
                &traj_path,
                &header.iter().map(String::as_str).collect::<Vec<_>>(),
            )?;
            let flat = flatten(&values);
            let state = FitState {
                optimizer: optimizer.init(&flat),
                best_u: flat,
            };
            (values, shapes, state, 0, 0.0)
        }
    };
    write_resolved(ctx)?;
    let mut traj = CsvAppender::append_to(&traj_path)?;
    let pause_at: Option<usize> = std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok());
    let bar = progress_bar(cfg.steps as u64, ctx.quiet);
    bar.set_prefix(optimizer.name);
    bar.set_position(start as u64);
    let t0 = Instant::now();
    let mut last = None;
    let mut pending: Option<Evaluation> = None;
    let mut stopped = None;
    let mut last_step = cfg.steps;
    for step in start..=cfg.steps {
        let eval = match pending.take() {
            Some(e) => e,
            None => evaluate(&obj, &FitParams::from_host(&values, &shapes, &device))?,
        };
        check_finite(step, &names, &eval, &setup, &ctx.out_dir)?;
        let gnorm = eval
            .grads
            .iter()
            .flatten()
            .map(|g| g * g)
            .sum::<f64>()
            .sqrt();
        let wall = wall0 + t0.elapsed().as_secs_f64();
        let mut row = vec![eval.losses[0]];
        row.extend(eval.thetas.iter().flatten().copied());
        row.extend([gnorm, wall]);
        traj.append_step(step, &row)?;
        if pause_at == Some(step) {
            eprintln!("paused after row {step} ({PAUSE_ENV})");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        let shown: Vec<String> = names
            .iter()
            .zip(eval.thetas.iter().flatten())
            .take(4)
            .map(|(n, v)| format!("{n}={v:.5}"))
            .collect();
        bar.set_message(format!("loss {:.5} {}", eval.losses[0], shown.join(" ")));
        if step == 0 {
            // Kept on disk so that the start spectrum survives an interruption and a resume.
            let path = ctx.out_dir.join("start_spectrum.npy");
            crate::npy::write_npy(&path, &eval.spectra, &[eval.spectra.len()])?;
        }
        let (improved, stop) =
            optimizer
                .stopping
                .observe(&mut state.optimizer.stopping, step as u64, eval.losses[0]);
        if improved {
            state.best_u = flatten(&values);
        }
        if step == cfg.steps || stop.is_some() {
            stopped = stop;
            last_step = step;
            last = Some((eval, wall));
            break;
        }
        let u = flatten(&values);
        let grads = flatten(&eval.grads);
        let new_u = match &optimizer.method {
            Method::Chain(chain) => {
                let st =
                    state.optimizer.chain.as_mut().ok_or_else(|| {
                        anyhow!("checkpoint holds no first-order optimizer state")
                    })?;
                let updates = optim::GradientTransformation::update(
                    chain,
                    grads,
                    st,
                    &u,
                    Some(eval.losses[0]),
                );
                let mut new_u = u;
                optim::apply_updates(&mut new_u, &updates);
                new_u
            }
            Method::Lbfgs(l) => {
                let st = state
                    .optimizer
                    .lbfgs
                    .as_mut()
                    .ok_or_else(|| anyhow!("checkpoint holds no L-BFGS state"))?;
                let r = l.step(st, &u, eval.losses[0], &grads, |x| {
                    let e = evaluate(
                        &obj,
                        &FitParams::from_host(&unflatten(x, &values), &shapes, &device),
                    )?;
                    let v = if e.grads.iter().flatten().all(|g| g.is_finite()) {
                        e.losses[0]
                    } else {
                        f64::NAN
                    };
                    Ok::<_, anyhow::Error>((v, flatten(&e.grads), e))
                })?;
                pending = Some(r.extra);
                r.params
            }
        };
        values = unflatten(&new_u, &values);
        bar.set_position(step as u64 + 1);
        let done = step + 1;
        // Ctrl-C (or KeyboardInterrupt in Python): checkpoint these values, then stop.
        let interrupted = crate::interrupt::requested();
        if interrupted || done % cfg.checkpoint_every == 0 || done == cfg.steps {
            let meta = CheckpointMeta {
                step: done,
                experiment_hash: hash.clone(),
                config: config_json.clone(),
                params_bits: values
                    .iter()
                    .map(|v| v.iter().map(|x| x.to_bits()).collect())
                    .collect(),
                params: values.clone(),
                shapes: shapes.clone(),
                wall_time: wall0 + t0.elapsed().as_secs_f64(),
                noise_seed: setup.exp.integration.noise.seed,
                code_version: env!("CARGO_PKG_VERSION").to_string(),
                backend: setup.backend.name().to_string(),
                dtype: "f64".to_string(),
            };
            let bytes = serde_json::to_vec(&state)?;
            checkpoint::save(&ctx.out_dir, &meta, &bytes)?;
        }
        if interrupted {
            bar.finish_and_clear();
            return Err(crate::interrupt::Interrupted(format!(
                "the fit stopped after {done} of {} steps; the checkpoint at step {done} is in {} \
                 (continue with --resume)",
                cfg.steps,
                ctx.out_dir.display()
            ))
            .into());
        }
    }
    bar.finish_and_clear();
    let (last_eval, wall) = last.expect("the loop ends with the final evaluation");
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
            "stopped_early": stopped.map(|s| s.to_string()),
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
