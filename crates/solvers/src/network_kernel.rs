//! A batch of Jansen-Rit networks with conduction delays, simulated by stochastic Heun:
//! plain-Rust forward kernel and reverse-mode adjoint.
//!
//! This is the hot loop of every Jansen-Rit workflow, so it is written by hand instead of as
//! tensor operations (burn pays ~1 µs per recorded op; a step here is ~N² multiply-adds). The
//! per-step tensor version in [`crate::reference`] computes the same numbers and checks this
//! kernel's gradients.
//!
//! Semantics (TVB-O kernel): the history holds, per source region, the coupling sigmoid
//! `S_j = S(y1_j, y2_j)` of the last `horizon` states, newest = current state. Target `i` reads
//! source `j` `lag[i·n+j]` steps back. The trace holds `X_{k+1}` for `k = 0…steps−1`.
//!
//! Memory: the forward pass keeps the `S` history of the whole run (N values per step) and, when
//! gradients are needed, the full state every `segment` steps; the adjoint recomputes each
//! segment's states from its checkpoint (segment checkpointing), so memory grows with
//! `steps·N·(1 + 6/segment)` rather than `steps·6·N`.

use crate::heun::{heun_step, heun_step_vjp};
use dynamics::jansen_rit::{
    JrParam, N_JR_PARAMS, NodeParams, coupling_sigmoid, coupling_sigmoid_vjp,
};
use std::sync::Arc;

/// Which state variables are recorded, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// Record every `stride`-th step, starting with the first (`trace[::stride]`).
    pub stride: usize,
    /// State variables recorded (indices into `y0…y5`).
    pub variables: Vec<usize>,
}

impl Monitor {
    /// Every step, all six variables.
    pub fn raw() -> Self {
        Self {
            stride: 1,
            variables: (0..6).collect(),
        }
    }

    /// Number of recorded samples for a run of `steps` steps.
    pub fn samples(&self, steps: usize) -> usize {
        steps.div_ceil(self.stride)
    }
}

/// Everything about a simulation except the parameters (which are differentiable).
#[derive(Debug, Clone)]
pub struct JrProblem {
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
    /// Noise amplitude σ (η = sqrt(dt)·σ·ξ).
    pub sigma: f64,
    /// Standard normal draws ξ, `[steps, 6, n]`, shared by every parameter set of the batch.
    pub noise: Option<Arc<Vec<f64>>>,
    /// Initial state `[6, n]` or `[B, 6, n]`.
    pub init_state: Arc<Vec<f64>>,
    /// Initial history of `(y1, y2)`, `[horizon, 2, n]` or `[B, horizon, 2, n]`, oldest first;
    /// the newest entry is the initial state.
    pub init_history: Arc<Vec<f64>>,
    /// What the output trace records.
    pub monitor: Monitor,
    /// Steps per checkpoint segment in the adjoint.
    pub segment: usize,
}

impl JrProblem {
    /// Cold start: every state variable and history entry equal to `value` (TVB-O uses 0.1).
    pub fn cold_start(n: usize, horizon: usize, value: f64) -> (Vec<f64>, Vec<f64>) {
        (vec![value; 6 * n], vec![value; horizon * 2 * n])
    }

    fn init_for(&self, b: usize) -> (&[f64], &[f64]) {
        let (s, h) = (6 * self.n, self.horizon * 2 * self.n);
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
        let n = self.n;
        if self.weights.len() != n * n || self.lag.len() != n * n {
            return Err(format!("weights/delays must be {n}x{n}"));
        }
        if self.lag.iter().any(|&l| l >= self.horizon) {
            return Err("a delay is not shorter than the history horizon".into());
        }
        if let Some(noise) = &self.noise
            && noise.len() != self.steps * 6 * n
        {
            return Err(format!(
                "noise has {} values but [steps, 6, nodes] = [{}, 6, {n}] needs {}",
                noise.len(),
                self.steps,
                self.steps * 6 * n
            ));
        }
        let (s, h) = (6 * n, self.horizon * 2 * n);
        if self.init_state.len() != s && self.init_state.len() != batch * s {
            return Err(format!(
                "initial state must hold [6, {n}] or [{batch}, 6, {n}] values"
            ));
        }
        if self.init_history.len() != h && self.init_history.len() != batch * h {
            return Err(format!(
                "initial history must hold [{}, 2, {n}] or [{batch}, {}, 2, {n}] values",
                self.horizon, self.horizon
            ));
        }
        if self.monitor.stride == 0 || self.monitor.variables.iter().any(|&v| v >= 6) {
            return Err("monitor stride must be >= 1 and variables in 0..6".into());
        }
        if self.segment == 0 {
            return Err("segment must be >= 1".into());
        }
        Ok(())
    }

