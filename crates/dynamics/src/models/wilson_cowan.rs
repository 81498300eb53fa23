//! The Wilson–Cowan model: mean firing activity of coupled excitatory (`E`) and inhibitory
//! (`I`) populations with sigmoidal response functions and refractoriness.
//!
//! State per region: `E`, `I` (fractions of active cells; dimensionless, unbounded). With
//! `sig(z) = 1 / (1 + exp(−z))` and the coupling input `c`:
//!
//! ```text
//! x_e = alpha_e (c_ee E − c_ei I + P − theta_e + c)
//! x_i = alpha_i (c_ie E − c_ii I + Q − theta_i)
//! s_e = c_e (sig(a_e (x_e − b_e)) − shift_sigmoid sig(−a_e b_e))
//! s_i = c_i (sig(a_i (x_i − b_i)) − shift_sigmoid sig(−a_i b_i))
//! dE  = (−E + (k_e − r_e E) s_e) / tau_e
//! dI  = (−I + (k_i − r_i I) s_i) / tau_i
//! ```
//!
//! Time in ms. The coupling reads `E` and `I` (TVB's `cvar = [0, 1]`), but only the first
//! coupling input (through `E`) enters the drift, in `x_e`, as in tvb-library.
//!
//! `shift_sigmoid` is TVB's boolean as a number: 1 (TVB's default, `True`) shifts the sigmoids
//! so that `s(0) = 0` (rest at `E = I = 0`), 0 (`False`) leaves them unshifted. The drift does
//! not branch on it (a parameter may be a tape or tensor value): the product form above equals
//! TVB's two branches exactly at 0 and 1 (up to one rounding of `c_e / y` versus
//! `c_e · (1/y)` when `c_e ≠ 1`), and interpolates in between. TVB's local coupling terms
//! exist only for surface simulations and are 0 for regions, so they are omitted.
//! Defaults are tvb-library's (not the Sanz-Leon et al. Table 1 set of its docstring).
//!
//! References: Wilson & Cowan (1972), Biophys. J. 12:1–24; Wilson & Cowan (1973), Kybernetik
//! 13:55–80; Sanz-Leon, Knock, Spiegler & Jirsa (2015), NeuroImage 111:385–430;
//! tvb-library `models.wilson_cowan.WilsonCowan`.

use crate::model::{NodeModel, ParamInfo, StateInfo, param as p};
use crate::scalar::Scalar;

/// Wilson & Cowan (1972).
pub struct WilsonCowan;

/// The logistic sigmoid `1 / (1 + exp(−z))`, in TVB's operation order.
#[inline(always)]
fn sig<S: Scalar>(z: S) -> S {
    ((-z).exp() + 1.0).recip()
}

