//! The one delayed-network kernel: a batch of networks of any registered model, coupled by any
//! registered coupling, integrated by any tableau — plain-Rust forward pass and reverse-mode
//! adjoint with segment checkpointing.
//!
//! This is the hot loop of every network workflow, so it is written by hand instead of as
//! tensor operations (burn pays ~1 µs per recorded op; a step here is ~N² multiply-adds). It is
//! generic over the model and the coupling and monomorphised through [`ModelKind::visit`] and
//! [`CouplingKind::visit`], so the step loop has no dynamic dispatch. The per-step
//! tensor version in [`crate::reference`] computes the same numbers and checks the gradients.
//!
//! Semantics (TVB-O kernel, tvb-library's delays): the history holds, per source region and
//! coupling channel, the coupling's pre-synaptic value of the last `horizon` states, newest =
//! current state. Target `i` reads source `j` `lag[i·n+j]` steps back. The coupling input is
//! computed once per step and held across the integrator's stages. The trace holds the
//! monitored `X_{k+1}` for `k = 0…steps−1`.
//!
//! Parameters are `[B, P, n]` with `P` = the model's parameters followed by the coupling's.
//!
//! Memory: the forward pass keeps the pre-synaptic history of the whole run (`channels·n` values
//! per step) and, when gradients are needed, the full state and the noise generator every
//! `segment` steps; the adjoint recomputes each segment's states and noise from its checkpoint.
//!
//! Vectorisation: the forward step, the step's adjoint (`Plan::adjoint_step`) and the adjoint
//! of the pre-synaptic function (`Plan::pre_vjp_row`) evaluate four regions per model (or
//! coupling) evaluation in [`F64x4`] lanes, the model's equations and its VJP being written over
//! [`dynamics::Scalar`] / [`dynamics::Lanes`]; every lane is the scalar computation bit for
//! bit, so results do not depend on `n mod 4` or on the CPU's vector width.

use crate::huge_pages;
use crate::integrator::{
    Method, RecordRows, StageRecord, Tableau, first_read_slot, stage_record, step_stages_rec,
    step_vjp_recorded,
};
use crate::lanes::{Clamp, F64x4, LANES};
use crate::monitor::{Monitor, MonitorKind};
use crate::noise::{NoiseCursor, NoiseMark, NoiseSource};
use dynamics::coupling::MAX_COUPLING_PARAMS;
use dynamics::{
    CouplingFunction, CouplingKind, CouplingVisitor, Lanes, MAX_COUPLING, MAX_MODEL_PARAMS,
    MAX_STATE, ModelKind, ModelVisitor, NodeModel,
};
use std::marker::PhantomData;
use std::sync::Arc;

mod batch;
mod gather;

use gather::GatherPath;

/// Evaluates `$body` (a function's whole body) compiled for AVX2 when `$avx2` (the CPU has
/// it, detected at run time), else as compiled for the baseline: the body is written once and
/// expanded twice, the AVX2 copy through [`with_avx2`]. Use it as a function's tail
/// expression: the AVX2 branch returns from the function.
macro_rules! avx2_or_baseline {
    ($avx2:expr, $body:block) => {{
        #[cfg(target_arch = "x86_64")]
        if $avx2 {
            // SAFETY: the caller passes the run-time detection of AVX2.
            return unsafe {
                with_avx2(
                    #[inline(always)]
                    || $body,
                )
            };
        }
        $body
    }};
}

/// Everything about a network simulation except the parameters (which are differentiable).
#[derive(Debug, Clone)]
pub struct NetworkProblem {
    /// Node model.
    pub model: ModelKind,
    /// Coupling function.
    pub coupling: CouplingKind,
    /// Integration method.
    pub method: Method,
    /// Number of regions.
    pub n: usize,
    /// Row-major weights `[target, source]`.
    pub weights: Arc<Vec<f64>>,
    /// Integer delays `[target, source]` in steps.
    pub lag: Arc<Vec<usize>>,
    /// History length (max lag + 1).
    pub horizon: usize,
    /// Step (ms).
    pub dt: f64,
    /// Number of steps.
    pub steps: usize,
    /// Noise amplitude σ (η = sqrt(dt)·σ·ξ on every state variable).
    pub sigma: f64,
    /// Where ξ comes from (shared by every parameter set of the batch).
    pub noise: NoiseSource,
    /// Initial state `[S, n]` or `[B, S, n]`.
    pub init_state: Arc<Vec<f64>>,
    /// Initial history of the coupling variables, `[horizon, V, n]` or `[B, horizon, V, n]`,
    /// oldest first; the newest entry is the initial state.
    pub init_history: Arc<Vec<f64>>,
    /// What the output trace records.
    pub monitor: Monitor,
    /// Steps per checkpoint segment in the adjoint.
    pub segment: usize,
    /// How delays between history slots are read: the nearest slot (`lag`, TVB-O's integer
    /// delays) or linear interpolation with the conduction speed as a parameter.
    pub interpolation: DelayInterpolation,
    /// Gradient horizon: gradients flow back at most this many steps (blocks of this length,
    /// the carried state cut at their boundaries, as tvboptim's `grad_horizon`); `None` = the
    /// full gradient. The forward pass is unchanged.
    pub grad_horizon: Option<usize>,
}

/// How the delayed history is read.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DelayInterpolation {
    /// Integer delays `lag` (rounded half to even): TVB-O's and tvb-library's semantics.
    #[default]
    Nearest,
    /// Linear interpolation between the two history slots around `τ_ij/dt = L_ij/(v·dt)`, as
    /// tvboptim's `history_interpolation: linear`; the conduction speed `v` (mm/ms) is the last
    /// row of the packed parameters (its value in region 0), so it is differentiable.
    Linear {
        /// Tract lengths `[target, source]` (mm), i.e. `L[j, i]` for target `i`, source `j`.
        lengths: Arc<Vec<f64>>,
    },
}

/// Weights and gather offsets of the delayed coupling sum, for one parameter set: `m` entries
/// per target (`n` sources, or `2n` with interpolation: the slot before and after).
#[derive(Debug, Clone)]
struct DelayTable {
    m: usize,
    w: Vec<f64>,
    o: Vec<isize>,
    /// `o` as 32-bit indices for the AVX2 paths ([`gather::gather_avx2`]), when every offset
    /// fits.
    o32: Option<Vec<i32>>,
    /// With interpolation: `∂τ_ij/∂v` in slots (`−L_ij/(dt·v²)`), for the speed gradient.
    dslot_dv: Option<Vec<f64>>,
    /// Smallest and largest entry of `o`: one bound check per gather instead of one per term.
    o_min: isize,
    o_max: isize,
}

impl DelayTable {
    fn new(m: usize, w: Vec<f64>, o: Vec<isize>, dslot_dv: Option<Vec<f64>>) -> Self {
        let o32 = o
            .iter()
            .map(|&v| i32::try_from(v).ok())
            .collect::<Option<Vec<i32>>>();
        let o_min = o.iter().copied().min().unwrap_or(0);
        let o_max = o.iter().copied().max().unwrap_or(0);
        Self {
            m,
            w,
            o,
            o32,
            dslot_dv,
            o_min,
            o_max,
        }
    }

    /// The transposed table of integer delays `lag` (`[target, source]`, `n` regions, history
    /// rows of `row` values): for source `j`, the entries `W_ij` at offset `lag_ij·row + i`.
    /// The adjoint gathers with it what the forward pass's reads of source `j` owe it (see
    /// [`Plan::backward_one`]).
    fn transposed(n: usize, row: usize, weights: &[f64], lag: &[usize]) -> Self {
        let mut w = vec![0.0; n * n];
        let mut o = vec![0isize; n * n];
        for i in 0..n {
            for j in 0..n {
                w[j * n + i] = weights[i * n + j];
                o[j * n + i] = (lag[i * n + j] * row + i) as isize;
            }
        }
        Self::new(n, w, o, None)
    }

