//! TVB's `Sigmoidal` coupling: a sigmoid of the summed delayed input,
//! `c_i = cmin + (cmax − cmin) / (1 + exp(−a·(Σ_j w_ij x_j(t − τ_ij) − midpoint)/σ))`.

use crate::coupling::CouplingFunction;
use crate::model::ParamInfo;
use crate::scalar::Scalar;

/// `Sigmoidal` (tvb-library `coupling.Sigmoidal`): pre = `x_j`, post = sigmoid of the sum.
pub struct Sigmoidal;

impl CouplingFunction for Sigmoidal {
    const NAME: &'static str = "Sigmoidal";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            name: "cmin",
            default: -1.0,
            unit: "1",
            domain: (-1000.0, 1000.0),
            doc: "minimum of the sigmoid",
        },
        ParamInfo {
            name: "cmax",
            default: 1.0,
            unit: "1",
            domain: (-1000.0, 1000.0),
            doc: "maximum of the sigmoid",
        },
        ParamInfo {
            name: "midpoint",
            default: 0.0,
            unit: "1",
            domain: (-1000.0, 1000.0),
            doc: "midpoint of the linear portion of the sigmoid",
        },
        ParamInfo {
            name: "a",
            default: 1.0,
            unit: "1",
            domain: (0.01, 1000.0),
            doc: "scaling of the sum (global coupling strength)",
        },
        ParamInfo {
            name: "sigma",
            default: 230.0,
            unit: "1",
            domain: (0.01, 1000.0),
            doc: "standard deviation (width) of the sigmoid",
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
        let (cmin, cmax, midpoint, a, sigma) = (p[0], p[1], p[2], p[3], p[4]);
        for (o, s) in out.iter_mut().zip(sum) {
            *o = cmin + (cmax - cmin) / ((-a * ((*s - midpoint) / sigma)).exp() + 1.0);
        }
    }
}
