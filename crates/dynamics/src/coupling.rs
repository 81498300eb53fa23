//! The coupling seam: how delayed source states become each node's coupling input.
//!
//! As in tvb-library, a coupling is a pre-synaptic function of the (delayed) source state, a
//! weighted sum over sources and a post function:
//!
//! ```text
//! c_i = post( Σ_j w_ij · pre(x_j(t − τ_ij)),  x_i(t) )
//! ```
//!
//! `pre` depends only on the source, so the engine stores it in the delay history once per
//! source and step (N evaluations per step, not N²) and gathers delayed values from there. `pre`
//! is evaluated with the *source* region's coupling parameters and `post` with the *target*
//! region's, which is what per-region coupling parameters mean. Couplings whose post function
//! needs the target's own state (TVB's `Difference`: `Σ_j w_ij (x_j − x_i)`) get its current
//! coupling variables and the row sum of the weights.
//!
//! Rows are targets and columns sources, as in TVB.

use crate::model::{MAX_COUPLING, MAX_STATE, ParamInfo};
use crate::rev::{Rev, vjp};
use crate::scalar::{Lanes, Scalar, get_lane, set_lane};

/// Largest number of coupling parameters.
pub const MAX_COUPLING_PARAMS: usize = 8;

/// A coupling function.
pub trait CouplingFunction: Send + Sync + 'static {
    /// Name in experiment files (`coupling.name`).
    const NAME: &'static str;
    /// Parameter table, in packing order (after the model's parameters).
    const PARAMS: &'static [ParamInfo];
    /// Whether [`Self::post`] reads the target's current coupling variables.
    const USES_TARGET_STATE: bool = false;
    /// Number of parameters.
    const NP: usize = Self::PARAMS.len();

    /// Number of history channels (coupling inputs) for a model with `ncvar` coupling
    /// variables, or why the two do not fit.
    fn channels(ncvar: usize) -> Result<usize, String>;

    /// The pre-synaptic function of one source: `x` its coupling variables, `p` its region's
    /// coupling parameters; writes one value per channel.
    fn pre<S: Scalar>(x: &[S], p: &[S], out: &mut [S]);

    /// The post function of one target: `sum` the weighted delayed sums per channel, `x_i` the
    /// target's current coupling variables, `rowsum = Σ_j w_ij`, `p` its coupling parameters.
    fn post<S: Scalar>(sum: &[S], x_i: &[S], rowsum: f64, p: &[S], out: &mut [S]);

    /// VJP of [`Self::pre`]: adds `gᵀ∂pre/∂x` to `gx` and `gᵀ∂pre/∂p` to `gp`, in every lane
    /// of `S` (`f64`, or several sources at once). Derived from [`Self::pre`] by default, lane
    /// by lane ([`pre_vjp_lanewise`]); a hand-written one is written once over [`Lanes`].
    #[inline]
    fn pre_vjp<S: Lanes>(x: &[S], p: &[S], g: &[S], gx: &mut [S], gp: &mut [S]) {
        pre_vjp_lanewise::<Self, S>(x, p, g, gx, gp);
    }

    /// VJP of [`Self::post`]: adds `gᵀ∂post/∂sum` to `gsum`, `gᵀ∂post/∂x_i` to `gx` and
    /// `gᵀ∂post/∂p` to `gp`. Derived from [`Self::post`] by default.
    #[inline]
    fn post_vjp(
        sum: &[f64],
        x_i: &[f64],
        rowsum: f64,
        p: &[f64],
        g: &[f64],
        gsum: &mut [f64],
        gx: &mut [f64],
        gp: &mut [f64],
    ) {
        post_vjp_derived::<Self>(sum, x_i, rowsum, p, g, gsum, gx, gp);
    }
}

