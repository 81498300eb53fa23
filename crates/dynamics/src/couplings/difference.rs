//! TVB's `Difference` coupling: `c_i = a·Σ_j w_ij (x_j(t − τ_ij) − x_i(t))`.
//!
//! Evaluated as `a·(Σ_j w_ij x_j(t − τ_ij) − x_i·Σ_j w_ij)`, so that the history holds only the
//! sources' values (the sums agree with TVB's to rounding).

use crate::coupling::CouplingFunction;
use crate::model::ParamInfo;
use crate::scalar::{Lanes, Scalar};

/// `Difference` (tvb-library `coupling.Difference`): diffusive coupling.
pub struct Difference;

impl CouplingFunction for Difference {
    const NAME: &'static str = "Difference";
    const PARAMS: &'static [ParamInfo] = &[ParamInfo {
        name: "a",
        default: 0.1,
        unit: "1",
        domain: (0.0, 10.0),
        doc: "global coupling strength",
    }];
    const USES_TARGET_STATE: bool = true;

    fn channels(ncvar: usize) -> Result<usize, String> {
        Ok(ncvar)
    }

    #[inline(always)]
    fn pre<S: Scalar>(x: &[S], _p: &[S], out: &mut [S]) {
        out[..x.len()].copy_from_slice(x);
    }

    #[inline(always)]
    fn post<S: Scalar>(sum: &[S], x_i: &[S], rowsum: f64, p: &[S], out: &mut [S]) {
        for k in 0..sum.len() {
            out[k] = p[0] * (sum[k] - x_i[k] * rowsum);
        }
    }

    // Hand-written for speed, as Linear's; checked against the derived ones by the suite.
    #[inline]
    fn pre_vjp<S: Lanes>(x: &[S], p: &[S], g: &[S], gx: &mut [S], gp: &mut [S]) {
        // The same identity pre-synaptic function as Linear's.
        super::Linear::pre_vjp(x, p, g, gx, gp);
    }

    #[inline]
    fn post_vjp(
        sum: &[f64],
        x_i: &[f64],
        rowsum: f64,
        p: &[f64],
        g: &[f64],
        gsum: &mut [f64],
        gx: &mut [f64],
        gp: &mut [f64],
    ) {
        for k in 0..sum.len() {
            gsum[k] += p[0] * g[k];
            gx[k] -= p[0] * g[k] * rowsum;
            gp[0] += g[k] * (sum[k] - x_i[k] * rowsum);
        }
    }
}
