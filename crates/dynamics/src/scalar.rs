//! The number type a drift is written in.
//!
//! Every model's equations are written once, as a function generic over [`Scalar`]. The same
//! source is then instantiated three ways:
//!
//! * with `f64`: the fast path of the fused simulation kernels;
//! * with [`crate::Rev`], a reverse-mode tape number: the vector–Jacobian product with respect to
//!   the state, the coupling input and every parameter;
//! * with [`crate::TensorScalar`], a handle to a burn tensor: the per-step tensor-op oracle that
//!   burn's own autodiff differentiates.
//!
//! Constants enter through `x * 2.0`, `x + 1.0` or [`Scalar::cst`]; with `f64` these compile to
//! exactly the arithmetic a hand-written drift would do, so the fast path loses nothing.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Arithmetic a drift may use. `Copy` so that equations read like the paper's.
pub trait Scalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
{
    /// A constant.
    fn cst(v: f64) -> Self;
    /// `eˣ`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `1 / x`.
    fn recip(self) -> Self {
        Self::cst(1.0) / self
    }
    /// `x²`.
    fn square(self) -> Self {
        self * self
    }
}

impl Scalar for f64 {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn exp(self) -> Self {
        // The engine's own exp, so the four-lane kernels equal the scalar ones bit for bit.
        crate::exp::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
}
