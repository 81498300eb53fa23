//! Experiments of the `lowdim` crate: the single sigmoid population (seed 001), FitzHugh–Nagumo
//! and random rate networks (seed 002).
//!
//! Each run writes its numbers (`summary.json`, CSV tables) and PNG plots to the run folder:
//!
//! * `SigmoidPopulation`: fixed points with eigenvalues, `dr/dt` against `r`, trajectories from
//!   several initial rates, the fixed-point-count map over `(w, I_ext)` (checkpointed per `w`
//!   row), and optionally a run with OU input;
//! * `FitzHughNagumo`: fixed points and their classification, a phase plane with nullclines and
//!   trajectories, Hopf points along `I`, the limit-cycle period, and the seed's Adam workflow
//!   with its Newton polish;
//! * `RateNetwork`: the spectrum of `W` with the circle of radius `g`, linear and tanh
//!   simulations, the `J = G(x) W` check, and the largest Lyapunov exponent per realisation
//!   (checkpointed per realisation).

use crate::checkpoint;
use crate::context::RunContext;
use crate::npy::{read_npy, write_npy};
use crate::plot::{Series, heatmap, line_plot, scatter_plot};
use crate::progress::progress_bar;
use crate::run_dir::{CsvAppender, read_csv, write_json};
use crate::systems::Outputs;
use crate::yaml::resolved_tree;
use crate::yaml::{model_name, parse_experiment};
use anyhow::{Context, Result, anyhow, bail};
use backend::f64_device;
use burn::tensor::Device;
use fitting::family::{Family, Snapshot, StepReport};
use lowdim::{
    AdamOptions, AdamSearch, Drift, FhnForm, FitzHughNagumo, FixedPoint, LyapunovOptions,
    NewtonOptions, Nonlinearity, RateNetwork, SigmoidPopulation, Tableau, count_fixed_points_grid,
    eval_drift, find_fixed_points, grid_starts, hopf_points, jacobian_of, newton, nullclines,
    oscillation_period, ou_input, random_network_lyapunov, simulate, spectral_abscissa,
    tensor_from_rows, uniform_starts,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Model names this module runs (`model: {name: ...}` in the YAML).
pub const MODELS: &[&str] = &["SigmoidPopulation", "FitzHughNagumo", "RateNetwork"];

/// Checks an experiment for `fit validate`: parses it with its model's strict schema and
/// checks every value and the resource budget as `run` does first (nothing is computed).
pub fn validate(ctx: &RunContext) -> Result<()> {
    let file = ctx.exp_path.as_path();
    match model_name(&ctx.exp_path, &ctx.text)?.as_str() {
        "SigmoidPopulation" => check_population(file, &parse(ctx)?),
        "FitzHughNagumo" => check_fhn(file, &parse(ctx)?),
        "RateNetwork" => check_network(file, &parse(ctx)?),
        other => bail!(
            "{}: lowdim does not run model `{other}`",
            ctx.exp_path.display()
        ),
    }
}

/// Runs the experiment described by `ctx`.
pub fn run(ctx: &RunContext) -> Result<()> {
    let device = f64_device(ctx.backend, false);
    let file = ctx.exp_path.as_path();
    let in_file = |e: anyhow::Error| {
        let shown = file.display().to_string();
        if format!("{e:#}").contains(&shown) {
            e
        } else {
            e.context(shown)
        }
    };
    match model_name(&ctx.exp_path, &ctx.text)?.as_str() {
        "SigmoidPopulation" => {
            let exp = parse(ctx)?;
            check_population(file, &exp)?;
            run_population(ctx, &exp, &device).map_err(in_file)
        }
        "FitzHughNagumo" => {
            let exp = parse(ctx)?;
            check_fhn(file, &exp)?;
            run_fhn(ctx, &exp, &device).map_err(in_file)
        }
        "RateNetwork" => {
            let exp = parse(ctx)?;
            check_network(file, &exp)?;
            run_network(ctx, &exp, &device).map_err(in_file)
        }
        other => bail!(
            "{}: lowdim does not run model `{other}`",
            ctx.exp_path.display()
        ),
    }
}

fn parse<T: DeserializeOwned>(ctx: &RunContext) -> Result<T> {
    parse_experiment(&ctx.exp_path, &ctx.text, &ctx.overrides)
}

// ---------------------------------------------------------------- checks shared by validate and run

fn fe(file: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}: {e}", file.display())
}

/// Checks `integration:` for `batch` trajectories of `dim` states: finite positive dt and
/// duration, `every >= 1`, a known method, and the recorded trace within the budget.
fn check_integration(file: &Path, i: &Integration, dim: f64, batch: f64) -> Result<usize> {
    crate::budget::positive(file, "integration.dt", i.dt)?;
    crate::budget::positive(file, "integration.duration", i.duration)?;
    i.tableau().map_err(|e| fe(file, e))?;
    if i.every == 0 {
        bail!("{}: integration.every must be >= 1", file.display());
    }
    let steps = i.duration / i.dt;
    check_trace(
        file,
        "integration.duration / integration.dt",
        steps,
        i.every as f64,
        dim * batch,
    )?;
    i.steps().map_err(|e| fe(file, e))
}

/// A simulation of `steps` steps recording every `every`-th of `width` values.
fn check_trace(file: &Path, fields: &str, steps: f64, every: f64, width: f64) -> Result<()> {
    crate::budget::check_memory(
        file,
        &[(
            "the recorded trajectories",
            fields,
            (steps / every + 1.0) * (width + 1.0) * 8.0 * 3.0,
        )],
    )?;
    crate::budget::check_work(file, "the simulation", fields, steps * width)
}

/// A `{lo, hi, n}` range: finite bounds, `n >= 1`.
fn check_range(file: &Path, field: &str, r: &Range) -> Result<()> {
    crate::budget::finite(file, &format!("{field}.lo"), r.lo)?;
    crate::budget::finite(file, &format!("{field}.hi"), r.hi)?;
    if r.n == 0 {
        bail!("{}: {field}.n must be >= 1", file.display());
    }
    crate::budget::check_memory(
        file,
        &[("a range", &format!("{field}.n"), r.n as f64 * 8.0 * 64.0)],
    )
}

/// `fixed_points:` for a `dim`-dimensional system.
fn check_search(file: &Path, f: &FixedPointSearch, dim: usize) -> Result<()> {
    for (k, (lo, hi)) in f.lo.iter().zip(&f.hi).enumerate() {
        crate::budget::finite(file, &format!("fixed_points.lo[{k}]"), *lo)?;
        crate::budget::finite(file, &format!("fixed_points.hi[{k}]"), *hi)?;
    }
    crate::budget::positive(file, "fixed_points.tol", f.tol)?;
    let starts = (f.per_axis as f64).powi(dim as i32);
    crate::budget::check_memory(
        file,
        &[(
            "the Newton starts",
            "fixed_points.per_axis",
            starts * dim as f64 * 8.0 * 8.0,
        )],
    )?;
    f.starts(dim).map(|_| ()).map_err(|e| fe(file, e))
}

