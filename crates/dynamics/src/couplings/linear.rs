//! TVB's `Linear` coupling: `c_i = a·Σ_j w_ij x_j(t − τ_ij) + b`, per coupling variable.

use crate::coupling::CouplingFunction;
use crate::model::ParamInfo;
use crate::scalar::{Lanes, Scalar};

/// `Linear` (tvb-library `coupling.Linear`): pre = `x_j`, post = `a·Σ + b`.
pub struct Linear;

impl CouplingFunction for Linear {
    const NAME: &'static str = "Linear";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            name: "a",
            default: 0.00390625,
            unit: "1",
            domain: (0.0, 1.0),
            doc: "global coupling strength (rescales the connectome)",
        },
        ParamInfo {
            name: "b",
            default: 0.0,
            unit: "1",
            domain: (-1.0, 1.0),
            doc: "offset added to every coupling input",
        },
    ];

    fn channels(ncvar: usize) -> Result<usize, String> {
        Ok(ncvar)
    }

    #[inline(always)]
    fn pre<S: Scalar>(x: &[S], _p: &[S], out: &mut [S]) {
        out[..x.len()].copy_from_slice(x);
    }

    #[inline(always)]
    fn post<S: Scalar>(sum: &[S], _x_i: &[S], _rowsum: f64, p: &[S], out: &mut [S]) {
        for (o, s) in out.iter_mut().zip(sum) {
            *o = p[0] * *s + p[1];
        }
    }

    // Hand-written because they run N times per step in the adjoint (the tape costs more than
    // the arithmetic); the coupling suite checks them against the derived ones.
    #[inline]
    fn pre_vjp<S: Lanes>(_x: &[S], _p: &[S], g: &[S], gx: &mut [S], _gp: &mut [S]) {
        for (a, b) in gx.iter_mut().zip(g) {
            *a += *b;
        }
    }

    #[inline]
    fn post_vjp(
        sum: &[f64],
        _x_i: &[f64],
        _rowsum: f64,
        p: &[f64],
        g: &[f64],
        gsum: &mut [f64],
        _gx: &mut [f64],
        gp: &mut [f64],
    ) {
        for k in 0..sum.len() {
            gsum[k] += p[0] * g[k];
            gp[0] += g[k] * sum[k];
            gp[1] += g[k];
        }
    }
}
