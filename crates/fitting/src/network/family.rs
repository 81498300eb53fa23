//! The network family behind the training driver's seam ([`fitting::family::Family`]): the
//! free parameters' unconstrained values, one evaluation (loss and exact gradient through the
//! fused simulation), one optimizer step (a first-order chain or L-BFGS), early stopping and
//! the best values so far, with where a non-finite loss or gradient came from.

use crate::family::{Family, Snapshot, StepReport};
use crate::network::objective::Objective;
use crate::network::optimizer::{Method, OptState, Optimizer};
use crate::network::setup::NetworkSetup;
use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use solvers::network_kernel::NetworkProblem;
use std::time::Instant;

/// A hook called with the first evaluation of a fresh run.
pub type StartHook<'a> = Box<dyn FnMut(&Evaluation) -> Result<()> + 'a>;

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
pub fn non_finite(
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

/// Where a non-finite loss or gradient came from: the simulation (which variable, region and
/// step), the observed spectrum, or the loss formula, with the fields to look at.
pub fn diagnose(eval: &Evaluation, setup: &NetworkSetup, bad_loss: bool) -> String {
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
    match first_non_finite(&out.trace, &problem, &named) {
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

/// The free parameters' initial unconstrained values (`u = transform⁻¹(init)`) and shapes.
pub fn initial_values(setup: &NetworkSetup, obj: &Objective) -> Result<HostParams> {
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
pub struct FitState {
    /// Optimizer and early-stopping state.
    pub optimizer: OptState,
    /// Unconstrained values at the lowest loss so far (flattened).
    #[serde(with = "optim::bits::vec")]
    pub best_u: Vec<f64>,
}

/// All parameter values in one list (the optimizer's view).
pub fn flatten(values: &[Vec<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

/// Splits a flat list back into lists shaped like `like`.
pub fn unflatten(flat: &[f64], like: &[Vec<f64>]) -> Vec<Vec<f64>> {
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
pub struct NetworkFamily<'a> {
    /// The validated experiment.
    pub setup: &'a NetworkSetup,
    /// The loss pipeline.
    pub obj: &'a Objective,
    /// The optimizer chain (or L-BFGS) and early stopping.
    pub optimizer: &'a Optimizer,
    /// The burn device of the evaluations.
    pub device: Device,
    /// Trajectory column names of the free parameters.
    pub names: Vec<String>,
    /// All trajectory columns (step, loss, parameters, gradient norm, wall time).
    pub header: Vec<String>,
    /// Unconstrained values, one list per free parameter.
    pub values: Vec<Vec<f64>>,
    /// Their tensor shapes `[batch, m]`.
    pub shapes: Vec<[usize; 2]>,
    /// Optimizer state and the best values so far.
    pub state: FitState,
    /// Steps done.
    pub step: usize,
    /// Steps to run.
    pub steps: usize,
    /// The evaluation L-BFGS's line search already made at the new values.
    pub pending: Option<Evaluation>,
    /// The last row's evaluation and wall time.
    pub last: Option<(Evaluation, f64)>,
    /// Why early stopping ended the run, if it did.
    pub stopped: Option<String>,
    /// Wall-clock seconds of earlier runs (resumes).
    pub wall0: f64,
    /// Start of this run.
    pub t0: Instant,
    /// Called with the first evaluation of a fresh run (step 0), e.g. to keep its spectrum.
    pub on_start: Option<StartHook<'a>>,
}

impl NetworkFamily<'_> {
    fn wall(&self) -> f64 {
        self.wall0 + self.t0.elapsed().as_secs_f64()
    }
}

impl Family for NetworkFamily<'_> {
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
            // The caller keeps the start spectrum (the CLI writes it to the run folder, so that
            // it survives an interruption and a resume).
            if let Some(hook) = self.on_start.as_mut() {
                hook(&eval)?;
            }
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

/// Describes the first non-finite value of a `[samples, vars, n]` trace, if any.
pub fn first_non_finite(
    trace: &[f64],
    problem: &NetworkProblem,
    params: &[(String, f64)],
) -> Option<String> {
    // A branch-free pass first (it vectorises): the trace of a long run is millions of values
    // and almost always finite.
    const EXP: u64 = 0x7ff0_0000_0000_0000;
    if !trace
        .iter()
        .fold(false, |bad, v| bad | (v.to_bits() & EXP == EXP))
    {
        return None;
    }
    let k = trace.iter().position(|v| !v.is_finite())?;
    let per_sample = problem.monitor.variables.len() * problem.n;
    let sample = k / per_sample;
    let var = problem.monitor.variables[(k % per_sample) / problem.n];
    let node = k % problem.n;
    let step = problem.monitor.sample_step(sample);
    let p: Vec<String> = params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    Some(format!(
        "simulation diverged: {} of region {node} is {} at step {step} (t = {} ms); parameters: {}",
        problem.model.info().state[var].name,
        trace[k],
        step as f64 * problem.dt,
        p.join(", ")
    ))
}

/// The network objective at natural parameter values (θ, no bounds transform), for gradient
/// checks: one entry per trajectory column of the free parameters.
pub struct NetworkGradient<'a> {
    /// The loss pipeline (with the identity transforms).
    pub obj: &'a Objective,
    /// The experiment.
    pub setup: &'a NetworkSetup,
    /// The burn device.
    pub device: Device,
}

impl NetworkGradient<'_> {
    fn shaped(&self, flat: &[f64]) -> (Vec<Vec<f64>>, Vec<[usize; 2]>) {
        let like: Vec<Vec<f64>> = self.setup.free.iter().map(|f| f.init.clone()).collect();
        let values = unflatten(flat, &like);
        let shapes = values.iter().map(|v| [1, v.len()]).collect();
        (values, shapes)
    }
}

impl crate::gradcheck::Differentiable for NetworkGradient<'_> {
    fn parameter_names(&self) -> Vec<String> {
        column_names(self.setup)
    }

    fn parameters(&self) -> Vec<f64> {
        self.setup
            .free
            .iter()
            .flat_map(|f| f.init.clone())
            .collect()
    }

    fn loss_and_gradient(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (values, shapes) = self.shaped(params);
        let e = evaluate(
            self.obj,
            &FitParams::from_host(&values, &shapes, &self.device),
        )?;
        Ok((e.losses[0], flatten(&e.grads)))
    }
}
