//! Integrators as data: explicit Runge-Kutta tableaus with their order, and one step of a node
//! (with its adjoint) for any model.
//!
//! One step from `X` with coupling input `c` and an already scaled noise increment `η`:
//!
//! ```text
//! X_s   = clamp(X + dt Σ_{j<s} a_sj k_j + c_s η)     (stage inputs; X_0 = X)
//! k_s   = f(X_s, c, θ)
//! X'    = clamp(X + dt Σ_s b_s k_s + η)
//! ```
//!
//! * **Coupling held for the whole step** in every method: `c` is computed once per step from
//!   the delay history before the step, as tvb-library does for all its integrators (the
//!   delayed history cannot supply intermediate times) and as the TVB-O kernel does.
//! * **Noise** (additive, `η = sqrt(dt)·σ·ξ`): with `Heun` this is the stochastic Heun of TVB-O
//!   — the same `η` in the predictor and in the result; with `Euler` it is Euler–Maruyama.
//!   `RK4` is deterministic only.
//! * **Clamping** to the model's state bounds is applied to every stage input and to the result
//!   (tvb-library clamps the Heun predictor and result); the adjoint passes no gradient through
//!   a component that was clamped.

use crate::lanes::Clamp;
use dynamics::{MAX_AUX, MAX_COUPLING, MAX_STATE, NodeModel};

/// Largest number of stages.
pub const MAX_STAGES: usize = 4;

/// An explicit Runge-Kutta method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tableau {
    /// Name in experiment files.
    pub name: &'static str,
    /// Number of stages.
    pub stages: usize,
    /// Stage coefficients `a[s][j]`, `j < s`.
    pub a: [[f64; MAX_STAGES]; MAX_STAGES],
    /// Weights `b[s]`.
    pub b: [f64; MAX_STAGES],
    /// Noise fraction entering each stage input (`c_s`; the stage times for additive noise).
    pub c: [f64; MAX_STAGES],
    /// Order of convergence of the deterministic method.
    pub order: usize,
    /// Whether additive noise is supported.
    pub stochastic: bool,
}

/// Forward Euler (order 1); Euler–Maruyama with noise.
pub const EULER: Tableau = Tableau {
    name: "Euler",
    stages: 1,
    a: [[0.0; 4]; 4],
    b: [1.0, 0.0, 0.0, 0.0],
    c: [0.0; 4],
    order: 1,
    stochastic: true,
};

/// Heun's method (order 2); TVB-O's stochastic Heun with noise.
pub const HEUN: Tableau = Tableau {
    name: "Heun",
    stages: 2,
    a: [
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0; 4],
        [0.0; 4],
    ],
    b: [0.5, 0.5, 0.0, 0.0],
    c: [0.0, 1.0, 0.0, 0.0],
    order: 2,
    stochastic: true,
};

/// The classical fourth-order Runge-Kutta method (deterministic only).
pub const RK4: Tableau = Tableau {
    name: "RK4",
    stages: 4,
    a: [
        [0.0, 0.0, 0.0, 0.0],
        [0.5, 0.0, 0.0, 0.0],
        [0.0, 0.5, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ],
    b: [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    c: [0.0, 0.5, 0.5, 1.0],
    order: 4,
    stochastic: false,
};

/// The integration methods, chosen by `integration.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// [`EULER`].
    Euler,
    /// [`HEUN`] (the default: TVB-O and tvb-library's `HeunDeterministic`/`HeunStochastic`).
    #[default]
    Heun,
    /// [`RK4`].
    Rk4,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 3] = [Method::Euler, Method::Heun, Method::Rk4];

    /// Its tableau.
    pub const fn tableau(self) -> &'static Tableau {
        match self {
            Self::Euler => &EULER,
            Self::Heun => &HEUN,
            Self::Rk4 => &RK4,
        }
    }

    /// Looks a method up by name (`Euler`, `Heun`, `RK4`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.tableau().name == name)
    }

    /// Names of all methods.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.tableau().name).collect()
    }
}

/// The stage counts the step loops are monomorphised for (the `match`es on
/// [`Tableau::stages`] here and in the network kernel): one copy of each model's step per count
/// is compiled for every model and coupling, so unused counts are not instantiated. A method
/// with another number of stages needs its arm in those `match`es; this fails to compile until
/// it has one.
pub const STAGE_COUNTS: [usize; 3] = [1, 2, 4];

