//! The registered coupling functions, one file each.
//!
//! Adding a coupling: write `couplings/<name>.rs` implementing
//! [`crate::coupling::CouplingFunction`] and add one line to the `couplings!` list below.

use crate::coupling::{CouplingFunction, CouplingInfo};

/// Runs generic code for a coupling chosen at run time (see [`crate::ModelVisitor`]).
pub trait CouplingVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the concrete coupling type.
    fn visit<C: CouplingFunction>(self) -> Self::Output;
}
use crate::tensor_scalar::eval_tensor;
use burn::tensor::Tensor;

macro_rules! couplings {
    ($($ty:ident => $module:ident),* $(,)?) => {
        $(mod $module; pub use $module::$ty;)*

        /// A registered coupling, chosen at run time by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CouplingKind {
            $(#[doc = concat!("[`", stringify!($ty), "`]")] $ty,)*
        }

        impl CouplingKind {
            /// Every registered coupling.
            pub const ALL: &'static [CouplingKind] = &[$(CouplingKind::$ty),*];

            /// Runs `v` with the concrete coupling type.
            pub fn visit<V: CouplingVisitor>(self, v: V) -> V::Output {
                match self { $(Self::$ty => v.visit::<$ty>()),* }
            }

            /// Its description.
            pub fn info(self) -> CouplingInfo {
                match self { $(Self::$ty => CouplingInfo::of::<$ty>()),* }
            }

            /// `pre` of one source in `f64`.
            #[inline]
            pub fn pre(self, x: &[f64], p: &[f64], out: &mut [f64]) {
                match self { $(Self::$ty => <$ty>::pre::<f64>(x, p, out)),* }
            }

            /// `post` of one target in `f64`.
            #[inline]
            pub fn post(self, sum: &[f64], x_i: &[f64], rowsum: f64, p: &[f64], out: &mut [f64]) {
                match self { $(Self::$ty => <$ty>::post::<f64>(sum, x_i, rowsum, p, out)),* }
            }

            /// VJP of `pre`.
            #[inline]
            pub fn pre_vjp(self, x: &[f64], p: &[f64], g: &[f64], gx: &mut [f64], gp: &mut [f64]) {
                match self { $(Self::$ty => <$ty>::pre_vjp(x, p, g, gx, gp)),* }
            }

            /// VJP of `post`.
            #[inline]
            pub fn post_vjp(
                self, sum: &[f64], x_i: &[f64], rowsum: f64, p: &[f64], g: &[f64],
                gsum: &mut [f64], gx: &mut [f64], gp: &mut [f64],
            ) {
                match self { $(Self::$ty => <$ty>::post_vjp(sum, x_i, rowsum, p, g, gsum, gx, gp)),* }
            }

            /// The tape-derived VJP of `pre` (what a hand-written one is checked against).
            pub fn pre_vjp_derived(self, x: &[f64], p: &[f64], g: &[f64], gx: &mut [f64], gp: &mut [f64]) {
                match self { $(Self::$ty => crate::coupling::pre_vjp_derived::<$ty>(x, p, g, gx, gp)),* }
            }

            /// The tape-derived VJP of `post`.
            pub fn post_vjp_derived(
                self, sum: &[f64], x_i: &[f64], rowsum: f64, p: &[f64], g: &[f64],
                gsum: &mut [f64], gx: &mut [f64], gp: &mut [f64],
            ) {
                match self { $(Self::$ty => crate::coupling::post_vjp_derived::<$ty>(sum, x_i, rowsum, p, g, gsum, gx, gp)),* }
            }

            /// `pre` as tensor ops: `x` and `p` are `[B, N]` tensors; returns one per channel.
            pub fn pre_tensor(self, x: &[Tensor<2>], p: &[Tensor<2>], channels: usize) -> Vec<Tensor<2>> {
                let nx = x.len();
                let inputs: Vec<Tensor<2>> = x.iter().chain(p).cloned().collect();
                match self { $(Self::$ty => eval_tensor(&inputs, channels, &x[0], |v, o| <$ty>::pre(&v[..nx], &v[nx..], o))),* }
            }

            /// `post` as tensor ops.
            pub fn post_tensor(
                self, sum: &[Tensor<2>], x_i: &[Tensor<2>], rowsum: &Tensor<2>, p: &[Tensor<2>],
            ) -> Vec<Tensor<2>> {
                // The row sum varies by target, so it enters as a tensor input here: the
                // generic post takes it as a number; Difference is linear in it, so the
                // oracle multiplies by it through the coupling variables (see below).
                let (ns, nx) = (sum.len(), x_i.len());
                if self.info().uses_target_state {
                    let scaled: Vec<Tensor<2>> = x_i.iter().map(|x| x.clone() * rowsum.clone()).collect();
                    let inputs: Vec<Tensor<2>> = sum.iter().chain(&scaled).chain(p).cloned().collect();
                    return match self { $(Self::$ty => eval_tensor(&inputs, ns, &sum[0], |v, o| <$ty>::post(&v[..ns], &v[ns..ns + nx], 1.0, &v[ns + nx..], o))),* };
                }
                let inputs: Vec<Tensor<2>> = sum.iter().chain(p).cloned().collect();
                match self { $(Self::$ty => eval_tensor(&inputs, ns, &sum[0], |v, o| <$ty>::post(&v[..ns], &[], 0.0, &v[ns..], o))),* }
            }
        }
    };
}

couplings! {
    Linear => linear,
    Sigmoidal => sigmoidal,
    SigmoidalJansenRit => sigmoidal_jansen_rit,
    Difference => difference,
}

impl CouplingKind {
    /// Looks a coupling up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.info().name == name)
    }

    /// Names of all registered couplings.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.info().name).collect()
    }
}
