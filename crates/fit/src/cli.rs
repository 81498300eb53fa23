//! Command-line interface (clap). `fit EXP.yaml` is short for `fit run EXP.yaml`.

use crate::context::RunContext;
use crate::{compare, simulate, systems, train, yaml};
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Differentiable simulation and fitting of neural dynamics.
#[derive(Debug, Parser)]
#[command(name = "fit", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that read an experiment.
#[derive(Debug, Args, Clone)]
pub struct ExpArgs {
    /// Experiment file (YAML).
    pub experiment: PathBuf,
    /// Override a field: `--set integration.dt=0.5` (repeatable), validated like the file.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub overrides: Vec<String>,
    /// Run folder (default: `outputs.dir` or `runs/<experiment name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit (or run) an experiment; continues from the run folder's last checkpoint.
    Run {
        /// Experiment options.
        #[command(flatten)]
        exp: ExpArgs,
        /// Require a checkpoint to continue from.
        #[arg(long)]
        resume: bool,
        /// Move an existing run folder aside (renamed, not deleted) and start over.
        #[arg(long)]
        fresh: bool,
    },
    /// Simulate a Jansen-Rit experiment and write its trace.
    Simulate {
        /// Experiment options.
        #[command(flatten)]
        exp: ExpArgs,
    },
    /// Check an experiment and print the resolved configuration.
    Validate {
        /// Experiment options.
        #[command(flatten)]
        exp: ExpArgs,
    },
    /// Evaluate a grid over the free parameters (or a grid of fits).
    Explore {
        /// Experiment options.
        #[command(flatten)]
        exp: ExpArgs,
        /// Evaluate only shard K of N (`K/N`, 1-based) and write a shard file.
        #[arg(long)]
        shard: Option<String>,
    },
    /// Assemble shard files written by `explore --shard` into the grid outputs.
    Merge {
        /// Run folder holding `shards/`.
        dir: PathBuf,
    },
    /// Compare run folders: table of final values and overlaid trajectories.
    Compare {
        /// Run folders.
        runs: Vec<PathBuf>,
        /// Folder for the plots and `compare.csv` (default: the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// x axis of the plots: `step` or `time` (wall-clock seconds).
        #[arg(long, default_value = "step")]
        by: String,
    },
    /// Compare the fit gradient with central finite differences at the start point.
    Gradcheck {
        /// Experiment options.
        #[command(flatten)]
        exp: ExpArgs,
    },
    /// Benchmarks (forward, gradient, memory) against a plain-Rust loop.
    Bench {
        /// Simulated steps.
        #[arg(long, default_value_t = 10_000)]
        steps: usize,
        /// Smaller sizes, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Which benchmarks: jr, models, bold, ratenet, soc, or all.
        #[arg(long, default_value = "all")]
        suite: String,
        /// Also write every figure as one JSON object (to FILE, default bench.json).
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "bench.json")]
        json: Option<PathBuf>,
        /// Also write the figures as Markdown tables (docs/benchmarks.md).
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
}

const SUBCOMMANDS: [&str; 10] = [
    "run",
    "simulate",
    "validate",
    "explore",
    "merge",
    "compare",
    "gradcheck",
    "bench",
    "help",
    "--help",
];

fn default_out(exp: &ExpArgs, text: &str, suffix: &str) -> PathBuf {
    if let Some(o) = &exp.out {
        return o.clone();
    }
    let from_file = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
        .ok()
        .and_then(|v| v.get("outputs")?.get("dir")?.as_str().map(PathBuf::from));
    let stem = exp
        .experiment
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or("run".into());
    from_file.unwrap_or_else(|| PathBuf::from("runs").join(format!("{stem}{suffix}")))
}

fn context(exp: &ExpArgs, suffix: &str, resume: bool) -> Result<RunContext> {
    let text = std::fs::read_to_string(&exp.experiment)
        .with_context(|| format!("cannot read experiment file {}", exp.experiment.display()))?;
    for o in &exp.overrides {
        yaml::split_override(o)?;
    }
    let backend = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("backend")?
                .as_str()
                .and_then(dynamics::BackendKind::parse)
        })
        .unwrap_or_default();
    Ok(RunContext {
        out_dir: default_out(exp, &text, suffix),
        exp_path: exp.experiment.clone(),
        text,
        overrides: exp.overrides.clone(),
        resume,
        backend,
        quiet: exp.quiet || std::env::var_os("CI").is_some(),
    })
}

fn move_aside(dir: &Path) -> Result<()> {
    if dir.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let aside = PathBuf::from(format!("{}.{stamp}.old", dir.display()));
        std::fs::rename(dir, &aside)?;
        eprintln!(
            "moved the existing {} to {}",
            dir.display(),
            aside.display()
        );
    }
    Ok(())
}

