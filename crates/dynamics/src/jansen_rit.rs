//! The Jansen-Rit neural mass model with TVB-O's `SigmoidalJansenRit` coupling.
//!
//! State per region: `y0…y5` (mV and mV/ms). With the firing-rate sigmoid
//! `s(v) = 2 nu_max / (1 + exp(r (v0 − v)))`:
//!
//! ```text
//! dy0 = y3                dy1 = y4                dy2 = y5
//! dy3 = A a s(y1 − y2)                                − 2 a y3 − a² y0
//! dy4 = A a (mu + c + local_coupling (y1 − y2) + J a_2 s(J a_1 y0)) − 2 a y4 − a² y1
//! dy5 = B b J a_4 s(J a_3 y0)                         − 2 b y5 − b² y2
//! ```
//!
//! The long-range input of target `i` is `c_i = a_c Σ_j W_ij S_j(t − d_ij)` with the source
//! sigmoid `S(y1, y2) = cmin + (cmax − cmin) / (1 + exp(r_c (midpoint − y1 + y2)))`.
//! Because `S` depends only on the source, simulators store `S_j` once per step (N sigmoids per
//! step, not N²) and gather delayed values from that history.
//!
//! Operation order follows the TVB-O JAX kernel so that deterministic runs agree to rounding.
//!
//! References: Jansen & Rit (1995), Biol. Cybern. 73:357–366; Jansen, Zouridakis & Brandt
//! (1993), Biol. Cybern. 68:275–283; TVB-O (The Virtual Brain Ontology) `JansenRit` and
//! `SigmoidalJansenRit`.

use burn::tensor::Tensor;

/// Number of scalar parameters of the model plus its coupling (see [`JrParam`]).
pub const N_JR_PARAMS: usize = 19;

/// Index of each parameter in the packed parameter array `[B, N_JR_PARAMS, N]`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum JrParam {
    /// Excitatory rate constant `a` (ms⁻¹).
    a = 0,
    /// Inhibitory rate constant `b` (ms⁻¹).
    b,
    /// Mean external input `mu` (ms⁻¹).
    mu,
    /// Maximum EPSP amplitude `A` (mV).
    A,
    /// Maximum IPSP amplitude `B` (mV).
    B,
    /// Average number of synapses `J`.
    J,
    /// PC → EIN connectivity constant `a_1`.
    a_1,
    /// EIN → PC connectivity constant `a_2`.
    a_2,
    /// PC → IIN connectivity constant `a_3`.
    a_3,
    /// IIN → PC connectivity constant `a_4`.
    a_4,
    /// Maximum firing rate `nu_max` (ms⁻¹).
    nu_max,
    /// Sigmoid steepness `r` (mV⁻¹).
    r,
    /// Sigmoid threshold `v0` (mV).
    v0,
    /// Local (self) coupling gain on `y1 − y2`.
    local_coupling,
    /// Global coupling scale `a` of `SigmoidalJansenRit` (per target region).
    coupling_a,
    /// Coupling sigmoid maximum `cmax` (per source region).
    coupling_cmax,
    /// Coupling sigmoid minimum `cmin` (per source region).
    coupling_cmin,
    /// Coupling sigmoid steepness `r` (per source region).
    coupling_r,
    /// Coupling sigmoid midpoint (per source region).
    coupling_midpoint,
}

impl JrParam {
    /// All parameters in packing order.
    pub const ALL: [JrParam; N_JR_PARAMS] = [
        Self::a,
        Self::b,
        Self::mu,
        Self::A,
        Self::B,
        Self::J,
        Self::a_1,
        Self::a_2,
        Self::a_3,
        Self::a_4,
        Self::nu_max,
        Self::r,
        Self::v0,
        Self::local_coupling,
        Self::coupling_a,
        Self::coupling_cmax,
        Self::coupling_cmin,
        Self::coupling_r,
        Self::coupling_midpoint,
    ];

