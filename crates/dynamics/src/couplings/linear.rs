//! TVB's `Linear` coupling: `c_i = a·Σ_j w_ij x_j(t − τ_ij) + b`, per coupling variable.

use crate::coupling::CouplingFunction;
use crate::model::ParamInfo;
use crate::scalar::Scalar;

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
}
