//! `fit gradcheck`: a family's gradient at the start point against central differences
//! ([`fitting::gradcheck`]), for the network models and every family that opts in.
//!
//! Fails (non-zero exit) when the loss or any gradient component, exact or finite
//! difference, is not finite: a NaN compares as "relative error 0" otherwise.

use crate::context::RunContext;
use crate::objective::{Objective, TargetFiles};
use crate::yaml::model_name;
use anyhow::{Result, bail};
use fitting::gradcheck::{Report, check};
use fitting::network::family::NetworkGradient;

/// `fit gradcheck EXP.yaml`: prints the table and the worst relative error.
pub fn gradcheck(ctx: &RunContext) -> Result<()> {
    let model = model_name(&ctx.exp_path, &ctx.text)?;
    let report = match crate::systems::find(&model) {
        Some(system) => match system.gradcheck {
            Some(f) => f(ctx)?,
            None => bail!(
                "{}: model `{model}` has no gradient check",
                ctx.exp_path.display()
            ),
        },
        None => network(ctx)?,
    };
    print_report(ctx, &report)
}

/// The network objective in natural units (no bounds transform) at the free parameters' start
/// values.
fn network(ctx: &RunContext) -> Result<Report> {
    let setup = crate::simulate::load(ctx)?;
    if setup.free.is_empty() {
        bail!(
            "{}: gradcheck: no parameter is marked `free: true`, so there is no gradient to \
             check",
            ctx.exp_path.display()
        );
    }
    let device = backend::f64_device(setup.backend, true);
    let mut obj = Objective::new(&setup, 1, &device, false)?;
    obj.set_target(&setup, &ctx.exp_path)?;
    let mut g = NetworkGradient {
        obj: &obj,
        setup: &setup,
        device,
    };
    check(&mut g, 1e-6)
}

fn print_report(ctx: &RunContext, r: &Report) -> Result<()> {
    let file = ctx.exp_path.display();
    if !r.loss.is_finite() {
        bail!(
            "{file}: gradcheck: the loss at the start point is {} (simulation, fixed point, \
             spectrum or loss formula); check the start values, the integration settings and \
             the loss",
            r.loss
        );
    }
    println!("loss {:.12} at the start point", r.loss);
    println!(
        "{:<16} {:>18} {:>18} {:>10}",
        "parameter", "exact", "central FD", "rel err"
    );
    for e in &r.entries {
        println!(
            "{:<16} {:>18.10e} {:>18.10e} {:>10.2e}",
            e.name, e.analytic, e.central, e.relative_error
        );
    }
    let bad: Vec<String> = r
        .non_finite()
        .iter()
        .map(|e| {
            format!(
                "{} (exact {}, central FD {})",
                e.name, e.analytic, e.central
            )
        })
        .collect();
    if !bad.is_empty() {
        bail!(
            "{file}: gradcheck: non-finite gradient for {}; the loss is finite, so look at the \
             parameters' start values and bounds and at the loss",
            bad.join(", ")
        );
    }
    println!("worst relative error {:.2e}", r.worst());
    Ok(())
}
