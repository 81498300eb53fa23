//! The crate's error type.

use thiserror::Error;

/// Errors returned for bad input to the models and tools of this crate.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LowdimError {
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A state, matrix or data buffer has the wrong size.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: &'static str,
        /// Expected number of elements.
        expected: usize,
        /// Number given.
        got: usize,
    },
    /// An eigenvalue or linear solve did not converge or the matrix is singular.
    #[error("linear algebra failed: {0}")]
    LinearAlgebra(String),
    /// A search (fixed points, Hopf points, periods) found nothing usable.
    #[error("{0}")]
    NotFound(String),
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, LowdimError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(LowdimError::InvalidParameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}

/// Checks that `value` is finite.
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64, LowdimError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(LowdimError::InvalidParameter {
            name,
            value,
            reason: "must be finite",
        })
    }
}