const _: () = {
    let mut i = 0;
    while i < Method::ALL.len() {
        let s = Method::ALL[i].tableau().stages;
        assert!(
            s == STAGE_COUNTS[0] || s == STAGE_COUNTS[1] || s == STAGE_COUNTS[2],
            "a method's stage count has no monomorphised step (see STAGE_COUNTS)"
        );
        i += 1;
    }
};

#[inline(always)]
fn clamp<M: NodeModel, S: Clamp>(x: &mut [S; MAX_STATE]) {
    for v in 0..M::NS {
        let (lo, hi) = M::STATE[v].bounds;
        x[v] = x[v].clamp_to(lo, hi);
    }
}

/// Whether a model's state has bounds (clamped by the integrator).
#[inline(always)]
const fn has_bounds<M: NodeModel>() -> bool {
    let mut k = 0;
    while k < M::NS {
        let (lo, hi) = M::STATE[k].bounds;
        if lo > f64::NEG_INFINITY || hi < f64::INFINITY {
            return true;
        }
        k += 1;
    }
    false
}

/// Clamp mask: 1 where the unclamped value lies inside the bounds (gradient passes), else 0.
#[inline(always)]
fn pass_mask<M: NodeModel, S: Clamp>(x: &[S; MAX_STATE], m: &mut [S; MAX_STATE]) {
    for v in 0..M::NS {
        let (lo, hi) = M::STATE[v].bounds;
        m[v] = x[v].pass(lo, hi);
    }
}

/// One step of one node: `x` (NS), coupling input `c`, model parameters `p`, scaled noise
/// `eta` (NS, zeros when deterministic). Returns the new state.
#[inline(always)]
pub fn step<M: NodeModel>(
    tab: &Tableau,
    dt: f64,
    x: &[f64; MAX_STATE],
    c: &[f64],
    p: &[f64],
    eta: &[f64; MAX_STATE],
) -> [f64; MAX_STATE] {
    // Monomorphised per stage count, so that the stage loops unroll in the hot path.
    match tab.stages {
        1 => step_stages::<M, f64, 1>(tab, dt, x, c, p, eta),
        2 => step_stages::<M, f64, 2>(tab, dt, x, c, p, eta),
        _ => step_stages::<M, f64, 4>(tab, dt, x, c, p, eta),
    }
}

/// [`step`] in any clampable number type: with [`F64x4`](crate::lanes::F64x4), four nodes in
/// one evaluation, each lane bit-for-bit the scalar step (the same operations in the same
/// order). `ST` is the tableau's number of stages.
#[inline(always)]
pub fn step_stages<M: NodeModel, S: Clamp, const ST: usize>(
    tab: &Tableau,
    dt: f64,
    x: &[S; MAX_STATE],
    c: &[S],
    p: &[S],
    eta: &[S; MAX_STATE],
) -> [S; MAX_STATE] {
    // The record is never read: the compiler drops its stores.
    let mut rec = stage_record();
    step_stages_rec::<M, S, ST>(tab, dt, x, c, p, eta, &mut rec)
}

/// What the adjoint of a step needs from its forward evaluation ([`step_stages_rec`] writes
/// it, [`step_vjp_recorded`] reads it): `x[s]`, `s ≥ 1`, is stage input `X_s` before clamping,
/// and `x[0]` the result before clamping; `aux[s]` the intermediates the model's
/// [`NodeModel::drift_aux`] kept at stage `s` ([`NodeModel::NAUX`] values). With these the
/// adjoint neither re-evaluates the drift to rebuild the stage inputs nor recomputes what the
/// model keeps (Jansen-Rit's sigmoid exponentials).
#[derive(Debug, Clone, Copy)]
pub struct StageRecord<S> {
    /// Stage inputs (slots `1…`) and the unclamped result (slot 0).
    pub x: [[S; MAX_STATE]; MAX_STAGES],
    /// The model's intermediates per stage.
    pub aux: [[S; MAX_AUX]; MAX_STAGES],
}

/// An all-zero [`StageRecord`]. (Written as array expressions: `Default::default()` of a
/// nested array is an out-of-line call with a copy, which cost a third of the forward step.)
#[inline(always)]
pub fn stage_record<S: Clamp>() -> StageRecord<S> {
    StageRecord {
        x: [[S::cst(0.0); MAX_STATE]; MAX_STAGES],
        aux: [[S::cst(0.0); MAX_AUX]; MAX_STAGES],
    }
}

