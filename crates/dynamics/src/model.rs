//! The node-model seam: what a neural mass model tells the network engine.
//!
//! A model is a zero-sized type implementing [`NodeModel`]: named state variables (which feed
//! the coupling, which are observed by default, which are bounded), a parameter table, and the
//! node drift `dx = f(x, c, θ)` written **once**, generic over [`Scalar`]. From that one
//! definition the engine derives
//!
//! * the `f64` fast path ([`NodeModel::drift`] with `S = f64`),
//! * the vector–Jacobian product with respect to state, coupling input and every parameter
//!   ([`NodeModel::drift_vjp`], by default through the [`crate::Rev`] tape), and
//! * the per-step tensor-op oracle ([`drift_tensor`]).
//!
//! A model may override `drift_vjp` with a hand-written adjoint for speed
//! ([`NodeModel::HAND_WRITTEN_VJP`]); the generic model suite then checks it against the
//! derived one automatically.
//!
//! Parameters are packed `[n_params, n_regions]` (parameter-major), so every parameter can be
//! heterogeneous across regions and every one is differentiable.

use crate::rev::{Rev, vjp};
use crate::scalar::{Lanes, Scalar, get_lane, set_lane};
use crate::tensor_scalar::eval_tensor;
use burn::tensor::Tensor;

/// Largest number of state variables of any model (fixed-size scratch in the kernels).
pub const MAX_STATE: usize = 8;
/// Largest number of coupling inputs of any model.
pub const MAX_COUPLING: usize = 4;
/// Largest number of model parameters.
pub const MAX_MODEL_PARAMS: usize = 32;
/// Largest number of intermediates a drift keeps for its VJP ([`NodeModel::NAUX`]).
pub const MAX_AUX: usize = 4;

/// One entry of a parameter table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamInfo {
    /// Name as in tvb-library (`a`, `J_N`, `tau_s`, …).
    pub name: &'static str,
    /// Default value.
    pub default: f64,
    /// Unit (`ms`, `mV`, `1` for dimensionless, …).
    pub unit: &'static str,
    /// Valid domain `[lo, hi]` (tvb-library's `domain` range; a guide for grids and bounds).
    pub domain: (f64, f64),
    /// One-line description.
    pub doc: &'static str,
}

/// A parameter-table entry (a `const fn`, so tables can be `const` slices).
pub const fn param(
    name: &'static str,
    default: f64,
    unit: &'static str,
    domain: (f64, f64),
    doc: &'static str,
) -> ParamInfo {
    ParamInfo {
        name,
        default,
        unit,
        domain,
        doc,
    }
}

/// A state variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateInfo {
    /// Name (`y0`, `V`, `S`, …).
    pub name: &'static str,
    /// Hard bounds `[lo, hi]` the integrator clamps to (TVB's `state_variable_boundaries`);
    /// `(-inf, inf)` when unbounded.
    pub bounds: (f64, f64),
}

