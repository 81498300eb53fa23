//! One validation pass, shared by `fit validate` and every command that reads an experiment.
//!
//! Each command calls [`experiment`] before it creates its run folder or allocates anything
//! large, so `fit validate` accepts exactly what the commands accept. The pass reads every file
//! the experiment names and checks every field and the resource budget, but never simulates:
//! a warm transient and a simulated target are checked, not run.

use crate::config::{Experiment, ObservationKind, Statistic};
use crate::context::RunContext;
use crate::network_setup::{NetworkSetup, SetupFiles};
use crate::objective::{Objective, TargetFiles};
use crate::yaml::{model_name, parse_experiment, resolved_tree};
use crate::{budget, systems};
use anyhow::{Result, anyhow, bail};
use std::path::Path;

/// Which command the experiment is checked for (each needs its own sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `fit validate`: every section present is checked.
    Validate,
    /// `fit run`: a fit (network models) or the family's runner.
    Run,
    /// `fit simulate`.
    Simulate,
    /// `fit explore`.
    Explore,
    /// `fit gradcheck`.
    Gradcheck,
}

/// `backend:` (of the file with its overrides) must name a burn backend when given, for every
/// family (the CLI reads it before the family's schema does).
pub fn backend(path: &Path, text: &str, overrides: &[String]) -> Result<()> {
    let tree = resolved_tree(path, text, overrides)?;
    let Some(b) = tree.get("backend") else {
        return Ok(());
    };
    if b.is_null() {
        return Ok(());
    }
    match b.as_str() {
        Some(s) if backend::BackendKind::parse(s).is_some() => Ok(()),
        _ => bail!(
            "{}: backend = {}: not one of {}",
            path.display(),
            serde_yaml_ng::to_string(b)
                .unwrap_or_default()
                .trim()
                .trim_start_matches("---")
                .trim(),
            backend::BackendKind::NAMES.join(", ")
        ),
    }
}

