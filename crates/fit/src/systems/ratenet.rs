//! Experiments of the `ratenet` crate: AI-state LIF rate networks (seed 000), fitted through
//! their fixed point with implicit gradients.
//!
//! ```yaml
//! model:
//!   name: AiRateNetwork
//!   parameters: {N: 20, tau: [0.01, 0.01], T: [0.01, 0.005], h: 1500, xi2: 900,
//!                V_th: 20, V_reset: 0, tau_ref: 0,
//!                J: [[1, 1], [1, 1]], P: [[1, 1], [1, 1]], w: [[1, 1], [1, 1]]}
//! network:
//!   connectivity: {kind: explicit, matrix: [[...]]}   # or csv/npy {path}, bernoulli {seed},
//!                                                     # mean_field
//! integration: {r_init: 1.0, newton: {tol: 1.0e-12, max_iter: 50, warmup_steps: 100}}
//! optimization: {lr: 0.03, epsilon: 1.0e-8, steps: 150, fit: [J],
//!                targets: {mean_E: 5, mean_I: 10}, stop_within: 0.01, checkpoint_every: 10,
//!                error: relative}                   # or absolute (rate errors in Hz)
//! outputs: {plots: true}
//! ```
//!
//! J entries are magnitudes (signs fixed by the presynaptic type, rows = postsynaptic E, I).
//! The run folder gets `trajectory.csv` (step, loss, grad norm, mean rates, residual, θ),
//! `final.json` (fitted parameters, rates, stability), `rates.npy`, `checkpoints/` and plots.

