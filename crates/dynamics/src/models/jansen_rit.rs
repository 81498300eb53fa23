//! The Jansen-Rit neural mass model (a cortical column of pyramidal cells, excitatory and
//! inhibitory interneurons).
//!
//! State per region: `y0…y5` (mV for `y0…y2`, mV/ms for `y3…y5`). With the firing-rate sigmoid
//! `s(v) = 2 nu_max / (1 + exp(r (v0 − v)))`:
//!
//! ```text
//! dy0 = y3                dy1 = y4                dy2 = y5
//! dy3 = A a s(y1 − y2)                                − 2 a y3 − a² y0
//! dy4 = A a (mu + c + local_coupling (y1 − y2) + J a_2 s(J a_1 y0)) − 2 a y4 − a² y1
//! dy5 = B b J a_4 s(J a_3 y0)                         − 2 b y5 − b² y2
//! ```
//!
//! Time in ms. The coupling reads `(y1, y2)` (TVB's `cvar = [1, 2]`); the drift uses the first
//! coupling input, which with [`crate::couplings::SigmoidalJansenRit`] is
//! `c_i = a_c Σ_j W_ij S(y1_j − y2_j)(t − d_ij)`.
//!
//! Defaults are the TVB-O / seed 004 values (`a = b = 0.04`, `mu = 0.15`); tvb-library's own
//! defaults are `a = 0.1`, `b = 0.05`, `mu = 0.22`. The operation order follows the TVB-O JAX
//! kernel so that deterministic runs agree with it to rounding. The adjoint is hand-written for
//! speed (this is the hot loop of every Jansen-Rit fit) and checked against the derived one by
//! the model suite.
//!
//! References: Jansen & Rit (1995), Biol. Cybern. 73:357–366; Jansen, Zouridakis & Brandt
//! (1993), Biol. Cybern. 68:275–283; tvb-library `models.jansen_rit.JansenRit`.

use crate::model::{NodeModel, ParamInfo, StateInfo, param as p};
use crate::scalar::{Lanes, Scalar};

/// Jansen & Rit (1995).
pub struct JansenRit;

impl NodeModel for JansenRit {
    const NAME: &'static str = "JansenRit";
    const STATE: &'static [StateInfo] = &[
        StateInfo::free("y0"),
        StateInfo::free("y1"),
        StateInfo::free("y2"),
        StateInfo::free("y3"),
        StateInfo::free("y4"),
        StateInfo::free("y5"),
    ];
    const CVAR: &'static [usize] = &[1, 2];
    const N_COUPLING: usize = 1;
    const VOI: usize = 0;
    const PARAMS: &'static [ParamInfo] = &[
        p("a", 0.04, "ms^-1", (0.05, 0.15), "reciprocal of the excitatory PSP time constant"),
        p("b", 0.04, "ms^-1", (0.025, 0.075), "reciprocal of the inhibitory PSP time constant"),
        p("mu", 0.15, "ms^-1", (0.0, 0.22), "mean input firing rate"),
        p("A", 3.25, "mV", (2.6, 9.75), "maximum amplitude of the EPSP"),
        p("B", 22.0, "mV", (17.6, 110.0), "maximum amplitude of the IPSP"),
        p("J", 135.0, "1", (65.0, 1350.0), "average number of synapses between populations"),
        p("a_1", 1.0, "1", (0.5, 1.5), "synapses pyramidal → excitatory interneurons"),
        p("a_2", 0.8, "1", (0.4, 1.2), "synapses excitatory interneurons → pyramidal"),
        p("a_3", 0.25, "1", (0.125, 0.375), "synapses pyramidal → inhibitory interneurons"),
        p("a_4", 0.25, "1", (0.125, 0.375), "synapses inhibitory interneurons → pyramidal"),
        p("nu_max", 0.0025, "ms^-1", (0.00125, 0.00375), "half of the maximum firing rate"),
        p("r", 0.56, "mV^-1", (0.28, 0.84), "steepness of the firing-rate sigmoid"),
        p("v0", 5.52, "mV", (3.12, 6.0), "potential at half of the maximum firing rate"),
        p("local_coupling", 0.0, "1", (0.0, 1.0), "gain of the local (self) input y1 − y2"),
    ];
    const REFERENCE: &'static str = "Jansen & Rit (1995), Biol. Cybern. 73:357-366";
    const DT: f64 = 1.0;
    const INITIAL: &'static [f64] = &[0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    const HAND_WRITTEN_VJP: bool = true;

    /// The three sigmoid exponentials ([`exponentials`]), kept for the adjoint.
    const NAUX: usize = 3;

    #[inline(always)]
    fn drift<S: Scalar>(y: &[S], c: &[S], p: &[S], dy: &mut [S]) {
        drift_with(y, c, p, exponentials(y, p), dy);
    }

    #[inline(always)]
    fn drift_aux<S: Lanes>(y: &[S], c: &[S], p: &[S], dy: &mut [S], aux: &mut [S]) {
        let e = exponentials(y, p);
        aux[..3].copy_from_slice(&e);
        drift_with(y, c, p, e, dy);
    }

    #[inline(always)]
    fn drift_vjp<S: Lanes>(
        y: &[S],
        c: &[S],
        p: &[S],
        lam: &[S],
        dy: &mut [S],
        gc: &mut [S],
        dp: &mut [S],
    ) {
        drift_vjp_with(y, c, p, exponentials(y, p), lam, dy, gc, dp);
    }

    #[inline(always)]
    fn drift_vjp_aux<S: Lanes>(
        y: &[S],
        c: &[S],
        p: &[S],
        aux: &[S],
        lam: &[S],
        dy: &mut [S],
        gc: &mut [S],
        dp: &mut [S],
    ) {
        drift_vjp_with(y, c, p, [aux[0], aux[1], aux[2]], lam, dy, gc, dp);
    }
}