    /// `out[i] = Σ_j w[i·m + j]·hist[base + o[i·m + j]]` for the `out.len()` rows of the table.
    ///
    /// Each sum has four partial sums (term `j` goes to partial `j mod 4`, combined as
    /// `(s0 + s1) + (s2 + s3)`, then the `m mod 4` last terms in order): a serial sum would be
    /// latency-bound at ~4 cycles per term. With AVX2 the four partials are the lanes of one
    /// register ([`gather::gather_avx2`], by `path`); the order of every sum is the same, so
    /// every path gives the same bits.
    #[inline]
    fn gather_into(&self, path: GatherPath, hist: &[f64], base: usize, out: &mut [f64]) {
        let m = self.m;
        let base = base as isize;
        // Every read lies in hist: one check of the extreme offsets covers all of them.
        assert!(base + self.o_min >= 0 && ((base + self.o_max) as usize) < hist.len());
        assert!(self.w.len() >= out.len() * m && self.o.len() >= out.len() * m);
        #[cfg(target_arch = "x86_64")]
        if let (false, Some(o32)) = (path == GatherPath::Portable, &self.o32) {
            // SAFETY: AVX2 was detected at run time (the path is not portable); every
            // `base + o` is inside `hist` (the bound above), and `w`/`o32` hold `out.len()·m`
            // entries.
            unsafe { gather::gather_avx2(path, &self.w, o32, m, hist.as_ptr().offset(base), out) };
            return;
        }
        for (i, out) in out.iter_mut().enumerate() {
            let w = &self.w[i * m..(i + 1) * m];
            let o = &self.o[i * m..(i + 1) * m];
            let mut acc = [0.0f64; 4];
            let quads = m / 4;
            for q in 0..quads {
                for l in 0..4 {
                    let j = 4 * q + l;
                    // SAFETY: see the bound above.
                    acc[l] += w[j] * unsafe { *hist.get_unchecked((base + o[j]) as usize) };
                }
            }
            let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            for j in 4 * quads..m {
                s += w[j] * hist[(base + o[j]) as usize];
            }
            *out = s;
        }
    }
}

/// Sizes derived from the model and coupling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// State variables.
    pub ns: usize,
    /// Coupling variables.
    pub ncv: usize,
    /// History channels (coupling inputs).
    pub nch: usize,
    /// Model parameters.
    pub npm: usize,
    /// Coupling parameters.
    pub npc: usize,
    /// 1 when the conduction speed is a (differentiable) parameter, the last row of the packed
    /// array (interpolated delays), else 0.
    pub nspeed: usize,
}