    /// Elements of one parameter set's monitored trace, `[samples, variables, n]`.
    pub fn trace_len(&self) -> usize {
        self.monitor.samples(self.steps) * self.monitor.variables.len() * self.n
    }

    /// Bytes the adjoint keeps per parameter set (S history plus checkpoints).
    pub fn tape_bytes(&self) -> usize {
        let rows = self.horizon + self.steps;
        let checkpoints = self.steps.div_ceil(self.segment) + 1;
        8 * (rows * self.n + checkpoints * 6 * self.n + 2 * self.horizon * self.n)
    }
}

/// What the forward pass returns for a batch.
#[derive(Debug, Clone, Default)]
pub struct SimulationOutput {
    /// Monitored trace `[B, samples, variables, n]`.
    pub trace: Vec<f64>,
    /// Final state `[B, 6, n]`, for warm starts.
    pub final_state: Vec<f64>,
    /// Final `(y1, y2)` history `[B, horizon, 2, n]`, oldest first, for warm starts.
    pub final_history: Vec<f64>,
}

/// What the adjoint needs from the forward pass of one parameter set.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    s_hist: Vec<f64>,
    checkpoints: Vec<f64>,
}

/// Node-major parameters of one set, `[n]` × 19.
fn node_params(params: &[f64], n: usize) -> Vec<NodeParams> {
    (0..n).map(|i| NodeParams::gather(params, n, i)).collect()
}

/// Gather offsets: row-relative index of source `j` for target `i` (`j − lag·n`).
fn gather_offsets(problem: &JrProblem) -> Vec<isize> {
    let n = problem.n;
    (0..n * n)
        .map(|ij| (ij % n) as isize - (problem.lag[ij] * n) as isize)
        .collect()
}

/// Delayed coupling of every target: `csum_i = Σ_j W_ij S_j(t − lag_ij)`, reading the history
/// whose newest row starts at `newest·n`.
///
/// This N² gather is the irreducible cost of a step. Four independent accumulators break the
/// floating-point add dependency chain (a serial sum is latency-bound at ~4 cycles per term).
#[inline]
fn gather_coupling(
    weights: &[f64],
    offsets: &[isize],
    hist: &[f64],
    newest: usize,
    n: usize,
    csum: &mut [f64],
) {
    let base = (newest * n) as isize;
    // Every index is (newest − lag)·n + j with lag ≤ newest (checked by `JrProblem::validate`
    // and the history layout), so it lies in [0, (newest + 1)·n).
    assert!((newest + 1) * n <= hist.len());
    for i in 0..n {
        let w = &weights[i * n..(i + 1) * n];
        let o = &offsets[i * n..(i + 1) * n];
        let mut acc = [0.0f64; 4];
        let quads = n / 4;
        for q in 0..quads {
            for l in 0..4 {
                let j = 4 * q + l;
                // SAFETY: see the bound above.
                acc[l] += w[j] * unsafe { *hist.get_unchecked((base + o[j]) as usize) };
            }
        }
        let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for j in 4 * quads..n {
            s += w[j] * hist[(base + o[j]) as usize];
        }
        csum[i] = s;
    }
}

struct Scratch {
    state: Vec<f64>,
    csum: Vec<f64>,
}