    /// Names of the model parameters (the `model.parameters` section).
    pub const MODEL_NAMES: [&'static str; 14] = [
        "a",
        "b",
        "mu",
        "A",
        "B",
        "J",
        "a_1",
        "a_2",
        "a_3",
        "a_4",
        "nu_max",
        "r",
        "v0",
        "local_coupling",
    ];

    /// Names of the coupling parameters (the `coupling.parameters` section).
    pub const COUPLING_NAMES: [&'static str; 5] = ["a", "cmax", "cmin", "r", "midpoint"];

    /// Position in the packed array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Qualified name: `a` for the model's `a`, `coupling.a` for the coupling's.
    pub fn qualified_name(self) -> String {
        let i = self.index();
        if i < Self::MODEL_NAMES.len() {
            Self::MODEL_NAMES[i].to_string()
        } else {
            format!(
                "coupling.{}",
                Self::COUPLING_NAMES[i - Self::MODEL_NAMES.len()]
            )
        }
    }

    /// Looks up a model parameter by name.
    pub fn model(name: &str) -> Option<Self> {
        Self::MODEL_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Looks up a coupling parameter by name.
    pub fn coupling(name: &str) -> Option<Self> {
        Self::COUPLING_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[Self::MODEL_NAMES.len() + i])
    }
}

/// Jansen-Rit model parameters with the TVB-O / seed 004 defaults.
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JansenRit {
    /// Excitatory rate constant (ms⁻¹), default 0.04.
    pub a: f64,
    /// Inhibitory rate constant (ms⁻¹), default 0.04.
    pub b: f64,
    /// Mean external input (ms⁻¹), default 0.15.
    pub mu: f64,
    /// Maximum EPSP (mV), default 3.25.
    pub A: f64,
    /// Maximum IPSP (mV), default 22.
    pub B: f64,
    /// Average number of synapses, default 135.
    pub J: f64,
    /// default 1.0.
    pub a_1: f64,
    /// default 0.8.
    pub a_2: f64,
    /// default 0.25.
    pub a_3: f64,
    /// default 0.25.
    pub a_4: f64,
    /// Maximum firing rate (ms⁻¹), default 0.0025.
    pub nu_max: f64,
    /// Sigmoid steepness (mV⁻¹), default 0.56.
    pub r: f64,
    /// Sigmoid threshold (mV), default 5.52.
    pub v0: f64,
    /// Local coupling gain, default 0.
    pub local_coupling: f64,
}

impl Default for JansenRit {
    fn default() -> Self {
        Self {
            a: 0.04,
            b: 0.04,
            mu: 0.15,
            A: 3.25,
            B: 22.0,
            J: 135.0,
            a_1: 1.0,
            a_2: 0.8,
            a_3: 0.25,
            a_4: 0.25,
            nu_max: 0.0025,
            r: 0.56,
            v0: 5.52,
            local_coupling: 0.0,
        }
    }
}

/// TVB-O's `SigmoidalJansenRit` coupling, default `a = 20/458885` (seed 004).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigmoidalJansenRit {
    /// Global scale of the summed input.
    pub a: f64,
    /// Sigmoid maximum.
    pub cmax: f64,
    /// Sigmoid minimum.
    pub cmin: f64,
    /// Sigmoid steepness (mV⁻¹).
    pub r: f64,
    /// Sigmoid midpoint (mV).
    pub midpoint: f64,
}

impl Default for SigmoidalJansenRit {
    fn default() -> Self {
        Self {
            a: 20.0 / 458885.0,
            cmax: 0.005,
            cmin: 0.0,
            r: 0.56,
            midpoint: 6.0,
        }
    }
}

/// Alias kept for readers who look for "coupling parameters".
pub type CouplingParams = SigmoidalJansenRit;

/// Packs model and coupling parameters in [`JrParam`] order.
pub fn pack(model: &JansenRit, coupling: &SigmoidalJansenRit) -> [f64; N_JR_PARAMS] {
    [
        model.a,
        model.b,
        model.mu,
        model.A,
        model.B,
        model.J,
        model.a_1,
        model.a_2,
        model.a_3,
        model.a_4,
        model.nu_max,
        model.r,
        model.v0,
        model.local_coupling,
        coupling.a,
        coupling.cmax,
        coupling.cmin,
        coupling.r,
        coupling.midpoint,
    ]
}