impl Layout {
    /// The layout of `model` with `coupling`, or why they do not fit together.
    pub fn new(model: ModelKind, coupling: CouplingKind) -> Result<Self, String> {
        let (m, c) = (model.info(), coupling.info());
        let nch = c
            .channels(m.cvar.len())
            .map_err(|e| format!("coupling {} with model {}: {e}", c.name, m.name))?;
        if nch < m.n_coupling {
            return Err(format!(
                "coupling {} gives {nch} coupling input(s) but {} reads {} (coupling variables {})",
                c.name,
                m.name,
                m.n_coupling,
                m.cvar
                    .iter()
                    .map(|&v| m.state[v].name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if nch > MAX_COUPLING || m.state.len() > MAX_STATE {
            return Err("model too large for the kernel's scratch sizes".into());
        }
        Ok(Self {
            ns: m.state.len(),
            ncv: m.cvar.len(),
            nch,
            npm: m.params.len(),
            npc: c.params.len(),
            nspeed: 0,
        })
    }

    /// Parameters per region.
    pub fn np(&self) -> usize {
        self.npm + self.npc + self.nspeed
    }
}

impl NetworkProblem {
    /// The problem's layout (panics on a model/coupling mismatch, which
    /// [`NetworkProblem::validate`] reports as an error).
    pub fn layout(&self) -> Layout {
        let mut lay =
            Layout::new(self.model, self.coupling).expect("validated model/coupling pair");
        if let DelayInterpolation::Linear { .. } = self.interpolation {
            lay.nspeed = 1;
        }
        lay
    }

    /// Constant initial conditions: state `[S, n]` with `values[v]` for variable `v`, and the
    /// matching history of the coupling variables `[horizon, V, n]`.
    pub fn constant_start(
        model: ModelKind,
        n: usize,
        horizon: usize,
        values: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let info = model.info();
        let state: Vec<f64> = values.iter().flat_map(|v| vec![*v; n]).collect();
        let mut hist = Vec::with_capacity(horizon * info.cvar.len() * n);
        for _ in 0..horizon {
            for &cv in info.cvar {
                hist.extend(std::iter::repeat_n(values[cv], n));
            }
        }
        (state, hist)
    }

    fn init_for(&self, b: usize) -> (&[f64], &[f64]) {
        let lay = self.layout();
        let (s, h) = (lay.ns * self.n, self.horizon * lay.ncv * self.n);
        let state = if self.init_state.len() == s {
            &self.init_state[..]
        } else {
            &self.init_state[b * s..(b + 1) * s]
        };
        let hist = if self.init_history.len() == h {
            &self.init_history[..]
        } else {
            &self.init_history[b * h..(b + 1) * h]
        };
        (state, hist)
    }

    /// Checks sizes of every array against `n`, `steps` and `horizon`; `batch` sets per call.
    pub fn validate(&self, batch: usize) -> Result<(), String> {
        let lay = Layout::new(self.model, self.coupling)?;
        let n = self.n;
        if self.weights.len() != n * n || self.lag.len() != n * n {
            return Err(format!("weights/delays must be {n}x{n}"));
        }
        if self.lag.iter().any(|&l| l >= self.horizon) {
            return Err("a delay is not shorter than the history horizon".into());
        }
        if let NoiseSource::Draws(noise, offset) = self.noise.for_set(0)
            && self.sigma > 0.0
            && noise.len().saturating_sub(*offset) < self.steps * lay.ns * n
        {
            return Err(format!(
                "noise has {} values but [steps, variables, nodes] = [{}, {}, {n}] needs {}",
                noise.len().saturating_sub(*offset),
                self.steps,
                lay.ns,
                self.steps * lay.ns * n
            ));
        }
        if self.sigma > 0.0 && self.noise.is_some() && !self.method.tableau().stochastic {
            return Err(format!(
                "integration method {} is deterministic; use Euler or Heun with noise",
                self.method.tableau().name
            ));
        }
        let (s, h) = (lay.ns * n, self.horizon * lay.ncv * n);
        if self.init_state.len() != s && self.init_state.len() != batch * s {
            return Err(format!(
                "initial state must hold [{}, {n}] or [{batch}, {}, {n}] values",
                lay.ns, lay.ns
            ));
        }
        if self.init_history.len() != h && self.init_history.len() != batch * h {
            return Err(format!(
                "initial history must hold [{}, {}, {n}] or [{batch}, {}, {}, {n}] values",
                self.horizon, lay.ncv, self.horizon, lay.ncv
            ));
        }
        if self.monitor.stride == 0 || self.monitor.variables.iter().any(|&v| v >= lay.ns) {
            return Err(format!(
                "monitor stride must be >= 1 and variables in 0..{}",
                lay.ns
            ));
        }
        if self.segment == 0 {
            return Err("segment must be >= 1".into());
        }
        if self.grad_horizon == Some(0) {
            return Err("the gradient horizon must be >= 1 step".into());
        }
        Ok(())
    }

    /// Elements of one parameter set's monitored trace, `[samples, variables, n]`.
    pub fn trace_len(&self) -> usize {
        self.monitor.samples(self.steps) * self.monitor.variables.len() * self.n
    }

    /// Bytes the adjoint keeps per parameter set (pre-synaptic history plus checkpoints).
    pub fn tape_bytes(&self) -> usize {
        let lay = self.layout();
        let rows = self.horizon + self.steps;
        let checkpoints = self.steps.div_ceil(self.segment) + 1;
        8 * (rows * lay.nch * self.n
            + self.steps * lay.nch * self.n
            + checkpoints * (lay.ns * self.n + 40)
            + 2 * self.horizon * lay.ncv * self.n)
    }
}

/// What the forward pass returns for a batch.
#[derive(Debug, Clone)]
pub struct SimulationOutput {
    /// Monitored trace `[B, samples, variables, n]`.
    pub trace: Vec<f64>,
    /// Final state `[B, S, n]`, for warm starts.
    pub final_state: Vec<f64>,
    /// Final coupling-variable history `[B, horizon, V, n]`, oldest first, for warm starts.
    pub final_history: Vec<f64>,
    /// The noise source continuing where this run stopped (for chained runs).
    pub final_noise: NoiseSource,
}

/// What the adjoint needs from the forward pass of one parameter set.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    pre_hist: Vec<f64>,
    /// The delayed coupling sums of every step `[steps, channels, n]`, so that the adjoint's
    /// recomputation of each segment does not gather them again.
    csums: Vec<f64>,
    checkpoints: Vec<f64>,
    noise: Vec<NoiseMark>,
    /// Haemodynamic states `[n]` at each segment start (BOLD monitor only).
    bold: Vec<[f64; 4]>,
}

/// Per-run constants shared by forward and adjoint.
struct Plan<'a> {
    p: &'a NetworkProblem,
    lay: Layout,
    tab: &'static Tableau,
    /// The delay table shared by every parameter set (integer delays); `None` when each set
    /// builds its own from its conduction speed.
    table: Option<DelayTable>,
    /// [`DelayTable::transposed`] of `table`, for the adjoint's gather.
    table_t: Option<DelayTable>,
    rowsum: Vec<f64>,
    scale: f64,
    /// Whether the CPU has AVX2 (for the AVX2 builds of the kernels).
    avx2: bool,
    /// How the per-set delayed sums are gathered on this CPU.
    gather: GatherPath,
}

impl<'a> Plan<'a> {
    fn new(p: &'a NetworkProblem) -> Self {
        let lay = p.layout();
        let n = p.n;
        // Row-relative gather index of source `j` for target `i`: `j − lag·channels·n`.
        let table = match p.interpolation {
            DelayInterpolation::Nearest => Some(DelayTable::new(
                n,
                p.weights.to_vec(),
                (0..n * n)
                    .map(|ij| (ij % n) as isize - (p.lag[ij] * lay.nch * n) as isize)
                    .collect(),
                None,
            )),
            DelayInterpolation::Linear { .. } => None,
        };
        let table_t = table
            .as_ref()
            .map(|_| DelayTable::transposed(n, lay.nch * n, &p.weights, &p.lag));
        let rowsum = (0..n)
            .map(|i| p.weights[i * n..(i + 1) * n].iter().sum())
            .collect();
        let gather = match &table {
            Some(t) => GatherPath::detect(has_avx2(), t.m, &t.w, t.o32.as_deref()),
            None => GatherPath::detect(has_avx2(), 0, &[], None),
        };
        Self {
            p,
            lay,
            tab: p.method.tableau(),
            table,
            table_t,
            rowsum,
            scale: if p.noise.is_some() {
                p.dt.sqrt() * p.sigma
            } else {
                0.0
            },
            avx2: has_avx2(),
            gather,
        }
    }

    /// The delay table of one parameter set (`params` `[P, n]`).
    fn table_for(&self, params: &[f64]) -> std::borrow::Cow<'_, DelayTable> {
        let p = self.p;
        let DelayInterpolation::Linear { lengths } = &p.interpolation else {
            return std::borrow::Cow::Borrowed(self.table.as_ref().expect("integer delays"));
        };
        let n = p.n;
        let row = (self.lay.nch * n) as isize;
        let v = params[(self.lay.np() - 1) * n];
        let (mut w, mut o) = (vec![0.0; 2 * n * n], vec![0isize; 2 * n * n]);
        let mut dslot = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let ij = i * n + j;
                let slots = lengths[ij] / (v * p.dt);
                // The history holds `horizon` slots: slot lag0 + 1 must exist. Speeds below the
                // one the history was sized for read the oldest slot (no gradient then).
                let max0 = p.horizon.saturating_sub(2) as f64;
                let (lag0, f, inside) = if slots.is_finite() && slots <= max0 + 1.0 {
                    let l0 = slots.floor().min(max0);
                    (l0 as isize, slots - l0, true)
                } else {
                    (max0 as isize, 1.0, false)
                };
                let wij = p.weights[ij];
                w[i * 2 * n + 2 * j] = wij * (1.0 - f);
                w[i * 2 * n + 2 * j + 1] = wij * f;
                o[i * 2 * n + 2 * j] = j as isize - lag0 * row;
                o[i * 2 * n + 2 * j + 1] = j as isize - (lag0 + 1) * row;
                if inside {
                    dslot[ij] = -lengths[ij] / (p.dt * v * v);
                }
            }
        }
        std::borrow::Cow::Owned(DelayTable::new(2 * n, w, o, Some(dslot)))
    }

    /// Row stride of the pre-synaptic history.
    fn row(&self) -> usize {
        self.lay.nch * self.p.n
    }

    /// Delayed coupling sums of every target and channel:
    /// `csum[h·n + i] = Σ_j W_ij pre_h,j(t − lag_ij)`, reading the history whose newest row is
    /// `newest`. This N² gather is the irreducible cost of a step
    /// ([`DelayTable::gather_into`]).
    #[inline]
    fn gather(&self, t: &DelayTable, hist: &[f64], newest: usize, csum: &mut [f64]) {
        let n = self.p.n;
        for h in 0..self.lay.nch {
            let base = newest * self.row() + h * n;
            t.gather_into(self.gather, hist, base, &mut csum[h * n..(h + 1) * n]);
        }
    }

    /// Writes the pre-synaptic values of every source of `state` (`[S, n]`) into history row
    /// `row`: four sources per evaluation of the coupling's `pre` ([`F64x4`] lanes, `pl` the
    /// lane parameters of [`lane_params`]), the last `n mod 4` one by one. Compiled for AVX2
    /// where the CPU has it ([`with_avx2`]).
    // Not inlined: one copy per model and coupling, shared by every caller (compile time).
    #[inline(never)]
    fn push_pre<M: NodeModel, C: CouplingFunction>(
        &self,
        pn: &[f64],
        pl: &[F64x4],
        state: &[f64],
        hist: &mut [f64],
        row: usize,
    ) {
        avx2_or_baseline!(self.avx2, {
            let (n, lay) = (self.p.n, self.lay);
            let np = lay.np();
            let (ncv, nch) = (M::CVAR.len(), lay.nch);
            let dst = &mut hist[row * self.row()..(row + 1) * self.row()];
            let groups = n / LANES;
            for g in 0..groups {
                let i0 = g * LANES;
                let mut x = [F64x4::default(); MAX_COUPLING];
                for (q, &cv) in M::CVAR.iter().enumerate() {
                    x[q] = F64x4::load(&state[cv * n + i0..]);
                }
                let mut out = [F64x4::default(); MAX_COUPLING];
                C::pre::<F64x4>(
                    &x[..ncv],
                    &pl[g * np + lay.npm..(g + 1) * np],
                    &mut out[..nch],
                );
                for h in 0..nch {
                    out[h].store(&mut dst[h * n + i0..]);
                }
            }
            let mut x = [0.0; MAX_COUPLING];
            let mut out = [0.0; MAX_COUPLING];
            for j in groups * LANES..n {
                for (q, &cv) in M::CVAR.iter().enumerate() {
                    x[q] = state[cv * n + j];
                }
                let pc = &pn[j * np + lay.npm..(j + 1) * np];
                C::pre::<f64>(&x[..ncv], pc, &mut out[..nch]);
                for h in 0..nch {
                    dst[h * n + j] = out[h];
                }
            }
        })
    }

    /// The coupling input of target `i`.
    // Always inlined, so that the AVX2 build of `step_all` covers it.
    #[inline(always)]
    fn coupling_input<M: NodeModel, C: CouplingFunction>(
        &self,
        pn: &[f64],
        csum: &[f64],
        state: &[f64],
        i: usize,
        c: &mut [f64; MAX_COUPLING],
    ) {
        let (n, lay) = (self.p.n, self.lay);
        let np = lay.np();
        let mut sum = [0.0; MAX_COUPLING];
        for h in 0..lay.nch {
            sum[h] = csum[h * n + i];
        }
        let mut xi = [0.0; MAX_COUPLING];
        if C::USES_TARGET_STATE {
            for (q, &cv) in M::CVAR.iter().enumerate() {
                xi[q] = state[cv * n + i];
            }
        }
        let pc = &pn[i * np + lay.npm..(i + 1) * np];
        C::post::<f64>(
            &sum[..lay.nch],
            &xi[..M::CVAR.len()],
            self.rowsum[i],
            pc,
            &mut c[..lay.nch],
        );
    }

    /// [`Plan::coupling_input`] of the regions `i0 … i0 + S::WIDTH − 1`, in lanes.
    #[inline(always)]
    fn coupling_lanes<M: NodeModel, C: CouplingFunction, S: Lanes>(
        &self,
        pn: &[f64],
        csum: &[f64],
        state: &[f64],
        i0: usize,
    ) -> [S; MAX_COUPLING] {
        let mut c = [S::default(); MAX_COUPLING];
        for ln in 0..S::WIDTH {
            let mut cl = [0.0; MAX_COUPLING];
            self.coupling_input::<M, C>(pn, csum, state, i0 + ln, &mut cl);
            for h in 0..self.lay.nch {
                c[h].set_lane(ln, cl[h]);
            }
        }
        c
    }

    /// One step of every region: advances `state` (`[S, n]`) in place, four regions per
    /// evaluation of the model ([`F64x4`] lanes, each bit-for-bit the scalar step), the last
    /// `n mod 4` one by one. Compiled for AVX2 where the CPU has it ([`with_avx2`]): the
    /// four-lane model evaluations and `exp` become 256-bit instructions. Only the instruction
    /// set differs (no fused multiply-add is enabled), so both give the same bits.
    // Not inlined: the forward pass and the adjoint's recomputation share one copy per model,
    // coupling and stage count (this is most of the kernel's machine code, and compile time).
    ///
    /// With `REC` (the adjoint's recomputation), also writes into `rec` (laid out as
    /// [`RecordRows`]) each region's [`StageRecord`]: slot `s ≥ 1` the stage inputs, slot 0
    /// the unclamped result (models with bounds only), and the model's intermediates.
    #[inline(never)]
    fn step_all<M: NodeModel, C: CouplingFunction, const REC: bool>(
        &self,
        pn: &[f64],
        pl: &[F64x4],
        csum: &[f64],
        xi: Option<&[f64]>,
        state: &mut [f64],
        rec: &mut [f64],
    ) {
        // One monomorphised loop per stage count (`integrator::STAGE_COUNTS`): no branch on the
        // method inside it.
        avx2_or_baseline!(self.avx2, {
            match self.tab.stages {
                1 => self.step_all_st::<M, C, 1, REC>(pn, pl, csum, xi, state, rec),
                2 => self.step_all_st::<M, C, 2, REC>(pn, pl, csum, xi, state, rec),
                _ => self.step_all_st::<M, C, 4, REC>(pn, pl, csum, xi, state, rec),
            }
        })
    }

    #[inline(always)]
    fn step_all_st<M: NodeModel, C: CouplingFunction, const ST: usize, const REC: bool>(
        &self,
        pn: &[f64],
        pl: &[F64x4],
        csum: &[f64],
        xi: Option<&[f64]>,
        state: &mut [f64],
        rec: &mut [f64],
    ) {
        let (n, lay) = (self.p.n, self.lay);
        let (np, nch) = (lay.np(), lay.nch);
        let groups = n / LANES;
        let rows = RecordRows::of::<M>(ST);
        assert!(!REC || rec.len() >= rows.len() * n);
        let first = first_read_slot::<M>();
        // One record for all groups, zeroed once per call rather than once per group (a 1 KiB
        // memset per group was 2–3% of a JR loss + gradient): every slot read back below is
        // written by this group's `step_stages_rec` first.
        let mut sr: StageRecord<F64x4> = stage_record();
        for g in 0..groups {
            let i0 = g * LANES;
            let mut x = [F64x4::default(); MAX_STATE];
            let mut e = [F64x4::default(); MAX_STATE];
            for v in 0..M::NS {
                x[v] = F64x4::load(&state[v * n + i0..]);
            }
            if let Some(xi) = xi {
                for v in 0..M::NS {
                    e[v] = F64x4::load(&xi[v * n + i0..]) * self.scale;
                }
            }
            let c = self.coupling_lanes::<M, C, F64x4>(pn, csum, state, i0);
            let y = step_stages_rec::<M, F64x4, ST>(
                self.tab,
                self.p.dt,
                &x,
                &c[..nch],
                &pl[g * np..g * np + lay.npm],
                &e,
                &mut sr,
            );
            for v in 0..M::NS {
                y[v].store(&mut state[v * n + i0..]);
            }
            if REC {
                for s in first..ST {
                    for v in 0..M::NS {
                        sr.x[s][v].store(&mut rec[rows.x(s, v) * n + i0..]);
                    }
                }
                for s in 0..ST {
                    for a in 0..M::NAUX {
                        sr.aux[s][a].store(&mut rec[rows.aux(s, a) * n + i0..]);
                    }
                }
            }
        }
        let mut sr1: StageRecord<f64> = stage_record();
        for i in groups * LANES..n {
            let mut x = [0.0; MAX_STATE];
            let mut e = [0.0; MAX_STATE];
            for v in 0..M::NS {
                x[v] = state[v * n + i];
            }
            if let Some(xi) = xi {
                for v in 0..M::NS {
                    e[v] = self.scale * xi[v * n + i];
                }
            }
            let mut c = [0.0; MAX_COUPLING];
            self.coupling_input::<M, C>(pn, csum, state, i, &mut c);
            let y = step_stages_rec::<M, f64, ST>(
                self.tab,
                self.p.dt,
                &x,
                &c[..nch],
                &pn[i * np..i * np + lay.npm],
                &e,
                &mut sr1,
            );
            for v in 0..M::NS {
                state[v * n + i] = y[v];
            }
            if REC {
                for s in first..ST {
                    for v in 0..M::NS {
                        rec[rows.x(s, v) * n + i] = sr1.x[s][v];
                    }
                }
                for s in 0..ST {
                    for a in 0..M::NAUX {
                        rec[rows.aux(s, a) * n + i] = sr1.aux[s][a];
                    }
                }
            }
        }
    }

    /// Forward pass of one parameter set. Writes the monitored trace, final state and history;
    /// returns the tape when `record` is set, and the continuing noise source.
    fn forward_one<M: NodeModel, C: CouplingFunction>(
        &self,
        params: &[f64],
        b: usize,
        trace: &mut [f64],
        final_state: &mut [f64],
        final_history: &mut [f64],
        record: bool,
    ) -> (Option<Tape>, NoiseSource) {
        let p = self.p;
        let (n, nh, lay) = (p.n, p.horizon, self.lay);
        let row = self.row();
        let pn = node_major(params, lay.np(), n);
        let pl = lane_params(params, lay.np(), n);
        let table = self.table_for(params);
        let (init_state, init_hist) = p.init_for(b);
        // Untracked runs keep a sliding window (amortised copy of nh rows every `window`
        // steps); tracked runs keep every row for the adjoint.
        let window = if record { p.steps + 1 } else { nh.max(1024) };
        let rows = nh + window;
        let mut hist = huge_pages::zeroed(rows * row);
        let cv_row = lay.ncv * n;
        for r in 0..nh {
            // The initial history holds coupling variables; lay them out as a state so that
            // `push_pre` reads them through the model's cvar indices.
            let mut st = vec![0.0; lay.ns * n];
            for (q, &cv) in M::CVAR.iter().enumerate() {
                st[cv * n..(cv + 1) * n]
                    .copy_from_slice(&init_hist[r * cv_row + q * n..r * cv_row + (q + 1) * n]);
            }
            self.push_pre::<M, C>(&pn, &pl, &st, &mut hist, r);
        }
        let mut obs = Observer::new::<M>(p, init_hist);
        let mut newest = nh - 1;
        let mut state = init_state.to_vec();
        let mut csum = vec![0.0; lay.nch * n];
        let mut buf = vec![0.0; lay.ns * n];
        let src = p.noise.for_set(b);
        let mut noise = NoiseCursor::new(src);
        let mut checkpoints = Vec::new();
        let mut noise_ckpt = Vec::new();
        let mut bold_ckpt: Vec<[f64; 4]> = Vec::new();
        let mut csums = huge_pages::with_capacity(if record { p.steps * lay.nch * n } else { 0 });
        for k in 0..p.steps {
            if record && k % p.segment == 0 {
                checkpoints.extend_from_slice(&state);
                noise_ckpt.push(noise.mark());
                bold_ckpt.extend_from_slice(&obs.z);
            }
            self.gather(&table, &hist, newest, &mut csum);
            if record {
                csums.extend_from_slice(&csum);
            }
            let xi = noise.next_raw(&mut buf);
            self.step_all::<M, C, false>(&pn, &pl, &csum, xi, &mut state, &mut []);
            if newest + 1 == rows {
                // Slide: keep the last nh − 1 rows at the front; the new row follows them.
                hist.copy_within((rows - (nh - 1)) * row..rows * row, 0);
                newest = nh - 1;
            } else {
                newest += 1;
            }
            self.push_pre::<M, C>(&pn, &pl, &state, &mut hist, newest);
            obs.observe(k, &state, trace);
        }
        final_state.copy_from_slice(&state);
        obs.finish(final_history);
        let tape = record.then(|| {
            hist.truncate((newest + 1) * row);
            Tape {
                pre_hist: hist,
                csums,
                checkpoints,
                noise: noise_ckpt,
                bold: bold_ckpt,
            }
        });
        (tape, noise.remaining(src))
    }

    /// Adjoint of one parameter set: returns `∂L/∂params` `[P, n]` given `∂L/∂trace`.
    fn backward_one<M: NodeModel, C: CouplingFunction>(
        &self,
        params: &[f64],
        b: usize,
        tape: &Tape,
        grad_trace: &[f64],
    ) -> Vec<f64> {
        let p = self.p;
        let (n, nh, lay) = (p.n, p.horizon, self.lay);
        let (ns, np, nch, ncv) = (lay.ns, lay.np(), lay.nch, lay.ncv);
        let row = self.row();
        let steps = p.steps;
        let pn = node_major(params, np, n);
        let pl = lane_params(params, np, n);
        let table = self.table_for(params);
        let (_, init_hist) = p.init_for(b);
        let k_seg = p.segment;
        let nvars = p.monitor.variables.len();
        let mut lam = vec![0.0; ns * n];
        // The adjoint of the delayed reads, two ways. Interpolated delays scatter: reverse step
        // k adds its coupling adjoint onto history rows k…k + nh − 1 of `mu` (the pre-synaptic
        // values' adjoint) and reads row k + nh, complete by then. Integer delays gather, the
        // transpose with the forward pass's vectorised layout: `mu` holds the coupling adjoint
        // of each step instead (row k for step k), and the adjoint of the pre-synaptic values
        // of X_{k+1} is gathered from the nh later steps that read them,
        // `Σ_i W_ij λc_{k+1+lag_ij, i}` ([`DelayTable::transposed`]). Either way only rows
        // k…k + nh are live; they are kept in a window of `window` rows starting at row `lo`,
        // slid down (amortised) as the sweep goes back.
        let table_t = self.table_t.as_ref().filter(|_| table.dslot_dv.is_none());
        let mut mu_row = vec![0.0; row];
        let window = (nh + 1 + 1024).min(steps + nh);
        let mut mu = vec![0.0; window * row];
        let mut lo = (steps + nh).saturating_sub(window);
        // The coupling parameters' gradient node-major (`[n, P]`, only its columns `npm..`
        // used), the model parameters' parameter-major (`[npm, n]`, loaded four regions at a
        // time by the vectorised adjoint step).
        let mut dp = vec![0.0; np * n];
        let mut dpm = vec![0.0; lay.npm * n];
        let mut states = vec![0.0; (k_seg + 1) * ns * n];
        // One step's noise draws, for the recomputation.
        let mut eta = vec![0.0; ns * n];
        // Each step's stage inputs (the noise included), kept from the recomputation so that
        // the adjoint step neither evaluates the drift again to rebuild them nor draws the
        // noise a second time, nor recomputes what the model keeps ([`StageRecord`],
        // [`NodeModel::drift_aux`]; the coupling sums come from the forward pass's tape).
        let srow = RecordRows::of::<M>(self.tab.stages).len() * n;
        let mut stage_rec = vec![0.0; k_seg * srow];
        let mut lamc = vec![0.0; nch * n];
        let bold = p.monitor.bold();
        let h_bold = p.dt / 1000.0;
        // Haemodynamic states of the segment and their adjoint (BOLD monitor only).
        let mut zs: Vec<[f64; 4]> =
            vec![[0.0; 4]; if bold.is_some() { (k_seg + 1) * n } else { 0 }];
        let mut lam_z: Vec<[f64; 4]> = vec![[0.0; 4]; if bold.is_some() { n } else { 0 }];
        let nseg = steps.div_ceil(k_seg);
        for seg in (0..nseg).rev() {
            let (k0, k1) = (seg * k_seg, ((seg + 1) * k_seg).min(steps));
            states[..ns * n].copy_from_slice(&tape.checkpoints[seg * ns * n..(seg + 1) * ns * n]);
            if bold.is_some() {
                zs[..n].copy_from_slice(&tape.bold[seg * n..(seg + 1) * n]);
            }
            let mut noise = NoiseCursor::resume(p.noise.for_set(b), &tape.noise[seg]);
            for k in k0..k1 {
                let r = k - k0;
                let csum = &tape.csums[k * nch * n..(k + 1) * nch * n];
                let xi = noise.next_raw(&mut eta);
                let (prev, next) = states.split_at_mut((r + 1) * ns * n);
                next[..ns * n].copy_from_slice(&prev[r * ns * n..]);
                let rec = &mut stage_rec[r * srow..(r + 1) * srow];
                self.step_all::<M, C, true>(&pn, &pl, csum, xi, &mut next[..ns * n], rec);
                if let Some(bm) = bold {
                    for i in 0..n {
                        let u = bm.drive(&next[..ns * n], n, i);
                        zs[(r + 1) * n + i] =
                            crate::bold::euler(&bm.constants, &zs[r * n + i], u, h_bold);
                    }
                }
            }
            for k in (k0..k1).rev() {
                let r = k - k0;
                let x_next = &states[(r + 1) * ns * n..(r + 2) * ns * n];
                if let Some(bm) = bold {
                    // Through the BOLD sample of z_{k+1}, then back through its Euler step to
                    // z_k and to the driving state X_{k+1}.
                    let sample = bm.sample_of(k, steps);
                    for i in 0..n {
                        if let Some(m) = sample {
                            crate::bold::signal_vjp(
                                &bm.constants,
                                &zs[(r + 1) * n + i],
                                grad_trace[m * n + i],
                                &mut lam_z[i],
                            );
                        }
                        let (lz, lu) = crate::bold::euler_vjp(
                            &bm.constants,
                            &zs[r * n + i],
                            &lam_z[i],
                            h_bold,
                        );
                        lam_z[i] = lz;
                        for &(v, w) in &bm.driver {
                            lam[v * n + i] += w * lu;
                        }
                    }
                }
                if let Some((m, w)) = p.monitor.sample_of(k, steps) {
                    for (vi, &v) in p.monitor.variables.iter().enumerate() {
                        let g = &grad_trace[(m * nvars + vi) * n..(m * nvars + vi + 1) * n];
                        for i in 0..n {
                            lam[v * n + i] += w * g[i];
                        }
                    }
                }
                if k < lo {
                    // Slide the window so that it covers rows k…k + nh.
                    // Rows lo…k + nh (row k is first written by this step) are live.
                    let new_lo = (k + nh + 1).saturating_sub(window);
                    let live = (k + nh + 1 - lo).min(window);
                    mu.copy_within(0..live * row, (lo - new_lo) * row);
                    mu[..(lo - new_lo) * row].fill(0.0);
                    lo = new_lo;
                }
                // The pre-synaptic values of X_{k+1} (row k + nh) have received every use by
                // later steps.
                let hrow = (k + nh - lo) * row;
                let g_row = match table_t {
                    Some(tt) => {
                        for h in 0..nch {
                            let base = (k + 1 - lo) * row + h * n;
                            tt.gather_into(self.gather, &mu, base, &mut mu_row[h * n..(h + 1) * n]);
                        }
                        &mu_row[..]
                    }
                    None => &mu[hrow..hrow + row],
                };
                self.pre_vjp_row::<M, C>(&pn, &pl, x_next, g_row, &mut lam, &mut dp);
                let x = &states[r * ns * n..(r + 1) * ns * n];
                let csum = &tape.csums[k * nch * n..(k + 1) * nch * n];
                let rec = &stage_rec[r * srow..(r + 1) * srow];
                self.adjoint_step::<M, C>(
                    &pn, &pl, x, csum, rec, &mut lam, &mut dpm, &mut dp, &mut lamc,
                );
                if table_t.is_some() {
                    // Kept for the gather of the sources' adjoints (above, at earlier steps).
                    let at = (k - lo) * row;
                    mu[at..at + nch * n].copy_from_slice(&lamc[..nch * n]);
                }
                // Scatter the coupling adjoint onto the delayed sources: the transpose of the
                // gather.
                let m = table.m;
                for h in (0..nch).filter(|_| table_t.is_none()) {
                    let base = ((k + nh - 1 - lo) * row + h * n) as isize;
                    for i in 0..n {
                        let g = lamc[h * n + i];
                        if g == 0.0 {
                            continue;
                        }
                        let w = &table.w[i * m..(i + 1) * m];
                        let o = &table.o[i * m..(i + 1) * m];
                        for j in 0..m {
                            mu[(base + o[j]) as usize] += g * w[j];
                        }
                        // Interpolated delays: the read value moves with the conduction speed.
                        if let Some(ds) = &table.dslot_dv {
                            let hb = ((k + nh - 1) * row + h * n) as isize;
                            let mut acc = 0.0;
                            for j in 0..n {
                                let (o0, o1) = (o[2 * j], o[2 * j + 1]);
                                let slope = tape.pre_hist[(hb + o1) as usize]
                                    - tape.pre_hist[(hb + o0) as usize];
                                acc += p.weights[i * n + j] * slope * ds[i * n + j];
                            }
                            dp[np - 1] += g * acc;
                        }
                    }
                }
                // Gradient horizon (truncated backpropagation through time): at a block
                // boundary the carried state — X_k, the delayed history of X_{≤k} and the
                // haemodynamic state — passes no gradient further back.
                if let Some(hz) = p.grad_horizon
                    && k > 0
                    && k.is_multiple_of(hz)
                {
                    lam.fill(0.0);
                    lam_z.iter_mut().for_each(|z| *z = [0.0; 4]);
                    if table_t.is_some() {
                        // The adjoints of steps ≥ k pass nothing to X_{≤k}, the only sources
                        // still to be gathered.
                        mu[(k - lo) * row..].fill(0.0);
                    } else {
                        let top = (k + nh - lo).min(window);
                        mu[..top * row].fill(0.0);
                    }
                }
            }
        }
        // The initial history's pre-synaptic values depend on the coupling parameters too.
        let cv_row = ncv * n;
        let mut scratch_lam = vec![0.0; ns * n];
        if table_t.is_some() {
            // Gather the initial rows' adjoints as above, from the steps that exist: row r
            // holds X_{r+1−nh}, read by step r + 1 − nh + lag (window row `step − lo`, lo = 0).
            let mut init_mu = vec![0.0; nh * row];
            for r in 0..nh {
                for i in 0..n {
                    for j in 0..n {
                        let s = r + 1 + p.lag[i * n + j];
                        if s < nh || s - nh >= steps {
                            continue;
                        }
                        let at = (s - nh - lo) * row;
                        for h in 0..nch {
                            init_mu[r * row + h * n + j] +=
                                p.weights[i * n + j] * mu[at + h * n + i];
                        }
                    }
                }
            }
            mu[..nh * row].copy_from_slice(&init_mu);
        }
        for r in 0..nh {
            let mut st = vec![0.0; ns * n];
            for (q, &cv) in M::CVAR.iter().enumerate() {
                st[cv * n..(cv + 1) * n]
                    .copy_from_slice(&init_hist[r * cv_row + q * n..r * cv_row + (q + 1) * n]);
            }
            self.pre_vjp_row::<M, C>(
                &pn,
                &pl,
                &st,
                &mu[r * row..(r + 1) * row],
                &mut scratch_lam,
                &mut dp,
            );
        }
        let mut out = vec![0.0; np * n];
        out[..lay.npm * n].copy_from_slice(&dpm);
        for i in 0..n {
            for k in lay.npm..np {
                out[k * n + i] = dp[i * np + k];
            }
        }
        out
    }

    /// The adjoint of one step of every region: with `lam` holding `∂L/∂X_{k+1}` (`[S, n]`),
    /// leaves `∂L/∂X_k` there (through the step and the post function's use of the target
    /// state), adds the model parameters' gradient to `dpm` (`[npm, n]`) and the coupling
    /// parameters' to `dp` (node-major), and writes the coupling sums' adjoint to `lamc`
    /// (`[channels, n]`). `x` is X_k, `csum` the step's coupling sums and `rec` its stage
    /// record (`[stages, S, n]`, written by [`Plan::step_all`] in the recomputation).
    /// Four regions per evaluation of the step's adjoint ([`F64x4`] lanes, each bit-for-bit the
    /// scalar adjoint), the last `n mod 4` one by one; compiled for AVX2 where the CPU has it.
    // Not inlined: one copy per model and coupling (compile time), as `step_all`.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn adjoint_step<M: NodeModel, C: CouplingFunction>(
        &self,
        pn: &[f64],
        pl: &[F64x4],
        x: &[f64],
        csum: &[f64],
        rec: &[f64],
        lam: &mut [f64],
        dpm: &mut [f64],
        dp: &mut [f64],
        lamc: &mut [f64],
    ) {
        avx2_or_baseline!(self.avx2, {
            let (n, np, npm) = (self.p.n, self.lay.np(), self.lay.npm);
            let groups = n / LANES;
            for g in 0..groups {
                let pm = &pl[g * np..g * np + npm];
                self.adjoint_regions::<M, C, F64x4>(
                    g * LANES,
                    pn,
                    pm,
                    x,
                    csum,
                    rec,
                    lam,
                    dpm,
                    dp,
                    lamc,
                );
            }
            for i in groups * LANES..n {
                let pm = &pn[i * np..i * np + npm];
                self.adjoint_regions::<M, C, f64>(i, pn, pm, x, csum, rec, lam, dpm, dp, lamc);
            }
        })
    }

    /// [`Plan::adjoint_step`] of the regions `i0 … i0 + S::WIDTH − 1`, `pm` their model
    /// parameters in lanes.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn adjoint_regions<M: NodeModel, C: CouplingFunction, S: Clamp>(
        &self,
        i0: usize,
        pn: &[f64],
        pm: &[S],
        x: &[f64],
        csum: &[f64],
        rec: &[f64],
        lam: &mut [f64],
        dpm: &mut [f64],
        dp: &mut [f64],
        lamc: &mut [f64],
    ) {
        let (n, lay) = (self.p.n, self.lay);
        let (ns, np, npm, nch, ncv) = (lay.ns, lay.np(), lay.npm, lay.nch, lay.ncv);
        let mut y = [S::default(); MAX_STATE];
        let mut l = [S::default(); MAX_STATE];
        for v in 0..ns {
            y[v] = S::load(&x[v * n + i0..]);
            l[v] = S::load(&lam[v * n + i0..]);
        }
        let mut sr: StageRecord<S> = stage_record();
        let first = first_read_slot::<M>();
        let rows = RecordRows::of::<M>(self.tab.stages);
        for s in first..self.tab.stages {
            for v in 0..ns {
                sr.x[s][v] = S::load(&rec[rows.x(s, v) * n + i0..]);
            }
        }
        for s in 0..self.tab.stages {
            for a in 0..M::NAUX {
                sr.aux[s][a] = S::load(&rec[rows.aux(s, a) * n + i0..]);
            }
        }
        let c = self.coupling_lanes::<M, C, S>(pn, csum, x, i0);
        let mut gp = [S::default(); MAX_MODEL_PARAMS];
        for k in 0..npm {
            gp[k] = S::load(&dpm[k * n + i0..]);
        }
        let mut gc = [S::default(); MAX_COUPLING];
        let ly = step_vjp_recorded::<M, S>(
            self.tab,
            self.p.dt,
            &y,
            &sr,
            &c[..nch],
            pm,
            &l,
            &mut gc[..nch],
            &mut gp[..npm],
        );
        for k in 0..npm {
            gp[k].store(&mut dpm[k * n + i0..]);
        }
        for v in 0..ns {
            ly[v].store(&mut lam[v * n + i0..]);
        }
        // Through the post function to the sums and the target's own state, region by region.
        for ln in 0..S::WIDTH {
            let i = i0 + ln;
            let mut sum = [0.0; MAX_COUPLING];
            for h in 0..nch {
                sum[h] = csum[h * n + i];
            }
            let mut xc = [0.0; MAX_COUPLING];
            for (q, &cv) in M::CVAR.iter().enumerate() {
                xc[q] = x[cv * n + i];
            }
            let mut gch = [0.0; MAX_COUPLING];
            for h in 0..nch {
                gch[h] = gc[h].lane(ln);
            }
            let mut gsum = [0.0; MAX_COUPLING];
            let mut gxi = [0.0; MAX_COUPLING];
            C::post_vjp(
                &sum[..nch],
                &xc[..ncv],
                self.rowsum[i],
                &pn[i * np + npm..(i + 1) * np],
                &gch[..nch],
                &mut gsum[..nch],
                &mut gxi[..ncv],
                &mut dp[i * np + npm..(i + 1) * np],
            );
            for (q, &cv) in M::CVAR.iter().enumerate() {
                lam[cv * n + i] += gxi[q];
            }
            for h in 0..nch {
                lamc[h * n + i] = gsum[h];
            }
        }
    }

    /// Adjoint of [`Plan::push_pre`] for one history row with adjoint `g_row` (`[channels, n]`):
    /// adds to the state adjoint `lam` and the (node-major) parameter gradient `dp`. Sources
    /// whose adjoint is zero in every channel are skipped (they add nothing); four sources per
    /// evaluation of the coupling's `pre_vjp` ([`F64x4`] lanes, `pl` the lane parameters of
    /// [`lane_params`]) where all four have an adjoint, the others one by one, so every source
    /// gets the scalar VJP's bits. Compiled for AVX2 where the CPU has it.
    // Not inlined: one copy per model and coupling (compile time), as `push_pre`.
    #[inline(never)]
    fn pre_vjp_row<M: NodeModel, C: CouplingFunction>(
        &self,
        pn: &[f64],
        pl: &[F64x4],
        state: &[f64],
        g_row: &[f64],
        lam: &mut [f64],
        dp: &mut [f64],
    ) {
        avx2_or_baseline!(self.avx2, {
            let (n, lay) = (self.p.n, self.lay);
            let (np, npm, nch, ncv) = (lay.np(), lay.npm, lay.nch, lay.ncv);
            let npc = np - npm;
            let groups = n / LANES;
            for grp in 0..groups {
                let j0 = grp * LANES;
                let mut g = [F64x4::default(); MAX_COUPLING];
                let mut all = true;
                for h in 0..nch {
                    g[h] = F64x4::load(&g_row[h * n + j0..]);
                    all &= g[h].0.iter().all(|&v| v != 0.0);
                }
                if !all {
                    for j in j0..j0 + LANES {
                        self.pre_vjp_source::<M, C>(pn, state, g_row, j, lam, dp);
                    }
                    continue;
                }
                let mut x = [F64x4::default(); MAX_COUPLING];
                for (q, &cv) in M::CVAR.iter().enumerate() {
                    x[q] = F64x4::load(&state[cv * n + j0..]);
                }
                let mut gx = [F64x4::default(); MAX_COUPLING];
                // The sources' coupling-parameter gradients into lanes and back (`dp` is
                // node-major).
                let mut gp = [F64x4::default(); MAX_COUPLING_PARAMS + 1];
                for k in 0..npc {
                    gp[k] = F64x4(std::array::from_fn(|l| dp[(j0 + l) * np + npm + k]));
                }
                C::pre_vjp::<F64x4>(
                    &x[..ncv],
                    &pl[grp * np + npm..(grp + 1) * np],
                    &g[..nch],
                    &mut gx[..ncv],
                    &mut gp[..npc],
                );
                for k in 0..npc {
                    for l in 0..LANES {
                        dp[(j0 + l) * np + npm + k] = gp[k].0[l];
                    }
                }
                for (q, &cv) in M::CVAR.iter().enumerate() {
                    let at = cv * n + j0;
                    (F64x4::load(&lam[at..]) + gx[q]).store(&mut lam[at..]);
                }
            }
            for j in groups * LANES..n {
                self.pre_vjp_source::<M, C>(pn, state, g_row, j, lam, dp);
            }
        })
    }

    /// [`Plan::pre_vjp_row`] of source `j` alone.
    #[inline(always)]
    fn pre_vjp_source<M: NodeModel, C: CouplingFunction>(
        &self,
        pn: &[f64],
        state: &[f64],
        g_row: &[f64],
        j: usize,
        lam: &mut [f64],
        dp: &mut [f64],
    ) {
        let (n, lay) = (self.p.n, self.lay);
        let np = lay.np();
        let mut g = [0.0; MAX_COUPLING];
        let mut any = false;
        for h in 0..lay.nch {
            g[h] = g_row[h * n + j];
            any |= g[h] != 0.0;
        }
        if !any {
            return;
        }
        let mut x = [0.0; MAX_COUPLING];
        for (q, &cv) in M::CVAR.iter().enumerate() {
            x[q] = state[cv * n + j];
        }
        let mut gx = [0.0; MAX_COUPLING];
        let (pre_p, dpj) = (
            &pn[j * np + lay.npm..(j + 1) * np],
            &mut dp[j * np + lay.npm..(j + 1) * np],
        );
        C::pre_vjp::<f64>(&x[..lay.ncv], pre_p, &g[..lay.nch], &mut gx[..lay.ncv], dpj);
        for (q, &cv) in M::CVAR.iter().enumerate() {
            lam[cv * n + j] += gx[q];
        }
    }
}

