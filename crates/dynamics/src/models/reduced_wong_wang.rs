//! The reduced Wong-Wang model (Deco et al. 2013): a one-variable mean-field reduction of a
//! network of spiking neurons with NMDA synapses.
//!
//! State per region: `S`, the average NMDA gating variable (dimensionless, bounded to
//! `[0, 1]`; the integrator clamps to it as TVB's `state_variable_boundaries` do). With the
//! coupling input `c`:
//!
//! ```text
//! x  = w J_N S + I_o + J_N c
//! H  = (a x − b) / (1 − exp(−d (a x − b)))
//! dS = −S / tau_s + (1 − S) H gamma
//! ```
//!
//! Time in ms. The coupling reads `S` (TVB's `cvar = [0]`); the drift uses the first coupling
//! input. Units are tvb-library's, which are mixed: the values are the paper's rescaled to ms
//! (`b = 0.108` kHz for 108 Hz, `d = 154` ms for 0.154 s, `a = 0.270` for 270 n/C, whose TVB
//! label stays "n/C"), so that `H` and `dS` are in ms⁻¹. Like TVB there is no guard for
//! `a x − b = 0` (a 0/0 that the default parameters never reach).
//!
//! TVB's `sigma_noise` parameter is not used by the drift and is dropped from the table; the
//! noise amplitude is set in `integration.noise`. TVB's local coupling (added to `c` as
//! `local_coupling S`) exists only for surface simulations and is 0 for regions, so it is
//! omitted. The arithmetic follows tvb-library's operation order.
//!
//! References: Deco, Ponce-Alvarez, Mantini, Romani, Hagmann & Corbetta (2013), J. Neurosci.
//! 33(27):11239–11252; Wong & Wang (2006), J. Neurosci. 26(4):1314–1328; tvb-library
//! `models.wong_wang.ReducedWongWang`.

use crate::model::{NodeModel, ParamInfo, StateInfo, param as p};
use crate::scalar::{Lanes, Scalar};

/// Deco et al. (2013).
pub struct ReducedWongWang;

impl NodeModel for ReducedWongWang {
    const NAME: &'static str = "ReducedWongWang";
    const STATE: &'static [StateInfo] = &[StateInfo::bounded("S", 0.0, 1.0)];
    const CVAR: &'static [usize] = &[0];
    const N_COUPLING: usize = 1;
    const VOI: usize = 0;
    const PARAMS: &'static [ParamInfo] = &[
        p("a", 0.270, "n/C", (0.0, 0.270), "input gain of the transfer function H"),
        p("b", 0.108, "kHz", (0.0, 1.0), "input shift of the transfer function H"),
        p("d", 154.0, "ms", (0.0, 200.0), "curvature of the transfer function H"),
        p("gamma", 0.641, "1", (0.0, 1.0), "kinetic parameter"),
        p("tau_s", 100.0, "ms", (50.0, 150.0), "NMDA decay time constant"),
        p("w", 0.6, "1", (0.0, 1.0), "excitatory recurrence"),
        p("J_N", 0.2609, "nA", (0.2609, 0.5), "excitatory synaptic coupling"),
        p("I_o", 0.33, "nA", (0.0, 1.0), "effective external input"),
    ];
    const REFERENCE: &'static str = "Deco et al. (2013), J. Neurosci. 33(27):11239-11252";
    const DT: f64 = 0.1;
    const INITIAL: &'static [f64] = &[0.2];
    const HAND_WRITTEN_VJP: bool = true;

    #[allow(non_snake_case)]
    #[inline(always)]
    fn drift<S: Scalar>(x: &[S], c: &[S], p: &[S], dx: &mut [S]) {
        let (a, b, d, gamma) = (p[0], p[1], p[2], p[3]);
        let (tau_s, w, J_N, I_o) = (p[4], p[5], p[6], p[7]);
        let s = x[0];
        let xin = w * J_N * s + I_o + J_N * c[0];
        let ax_b = a * xin - b;
        let h = ax_b / (S::cst(1.0) - (-d * ax_b).exp());
        dx[0] = -(s / tau_s) + (S::cst(1.0) - s) * h * gamma;
    }

    /// Hand-written for speed (minute-long BOLD fits run it twice per region and step); the
    /// model suite checks it against the derived VJP.
    #[allow(non_snake_case)]
    #[inline(always)]
    fn drift_vjp<S: Lanes>(
        x: &[S],
        c: &[S],
        p: &[S],
        lam: &[S],
        gx: &mut [S],
        gc: &mut [S],
        gp: &mut [S],
    ) {
        let (a, b, d, gamma) = (p[0], p[1], p[2], p[3]);
        let (tau_s, w, J_N, I_o) = (p[4], p[5], p[6], p[7]);
        let (s, l) = (x[0], lam[0]);
        let one = S::cst(1.0);
        let xin = w * J_N * s + I_o + J_N * c[0];
        let y = a * xin - b;
        let e = (-d * y).exp();
        let one_e = one - e;
        let h = y / one_e;
        // dH/dy and dH/dd of H = y / (1 − exp(−d y)).
        let dh_dy = (one_e - y * d * e) / (one_e * one_e);
        let dh_dd = -y * y * e / (one_e * one_e);
        let k = l * (one - s) * gamma; // λ ∂dS/∂H
        let gy = k * dh_dy; // λ ∂dS/∂y
        let gxin = gy * a;
        gx[0] += l * (-(one / tau_s) - h * gamma) + gxin * w * J_N;
        gc[0] += gxin * J_N;
        gp[0] += gy * xin;
        gp[1] -= gy;
        gp[2] += k * dh_dd;
        gp[3] += l * (one - s) * h;
        gp[4] += l * s / (tau_s * tau_s);
        gp[5] += gxin * J_N * s;
        gp[6] += gxin * (w * s + c[0]);
        gp[7] += gxin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelInfo;

    #[test]
    fn drift_matches_tvb_formula() {
        let info = ModelInfo::of::<ReducedWongWang>();
        let p = info.defaults();
        let q = |n: &str| p[info.param_index(n).unwrap()];
        let (s, c0) = (0.3, 0.1);
        let mut dx = [0.0];
        ReducedWongWang::drift(&[s], &[c0], &p, &mut dx);

        let x = q("w") * q("J_N") * s + q("I_o") + q("J_N") * c0;
        let h = (q("a") * x - q("b")) / (1.0 - (-q("d") * (q("a") * x - q("b"))).exp());
        let ds = -(s / q("tau_s")) + (1.0 - s) * h * q("gamma");
        // Within rounding: the kernel's exp is the engine's (`crate::exp`), not libm's.
        assert!((dx[0] - ds).abs() <= 1e-15 * ds.abs(), "{} vs {ds}", dx[0]);
        // x = 0.403052, a x − b = 8.2404e-4, exp term 0.88082, H = 6.91424e-3: dS = 1.02419e-4.
        assert!((ds - 1.024_188_27e-4).abs() < 1e-12, "dS = {ds}");
    }
}