/// The tape-derived VJP of `C::pre`.
pub fn pre_vjp_derived<C: CouplingFunction + ?Sized>(
    x: &[f64],
    p: &[f64],
    g: &[f64],
    gx: &mut [f64],
    gp: &mut [f64],
) {
    let (nx, np) = (x.len(), C::NP);
    let mut inputs = [0.0; 16];
    inputs[..nx].copy_from_slice(x);
    inputs[nx..nx + np].copy_from_slice(&p[..np]);
    let mut grad = [0.0; 16];
    vjp(
        &inputs[..nx + np],
        g,
        &mut grad[..nx + np],
        None,
        |v: &[Rev], out: &mut [Rev]| C::pre(&v[..nx], &v[nx..], out),
    );
    for k in 0..nx {
        gx[k] += grad[k];
    }
    for k in 0..np {
        gp[k] += grad[nx + k];
    }
}

/// [`pre_vjp_derived`] in every lane of `S` in turn (the default
/// [`CouplingFunction::pre_vjp`]): each lane gets exactly the scalar derived VJP's additions.
pub fn pre_vjp_lanewise<C: CouplingFunction + ?Sized, S: Lanes>(
    x: &[S],
    p: &[S],
    g: &[S],
    gx: &mut [S],
    gp: &mut [S],
) {
    let (nx, np, ng) = (x.len(), C::NP, g.len());
    for l in 0..S::WIDTH {
        let (mut xl, mut gxl) = ([0.0; MAX_STATE], [0.0; MAX_STATE]);
        let (mut pl, mut gpl) = ([0.0; MAX_COUPLING_PARAMS], [0.0; MAX_COUPLING_PARAMS]);
        let mut gl = [0.0; MAX_COUPLING];
        get_lane(x, l, &mut xl[..nx]);
        get_lane(&p[..np], l, &mut pl[..np]);
        get_lane(g, l, &mut gl[..ng]);
        // Accumulate onto the lanes' current values, as the scalar VJP adds to its outputs.
        get_lane(&gx[..nx], l, &mut gxl[..nx]);
        get_lane(&gp[..np], l, &mut gpl[..np]);
        pre_vjp_derived::<C>(
            &xl[..nx],
            &pl[..np],
            &gl[..ng],
            &mut gxl[..nx],
            &mut gpl[..np],
        );
        set_lane(&mut gx[..nx], l, &gxl[..nx]);
        set_lane(&mut gp[..np], l, &gpl[..np]);
    }
}

/// The tape-derived VJP of `C::post`.
pub fn post_vjp_derived<C: CouplingFunction + ?Sized>(
    sum: &[f64],
    x_i: &[f64],
    rowsum: f64,
    p: &[f64],
    g: &[f64],
    gsum: &mut [f64],
    gx: &mut [f64],
    gp: &mut [f64],
) {
    let (ns, nx, np) = (sum.len(), x_i.len(), C::NP);
    let mut inputs = [0.0; 24];
    inputs[..ns].copy_from_slice(sum);
    inputs[ns..ns + nx].copy_from_slice(x_i);
    inputs[ns + nx..ns + nx + np].copy_from_slice(&p[..np]);
    let mut grad = [0.0; 24];
    let len = ns + nx + np;
    vjp(
        &inputs[..len],
        g,
        &mut grad[..len],
        None,
        |v: &[Rev], out: &mut [Rev]| C::post(&v[..ns], &v[ns..ns + nx], rowsum, &v[ns + nx..], out),
    );
    for k in 0..ns {
        gsum[k] += grad[k];
    }
    for k in 0..nx {
        gx[k] += grad[ns + k];
    }
    for k in 0..np {
        gp[k] += grad[ns + nx + k];
    }
}

/// Runtime description of a registered coupling.
#[derive(Debug, Clone, Copy)]
pub struct CouplingInfo {
    /// Name.
    pub name: &'static str,
    /// Parameter table.
    pub params: &'static [ParamInfo],
    /// Whether post reads the target state.
    pub uses_target_state: bool,
    channels: fn(usize) -> Result<usize, String>,
}

impl CouplingInfo {
    /// The description of `C`.
    pub fn of<C: CouplingFunction>() -> Self {
        Self {
            name: C::NAME,
            params: C::PARAMS,
            uses_target_state: C::USES_TARGET_STATE,
            channels: C::channels,
        }
    }

    /// Channels for a model with `ncvar` coupling variables.
    pub fn channels(&self, ncvar: usize) -> Result<usize, String> {
        (self.channels)(ncvar)
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