// The equations are written once, in the helpers below: `drift` and `drift_aux` are
// `drift_with`, `drift_vjp` and `drift_vjp_aux` are `drift_vjp_with`, each given the
// exponentials either computed here or kept by `drift_aux`. The helpers are functions, not
// closures: `#[inline(always)]` cannot be put on a closure on stable Rust, and a closure left
// out of line is compiled without the caller's AVX2 (its four lanes then run as two SSE halves
// and a call).

/// The sigmoids' arguments `v0 − v` for `v = J a_1 y0`, `J a_3 y0` and `y1 − y2` (the last
/// written `v0 + y2 − y1`, TVB-O's order, in the adjoint too: its gradient is that of the
/// expression the forward pass evaluates).
#[allow(non_snake_case)]
#[inline(always)]
fn arguments<S: Scalar>(y: &[S], p: &[S]) -> [S; 3] {
    let (J, a_1, a_3, v0) = (p[5], p[6], p[8], p[12]);
    [
        v0 - J * a_1 * y[0],
        v0 - J * a_3 * y[0],
        v0 + y[2] - y[1],
    ]
}

/// `exp(r (v0 − v))` of the three sigmoids.
#[inline(always)]
fn exponentials<S: Scalar>(y: &[S], p: &[S]) -> [S; 3] {
    let r = p[11];
    // Not `<[_; 3]>::map`: its closure is left out of line, without the caller's AVX2.
    let [d1, d3, d12] = arguments(y, p);
    [(r * d1).exp(), (r * d3).exp(), (r * d12).exp()]
}

/// The drift, given the sigmoids' exponentials `e`.
#[allow(non_snake_case)]
#[inline(always)]
fn drift_with<S: Scalar>(y: &[S], c: &[S], p: &[S], e: [S; 3], dy: &mut [S]) {
    // Fixed-length views: one bounds check each instead of one per access.
    let (y, p, dy) = (&y[..6], &p[..14], &mut dy[..6]);
    let (a, b, mu, A, B, J) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let (a_2, a_4, nu, lc) = (p[7], p[9], p[10], p[13]);
    let c = c[0];
    let s1 = nu * 2.0 / (e[0] + 1.0);
    let s3 = nu * 2.0 / (e[1] + 1.0);
    let s12 = nu * 2.0 / (e[2] + 1.0);
    dy[0] = y[3];
    dy[1] = y[4];
    dy[2] = y[5];
    dy[3] = -y[0] * (a * a) - a * 2.0 * y[3] + A * a * s12;
    dy[4] = -y[1] * (a * a) - a * 2.0 * y[4] + A * a * (c + mu + lc * (y[1] - y[2]) + J * a_2 * s1);
    dy[5] = -y[2] * (b * b) - b * 2.0 * y[5] + B * J * a_4 * b * s3;
}