/// Checks the experiment of `ctx` for `purpose`; nothing is written and nothing simulated.
pub fn experiment(ctx: &RunContext, purpose: Purpose) -> Result<()> {
    backend(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
    let model = model_name(&ctx.exp_path, &ctx.text)?;
    if dynamics::ModelKind::from_name(&model).is_some() {
        return network(ctx, purpose).map(|_| ());
    }
    match systems::find(&model) {
        Some(s) => {
            if matches!(purpose, Purpose::Gradcheck)
                && !s.gradcheck_models.contains(&model.as_str())
            {
                bail!(
                    "{}: model `{model}` has no gradient check (no loss with an exact gradient); \
                     run it with `fit run`. `fit gradcheck` is for the network \
                     models ({}) and {}",
                    ctx.exp_path.display(),
                    dynamics::ModelKind::names().join(", "),
                    systems::SYSTEMS
                        .iter()
                        .flat_map(|s| s.gradcheck_models.iter().copied())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if matches!(purpose, Purpose::Simulate | Purpose::Explore) {
                bail!(
                    "{}: model `{model}` is run with `fit run` (or `fit validate`); `fit {}` is \
                     for the network models: {}",
                    ctx.exp_path.display(),
                    match purpose {
                        Purpose::Simulate => "simulate",
                        _ => "explore",
                    },
                    dynamics::ModelKind::names().join(", ")
                );
            }
            (s.validate)(ctx)
        }
        None => bail!(
            "{}: model.name: unknown model `{model}`; valid models: {}",
            ctx.exp_path.display(),
            systems::all_models().join(", ")
        ),
    }
}

/// The network-model part of [`experiment`]; returns the checked setup (its warm start, if
/// any, not run).
pub fn network(ctx: &RunContext, purpose: Purpose) -> Result<NetworkSetup> {
    let path = &ctx.exp_path;
    let file = path.display();
    let exp: Experiment = parse_experiment(path, &ctx.text, &ctx.overrides)?;
    let setup = NetworkSetup::checked(exp, path)?;
    let opt = setup.exp.optimization.clone();
    if let Some(o) = &opt {
        crate::optimizer::build(o, path)?;
        crate::optimizer::transforms(&setup, o.bounds, path)?;
        if o.checkpoint_every == 0 {
            bail!("{file}: optimization.checkpoint_every must be >= 1");
        }
    }
    let device = backend::f64_device(setup.backend, false);
    let mut obj = Objective::new(&setup, 1, &device, false)?;
    if opt.is_some() {
        obj.check_target(&setup, path, false)?;
    }
    let needs_fit = |what: &str| -> Result<()> {
        if opt.is_none() {
            bail!("{file}: `fit {what}` needs an `optimization` section");
        }
        if setup.free.is_empty() {
            bail!(
                "{file}: `fit {what}`: no parameter is marked `free: true` (set `free: true` on \
                 a model.parameters or coupling.parameters entry)"
            );
        }
        Ok(())
    };
    match purpose {
        Purpose::Run => needs_fit("run")?,
        Purpose::Gradcheck => needs_fit("gradcheck")?,
        Purpose::Simulate => simulate(&setup)?,
        Purpose::Explore => grid(&setup, &obj)?,
        Purpose::Validate => {
            if setup.exp.exploration.is_some() {
                grid(&setup, &obj)?;
            }
        }
    }
    Ok(setup)
}

/// `fit simulate`: the plotted variable is recorded and the whole trace fits in memory.
pub fn simulate(setup: &NetworkSetup) -> Result<()> {
    let problem = &setup.problem;
    if setup.exp.outputs.plots && !problem.monitor.variables.contains(&setup.plotted) {
        bail!(
            "{}: outputs.plot_variable `{}` is not among the recorded monitors.variables {:?}",
            setup.path.display(),
            setup.variable_name(setup.plotted),
            problem
                .monitor
                .variables
                .iter()
                .map(|&v| setup.variable_name(v))
                .collect::<Vec<_>>()
        );
    }
    let samples = problem.monitor.samples(problem.steps) as f64;
    let nvar = problem.monitor.variables.len() as f64;
    budget::check_memory(
        &setup.path,
        &[(
            "the recorded trace",
            "integration.duration / (integration.dt · monitors.stride) and monitors.variables",
            samples * nvar * problem.n as f64 * 8.0 * 2.0,
        )],
    )
}

/// The grid statistics `stats` must apply to the observation `kind`, and those that compare
/// with a target need an `optimization` section (shared by this pass and `fit explore`).
pub fn statistics(setup: &NetworkSetup, stats: &[Statistic], kind: ObservationKind) -> Result<()> {
    let file = setup.path.display();
    for s in stats {
        let ok = match s {
            Statistic::PeakFrequency | Statistic::SpectralMax | Statistic::PeakSignificance => {
                kind == ObservationKind::Spectrum
            }
            Statistic::Loss => true,
            Statistic::FcCorrelation => kind == ObservationKind::Fc,
        };
        if !ok {
            bail!(
                "{file}: exploration.statistics: {s:?} does not apply to observation.kind = {kind:?}"
            );
        }
        if matches!(s, Statistic::Loss | Statistic::FcCorrelation)
            && setup.exp.optimization.is_none()
        {
            bail!(
                "{file}: exploration.statistics: {s:?} needs an `optimization` section with a target"
            );
        }
    }
    Ok(())
}

/// `fit explore`: the grid's axes, statistics and size.
fn grid(setup: &NetworkSetup, obj: &Objective) -> Result<()> {
    let file = setup.path.display();
    let ex = setup
        .exp
        .exploration
        .clone()
        .unwrap_or(crate::config::ExplorationCfg {
            statistics: vec![Statistic::PeakFrequency],
            chunk: None,
            fit: false,
            peak_significance_threshold: None,
        });
    let axes = crate::explore::grid_axes(setup, &setup.path)?;
    if ex.chunk == Some(0) {
        bail!("{file}: exploration.chunk must be >= 1 (or null)");
    }
    if let Some(t) = ex.peak_significance_threshold
        && !(t.is_finite() && t > 0.0)
    {
        bail!(
            "{file}: exploration.peak_significance_threshold = {t} must be a finite positive number (or null)"
        );
    }
    if ex.statistics.is_empty() {
        bail!(
            "{file}: exploration.statistics is empty; valid: peak_frequency, spectral_max, loss, fc_correlation, peak_significance"
        );
    }
    statistics(setup, &ex.statistics, obj.kind)?;
    if ex.fit && setup.exp.optimization.is_none() {
        bail!("{file}: exploration.fit: a grid of fits needs an `optimization` section");
    }
    let points: f64 = axes.iter().map(|a| a.values.len() as f64).product();
    let p = &setup.problem;
    let (n, ns) = (p.n as f64, p.layout().ns as f64);
    let steps = p.steps as f64;
    let threads = solvers::threads::available();
    let chunk = if ex.fit {
        points
    } else {
        (ex.chunk.unwrap_or(16 * threads) as f64).min(points)
    };
    let stride = setup.exp.observation.stride.max(1) as f64;
    let per_point = 2.0 * p.horizon as f64 * ns * n * 8.0 + steps / stride * n * 8.0 * 2.0;
    let tape = if ex.fit {
        let seg = (p.segment.max(1) as f64).min(steps);
        ((steps / seg) * (ns + p.horizon as f64 * ns) + seg * ns * 4.0) * n * 8.0
    } else {
        0.0
    };
    let n_fields = "the free parameters' n (grid points)";
    budget::check_memory(
        &setup.path,
        &[
            (
                "one chunk of grid simulations",
                "exploration.chunk and integration.duration / integration.dt",
                chunk * per_point,
            ),
            (
                "the gradient checkpoints of a grid of fits",
                "the grid size and integration.duration / integration.dt",
                chunk * tape,
            ),
            (
                "the grid arrays",
                n_fields,
                points * ex.statistics.len() as f64 * 8.0 * 2.0,
            ),
        ],
    )?;
    let fit_steps = if ex.fit {
        setup
            .exp
            .optimization
            .as_ref()
            .map_or(1.0, |o| o.steps as f64 + 1.0)
            * 3.0
    } else {
        1.0
    };
    budget::check_work(
        &setup.path,
        "the grid",
        "the grid size (n of each free parameter) or integration.duration",
        points * steps * (ns * n + n * n) * fit_steps,
    )
    .map_err(|e| anyhow!("{e}"))
}