/// What a forward pass keeps of each step's new state: the monitored trace (with the BOLD
/// monitor's haemodynamic states) and the ring of the last `horizon` coupling-variable states
/// that becomes the final history (for warm starts). One per parameter set.
struct Observer<'a> {
    p: &'a NetworkProblem,
    cvar: &'static [usize],
    /// The last `horizon` rows `[V, n]` of the coupling variables; `ring_pos` is the oldest.
    ring: Vec<f64>,
    ring_pos: usize,
    /// Haemodynamic states `[n]` (BOLD monitor only).
    z: Vec<[f64; 4]>,
}

impl<'a> Observer<'a> {
    fn new<M: NodeModel>(p: &'a NetworkProblem, init_hist: &[f64]) -> Self {
        Self {
            p,
            cvar: M::CVAR,
            ring: init_hist.to_vec(),
            ring_pos: 0,
            z: if p.monitor.bold().is_some() {
                vec![crate::bold::REST; p.n]
            } else {
                Vec::new()
            },
        }
    }

    /// Whether [`Observer::observe`] at step `k` reads the state; where it does not,
    /// [`Observer::skip`] has the same effect, and the batch-major kernel need not take the
    /// set's state out of its lanes. The state is read by the BOLD monitor at every step, by
    /// the other monitors at their sample steps, and by the warm-start ring in the last
    /// `horizon` steps (earlier rows are overwritten before [`Observer::finish`] reads them).
    #[inline]
    fn needs_state(&self, k: usize) -> bool {
        let p = self.p;
        p.monitor.bold().is_some()
            || p.monitor.sample_of(k, p.steps).is_some()
            || k + p.horizon >= p.steps
    }