/// The first slot of a [`StageRecord`] that [`step_vjp_recorded`] reads: slot 0 (the unclamped
/// result) only for models with bounds, else slot 1. Slots below it need not be kept.
#[inline(always)]
pub const fn first_read_slot<M: NodeModel>() -> usize {
    if has_bounds::<M>() { 0 } else { 1 }
}

/// Where a [`StageRecord`] lies when the kernels keep one per region and step in a flat
/// buffer of `stages·(NS + NAUX)` rows of `n` regions: the stage values `x[s][v]` in row
/// `s·NS + v`, then the intermediates `aux[s][a]` in row `stages·NS + s·NAUX + a`.
#[derive(Debug, Clone, Copy)]
pub struct RecordRows {
    stages: usize,
    ns: usize,
    naux: usize,
}

impl RecordRows {
    /// The layout for model `M` and a method of `stages` stages.
    pub const fn of<M: NodeModel>(stages: usize) -> Self {
        Self {
            stages,
            ns: M::NS,
            naux: M::NAUX,
        }
    }

    /// Rows per step.
    #[inline(always)]
    pub const fn len(&self) -> usize {
        self.stages * (self.ns + self.naux)
    }

    /// Never true for a model (kept for clippy's `len` rule).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row of stage value `x[s][v]`.
    #[inline(always)]
    pub const fn x(&self, s: usize, v: usize) -> usize {
        s * self.ns + v
    }

    /// The row of intermediate `aux[s][a]`.
    #[inline(always)]
    pub const fn aux(&self, s: usize, a: usize) -> usize {
        self.stages * self.ns + s * self.naux + a
    }
}

/// [`step_stages`], also writing the step's [`StageRecord`] into `rec`.
#[inline(always)]
pub fn step_stages_rec<M: NodeModel, S: Clamp, const ST: usize>(
    tab: &Tableau,
    dt: f64,
    x: &[S; MAX_STATE],
    c: &[S],
    p: &[S],
    eta: &[S; MAX_STATE],
    rec: &mut StageRecord<S>,
) -> [S; MAX_STATE] {
    let ns = M::NS;
    let zero = S::cst(0.0);
    let mut k = [[zero; MAX_STATE]; MAX_STAGES];
    let na = M::NAUX;
    for s in 0..ST {
        if s == 0 {
            M::drift_aux(&x[..ns], c, p, &mut k[0][..ns], &mut rec.aux[0][..na]);
        } else {
            let mut xs = [zero; MAX_STATE];
            for v in 0..ns {
                let mut acc = zero;
                for j in 0..s {
                    acc += k[j][v] * tab.a[s][j];
                }
                xs[v] = x[v] + acc * dt + eta[v] * tab.c[s];
            }
            rec.x[s] = xs;
            if has_bounds::<M>() {
                clamp::<M, S>(&mut xs);
            }
            let (_, rest) = k.split_at_mut(s);
            M::drift_aux(&xs[..ns], c, p, &mut rest[0][..ns], &mut rec.aux[s][..na]);
        }
    }
    let mut out = [zero; MAX_STATE];
    for v in 0..ns {
        let mut acc = zero;
        for s in 0..ST {
            acc += k[s][v] * tab.b[s];
        }
        out[v] = x[v] + acc * dt + eta[v];
    }
    rec.x[0] = out;
    if has_bounds::<M>() {
        clamp::<M, S>(&mut out);
    }
    out
}

/// Adjoint of [`step`]: given `lam = ∂L/∂X'`, returns `∂L/∂X`, adds `∂L/∂c` to `gc` and
/// `∂L/∂p` to `gp`. The noise is data and receives no gradient. In any clampable number type:
/// with [`F64x4`](crate::lanes::F64x4), four nodes at once, each lane bit-for-bit the scalar
/// adjoint (the model's [`NodeModel::drift_vjp`] is written over [`dynamics::Lanes`]).
#[inline(always)]
pub fn step_vjp<M: NodeModel, S: Clamp>(
    tab: &Tableau,
    dt: f64,
    x: &[S; MAX_STATE],
    c: &[S],
    p: &[S],
    eta: &[S; MAX_STATE],
    lam: &[S; MAX_STATE],
    gc: &mut [S],
    gp: &mut [S],
) -> [S; MAX_STATE] {
    // Replay the step for its record (the same sums in the same order as `step_stages`).
    let mut rec = stage_record();
    match tab.stages {
        1 => step_stages_rec::<M, S, 1>(tab, dt, x, c, p, eta, &mut rec),
        2 => step_stages_rec::<M, S, 2>(tab, dt, x, c, p, eta, &mut rec),
        _ => step_stages_rec::<M, S, 4>(tab, dt, x, c, p, eta, &mut rec),
    };
    step_vjp_recorded::<M, S>(tab, dt, x, &rec, c, p, lam, gc, gp)
}

