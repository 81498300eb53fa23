//! Fixed points `f(x*) = 0` by Newton's method with the autodiff Jacobian, from many starts.
//!
//! All starts advance together as one batch: each iteration is one batched drift evaluation,
//! one backward pass for all Jacobians ([`crate::jacobian`]), a small dense solve per start
//! (faer LU) and a batched backtracking line search on `‖f‖₂` (steps `1, ½, ¼, …`), which keeps
//! Newton from being thrown out of the basin by a nearly singular Jacobian. Converged points
//! are deduplicated; each keeps its residual, Jacobian eigenvalues and classification.

use crate::drift::{Drift, eval_drift};
use crate::error::LowdimError;
use crate::jacobian::drift_jacobian;
use crate::stability::{Stability, classify, eigenvalues};
use burn::tensor::Device;
use faer::c64;
use faer::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Options of the Newton solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonOptions {
    /// Maximum Newton iterations per start.
    pub max_iter: usize,
    /// A start has converged when `‖f(x)‖₂ ≤ tol`.
    pub tol: f64,
    /// Extra full Newton steps after convergence (kept only if the residual does not grow):
    /// they take `x` to the floating-point limit.
    pub polish_steps: usize,
    /// Two converged points closer than `dedup_tol · (1 + ‖x‖)` are the same fixed point.
    pub dedup_tol: f64,
    /// Starts whose iterate leaves the ball `‖x‖ ≤ max_norm` are abandoned.
    pub max_norm: f64,
    /// Halvings tried by the line search.
    pub line_search_halvings: usize,
}

impl Default for NewtonOptions {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tol: 1e-13,
            polish_steps: 2,
            dedup_tol: 1e-7,
            max_norm: 1e6,
            line_search_halvings: 12,
        }
    }
}

/// The outcome of Newton from one start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonRun {
    /// Final iterate.
    pub x: Vec<f64>,
    /// `‖f(x)‖₂` at the final iterate.
    pub residual: f64,
    /// Newton iterations taken.
    pub iterations: usize,
    /// Whether `residual ≤ tol`.
    pub converged: bool,
}

/// A distinct fixed point with its linear stability.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoint {
    /// Location `x*`.
    pub x: Vec<f64>,
    /// `‖f(x*)‖₂`.
    pub residual: f64,
    /// Number of starts that converged to it.
    pub hits: usize,
    /// Eigenvalues of the Jacobian at `x*`, by decreasing real part.
    pub eigenvalues: Vec<c64>,
    /// Classification from the eigenvalues.
    pub stability: Stability,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Solves `J δ = −f` for one start; `None` if the result is not finite (singular `J`).
fn newton_direction(jac: &[f64], f: &[f64], dim: usize) -> Option<Vec<f64>> {
    let a = Mat::<f64>::from_fn(dim, dim, |i, j| jac[i * dim + j]);
    let rhs = Mat::<f64>::from_fn(dim, 1, |i, _| -f[i]);
    let sol = a.partial_piv_lu().solve(&rhs);
    let d: Vec<f64> = (0..dim).map(|i| sol[(i, 0)]).collect();
    d.iter().all(|v| v.is_finite()).then_some(d)
}

