//! The batch-major forward pass: four parameter sets per SIMD register.
//!
//! A batch whose sets share the integer delay table (grids, batched objectives, the `explore`
//! command) runs four sets at a time with the lanes of [`F64x4`] across the sets instead of
//! across regions. The history is `[slot, channel, source]` of four-lane values, so the delayed
//! read of source `j` by target `i` is one contiguous 32-byte load for all four sets, where the
//! per-set kernel needs four scalar loads per four terms ([`DelayTable::gather_into`]); the
//! gather is most of a step's cost. The model's step is the same generic definition evaluated
//! in four lanes.
//!
//! Every lane is bit-for-bit the per-set kernel ([`Plan::forward_one`]): the coupling sums use
//! the same four partial sums in the same order, the step the same operations (no fused
//! multiply-add), and the monitor and warm-start history are recorded by the same
//! [`Observer`]. Forward only (no tape): gradients run per set.

use super::{DelayTable, NoiseSource, Observer, Plan};
use crate::integrator::step_stages;
use crate::lanes::{F64x4, LANES};
use crate::noise::NoiseCursor;
use dynamics::{CouplingFunction, MAX_COUPLING, MAX_STATE, NodeModel};

/// The outputs of one parameter set: trace, final state, final history.
pub(super) type SetOutputs<'o> = (&'o mut [f64], &'o mut [f64], &'o mut [f64]);

