//! Errors of the SOC crate.

use thiserror::Error;

/// Invalid input or a failed numerical step.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SocError {
    /// A matrix that must be square is not.
    #[error("matrix must be square, got {rows} × {cols}")]
    NotSquare {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A matrix contains NaN or infinite entries.
    #[error("matrix contains NaN or infinite entries")]
    NonFinite,
    /// The Schur decomposition failed to converge.
    #[error("the real Schur decomposition did not converge")]
    SchurFailed,
    /// A Lyapunov equation had no finite solution (W − sI not stable).
    #[error("Lyapunov solve failed: W − sI must be stable (s = {s} ≤ α = {alpha})")]
    NotStable {
        /// The shift.
        s: f64,
        /// The spectral abscissa.
        alpha: f64,
    },
    /// The network size must be even (half excitatory, half inhibitory) and ≥ 2.
    #[error("network size N must be even and ≥ 2 (half excitatory, half inhibitory), got {0}")]
    OddSize(usize),
    /// A configuration value is out of range.
    #[error("invalid configuration: {name} = {value} must be {expected}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Given value.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// The initial weight matrix has the wrong shape.
    #[error("initial weight matrix W0 must be {expected} × {expected}, got {rows} × {cols}")]
    WrongShape {
        /// Expected N.
        expected: usize,
        /// Rows of W0.
        rows: usize,
        /// Columns of W0.
        cols: usize,
    },
    /// The initial weight matrix violates Dale's law.
    #[error(
        "initial weight matrix W0 violates Dale's law at ({row}, {col}) = {value}: \
         columns 0..{half} (excitatory) must be ≥ 0 and the rest (inhibitory) ≤ 0"
    )]
    WrongSign {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The offending value.
        value: f64,
        /// N/2.
        half: usize,
    },
    /// The root finder for the smoothed spectral abscissa did not converge.
    #[error("smoothed spectral abscissa: root finder did not converge ({0})")]
    RootFinding(String),
}
