//! The batch-major forward pass: four parameter sets per SIMD register, eight per pass.
//!
//! A batch whose sets share the integer delay table (grids, batched objectives, the `explore`
//! command) runs four sets at a time with the lanes of [`F64x4`] across the sets instead of
//! across regions, and `G` such groups per pass (two where the batch has eight sets). The
//! history is `[slot, channel, source, group]` of four-lane values, so the delayed read of
//! source `j` by target `i` is `G` contiguous 32-byte loads, one offset and one weight for all
//! `4G` sets, where the per-set kernel needs four scalar loads per four terms
//! ([`DelayTable::gather_into`]); the gather is bound by its loads. The model's step is the
//! same generic definition evaluated in four lanes, group after group.
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

    /// Forward pass of the `4·G` parameter sets `b0…b0 + 4G − 1` (`params` the whole batch's
    /// `[B, P, n]`), `G` groups of four in the lanes of [`F64x4`], writing each set's outputs;
    /// returns the continuing noise source of set `b0`. Requires [`Plan::lanes_apply`].
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub(super) fn forward_lanes<M: NodeModel, C: CouplingFunction, const G: usize>(
        &self,
        params: &[f64],
        b0: usize,
        outs: [[SetOutputs<'_>; LANES]; G],
    ) -> NoiseSource {
        assert!(self.avx2 && self.table.is_some());
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 was detected at run time.
            unsafe {
                super::with_avx2(
                    #[inline(always)]
                    || self.forward_lanes_body::<M, C, G>(params, b0, outs),
                )
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("lanes_apply is false off x86_64")
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn forward_lanes_body<M: NodeModel, C: CouplingFunction, const G: usize>(
        &self,
        params: &[f64],
        b0: usize,
        outs: [[SetOutputs<'_>; LANES]; G],
    ) -> NoiseSource {
        let p = self.p;
        let (n, nh, lay) = (p.n, p.horizon, self.lay);
        let (ns, np, nch, ncv) = (lay.ns, lay.np(), lay.nch, lay.ncv);
        let row = self.row();
        let table = self.table.as_ref().expect("shared delay table");
        // Set `b0 + 4g + l` is lane `l` of group `g`.
        let mut outs: Vec<SetOutputs<'_>> = outs.into_iter().flatten().collect();
        let sets: Vec<usize> = (0..LANES * G).map(|s| b0 + s).collect();
        // Region-major lane parameters: pq[(g·n + i)·P + k] holds parameter k of region i of
        // each set of group g.
        let per = np * n;
        let mut pq = vec![F64x4::default(); G * n * np];
        for (s, &b) in sets.iter().enumerate() {
            let (g, l) = (s / LANES, s % LANES);
            for k in 0..np {
                for i in 0..n {
                    pq[(g * n + i) * np + k].0[l] = params[b * per + k * n + i];
                }
            }
        }
        let inits: Vec<(&[f64], &[f64])> = sets.iter().map(|&b| p.init_for(b)).collect();
        let window = nh.max(1024);
        let rows = nh + window;
        // The history interleaves the groups: entry `e` of a row-major `[rows, row]` history
        // is at `e·G + g`, so one delayed read of source j serves all 4G sets from one line.
        let mut hist = vec![F64x4::default(); rows * row * G];
        let cv_row = ncv * n;
        let mut state = vec![F64x4::default(); G * ns * n];
        for r in 0..nh {
            // The initial history holds coupling variables; lay them out as a state.
            for (s, (_, h)) in inits.iter().enumerate() {
                let (g, l) = (s / LANES, s % LANES);
                for (q, &cv) in M::CVAR.iter().enumerate() {
                    for j in 0..n {
                        state[g * ns * n + cv * n + j].0[l] = h[r * cv_row + q * n + j];
                    }
                }
            }
            push_pre_lanes::<M, C, G>(&pq, lay.npm, np, nch, n, &state, &mut hist[r * row * G..]);
        }
        for (s, (x0, _)) in inits.iter().enumerate() {
            let (g, l) = (s / LANES, s % LANES);
            for (v, x) in state[g * ns * n..(g + 1) * ns * n]
                .iter_mut()
                .zip(x0.iter())
            {
                v.0[l] = *x;
            }
        }
        let mut obs: Vec<Observer<'_>> = inits.iter().map(|i| Observer::new::<M>(p, i.1)).collect();
        // Sets with the same noise source (the common case: one seed for the whole batch)
        // draw it once.
        let srcs: Vec<&NoiseSource> = sets.iter().map(|&b| p.noise.for_set(b)).collect();
        let shared = srcs.iter().all(|s| std::ptr::eq(*s, srcs[0]));
        let mut cursors: Vec<NoiseCursor<'_>> = if shared {
            vec![NoiseCursor::new(srcs[0])]
        } else {
            srcs.iter().map(|s| NoiseCursor::new(s)).collect()
        };
        let mut bufs = vec![vec![0.0; ns * n]; cursors.len()];
        let mut csum = vec![F64x4::default(); nch * n * G];
        let mut set_state = vec![0.0; ns * n];
        let mut newest = nh - 1;
        for k in 0..p.steps {
            // SAFETY: this body runs only where AVX2 was detected (`forward_lanes`).
            #[allow(unused_unsafe)]
            unsafe {
                gather_lanes::<G>(table, &hist, newest * row, nch, n, &mut csum)
            };
            let mut xis: [[Option<&[f64]>; LANES]; G] = [[None; LANES]; G];
            for (c, (cursor, buf)) in cursors.iter_mut().zip(bufs.iter_mut()).enumerate() {
                let xi = cursor.next_raw(buf);
                if shared {
                    xis = [[xi; LANES]; G];
                } else {
                    xis[c / LANES][c % LANES] = xi;
                }
            }
            for g in 0..G {
                let state = &mut state[g * ns * n..(g + 1) * ns * n];
                let xis = &xis[g];
                let pq = &pq[g * n * np..(g + 1) * n * np];
                for i in 0..n {
                    let mut x = [F64x4::default(); MAX_STATE];
                    let mut e = [F64x4::default(); MAX_STATE];
                    for v in 0..ns {
                        x[v] = state[v * n + i];
                    }
                    if shared {
                        // One draw for every lane: a broadcast, not lane-by-lane inserts
                        // (which went through the stack: 5% of the batch's time).
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
                        sum[h] = csum[(h * n + i) * G + g];
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
            }
            if newest + 1 == rows {
                // Slide: keep the last nh − 1 rows at the front; the new row follows them.
                hist.copy_within((rows - (nh - 1)) * row * G..rows * row * G, 0);
                newest = nh - 1;
            } else {
                newest += 1;
            }
            push_pre_lanes::<M, C, G>(
                &pq,
                lay.npm,
                np,
                nch,
                n,
                &state,
                &mut hist[newest * row * G..],
            );
            // Every set's observer watches the same problem, so one answer serves them all.
            let read = obs[0].needs_state(k);
            for (s, (o, (trace, _, _))) in obs.iter_mut().zip(outs.iter_mut()).enumerate() {
                if !read {
                    o.skip();
                    continue;
                }
                let (g, l) = (s / LANES, s % LANES);
                for (d, v) in set_state
                    .iter_mut()
                    .zip(&state[g * ns * n..(g + 1) * ns * n])
                {
                    *d = v.0[l];
                }
                o.observe(k, &set_state, trace);
            }
        }
        for (s, (o, (_, fs, fh))) in obs.iter().zip(outs.iter_mut()).enumerate() {
            let (g, l) = (s / LANES, s % LANES);
            for (d, v) in fs.iter_mut().zip(&state[g * ns * n..(g + 1) * ns * n]) {
                *d = v.0[l];
            }
            o.finish(fh);
        }
        cursors[0].remaining(srcs[0])
    }
}

/// `csum[(h·n + i)·G + g] = Σ_j W_ij · hist[(base + h·n + o_ij)·G + g]` for every target,
/// channel and group, in four lanes: the order of summation of [`DelayTable::gather_into`]
/// (partial sum `j mod 4`, combined as `(s0 + s1) + (s2 + s3)`, then the `n mod 4` last
/// terms), so each lane equals the per-set sum. With two groups (eight sets) each term's
/// offset and weight are read once for both, and the two four-lane values share a cache line:
/// the loop is bound by its loads.
///
/// A function of its own, not inlined into the step loop: there the whole step competes for
/// registers and the loop's pointers were spilled and reloaded every iteration. Compiled for
/// AVX2, the only way it is called.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2"))]
#[inline(never)]
fn gather_lanes<const G: usize>(
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
        assert!(base + t.o_min >= 0 && (((base + t.o_max) as usize) + 1) * G <= hist.len());
        for (i, c) in csum[h * n * G..(h + 1) * n * G]
            .chunks_exact_mut(G)
            .enumerate()
        {
            // Whole chunks of four: no per-term bounds checks on the weights and offsets.
            let (w4, wt) = t.w[i * m..(i + 1) * m].as_chunks::<4>();
            let (o4, ot) = t.o[i * m..(i + 1) * m].as_chunks::<4>();
            let mut acc = [[F64x4::default(); 4]; G];
            for (wq, oq) in w4.iter().zip(o4) {
                for l in 0..4 {
                    let at = (base + oq[l]) as usize * G;
                    for g in 0..G {
                        // SAFETY: see the bound above.
                        let v = unsafe { *hist.get_unchecked(at + g) };
                        acc[g][l] += v * wq[l];
                    }
                }
            }
            for g in 0..G {
                let a = &acc[g];
                let mut s = (a[0] + a[1]) + (a[2] + a[3]);
                for (wj, oj) in wt.iter().zip(ot) {
                    s += hist[(base + oj) as usize * G + g] * *wj;
                }
                c[g] = s;
            }
        }
    }
}

/// Writes the pre-synaptic values of every source of `state` (`G` groups of `[S, n]` lanes)
/// into the history row that starts `dst` (`[channels, n]` entries of `G` lanes each).
#[inline(always)]
fn push_pre_lanes<M: NodeModel, C: CouplingFunction, const G: usize>(
    pq: &[F64x4],
    npm: usize,
    np: usize,
    nch: usize,
    n: usize,
    state: &[F64x4],
    dst: &mut [F64x4],
) {
    let ncv = M::CVAR.len();
    let ns = M::NS;
    for g in 0..G {
        let (state, pq) = (&state[g * ns * n..], &pq[g * n * np..]);
        for j in 0..n {
            let mut x = [F64x4::default(); MAX_COUPLING];
            for (q, &cv) in M::CVAR.iter().enumerate() {
                x[q] = state[cv * n + j];
            }
            let mut out = [F64x4::default(); MAX_COUPLING];
            C::pre::<F64x4>(&x[..ncv], &pq[j * np + npm..(j + 1) * np], &mut out[..nch]);
            for h in 0..nch {
                dst[(h * n + j) * G + g] = out[h];
            }
        }
    }
}