    /// [`Observer::observe`] of a step where [`Observer::needs_state`] is false.
    #[inline]
    fn skip(&mut self) {
        self.ring_pos = (self.ring_pos + 1) % self.p.horizon;
    }

    /// Records `state` (`[S, n]`), the state after step `k`, into `trace`.
    #[inline]
    fn observe(&mut self, k: usize, state: &[f64], trace: &mut [f64]) {
        let p = self.p;
        let n = p.n;
        let cv_row = self.cvar.len() * n;
        let at = self.ring_pos * cv_row;
        for (q, &cv) in self.cvar.iter().enumerate() {
            self.ring[at + q * n..at + (q + 1) * n].copy_from_slice(&state[cv * n..(cv + 1) * n]);
        }
        self.ring_pos = (self.ring_pos + 1) % p.horizon;
        if let Some(bm) = p.monitor.bold() {
            let h_bold = p.dt / 1000.0; // the haemodynamic model runs in seconds
            let sample = bm.sample_of(k, p.steps);
            for (i, zi) in self.z.iter_mut().enumerate() {
                *zi = crate::bold::euler(&bm.constants, zi, bm.drive(state, n, i), h_bold);
                if let Some(m) = sample {
                    trace[m * n + i] = crate::bold::signal(&bm.constants, zi);
                }
            }
        }
        if let Some((m, w)) = p.monitor.sample_of(k, p.steps) {
            let nvars = p.monitor.variables.len();
            let avg = p.monitor.kind == MonitorKind::TemporalAverage;
            for (vi, &v) in p.monitor.variables.iter().enumerate() {
                let dst = &mut trace[(m * nvars + vi) * n..(m * nvars + vi + 1) * n];
                let src = &state[v * n..(v + 1) * n];
                if avg {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += w * s;
                    }
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }

    /// Writes the final history `[horizon, V, n]`, oldest first.
    fn finish(&self, final_history: &mut [f64]) {
        let (nh, cv_row) = (self.p.horizon, self.cvar.len() * self.p.n);
        for r in 0..nh {
            let src = (self.ring_pos + r) % nh;
            final_history[r * cv_row..(r + 1) * cv_row]
                .copy_from_slice(&self.ring[src * cv_row..(src + 1) * cv_row]);
        }
    }
}

/// Runs `f` compiled for AVX2: `f`'s body (a closure with this as its only caller, whose
/// callees are `#[inline(always)]`) is inlined here and so compiled with the target feature.
/// (Four lines by hand: the `multiversion` crate generates this kind of dispatch from an
/// attribute, which is not worth a dependency for two call sites.)
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The `[P, n]` parameters of each group of [`LANES`] regions as lanes: `pl[g·P + k]` holds
/// parameter `k` of regions `4g…4g + 3` (the last `n mod 4` regions use [`node_major`]).
fn lane_params(params: &[f64], np: usize, n: usize) -> Vec<F64x4> {
    let groups = n / LANES;
    let mut pl = Vec::with_capacity(groups * np);
    for g in 0..groups {
        for k in 0..np {
            pl.push(F64x4::load(&params[k * n + g * LANES..]));
        }
    }
    pl
}

/// Node-major copy of `[P, n]` parameters: `pn[i·P + k]`.
fn node_major(params: &[f64], np: usize, n: usize) -> Vec<f64> {
    let mut pn = vec![0.0; np * n];
    for k in 0..np {
        for i in 0..n {
            pn[i * np + k] = params[k * n + i];
        }
    }
    pn
}

/// Whether the CPU running this has AVX2 (detected once by the standard library).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Threads for a batch: the process's allowance ([`crate::threads::available`]), at most one
/// per parameter set.
fn threads_for(batch: usize) -> usize {
    crate::threads::available().min(batch).max(1)
}

/// Runs `f(b)` for every parameter set, splitting the batch across threads. Each set is
/// independent, so results do not depend on the number of threads.
fn par_batch<T: Send>(batch: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads_for(batch);
    if threads <= 1 {
        return (0..batch).map(f).collect();
    }
    let per = batch.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                scope.spawn(move || {
                    (t * per..((t + 1) * per).min(batch))
                        .map(f)
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation thread panicked"))
            .collect()
    })
}

/// `v` as `count` consecutive parts of `len` elements each.
fn split_parts(v: &mut [f64], len: usize, count: usize) -> impl Iterator<Item = &mut [f64]> {
    let mut rest = v;
    (0..count).map(move |_| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        head
    })
}

/// Runs `f` on every job, splitting the jobs (in order) across threads; returns the results in
/// the jobs' order.
fn par_jobs<J: Send, T: Send>(jobs: Vec<J>, f: impl Fn(J) -> T + Sync) -> Vec<T> {
    let threads = threads_for(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().map(f).collect();
    }
    let per = jobs.len().div_ceil(threads);
    let mut groups: Vec<Vec<J>> = Vec::with_capacity(threads);
    let mut it = jobs.into_iter();
    loop {
        let g: Vec<J> = it.by_ref().take(per).collect();
        if g.is_empty() {
            break;
        }
        groups.push(g);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|g| {
                let f = &f;
                scope.spawn(move || g.into_iter().map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation thread panicked"))
            .collect()
    })
}

/// A unit of a batch's forward pass.
enum Job<'o> {
    /// Sets `b0…b0 + 3` in the lanes of [`Plan::forward_lanes`].
    Lanes(usize, [batch::SetOutputs<'o>; LANES]),
    /// Sets `b0…b0 + 7` in two groups of lanes of [`Plan::forward_lanes`].
    Lanes2(usize, [[batch::SetOutputs<'o>; LANES]; 2]),
    /// One set through [`Plan::forward_one`].
    One(usize, batch::SetOutputs<'o>),
}

struct Forward<'a> {
    plan: &'a Plan<'a>,
    params: &'a [f64],
    record: bool,
}

struct ForwardWith<'a, M>(Forward<'a>, PhantomData<M>);

impl<'a> ModelVisitor for Forward<'a> {
    type Output = (SimulationOutput, Vec<Tape>);

    fn visit<M: NodeModel>(self) -> Self::Output {
        let coupling = self.plan.p.coupling;
        coupling.visit(ForwardWith::<M>(self, PhantomData))
    }
}

impl<M: NodeModel> CouplingVisitor for ForwardWith<'_, M> {
    type Output = (SimulationOutput, Vec<Tape>);

    fn visit<C: CouplingFunction>(self) -> Self::Output {
        let this = self.0;
        let plan = this.plan;
        let p = plan.p;
        let (n, lay) = (p.n, plan.lay);
        let per = lay.np() * n;
        let batch = this.params.len() / per;
        let tl = p.trace_len();
        let hl = p.horizon * lay.ncv * n;
        // Each parameter set writes straight into its part of the outputs (no per-set buffers
        // to copy: the full trace of one JR run is 40 MB).
        let mut out = SimulationOutput {
            trace: huge_pages::zeroed(batch * tl),
            final_state: vec![0.0; batch * lay.ns * n],
            final_history: vec![0.0; batch * hl],
            final_noise: NoiseSource::None,
        };
        let mut sets = split_parts(&mut out.trace, tl, batch)
            .zip(split_parts(&mut out.final_state, lay.ns * n, batch))
            .zip(split_parts(&mut out.final_history, hl, batch))
            .map(|((t, s), h)| (t, s, h));
        // Four sets at a time in the lanes of the batch-major kernel where it applies, the rest
        // one by one (the same numbers either way). Eight sets per job where there are eight:
        // each delayed read then serves both groups of four (one offset and weight, one cache
        // line), which made the batch of 64 8% faster per simulation than one group per job.
        let quads = if plan.lanes_apply(batch, this.record) {
            batch / LANES
        } else {
            0
        };
        let mut jobs = Vec::with_capacity(quads + batch - quads * LANES);
        let mut q = 0;
        while q < quads {
            let mut four = || -> [batch::SetOutputs<'_>; LANES] {
                std::array::from_fn(|_| sets.next().expect("batch sets"))
            };
            if q + 2 <= quads {
                jobs.push(Job::Lanes2(q * LANES, [four(), four()]));
                q += 2;
            } else {
                jobs.push(Job::Lanes(q * LANES, four()));
                q += 1;
            }
        }
        for (k, set) in sets.enumerate() {
            jobs.push(Job::One(quads * LANES + k, set));
        }
        let results = par_jobs(jobs, |job| match job {
            Job::Lanes(b0, four) => (None, plan.forward_lanes::<M, C, 1>(this.params, b0, [four])),
            Job::Lanes2(b0, eight) => (None, plan.forward_lanes::<M, C, 2>(this.params, b0, eight)),
            Job::One(b, (trace, fs, fh)) => {
                let pb = &this.params[b * per..(b + 1) * per];
                plan.forward_one::<M, C>(pb, b, trace, fs, fh, this.record)
            }
        });
        let mut tapes = Vec::new();
        for (k, (tape, noise)) in results.into_iter().enumerate() {
            tapes.extend(tape);
            if k == 0 {
                out.final_noise = noise;
            }
        }
        (out, tapes)
    }
}

struct Backward<'a> {
    plan: &'a Plan<'a>,
    params: &'a [f64],
    tapes: &'a [Tape],
    grad_trace: &'a [f64],
}

struct BackwardWith<'a, M>(Backward<'a>, PhantomData<M>);

impl<'a> ModelVisitor for Backward<'a> {
    type Output = Vec<f64>;

    fn visit<M: NodeModel>(self) -> Vec<f64> {
        let coupling = self.plan.p.coupling;
        coupling.visit(BackwardWith::<M>(self, PhantomData))
    }
}

impl<M: NodeModel> CouplingVisitor for BackwardWith<'_, M> {
    type Output = Vec<f64>;

    fn visit<C: CouplingFunction>(self) -> Vec<f64> {
        let this = self.0;
        let plan = this.plan;
        let p = plan.p;
        let per = plan.lay.np() * p.n;
        let tl = p.trace_len();
        par_batch(this.tapes.len(), |b| {
            plan.backward_one::<M, C>(
                &this.params[b * per..(b + 1) * per],
                b,
                &this.tapes[b],
                &this.grad_trace[b * tl..(b + 1) * tl],
            )
        })
        .concat()
    }
}

/// Forward pass of a batch: `params` is `[B, P, n]`. With `record`, also returns one tape per
/// parameter set for [`backward`].
pub fn forward(
    problem: &NetworkProblem,
    params: &[f64],
    record: bool,
) -> (SimulationOutput, Vec<Tape>) {
    let np = match Layout::new(problem.model, problem.coupling) {
        Ok(_) => problem.layout().np(),
        Err(e) => panic!("invalid network problem: {e}"),
    };
    let batch = params.len() / (np * problem.n);
    // Problems are built from validated experiments; a bad one here is a programming error,
    // and the unchecked gather relies on it being caught.
    if let Err(e) = problem.validate(batch) {
        panic!("invalid network problem: {e}");
    }
    let plan = Plan::new(problem);
    problem.model.visit(Forward {
        plan: &plan,
        params,
        record,
    })
}

/// Adjoint of a batch: `∂L/∂params` `[B, P, n]` from `∂L/∂trace` `[B, samples, variables, n]`.
pub fn backward(
    problem: &NetworkProblem,
    params: &[f64],
    tapes: &[Tape],
    grad_trace: &[f64],
) -> Vec<f64> {
    let plan = Plan::new(problem);
    problem.model.visit(Backward {
        plan: &plan,
        params,
        tapes,
        grad_trace,
    })
}

/// [`backward`] with the adjoint of the delayed reads as a scatter even for integer delays
/// (the form the interpolated delays use). The gather that [`backward`] uses is its transpose
/// with a different order of summation; this is the oracle that tests compare it with.
#[doc(hidden)]
pub fn backward_scatter(
    problem: &NetworkProblem,
    params: &[f64],
    tapes: &[Tape],
    grad_trace: &[f64],
) -> Vec<f64> {
    let mut plan = Plan::new(problem);
    plan.table_t = None;
    problem.model.visit(Backward {
        plan: &plan,
        params,
        tapes,
        grad_trace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 paths of the delayed sum (scalar loads, hardware gather) and the portable loop
    /// give the same bits, and both sum in the documented order: partial `j mod 4`,
    /// combined as `(s0 + s1) + (s2 + s3)`, then the `m mod 4` last terms.
    #[test]
    fn delayed_sum_paths_agree_bit_for_bit() {
        let (rows, row) = (40usize, 84usize);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let hist: Vec<f64> = (0..rows * row)
            .map(|_| (next() % 2001) as f64 / 1000.0 - 1.0)
            .collect();
        for (targets, m) in [(84usize, 84usize), (5, 7), (3, 2)] {
            let w: Vec<f64> = (0..targets * m)
                .map(|_| (next() % 1999) as f64 / 7.0e4)
                .collect();
            let o: Vec<isize> = (0..targets * m)
                .map(|k| ((next() % (rows as u64 - 1)) as usize * row + k % m) as isize)
                .collect();
            let table = DelayTable::new(m, w.clone(), o.clone(), None);
            let base = row / 2;
            let mut expect = vec![0.0; targets];
            for (i, e) in expect.iter_mut().enumerate() {
                let term = |j: usize| w[i * m + j] * hist[(base as isize + o[i * m + j]) as usize];
                let mut acc = [0.0f64; 4];
                for j in 0..m / 4 * 4 {
                    acc[j % 4] += term(j);
                }
                let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                for j in m / 4 * 4..m {
                    s += term(j);
                }
                *e = s;
            }
            let mut paths = vec![GatherPath::Portable];
            if has_avx2() {
                paths.extend([GatherPath::Loads, GatherPath::Hardware]);
            }
            for path in paths {
                let mut out = vec![f64::NAN; targets];
                table.gather_into(path, &hist, base, &mut out);
                for (a, b) in out.iter().zip(&expect) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{path:?}, m {m}: {a} vs {b}");
                }
            }
        }
    }
}