impl StateInfo {
    /// An unbounded state variable.
    pub const fn free(name: &'static str) -> Self {
        Self {
            name,
            bounds: (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    /// A bounded state variable.
    pub const fn bounded(name: &'static str, lo: f64, hi: f64) -> Self {
        Self {
            name,
            bounds: (lo, hi),
        }
    }

    /// Whether the variable has a finite bound.
    pub fn is_bounded(&self) -> bool {
        self.bounds.0 > f64::NEG_INFINITY || self.bounds.1 < f64::INFINITY
    }
}

/// A neural mass model of one network node.
pub trait NodeModel: Send + Sync + 'static {
    /// Name in experiment files (`model.name`).
    const NAME: &'static str;
    /// State variables in order.
    const STATE: &'static [StateInfo];
    /// Indices of the state variables the coupling reads (TVB's `cvar`).
    const CVAR: &'static [usize];
    /// Number of coupling inputs the drift reads (`c[0..N_COUPLING]`).
    const N_COUPLING: usize;
    /// Default observed variable (index into [`Self::STATE`]).
    const VOI: usize;
    /// Parameter table, in packing order.
    const PARAMS: &'static [ParamInfo];
    /// Citation for the doc and `fit` outputs.
    const REFERENCE: &'static str;
    /// A typical integration step (ms): what the generic model suite and examples use.
    const DT: f64;
    /// A typical starting state (one value per state variable; used with [`Self::DT`]).
    const INITIAL: &'static [f64];
    /// True when [`Self::drift_vjp`] is hand-written (checked against the derived VJP).
    const HAND_WRITTEN_VJP: bool = false;

    /// Number of state variables.
    const NS: usize = Self::STATE.len();
    /// Number of parameters.
    const NP: usize = Self::PARAMS.len();
    /// Number of intermediates [`Self::drift_aux`] keeps for [`Self::drift_vjp_aux`] (at most
    /// [`MAX_AUX`]; 0, the default, keeps none).
    const NAUX: usize = 0;

    /// The node drift `dx = f(x, c, p)`: `x` has [`Self::NS`] entries, `c` at least
    /// [`Self::N_COUPLING`], `p` [`Self::NP`]; writes `dx` ([`Self::NS`] entries).
    fn drift<S: Scalar>(x: &[S], c: &[S], p: &[S], dx: &mut [S]);

    /// Vector–Jacobian product of the drift: with `λ = ∂L/∂dx`, adds `λᵀ∂f/∂x` to `gx`,
    /// `λᵀ∂f/∂c` to `gc` and `λᵀ∂f/∂p` to `gp`, in every lane of `S` (`f64`, or several
    /// regions at once). Derived from [`Self::drift`] by default, lane by lane
    /// ([`drift_vjp_lanewise`]); a hand-written one is written once over [`Lanes`], so that
    /// the adjoint runs it on four regions per instruction.
    #[inline]
    fn drift_vjp<S: Lanes>(
        x: &[S],
        c: &[S],
        p: &[S],
        lam: &[S],
        gx: &mut [S],
        gc: &mut [S],
        gp: &mut [S],
    ) {
        drift_vjp_lanewise::<Self, S>(x, c, p, lam, gx, gc, gp);
    }

    /// [`Self::drift`], also writing into `aux` ([`Self::NAUX`] values) intermediates that
    /// [`Self::drift_vjp_aux`] reuses instead of computing them again (a sigmoid's
    /// exponential). The network adjoint keeps them from its recomputation of the forward
    /// pass. The same `dx` bits as `drift`; by default `drift` itself, keeping nothing.
    #[inline]
    fn drift_aux<S: Lanes>(x: &[S], c: &[S], p: &[S], dx: &mut [S], aux: &mut [S]) {
        let _ = aux;
        Self::drift(x, c, p, dx);
    }

    /// [`Self::drift_vjp`] at a point where [`Self::drift_aux`] wrote `aux`: the same
    /// additions, bit for bit (the generic model suite checks it for every model); by default
    /// `drift_vjp` itself.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn drift_vjp_aux<S: Lanes>(
        x: &[S],
        c: &[S],
        p: &[S],
        aux: &[S],
        lam: &[S],
        gx: &mut [S],
        gc: &mut [S],
        gp: &mut [S],
    ) {
        let _ = aux;
        Self::drift_vjp(x, c, p, lam, gx, gc, gp);
    }
}

/// [`drift_vjp_derived`] in every lane of `S` in turn (the default [`NodeModel::drift_vjp`]):
/// each lane gets exactly the scalar derived VJP's additions.
pub fn drift_vjp_lanewise<M: NodeModel + ?Sized, S: Lanes>(
    x: &[S],
    c: &[S],
    p: &[S],
    lam: &[S],
    gx: &mut [S],
    gc: &mut [S],
    gp: &mut [S],
) {
    let (ns, nc, np) = (M::NS, c.len(), M::NP);
    for l in 0..S::WIDTH {
        let (mut xl, mut laml) = ([0.0; MAX_STATE], [0.0; MAX_STATE]);
        let (mut cl, mut pl) = ([0.0; MAX_COUPLING], [0.0; MAX_MODEL_PARAMS]);
        let (mut gxl, mut gcl, mut gpl) = (
            [0.0; MAX_STATE],
            [0.0; MAX_COUPLING],
            [0.0; MAX_MODEL_PARAMS],
        );
        get_lane(&x[..ns], l, &mut xl[..ns]);
        get_lane(&lam[..ns], l, &mut laml[..ns]);
        get_lane(c, l, &mut cl[..nc]);
        get_lane(&p[..np], l, &mut pl[..np]);
        // Accumulate onto the lanes' current values, as the scalar VJP adds to its outputs.
        get_lane(&gx[..ns], l, &mut gxl[..ns]);
        get_lane(&gc[..nc], l, &mut gcl[..nc]);
        get_lane(&gp[..np], l, &mut gpl[..np]);
        drift_vjp_derived::<M>(
            &xl[..ns],
            &cl[..nc],
            &pl[..np],
            &laml[..ns],
            &mut gxl[..ns],
            &mut gcl[..nc],
            &mut gpl[..np],
        );
        set_lane(&mut gx[..ns], l, &gxl[..ns]);
        set_lane(&mut gc[..nc], l, &gcl[..nc]);
        set_lane(&mut gp[..np], l, &gpl[..np]);
    }
}

/// The tape-derived VJP of `M`'s drift (what [`NodeModel::drift_vjp`] does by default).
pub fn drift_vjp_derived<M: NodeModel + ?Sized>(
    x: &[f64],
    c: &[f64],
    p: &[f64],
    lam: &[f64],
    gx: &mut [f64],
    gc: &mut [f64],
    gp: &mut [f64],
) {
    let (ns, nc, np) = (M::NS, c.len(), M::NP);
    let mut inputs = [0.0; crate::rev::MAX_INPUTS];
    inputs[..ns].copy_from_slice(&x[..ns]);
    inputs[ns..ns + nc].copy_from_slice(c);
    inputs[ns + nc..ns + nc + np].copy_from_slice(&p[..np]);
    let mut grad = [0.0; crate::rev::MAX_INPUTS];
    let len = ns + nc + np;
    vjp(
        &inputs[..len],
        &lam[..ns],
        &mut grad[..len],
        None,
        |v: &[Rev], out: &mut [Rev]| M::drift(&v[..ns], &v[ns..ns + nc], &v[ns + nc..], out),
    );
    for k in 0..ns {
        gx[k] += grad[k];
    }
    for k in 0..nc {
        gc[k] += grad[ns + k];
    }
    for k in 0..np {
        gp[k] += grad[ns + nc + k];
    }
}

/// The drift as burn tensor operations: `x`, `c`, `p` are `[B, N]` tensors (one per state
/// variable, coupling input and parameter); returns one `[B, N]` tensor per state variable.
pub fn drift_tensor<M: NodeModel>(
    x: &[Tensor<2>],
    c: &[Tensor<2>],
    p: &[Tensor<2>],
) -> Vec<Tensor<2>> {
    let (ns, nc) = (M::NS, c.len());
    let inputs: Vec<Tensor<2>> = x.iter().chain(c).chain(p).cloned().collect();
    eval_tensor(&inputs, ns, &x[0], |v, out| {
        M::drift(&v[..ns], &v[ns..ns + nc], &v[ns + nc..], out)
    })
}

/// Runtime description of a registered model (for configuration, errors and outputs).
#[derive(Debug, Clone, Copy)]
pub struct ModelInfo {
    /// Name.
    pub name: &'static str,
    /// State variables.
    pub state: &'static [StateInfo],
    /// Coupling variables.
    pub cvar: &'static [usize],
    /// Coupling inputs read by the drift.
    pub n_coupling: usize,
    /// Default observed variable.
    pub voi: usize,
    /// Parameter table.
    pub params: &'static [ParamInfo],
    /// Citation.
    pub reference: &'static str,
    /// Typical step (ms).
    pub dt: f64,
    /// Typical starting state.
    pub initial: &'static [f64],
}

impl ModelInfo {
    /// The description of `M`.
    pub fn of<M: NodeModel>() -> Self {
        Self {
            name: M::NAME,
            state: M::STATE,
            cvar: M::CVAR,
            n_coupling: M::N_COUPLING,
            voi: M::VOI,
            params: M::PARAMS,
            reference: M::REFERENCE,
            dt: M::DT,
            initial: M::INITIAL,
        }
    }

    /// Index of a state variable by name.
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.state.iter().position(|s| s.name == name)
    }

    /// Names of the state variables.
    pub fn state_names(&self) -> Vec<&'static str> {
        self.state.iter().map(|s| s.name).collect()
    }

    /// Index of a parameter by name.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    /// Default parameter values.
    pub fn defaults(&self) -> Vec<f64> {
        self.params.iter().map(|p| p.default).collect()
    }
}
