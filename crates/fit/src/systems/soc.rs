//! Experiments of the `soc` crate (placeholder until its CLI integration lands).

use crate::context::RunContext;

/// Model names this module runs (`model: {name: ...}` in the YAML).
pub const MODELS: &[&str] = &[];

/// Runs the experiment described by `ctx`.
pub fn run(ctx: &RunContext) -> anyhow::Result<()> {
    anyhow::bail!("{}: no runner for this model yet", ctx.exp_path.display())
}
