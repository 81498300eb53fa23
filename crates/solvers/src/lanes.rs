//! Four `f64` lanes as one [`Scalar`]: the drift of four regions (or four parameter sets) in
//! one evaluation of the model's single generic definition.
//!
//! Every operation is the lane-wise IEEE operation of `f64` — the same operations in the same
//! order as the scalar path, with no fused multiply-add (Rust never contracts `a·b + c`) — so
//! each lane is bit-for-bit what the scalar kernel computes. Arithmetic compiles to packed
//! SSE2/AVX2 instructions, and so does `exp` ([`dynamics::exp`], the one the scalar path calls
//! too); `ln` and `tanh` call the scalar libm functions per lane.

use dynamics::{Lanes, Scalar};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// Lanes per [`F64x4`].
pub const LANES: usize = 4;

/// Four `f64` lanes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C, align(32))]
pub struct F64x4(pub [f64; LANES]);

impl F64x4 {
    /// All lanes `v`.
    #[inline(always)]
    pub fn splat(v: f64) -> Self {
        Self([v; LANES])
    }

    /// Lanes `s[0..4]`.
    #[inline(always)]
    pub fn load(s: &[f64]) -> Self {
        let s = &s[..LANES];
        Self([s[0], s[1], s[2], s[3]])
    }

    /// Writes the lanes to `d[0..4]`.
    #[inline(always)]
    pub fn store(self, d: &mut [f64]) {
        d[..LANES].copy_from_slice(&self.0);
    }

    #[inline(always)]
    fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self([f(self.0[0]), f(self.0[1]), f(self.0[2]), f(self.0[3])])
    }

    #[inline(always)]
    fn zip(self, o: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        let (a, b) = (self.0, o.0);
        Self([f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])])
    }
}

macro_rules! lane_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl $tr for F64x4 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                self.zip(o, |a, b| a $op b)
            }
        }
        impl $tr<f64> for F64x4 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: f64) -> Self {
                self.map(|a| a $op o)
            }
        }
    };
}

lane_op!(Add, add, +);
lane_op!(Sub, sub, -);
lane_op!(Mul, mul, *);
lane_op!(Div, div, /);

macro_rules! lane_assign {
    ($tr:ident, $f:ident, $op:tt) => {
        impl $tr for F64x4 {
            #[inline(always)]
            fn $f(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    };
}

lane_assign!(AddAssign, add_assign, +);
lane_assign!(SubAssign, sub_assign, -);
lane_assign!(MulAssign, mul_assign, *);

impl Neg for F64x4 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.map(|a| -a)
    }
}

impl Scalar for F64x4 {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        Self::splat(v)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        Self(dynamics::exp::exp_lanes(self.0))
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.map(f64::ln)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        self.map(f64::sqrt)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        self.map(f64::tanh)
    }
}

impl Lanes for F64x4 {
    const WIDTH: usize = LANES;
    #[inline(always)]
    fn lane(self, l: usize) -> f64 {
        self.0[l]
    }
    #[inline(always)]
    fn set_lane(&mut self, l: usize, v: f64) {
        self.0[l] = v;
    }
    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        F64x4::load(s)
    }
    #[inline(always)]
    fn store(self, d: &mut [f64]) {
        F64x4::store(self, d)
    }
}

/// A number the integrator can clamp to a state variable's bounds.
pub trait Clamp: Lanes {
    /// `lo` where `self < lo`, `hi` where `self > hi`, else unchanged (NaN stays NaN), as the
    /// scalar integrator clamps.
    fn clamp_to(self, lo: f64, hi: f64) -> Self;
    /// The clamp's gradient mask: `0` where `self < lo` or `self > hi` (the clamp cut the
    /// value), else `1` (NaN included).
    fn pass(self, lo: f64, hi: f64) -> Self;
}

#[inline(always)]
fn pass_f64(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo || x > hi { 0.0 } else { 1.0 }
}

#[inline(always)]
fn clamp_f64(mut x: f64, lo: f64, hi: f64) -> f64 {
    if lo > f64::NEG_INFINITY && x < lo {
        x = lo;
    }
    if hi < f64::INFINITY && x > hi {
        x = hi;
    }
    x
}

impl Clamp for f64 {
    #[inline(always)]
    fn clamp_to(self, lo: f64, hi: f64) -> Self {
        clamp_f64(self, lo, hi)
    }
    #[inline(always)]
    fn pass(self, lo: f64, hi: f64) -> Self {
        pass_f64(self, lo, hi)
    }
}

impl Clamp for F64x4 {
    #[inline(always)]
    fn clamp_to(self, lo: f64, hi: f64) -> Self {
        self.map(|x| clamp_f64(x, lo, hi))
    }
    #[inline(always)]
    fn pass(self, lo: f64, hi: f64) -> Self {
        self.map(|x| pass_f64(x, lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_match_scalar_bit_for_bit() {
        let xs = [0.3, -1.7, 2.5e-3, 41.0];
        let f = |x: f64| Scalar::exp(x * 2.0 - 0.5) / (x * x + 1.0) + (x.abs() + 1.0).ln();
        let v = F64x4(xs);
        let g = (v * 2.0 - 0.5).exp() / (v * v + 1.0) + F64x4(xs.map(f64::abs)).add(1.0).ln();
        for l in 0..LANES {
            assert_eq!(g.0[l].to_bits(), f(xs[l]).to_bits());
        }
        let c = F64x4([-2.0, 0.5, 3.0, f64::NAN]).clamp_to(0.0, 1.0);
        assert_eq!(&c.0[..3], &[0.0, 0.5, 1.0]);
        assert!(c.0[3].is_nan());
        let m = F64x4([-2.0, 0.5, 3.0, f64::NAN]).pass(0.0, 1.0);
        assert_eq!(m.0, [0.0, 1.0, 0.0, 1.0]);
    }
}
