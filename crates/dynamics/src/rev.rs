//! A reverse-mode tape number: the derived vector–Jacobian product of any drift.
//!
//! [`Rev`] records every operation on a thread-local tape (two parents and their local
//! partials per entry). [`vjp`] evaluates a function of up to [`MAX_INPUTS`] inputs once on
//! the tape, seeds the outputs with `λ` and sweeps back, giving `λᵀ ∂f/∂inputs` for all inputs
//! at the cost of a few drift evaluations. The tape and the adjoint buffer are reused, so after
//! the first call nothing is allocated.
//!
//! Written by hand rather than taken from a crate: the drift must be generic over one `Copy`
//! scalar shared with the `f64` fast path and the burn tensor oracle, which no maintained AD crate
//! offers without its own number type and allocation per graph.

use crate::scalar::Scalar;
use std::cell::{Cell, RefCell};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Index marking a constant (no tape entry).
const CONST: u32 = u32::MAX;

/// Largest number of inputs (state + coupling + parameters) a [`vjp`] call takes.
pub const MAX_INPUTS: usize = 64;

/// Largest number of outputs a [`vjp`] call takes.
pub const MAX_OUTPUTS: usize = 16;

#[derive(Clone, Copy)]
struct Entry {
    a: u32,
    da: f64,
    b: u32,
    db: f64,
}

#[derive(Default)]
struct Tape {
    entries: Vec<Entry>,
    adjoint: Vec<f64>,
}

thread_local! {
    static TAPE: RefCell<Tape> = const { RefCell::new(Tape { entries: Vec::new(), adjoint: Vec::new() }) };
    /// The entries of the tape being recorded by the running [`vjp`] call (null outside one).
    /// A plain pointer in a `Cell` has no destructor, so reaching it costs one thread-local
    /// load per operation instead of a lazily initialised `RefCell` borrow.
    static RECORDING: Cell<*mut Vec<Entry>> = const { Cell::new(std::ptr::null_mut()) };
}

/// A value on the thread's tape (or a constant).
#[derive(Clone, Copy, Debug)]
pub struct Rev {
    /// The value.
    pub v: f64,
    i: u32,
}

impl Rev {
    #[inline]
    fn push(v: f64, a: u32, da: f64, b: u32, db: f64) -> Self {
        if a == CONST && b == CONST {
            return Self { v, i: CONST };
        }
        let entries = RECORDING.with(|r| r.get());
        assert!(
            !entries.is_null(),
            "a Rev operation outside dynamics::rev::vjp"
        );
        // SAFETY: the pointer is set by `vjp` to the thread's tape, which it keeps mutably
        // borrowed (and nothing else touches) for the duration of the recorded closure, and
        // cleared before the borrow ends.
        let entries = unsafe { &mut *entries };
        entries.push(Entry { a, da, b, db });
        Self {
            v,
            i: (entries.len() - 1) as u32,
        }
    }

    #[inline]
    fn unary(self, v: f64, d: f64) -> Self {
        Self::push(v, self.i, d, CONST, 0.0)
    }
}

impl Add for Rev {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        Self::push(self.v + o.v, self.i, 1.0, o.i, 1.0)
    }
}
impl Sub for Rev {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        Self::push(self.v - o.v, self.i, 1.0, o.i, -1.0)
    }
}
impl Mul for Rev {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        Self::push(self.v * o.v, self.i, o.v, o.i, self.v)
    }
}
impl Div for Rev {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let q = self.v / o.v;
        Self::push(q, self.i, 1.0 / o.v, o.i, -q / o.v)
    }
}
impl Neg for Rev {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        self.unary(-self.v, -1.0)
    }
}
impl Add<f64> for Rev {
    type Output = Self;
    #[inline]
    fn add(self, o: f64) -> Self {
        self.unary(self.v + o, 1.0)
    }
}
impl Sub<f64> for Rev {
    type Output = Self;
    #[inline]
    fn sub(self, o: f64) -> Self {
        self.unary(self.v - o, 1.0)
    }
}
impl Mul<f64> for Rev {
    type Output = Self;
    #[inline]
    fn mul(self, o: f64) -> Self {
        self.unary(self.v * o, o)
    }
}
impl Div<f64> for Rev {
    type Output = Self;
    #[inline]
    fn div(self, o: f64) -> Self {
        self.unary(self.v / o, 1.0 / o)
    }
}