/// The drift's VJP (see [`NodeModel::drift_vjp`]), given the sigmoids' exponentials `e`.
// Written over `Lanes` (four regions at once in the adjoint). Constants sit on the right of
// products (`a * 2.0`, not `2.0 * a`): IEEE products and sums commute exactly, so this is the
// same arithmetic as the scalar formulas in the comments.
#[allow(non_snake_case, clippy::too_many_arguments)]
#[inline(always)]
fn drift_vjp_with<S: Lanes>(
    y: &[S],
    c: &[S],
    p: &[S],
    e: [S; 3],
    lam: &[S],
    dy: &mut [S],
    gc: &mut [S],
    dp: &mut [S],
) {
    let [d1, d3, d12] = arguments(y, p);
    let (y, p, lam, dy, dp) = (&y[..6], &p[..14], &lam[..6], &mut dy[..6], &mut dp[..14]);
    let (a, b, mu, A, B, J) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let (a1, a2, a3, a4) = (p[6], p[7], p[8], p[9]);
    let (nu, r, lc) = (p[10], p[11], p[13]);
    let c = c[0];
    let v12 = y[1] - y[2];
    let (s1, t1) = rate(nu, e[0]);
    let (s3, t3) = rate(nu, e[1]);
    let (s12, t12) = rate(nu, e[2]);
    let (l0, l1, l2, l3, l4, l5) = (lam[0], lam[1], lam[2], lam[3], lam[4], lam[5]);

    dy[3] += l0;
    dy[4] += l1;
    dy[5] += l2;

    // dy3 = -y0 a² - 2a y3 + A a s12
    dy[0] -= l3 * a * a;
    dy[3] -= a * 2.0 * l3;
    let g12 = l3 * A * a;
    dp[0] += l3 * (-(a * 2.0) * y[0] - y[3] * 2.0 + A * s12);
    dp[3] += l3 * a * s12;

    // dy4 = -y1 a² - 2a y4 + A a inner
    let inner = c + mu + lc * v12 + J * a2 * s1;
    dy[1] += l4 * (A * a * lc - a * a);
    dy[2] -= l4 * A * a * lc;
    dy[4] -= a * 2.0 * l4;
    let dc = l4 * A * a;
    dp[2] += dc;
    dp[13] += dc * v12;
    let g1 = dc * J * a2;
    dp[5] += dc * a2 * s1;
    dp[7] += dc * J * s1;
    dp[0] += l4 * (-(a * 2.0) * y[1] - y[4] * 2.0 + A * inner);
    dp[3] += l4 * a * inner;

    // dy5 = -y2 b² - 2b y5 + B J a4 b s3
    dy[2] -= l5 * b * b;
    dy[5] -= b * 2.0 * l5;
    let g3 = l5 * B * J * a4 * b;
    dp[1] += l5 * (-(b * 2.0) * y[2] - y[5] * 2.0 + B * J * a4 * s3);
    dp[4] += l5 * J * a4 * b * s3;
    dp[5] += l5 * B * a4 * b * s3;
    dp[9] += l5 * B * J * b * s3;

    // Sigmoids: ds/dv = r s (1 - t), ds/dr = -(v0 - v) s (1 - t), ds/dv0 = -r s (1 - t),
    // ds/dnu = 2 t (t = 1/(1+e) keeps every expression finite when exp overflows).
    let gv1 = sigmoid_vjp(r, g1, s1, t1, d1, dp);
    let gv3 = sigmoid_vjp(r, g3, s3, t3, d3, dp);
    let gv12 = sigmoid_vjp(r, g12, s12, t12, d12, dp);
    dy[0] += gv1 * J * a1 + gv3 * J * a3;
    dp[5] += gv1 * a1 * y[0] + gv3 * a3 * y[0];
    dp[6] += gv1 * J * y[0];
    dp[8] += gv3 * J * y[0];
    dy[1] += gv12;
    dy[2] -= gv12;
    gc[0] += dc;
}

/// The firing rate `s = 2 nu t` and `t = 1 / (1 + e)`, from `e = exp(r (v0 − v))`.
#[inline(always)]
fn rate<S: Lanes>(nu: S, e: S) -> (S, S) {
    let t = S::cst(1.0) / (e + 1.0);
    (nu * 2.0 * t, t)
}

/// The adjoint `g` of a rate `s` (with its `t`, at the argument `d = v0 − v`) into `r`, `v0`
/// and `nu` (`dp[11]`, `dp[12]`, `dp[10]`); returns the adjoint of `v`.
#[inline(always)]
fn sigmoid_vjp<S: Lanes>(r: S, g: S, s: S, t: S, d: S, dp: &mut [S]) -> S {
    let q = s * (S::cst(1.0) - t);
    dp[11] -= g * d * q;
    dp[12] -= g * r * q;
    dp[10] += g * 2.0 * t;
    g * r * q
}