fn check_population(file: &Path, exp: &PopulationExperiment) -> Result<()> {
    let p = &exp.model.parameters;
    SigmoidPopulation::new(p.a, p.theta, p.w, p.i_ext, p.tau)
        .map_err(|e| fe(file, format!("model.parameters: {e}")))?;
    if exp.initial_states.is_empty() {
        bail!(
            "{}: initial_states is empty; give at least one initial rate",
            file.display()
        );
    }
    if let Some(k) = exp.initial_states.iter().position(|r| !r.is_finite()) {
        bail!(
            "{}: initial_states[{k}] = {} is not finite",
            file.display(),
            exp.initial_states[k]
        );
    }
    check_integration(file, &exp.integration, 1.0, exp.initial_states.len() as f64)?;
    check_search(file, &exp.fixed_points, 1)?;
    if let Some(ex) = &exp.exploration {
        check_range(file, "exploration.w", &ex.w)?;
        check_range(file, "exploration.I_ext", &ex.i_ext)?;
        let cells = ex.w.n as f64 * ex.i_ext.n as f64;
        crate::budget::check_memory(
            file,
            &[(
                "the fixed-point-count map",
                "exploration.w.n and exploration.I_ext.n",
                cells * 64.0,
            )],
        )?;
        crate::budget::check_work(
            file,
            "the fixed-point-count map",
            "exploration.w.n, exploration.I_ext.n and fixed_points.per_axis",
            cells * exp.fixed_points.per_axis as f64 * 100.0,
        )?;
    }
    if let Some(n) = &exp.noise {
        crate::budget::positive(file, "noise.duration", n.duration)?;
        crate::budget::positive(file, "noise.tau_ou", n.tau_ou)?;
        for (f, v) in [
            ("noise.I_ext", n.i_ext),
            ("noise.sigma", n.sigma),
            ("noise.r0", n.r0),
        ] {
            crate::budget::finite(file, f, v)?;
        }
        if n.sigma < 0.0 {
            bail!("{}: noise.sigma = {} must be >= 0", file.display(), n.sigma);
        }
        check_trace(
            file,
            "noise.duration / integration.dt",
            n.duration / exp.integration.dt,
            1.0,
            3.0,
        )?;
    }
    Ok(())
}

fn check_fhn(file: &Path, exp: &FhnExperiment) -> Result<()> {
    let p = &exp.model.parameters;
    let form = fhn_form(&exp.model.form).map_err(|e| fe(file, format!("model.form: {e}")))?;
    FitzHughNagumo::new(p.tau, p.a, p.b, p.i, form)
        .map_err(|e| fe(file, format!("model.parameters: {e}")))?;
    if exp.initial_states.is_empty() {
        bail!(
            "{}: initial_states is empty; give at least one [v, w]",
            file.display()
        );
    }
    if exp.initial_states.iter().flatten().any(|x| !x.is_finite()) {
        bail!("{}: initial_states must be finite", file.display());
    }
    check_integration(file, &exp.integration, 2.0, exp.initial_states.len() as f64)?;
    check_search(file, &exp.fixed_points, 2)?;
    let pp = &exp.phase_plane;
    for (f, r) in [("phase_plane.v", pp.v), ("phase_plane.w", pp.w)] {
        if !(r[0].is_finite() && r[1].is_finite() && r[0] < r[1]) {
            bail!(
                "{}: {f} = [{}, {}] must be finite with low < high",
                file.display(),
                r[0],
                r[1]
            );
        }
    }
    if pp.grid < 2 {
        bail!(
            "{}: phase_plane.grid = {} must be >= 2",
            file.display(),
            pp.grid
        );
    }
    crate::budget::check_memory(
        file,
        &[(
            "the nullcline grid",
            "phase_plane.grid",
            (pp.grid as f64).powi(2) * 8.0 * 8.0,
        )],
    )?;
    if let Some(c) = &exp.continuation {
        check_range(file, "continuation.I", &c.i)?;
        crate::budget::positive(file, "continuation.tol", c.tol)?;
    }
    if let Some(lc) = &exp.limit_cycle {
        crate::budget::positive(file, "limit_cycle.dt", lc.dt)?;
        crate::budget::positive(file, "limit_cycle.duration", lc.duration)?;
        crate::budget::finite(file, "limit_cycle.I", lc.i)?;
        check_trace(
            file,
            "limit_cycle.duration / limit_cycle.dt",
            lc.duration / lc.dt,
            1.0,
            2.0,
        )?;
    }
    if let Some(o) = &exp.optimization {
        fhn_form(&o.form).map_err(|e| fe(file, format!("optimization.form: {e}")))?;
        crate::budget::positive(file, "optimization.lr", o.lr)?;
        if o.runs == 0 || !(o.lo.is_finite() && o.hi.is_finite() && o.lo < o.hi) {
            bail!(
                "{}: optimization: need runs >= 1 (got {}) and finite lo < hi (got {} and {})",
                file.display(),
                o.runs,
                o.lo,
                o.hi
            );
        }
        check_trace(
            file,
            "optimization.runs and optimization.steps",
            o.steps as f64,
            1.0,
            o.runs as f64 * 2.0,
        )?;
    }
    Ok(())
}