impl Plan<'_> {
    /// Whether a forward pass of `batch` sets can run [`Plan::forward_lanes`]: sets share the
    /// delay table (integer delays), there is no tape to record, and the CPU has AVX2 (the
    /// lanes path is compiled only for it; without it every set runs on its own, with the
    /// same results).
    pub(super) fn lanes_apply(&self, batch: usize, record: bool) -> bool {
        cfg!(target_arch = "x86_64")
            && self.avx2
            && !record
            && self.table.is_some()
            && batch >= LANES
    }

    /// Forward pass of the four parameter sets `b0…b0 + 3` (`params` the whole batch's
    /// `[B, P, n]`), writing each set's outputs; returns the continuing noise source of set
    /// `b0`. Requires [`Plan::lanes_apply`].
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub(super) fn forward_lanes<M: NodeModel, C: CouplingFunction>(
        &self,
        params: &[f64],
        b0: usize,
        outs: [SetOutputs<'_>; LANES],
    ) -> NoiseSource {
        assert!(self.avx2 && self.table.is_some());
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 was detected at run time.
            unsafe {
                super::with_avx2(
                    #[inline(always)]
                    || self.forward_lanes_body::<M, C>(params, b0, outs),
                )
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("lanes_apply is false off x86_64")
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn forward_lanes_body<M: NodeModel, C: CouplingFunction>(
        &self,
        params: &[f64],
        b0: usize,
        mut outs: [SetOutputs<'_>; LANES],
    ) -> NoiseSource {
        let p = self.p;
        let (n, nh, lay) = (p.n, p.horizon, self.lay);
        let (ns, np, nch, ncv) = (lay.ns, lay.np(), lay.nch, lay.ncv);
        let row = self.row();
        let table = self.table.as_ref().expect("shared delay table");
        let sets: [usize; LANES] = std::array::from_fn(|l| b0 + l);
        // Region-major lane parameters: pq[i·P + k] holds parameter k of region i of each set.
        let per = np * n;
        let mut pq = vec![F64x4::default(); n * np];
        for (l, &b) in sets.iter().enumerate() {
            for k in 0..np {
                for i in 0..n {
                    pq[i * np + k].0[l] = params[b * per + k * n + i];
                }
            }
        }
        let inits: [(&[f64], &[f64]); LANES] = std::array::from_fn(|l| p.init_for(sets[l]));
        let window = nh.max(1024);
        let rows = nh + window;
        let mut hist = vec![F64x4::default(); rows * row];
        let cv_row = ncv * n;
        let mut state = vec![F64x4::default(); ns * n];
        for r in 0..nh {
            // The initial history holds coupling variables; lay them out as a state.
            for (q, &cv) in M::CVAR.iter().enumerate() {
                for j in 0..n {
                    for (l, (_, h)) in inits.iter().enumerate() {
                        state[cv * n + j].0[l] = h[r * cv_row + q * n + j];
                    }
                }
            }
            push_pre_lanes::<M, C>(&pq, lay.npm, np, nch, n, &state, &mut hist[r * row..]);
        }
        for (l, (s, _)) in inits.iter().enumerate() {
            for (v, x) in state.iter_mut().zip(s.iter()) {
                v.0[l] = *x;
            }
        }
        let mut obs: [Observer<'_>; LANES] =
            std::array::from_fn(|l| Observer::new::<M>(p, inits[l].1));
        // Sets with the same noise source (the common case: one seed for the whole batch)
        // draw it once.
        let srcs: [&NoiseSource; LANES] = std::array::from_fn(|l| p.noise.for_set(sets[l]));
        let shared = srcs.iter().all(|s| std::ptr::eq(*s, srcs[0]));
        let mut cursors: Vec<NoiseCursor<'_>> = if shared {
            vec![NoiseCursor::new(srcs[0])]
        } else {
            srcs.iter().map(|s| NoiseCursor::new(s)).collect()
        };
        let mut bufs = vec![vec![0.0; ns * n]; cursors.len()];
        let mut csum = vec![F64x4::default(); nch * n];
        let mut set_state = vec![0.0; ns * n];
        let mut newest = nh - 1;
        for k in 0..p.steps {
            // SAFETY: this body runs only where AVX2 was detected (`forward_lanes`).
            #[allow(unused_unsafe)]
            unsafe {
                gather_lanes(table, &hist, newest * row, nch, n, &mut csum)
            };
            let mut xis: [Option<&[f64]>; LANES] = [None; LANES];
            for (c, (cursor, buf)) in cursors.iter_mut().zip(bufs.iter_mut()).enumerate() {
                let xi = cursor.next_raw(buf);
                if shared {
                    xis = [xi; LANES];
                } else {
                    xis[c] = xi;
                }
            }
            for i in 0..n {
                let mut x = [F64x4::default(); MAX_STATE];
                let mut e = [F64x4::default(); MAX_STATE];
                for v in 0..ns {
                    x[v] = state[v * n + i];
                }
                if shared {
                    // One draw for every lane: a broadcast, not lane-by-lane inserts (which
                    // went through the stack: 5% of the batch's time).
                    if let Some(xi) = xis[0] {
                        for v in 0..ns {
                            e[v] = F64x4::splat(xi[v * n + i] * self.scale);
                        }
                    }
                } else {
                    for (l, xi) in xis.iter().enumerate() {
                        if let Some(xi) = xi {
                            for v in 0..ns {
                                e[v].0[l] = xi[v * n + i] * self.scale;
                            }
                        }
                    }
                }
                let mut sum = [F64x4::default(); MAX_COUPLING];
                for h in 0..nch {
                    sum[h] = csum[h * n + i];
                }
                let mut xc = [F64x4::default(); MAX_COUPLING];
                if C::USES_TARGET_STATE {
                    for (q, &cv) in M::CVAR.iter().enumerate() {
                        xc[q] = state[cv * n + i];
                    }
                }
                let pi = &pq[i * np..(i + 1) * np];
                let mut c = [F64x4::default(); MAX_COUPLING];
                C::post::<F64x4>(
                    &sum[..nch],
                    &xc[..ncv],
                    self.rowsum[i],
                    &pi[lay.npm..],
                    &mut c[..nch],
                );
                // One monomorphised step per stage count (`integrator::STAGE_COUNTS`); the
                // branch is the same for every region.
                let y = match self.tab.stages {
                    1 => step_stages::<M, F64x4, 1>(self.tab, p.dt, &x, &c[..nch], pi, &e),
                    2 => step_stages::<M, F64x4, 2>(self.tab, p.dt, &x, &c[..nch], pi, &e),
                    _ => step_stages::<M, F64x4, 4>(self.tab, p.dt, &x, &c[..nch], pi, &e),
                };
                for v in 0..ns {
                    state[v * n + i] = y[v];
                }
            }
            if newest + 1 == rows {
                // Slide: keep the last nh − 1 rows at the front; the new row follows them.
                hist.copy_within((rows - (nh - 1)) * row..rows * row, 0);
                newest = nh - 1;
            } else {
                newest += 1;
            }
            push_pre_lanes::<M, C>(&pq, lay.npm, np, nch, n, &state, &mut hist[newest * row..]);
            // Every set's observer watches the same problem, so one answer serves all four.
            let read = obs[0].needs_state(k);
            for (l, (o, (trace, _, _))) in obs.iter_mut().zip(outs.iter_mut()).enumerate() {
                if !read {
                    o.skip();
                    continue;
                }
                for (d, v) in set_state.iter_mut().zip(&state) {
                    *d = v.0[l];
                }
                o.observe(k, &set_state, trace);
            }
        }
        for (l, (o, (_, fs, fh))) in obs.iter().zip(outs.iter_mut()).enumerate() {
            for (d, v) in fs.iter_mut().zip(&state) {
                *d = v.0[l];
            }
            o.finish(fh);
        }
        cursors[0].remaining(srcs[0])
    }
}

/// `csum[h·n + i] = Σ_j W_ij · hist[base + h·n + o_ij]` for every target and channel, in four
/// lanes: the order of summation of [`DelayTable::gather_into`] (partial sum `j mod 4`,
/// combined as `(s0 + s1) + (s2 + s3)`, then the `n mod 4` last terms), so each lane equals the
/// per-set sum.
///
/// A function of its own, not inlined into the step loop: there the whole step competes for
/// registers and the loop's pointers were spilled and reloaded every iteration, in a loop that
/// is bound by its loads. Compiled for AVX2, the only way it is called.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2"))]
#[inline(never)]
fn gather_lanes(
    t: &DelayTable,
    hist: &[F64x4],
    newest_row: usize,
    nch: usize,
    n: usize,
    csum: &mut [F64x4],
) {
    let m = t.m;
    for h in 0..nch {
        let base = (newest_row + h * n) as isize;
        // Every read lies in hist: one check of the extreme offsets covers all of them.
        assert!(base + t.o_min >= 0 && ((base + t.o_max) as usize) < hist.len());
        for (i, c) in csum[h * n..(h + 1) * n].iter_mut().enumerate() {
            // Whole chunks of four: no per-term bounds checks on the weights and offsets.
            let (w4, wt) = t.w[i * m..(i + 1) * m].as_chunks::<4>();
            let (o4, ot) = t.o[i * m..(i + 1) * m].as_chunks::<4>();
            let mut acc = [F64x4::default(); 4];
            for (wq, oq) in w4.iter().zip(o4) {
                for l in 0..4 {
                    // SAFETY: see the bound above.
                    let v = unsafe { *hist.get_unchecked((base + oq[l]) as usize) };
                    acc[l] += v * wq[l];
                }
            }
            let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            for (wj, oj) in wt.iter().zip(ot) {
                s += hist[(base + oj) as usize] * *wj;
            }
            *c = s;
        }
    }
}

/// Writes the pre-synaptic values of every source of `state` (`[S, n]` lanes) into the history
/// row that starts `dst` (`[channels, n]` lanes).
#[inline(always)]
fn push_pre_lanes<M: NodeModel, C: CouplingFunction>(
    pq: &[F64x4],
    npm: usize,
    np: usize,
    nch: usize,
    n: usize,
    state: &[F64x4],
    dst: &mut [F64x4],
) {
    let ncv = M::CVAR.len();
    for j in 0..n {
        let mut x = [F64x4::default(); MAX_COUPLING];
        for (q, &cv) in M::CVAR.iter().enumerate() {
            x[q] = state[cv * n + j];
        }
        let mut out = [F64x4::default(); MAX_COUPLING];
        C::pre::<F64x4>(&x[..ncv], &pq[j * np + npm..(j + 1) * np], &mut out[..nch]);
        for h in 0..nch {
            dst[h * n + j] = out[h];
        }
    }
}