impl NodeModel for WilsonCowan {
    const NAME: &'static str = "WilsonCowan";
    const STATE: &'static [StateInfo] = &[StateInfo::free("E"), StateInfo::free("I")];
    const CVAR: &'static [usize] = &[0, 1];
    const N_COUPLING: usize = 1;
    const VOI: usize = 0;
    const PARAMS: &'static [ParamInfo] = &[
        p("c_ee", 12.0, "1", (11.0, 16.0), "E → E coupling coefficient"),
        p("c_ei", 4.0, "1", (2.0, 15.0), "I → E coupling coefficient"),
        p("c_ie", 13.0, "1", (2.0, 22.0), "E → I coupling coefficient"),
        p("c_ii", 11.0, "1", (2.0, 15.0), "I → I coupling coefficient"),
        p("tau_e", 10.0, "ms", (0.0, 150.0), "excitatory membrane time constant"),
        p("tau_i", 10.0, "ms", (0.0, 150.0), "inhibitory membrane time constant"),
        p("a_e", 1.2, "1", (0.0, 1.4), "slope of the excitatory response function"),
        p("b_e", 2.8, "1", (1.4, 6.0), "position of the maximum slope of the excitatory sigmoid"),
        p("c_e", 1.0, "1", (1.0, 20.0), "amplitude of the excitatory response function"),
        p("theta_e", 0.0, "1", (0.0, 60.0), "excitatory threshold"),
        p("a_i", 1.0, "1", (0.0, 2.0), "slope of the inhibitory response function"),
        p("b_i", 4.0, "1", (2.0, 6.0), "position of the maximum slope of the inhibitory sigmoid"),
        p("theta_i", 0.0, "1", (0.0, 60.0), "inhibitory threshold"),
        p("c_i", 1.0, "1", (1.0, 20.0), "amplitude of the inhibitory response function"),
        p("r_e", 1.0, "1", (0.5, 2.0), "excitatory refractory period"),
        p("r_i", 1.0, "1", (0.5, 2.0), "inhibitory refractory period"),
        p("k_e", 1.0, "1", (0.5, 2.0), "maximum of the excitatory response function"),
        p("k_i", 1.0, "1", (0.0, 2.0), "maximum of the inhibitory response function"),
        p("P", 0.0, "1", (0.0, 20.0), "constant external input to E"),
        p("Q", 0.0, "1", (0.0, 20.0), "constant external input to I"),
        p("alpha_e", 1.0, "1", (0.0, 20.0), "gain on the total input to E"),
        p("alpha_i", 1.0, "1", (0.0, 20.0), "gain on the total input to I"),
        p("shift_sigmoid", 1.0, "1", (0.0, 1.0), "1 = shift the sigmoids so that s(0) = 0, 0 = not"),
    ];
    const REFERENCE: &'static str = "Wilson & Cowan (1972), Biophys. J. 12:1-24";
    const DT: f64 = 0.1;
    const INITIAL: &'static [f64] = &[0.25, 0.25];

    #[allow(non_snake_case)]
    #[inline(always)]
    fn drift<S: Scalar>(x: &[S], c: &[S], p: &[S], dx: &mut [S]) {
        let (c_ee, c_ei, c_ie, c_ii, tau_e, tau_i) = (p[0], p[1], p[2], p[3], p[4], p[5]);
        let (a_e, b_e, c_e, theta_e) = (p[6], p[7], p[8], p[9]);
        let (a_i, b_i, theta_i, c_i) = (p[10], p[11], p[12], p[13]);
        let (r_e, r_i, k_e, k_i, P, Q) = (p[14], p[15], p[16], p[17], p[18], p[19]);
        let (alpha_e, alpha_i, shift) = (p[20], p[21], p[22]);
        let (E, I) = (x[0], x[1]);
        let x_e = alpha_e * (c_ee * E - c_ei * I + P - theta_e + c[0]);
        let x_i = alpha_i * (c_ie * E - c_ii * I + Q - theta_i);
        let s_e = c_e * (sig(a_e * (x_e - b_e)) - shift * sig(-a_e * b_e));
        let s_i = c_i * (sig(a_i * (x_i - b_i)) - shift * sig(-a_i * b_i));
        dx[0] = (-E + (k_e - r_e * E) * s_e) / tau_e;
        dx[1] = (-I + (k_i - r_i * I) * s_i) / tau_i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelInfo;

    /// TVB's two branches, written out in plain `f64`.
    #[allow(non_snake_case)]
    fn tvb(p: &[f64], E: f64, I: f64, c0: f64) -> [f64; 2] {
        let info = ModelInfo::of::<WilsonCowan>();
        let q = |n: &str| p[info.param_index(n).unwrap()];
        let x_e = q("alpha_e") * (q("c_ee") * E - q("c_ei") * I + q("P") - q("theta_e") + c0);
        let x_i = q("alpha_i") * (q("c_ie") * E - q("c_ii") * I + q("Q") - q("theta_i"));
        let (a_e, b_e, a_i, b_i) = (q("a_e"), q("b_e"), q("a_i"), q("b_i"));
        let (s_e, s_i) = if q("shift_sigmoid") == 1.0 {
            (
                q("c_e")
                    * (1.0 / (1.0 + (-a_e * (x_e - b_e)).exp()) - 1.0 / (1.0 + (-a_e * -b_e).exp())),
                q("c_i")
                    * (1.0 / (1.0 + (-a_i * (x_i - b_i)).exp()) - 1.0 / (1.0 + (-a_i * -b_i).exp())),
            )
        } else {
            (
                q("c_e") / (1.0 + (-a_e * (x_e - b_e)).exp()),
                q("c_i") / (1.0 + (-a_i * (x_i - b_i)).exp()),
            )
        };
        [
            (-E + (q("k_e") - q("r_e") * E) * s_e) / q("tau_e"),
            (-I + (q("k_i") - q("r_i") * I) * s_i) / q("tau_i"),
        ]
    }

    #[test]
    fn drift_matches_tvb_formula_both_shifts() {
        let info = ModelInfo::of::<WilsonCowan>();
        let mut p = info.defaults();
        p[info.param_index("P").unwrap()] = 0.5;
        p[info.param_index("c_e").unwrap()] = 1.5;
        let (e, i, c0) = (0.3, 0.2, 0.1);
        for shift in [1.0, 0.0] {
            p[info.param_index("shift_sigmoid").unwrap()] = shift;
            let mut dx = [0.0; 2];
            WilsonCowan::drift(&[e, i], &[c0], &p, &mut dx);
            let want = tvb(&p, e, i, c0);
            for k in 0..2 {
                assert!((dx[k] - want[k]).abs() < 1e-15, "shift {shift}: {dx:?} vs {want:?}");
            }
        }
        // At rest with the shifted sigmoid (TVB default) E = I = 0 is a fixed point.
        let p = info.defaults();
        let mut dx = [1.0; 2];
        WilsonCowan::drift(&[0.0, 0.0], &[0.0], &p, &mut dx);
        assert_eq!(dx, [0.0, 0.0]);
    }
}