/// Parameters of one region, read from a packed array with stride `n` (parameter-major).
#[derive(Debug, Clone, Copy)]
pub struct NodeParams(pub [f64; N_JR_PARAMS]);

impl NodeParams {
    /// Gathers region `node` from a packed `[N_JR_PARAMS, n]` slice.
    #[inline]
    pub fn gather(packed: &[f64], n: usize, node: usize) -> Self {
        let mut p = [0.0; N_JR_PARAMS];
        for (k, v) in p.iter_mut().enumerate() {
            *v = packed[k * n + node];
        }
        Self(p)
    }

    #[inline]
    fn get(&self, p: JrParam) -> f64 {
        self.0[p as usize]
    }
}

/// `1 / (1 + exp(x))`, written out because burn's ndarray sigmoid evaluates f64 in f32.
#[inline]
fn logistic_neg(x: f64) -> f64 {
    1.0 / (1.0 + x.exp())
}

/// The coupling variable of a source region: `cmin + (cmax − cmin)/(1 + exp(r (mid − y1 + y2)))`.
#[inline]
pub fn coupling_sigmoid(p: &NodeParams, y1: f64, y2: f64) -> f64 {
    use JrParam as P;
    let (cmax, cmin) = (p.get(P::coupling_cmax), p.get(P::coupling_cmin));
    cmin + (cmax - cmin)
        * logistic_neg(p.get(P::coupling_r) * (p.get(P::coupling_midpoint) - y1 + y2))
}

/// Vector–Jacobian product of [`coupling_sigmoid`]: adds `g·∂S/∂(y1, y2, params)`.
#[inline]
pub fn coupling_sigmoid_vjp(
    p: &NodeParams,
    y1: f64,
    y2: f64,
    g: f64,
    dy: &mut [f64; 6],
    dp: &mut [f64; N_JR_PARAMS],
) {
    use JrParam as P;
    let (cmax, cmin, rc, mid) = (
        p.get(P::coupling_cmax),
        p.get(P::coupling_cmin),
        p.get(P::coupling_r),
        p.get(P::coupling_midpoint),
    );
    let x = mid - y1 + y2;
    let u = logistic_neg(rc * x);
    let du = -(cmax - cmin) * u * (1.0 - u) * g; // dS/d(rc*x) times g
    dy[1] -= du * rc;
    dy[2] += du * rc;
    dp[P::coupling_r as usize] += du * x;
    dp[P::coupling_midpoint as usize] += du * rc;
    dp[P::coupling_cmax as usize] += g * u;
    dp[P::coupling_cmin as usize] += g * (1.0 - u);
}

/// Firing-rate sigmoid `2 nu / (1 + exp(r (v0 − v)))` and `t = 1/(1+exp(·))`.
#[inline]
fn rate(nu: f64, r: f64, v0: f64, v: f64) -> (f64, f64) {
    let t = logistic_neg(r * (v0 - v));
    (2.0 * nu * t, t)
}

/// The Jansen-Rit drift of one region given its long-range input `c`.
#[allow(non_snake_case)]
#[inline]
pub fn drift(p: &NodeParams, y: &[f64; 6], c: f64) -> [f64; 6] {
    use JrParam as P;
    let (a, b, mu, A, B, J) = (
        p.get(P::a),
        p.get(P::b),
        p.get(P::mu),
        p.get(P::A),
        p.get(P::B),
        p.get(P::J),
    );
    let (nu, r, v0, lc) = (
        p.get(P::nu_max),
        p.get(P::r),
        p.get(P::v0),
        p.get(P::local_coupling),
    );
    let s1 = 2.0 * nu / (1.0 + (r * (v0 - J * p.get(P::a_1) * y[0])).exp());
    let s3 = 2.0 * nu / (1.0 + (r * (v0 - J * p.get(P::a_3) * y[0])).exp());
    let s12 = 2.0 * nu / (1.0 + (r * (v0 + y[2] - y[1])).exp());
    [
        y[3],
        y[4],
        y[5],
        -y[0] * (a * a) - 2.0 * a * y[3] + A * a * s12,
        -y[1] * (a * a) - 2.0 * a * y[4]
            + A * a * (c + mu + lc * (y[1] - y[2]) + J * p.get(P::a_2) * s1),
        -y[2] * (b * b) - 2.0 * b * y[5] + B * J * p.get(P::a_4) * b * s3,
    ]
}

