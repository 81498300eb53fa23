//! Experiments of the `soc` crate: stability-optimized circuits (seed 003; Hennequin, Vogels &
//! Gerstner 2014, the algorithm of the code of Stroud et al. 2018, DESIGN §7).
//!
//! ```yaml
//! model:
//!   name: StabilityOptimizedCircuit
//!   parameters: {N: 200, p: 0.1, R: 10, gamma: 3, eta: 10, inhibitory_density: 0.4,
//!                alpha_target: 0.15, shift_factor: 1.5, shift_margin: 0.2}
//! initial_weights: {kind: random, seed: 0}      # or {kind: file, path: W0.npy}
//! optimization: {max_steps: 10000, checkpoint_every: 100, threads: 1}
//! outputs: {plots: true}
//! ```
//!
//! Every parameter is optional (defaults: [`soc::SocConfig::default`], the seed's values).
//! The run folder gets `W0.npy`, `W_final.npy` (`[N, N]`, `W_ij` from `j` to `i`),
//! `eigenvalues_initial.npy` / `eigenvalues_final.npy` (`[N, 2]`: real, imaginary part),
//! `steps.csv` (one row per step: `α` before the update, the shift `s`, and the inhibitory
//! density and block-mean ratios after it; the last row is the converged check with `s = NaN`),
//! `final.json`, `alpha.png`, `eigenvalues.png` and `checkpoints/` (W bit-exact). Running again
//! into a folder with a checkpoint continues from it; a changed experiment is refused.

