//! Linear stability of fixed points: eigenvalues of the Jacobian (faer) and their classification.

use crate::error::LowdimError;
use faer::{Mat, c64};

/// Eigenvalues of a dense real `n × n` matrix (row-major), by faer's real Schur-based solver,
/// sorted by decreasing real part, then decreasing imaginary part.
pub fn eigenvalues(m: &[f64], n: usize) -> Result<Vec<c64>, LowdimError> {
    if m.len() != n * n {
        return Err(LowdimError::Shape {
            what: "square matrix",
            expected: n * n,
            got: m.len(),
        });
    }
    let mat = Mat::<f64>::from_fn(n, n, |i, j| m[i * n + j]);
    let mut eig = mat
        .eigenvalues()
        .map_err(|e| LowdimError::LinearAlgebra(format!("eigenvalues did not converge: {e:?}")))?;
    eig.sort_by(|a, b| b.re.total_cmp(&a.re).then(b.im.total_cmp(&a.im)));
    Ok(eig)
}

/// Spectral abscissa `max Re λ`.
pub fn spectral_abscissa(eig: &[c64]) -> f64 {
    eig.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max)
}

/// Type of a hyperbolic fixed point from the eigenvalues of its Jacobian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stability {
    /// All `Re λ < 0`, all eigenvalues real.
    StableNode,
    /// All `Re λ < 0`, some complex pair (trajectories spiral in).
    StableFocus,
    /// All `Re λ > 0`, all eigenvalues real.
    UnstableNode,
    /// All `Re λ > 0`, some complex pair.
    UnstableFocus,
    /// Real parts of both signs.
    Saddle,
    /// Some `|Re λ| ≤ tol`: linearisation does not decide (centre, fold, Hopf point).
    NonHyperbolic,
}

impl Stability {
    /// Whether small perturbations decay.
    pub fn is_stable(self) -> bool {
        matches!(self, Self::StableNode | Self::StableFocus)
    }

    /// Lower-case name (`stable_focus`, `saddle`, …) for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::StableNode => "stable_node",
            Self::StableFocus => "stable_focus",
            Self::UnstableNode => "unstable_node",
            Self::UnstableFocus => "unstable_focus",
            Self::Saddle => "saddle",
            Self::NonHyperbolic => "non_hyperbolic",
        }
    }
}

/// Classifies eigenvalues; `tol` is the threshold on `|Re λ|` and `|Im λ|` below which a part
/// counts as zero (relative to `max(1, max |λ|)`).
pub fn classify(eig: &[c64], tol: f64) -> Stability {
    let scale = eig.iter().map(|z| z.norm()).fold(1.0, f64::max);
    let tol = tol * scale;
    if eig.iter().any(|z| z.re.abs() <= tol) {
        return Stability::NonHyperbolic;
    }
    let complex = eig.iter().any(|z| z.im.abs() > tol);
    let all_neg = eig.iter().all(|z| z.re < 0.0);
    let all_pos = eig.iter().all(|z| z.re > 0.0);
    match (all_neg, all_pos, complex) {
        (true, _, false) => Stability::StableNode,
        (true, _, true) => Stability::StableFocus,
        (_, true, false) => Stability::UnstableNode,
        (_, true, true) => Stability::UnstableFocus,
        _ => Stability::Saddle,
    }
}