/// Vector–Jacobian product of [`drift`]: given `λ = ∂L/∂(dy)`, adds `λᵀ ∂f/∂y` to `dy`,
/// `λᵀ ∂f/∂p` to `dp`, and returns `λᵀ ∂f/∂c`.
#[allow(non_snake_case)]
#[inline]
pub fn drift_vjp(
    p: &NodeParams,
    y: &[f64; 6],
    c: f64,
    lam: &[f64; 6],
    dy: &mut [f64; 6],
    dp: &mut [f64; N_JR_PARAMS],
) -> f64 {
    use JrParam as P;
    let (a, b, mu, A, B, J) = (
        p.get(P::a),
        p.get(P::b),
        p.get(P::mu),
        p.get(P::A),
        p.get(P::B),
        p.get(P::J),
    );
    let (nu, r, v0, lc) = (
        p.get(P::nu_max),
        p.get(P::r),
        p.get(P::v0),
        p.get(P::local_coupling),
    );
    let (a1, a2, a3, a4) = (p.get(P::a_1), p.get(P::a_2), p.get(P::a_3), p.get(P::a_4));
    let v1 = J * a1 * y[0];
    let v3 = J * a3 * y[0];
    let v12 = y[1] - y[2];
    let (s1, t1) = rate(nu, r, v0, v1);
    let (s3, t3) = rate(nu, r, v0, v3);
    let (s12, t12) = rate(nu, r, v0, v12);
    let [l0, l1, l2, l3, l4, l5] = *lam;

    dy[3] += l0;
    dy[4] += l1;
    dy[5] += l2;

    // dy3 = -y0 a² - 2a y3 + A a s12
    dy[0] -= l3 * a * a;
    dy[3] -= 2.0 * a * l3;
    let g12 = l3 * A * a;
    dp[P::a as usize] += l3 * (-2.0 * a * y[0] - 2.0 * y[3] + A * s12);
    dp[P::A as usize] += l3 * a * s12;

    // dy4 = -y1 a² - 2a y4 + A a inner
    let inner = c + mu + lc * v12 + J * a2 * s1;
    dy[1] += l4 * (A * a * lc - a * a);
    dy[2] -= l4 * A * a * lc;
    dy[4] -= 2.0 * a * l4;
    let dc = l4 * A * a;
    dp[P::mu as usize] += dc;
    dp[P::local_coupling as usize] += dc * v12;
    let g1 = dc * J * a2;
    dp[P::J as usize] += dc * a2 * s1;
    dp[P::a_2 as usize] += dc * J * s1;
    dp[P::a as usize] += l4 * (-2.0 * a * y[1] - 2.0 * y[4] + A * inner);
    dp[P::A as usize] += l4 * a * inner;

    // dy5 = -y2 b² - 2b y5 + B J a4 b s3
    dy[2] -= l5 * b * b;
    dy[5] -= 2.0 * b * l5;
    let g3 = l5 * B * J * a4 * b;
    dp[P::b as usize] += l5 * (-2.0 * b * y[2] - 2.0 * y[5] + B * J * a4 * s3);
    dp[P::B as usize] += l5 * J * a4 * b * s3;
    dp[P::J as usize] += l5 * B * a4 * b * s3;
    dp[P::a_4 as usize] += l5 * B * J * b * s3;

    // Sigmoids: ds/dv = r s (1 - t), ds/dr = -(v0 - v) s (1 - t), ds/dv0 = -r s (1 - t),
    // ds/dnu = 2 t (t = 1/(1+e) keeps every expression finite when exp overflows).
    let mut sig = |g: f64, s: f64, t: f64, v: f64| -> f64 {
        let q = s * (1.0 - t);
        dp[P::r as usize] -= g * (v0 - v) * q;
        dp[P::v0 as usize] -= g * r * q;
        dp[P::nu_max as usize] += g * 2.0 * t;
        g * r * q
    };
    let gv1 = sig(g1, s1, t1, v1);
    let gv3 = sig(g3, s3, t3, v3);
    let gv12 = sig(g12, s12, t12, v12);
    dy[0] += gv1 * J * a1 + gv3 * J * a3;
    dp[P::J as usize] += gv1 * a1 * y[0] + gv3 * a3 * y[0];
    dp[P::a_1 as usize] += gv1 * J * y[0];
    dp[P::a_3 as usize] += gv3 * J * y[0];
    dy[1] += gv12;
    dy[2] -= gv12;
    dc
}

