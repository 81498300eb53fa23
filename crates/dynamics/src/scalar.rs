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

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

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

/// A [`Scalar`] packing [`Lanes::WIDTH`] independent `f64` values, every operation lane-wise:
/// `f64` itself (one lane) and the kernels' four-lane SIMD type. The hand-written
/// vector–Jacobian products ([`crate::NodeModel::drift_vjp`]) are written over it once, so the
/// adjoint evaluates several regions per instruction while each lane stays bit-for-bit the
/// scalar result. Unlike [`Scalar`], it is a plain value: no tape ([`crate::Rev`]) or tensor
/// ([`crate::TensorScalar`]) implements it.
pub trait Lanes: Scalar + Default + AddAssign + SubAssign + MulAssign {
    /// Number of lanes.
    const WIDTH: usize;
    /// Lane `l`.
    fn lane(self, l: usize) -> f64;
    /// Sets lane `l` to `v`.
    fn set_lane(&mut self, l: usize, v: f64);
    /// Lanes `s[0..WIDTH]`.
    fn load(s: &[f64]) -> Self;
    /// Writes the lanes to `d[0..WIDTH]`.
    fn store(self, d: &mut [f64]);
}

impl Lanes for f64 {
    const WIDTH: usize = 1;
    #[inline(always)]
    fn lane(self, _l: usize) -> f64 {
        self
    }
    #[inline(always)]
    fn set_lane(&mut self, _l: usize, v: f64) {
        *self = v;
    }
    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        s[0]
    }
    #[inline(always)]
    fn store(self, d: &mut [f64]) {
        d[0] = self;
    }
}

/// Lane `l` of every value of `v`, into `out` (the lane-by-lane default VJPs).
#[inline]
pub(crate) fn get_lane<S: Lanes>(v: &[S], l: usize, out: &mut [f64]) {
    for (o, v) in out.iter_mut().zip(v) {
        *o = v.lane(l);
    }
}

/// Sets lane `l` of every value of `v` from `from`.
#[inline]
pub(crate) fn set_lane<S: Lanes>(v: &mut [S], l: usize, from: &[f64]) {
    for (v, &f) in v.iter_mut().zip(from) {
        v.set_lane(l, f);
    }
}