/// Runs damped Newton from every start (row-major `[S, dim]`) at `t = 0`.
pub fn newton<D: Drift + ?Sized>(
    model: &D,
    starts: &[f64],
    opts: &NewtonOptions,
    device: &Device,
) -> Result<Vec<NewtonRun>, LowdimError> {
    let dim = model.dim();
    if starts.is_empty() || !starts.len().is_multiple_of(dim) {
        return Err(LowdimError::Shape {
            what: "Newton starts",
            expected: dim,
            got: starts.len(),
        });
    }
    let n_starts = starts.len() / dim;
    let mut runs: Vec<NewtonRun> = starts
        .chunks(dim)
        .map(|x| NewtonRun {
            x: x.to_vec(),
            residual: f64::INFINITY,
            iterations: 0,
            converged: false,
        })
        .collect();
    // Residuals of all starts.
    let f0 = eval_drift(model, 0.0, starts, device);
    for (r, f) in runs.iter_mut().zip(f0.chunks(dim)) {
        r.residual = norm(f);
        r.converged = r.residual <= opts.tol;
    }
    // Rows still iterating, with the number of polish steps left once converged.
    let mut polish_left = vec![opts.polish_steps; n_starts];
    let mut dead = vec![false; n_starts];
    for _ in 0..opts.max_iter + opts.polish_steps {
        let active: Vec<usize> = (0..n_starts)
            .filter(|&s| !dead[s] && (!runs[s].converged || polish_left[s] > 0))
            .collect();
        if active.is_empty() {
            break;
        }
        let xs: Vec<f64> = active.iter().flat_map(|&s| runs[s].x.clone()).collect();
        let fx = eval_drift(model, 0.0, &xs, device);
        let jac = drift_jacobian(model, 0.0, &xs, device);
        // Trial points x + 2^-k δ for every active start, evaluated in one batch.
        let halvings = opts.line_search_halvings.max(1);
        let mut dirs: Vec<Option<Vec<f64>>> = Vec::with_capacity(active.len());
        let mut trials = Vec::with_capacity(active.len() * halvings * dim);
        for (a, &s) in active.iter().enumerate() {
            let d = newton_direction(
                &jac[a * dim * dim..(a + 1) * dim * dim],
                &fx[a * dim..(a + 1) * dim],
                dim,
            );
            let x = &runs[s].x;
            for k in 0..halvings {
                let alpha = 0.5f64.powi(k as i32);
                for i in 0..dim {
                    trials.push(x[i] + alpha * d.as_ref().map_or(0.0, |d| d[i]));
                }
            }
            dirs.push(d);
        }
        let ft = eval_drift(model, 0.0, &trials, device);
        for (a, &s) in active.iter().enumerate() {
            let run = &mut runs[s];
            run.iterations += 1;
            if dirs[a].is_none() {
                dead[s] = true;
                continue;
            }
            let f_old = norm(&fx[a * dim..(a + 1) * dim]);
            let base = a * halvings;
            let res = |k: usize| norm(&ft[(base + k) * dim..(base + k + 1) * dim]);
            let point = |k: usize| trials[(base + k) * dim..(base + k + 1) * dim].to_vec();
            if run.converged {
                // Polishing: a full step, kept only if it does not make things worse.
                polish_left[s] -= 1;
                let r = res(0);
                if r <= run.residual {
                    run.x = point(0);
                    run.residual = r;
                }
                continue;
            }
            // Armijo-type sufficient decrease. If no trial step decreases the residual, `x` sits
            // near a local minimum of ‖f‖ (where J is nearly singular, the place Adam stalls):
            // take the full Newton step anyway, which jumps out instead of crawling.
            let k = (0..halvings)
                .find(|&k| res(k) <= (1.0 - 1e-4 * 0.5f64.powi(k as i32)) * f_old)
                .unwrap_or_else(|| {
                    let best = (0..halvings)
                        .min_by(|&a, &b| res(a).total_cmp(&res(b)))
                        .unwrap_or(0);
                    if res(best) < f_old { best } else { 0 }
                });
            run.x = point(k);
            run.residual = res(k);
            run.converged = run.residual <= opts.tol;
            if !run.residual.is_finite() || norm(&run.x) > opts.max_norm {
                dead[s] = true;
            }
        }
    }
    Ok(runs)
}

/// Newton from every start, then deduplication and stability of the distinct fixed points,
/// sorted lexicographically by coordinates.
pub fn find_fixed_points<D: Drift + ?Sized>(
    model: &D,
    starts: &[f64],
    opts: &NewtonOptions,
    device: &Device,
) -> Result<Vec<FixedPoint>, LowdimError> {
    let dim = model.dim();
    let runs = newton(model, starts, opts, device)?;
    let mut unique: Vec<(Vec<f64>, f64, usize)> = Vec::new();
    for run in runs.into_iter().filter(|r| r.converged) {
        let scale = opts.dedup_tol * (1.0 + norm(&run.x));
        match unique.iter_mut().find(|(x, _, _)| {
            norm(&x.iter().zip(&run.x).map(|(a, b)| a - b).collect::<Vec<_>>()) <= scale
        }) {
            Some(entry) => {
                entry.2 += 1;
                if run.residual < entry.1 {
                    entry.0 = run.x;
                    entry.1 = run.residual;
                }
            }
            None => unique.push((run.x, run.residual, 1)),
        }
    }
    unique.sort_by(|a, b| {
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let xs: Vec<f64> = unique.iter().flat_map(|u| u.0.clone()).collect();
    let jac = drift_jacobian(model, 0.0, &xs, device);
    unique
        .into_iter()
        .enumerate()
        .map(|(k, (x, residual, hits))| {
            let eig = eigenvalues(&jac[k * dim * dim..(k + 1) * dim * dim], dim)?;
            let stability = classify(&eig, 1e-10);
            Ok(FixedPoint {
                x,
                residual,
                hits,
                eigenvalues: eig,
                stability,
            })
        })
        .collect()
}

/// `count` starts drawn uniformly in the box `[lo_i, hi_i]` from ChaCha8(`seed`), row-major.
pub fn uniform_starts(lo: &[f64], hi: &[f64], count: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .flat_map(|_| {
            lo.iter()
                .zip(hi)
                .map(|(&l, &h)| l + (h - l) * rng.random::<f64>())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Starts on a regular grid with `per_axis` points per coordinate over the box, row-major.
pub fn grid_starts(lo: &[f64], hi: &[f64], per_axis: usize) -> Vec<f64> {
    let dim = lo.len();
    let total = per_axis.pow(dim as u32);
    let coord = |i: usize, k: usize| {
        if per_axis == 1 {
            0.5 * (lo[i] + hi[i])
        } else {
            lo[i] + (hi[i] - lo[i]) * k as f64 / (per_axis - 1) as f64
        }
    };
    (0..total)
        .flat_map(|m| {
            let mut rest = m;
            (0..dim)
                .map(|i| {
                    let k = rest % per_axis;
                    rest /= per_axis;
                    coord(i, k)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
