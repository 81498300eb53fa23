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
    /// Memory budget: refuse runs whose arrays would need more (`8G`, `500M`; default: half
    /// the machine's memory).
    #[arg(long, global = true, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Work budget in state-variable updates: refuse longer runs (`1e13`; default 1e12).
    #[arg(long, global = true, value_name = "UPDATES")]
    pub max_work: Option<String>,
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
        #[arg(long, conflicts_with = "resume")]
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

fn context(exp: &ExpArgs, suffix: &str, resume: bool) -> Result<RunContext> {
    RunContext::from_file(
        &exp.experiment,
        &exp.overrides,
        exp.out.clone(),
        suffix,
        resume,
        exp.quiet,
    )
}

/// Moves an existing run folder aside (`DIR.<unix time>.old`), for `--fresh`.
pub fn move_aside(dir: &Path) -> Result<()> {
    if dir.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let aside = PathBuf::from(format!("{}.{stamp}.old", dir.display()));
        std::fs::rename(dir, &aside).with_context(|| {
            format!(
                "--fresh: cannot move the run folder {} aside to {}",
                dir.display(),
                aside.display()
            )
        })?;
        eprintln!(
            "moved the existing {} to {}",
            dir.display(),
            aside.display()
        );
    }
    Ok(())
}

/// Creates a run folder, naming it (and what is in the way) when that fails.
pub fn create_run_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "cannot create the run folder {}: a file of that name exists (choose another --out)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the run folder {}", dir.display()))?;
    // A folder that exists but cannot be written fails here, not after the run.
    let probe = dir.join(format!(".fit-write-test.{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write into the run folder {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Prefixes `e` with the experiment file unless the message names it already, so every error
/// of a command that reads an experiment says which file it is about.
fn in_file(path: &Path, e: anyhow::Error) -> anyhow::Error {
    let shown = path.display().to_string();
    if format!("{e:#}").contains(&shown) {
        e
    } else {
        e.context(shown)
    }
}

/// Dispatches `fit run` by the experiment's `model.name`.
pub fn run_experiment(ctx: &RunContext) -> Result<()> {
    let model = yaml::model_name(&ctx.exp_path, &ctx.text)?;
    let network = dynamics::ModelKind::from_name(&model).is_some();
    let system = systems::find(&model);
    let _lock = if network || system.is_some() {
        // One process per run folder: a second one stops here, before writing anything.
        create_run_dir(&ctx.out_dir)?;
        Some(crate::run_dir::lock_run_dir(&ctx.out_dir)?)
    } else {
        None
    };
    if network {
        return train::run_fit(ctx);
    }
    match system {
        Some(s) => (s.run)(ctx),
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
        Err(e) => bail!("{}", e.to_string().trim_start_matches("error: ").trim_end()),
    };
    if let Some(m) = &cli.max_memory {
        crate::budget::set_max_memory(
            crate::budget::parse_size(m).map_err(|e| anyhow::anyhow!("--max-memory: {e}"))?,
        );
    }
    if let Some(w) = &cli.max_work {
        crate::budget::set_max_work(
            crate::budget::parse_count(w).map_err(|e| anyhow::anyhow!("--max-work: {e}"))?,
        );
    }
    let exp_path = match &cli.command {
        Command::Run { exp, .. }
        | Command::Simulate { exp }
        | Command::Validate { exp }
        | Command::Explore { exp, .. }
        | Command::Gradcheck { exp } => Some(exp.experiment.clone()),
        _ => None,
    };
    dispatch(cli.command).map_err(|e| match &exp_path {
        Some(p) => in_file(p, e),
        None => e,
    })
}

fn dispatch(command: Command) -> Result<()> {
    use crate::check::Purpose;
    match command {
        Command::Run { exp, resume, fresh } => {
            let ctx = context(&exp, "", resume)?;
            crate::check::experiment(&ctx, Purpose::Run)?;
            if fresh {
                move_aside(&ctx.out_dir)?;
            } else if resume
                && dynamics::ModelKind::from_name(&yaml::model_name(&ctx.exp_path, &ctx.text)?)
                    .is_some()
                && !crate::checkpoint::exists(&ctx.out_dir)?
            {
                // Other systems keep their own checkpoints and check `ctx.resume` themselves.
                bail!("--resume: {} holds no checkpoint", ctx.out_dir.display());
            }
            run_experiment(&ctx)
        }
        Command::Simulate { exp } => {
            let ctx = context(&exp, "-sim", false)?;
            crate::check::experiment(&ctx, Purpose::Simulate)?;
            simulate::simulate(&ctx)
        }
        Command::Validate { exp } => {
            let ctx = context(&exp, "", false)?;
            let model = yaml::model_name(&ctx.exp_path, &ctx.text)?;
            if dynamics::ModelKind::from_name(&model).is_some() {
                // The same pass every command runs first (no simulation runs).
                let setup = crate::check::network(&ctx, Purpose::Validate)?;
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
            } else if systems::find(&model).is_some() {
                crate::check::experiment(&ctx, Purpose::Validate)?;
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
            let ctx = context(&exp, "-grid", false)?;
            if let Some(s) = &shard {
                crate::explore::parse_shard(s)?;
            }
            crate::check::experiment(&ctx, Purpose::Explore)?;
            crate::explore::explore(&ctx, shard.as_deref())
        }
        Command::Merge { dir } => crate::explore::merge(&dir),
        Command::Compare { runs, out, by } => {
            let by = compare::By::parse(&by)?;
            if runs.is_empty() {
                bail!("fit compare: name at least one run folder");
            }
            let out = out.unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&out).with_context(|| {
                format!("compare --out: cannot create the folder {}", out.display())
            })?;
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
        Command::Gradcheck { exp } => {
            let ctx = context(&exp, "", false)?;
            crate::check::experiment(&ctx, Purpose::Gradcheck)?;
            crate::gradcheck::gradcheck(&ctx)
        }
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
