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
use crate::network_setup::NetworkSetup;
use crate::objective::{Objective, Target, TargetFiles};
use crate::optimizer::{Method, OptState, Optimizer};
use crate::plot::{Series, line_plot};
use crate::progress::progress_bar;
use crate::run_dir::{FolderObserver, read_csv, write_json};
use crate::simulate::{load, write_resolved};
use crate::yaml::resolved_tree;
use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use fitting::family::{Family, Snapshot, StepReport};
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

/// The message of a diverging fit: the step and the parameter values, and where it came from
/// (`None` while the evaluation is finite).
fn non_finite(
    step: usize,
    names: &[String],
    eval: &Evaluation,
    setup: &NetworkSetup,
) -> Option<String> {
    let bad_loss = eval.losses.iter().any(|l| !l.is_finite());
    let bad_grad = eval.grads.iter().flatten().any(|g| !g.is_finite());
    if !(bad_loss || bad_grad) {
        return None;
    }
    let vals: Vec<String> = names
        .iter()
        .zip(eval.thetas.iter().flatten())
        .map(|(n, v)| format!("{n} = {v}"))
        .collect();
    Some(format!(
        "{}: the {} is not finite at step {step} (loss {:?}); parameters: {}. {}",
        setup.path.display(),
        if bad_loss { "loss" } else { "gradient" },
        eval.losses,
        vals.join(", "),
        diagnose(eval, setup, bad_loss)
    ))
}

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

/// A network fit behind the training driver's seam: the free parameters' unconstrained
/// values, the optimizer state and the best values so far.
struct JrFamily<'a> {
    setup: &'a NetworkSetup,
    obj: &'a Objective,
    optimizer: &'a Optimizer,
    device: Device,
    names: Vec<String>,
    header: Vec<String>,
    values: Vec<Vec<f64>>,
    shapes: Vec<[usize; 2]>,
    state: FitState,
    step: usize,
    steps: usize,
    /// The evaluation L-BFGS's line search already made at the new values.
    pending: Option<Evaluation>,
    /// The last row's evaluation and wall time.
    last: Option<(Evaluation, f64)>,
    stopped: Option<String>,
    wall0: f64,
    t0: Instant,
    out_dir: std::path::PathBuf,
}

impl JrFamily<'_> {
    fn wall(&self) -> f64 {
        self.wall0 + self.t0.elapsed().as_secs_f64()
    }
}

impl Family for JrFamily<'_> {
    fn columns(&self) -> Vec<String> {
        self.header.clone()
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    fn finished(&self) -> Option<String> {
        (self.step > self.steps).then(|| "steps".to_string())
    }

    fn step(&mut self) -> Result<StepReport> {
        let step = self.step;
        let eval = match self.pending.take() {
            Some(e) => e,
            None => evaluate(
                self.obj,
                &FitParams::from_host(&self.values, &self.shapes, &self.device),
            )?,
        };
        if let Some(detail) = non_finite(step, &self.names, &eval, self.setup) {
            return Ok(StepReport {
                step,
                row: Vec::new(),
                finite: false,
                stop: None,
                detail,
            });
        }
        let gnorm = eval
            .grads
            .iter()
            .flatten()
            .map(|g| g * g)
            .sum::<f64>()
            .sqrt();
        let wall = self.wall();
        let mut row = vec![eval.losses[0]];
        row.extend(eval.thetas.iter().flatten().copied());
        row.extend([gnorm, wall]);
        if step == 0 {
            // Kept on disk so that the start spectrum survives an interruption and a resume.
            let path = self.out_dir.join("start_spectrum.npy");
            crate::npy::write_npy(&path, &eval.spectra, &[eval.spectra.len()])?;
        }
        let (improved, stop) = self.optimizer.stopping.observe(
            &mut self.state.optimizer.stopping,
            step as u64,
            eval.losses[0],
        );
        if improved {
            self.state.best_u = flatten(&self.values);
        }
        if step == self.steps || stop.is_some() {
            self.stopped = stop.map(|s| s.to_string());
            let reason = self.stopped.clone().unwrap_or_else(|| "steps".to_string());
            self.last = Some((eval, wall));
            return Ok(StepReport {
                step,
                row,
                finite: true,
                stop: Some(reason),
                detail: String::new(),
            });
        }
        let u = flatten(&self.values);
        let grads = flatten(&eval.grads);
        let new_u = match &self.optimizer.method {
            Method::Chain(chain) => {
                let st =
                    self.state.optimizer.chain.as_mut().ok_or_else(|| {
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
                let st = self
                    .state
                    .optimizer
                    .lbfgs
                    .as_mut()
                    .ok_or_else(|| anyhow!("checkpoint holds no L-BFGS state"))?;
                let (obj, values, shapes, device) =
                    (self.obj, &self.values, &self.shapes, &self.device);
                let r = l.step(st, &u, eval.losses[0], &grads, |x| {
                    let e = evaluate(
                        obj,
                        &FitParams::from_host(&unflatten(x, values), shapes, device),
                    )?;
                    let v = if e.grads.iter().flatten().all(|g| g.is_finite()) {
                        e.losses[0]
                    } else {
                        f64::NAN
                    };
                    Ok::<_, anyhow::Error>((v, flatten(&e.grads), e))
                })?;
                self.pending = Some(r.extra);
                r.params
            }
        };
        self.values = unflatten(&new_u, &self.values);
        self.step += 1;
        Ok(StepReport {
            step,
            row,
            finite: true,
            stop: None,
            detail: String::new(),
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            step: self.step,
            params: self.values.clone(),
            shapes: self.shapes.clone(),
            state: serde_json::to_vec(&self.state)?,
            wall_time: self.wall(),
        })
    }

    fn restore(&mut self, s: &Snapshot) -> Result<()> {
        if s.shapes != self.shapes {
            bail!(
                "parameter shapes {:?}, this experiment has {:?}",
                s.shapes,
                self.shapes
            );
        }
        self.state = serde_json::from_slice(&s.state)?;
        self.values = s.params.clone();
        self.step = s.step;
        self.pending = None;
        self.wall0 = s.wall_time;
        self.t0 = Instant::now();
        Ok(())
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

    let resumed = checkpoint::latest(&ctx.out_dir)?;
    let (values, shapes) = initial_values(&setup, &obj)?;
    let flat = flatten(&values);
    let mut fam = JrFamily {
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
        out_dir: ctx.out_dir.clone(),
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
    let bar = progress_bar(cfg.steps as u64, ctx.quiet);
    bar.set_prefix(optimizer.name);
    bar.set_position(fam.step as u64);
    let writer = checkpoint::Writer {
        run: ctx.out_dir.clone(),
        hash: hash.clone(),
        config: config_json.clone(),
        seed: setup.exp.integration.noise.seed,
        backend: setup.backend.name().to_string(),
    };
    let mut observer = FolderObserver::open(
        writer,
        &traj_path,
        &header,
        fam.step_column(),
        resumed.as_ref(),
        bar.clone(),
    )?;
    let shown_names = names.clone();
    observer.message = Box::new(move |r| {
        let shown: Vec<String> = shown_names
            .iter()
            .zip(&r.row[1..])
            .take(4)
            .map(|(n, v)| format!("{n}={v:.5}"))
            .collect();
        format!("loss {:.5} {}", r.row[0], shown.join(" "))
    });
    let outcome = fitting::driver::run(
        &mut fam,
        &mut observer,
        fitting::driver::Settings {
            checkpoint_every: cfg.checkpoint_every,
        },
    )?;
    bar.finish_and_clear();
    outcome_error(&outcome, cfg.steps, &ctx.out_dir)?;
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
