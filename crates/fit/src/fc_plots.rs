//! Figures of an FC fit: simulated and target FC side by side, the FC correlation over the
//! steps, and a scatter of simulated against target FC entries.

use crate::objective::{Objective, Target};
use crate::plot::{Series, line_plot, matrix_pair, scatter_plot};
use anyhow::Result;
use std::path::Path;

/// A symmetric `n × n` matrix with unit diagonal from its strict upper triangle.
fn full_matrix(upper: &[f64], n: usize) -> Vec<f64> {
    let mut m = vec![1.0; n * n];
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            m[i * n + j] = upper[k];
            m[j * n + i] = upper[k];
            k += 1;
        }
    }
    m
}

/// Writes `fc_matrices.png`, `fc_scatter.png` and (for the `fc_correlation` loss)
/// `fc_correlation.png` from the final FC upper triangle `last` and the loss per step.
pub fn write(dir: &Path, obj: &Objective, last: &[f64], step: &[f64], loss: &[f64]) -> Result<()> {
    let n = obj.sim.0.n;
    let Some(Target::Spectrum(target)) = obj.target() else {
        return Ok(());
    };
    if obj.kind == crate::config::ObservationKind::Fc && target.len() == last.len() {
        matrix_pair(
            &dir.join("fc_matrices.png"),
            ["simulated FC (final)", "target FC"],
            [&full_matrix(last, n), &full_matrix(target, n)],
            n,
            "Pearson r",
        )?;
        let diag = Series::new("identity", vec![-1.0, 1.0], vec![-1.0, 1.0]).dashed();
        scatter_plot(
            &dir.join("fc_scatter.png"),
            "FC entries: simulated against target",
            "target FC (r)",
            "simulated FC (r)",
            &[
                Series::new("region pairs", target.clone(), last.to_vec()),
                diag,
            ],
            Some(2.0),
        )?;
    }
    if obj.loss == crate::config::LossKind::FcCorrelation {
        line_plot(
            &dir.join("fc_correlation.png"),
            "FC correlation with the target",
            "step",
            "Pearson r of FC upper triangles",
            &[Series::new(
                "corr(FC_sim, FC_target)",
                step.to_vec(),
                loss.iter().map(|l| 1.0 - l).collect(),
            )],
            false,
        )?;
    }
    Ok(())
}