impl Scalar for Rev {
    #[inline]
    fn cst(v: f64) -> Self {
        Self { v, i: CONST }
    }
    #[inline]
    fn exp(self) -> Self {
        let e = crate::exp::exp(self.v);
        self.unary(e, e)
    }
    #[inline]
    fn ln(self) -> Self {
        self.unary(self.v.ln(), 1.0 / self.v)
    }
    #[inline]
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.unary(s, 0.5 / s)
    }
    #[inline]
    fn tanh(self) -> Self {
        let t = self.v.tanh();
        self.unary(t, 1.0 - t * t)
    }
}

/// Reverse-mode vector–Jacobian product: evaluates `f(inputs) -> outputs` on the tape and adds
/// `λᵀ ∂outputs/∂inputs` to `grad` (one entry per input). Returns nothing else; the outputs'
/// values are written to `values` when it is given.
pub fn vjp(
    inputs: &[f64],
    lam: &[f64],
    grad: &mut [f64],
    values: Option<&mut [f64]>,
    f: impl FnOnce(&[Rev], &mut [Rev]),
) {
    let (ni, no) = (inputs.len(), lam.len());
    assert!(ni <= MAX_INPUTS && no <= MAX_OUTPUTS && grad.len() == ni);
    TAPE.with(|t| {
        let t = &mut *t.borrow_mut();
        t.entries.clear();
        for _ in 0..ni {
            t.entries.push(Entry {
                a: CONST,
                da: 0.0,
                b: CONST,
                db: 0.0,
            });
        }
        let mut x = [Rev::cst(0.0); MAX_INPUTS];
        for (k, v) in inputs.iter().enumerate() {
            x[k] = Rev { v: *v, i: k as u32 };
        }
        let mut out = [Rev::cst(0.0); MAX_OUTPUTS];
        /// Clears the recording pointer even if `f` panics.
        struct Stop;
        impl Drop for Stop {
            fn drop(&mut self) {
                RECORDING.with(|r| r.set(std::ptr::null_mut()));
            }
        }
        {
            RECORDING.with(|r| r.set(&mut t.entries as *mut _));
            let _stop = Stop;
            f(&x[..ni], &mut out[..no]);
        }
        if let Some(values) = values {
            for (v, o) in values.iter_mut().zip(&out[..no]) {
                *v = o.v;
            }
        }
        let len = t.entries.len();
        t.adjoint.clear();
        t.adjoint.resize(len, 0.0);
        for (o, l) in out[..no].iter().zip(lam) {
            if o.i != CONST {
                t.adjoint[o.i as usize] += l;
            }
        }
        for k in (ni..len).rev() {
            let g = t.adjoint[k];
            if g == 0.0 {
                continue;
            }
            let e = t.entries[k];
            if e.a != CONST {
                t.adjoint[e.a as usize] += g * e.da;
            }
            if e.b != CONST {
                t.adjoint[e.b as usize] += g * e.db;
            }
        }
        for (g, a) in grad.iter_mut().zip(&t.adjoint[..ni]) {
            *g += a;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<S: Scalar>(x: &[S], out: &mut [S]) {
        let (a, b) = (x[0], x[1]);
        out[0] = (a * b).exp() / (b + 1.0) - a.tanh();
        out[1] = (a * a + 3.0).sqrt() * b.ln() - b / 2.0;
    }

    #[test]
    fn vjp_matches_finite_differences() {
        let x = [0.3, 1.7];
        let lam = [0.7, -1.3];
        let mut g = [0.0; 2];
        vjp(&x, &lam, &mut g, None, f::<Rev>);
        let val = |x: &[f64]| {
            let mut o = [0.0; 2];
            f::<f64>(x, &mut o);
            o[0] * lam[0] + o[1] * lam[1]
        };
        for k in 0..2 {
            let h = 1e-6;
            let (mut p, mut m) = (x, x);
            p[k] += h;
            m[k] -= h;
            let fd = (val(&p) - val(&m)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-8, "{k}: {fd} vs {}", g[k]);
        }
    }
}