use crate::checkpoint;
use crate::context::RunContext;
use crate::npy::{read_npy, write_npy};
use crate::plot::{Series, line_plot, scatter_plot};
use crate::run_dir::{read_csv, write_json};
use crate::systems::Outputs;
use crate::yaml::{parse_experiment, resolved_tree};
use anyhow::{Context, Result, bail};
use fitting::family::{Family, Snapshot, StepColumn, StepReport};
use ratenet::network::{
    Connectivity, N_THETA, NetworkSpec, RateNetwork, THETA_NAMES, sample_connectivity, theta_from,
};
use ratenet::{FitSettings, FitSnapshot, LifConstants, NewtonConfig, RateFit, Targets};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Model names this module runs (`model: {name: ...}` in the YAML).
pub const MODELS: &[&str] = &["AiRateNetwork"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Experiment {
    model: Model,
    network: NetworkSection,
    #[serde(default)]
    integration: Integration,
    optimization: Optimization,
    #[serde(default)]
    outputs: Outputs,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    description: Option<String>,
    /// burn backend (`flex` or `ndarray`), read by the CLI.
    #[serde(default)]
    backend: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    name: String,
    parameters: Parameters,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct Parameters {
    N: usize,
    tau: [f64; 2],
    T: [f64; 2],
    h: f64,
    xi2: f64,
    #[serde(default = "default_vth")]
    V_th: f64,
    #[serde(default)]
    V_reset: f64,
    #[serde(default)]
    tau_ref: f64,
    J: [[f64; 2]; 2],
    #[serde(default = "ones")]
    P: [[f64; 2]; 2],
    #[serde(default = "ones")]
    w: [[f64; 2]; 2],
}

fn default_vth() -> f64 {
    20.0
}
fn ones() -> [[f64; 2]; 2] {
    [[1.0; 2]; 2]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    connectivity: ConnectivitySpec,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ConnectivitySpec {
    /// Inline N×N matrix (rows = postsynaptic).
    Explicit { matrix: Vec<Vec<f64>> },
    /// Comma-separated file, path relative to the experiment file.
    Csv { path: PathBuf },
    /// `.npy` file `[N, N]`, path relative to the experiment file.
    Npy { path: PathBuf },
    /// Bernoulli(P·footprint) sample from the experiment seed (or `seed`).
    Bernoulli {
        #[serde(default)]
        seed: Option<u64>,
    },
    /// Mean field E[C] (P and w can be fitted).
    MeanField,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Integration {
    #[serde(default = "one")]
    r_init: f64,
    #[serde(default)]
    newton: NewtonSection,
}

impl Default for Integration {
    fn default() -> Self {
        Self {
            r_init: 1.0,
            newton: NewtonSection::default(),
        }
    }
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewtonSection {
    #[serde(default = "tol")]
    tol: f64,
    #[serde(default = "max_iter")]
    max_iter: usize,
    #[serde(default = "warmup")]
    warmup_steps: usize,
}

impl Default for NewtonSection {
    fn default() -> Self {
        Self {
            tol: tol(),
            max_iter: max_iter(),
            warmup_steps: warmup(),
        }
    }
}
fn tol() -> f64 {
    1e-12
}
fn max_iter() -> usize {
    50
}
fn warmup() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Optimization {
    #[serde(default = "adam")]
    optimizer: String,
    lr: f64,
    #[serde(default = "eps")]
    epsilon: f64,
    steps: usize,
    fit: Vec<String>,
    targets: TargetSection,
    #[serde(default)]
    stop_within: Option<f64>,
    #[serde(default = "every")]
    checkpoint_every: usize,
    /// Rate errors in the loss: `relative` (default) or `absolute` (Hz).
    #[serde(default)]
    error: ErrorCfg,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ErrorCfg {
    #[default]
    Relative,
    Absolute,
}
fn adam() -> String {
    "adam".into()
}
fn eps() -> f64 {
    1e-8
}
fn every() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct TargetSection {
    #[serde(default)]
    mean_E: Option<f64>,
    #[serde(default)]
    mean_I: Option<f64>,
    #[serde(default)]
    per_neuron: Option<Vec<f64>>,
}

#[derive(Debug, Serialize)]
struct FinalReport {
    model: &'static str,
    steps: usize,
    reached_targets: Option<bool>,
    loss: f64,
    theta: serde_json::Map<String, serde_json::Value>,
    j_signed: [[f64; 2]; 2],
    #[serde(rename = "mean_rate_E")]
    mean_rate_e: f64,
    #[serde(rename = "mean_rate_I")]
    mean_rate_i: f64,
    residual: f64,
    stable: bool,
    spectral_abscissa: f64,
    wall_time_s: f64,
}

/// Serialized exact fit state (stored as the checkpoint's optimizer payload).
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBits {
    step: usize,
    raw: Vec<u64>,
    adam_time: usize,
    moment_1: Vec<u64>,
    moment_2: Vec<u64>,
    r_warm: Vec<u64>,
    /// Bits of the loss of the last row (so that a resumed finished run reports it).
    #[serde(default)]
    last_loss: Option<u64>,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}
fn unbits(v: &[u64]) -> Vec<f64> {
    v.iter().map(|b| f64::from_bits(*b)).collect()
}

fn flat(m: [[f64; 2]; 2]) -> [f64; 4] {
    [m[0][0], m[0][1], m[1][0], m[1][1]]
}

fn load_matrix(ctx: &RunContext, spec: &ConnectivitySpec, n: usize) -> Result<Option<Vec<f64>>> {
    let base = ctx.exp_path.parent().unwrap_or(Path::new("."));
    let m = match spec {
        ConnectivitySpec::Explicit { matrix } => {
            if matrix.len() != n || matrix.iter().any(|r| r.len() != n) {
                bail!(
                    "{}: connectivity.matrix must be {n}×{n}",
                    ctx.exp_path.display()
                );
            }
            matrix.iter().flatten().copied().collect()
        }
        ConnectivitySpec::Csv { path } => {
            let p = base.join(path);
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let v: Result<Vec<f64>, _> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .flat_map(|l| l.split(',').map(|x| x.trim().parse::<f64>()))
                .collect();
            let v = v.with_context(|| format!("{}: not a numeric CSV", p.display()))?;
            if v.len() != n * n {
                bail!("{}: {} entries, expected {n}×{n}", p.display(), v.len());
            }
            v
        }
        ConnectivitySpec::Npy { path } => {
            let p = base.join(path);
            let (v, shape) = read_npy(&p)?;
            if shape != [n, n] {
                bail!("{}: shape {shape:?}, expected [{n}, {n}]", p.display());
            }
            v
        }
        ConnectivitySpec::Bernoulli { .. } | ConnectivitySpec::MeanField => return Ok(None),
    };
    Ok(Some(m))
}

/// Parses the experiment and checks what can be checked without running it.
fn checked(ctx: &RunContext) -> Result<Experiment> {
    let exp: Experiment = parse_experiment(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
    let _ = (&exp.description, &exp.backend);
    if !MODELS.contains(&exp.model.name.as_str()) {
        bail!(
            "{}: model.name `{}` is not run by ratenet",
            ctx.exp_path.display(),
            exp.model.name
        );
    }
    if exp.optimization.optimizer != "adam" {
        bail!(
            "{}: optimization.optimizer must be `adam`",
            ctx.exp_path.display()
        );
    }
    let p = &exp.model.parameters;
    LifConstants::new(p.V_th, p.V_reset, p.tau_ref)?;
    Ok(exp)
}

/// Checks an experiment for `fit validate`: everything `run` builds before its first solve.
pub fn validate(ctx: &RunContext) -> Result<()> {
    prepare(ctx).map(|_| ())
}

/// Runs the experiment described by `ctx`.
pub fn run(ctx: &RunContext) -> Result<()> {
    let (exp, net, mut fit) = prepare(ctx)?;
    let p = &exp.model.parameters;
    run_prepared(ctx, &exp, p, net, &mut fit)
}

/// Parses and checks the experiment, loads the connectivity and builds the fit at step 0
/// (no solve runs); every error names the file.
/// `fit gradcheck` on an AI-state rate network: the implicit gradient of the rate loss wrt
/// the free raw (unconstrained) θ entries at the start point, against central differences.
pub fn gradcheck(ctx: &RunContext) -> Result<fitting::gradcheck::Report> {
    let (_, _, fit) = prepare(ctx)?;
    let free: Vec<usize> = (0..N_THETA).filter(|&k| fit.settings.mask[k]).collect();
    if free.is_empty() {
        bail!(
            "{}: gradcheck: no θ entry is free (optimization.mask), so there is no gradient to \
             check",
            ctx.exp_path.display()
        );
    }
    let mut g = RateGradient { fit: &fit, free };
    // A larger step than for the simulations: the fixed point is solved to the Newton
    // tolerance, whose error divided by 2h would dominate at h = 1e-6.
    fitting::gradcheck::check(&mut g, 1e-4)
}

/// The rate loss over the free raw θ entries (the others held at the start point).
struct RateGradient<'a> {
    fit: &'a RateFit,
    free: Vec<usize>,
}

impl fitting::gradcheck::Differentiable for RateGradient<'_> {
    fn parameter_names(&self) -> Vec<String> {
        self.free
            .iter()
            .map(|&k| format!("raw {}", THETA_NAMES[k]))
            .collect()
    }

    fn parameters(&self) -> Vec<f64> {
        let raw = self.fit.raw();
        self.free.iter().map(|&k| raw[k]).collect()
    }

    fn loss_and_gradient(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>)> {
        let mut raw = self.fit.raw();
        for (&k, &v) in self.free.iter().zip(params) {
            raw[k] = v;
        }
        let (loss, g, _) = self.fit.loss_and_gradient(&raw)?;
        Ok((loss, self.free.iter().map(|&k| g[k]).collect()))
    }
}

fn prepare(ctx: &RunContext) -> Result<(Experiment, Arc<RateNetwork>, RateFit)> {
    let file = ctx.exp_path.display();
    let exp = checked(ctx)?;
    let p = &exp.model.parameters;
    if p.N < 2 {
        bail!(
            "{file}: model.parameters.N = {} must be >= 2 (at least one E and one I neuron)",
            p.N
        );
    }
    let path = ctx.exp_path.as_path();
    let (newton, o) = (&exp.integration.newton, &exp.optimization);
    crate::budget::positive(path, "integration.newton.tol", newton.tol)?;
    if newton.max_iter == 0 {
        bail!("{file}: integration.newton.max_iter must be >= 1");
    }
    if !(exp.integration.r_init.is_finite() && exp.integration.r_init >= 0.0) {
        bail!(
            "{file}: integration.r_init = {} must be a finite rate >= 0 (Hz)",
            exp.integration.r_init
        );
    }
    if !(o.epsilon.is_finite() && o.epsilon >= 0.0) {
        bail!(
            "{file}: optimization.epsilon = {} must be a finite number >= 0",
            o.epsilon
        );
    }
    if o.checkpoint_every == 0 {
        bail!("{file}: optimization.checkpoint_every must be >= 1");
    }
    if let Some(t) = o.stop_within {
        crate::budget::positive(path, "optimization.stop_within", t)?;
    }
    let nf = p.N as f64;
    crate::budget::check_memory(
        &ctx.exp_path,
        &[(
            "the N × N connectivity and its Jacobians",
            "model.parameters.N",
            6.0 * nf * nf * 8.0,
        )],
    )?;
    let lif = LifConstants::new(p.V_th, p.V_reset, p.tau_ref)?;
    let spec = NetworkSpec {
        n: p.N,
        tau: p.tau,
        t_relax: p.T,
        h: p.h,
        xi2: p.xi2,
    };
    let connectivity = match &exp.network.connectivity {
        ConnectivitySpec::MeanField => Connectivity::MeanField,
        ConnectivitySpec::Bernoulli { seed } => Connectivity::Explicit(sample_connectivity(
            p.N,
            flat(p.P),
            flat(p.w),
            seed.unwrap_or(exp.seed),
        )?),
        other => {
            Connectivity::Explicit(load_matrix(ctx, other, p.N)?.expect("file-based connectivity"))
        }
    };
    let net = Arc::new(
        RateNetwork::new(&spec, lif, connectivity)
            .map_err(|e| anyhow::anyhow!("{file}: model.parameters: {e}"))?,
    );
    let mut mask = [false; N_THETA];
    for name in &exp.optimization.fit {
        let Some(off) = ratenet::network::theta_block(name) else {
            bail!(
                "{}: optimization.fit: unknown parameter `{name}` (J, P, w)",
                ctx.exp_path.display()
            )
        };
        if off != ratenet::network::LOG_J && net.connectivity != Connectivity::MeanField {
            bail!(
                "{}: fitting {name} needs `connectivity: {{kind: mean_field}}`",
                ctx.exp_path.display()
            );
        }
        mask[off..off + 4].fill(true);
    }
    let t = &exp.optimization.targets;
    let targets = Targets {
        mean_e: t.mean_E,
        mean_i: t.mean_I,
        per_neuron: t.per_neuron.clone(),
        error: match exp.optimization.error {
            ErrorCfg::Relative => ratenet::RateError::Relative,
            ErrorCfg::Absolute => ratenet::RateError::Absolute,
        },
    };
    let settings = FitSettings {
        lr: exp.optimization.lr,
        epsilon: exp.optimization.epsilon,
        mask,
        targets,
        newton: NewtonConfig {
            tol: exp.integration.newton.tol,
            max_iter: exp.integration.newton.max_iter,
            warmup_steps: exp.integration.newton.warmup_steps,
        },
    };
    let theta0 = theta_from(flat(p.J), flat(p.P), flat(p.w));
    let device = backend::f64_device(ctx.backend, false);
    let fit = RateFit::new(
        net.clone(),
        &theta0,
        vec![exp.integration.r_init; p.N],
        settings,
        &device,
    )
    .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    Ok((exp, net, fit))
}

/// A rate-network fit behind the training driver's seam.
struct RateFamily<'a> {
    fit: &'a mut RateFit,
    header: Vec<String>,
    total: usize,
    stop_within: Option<f64>,
    last: Option<ratenet::fit::StepReport>,
    last_loss: Option<f64>,
    reached: Option<bool>,
    wall0: f64,
    t0: Instant,
}

impl Family for RateFamily<'_> {
    fn columns(&self) -> Vec<String> {
        self.header.clone()
    }

    fn step_column(&self) -> StepColumn {
        StepColumn::InRow
    }

    fn steps_done(&self) -> usize {
        self.fit.steps_done()
    }

    fn finished(&self) -> Option<String> {
        (self.fit.steps_done() >= self.total).then(|| "steps".to_string())
    }

    fn step(&mut self) -> Result<StepReport> {
        let rep = self.fit.step()?;
        let mut row = vec![
            rep.step as f64,
            rep.loss,
            rep.grad_norm,
            rep.mean_e,
            rep.mean_i,
            rep.residual,
            rep.newton_iterations as f64,
        ];
        row.extend(rep.theta);
        let finite = rep.loss.is_finite() && rep.grad_norm.is_finite();
        let detail = format!(
            "the loss is not finite at step {} (loss {}, gradient norm {}); parameters: {}",
            rep.step,
            rep.loss,
            rep.grad_norm,
            THETA_NAMES
                .iter()
                .zip(rep.theta)
                .map(|(n, v)| format!("{n} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let done = self.stop_within.is_some_and(|tol| {
            self.fit
                .settings
                .targets
                .reached(rep.mean_e, rep.mean_i, tol)
        });
        // Steps exhausted is [`Family::finished`]; a reached target ends on this row.
        let stop = done.then(|| {
            self.reached = Some(true);
            "targets reached".to_string()
        });
        let step = rep.step;
        if finite {
            self.last_loss = Some(rep.loss);
            self.last = Some(rep);
        }
        Ok(StepReport {
            step,
            row,
            finite,
            stop,
            detail,
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        let s = self.fit.snapshot();
        let state = serde_json::to_vec(&SnapshotBits {
            step: s.step,
            raw: bits(&s.raw),
            adam_time: s.adam_time,
            moment_1: bits(&s.moment_1),
            moment_2: bits(&s.moment_2),
            r_warm: bits(&s.r_warm),
            last_loss: self.last_loss.map(f64::to_bits),
        })?;
        Ok(Snapshot {
            step: s.step,
            params: vec![s.raw],
            shapes: vec![[1, N_THETA]],
            state,
            wall_time: self.wall0 + self.t0.elapsed().as_secs_f64(),
        })
    }

    fn restore(&mut self, snap: &Snapshot) -> Result<()> {
        let s: SnapshotBits = serde_json::from_slice(&snap.state)?;
        self.fit.restore(&FitSnapshot {
            step: s.step,
            raw: unbits(&s.raw),
            adam_time: s.adam_time,
            moment_1: unbits(&s.moment_1),
            moment_2: unbits(&s.moment_2),
            r_warm: unbits(&s.r_warm),
        })?;
        self.last_loss = s.last_loss.map(f64::from_bits);
        self.wall0 = snap.wall_time;
        self.t0 = Instant::now();
        Ok(())
    }
}

/// The fit loop and the outputs of [`run`].
fn run_prepared(
    ctx: &RunContext,
    exp: &Experiment,
    p: &Parameters,
    net: Arc<RateNetwork>,
    fit: &mut RateFit,
) -> Result<()> {
    let out = &ctx.out_dir;
    let hash = ctx.experiment_hash();
    let config = serde_json::to_value(resolved_tree(&ctx.exp_path, &ctx.text, &ctx.overrides)?)?;
    let traj_path = out.join("trajectory.csv");
    let mut header: Vec<String> = [
        "step",
        "loss",
        "grad_norm",
        "mean_rate_E",
        "mean_rate_I",
        "residual",
        "newton_iterations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(THETA_NAMES.iter().map(|s| s.to_string()));
    // Like the Jansen-Rit fits: a run folder with a checkpoint is continued.
    let resumed = crate::run_dir::resume_point(ctx)?;
    let total = exp.optimization.steps;
    let stop_within = exp.optimization.stop_within;
    let mut fam = RateFamily {
        fit,
        header,
        total,
        stop_within,
        last: None,
        last_loss: None,
        reached: None,
        wall0: 0.0,
        t0: Instant::now(),
    };
    if let Some(c) = &resumed {
        checkpoint::check_same_experiment(&c.meta, &hash, &config, out)?;
        fam.restore(&checkpoint::snapshot_of(c))
            .context("corrupt ratenet checkpoint")?;
    }
    crate::run_dir::drive(
        ctx,
        &mut fam,
        resumed.as_ref(),
        hash,
        config,
        crate::run_dir::DriveSpec {
            trajectory: &traj_path,
            prefix: "ratenet",
            total,
            seed: exp.seed,
            backend: ctx.backend.name().to_string(),
            checkpoint_every: exp.optimization.checkpoint_every,
            message: Some(Box::new(|r| {
                format!(
                    "loss {:.3e}  E {:.3} Hz  I {:.3} Hz",
                    r.row[1], r.row[3], r.row[4]
                )
            })),
        },
    )?;
    let (last, last_loss, mut reached) = (fam.last.take(), fam.last_loss, fam.reached);
    let wall = fam.wall0;
    let start = fam.t0;
    let fit = fam.fit;

    // Final state: the fixed point at the last *reported* parameters when a target stop
    // happened (those met the targets), else at the current ones.
    let theta = last
        .as_ref()
        .filter(|_| reached == Some(true))
        .map(|r| r.theta)
        .unwrap_or(fit.theta());
    let fp = ratenet::fixed_point::solve_fixed_point(
        &net,
        &theta,
        &vec![exp.integration.r_init; p.N],
        &fit.settings.newton,
    )?;
    let st = ratenet::fixed_point::stability(&net, &theta, &fp.rates)?;
    let (me, mi) = net.population_means(&fp.rates);
    if exp.optimization.stop_within.is_some() && reached.is_none() {
        reached = Some(false);
    }
    let report = FinalReport {
        model: "AiRateNetwork",
        steps: fit.steps_done(),
        reached_targets: reached,
        loss: last
            .as_ref()
            .map(|r| r.loss)
            .or(last_loss)
            .unwrap_or(f64::NAN),
        theta: THETA_NAMES
            .iter()
            .zip(theta)
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect(),
        j_signed: ratenet::network::signed_j(&theta),
        mean_rate_e: me,
        mean_rate_i: mi,
        residual: fp.residual,
        stable: st.is_stable(),
        spectral_abscissa: st.abscissa,
        wall_time_s: wall + start.elapsed().as_secs_f64(),
    };
    write_json(&out.join("final.json"), &report)?;
    write_npy(&out.join("rates.npy"), &fp.rates, &[p.N])?;
    if exp.outputs.plots {
        plots(out, &traj_path, &fp.rates, net.n_e, &st.eigenvalues)?;
    }
    if !ctx.quiet {
        println!(
            "ratenet: {} steps, mean E {:.4} Hz, mean I {:.4} Hz, stable: {} -> {}",
            report.steps,
            me,
            mi,
            report.stable,
            out.display()
        );
    }
    Ok(())
}

fn plots(out: &Path, traj: &Path, rates: &[f64], n_e: usize, eig: &[faer::c64]) -> Result<()> {
    let (header, rows) = read_csv(traj)?;
    let col = |name: &str| -> Vec<f64> {
        let k = header.iter().position(|h| h == name).unwrap_or(0);
        rows.iter().map(|r| r[k]).collect()
    };
    let steps = col("step");
    line_plot(
        &out.join("loss.png"),
        "Loss",
        "Adam step",
        "loss",
        &[Series::new("loss", steps.clone(), col("loss"))],
        true,
    )?;
    line_plot(
        &out.join("mean_rates.png"),
        "Population mean rates at the fixed point",
        "Adam step",
        "rate (Hz)",
        &[
            Series::new("E", steps.clone(), col("mean_rate_E")),
            Series::new("I", steps.clone(), col("mean_rate_I")),
        ],
        false,
    )?;
    let idx: Vec<f64> = (0..rates.len()).map(|i| i as f64).collect();
    scatter_plot(
        &out.join("rates.png"),
        "Fixed-point rates",
        "neuron",
        "rate (Hz)",
        &[
            Series::new("E", idx[..n_e].to_vec(), rates[..n_e].to_vec()),
            Series::new("I", idx[n_e..].to_vec(), rates[n_e..].to_vec()),
        ],
        None,
    )?;
    scatter_plot(
        &out.join("eigenvalues.png"),
        "Eigenvalues of T^-1 (dF/dr - I)",
        "Re (1/s)",
        "Im (1/s)",
        &[Series::new(
            "eigenvalues",
            eig.iter().map(|z| z.re).collect(),
            eig.iter().map(|z| z.im).collect(),
        )],
        None,
    )?;
    Ok(())
}