/// One step of every region: advances `state` ([6, n]) in place.
#[inline]
fn step_all(
    problem: &JrProblem,
    p: &[NodeParams],
    k: usize,
    csum: &[f64],
    state: &mut [f64],
    eta_scale: f64,
) {
    let n = problem.n;
    for i in 0..n {
        let mut y = [0.0; 6];
        let mut eta = [0.0; 6];
        for v in 0..6 {
            y[v] = state[v * n + i];
        }
        if let Some(noise) = &problem.noise {
            for v in 0..6 {
                eta[v] = eta_scale * noise[(k * 6 + v) * n + i];
            }
        }
        let c = p[i].0[JrParam::coupling_a as usize] * csum[i];
        let y1 = heun_step(&p[i], &y, c, &eta, problem.dt);
        for v in 0..6 {
            state[v * n + i] = y1[v];
        }
    }
}

fn eta_scale(problem: &JrProblem) -> f64 {
    problem.dt.sqrt() * problem.sigma
}

/// Forward pass of one parameter set. Writes the monitored trace, final state and history;
/// returns the tape when `record` is set.
fn forward_one(
    problem: &JrProblem,
    params: &[f64],
    b: usize,
    offsets: &[isize],
    trace: &mut [f64],
    final_state: &mut [f64],
    final_history: &mut [f64],
    record: bool,
) -> Option<Tape> {
    let n = problem.n;
    let nh = problem.horizon;
    let p = node_params(params, n);
    let (init_state, init_hist) = problem.init_for(b);
    // Untracked runs keep a sliding window (amortised copy of nh rows every `window` steps);
    // tracked runs keep every row for the adjoint.
    let window = if record {
        problem.steps + 1
    } else {
        nh.max(1024)
    };
    let rows = nh + window;
    let mut s_hist = vec![0.0; rows * n];
    for r in 0..nh {
        for j in 0..n {
            let (y1, y2) = (init_hist[(r * 2) * n + j], init_hist[(r * 2 + 1) * n + j]);
            s_hist[r * n + j] = coupling_sigmoid(&p[j], y1, y2);
        }
    }
    // (y1, y2) ring of the last nh states, only for warm starts.
    let mut yring = init_hist.to_vec();
    let mut ring_pos = 0usize; // index of the oldest row
    let mut newest = nh - 1;
    let mut sc = Scratch {
        state: init_state.to_vec(),
        csum: vec![0.0; n],
    };
    let segment = problem.segment;
    let mut checkpoints = Vec::new();
    let scale = eta_scale(problem);
    let nvars = problem.monitor.variables.len();
    for k in 0..problem.steps {
        if record && k % segment == 0 {
            checkpoints.extend_from_slice(&sc.state);
        }
        gather_coupling(&problem.weights, offsets, &s_hist, newest, n, &mut sc.csum);
        step_all(problem, &p, k, &sc.csum, &mut sc.state, scale);
        if newest + 1 == rows {
            // Slide: keep the last nh − 1 rows at the front; the new row follows them.
            s_hist.copy_within((rows - (nh - 1)) * n..rows * n, 0);
            newest = nh - 1;
        } else {
            newest += 1;
        }
        for j in 0..n {
            s_hist[newest * n + j] = coupling_sigmoid(&p[j], sc.state[n + j], sc.state[2 * n + j]);
            yring[(ring_pos * 2) * n + j] = sc.state[n + j];
            yring[(ring_pos * 2 + 1) * n + j] = sc.state[2 * n + j];
        }
        ring_pos = (ring_pos + 1) % nh;
        if k % problem.monitor.stride == 0 {
            let m = k / problem.monitor.stride;
            for (vi, &v) in problem.monitor.variables.iter().enumerate() {
                trace[(m * nvars + vi) * n..(m * nvars + vi + 1) * n]
                    .copy_from_slice(&sc.state[v * n..(v + 1) * n]);
            }
        }
    }
    final_state.copy_from_slice(&sc.state);
    for r in 0..nh {
        let src = (ring_pos + r) % nh;
        final_history[r * 2 * n..(r + 1) * 2 * n]
            .copy_from_slice(&yring[src * 2 * n..(src + 1) * 2 * n]);
    }
    record.then(|| {
        s_hist.truncate((newest + 1) * n);
        Tape {
            s_hist,
            checkpoints,
        }
    })
}

