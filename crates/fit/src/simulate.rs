//! `fit simulate`: run a network experiment (any registered model) forward and write its trace.

use crate::config::Experiment;
use crate::context::RunContext;
use crate::network_setup::{NetworkSetup, SetupFiles};
use crate::npy::write_npy;
use crate::plot::{Series, line_plot};
use crate::progress::progress_bar;
use crate::run_dir::write_atomic;
use crate::yaml::{parse_experiment, resolved_tree};
use anyhow::{Result, bail};
use solvers::network_kernel::{self, NetworkProblem};
use std::sync::Arc;

/// Loads, validates and prepares a network experiment.
pub fn load(ctx: &RunContext) -> Result<NetworkSetup> {
    let exp: Experiment = parse_experiment(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
    NetworkSetup::new(exp, &ctx.exp_path)
}

/// Writes the resolved configuration (file + overrides) as `config.yaml` in the run folder.
pub fn write_resolved(ctx: &RunContext) -> Result<()> {
    let tree = resolved_tree(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
    let text = format!(
        "# Resolved from {} with {} override(s)\n{}",
        ctx.exp_path.display(),
        ctx.overrides.len(),
        serde_yaml_ng::to_string(&tree)?
    );
    write_atomic(&ctx.out_dir.join("config.yaml"), text.as_bytes())
}

pub use fitting::network::family::first_non_finite;

/// Runs the simulation in chunks (for the progress bar and for interruption), chaining final
/// state and history; the result equals one uninterrupted run.
pub fn run_chunked(problem: &NetworkProblem, params: &[f64], quiet: bool) -> Result<Vec<f64>> {
    let stride = problem.monitor.stride;
    // Short chunks move the progress bar; without one, long chunks (a 10,000-step run is one
    // call) avoid the per-call setup and copies while Ctrl-C still stops within a chunk.
    let base: usize = if quiet { 100_000 } else { 1000 };
    let chunk = base.div_ceil(stride) * stride;
    let bar = progress_bar(problem.steps as u64, quiet);
    bar.set_prefix("simulate");
    let mut trace = Vec::with_capacity(problem.trace_len());
    let mut part = problem.clone();
    let mut k0 = 0;
    while k0 < problem.steps {
        crate::interrupt::check(&format!("simulation at step {k0}"))?;
        let len = chunk.min(problem.steps - k0);
        part.steps = len;
        let (out, _) = network_kernel::forward(&part, params, false);
        if len == problem.steps {
            // One chunk: the kernel's own buffer is the trace (no 40 MB copy).
            bar.finish_and_clear();
            return Ok(out.trace);
        }
        part.noise = out.final_noise;
        trace.extend_from_slice(&out.trace);
        part.init_state = Arc::new(out.final_state);
        part.init_history = Arc::new(out.final_history);
        k0 += len;
        bar.set_position(k0 as u64);
    }
    bar.finish_and_clear();
    Ok(trace)
}

/// A recorded simulation: what `fit simulate` writes as `trace.npy` and `time.npy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Samples, row-major `[samples, variables, nodes]`.
    pub data: Vec<f64>,
    /// `[samples, variables, nodes]`.
    pub shape: [usize; 3],
    /// Sample times (ms).
    pub time: Vec<f64>,
    /// Names of the recorded variables.
    pub variables: Vec<&'static str>,
    /// Wall time of the simulation (s).
    pub wall: f64,
}

/// Runs the experiment's simulation with its own parameter values (`fit simulate`'s numbers,
/// shared with the Python module so both give the same bits).
pub fn simulate_trace(setup: &NetworkSetup, quiet: bool) -> Result<Trace> {
    let problem = &setup.problem;
    let t0 = std::time::Instant::now();
    let data = run_chunked(problem, &setup.base_params, quiet)?;
    let wall = t0.elapsed().as_secs_f64();
    let time: Vec<f64> = (0..problem.monitor.samples(problem.steps))
        .map(|m| problem.monitor.sample_step(m) as f64 * problem.dt)
        .collect();
    Ok(Trace {
        shape: [time.len(), problem.monitor.variables.len(), problem.n],
        data,
        time,
        variables: problem
            .monitor
            .variables
            .iter()
            .map(|&v| setup.variable_name(v))
            .collect(),
        wall,
    })
}

/// The parameters of a setup as `name = value` pairs (first region), for messages.
pub fn named_params(setup: &NetworkSetup) -> Vec<(String, f64)> {
    let n = setup.n();
    setup
        .param_names()
        .into_iter()
        .enumerate()
        .map(|(k, name)| (name, setup.base_params[k * n]))
        .collect()
}

/// `fit simulate EXP.yaml`: writes trace.npy, time.npy, config.yaml and a PNG.
pub fn simulate(ctx: &RunContext) -> Result<()> {
    let setup = load(ctx)?;
    let problem = &setup.problem;
    let plot_var = setup.variable_name(setup.plotted);
    let plot_idx = problem
        .monitor
        .variables
        .iter()
        .position(|&m| m == setup.plotted);
    // The plotted variable must be recorded (the check every command runs first).
    crate::check::simulate(&setup)?;
    crate::cli::create_run_dir(&ctx.out_dir)?;
    write_resolved(ctx)?;
    let Trace {
        data: trace,
        shape,
        time,
        wall,
        ..
    } = simulate_trace(&setup, ctx.quiet)?;
    let [samples, nvar, n] = shape;
    if setup.exp.outputs.trace {
        write_npy(&ctx.out_dir.join("trace.npy"), &trace, &shape)?;
    }
    write_npy(&ctx.out_dir.join("time.npy"), &time, &[samples])?;
    let params = named_params(&setup);
    if let Some(msg) = first_non_finite(&trace, problem, &params) {
        bail!("{msg}");
    }
    if let (true, Some(vi)) = (setup.exp.outputs.plots, plot_idx) {
        let series: Vec<Series> = (0..n)
            .map(|i| {
                let y = (0..samples)
                    .map(|m| trace[(m * nvar + vi) * n + i])
                    .collect();
                Series::new("", time.clone(), y)
            })
            .collect();
        line_plot(
            &ctx.out_dir.join(format!("{plot_var}.png")),
            &format!("{plot_var} of {n} regions"),
            "time (ms)",
            plot_var,
            &series,
            false,
        )?;
    }
    let sum: f64 = trace.iter().sum();
    println!(
        "simulated {} steps of {} regions in {:.3} s; trace {:?} written to {} (sum {:.9e})",
        problem.steps,
        n,
        wall,
        [samples, nvar, n],
        ctx.out_dir.display(),
        sum
    );
    Ok(())
}