fn check_network(file: &Path, exp: &NetworkExperiment) -> Result<()> {
    let m = &exp.model;
    let p = &m.parameters;
    Nonlinearity::parse(&m.nonlinearity).ok_or_else(|| {
        fe(
            file,
            format!(
                "model.nonlinearity `{}`: expected linear or tanh",
                m.nonlinearity
            ),
        )
    })?;
    crate::budget::finite(file, "model.parameters.g", p.g)?;
    crate::budget::finite(file, "model.parameters.mean", p.mean)?;
    let n = if let Some(w) = &m.weights {
        let path = file.parent().unwrap_or(Path::new(".")).join(w);
        let (v, shape) = read_npy(&path)
            .with_context(|| format!("model.weights: reading W from {}", path.display()))?;
        if shape.len() != 2 || shape[0] != shape[1] || shape[0] == 0 {
            bail!(
                "{}: model.weights: W must be a non-empty square matrix, got shape {shape:?}",
                path.display()
            );
        }
        if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            bail!(
                "{}: model.weights: W[{}, {}] = {} is not finite",
                path.display(),
                k / shape[0],
                k % shape[0],
                v[k]
            );
        }
        shape[0]
    } else {
        if p.n == 0 {
            bail!("{}: model.parameters.n must be >= 1", file.display());
        }
        p.n
    };
    let nf = n as f64;
    crate::budget::check_memory(
        file,
        &[(
            "W and its eigen-decomposition",
            "model.parameters.n",
            6.0 * nf * nf * 8.0,
        )],
    )?;
    check_integration(file, &exp.integration, nf, 2.0)?;
    if let Some(ly) = &exp.lyapunov {
        for (f, v) in [
            ("lyapunov.dt", ly.dt),
            ("lyapunov.duration", ly.duration),
            ("lyapunov.renorm_interval", ly.renorm_interval),
        ] {
            crate::budget::positive(file, f, v)?;
        }
        if !(ly.transient.is_finite() && ly.transient >= 0.0) {
            bail!(
                "{}: lyapunov.transient = {} must be a finite number >= 0",
                file.display(),
                ly.transient
            );
        }
        if ly.realizations == 0 {
            bail!("{}: lyapunov.realizations must be >= 1", file.display());
        }
        if m.weights.is_some() && ly.realizations > 1 {
            bail!(
                "{}: lyapunov.realizations > 1 needs random weights, not model.weights",
                file.display()
            );
        }
        crate::budget::check_work(
            file,
            "the Lyapunov exponents",
            "lyapunov.duration / lyapunov.dt, lyapunov.realizations and model.parameters.n",
            (ly.duration + ly.transient) / ly.dt * nf * nf * 2.0 * ly.realizations as f64,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- shared config sections

/// `integration:` — method, step, duration, recording stride.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Integration {
    /// `euler`, `heun` or `rk4`.
    method: String,
    /// Step size (model time unit).
    dt: f64,
    /// Simulated time.
    duration: f64,
    /// Record every `every`-th step.
    #[serde(default = "one")]
    every: usize,
}

fn one() -> usize {
    1
}

impl Integration {
    fn tableau(&self) -> Result<Tableau> {
        Tableau::parse(&self.method).ok_or_else(|| {
            anyhow!(
                "integration.method `{}`: expected one of euler, heun, rk4",
                self.method
            )
        })
    }

    fn steps(&self) -> Result<usize> {
        if !(self.dt > 0.0 && self.duration > 0.0) {
            bail!(
                "integration: dt and duration must be > 0 (got {} and {})",
                self.dt,
                self.duration
            );
        }
        Ok((self.duration / self.dt).round() as usize)
    }
}

/// `fixed_points:` — Newton starts on a regular grid over a box.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedPointSearch {
    /// Lower corner of the start box.
    lo: Vec<f64>,
    /// Upper corner.
    hi: Vec<f64>,
    /// Starts per axis.
    per_axis: usize,
    /// Residual tolerance `‖f‖₂`.
    #[serde(default = "default_tol")]
    tol: f64,
}

fn default_tol() -> f64 {
    NewtonOptions::default().tol
}

impl FixedPointSearch {
    fn starts(&self, dim: usize) -> Result<Vec<f64>> {
        if self.lo.len() != dim || self.hi.len() != dim || self.per_axis == 0 {
            bail!("fixed_points: lo and hi need {dim} entries and per_axis ≥ 1");
        }
        Ok(grid_starts(&self.lo, &self.hi, self.per_axis))
    }

    fn options(&self) -> NewtonOptions {
        NewtonOptions {
            tol: self.tol,
            ..NewtonOptions::default()
        }
    }
}

/// A 1-D range `{lo, hi, n}` (inclusive, `n` points).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Range {
    fn values(&self) -> Vec<f64> {
        match self.n {
            0 => Vec::new(),
            1 => vec![self.lo],
            n => (0..n)
                .map(|k| self.lo + (self.hi - self.lo) * k as f64 / (n - 1) as f64)
                .collect(),
        }
    }
}

