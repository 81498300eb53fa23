//! `fit gradcheck`: the fit's gradient at the start point against central differences.
//!
//! Fails (non-zero exit) when the loss or any gradient component, autodiff or finite
//! difference, is not finite: a NaN compares as "relative error 0" otherwise.

use crate::context::RunContext;
use crate::objective::{Objective, TargetFiles};
use crate::train::{FitParams, column_names, evaluate};
use anyhow::{Result, bail};

/// `fit gradcheck EXP.yaml`: prints the table and the worst relative error.
pub fn gradcheck(ctx: &RunContext) -> Result<()> {
    let setup = crate::simulate::load(ctx)?;
    let file = ctx.exp_path.display();
    if setup.free.is_empty() {
        bail!(
            "{file}: gradcheck: no parameter is marked `free: true`, so there is no gradient to \
             check"
        );
    }
    let device = backend::f64_device(setup.backend, true);
    let mut obj = Objective::new(&setup, 1, &device, false)?;
    obj.set_target(&setup, &ctx.exp_path)?;
    let values: Vec<Vec<f64>> = setup.free.iter().map(|f| f.init.clone()).collect();
    let shapes: Vec<[usize; 2]> = values.iter().map(|v| [1, v.len()]).collect();
    let e = evaluate(&obj, &FitParams::from_host(&values, &shapes, &device))?;
    let names = column_names(&setup);
    if !e.losses[0].is_finite() {
        bail!(
            "{file}: gradcheck: the loss at the start point is {} (simulation, spectrum or loss \
             formula); check the start values of {}, integration.dt, observation and \
             optimization.loss",
            e.losses[0],
            names.join(", ")
        );
    }
    println!("loss {:.12} at the start point", e.losses[0]);
    println!(
        "{:<16} {:>18} {:>18} {:>10}",
        "parameter", "autodiff", "central FD", "rel err"
    );
    let flat: Vec<f64> = e.grads.iter().flatten().copied().collect();
    let mut worst: f64 = 0.0;
    let mut bad: Vec<String> = Vec::new();
    let mut col = 0;
    for (k, v) in values.iter().enumerate() {
        for i in 0..v.len() {
            let h = 1e-6 * v[i].abs().max(1e-3);
            let f = |d: f64| -> Result<f64> {
                let mut vv = values.clone();
                vv[k][i] += d;
                Ok(evaluate(&obj, &FitParams::from_host(&vv, &shapes, &device))?.losses[0])
            };
            let fd = (f(h)? - f(-h)?) / (2.0 * h);
            let rel = (flat[col] - fd).abs() / fd.abs().max(1e-300);
            if !(flat[col].is_finite() && fd.is_finite()) {
                bad.push(format!(
                    "{} (autodiff {}, central FD {})",
                    names[col], flat[col], fd
                ));
            } else {
                worst = worst.max(rel);
            }
            println!(
                "{:<16} {:>18.10e} {:>18.10e} {:>10.2e}",
                names[col], flat[col], fd, rel
            );
            col += 1;
        }
    }
    if !bad.is_empty() {
        bail!(
            "{file}: gradcheck: non-finite gradient for {}; the loss is finite, so look at the \
             parameters' start values and bounds and at optimization.loss",
            bad.join(", ")
        );
    }
    println!("worst relative error {worst:.2e}");
    Ok(())
}
