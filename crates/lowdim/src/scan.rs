//! Parameter scans: fixed-point counts over a 2-D grid (a bifurcation map) and Hopf points along
//! a 1-D parameter by continuation and bisection.

use crate::drift::Drift;
use crate::error::LowdimError;
use crate::fixed_points::{NewtonOptions, find_fixed_points, newton};
use crate::jacobian::drift_jacobian;
use crate::stability::eigenvalues;
use burn::tensor::Device;

/// Fixed-point counts over a grid of two parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct BifurcationMap {
    /// Values of the first parameter.
    pub xs: Vec<f64>,
    /// Values of the second parameter.
    pub ys: Vec<f64>,
    /// Number of distinct fixed points at `(xs[i], ys[j])`, index `i · ys.len() + j`.
    pub counts: Vec<usize>,
    /// Number of those that are stable, same layout.
    pub stable: Vec<usize>,
}

impl BifurcationMap {
    /// How many grid points have exactly `k` fixed points.
    pub fn points_with(&self, k: usize) -> usize {
        self.counts.iter().filter(|&&c| c == k).count()
    }
}

/// Counts fixed points of `make(x, y)` at every grid point by Newton from the same `starts`
/// (row-major `[S, dim]`), deduplicated as in [`find_fixed_points`].
pub fn count_fixed_points_grid<D, F>(
    xs: &[f64],
    ys: &[f64],
    make: F,
    starts: &[f64],
    opts: &NewtonOptions,
    device: &Device,
) -> Result<BifurcationMap, LowdimError>
where
    D: Drift,
    F: Fn(f64, f64) -> D,
{
    let mut counts = Vec::with_capacity(xs.len() * ys.len());
    let mut stable = Vec::with_capacity(xs.len() * ys.len());
    for &x in xs {
        for &y in ys {
            let fps = find_fixed_points(&make(x, y), starts, opts, device)?;
            counts.push(fps.len());
            stable.push(fps.iter().filter(|p| p.stability.is_stable()).count());
        }
    }
    Ok(BifurcationMap {
        xs: xs.to_vec(),
        ys: ys.to_vec(),
        counts,
        stable,
    })
}

/// A point on a branch of fixed points: parameter, location and the largest real part among
/// the eigenvalues with nonzero imaginary part (`−∞` if all are real).
#[derive(Debug, Clone, PartialEq)]
struct BranchPoint {
    p: f64,
    x: Vec<f64>,
    oscillatory_abscissa: f64,
}

fn branch_point<D: Drift, F: Fn(f64) -> D>(
    make: &F,
    p: f64,
    guess: &[f64],
    opts: &NewtonOptions,
    device: &Device,
) -> Result<BranchPoint, LowdimError> {
    let model = make(p);
    let run = newton(&model, guess, opts, device)?.remove(0);
    if !run.converged {
        return Err(LowdimError::NotFound(format!(
            "continuation lost the branch at parameter {p} (residual {:.3e})",
            run.residual
        )));
    }
    let dim = model.dim();
    let eig = eigenvalues(&drift_jacobian(&model, 0.0, &run.x, device), dim)?;
    let scale = eig.iter().map(|z| z.norm()).fold(1.0, f64::max);
    let oscillatory_abscissa = eig
        .iter()
        .filter(|z| z.im.abs() > 1e-12 * scale)
        .map(|z| z.re)
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(BranchPoint {
        p,
        x: run.x,
        oscillatory_abscissa,
    })
}

/// Hopf points of the branch of fixed points through `start` as the parameter runs over
/// `params` (increasing): natural continuation (Newton from the previous point), then bisection
/// to `tol` wherever a complex-conjugate pair crosses the imaginary axis.
pub fn hopf_points<D, F>(
    make: F,
    params: &[f64],
    start: &[f64],
    opts: &NewtonOptions,
    tol: f64,
    device: &Device,
) -> Result<Vec<f64>, LowdimError>
where
    D: Drift,
    F: Fn(f64) -> D,
{
    if params.len() < 2 {
        return Err(LowdimError::Shape {
            what: "continuation grid",
            expected: 2,
            got: params.len(),
        });
    }
    let mut hopf = Vec::new();
    let mut prev = branch_point(&make, params[0], start, opts, device)?;
    for &p in &params[1..] {
        let next = branch_point(&make, p, &prev.x, opts, device)?;
        let (a, b) = (prev.oscillatory_abscissa, next.oscillatory_abscissa);
        if a.is_finite() && b.is_finite() && (a < 0.0) != (b < 0.0) {
            let (mut lo, mut hi) = (prev.clone(), next.clone());
            while (hi.p - lo.p).abs() > tol {
                let mid = branch_point(&make, 0.5 * (lo.p + hi.p), &lo.x, opts, device)?;
                if (mid.oscillatory_abscissa < 0.0) == (lo.oscillatory_abscissa < 0.0) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            hopf.push(0.5 * (lo.p + hi.p));
        }
        prev = next;
    }
    Ok(hopf)
}