/// Adjoint of one parameter set: returns `∂L/∂params` `[19, n]` given `∂L/∂trace`.
fn backward_one(
    problem: &JrProblem,
    params: &[f64],
    b: usize,
    offsets: &[isize],
    tape: &Tape,
    grad_trace: &[f64],
) -> Vec<f64> {
    let n = problem.n;
    let nh = problem.horizon;
    let steps = problem.steps;
    let p = node_params(params, n);
    let (_, init_hist) = problem.init_for(b);
    let scale = eta_scale(problem);
    let k_seg = problem.segment;
    let nvars = problem.monitor.variables.len();
    let mut lam = vec![0.0; 6 * n];
    let mut mu = vec![0.0; tape.s_hist.len()];
    let mut dp = vec![[0.0; N_JR_PARAMS]; n];
    let mut states = vec![0.0; (k_seg + 1) * 6 * n];
    // The delayed coupling sums of the segment, kept from its recomputation so the reverse
    // sweep does not gather them a second time.
    let mut csums = vec![0.0; k_seg * n];
    let mut lamc = vec![0.0; n];
    let nseg = steps.div_ceil(k_seg);
    for seg in (0..nseg).rev() {
        let (k0, k1) = (seg * k_seg, ((seg + 1) * k_seg).min(steps));
        states[..6 * n].copy_from_slice(&tape.checkpoints[seg * 6 * n..(seg + 1) * 6 * n]);
        for k in k0..k1 {
            let r = k - k0;
            let csum = &mut csums[r * n..(r + 1) * n];
            gather_coupling(&problem.weights, offsets, &tape.s_hist, k + nh - 1, n, csum);
            let (prev, next) = states.split_at_mut((r + 1) * 6 * n);
            next[..6 * n].copy_from_slice(&prev[r * 6 * n..]);
            step_all(problem, &p, k, csum, &mut next[..6 * n], scale);
        }
        for k in (k0..k1).rev() {
            let r = k - k0;
            let x_next = &states[(r + 1) * 6 * n..(r + 2) * 6 * n];
            if k % problem.monitor.stride == 0 {
                let m = k / problem.monitor.stride;
                for (vi, &v) in problem.monitor.variables.iter().enumerate() {
                    let g = &grad_trace[(m * nvars + vi) * n..(m * nvars + vi + 1) * n];
                    for i in 0..n {
                        lam[v * n + i] += g[i];
                    }
                }
            }
            // S_{k+1} (row k + nh) has received every use by later steps.
            let row = (k + nh) * n;
            for i in 0..n {
                let g = mu[row + i];
                if g != 0.0 {
                    let mut dy = [0.0; 6];
                    coupling_sigmoid_vjp(
                        &p[i],
                        x_next[n + i],
                        x_next[2 * n + i],
                        g,
                        &mut dy,
                        &mut dp[i],
                    );
                    lam[n + i] += dy[1];
                    lam[2 * n + i] += dy[2];
                }
            }
            let x = &states[r * 6 * n..(r + 1) * 6 * n];
            let csum = &csums[r * n..(r + 1) * n];
            for i in 0..n {
                let mut y = [0.0; 6];
                let mut eta = [0.0; 6];
                let mut l = [0.0; 6];
                for v in 0..6 {
                    y[v] = x[v * n + i];
                    l[v] = lam[v * n + i];
                }
                if let Some(noise) = &problem.noise {
                    for v in 0..6 {
                        eta[v] = scale * noise[(k * 6 + v) * n + i];
                    }
                }
                let ca = p[i].0[JrParam::coupling_a as usize];
                let (ly, dc) =
                    heun_step_vjp(&p[i], &y, ca * csum[i], &eta, problem.dt, &l, &mut dp[i]);
                for v in 0..6 {
                    lam[v * n + i] = ly[v];
                }
                dp[i][JrParam::coupling_a as usize] += dc * csum[i];
                lamc[i] = dc * ca;
            }
            // Scatter the coupling adjoint onto the delayed sources: the transpose of the gather.
            let base = ((k + nh - 1) * n) as isize;
            for i in 0..n {
                let g = lamc[i];
                if g == 0.0 {
                    continue;
                }
                let w = &problem.weights[i * n..(i + 1) * n];
                let o = &offsets[i * n..(i + 1) * n];
                for j in 0..n {
                    mu[(base + o[j]) as usize] += g * w[j];
                }
            }
        }
    }
    // The initial history's sigmoids depend on the coupling parameters too.
    for r in 0..nh {
        for j in 0..n {
            let g = mu[r * n + j];
            if g != 0.0 {
                let mut dy = [0.0; 6];
                let (y1, y2) = (init_hist[(r * 2) * n + j], init_hist[(r * 2 + 1) * n + j]);
                coupling_sigmoid_vjp(&p[j], y1, y2, g, &mut dy, &mut dp[j]);
            }
        }
    }
    let mut out = vec![0.0; N_JR_PARAMS * n];
    for i in 0..n {
        for k in 0..N_JR_PARAMS {
            out[k * n + i] = dp[i][k];
        }
    }
    out
}