/// Packed parameters as tensors `[B, N]`, one per [`JrParam`], for the tensor-op drift.
#[derive(Debug, Clone)]
pub struct TensorParams(pub Vec<Tensor<2>>);

impl TensorParams {
    /// Splits a packed `[B, N_JR_PARAMS, N]` tensor into per-parameter `[B, N]` tensors.
    pub fn from_packed(packed: Tensor<3>) -> Self {
        let [b, _, n] = packed.dims();
        Self(
            (0..N_JR_PARAMS)
                .map(|k| packed.clone().narrow(1, k, 1).reshape([b, n]))
                .collect(),
        )
    }

    /// The tensor of one parameter.
    pub fn get(&self, p: JrParam) -> Tensor<2> {
        self.0[p as usize].clone()
    }
}

fn rate_tensor(p: &TensorParams, v: Tensor<2>) -> Tensor<2> {
    use JrParam as P;
    let e = (p.get(P::r) * (p.get(P::v0) - v)).exp();
    p.get(P::nu_max).mul_scalar(2.0) / e.add_scalar(1.0)
}

/// The drift as burn tensor operations on `[B, N]` state components (the reference oracle).
#[allow(non_snake_case)]
pub fn drift_tensor(p: &TensorParams, y: &[Tensor<2>; 6], c: Tensor<2>) -> [Tensor<2>; 6] {
    use JrParam as P;
    let (a, b, A, B, J) = (
        p.get(P::a),
        p.get(P::b),
        p.get(P::A),
        p.get(P::B),
        p.get(P::J),
    );
    let s1 = rate_tensor(p, J.clone() * p.get(P::a_1) * y[0].clone());
    let s3 = rate_tensor(p, J.clone() * p.get(P::a_3) * y[0].clone());
    let s12 = rate_tensor(p, y[1].clone() - y[2].clone());
    let aa = a.clone() * a.clone();
    let bb = b.clone() * b.clone();
    let inner = c
        + p.get(P::mu)
        + p.get(P::local_coupling) * (y[1].clone() - y[2].clone())
        + J.clone() * p.get(P::a_2) * s1;
    [
        y[3].clone(),
        y[4].clone(),
        y[5].clone(),
        -(y[0].clone() * aa.clone()) - a.clone().mul_scalar(2.0) * y[3].clone()
            + A.clone() * a.clone() * s12,
        -(y[1].clone() * aa) - a.clone().mul_scalar(2.0) * y[4].clone() + A * a * inner,
        -(y[2].clone() * bb) - b.clone().mul_scalar(2.0) * y[5].clone()
            + B * J * p.get(P::a_4) * b * s3,
    ]
}