fn fixed_points_json(fps: &[FixedPoint]) -> Value {
    Value::Array(
        fps.iter()
            .map(|f| {
                json!({
                    "x": f.x,
                    "residual": f.residual,
                    "hits": f.hits,
                    "stability": f.stability.name(),
                    "eigenvalues": f.eigenvalues.iter().map(|z| [z.re, z.im]).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// Resumable progress of a scan (the population map's rows, the Lyapunov realisations),
/// stored with the experiment hash and the SHA-256 of the progress's JSON, as the training
/// checkpoints carry theirs (a damaged file is never resumed from).
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint<T> {
    experiment_hash: String,
    #[serde(default)]
    progress_sha256: String,
    progress: T,
}

fn progress_sha256<T: Serialize>(progress: &T) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(progress)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn checkpoint_path(ctx: &RunContext) -> PathBuf {
    ctx.out_dir.join("checkpoint.json")
}

/// The progress saved in the run folder by an earlier run of the same experiment (re-running
/// into a folder continues it, as for the Jansen-Rit fits); a different experiment is refused.
fn load_progress<T: DeserializeOwned + Serialize>(ctx: &RunContext) -> Result<Option<T>> {
    let path = checkpoint_path(ctx);
    if !path.exists() {
        if ctx.resume {
            bail!("--resume: {} holds no checkpoint", ctx.out_dir.display());
        }
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let parsed: Result<Checkpoint<T>, _> = serde_json::from_str(&text);
    let damaged = match &parsed {
        Err(e) => Some(format!("it cannot be read ({e})")),
        Ok(cp) if cp.progress_sha256 != progress_sha256(&cp.progress)? => {
            Some("its checksum does not match its contents".to_string())
        }
        Ok(_) => None,
    };
    if let Some(why) = damaged {
        // Kept for inspection, never resumed from: the scan starts over.
        let aside = path.with_extension("json.damaged");
        std::fs::rename(&path, &aside)
            .with_context(|| format!("cannot move {} aside", path.display()))?;
        eprintln!(
            "{} is damaged ({why}); moved to {} and starting the scan over",
            path.display(),
            aside.display()
        );
        return Ok(None);
    }
    let cp = parsed.expect("checked above");
    if cp.experiment_hash != ctx.experiment_hash() {
        bail!(
            "{} was written by a different experiment (hash {}, this one {}): refusing to \
             continue it; use --out for a new run folder or --fresh to start this one over",
            path.display(),
            cp.experiment_hash,
            ctx.experiment_hash()
        );
    }
    Ok(Some(cp.progress))
}

fn save_progress<T: Serialize>(ctx: &RunContext, progress: &T) -> Result<()> {
    write_json(
        &checkpoint_path(ctx),
        &Checkpoint {
            experiment_hash: ctx.experiment_hash(),
            progress_sha256: progress_sha256(progress)?,
            progress,
        },
    )
}

fn out(ctx: &RunContext, name: &str) -> PathBuf {
    ctx.out_dir.join(name)
}

fn write_csv(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<f64>>) -> Result<()> {
    let mut csv = CsvAppender::create(path, header)?;
    for row in rows {
        csv.append(&row)?;
    }
    Ok(())
}

/// `trajectories.csv`: time, then every state of every trajectory.
fn write_trajectories(
    ctx: &RunContext,
    header: &[String],
    times: &[f64],
    states: &[Vec<f64>],
) -> Result<()> {
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows = times
        .iter()
        .zip(states)
        .map(|(t, s)| std::iter::once(*t).chain(s.iter().copied()).collect());
    write_csv(&out(ctx, "trajectories.csv"), &header, rows)
}

// ---------------------------------------------------------------- SigmoidPopulation

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationExperiment {
    /// `flex` or `ndarray` (read by the CLI into `RunContext::backend`).
    #[serde(default)]
    #[allow(dead_code)]
    backend: Option<String>,
    model: PopulationModel,
    integration: Integration,
    /// Initial rates of the simulated trajectories.
    initial_states: Vec<f64>,
    fixed_points: FixedPointSearch,
    /// Fixed-point-count map over `(w, I_ext)`.
    #[serde(default)]
    exploration: Option<PopulationExploration>,
    /// Optional run with OU input.
    #[serde(default)]
    noise: Option<OuNoise>,
    #[serde(default)]
    outputs: Outputs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationModel {
    /// Dispatch key (`SigmoidPopulation`), read by the CLI.
    #[allow(dead_code)]
    name: String,
    parameters: PopulationParameters,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationParameters {
    a: f64,
    theta: f64,
    w: f64,
    #[serde(rename = "I_ext")]
    i_ext: f64,
    tau: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationExploration {
    w: Range,
    #[serde(rename = "I_ext")]
    i_ext: Range,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OuNoise {
    /// Mean input during the noisy run (replaces `I_ext`).
    #[serde(rename = "I_ext")]
    i_ext: f64,
    tau_ou: f64,
    sigma: f64,
    duration: f64,
    seed: u64,
    /// Initial rate.
    r0: f64,
}

fn run_population(ctx: &RunContext, exp: &PopulationExperiment, device: &Device) -> Result<()> {
    let p = &exp.model.parameters;
    let model = SigmoidPopulation::new(p.a, p.theta, p.w, p.i_ext, p.tau)?;
    let method = exp.integration.tableau()?;
    let steps = exp.integration.steps()?;
    let fps = find_fixed_points(
        &model,
        &exp.fixed_points.starts(1)?,
        &exp.fixed_points.options(),
        device,
    )?;
    let traj = simulate(
        &model,
        &method,
        &exp.initial_states,
        exp.integration.dt,
        steps,
        exp.integration.every,
        device,
    )?;
    let mut header = vec!["t".to_string()];
    header.extend(exp.initial_states.iter().map(|r| format!("r0={r}")));
    write_trajectories(ctx, &header, &traj.times, &traj.states)?;
    let mut summary = json!({
        "model": "SigmoidPopulation",
        "parameters": {"a": p.a, "theta": p.theta, "w": p.w, "I_ext": p.i_ext, "tau": p.tau},
        "fixed_points": fixed_points_json(&fps),
        "analytic_eigenvalues": fps.iter().map(|f| model.analytic_eigenvalue(f.x[0])).collect::<Vec<_>>(),
    });
    if exp.outputs.plots {
        let rs: Vec<f64> = (0..=400).map(|k| -0.05 + 1.05 * k as f64 / 400.0).collect();
        let drdt = eval_drift(&model, 0.0, &rs, device);
        let fp_r: Vec<f64> = fps.iter().map(|f| f.x[0]).collect();
        line_plot(
            &out(ctx, "drdt.png"),
            &format!(
                "dr/dt, w = {}, I_ext = {} ({} fixed points)",
                p.w,
                p.i_ext,
                fps.len()
            ),
            "r",
            "dr/dt",
            &[
                Series::new("dr/dt", rs, drdt),
                Series::new("fixed points", fp_r.clone(), vec![0.0; fp_r.len()]),
            ],
            false,
        )?;
        let series: Vec<Series> = exp
            .initial_states
            .iter()
            .enumerate()
            .map(|(b, r0)| {
                Series::new(
                    format!("r0 = {r0}"),
                    traj.times.clone(),
                    traj.component(b, 0),
                )
            })
            .collect();
        line_plot(
            &out(ctx, "trajectories.png"),
            "Population rate",
            "t (ms)",
            "r(t)",
            &series,
            false,
        )?;
    }
    if let Some(ex) = &exp.exploration {
        let (ws, is) = (ex.w.values(), ex.i_ext.values());
        let map = population_map(ctx, &model, &ws, &is, &exp.fixed_points, device)?;
        let counts: Vec<f64> = map.iter().map(|&(c, _)| c as f64).collect();
        write_csv(
            &out(ctx, "bifurcation_map.csv"),
            &["w", "I_ext", "fixed_points", "stable"],
            (0..ws.len())
                .flat_map(|i| (0..is.len()).map(move |j| (i, j)))
                .map(|(i, j)| {
                    vec![
                        ws[i],
                        is[j],
                        map[i * is.len() + j].0 as f64,
                        map[i * is.len() + j].1 as f64,
                    ]
                }),
        )?;
        let mut histogram = serde_json::Map::new();
        for &(c, _) in &map {
            let entry = histogram.entry(c.to_string()).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + 1);
        }
        summary["bifurcation_map"] =
            json!({"w": ws, "I_ext": is, "points_with_k_fixed_points": histogram});
        if exp.outputs.plots {
            heatmap(
                &out(ctx, "bifurcation_map.png"),
                "Number of fixed points",
                "w",
                "I_ext",
                &ws,
                &is,
                &counts,
                "fixed points",
            )?;
        }
    }
    if let Some(noise) = &exp.noise {
        let n_steps = (noise.duration / exp.integration.dt).round() as usize;
        let input = ou_input(
            n_steps.max(1),
            exp.integration.dt,
            noise.tau_ou,
            noise.sigma,
            noise.seed,
        )?;
        let noisy = SigmoidPopulation {
            i_ext: noise.i_ext,
            ..model.clone()
        }
        .with_input(input)?;
        let tr = simulate(
            &noisy,
            &method,
            &[noise.r0],
            exp.integration.dt,
            n_steps,
            1,
            device,
        )?;
        let r = tr.component(0, 0);
        let high = fps.last().map_or(0.5, |f| f.x[0]);
        let low = fps.first().map_or(0.0, |f| f.x[0]);
        let b = lowdim::bistability(&r, low, high);
        summary["ou_run"] = json!({"steps": n_steps, "threshold": b.threshold,
            "crossings": b.crossings, "fraction_high": b.fraction_high});
        write_csv(
            &out(ctx, "ou_trajectory.csv"),
            &["t", "r"],
            tr.times.iter().zip(&r).map(|(t, x)| vec![*t, *x]),
        )?;
        if exp.outputs.plots {
            line_plot(
                &out(ctx, "ou_trajectory.png"),
                &format!("OU input, σ = {}, I_ext = {}", noise.sigma, noise.i_ext),
                "t (ms)",
                "r(t)",
                &[Series::new("", tr.times.clone(), r)],
                false,
            )?;
        }
    }
    write_json(&out(ctx, "summary.json"), &summary)?;
    if !ctx.quiet {
        println!(
            "{} fixed point(s) written to {}",
            fps.len(),
            ctx.out_dir.display()
        );
    }
    Ok(())
}

/// Counts per grid point, row by row in `w`, checkpointed after every row.
fn population_map(
    ctx: &RunContext,
    model: &SigmoidPopulation,
    ws: &[f64],
    is: &[f64],
    search: &FixedPointSearch,
    device: &Device,
) -> Result<Vec<(usize, usize)>> {
    let mut done: Vec<(usize, usize)> = load_progress(ctx)?.unwrap_or_default();
    if !done.len().is_multiple_of(is.len().max(1)) || done.len() > ws.len() * is.len() {
        bail!(
            "checkpoint holds {} map cells, not a whole number of rows",
            done.len()
        );
    }
    let starts = search.starts(1)?;
    let bar = progress_bar(ws.len() as u64, ctx.quiet);
    bar.set_position((done.len() / is.len().max(1)) as u64);
    for &w in &ws[done.len() / is.len().max(1)..] {
        let row = count_fixed_points_grid(
            &[w],
            is,
            |w, i| SigmoidPopulation {
                w,
                i_ext: i,
                ..model.clone()
            },
            &starts,
            &search.options(),
            device,
        )?;
        done.extend(row.counts.iter().zip(&row.stable).map(|(&c, &s)| (c, s)));
        save_progress(ctx, &done)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(done)
}

// ---------------------------------------------------------------- FitzHughNagumo

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FhnExperiment {
    /// `flex` or `ndarray` (read by the CLI into `RunContext::backend`).
    #[serde(default)]
    #[allow(dead_code)]
    backend: Option<String>,
    model: FhnModel,
    integration: Integration,
    /// Initial `(v, w)` of the phase-plane trajectories.
    initial_states: Vec<[f64; 2]>,
    fixed_points: FixedPointSearch,
    phase_plane: PhasePlane,
    #[serde(default)]
    continuation: Option<Continuation>,
    #[serde(default)]
    limit_cycle: Option<LimitCycle>,
    #[serde(default)]
    optimization: Option<AdamWorkflow>,
    #[serde(default)]
    outputs: Outputs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FhnModel {
    /// Dispatch key (`FitzHughNagumo`), read by the CLI.
    #[allow(dead_code)]
    name: String,
    /// `standard` or `seed_swapped`.
    #[serde(default = "standard")]
    form: String,
    parameters: FhnParameters,
}

fn standard() -> String {
    "standard".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FhnParameters {
    tau: f64,
    a: f64,
    b: f64,
    #[serde(rename = "I")]
    i: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhasePlane {
    v: [f64; 2],
    w: [f64; 2],
    /// Nullcline grid points per axis.
    grid: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Continuation {
    /// Input current values (increasing) followed from the fixed point found first.
    #[serde(rename = "I")]
    i: Range,
    /// Bisection tolerance on `I`.
    tol: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitCycle {
    #[serde(rename = "I")]
    i: f64,
    dt: f64,
    duration: f64,
    initial_state: [f64; 2],
}

/// The seed 002 Adam workflow (`optimization:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdamWorkflow {
    /// Model form the workflow runs on (the seed used `seed_swapped`).
    form: String,
    runs: usize,
    lr: f64,
    steps: usize,
    /// Starts uniform in `[lo, hi]²`.
    lo: f64,
    hi: f64,
    seed: u64,
    /// A checkpoint after every this many Adam steps and at the end (the driver's one
    /// meaning; must be >= 1).
    #[serde(default = "hundred")]
    checkpoint_every: usize,
}

fn hundred() -> usize {
    100
}

fn fhn_form(name: &str) -> Result<FhnForm> {
    FhnForm::parse(name)
        .ok_or_else(|| anyhow!("FitzHugh-Nagumo form `{name}`: expected standard or seed_swapped"))
}

fn run_fhn(ctx: &RunContext, exp: &FhnExperiment, device: &Device) -> Result<()> {
    let p = &exp.model.parameters;
    let model = FitzHughNagumo::new(p.tau, p.a, p.b, p.i, fhn_form(&exp.model.form)?)?;
    let method = exp.integration.tableau()?;
    let steps = exp.integration.steps()?;
    let search = &exp.fixed_points;
    let fps = find_fixed_points(&model, &search.starts(2)?, &search.options(), device)?;
    let x0: Vec<f64> = exp.initial_states.iter().flatten().copied().collect();
    let traj = simulate(
        &model,
        &method,
        &x0,
        exp.integration.dt,
        steps,
        exp.integration.every,
        device,
    )?;
    let mut header = vec!["t".to_string()];
    for k in 0..exp.initial_states.len() {
        header.push(format!("v{k}"));
        header.push(format!("w{k}"));
    }
    write_trajectories(ctx, &header, &traj.times, &traj.states)?;
    let mut summary = json!({
        "model": "FitzHughNagumo",
        "form": exp.model.form,
        "parameters": {"tau": p.tau, "a": p.a, "b": p.b, "I": p.i},
        "fixed_points": fixed_points_json(&fps),
    });
    if exp.outputs.plots {
        let pp = &exp.phase_plane;
        let [nv, nw] = nullclines(
            &model,
            (pp.v[0], pp.v[1]),
            (pp.w[0], pp.w[1]),
            pp.grid,
            device,
        )?;
        let unzip = |pts: &[(f64, f64)]| -> (Vec<f64>, Vec<f64>) { pts.iter().copied().unzip() };
        let (a, b) = unzip(&nv);
        let (c, d) = unzip(&nw);
        let mut series = vec![
            Series::new("dv/dt = 0", a, b),
            Series::new("dw/dt = 0", c, d),
        ];
        for k in 0..exp.initial_states.len() {
            series.push(Series::new(
                format!("trajectory {k}"),
                traj.component(k, 0),
                traj.component(k, 1),
            ));
        }
        series.push(Series::new(
            "fixed points",
            fps.iter().map(|f| f.x[0]).collect(),
            fps.iter().map(|f| f.x[1]).collect(),
        ));
        scatter_plot(
            &out(ctx, "phase_plane.png"),
            &format!("{} phase plane", model.name()),
            "v",
            "w",
            &series,
            None,
        )?;
        let mut traces = Vec::new();
        for k in 0..exp.initial_states.len() {
            traces.push(Series::new(
                format!("v{k}"),
                traj.times.clone(),
                traj.component(k, 0),
            ));
            traces.push(Series::new(
                format!("w{k}"),
                traj.times.clone(),
                traj.component(k, 1),
            ));
        }
        line_plot(
            &out(ctx, "traces.png"),
            "FitzHugh-Nagumo",
            "t",
            "v, w",
            &traces,
            false,
        )?;
    }
    if let Some(c) = &exp.continuation {
        let start = fps
            .first()
            .ok_or_else(|| anyhow!("continuation: no fixed point to start from"))?;
        let hopf = hopf_points(
            |i| model.with_input(i),
            &c.i.values(),
            &start.x,
            &search.options(),
            c.tol,
            device,
        )?;
        summary["hopf_points_I"] = json!(hopf);
    }
    if let Some(lc) = &exp.limit_cycle {
        let m = model.with_input(lc.i);
        let n = (lc.duration / lc.dt).round() as usize;
        let tr = simulate(&m, &method, &lc.initial_state, lc.dt, n, 1, device)?;
        let v = tr.component(0, 0);
        let period = oscillation_period(&tr.times, &v, 0.3);
        summary["limit_cycle"] = json!({"I": lc.i, "period": period.as_ref().ok(),
            "error": period.as_ref().err().map(|e| e.to_string())});
        if exp.outputs.plots {
            line_plot(
                &out(ctx, "limit_cycle.png"),
                &format!("I = {}", lc.i),
                "t",
                "v, w",
                &[
                    Series::new("v", tr.times.clone(), v),
                    Series::new("w", tr.times.clone(), tr.component(0, 1)),
                ],
                false,
            )?;
        }
    }
    if let Some(opt) = &exp.optimization {
        summary["adam_workflow"] = run_adam_workflow(ctx, &model, opt, exp.outputs.plots, device)?;
    }
    write_json(&out(ctx, "summary.json"), &summary)?;
    if !ctx.quiet {
        println!(
            "{} fixed point(s) written to {}",
            fps.len(),
            ctx.out_dir.display()
        );
    }
    Ok(())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The seed's Adam workflow behind the training driver: parameters are the states of all runs,
/// a row holds every run's loss at that step (before its update).
struct AdamFamily<'a> {
    search: AdamSearch<'a, FitzHughNagumo>,
    steps: usize,
}

/// Everything of an [`AdamFamily`] but the states (which are the snapshot's parameters).
#[derive(Serialize, Deserialize)]
struct AdamFamilyState {
    optimizer: optim::State,
}

impl Family for AdamFamily<'_> {
    fn columns(&self) -> Vec<String> {
        let runs = self.search.x().len() / 2;
        std::iter::once("step".to_string())
            .chain((0..runs).map(|r| format!("loss_{r}")))
            .collect()
    }

    fn steps_done(&self) -> usize {
        self.search.steps_done()
    }

    fn finished(&self) -> Option<String> {
        (self.search.steps_done() >= self.steps).then(|| "steps".to_string())
    }

    fn step(&mut self) -> Result<StepReport> {
        let step = self.search.steps_done();
        let (losses, finite) = self.search.step();
        let detail = if finite {
            String::new()
        } else {
            let bad: Vec<usize> = (0..losses.len())
                .filter(|&r| !losses[r].is_finite())
                .collect();
            format!(
                "the Adam workflow's loss or gradient is not finite at step {step} (runs \
                 {bad:?} of the loss, or their gradient; a smaller optimization.lr may help)"
            )
        };
        Ok(StepReport {
            step,
            row: losses,
            finite,
            stop: (finite && step + 1 >= self.steps).then(|| "steps".to_string()),
            detail,
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            step: self.search.steps_done(),
            params: vec![self.search.x().to_vec()],
            shapes: vec![[self.search.x().len() / 2, 2]],
            state: serde_json::to_vec(&AdamFamilyState {
                optimizer: self.search.state().clone(),
            })?,
            wall_time: 0.0,
        })
    }

    fn restore(&mut self, snap: &Snapshot) -> Result<()> {
        let state: AdamFamilyState =
            serde_json::from_slice(&snap.state).context("corrupt Adam-workflow checkpoint")?;
        let x = snap
            .params
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("corrupt Adam-workflow checkpoint: no states"))?;
        self.search.restore(x, state.optimizer, snap.step)?;
        Ok(())
    }
}

/// `fit gradcheck` on a FitzHugh-Nagumo experiment with the Adam workflow: the gradient of
/// the summed per-run loss `Σ_r mean_i f_i(x_r)²` at the starts, against central differences.
pub fn gradcheck(ctx: &RunContext) -> Result<fitting::gradcheck::Report> {
    let model = model_name(&ctx.exp_path, &ctx.text)?;
    if model != "FitzHughNagumo" {
        bail!(
            "{}: model `{model}` has no loss to check (`fit gradcheck` here is for the \
             FitzHugh-Nagumo Adam workflow, the network models and the AI-state rate networks)",
            ctx.exp_path.display()
        );
    }
    let exp: FhnExperiment = parse(ctx)?;
    let Some(opt) = &exp.optimization else {
        bail!(
            "{}: gradcheck: the experiment has no `optimization` section (the Adam workflow), \
             so there is no loss to check",
            ctx.exp_path.display()
        );
    };
    let p = &exp.model.parameters;
    let base = FitzHughNagumo::new(p.tau, p.a, p.b, p.i, fhn_form(&exp.model.form)?)?;
    let model = FitzHughNagumo {
        form: fhn_form(&opt.form)?,
        ..base
    };
    let starts = uniform_starts(&[opt.lo; 2], &[opt.hi; 2], opt.runs, opt.seed);
    let device = f64_device(ctx.backend, false);
    let adam = AdamOptions {
        lr: opt.lr,
        steps: opt.steps,
        ..AdamOptions::default()
    };
    let search = AdamSearch::new(&model, &starts, &adam, &device)?;
    fitting::gradcheck::check(&mut AdamGradient { search: &search }, 1e-6)
}

/// The Adam workflow's summed loss over the states of all runs.
struct AdamGradient<'a, 'm> {
    search: &'a AdamSearch<'m, FitzHughNagumo>,
}

impl fitting::gradcheck::Differentiable for AdamGradient<'_, '_> {
    fn parameter_names(&self) -> Vec<String> {
        (0..self.search.x().len())
            .map(|k| format!("run {} {}", k / 2, ["v", "w"][k % 2]))
            .collect()
    }

    fn parameters(&self) -> Vec<f64> {
        self.search.x().to_vec()
    }

    fn loss_and_gradient(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (losses, grad) = self.search.loss_and_gradient(params);
        Ok((losses.iter().sum(), grad))
    }
}

fn run_adam_workflow(
    ctx: &RunContext,
    base: &FitzHughNagumo,
    opt: &AdamWorkflow,
    plots: bool,
    device: &Device,
) -> Result<Value> {
    if opt.runs == 0 || opt.lo >= opt.hi {
        bail!("optimization: need runs ≥ 1 and lo < hi");
    }
    let model = FitzHughNagumo {
        form: fhn_form(&opt.form)?,
        ..*base
    };
    let starts = uniform_starts(&[opt.lo; 2], &[opt.hi; 2], opt.runs, opt.seed);
    let adam = AdamOptions {
        lr: opt.lr,
        steps: opt.steps,
        ..AdamOptions::default()
    };
    // The search runs on the one training driver: checkpoints in `checkpoints/`, the loss of
    // every run per step in `adam_trajectory.csv`, resumable after a kill or Ctrl-C.
    let out_dir = &ctx.out_dir;
    let hash = ctx.experiment_hash();
    let config = serde_json::to_value(resolved_tree(&ctx.exp_path, &ctx.text, &ctx.overrides)?)?;
    let resumed = crate::run_dir::resume_point(ctx)?;
    let mut fam = AdamFamily {
        search: AdamSearch::new(&model, &starts, &adam, device)?,
        steps: opt.steps,
    };
    if let Some(c) = &resumed {
        checkpoint::check_same_experiment(&c.meta, &hash, &config, out_dir)?;
        fam.restore(&checkpoint::snapshot_of(c))?;
    }
    let traj_path = out(ctx, "adam_trajectory.csv");
    crate::run_dir::drive(
        ctx,
        &mut fam,
        resumed.as_ref(),
        hash,
        config,
        crate::run_dir::DriveSpec {
            trajectory: &traj_path,
            prefix: "adam",
            total: opt.steps,
            seed: opt.seed,
            backend: ctx.backend.name().to_string(),
            checkpoint_every: opt.checkpoint_every,
            message: None,
        },
    )?;
    let adam_x = fam.search.x().to_vec();
    // The loss history is the trajectory file (it holds the rows of earlier runs on resume).
    let (_, rows) = read_csv(&traj_path)?;
    let history: Vec<f64> = rows.iter().flat_map(|r| r[1..].iter().copied()).collect();
    let final_loss = match rows.last() {
        Some(r) => r[1..].to_vec(),
        None => vec![f64::NAN; opt.runs],
    };
    let polished = newton(&model, &adam_x, &NewtonOptions::default(), device)?;
    let res = lowdim::AdamOutcome {
        adam_x,
        final_loss,
        loss_history: history,
        polished,
    };
    write_csv(
        &out(ctx, "adam_runs.csv"),
        &[
            "run",
            "v0",
            "w0",
            "adam_v",
            "adam_w",
            "adam_loss",
            "newton_v",
            "newton_w",
            "newton_residual",
            "newton_iterations",
        ],
        (0..opt.runs).map(|k| {
            let r = &res.polished[k];
            vec![
                k as f64,
                starts[2 * k],
                starts[2 * k + 1],
                res.adam_x[2 * k],
                res.adam_x[2 * k + 1],
                res.final_loss[k],
                r.x[0],
                r.x[1],
                r.residual,
                r.iterations as f64,
            ]
        }),
    )?;
    let mut losses = res.final_loss.clone();
    losses.sort_by(f64::total_cmp);
    let polished = res.polished.iter().filter(|r| r.residual < 1e-12).count();
    if plots {
        let steps: Vec<f64> = (0..opt.steps).map(|s| s as f64).collect();
        let series: Vec<Series> = (0..opt.runs.min(10))
            .map(|r| {
                Series::new(
                    format!("run {r}"),
                    steps.clone(),
                    (0..opt.steps)
                        .map(|s| res.loss_history[s * opt.runs + r])
                        .collect(),
                )
            })
            .collect();
        line_plot(
            &out(ctx, "adam_losses.png"),
            "Adam on the mean squared vector field",
            "step",
            "loss",
            &series,
            true,
        )?;
    }
    Ok(json!({
        "form": opt.form, "runs": opt.runs, "lr": opt.lr, "steps": opt.steps,
        "adam_final_loss": {"min": losses[0], "q25": quantile(&losses, 0.25), "median": quantile(&losses, 0.5),
            "q75": quantile(&losses, 0.75), "max": losses[losses.len() - 1],
            "below_1e-8": losses.iter().filter(|&&l| l < 1e-8).count()},
        "newton_polish_below_1e-12": polished,
    }))
}

// ---------------------------------------------------------------- RateNetwork

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkExperiment {
    /// `flex` or `ndarray` (read by the CLI into `RunContext::backend`).
    #[serde(default)]
    #[allow(dead_code)]
    backend: Option<String>,
    model: NetworkModel,
    integration: Integration,
    /// Seed of the initial state `x0 ~ N(0, 1)` per unit (as the seed notebook).
    seed: u64,
    /// Units plotted in the traces.
    #[serde(default = "ten")]
    plot_units: usize,
    #[serde(default)]
    lyapunov: Option<LyapunovSection>,
    /// Size `m` of the `r = tanh(W x)` Jacobian check (`0` skips it).
    #[serde(default)]
    jacobian_check_rows: usize,
    #[serde(default)]
    outputs: Outputs,
}

fn ten() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkModel {
    /// Dispatch key (`RateNetwork`), read by the CLI.
    #[allow(dead_code)]
    name: String,
    /// `linear` or `tanh`.
    nonlinearity: String,
    parameters: NetworkParameters,
    /// Optional `.npy` file with `W` (`N × N`, relative to the experiment file); else random.
    #[serde(default)]
    weights: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkParameters {
    n: usize,
    g: f64,
    mean: f64,
    /// Seed of `W`.
    seed: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LyapunovSection {
    /// Number of weight realisations (seeds `seed`, `seed + 1`, …).
    realizations: usize,
    dt: f64,
    transient: f64,
    duration: f64,
    renorm_interval: f64,
}

fn run_network(ctx: &RunContext, exp: &NetworkExperiment, device: &Device) -> Result<()> {
    let m = &exp.model;
    let p = &m.parameters;
    let nl = Nonlinearity::parse(&m.nonlinearity).ok_or_else(|| {
        anyhow!(
            "model.nonlinearity `{}`: expected linear or tanh",
            m.nonlinearity
        )
    })?;
    let net = match &m.weights {
        Some(file) => {
            let path = ctx.exp_path.parent().unwrap_or(Path::new(".")).join(file);
            let (w, shape) =
                read_npy(&path).with_context(|| format!("reading W from {}", path.display()))?;
            if shape.len() != 2 || shape[0] != shape[1] {
                bail!(
                    "{}: W must be a square matrix, got shape {shape:?}",
                    path.display()
                );
            }
            RateNetwork::from_matrix(w, shape[0], nl)?
        }
        None => RateNetwork::random(p.n, p.mean, p.g, p.seed, nl)?,
    };
    let n = net.n();
    write_npy(&out(ctx, "W.npy"), net.weights(), &[n, n])?;
    let eig_w: Vec<(f64, f64)> = net
        .eigenvalues_shifted()?
        .iter()
        .map(|z| (z.re + 1.0, z.im))
        .collect();
    let radius = eig_w.iter().map(|(a, b)| a.hypot(*b)).fold(0.0, f64::max);
    let abscissa = spectral_abscissa(&net.eigenvalues_shifted()?);
    write_csv(
        &out(ctx, "eigenvalues.csv"),
        &["re_W", "im_W", "re_W_minus_I", "im_W_minus_I"],
        eig_w.iter().map(|&(a, b)| vec![a, b, a - 1.0, b]),
    )?;
    // Initial state x0 ~ N(0, 1), as the seed's np.random.normal(size=N).
    let x0 = {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(exp.seed);
        (0..n)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect::<Vec<f64>>()
    };
    let method = exp.integration.tableau()?;
    let steps = exp.integration.steps()?;
    let mut summary = json!({
        "model": "RateNetwork", "n": n, "g": p.g, "mean": p.mean, "nonlinearity": m.nonlinearity,
        "spectral_radius_W": radius, "max_re_eig_W_minus_I": abscissa,
    });
    let shown = exp.plot_units.min(n);
    for (label, variant) in [
        ("linear", Nonlinearity::Linear),
        ("tanh", Nonlinearity::Tanh),
    ] {
        let model = net.with_nonlinearity(variant);
        let tr = simulate(
            &model,
            &method,
            &x0,
            exp.integration.dt,
            steps,
            exp.integration.every,
            device,
        )?;
        let mut header = vec!["t".to_string()];
        header.extend((0..shown).map(|i| format!("x{i}")));
        let header_ref: Vec<&str> = header.iter().map(String::as_str).collect();
        write_csv(
            &out(ctx, &format!("traces_{label}.csv")),
            &header_ref,
            tr.times.iter().zip(&tr.states).map(|(t, s)| {
                std::iter::once(*t)
                    .chain(s[..shown].iter().copied())
                    .collect()
            }),
        )?;
        let final_norm = tr.last().iter().map(|x| x * x).sum::<f64>().sqrt();
        summary[format!("final_norm_{label}")] = json!(final_norm);
        if exp.outputs.plots {
            let series: Vec<Series> = (0..shown)
                .map(|i| Series::new(format!("x{i}"), tr.times.clone(), tr.component(0, i)))
                .collect();
            line_plot(
                &out(ctx, &format!("traces_{label}.png")),
                &format!("{label} network, g = {}, N = {n}", p.g),
                "t",
                "x_i(t)",
                &series,
                false,
            )?;
        }
    }
    if exp.outputs.plots {
        scatter_plot(
            &out(ctx, "spectrum.png"),
            &format!("eigenvalues of W (N = {n}); circle of radius g = {}", p.g),
            "Re λ",
            "Im λ",
            &[Series::new(
                "λ(W)",
                eig_w.iter().map(|e| e.0).collect(),
                eig_w.iter().map(|e| e.1).collect(),
            )],
            Some(p.g),
        )?;
    }
    if exp.jacobian_check_rows > 0 {
        let rows = exp.jacobian_check_rows.min(n);
        let w = &net.weights()[..rows * n];
        let mut w_t = vec![0.0; n * rows];
        for i in 0..rows {
            for k in 0..n {
                w_t[k * rows + i] = w[i * n + k];
            }
        }
        let wt = tensor_from_rows(&w_t, n, rows, device);
        let auto = jacobian_of(|s| s.matmul(wt.clone()).tanh(), &x0, n, rows, device);
        let exact = lowdim::jacobian::feedforward_tanh_jacobian(w, rows, n, &x0);
        let err = auto
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        summary["jacobian_check"] =
            json!({"rows": rows, "cols": n, "max_abs_error_autodiff_vs_GW": err});
    }
    if let Some(ly) = &exp.lyapunov {
        summary["lyapunov"] = run_lyapunov(ctx, exp, ly, &x0, nl, device)?;
    }
    write_json(&out(ctx, "summary.json"), &summary)?;
    if !ctx.quiet {
        println!(
            "spectral radius {radius:.4} (g = {}); results in {}",
            p.g,
            ctx.out_dir.display()
        );
    }
    Ok(())
}

fn run_lyapunov(
    ctx: &RunContext,
    exp: &NetworkExperiment,
    ly: &LyapunovSection,
    x0: &[f64],
    nl: Nonlinearity,
    device: &Device,
) -> Result<Value> {
    if exp.model.weights.is_some() && ly.realizations > 1 {
        bail!("lyapunov.realizations > 1 needs random weights, not model.weights");
    }
    let p = &exp.model.parameters;
    let opts = LyapunovOptions {
        dt: ly.dt,
        transient: ly.transient,
        duration: ly.duration,
        renorm_interval: ly.renorm_interval,
        method: exp.integration.tableau()?,
        seed: exp.seed,
    };
    let mut done: Vec<[f64; 3]> = load_progress(ctx)?.unwrap_or_default();
    let bar = progress_bar(ly.realizations as u64, ctx.quiet);
    bar.set_position(done.len() as u64);
    let mut last_running = None;
    for r in done.len()..ly.realizations {
        let one =
            random_network_lyapunov(p.n, p.mean, p.g, p.seed + r as u64, nl, x0, &opts, device)?;
        done.push([one.weight_seed as f64, one.lambda_max, one.abscissa]);
        last_running = Some((one.estimate.times, one.estimate.running));
        save_progress(ctx, &done)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_csv(
        &out(ctx, "lyapunov.csv"),
        &["weight_seed", "lambda_max", "max_re_eig_W_minus_I"],
        done.iter().map(|r| r.to_vec()),
    )?;
    if let (Some((t, run)), true) = (last_running, exp.outputs.plots) {
        line_plot(
            &out(ctx, "lyapunov_running.png"),
            "Running Benettin estimate (last realisation)",
            "t",
            "λ_max estimate",
            &[Series::new("", t, run)],
            false,
        )?;
    }
    let mean = done.iter().map(|r| r[1]).sum::<f64>() / done.len().max(1) as f64;
    Ok(
        json!({"realizations": done.len(), "lambda_max": done.iter().map(|r| r[1]).collect::<Vec<_>>(),
        "mean_lambda_max": mean, "minus_one_plus_max_re_eig_W": done.iter().map(|r| r[2]).collect::<Vec<_>>()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_methods() {
        assert_eq!(
            Range {
                lo: 1.0,
                hi: 7.0,
                n: 61
            }
            .values()
            .len(),
            61
        );
        assert!(
            (Range {
                lo: 1.0,
                hi: 7.0,
                n: 61
            }
            .values()[60]
                - 7.0)
                .abs()
                < 1e-15
        );
        let bad = Integration {
            method: "rk5".into(),
            dt: 0.1,
            duration: 1.0,
            every: 1,
        };
        assert!(
            bad.tableau()
                .unwrap_err()
                .to_string()
                .contains("euler, heun, rk4")
        );
        let drift = SigmoidPopulation::default();
        assert_eq!(drift.dim(), 1);
    }
}
