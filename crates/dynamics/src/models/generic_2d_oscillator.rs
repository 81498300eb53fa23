//! The generic two-dimensional oscillator (a FitzHugh–Nagumo-like planar system with a cubic
//! `V` nullcline and a configurable, up to parabolic, `W` nullcline).
//!
//! State per region: `V` (fast variable) and `W` (slow variable), both dimensionless and
//! unbounded. With `V2 = V·V`:
//!
//! ```text
//! dV = d tau (alpha W − f V2 V + e V2 + g V + gamma I + gamma c)
//! dW = d (a + b V + c_W V2 − beta W) / tau
//! ```
//!
//! where `c` is the long-range coupling input and `c_W` the parameter named `c`. Time in ms
//! (`d` is the temporal scale factor; `tau` the time-scale separation of `V` and `W`). The
//! coupling reads `V` (TVB's `cvar = [0]`); the drift uses the first coupling input.
//!
//! Defaults are tvb-library's: the excitable configuration (`a = −2`, `b = −10`, `c = 0`,
//! `d = 0.02`, `I = 0`); `a = 2` gives the limit cycle. `gamma` scales both `I` and the
//! long-range input (TVB's device for the FitzHugh–Nagumo sign convention). TVB's
//! `local_coupling` term (`+ local_coupling V` inside the `dV` bracket, not scaled by `gamma`)
//! exists only for surface simulations and is 0 for regions, so it is omitted. The arithmetic
//! follows tvb-library's operation order so that deterministic runs agree with it to rounding.
//!
//! References: Sanz-Leon, Knock, Spiegler & Jirsa (2015), NeuroImage 111:385–430; FitzHugh
//! (1961), Biophys. J. 1:445–466; Nagumo, Arimoto & Yoshizawa (1962), Proc. IRE 50:2061–2070;
//! tvb-library `models.oscillator.Generic2dOscillator`.

use crate::model::{NodeModel, ParamInfo, StateInfo, param as p};
use crate::scalar::Scalar;

/// The generic 2d oscillator of The Virtual Brain (Sanz-Leon et al. 2015).
pub struct Generic2dOscillator;

impl NodeModel for Generic2dOscillator {
    const NAME: &'static str = "Generic2dOscillator";
    const STATE: &'static [StateInfo] = &[StateInfo::free("V"), StateInfo::free("W")];
    const CVAR: &'static [usize] = &[0];
    const N_COUPLING: usize = 1;
    const VOI: usize = 0;
    const PARAMS: &'static [ParamInfo] = &[
        p("tau", 1.0, "1", (1.0, 5.0), "time-scale hierarchy between V and W (1 = none)"),
        p("I", 0.0, "1", (-5.0, 5.0), "baseline shift of the cubic nullcline (external input)"),
        p("a", -2.0, "1", (-5.0, 5.0), "vertical shift of the configurable (W) nullcline"),
        p("b", -10.0, "1", (-20.0, 15.0), "linear slope of the configurable nullcline"),
        p("c", 0.0, "1", (-10.0, 10.0), "parabolic term of the configurable nullcline"),
        p("d", 0.02, "1", (0.0001, 1.0), "temporal scale factor"),
        p("e", 3.0, "1", (-5.0, 5.0), "quadratic coefficient of the cubic nullcline"),
        p("f", 1.0, "1", (-5.0, 5.0), "cubic coefficient of the cubic nullcline"),
        p("g", 0.0, "1", (-5.0, 5.0), "linear coefficient of the cubic nullcline"),
        p("alpha", 1.0, "1", (-5.0, 5.0), "feedback rate of the slow (W) onto the fast (V)"),
        p("beta", 1.0, "1", (-5.0, 5.0), "self-feedback rate of W"),
        p("gamma", 1.0, "1", (-1.0, 1.0), "gain of I and of the long-range coupling"),
    ];
    const REFERENCE: &'static str = "Sanz-Leon et al. (2015), NeuroImage 111:385-430";
    const DT: f64 = 0.1;
    const INITIAL: &'static [f64] = &[0.1, 0.1];

    #[allow(non_snake_case)]
    #[inline(always)]
    fn drift<S: Scalar>(x: &[S], coupling: &[S], p: &[S], dx: &mut [S]) {
        let (tau, I, a, b, c, d) = (p[0], p[1], p[2], p[3], p[4], p[5]);
        let (e, f, g, alpha, beta, gamma) = (p[6], p[7], p[8], p[9], p[10], p[11]);
        let (V, W) = (x[0], x[1]);
        let c0 = coupling[0];
        let V2 = V * V;
        dx[0] = d * tau * (alpha * W - f * V2 * V + e * V2 + g * V + gamma * I + gamma * c0);
        dx[1] = d * (a + b * V + c * V2 - beta * W) / tau;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelInfo;

    #[test]
    #[allow(non_snake_case)]
    fn drift_matches_tvb_formula() {
        let info = ModelInfo::of::<Generic2dOscillator>();
        let mut p = info.defaults();
        // Non-trivial values for the parameters that are 0 by default.
        p[info.param_index("I").unwrap()] = 0.3;
        p[info.param_index("c").unwrap()] = 0.7;
        p[info.param_index("g").unwrap()] = -0.4;
        p[info.param_index("tau").unwrap()] = 1.5;
        let q = |n: &str| p[info.param_index(n).unwrap()];
        let (V, W, c0) = (0.8, -1.3, 0.25);
        let mut dx = [0.0; 2];
        Generic2dOscillator::drift(&[V, W], &[c0], &p, &mut dx);

        let V2 = V * V;
        let dV = q("d")
            * q("tau")
            * (q("alpha") * W - q("f") * V2 * V + q("e") * V2 + q("g") * V + q("gamma") * q("I")
                + q("gamma") * c0);
        let dW = q("d") * (q("a") + q("b") * V + q("c") * V2 - q("beta") * W) / q("tau");
        assert_eq!(dx, [dV, dW]);
        // Hand-computed value: dV = 0.02·1.5·(−1.3 − 0.512 + 1.92 − 0.32 + 0.3 + 0.25).
        assert!((dx[0] - 0.02 * 1.5 * 0.338).abs() < 1e-14);
    }
}