/// [`step_vjp`] from the step's [`StageRecord`] (written by [`step_stages_rec`] in the forward
/// evaluation), without replaying the step: the noise is inside the recorded stage inputs.
/// The same bits as [`step_vjp`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_vjp_recorded<M: NodeModel, S: Clamp>(
    tab: &Tableau,
    dt: f64,
    x: &[S; MAX_STATE],
    rec: &StageRecord<S>,
    c: &[S],
    p: &[S],
    lam: &[S; MAX_STATE],
    gc: &mut [S],
    gp: &mut [S],
) -> [S; MAX_STATE] {
    match tab.stages {
        1 => step_vjp_recorded_stages::<M, S, 1>(tab, dt, x, rec, c, p, lam, gc, gp),
        2 => step_vjp_recorded_stages::<M, S, 2>(tab, dt, x, rec, c, p, lam, gc, gp),
        _ => step_vjp_recorded_stages::<M, S, 4>(tab, dt, x, rec, c, p, lam, gc, gp),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_vjp_recorded_stages<M: NodeModel, S: Clamp, const ST: usize>(
    tab: &Tableau,
    dt: f64,
    x: &[S; MAX_STATE],
    rec: &StageRecord<S>,
    c: &[S],
    p: &[S],
    lam: &[S; MAX_STATE],
    gc: &mut [S],
    gp: &mut [S],
) -> [S; MAX_STATE] {
    let (ns, na) = (M::NS, M::NAUX);
    let bounded = has_bounds::<M>();
    let (zero, one) = (S::cst(0.0), S::cst(1.0));
    // The stage inputs as the drift saw them (clamped), and the clamp masks.
    let mut xs = [[zero; MAX_STATE]; MAX_STAGES];
    let mut mask = [[one; MAX_STATE]; MAX_STAGES];
    xs[0] = *x;
    for s in 1..ST {
        xs[s] = rec.x[s];
        if bounded {
            pass_mask::<M, S>(&xs[s], &mut mask[s]);
            clamp::<M, S>(&mut xs[s]);
        }
    }
    let mut lam_out = *lam;
    if bounded {
        let mut m = [one; MAX_STATE];
        pass_mask::<M, S>(&rec.x[0], &mut m);
        for v in 0..ns {
            lam_out[v] *= m[v];
        }
    }
    let mut lam_k = [[zero; MAX_STATE]; MAX_STAGES];
    for s in 0..ST {
        let w = dt * tab.b[s];
        for v in 0..ns {
            lam_k[s][v] = lam_out[v] * w;
        }
    }
    let mut lam_x = lam_out;
    let mut gcs = [zero; MAX_COUPLING];
    for s in (1..ST).rev() {
        let mut gx = [zero; MAX_STATE];
        M::drift_vjp_aux(
            &xs[s][..ns],
            c,
            p,
            &rec.aux[s][..na],
            &lam_k[s][..ns],
            &mut gx[..ns],
            &mut gcs[..c.len()],
            gp,
        );
        for v in 0..ns {
            gx[v] *= mask[s][v];
            lam_x[v] += gx[v];
        }
        for j in 0..s {
            let w = dt * tab.a[s][j];
            if w != 0.0 {
                for v in 0..ns {
                    lam_k[j][v] += gx[v] * w;
                }
            }
        }
    }
    M::drift_vjp_aux(
        &x[..ns],
        c,
        p,
        &rec.aux[0][..na],
        &lam_k[0][..ns],
        &mut lam_x[..ns],
        &mut gcs[..c.len()],
        gp,
    );
    for (g, s) in gc.iter_mut().zip(&gcs) {
        *g += *s;
    }
    lam_x
}