/// Dispatches `fit run` by the experiment's `model.name`.
pub fn run_experiment(ctx: &RunContext) -> Result<()> {
    let model = yaml::model_name(&ctx.exp_path, &ctx.text)?;
    if dynamics::ModelKind::from_name(&model).is_some() {
        return train::run_fit(ctx);
    }
    match systems::find(&model) {
        Some(s) => {
            std::fs::create_dir_all(&ctx.out_dir)?;
            (s.run)(ctx)
        }
        None => bail!(
            "{}: unknown model `{model}`; valid models: {}",
            ctx.exp_path.display(),
            systems::all_models().join(", ")
        ),
    }
}

/// Entry point shared by the binary and the tests: `args[0]` is the program name.
pub fn run_from_args<S: AsRef<str>>(args: &[S]) -> Result<()> {
    let mut args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    // `fit EXP.yaml …` means `fit run EXP.yaml …`.
    if args.len() > 1 && !SUBCOMMANDS.contains(&args[1].as_str()) && !args[1].starts_with('-') {
        args.insert(1, "run".into());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            print!("{e}");
            return Ok(());
        }
        Err(e) => bail!("{e}"),
    };
    match cli.command {
        Command::Run { exp, resume, fresh } => {
            let ctx = context(&exp, "", resume)?;
            if fresh {
                move_aside(&ctx.out_dir)?;
            } else if resume
                && dynamics::ModelKind::from_name(&yaml::model_name(&ctx.exp_path, &ctx.text)?)
                    .is_some()
                && crate::checkpoint::latest(&ctx.out_dir)?.is_none()
            {
                // Other systems keep their own checkpoints and check `ctx.resume` themselves.
                bail!("--resume: {} holds no checkpoint", ctx.out_dir.display());
            }
            run_experiment(&ctx)
        }
        Command::Simulate { exp } => simulate::simulate(&context(&exp, "-sim", false)?),
        Command::Validate { exp } => {
            let ctx = context(&exp, "", false)?;
            let model = yaml::model_name(&ctx.exp_path, &ctx.text)?;
            if dynamics::ModelKind::from_name(&model).is_some() {
                let setup = simulate::load(&ctx)?;
                if let Some(opt) = &setup.exp.optimization {
                    crate::optimizer::build(opt, &ctx.exp_path)?;
                    crate::optimizer::transforms(&setup, opt.bounds, &ctx.exp_path)?;
                }
                // The observation and loss settings (no simulation runs).
                let device = dynamics::f64_device(setup.backend, false);
                crate::objective::Objective::new(&setup, 1, &device, false)?;
                println!(
                    "{}: valid {model} experiment ({} coupling, {} integration): {} regions, {} steps of {} ms, history {} steps, {} free parameter(s)",
                    ctx.exp_path.display(),
                    setup.coupling.info().name,
                    setup.problem.method.tableau().name,
                    setup.n(),
                    setup.problem.steps,
                    setup.problem.dt,
                    setup.problem.horizon,
                    setup.free.len()
                );
            } else if let Some(system) = systems::find(&model) {
                (system.validate)(&ctx)?;
                println!("{}: valid {model} experiment", ctx.exp_path.display());
            } else {
                bail!(
                    "{}: unknown model `{model}`; valid models: {}",
                    ctx.exp_path.display(),
                    systems::all_models().join(", ")
                );
            }
            let tree = yaml::resolved_tree(&ctx.exp_path, &ctx.text, &ctx.overrides)?;
            print!("{}", serde_yaml_ng::to_string(&tree)?);
            Ok(())
        }
        Command::Explore { exp, shard } => {
            crate::explore::explore(&context(&exp, "-grid", false)?, shard.as_deref())
        }
        Command::Merge { dir } => crate::explore::merge(&dir),
        Command::Compare { runs, out, by } => {
            let by = compare::By::parse(&by)?;
            let out = out.unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&out)?;
            let table = compare::compare(&runs, &out, by)?;
            print!("{table}");
            println!(
                "wrote {}, {} and {}",
                out.join("compare.csv").display(),
                out.join("compare_parameters.png").display(),
                out.join("compare_loss.png").display()
            );
            Ok(())
        }
        Command::Gradcheck { exp } => crate::bench::gradcheck(&context(&exp, "", false)?),
        Command::Bench {
            steps,
            quick,
            suite,
            json,
            markdown,
        } => crate::bench::bench(
            steps,
            quick,
            &suite,
            &crate::bench::BenchOutputs { json, markdown },
        ),
    }
}
