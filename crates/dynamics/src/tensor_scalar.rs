//! A handle to a burn tensor that implements [`Scalar`]: the tensor-op oracle of every drift.
//!
//! The drift source is generic over a `Copy` scalar, and burn tensors are not `Copy`, so a
//! [`TensorScalar`] is either a constant or an index into a thread-local arena of `[B, N]`
//! tensors. [`eval_tensor`] puts the inputs into the arena, runs the drift (each operation is an
//! ordinary burn tensor op, recorded by burn's autodiff on autodiff devices), takes the outputs
//! out and clears the arena. This is the slow, obviously right path that checks the fused
//! kernels and their hand-written or tape-derived adjoints.

use crate::scalar::Scalar;
use burn::tensor::Tensor;
use std::cell::RefCell;
use std::ops::{Add, Div, Mul, Neg, Sub};

thread_local! {
    static ARENA: RefCell<Vec<Tensor<2>>> = const { RefCell::new(Vec::new()) };
}

/// A constant or a `[B, N]` tensor in the thread's arena.
#[derive(Clone, Copy, Debug)]
pub enum TensorScalar {
    /// The same number everywhere.
    Const(f64),
    /// Arena index.
    Tensor(usize),
}

use TensorScalar::{Const, Tensor as T};

fn get(i: usize) -> Tensor<2> {
    ARENA.with(|a| a.borrow()[i].clone())
}

fn put(t: Tensor<2>) -> TensorScalar {
    ARENA.with(|a| {
        let mut a = a.borrow_mut();
        a.push(t);
        T(a.len() - 1)
    })
}

macro_rules! binop {
    ($tr:ident, $f:ident, $cc:expr, $tt:expr, $tc:expr, $ct:expr) => {
        impl $tr for TensorScalar {
            type Output = Self;
            fn $f(self, o: Self) -> Self {
                match (self, o) {
                    (Const(a), Const(b)) => Const($cc(a, b)),
                    (T(a), T(b)) => put($tt(get(a), get(b))),
                    (T(a), Const(b)) => put($tc(get(a), b)),
                    (Const(a), T(b)) => put($ct(a, get(b))),
                }
            }
        }
        impl $tr<f64> for TensorScalar {
            type Output = Self;
            fn $f(self, o: f64) -> Self {
                self.$f(Const(o))
            }
        }
    };
}

binop!(
    Add,
    add,
    |a: f64, b: f64| a + b,
    |a: Tensor<2>, b| a + b,
    |a: Tensor<2>, b| a.add_scalar(b),
    |a, b: Tensor<2>| b.add_scalar(a)
);
binop!(
    Sub,
    sub,
    |a: f64, b: f64| a - b,
    |a: Tensor<2>, b| a - b,
    |a: Tensor<2>, b| a.sub_scalar(b),
    |a, b: Tensor<2>| b.neg().add_scalar(a)
);
binop!(
    Mul,
    mul,
    |a: f64, b: f64| a * b,
    |a: Tensor<2>, b| a * b,
    |a: Tensor<2>, b| a.mul_scalar(b),
    |a, b: Tensor<2>| b.mul_scalar(a)
);
// Division by a constant multiplies by its reciprocal: burn 0.22's `div_scalar` backward rounds
// the reciprocal to f32.
binop!(
    Div,
    div,
    |a: f64, b: f64| a / b,
    |a: Tensor<2>, b| a / b,
    |a: Tensor<2>, b: f64| a.mul_scalar(1.0 / b),
    |a, b: Tensor<2>| b.recip().mul_scalar(a)
);

impl Neg for TensorScalar {
    type Output = Self;
    fn neg(self) -> Self {
        match self {
            Const(a) => Const(-a),
            T(a) => put(get(a).neg()),
        }
    }
}

impl Scalar for TensorScalar {
    fn cst(v: f64) -> Self {
        Const(v)
    }
    fn exp(self) -> Self {
        match self {
            Const(a) => Const(a.exp()),
            T(a) => put(get(a).exp()),
        }
    }
    fn ln(self) -> Self {
        match self {
            Const(a) => Const(a.ln()),
            T(a) => put(get(a).log()),
        }
    }
    fn sqrt(self) -> Self {
        match self {
            Const(a) => Const(a.sqrt()),
            T(a) => put(get(a).sqrt()),
        }
    }
    fn tanh(self) -> Self {
        match self {
            Const(a) => Const(a.tanh()),
            T(a) => put(get(a).tanh()),
        }
    }
}

/// Runs `f` on tensor inputs (all `[B, N]`, `like` fixes the shape of constant outputs) and
/// returns its outputs as tensors. Clears the arena afterwards.
pub fn eval_tensor(
    inputs: &[Tensor<2>],
    n_out: usize,
    like: &Tensor<2>,
    f: impl FnOnce(&[TensorScalar], &mut [TensorScalar]),
) -> Vec<Tensor<2>> {
    ARENA.with(|a| a.borrow_mut().clear());
    let x: Vec<TensorScalar> = inputs.iter().map(|t| put(t.clone())).collect();
    let mut out = vec![Const(0.0); n_out];
    f(&x, &mut out);
    let result = out
        .into_iter()
        .map(|o| match o {
            Const(v) => like.zeros_like().add_scalar(v),
            T(i) => get(i),
        })
        .collect();
    ARENA.with(|a| a.borrow_mut().clear());
    result
}
