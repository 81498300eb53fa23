//! The Montbrió–Pazó–Roxin model: the exact mean-field (firing rate and mean membrane
//! potential) of an infinite population of quadratic integrate-and-fire neurons with
//! Lorentzian-distributed excitabilities.
//!
//! State per region: `r` (firing rate, bounded below by 0; the integrator clamps to
//! `[0, +inf)` as TVB's `state_variable_boundaries` do) and `V` (mean membrane potential,
//! unbounded). With the coupling inputs `c_r` (through `r`) and `c_V` (through `V`):
//!
//! ```text
//! dr = 1/tau (Delta / (pi tau) + 2 V r)
//! dV = 1/tau (V² − pi² tau² r² + eta + J tau r + I + cr c_r + cv c_V)
//! ```
//!
//! Time in ms (`tau` is the characteristic time; the other quantities are dimensionless in
//! tvb-library). The coupling reads both `r` and `V` (TVB's `cvar = [0, 1]`); the drift uses
//! both coupling inputs, weighted by `cr` and `cv` (with the defaults `cr = 1`, `cv = 0` only
//! the rate channel matters).
//!
//! `Gamma` (half-width of the synaptic weight distribution) is declared by tvb-library but not
//! used by its drift; it is kept in the table for TVB compatibility and is likewise unused
//! here. TVB ignores local coupling in this model. The arithmetic follows tvb-library's
//! operation order.
//!
//! References: Montbrió, Pazó & Roxin (2015), Phys. Rev. X 5:021028; tvb-library
//! `models.infinite_theta.MontbrioPazoRoxin`.

use crate::model::{NodeModel, ParamInfo, StateInfo, param as p};
use crate::scalar::Scalar;
use std::f64::consts::PI;

/// Montbrió, Pazó & Roxin (2015).
pub struct MontbrioPazoRoxin;

impl NodeModel for MontbrioPazoRoxin {
    const NAME: &'static str = "MontbrioPazoRoxin";
    const STATE: &'static [StateInfo] = &[
        StateInfo::bounded("r", 0.0, f64::INFINITY),
        StateInfo::free("V"),
    ];
    const CVAR: &'static [usize] = &[0, 1];
    const N_COUPLING: usize = 2;
    const VOI: usize = 0;
    const PARAMS: &'static [ParamInfo] = &[
        p("tau", 1.0, "ms", (0.001, 15.0), "characteristic time"),
        p("I", 0.0, "1", (-10.0, 10.0), "external current"),
        p("Delta", 1.0, "1", (0.0, 10.0), "half-width of the excitability (eta) distribution"),
        p("J", 15.0, "1", (-25.0, 25.0), "mean synaptic weight"),
        p("eta", -5.0, "1", (-10.0, 10.0), "mean excitability"),
        p("Gamma", 0.0, "1", (0.0, 10.0), "half-width of the synaptic weight distribution (unused)"),
        p("cr", 1.0, "1", (0.0, 1.0), "weight of the coupling through r"),
        p("cv", 0.0, "1", (0.0, 1.0), "weight of the coupling through V"),
    ];
    const REFERENCE: &'static str = "Montbrio, Pazo & Roxin (2015), Phys. Rev. X 5:021028";
    const DT: f64 = 0.01;
    const INITIAL: &'static [f64] = &[1.0, -1.0];

    #[allow(non_snake_case)]
    #[inline(always)]
    fn drift<S: Scalar>(x: &[S], c: &[S], p: &[S], dx: &mut [S]) {
        let (tau, I, Delta, J, eta) = (p[0], p[1], p[2], p[3], p[4]);
        let (cr, cv) = (p[6], p[7]);
        let (r, V) = (x[0], x[1]);
        let inv_tau = tau.recip();
        dx[0] = inv_tau * (Delta / (tau * PI) + V * 2.0 * r);
        dx[1] = inv_tau
            * (V.square() - tau.square() * (PI * PI) * r.square()
                + eta
                + J * tau * r
                + I
                + cr * c[0]
                + cv * c[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelInfo;

    #[test]
    #[allow(non_snake_case)]
    fn drift_matches_tvb_formula() {
        let info = ModelInfo::of::<MontbrioPazoRoxin>();
        let mut p = info.defaults();
        p[info.param_index("tau").unwrap()] = 1.2;
        p[info.param_index("I").unwrap()] = 0.2;
        p[info.param_index("cv").unwrap()] = 0.5;
        let q = |n: &str| p[info.param_index(n).unwrap()];
        let (r, V, c0, c1) = (0.4, -0.7, 0.3, -0.2);
        let mut dx = [0.0; 2];
        MontbrioPazoRoxin::drift(&[r, V], &[c0, c1], &p, &mut dx);

        let (tau, pi) = (q("tau"), PI);
        let dr = 1.0 / tau * (q("Delta") / (pi * tau) + 2.0 * V * r);
        let dV = 1.0 / tau
            * (V.powi(2) - pi.powi(2) * tau.powi(2) * r.powi(2)
                + q("eta")
                + q("J") * tau * r
                + q("I")
                + q("cr") * c0
                + q("cv") * c1);
        assert!((dx[0] - dr).abs() < 1e-15 && (dx[1] - dV).abs() < 1e-14, "{dx:?}");
        // Values from numpy with the same inputs.
        assert!((dx[0] + 0.245_618_134_594_589_8).abs() < 1e-14);
        assert!((dx[1] - 0.680_035_954_990_842_8).abs() < 1e-14);
    }
}