use crate::checkpoint;
use crate::context::RunContext;
use crate::npy::{read_npy, write_npy};
use crate::plot::{Series, line_plot, scatter_plot};
use crate::run_dir::{read_csv, write_json};
use crate::systems::Outputs;
use crate::yaml::{parse_experiment, resolved_tree};
use anyhow::{Context, Result, anyhow, bail};
use faer::{Mat, MatRef, Par};
use fitting::family::{Family, Snapshot, StepColumn, StepReport};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use soc::optimizer::{block_ratios, eigenvalues, inhibitory_density};
use soc::{SocConfig, SocOptimizer, initial_weights};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Model names this module runs (`model: {name: ...}` in the YAML).
pub const MODELS: &[&str] = &["StabilityOptimizedCircuit"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Experiment {
    model: Model,
    #[serde(default)]
    initial_weights: InitialWeights,
    #[serde(default)]
    optimization: Optimization,
    #[serde(default)]
    outputs: Outputs,
    /// Seed of the initial weights when `initial_weights.seed` is not given.
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    description: Option<String>,
    /// burn backend (read by the CLI; the SOC optimizer is plain f64 linear algebra).
    #[serde(default)]
    backend: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    name: String,
    #[serde(default)]
    parameters: Parameters,
}

/// `model.parameters`: the fields of [`SocConfig`] in the seed's notation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct Parameters {
    #[serde(default, alias = "n")]
    N: Option<usize>,
    #[serde(default)]
    p: Option<f64>,
    #[serde(default, alias = "radius")]
    R: Option<f64>,
    #[serde(default)]
    gamma: Option<f64>,
    #[serde(default)]
    eta: Option<f64>,
    #[serde(default)]
    inhibitory_density: Option<f64>,
    #[serde(default)]
    alpha_target: Option<f64>,
    #[serde(default)]
    shift_factor: Option<f64>,
    #[serde(default)]
    shift_margin: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum InitialWeights {
    /// The seed's sparse E/I draw from `ChaCha8Rng::seed_from_u64(seed)`.
    Random {
        #[serde(default)]
        seed: Option<u64>,
    },
    /// An `[N, N]` `.npy` file (path relative to the experiment file), obeying Dale's law.
    File { path: PathBuf },
}

impl Default for InitialWeights {
    fn default() -> Self {
        Self::Random { seed: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Optimization {
    #[serde(default = "max_steps")]
    max_steps: usize,
    /// Steps between checkpoints (0: only at the end).
    #[serde(default = "every")]
    checkpoint_every: usize,
    /// Threads for the dense linear algebra.
    #[serde(default = "one")]
    threads: usize,
}

impl Default for Optimization {
    fn default() -> Self {
        Self {
            max_steps: max_steps(),
            checkpoint_every: every(),
            threads: one(),
        }
    }
}
fn max_steps() -> usize {
    SocConfig::default().max_steps
}
fn every() -> usize {
    100
}
fn one() -> usize {
    1
}

/// The resumable state beside `W` (stored as the checkpoint's payload).
#[derive(Debug, Serialize, Deserialize)]
struct SocState {
    /// SOC updates applied.
    step: usize,
    /// SHA-256 of the bits of `W0`, so a changed `W0` file is noticed on resume.
    w0_sha256: String,
}

#[derive(Debug, Serialize)]
struct FinalReport {
    model: &'static str,
    #[serde(rename = "N")]
    n: usize,
    steps: usize,
    alpha_initial: f64,
    alpha_final: f64,
    alpha_target: f64,
    reached_target: bool,
    /// Off-diagonal density of the inhibitory columns.
    inhibitory_density: f64,
    /// `−mean W[E, I] / mean W[E, E]`.
    #[serde(rename = "ratio_IE_EE")]
    ratio_ie_ee: f64,
    /// `−mean W[I, I] / mean W[I, E]`.
    #[serde(rename = "ratio_II_EI")]
    ratio_ii_ei: f64,
    excitatory_unchanged: bool,
    wall_time_s: f64,
}

const HEADER: [&str; 7] = [
    "step",
    "alpha",
    "s",
    "inhibitory_density",
    "ratio_IE_EE",
    "ratio_II_EI",
    "wall_time_s",
];

fn soc_config(exp: &Experiment) -> SocConfig {
    let d = SocConfig::default();
    let p = &exp.model.parameters;
    SocConfig {
        n: p.N.unwrap_or(d.n),
        p: p.p.unwrap_or(d.p),
        radius: p.R.unwrap_or(d.radius),
        gamma: p.gamma.unwrap_or(d.gamma),
        eta: p.eta.unwrap_or(d.eta),
        inhibitory_density: p.inhibitory_density.unwrap_or(d.inhibitory_density),
        alpha_target: p.alpha_target.unwrap_or(d.alpha_target),
        shift_factor: p.shift_factor.unwrap_or(d.shift_factor),
        shift_margin: p.shift_margin.unwrap_or(d.shift_margin),
        max_steps: exp.optimization.max_steps,
        seed: match exp.initial_weights {
            InitialWeights::Random { seed } => seed.unwrap_or(exp.seed),
            InitialWeights::File { .. } => exp.seed,
        },
        threads: exp.optimization.threads,
    }
}

/// Row-major values of `w` (numpy C order).
fn row_major(w: MatRef<'_, f64>) -> Vec<f64> {
    (0..w.nrows())
        .flat_map(|i| (0..w.ncols()).map(move |j| w[(i, j)]))
        .collect()
}

fn from_row_major(v: &[f64], n: usize) -> Mat<f64> {
    Mat::from_fn(n, n, |i, j| v[i * n + j])
}

fn sha256_bits(w: MatRef<'_, f64>) -> String {
    let mut h = Sha256::new();
    for x in row_major(w) {
        h.update(x.to_bits().to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `W0` from the configured source; shape and signs are checked by [`SocOptimizer::new`].
fn load_w0(ctx: &RunContext, exp: &Experiment, cfg: &SocConfig) -> Result<Mat<f64>> {
    match &exp.initial_weights {
        InitialWeights::Random { .. } => Ok(initial_weights(cfg)?),
        InitialWeights::File { path } => {
            let base = ctx.exp_path.parent().unwrap_or(Path::new("."));
            let p = base.join(path);
            let (v, shape) = read_npy(&p)?;
            let n = cfg.n;
            if shape != [n, n] {
                bail!(
                    "{}: initial weight matrix W0 has shape {shape:?}, expected [{n}, {n}] \
                     (model.parameters.N = {n})",
                    p.display()
                );
            }
            Ok(from_row_major(&v, n))
        }
    }
}

/// Eigenvalues as an `[N, 2]` row-major array (real, imaginary part).
fn eigen_array(w: MatRef<'_, f64>) -> Result<Vec<(f64, f64)>> {
    Ok(eigenvalues(w)?)
}

fn write_eigen(path: &Path, eig: &[(f64, f64)]) -> Result<()> {
    let flat: Vec<f64> = eig.iter().flat_map(|&(re, im)| [re, im]).collect();
    write_npy(path, &flat, &[eig.len(), 2])
}

/// One `steps.csv` row for the current `W` (statistics after the update).
fn row(step: usize, alpha: f64, s: f64, w: MatRef<'_, f64>, wall: f64) -> [f64; 7] {
    let (ratio_ie_ee, ratio_ii_ei) = block_ratios(w);
    [
        step as f64,
        alpha,
        s,
        inhibitory_density(w),
        ratio_ie_ee,
        ratio_ii_ei,
        wall,
    ]
}

/// Parses and checks the experiment, loads W0 and builds the optimizer at step 0.
fn prepare(ctx: &RunContext) -> Result<(Experiment, SocConfig, Mat<f64>, SocOptimizer)> {
    let exp: Experiment = parse_experiment(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
    let _ = (&exp.description, &exp.backend, &exp.outputs.dir);
    if !MODELS.contains(&exp.model.name.as_str()) {
        bail!(
            "{}: model.name `{}` is not run by soc",
            ctx.exp_path.display(),
            exp.model.name
        );
    }
    let cfg = soc_config(&exp);
    cfg.validate()
        .map_err(|e| anyhow!("{}: model.parameters: {e}", ctx.exp_path.display()))?;
    // Dense N × N matrices (W, the Gramians, the Schur factors, …), checked before the first
    // one is allocated.
    let nf = cfg.n as f64;
    crate::budget::check_memory(
        &ctx.exp_path,
        &[(
            "the dense N × N matrices of the optimization",
            "model.parameters.N",
            12.0 * nf * nf * 8.0,
        )],
    )?;
    let w0 = load_w0(ctx, &exp, &cfg)?;
    // Validates the shape and Dale's law of W0.
    let fresh = SocOptimizer::new(cfg.clone(), Some(w0.clone()))
        .map_err(|e| anyhow!("{}: initial_weights: {e}", ctx.exp_path.display()))?;
    Ok((exp, cfg, w0, fresh))
}

/// Checks an experiment for `fit validate` (including W0's shape and signs).
pub fn validate(ctx: &RunContext) -> Result<()> {
    prepare(ctx).map(|_| ())
}

/// The SOC optimizer behind the training driver's seam.
struct SocFamily {
    opt: SocOptimizer,
    cfg: SocConfig,
    w0_sha: String,
    max_steps: usize,
    out: PathBuf,
    alpha_final: f64,
    wall0: f64,
    t0: Instant,
}

impl Family for SocFamily {
    fn columns(&self) -> Vec<String> {
        HEADER.iter().map(|s| s.to_string()).collect()
    }

    fn step_column(&self) -> StepColumn {
        StepColumn::InRow
    }

    fn steps_done(&self) -> usize {
        self.opt.steps()
    }

    fn step(&mut self) -> Result<StepReport> {
        let (step, alpha, s, stop) = if self.opt.steps() >= self.max_steps {
            // Out of steps: record α of the final W (no update) and stop.
            let alpha = soc::schur::spectral_abscissa(self.opt.weights(), Par::Seq)?;
            (self.opt.steps(), alpha, f64::NAN, Some("steps"))
        } else {
            let st = self.opt.step()?;
            (
                st.step,
                st.alpha,
                st.s,
                st.converged.then_some("target reached"),
            )
        };
        let t = self.wall0 + self.t0.elapsed().as_secs_f64();
        if stop.is_some() {
            self.alpha_final = alpha;
        }
        Ok(StepReport {
            step,
            row: row(step, alpha, s, self.opt.weights(), t).to_vec(),
            finite: alpha.is_finite(),
            stop: stop.map(str::to_string),
            detail: format!("the spectral abscissa is not finite at step {step} (α = {alpha})"),
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            step: self.opt.steps(),
            params: vec![row_major(self.opt.weights())],
            shapes: vec![[self.cfg.n, self.cfg.n]],
            state: serde_json::to_vec(&SocState {
                step: self.opt.steps(),
                w0_sha256: self.w0_sha.clone(),
            })?,
            wall_time: self.wall0 + self.t0.elapsed().as_secs_f64(),
        })
    }

    fn restore(&mut self, snap: &Snapshot) -> Result<()> {
        let n = self.cfg.n;
        let state: SocState =
            serde_json::from_slice(&snap.state).context("corrupt SOC checkpoint")?;
        if state.w0_sha256 != self.w0_sha {
            bail!(
                "{}: the checkpoint at step {} started from a different W0 (the initial weight \
                 file changed). Use --out for a new run folder or --fresh to start this one over.",
                self.out.display(),
                state.step
            );
        }
        if snap.params.len() != 1 || snap.shapes[0] != [n, n] {
            bail!(
                "{}: corrupt SOC checkpoint (W is not {n}×{n})",
                self.out.display()
            );
        }
        self.opt = SocOptimizer::resume(
            self.cfg.clone(),
            from_row_major(&snap.params[0], n),
            state.step,
        )?;
        self.wall0 = snap.wall_time;
        self.t0 = Instant::now();
        Ok(())
    }
}

/// Runs the experiment described by `ctx`.
pub fn run(ctx: &RunContext) -> Result<()> {
    let (exp, cfg, w0, fresh) = prepare(ctx)?;
    let w0_sha = sha256_bits(w0.as_ref());
    let n = cfg.n;

    let out = &ctx.out_dir;
    let hash = ctx.experiment_hash();
    let config = serde_json::to_value(resolved_tree(&ctx.exp_path, &ctx.text, &ctx.overrides)?)?;
    let steps_path = out.join("steps.csv");
    let resumed = crate::run_dir::resume_point(ctx)?;
    let max_steps = exp.optimization.max_steps;
    if exp.optimization.checkpoint_every == 0 {
        bail!(
            "{}: optimization.checkpoint_every must be >= 1 (a checkpoint after every that many \
             steps and at the end)",
            ctx.exp_path.display()
        );
    }
    let mut fam = SocFamily {
        opt: fresh,
        cfg: cfg.clone(),
        w0_sha: w0_sha.clone(),
        max_steps,
        out: out.clone(),
        alpha_final: f64::NAN,
        wall0: 0.0,
        t0: Instant::now(),
    };
    if let Some(c) = &resumed {
        checkpoint::check_same_experiment(&c.meta, &hash, &config, out)?;
        fam.restore(&checkpoint::snapshot_of(c))?;
    }

    write_npy(&out.join("W0.npy"), &row_major(w0.as_ref()), &[n, n])?;
    let eig0 = eigen_array(w0.as_ref())?;
    write_eigen(&out.join("eigenvalues_initial.npy"), &eig0)?;
    let alpha0 = eig0.iter().map(|e| e.0).fold(f64::NEG_INFINITY, f64::max);

    let target = cfg.alpha_target;
    crate::run_dir::drive(
        ctx,
        &mut fam,
        resumed.as_ref(),
        hash,
        config,
        crate::run_dir::DriveSpec {
            trajectory: &steps_path,
            prefix: "soc",
            total: max_steps,
            seed: cfg.seed,
            backend: "faer".to_string(),
            checkpoint_every: exp.optimization.checkpoint_every,
            message: Some(Box::new(move |r| {
                format!("α {:.4} (target {target})", r.row[1])
            })),
        },
    )?;
    let wall_total = fam.wall0 + fam.t0.elapsed().as_secs_f64();
    let alpha_final = fam.alpha_final;
    let opt = fam.opt;

    let w = opt.weights();
    write_npy(&out.join("W_final.npy"), &row_major(w), &[n, n])?;
    let eig1 = eigen_array(w)?;
    write_eigen(&out.join("eigenvalues_final.npy"), &eig1)?;
    let (ratio_ie_ee, ratio_ii_ei) = block_ratios(w);
    let h = n / 2;
    let report = FinalReport {
        model: MODELS[0],
        n,
        steps: opt.steps(),
        alpha_initial: alpha0,
        alpha_final,
        alpha_target: cfg.alpha_target,
        reached_target: alpha_final <= cfg.alpha_target,
        inhibitory_density: inhibitory_density(w),
        ratio_ie_ee,
        ratio_ii_ei,
        excitatory_unchanged: (0..h).all(|j| (0..n).all(|i| w[(i, j)] == w0[(i, j)])),
        wall_time_s: wall_total,
    };
    write_json(&out.join("final.json"), &report)?;
    if exp.outputs.plots {
        plots(out, &steps_path, &eig0, &eig1, cfg.alpha_target)?;
    }
    if !ctx.quiet {
        println!(
            "soc: α {:.4} -> {:.4} in {} steps (target {} {}), inhibitory density {:.4}, \
             ratios I→E/E→E {:.4}, I→I/E→I {:.4} -> {}",
            report.alpha_initial,
            report.alpha_final,
            report.steps,
            cfg.alpha_target,
            if report.reached_target {
                "reached"
            } else {
                "not reached"
            },
            report.inhibitory_density,
            report.ratio_ie_ee,
            report.ratio_ii_ei,
            out.display()
        );
    }
    Ok(())
}

fn plots(
    out: &Path,
    steps: &Path,
    eig0: &[(f64, f64)],
    eig1: &[(f64, f64)],
    target: f64,
) -> Result<()> {
    let (_, rows) = read_csv(steps)?;
    let x: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    let alpha: Vec<f64> = rows.iter().map(|r| r[1]).collect();
    // A log axis shows the slow approach to the target; only possible while every α > 0.
    let log_y = alpha.iter().all(|&a| a > 0.0) && target > 0.0;
    let ends = [
        x.first().copied().unwrap_or(0.0),
        x.last().copied().unwrap_or(0.0),
    ];
    line_plot(
        &out.join("alpha.png"),
        "Spectral abscissa during SOC optimization",
        "step",
        "alpha(W)",
        &[
            Series::new("alpha", x, alpha),
            Series::new(format!("target {target}"), ends.to_vec(), vec![target; 2]),
        ],
        log_y,
    )?;
    let series = |label: &str, e: &[(f64, f64)]| {
        Series::new(
            label,
            e.iter().map(|z| z.0).collect(),
            e.iter().map(|z| z.1).collect(),
        )
    };
    scatter_plot(
        &out.join("eigenvalues.png"),
        "Eigenvalues of W before and after SOC optimization",
        "Re",
        "Im",
        &[series("initial W0", eig0), series("final W", eig1)],
        None,
    )?;
    Ok(())
}