fn threads_for(batch: usize) -> usize {
    std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(batch)
        .max(1)
}

/// Runs `f(b, chunk…)` for every parameter set, splitting the batch across threads. Each set
/// is independent, so results do not depend on the number of threads.
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

/// Forward pass of a batch: `params` is `[B, 19, n]`. With `record`, also returns one tape per
/// parameter set for [`backward`].
pub fn forward(problem: &JrProblem, params: &[f64], record: bool) -> (SimulationOutput, Vec<Tape>) {
    let n = problem.n;
    let batch = params.len() / (N_JR_PARAMS * n);
    // Problems are built from validated experiments; a bad one here is a programming error,
    // and the unchecked gather relies on it being caught.
    if let Err(e) = problem.validate(batch) {
        panic!("invalid Jansen-Rit problem: {e}");
    }
    let offsets = gather_offsets(problem);
    let tl = problem.trace_len();
    let hl = problem.horizon * 2 * n;
    let results = par_batch(batch, |b| {
        let mut trace = vec![0.0; tl];
        let mut fs = vec![0.0; 6 * n];
        let mut fh = vec![0.0; hl];
        let pb = &params[b * N_JR_PARAMS * n..(b + 1) * N_JR_PARAMS * n];
        let tape = forward_one(
            problem, pb, b, &offsets, &mut trace, &mut fs, &mut fh, record,
        );
        (trace, fs, fh, tape)
    });
    let mut out = SimulationOutput {
        trace: Vec::with_capacity(batch * tl),
        final_state: Vec::with_capacity(batch * 6 * n),
        final_history: Vec::with_capacity(batch * hl),
    };
    let mut tapes = Vec::new();
    for (t, fs, fh, tape) in results {
        out.trace.extend_from_slice(&t);
        out.final_state.extend_from_slice(&fs);
        out.final_history.extend_from_slice(&fh);
        tapes.extend(tape);
    }
    (out, tapes)
}

/// Adjoint of a batch: `∂L/∂params` `[B, 19, n]` from `∂L/∂trace` `[B, samples, variables, n]`.
pub fn backward(
    problem: &JrProblem,
    params: &[f64],
    tapes: &[Tape],
    grad_trace: &[f64],
) -> Vec<f64> {
    let n = problem.n;
    let batch = tapes.len();
    let offsets = gather_offsets(problem);
    let tl = problem.trace_len();
    let grads = par_batch(batch, |b| {
        let pb = &params[b * N_JR_PARAMS * n..(b + 1) * N_JR_PARAMS * n];
        backward_one(
            problem,
            pb,
            b,
            &offsets,
            &tapes[b],
            &grad_trace[b * tl..(b + 1) * tl],
        )
    });
    grads.concat()
}