/// The coupling sigmoid as tensor operations on `[B, N]` (per source region).
pub fn coupling_sigmoid_tensor(p: &TensorParams, y1: Tensor<2>, y2: Tensor<2>) -> Tensor<2> {
    use JrParam as P;
    let e = (p.get(P::coupling_r) * (p.get(P::coupling_midpoint) - y1 + y2)).exp();
    p.get(P::coupling_cmin)
        + (p.get(P::coupling_cmax) - p.get(P::coupling_cmin)) / e.add_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed_node() -> NodeParams {
        let mut p = pack(&JansenRit::default(), &SigmoidalJansenRit::default());
        p[JrParam::local_coupling as usize] = 0.3; // exercise the local term too
        NodeParams(p)
    }

    /// Central finite differences of the drift against the hand-written VJP.
    #[test]
    fn drift_vjp_matches_finite_differences() {
        let p = packed_node();
        let y = [0.13, 17.0, 12.5, 0.02, -0.4, 0.7];
        let c = 0.004;
        let lam = [0.3, -1.1, 0.7, 2.0, -0.5, 1.3];
        let f = |p: &NodeParams, y: &[f64; 6], c: f64| -> f64 {
            drift(p, y, c).iter().zip(lam).map(|(a, b)| a * b).sum()
        };
        let mut dy = [0.0; 6];
        let mut dp = [0.0; N_JR_PARAMS];
        let dc = drift_vjp(&p, &y, c, &lam, &mut dy, &mut dp);
        for k in 0..6 {
            let h = 1e-6 * y[k].abs().max(1.0);
            let (mut yp, mut ym) = (y, y);
            yp[k] += h;
            ym[k] -= h;
            let fd = (f(&p, &yp, c) - f(&p, &ym, c)) / (2.0 * h);
            assert!(
                (fd - dy[k]).abs() <= 1e-7 * fd.abs().max(1.0),
                "y{k}: {fd} vs {}",
                dy[k]
            );
        }
        let h = 1e-7;
        let fd = (f(&p, &y, c + h) - f(&p, &y, c - h)) / (2.0 * h);
        assert!((fd - dc).abs() < 1e-7 * fd.abs().max(1.0));
        for k in 0..JrParam::coupling_a as usize {
            let h = 1e-6 * p.0[k].abs().max(1e-3);
            let (mut pp, mut pm) = (p, p);
            pp.0[k] += h;
            pm.0[k] -= h;
            let fd = (f(&pp, &y, c) - f(&pm, &y, c)) / (2.0 * h);
            assert!(
                (fd - dp[k]).abs() <= 1e-6 * fd.abs().max(1e-6),
                "p{k}: {fd} vs {}",
                dp[k]
            );
        }
    }

    #[test]
    fn coupling_sigmoid_vjp_matches_finite_differences() {
        let p = packed_node();
        let (y1, y2) = (14.0, 5.0);
        let mut dy = [0.0; 6];
        let mut dp = [0.0; N_JR_PARAMS];
        coupling_sigmoid_vjp(&p, y1, y2, 1.0, &mut dy, &mut dp);
        let h = 1e-6;
        let fd1 = (coupling_sigmoid(&p, y1 + h, y2) - coupling_sigmoid(&p, y1 - h, y2)) / (2.0 * h);
        let fd2 = (coupling_sigmoid(&p, y1, y2 + h) - coupling_sigmoid(&p, y1, y2 - h)) / (2.0 * h);
        assert!((fd1 - dy[1]).abs() < 1e-10 && (fd2 - dy[2]).abs() < 1e-10);
        for k in JrParam::coupling_cmax as usize..N_JR_PARAMS {
            let h = 1e-7;
            let (mut pp, mut pm) = (p, p);
            pp.0[k] += h;
            pm.0[k] -= h;
            let fd = (coupling_sigmoid(&pp, y1, y2) - coupling_sigmoid(&pm, y1, y2)) / (2.0 * h);
            assert!((fd - dp[k]).abs() < 1e-9, "p{k}: {fd} vs {}", dp[k]);
        }
    }

    #[test]
    fn parameter_names_round_trip() {
        for p in JrParam::ALL {
            let name = p.qualified_name();
            let back = match name.strip_prefix("coupling.") {
                Some(c) => JrParam::coupling(c),
                None => JrParam::model(&name),
            };
            assert_eq!(back, Some(p));
        }
    }
}
