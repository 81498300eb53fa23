//! Francis double-shift QR iteration on an upper Hessenberg matrix (LAPACK `dlahqr`).
//!
//! Written by hand because faer 0.24 keeps its real Schur routines crate-private and its public
//! real QZ (the only public route to a real Schur form) fails for n ≥ 75 (an index overflow in
//! aggressive early deflation) and is ~10× slower unblocked. This is the small-bulge,
//! single-sweep algorithm of LAPACK's `dlahqr` (Ahues–Tisseur deflation test, exceptional
//! shifts at iterations 10 and 20) with the full Schur form and the Schur vectors accumulated.
//! Converged 2 × 2 blocks are *not* standardized (`dlanv2`): downstream code reads their
//! eigenvalues directly and solves Sylvester equations with any 2 × 2 diagonal block.
//!
//! One change of order, not of arithmetic: each sweep's reflectors are applied near the bulge
//! at once, and away from it (the rows of `H` right of the chunk, the rows above it, all of
//! `Z`) after every [`CHUNK`] reflectors, each element receiving the same operations in the
//! same order (see `hessenberg_qr_generic`). The strided row updates then touch each column
//! once per chunk rather than once per reflector: with the Sylvester changes of the same
//! commit, the SOC step went from 4.7 / 24.7 / 163 ms to 3.7 / 20.1 / 117 ms at N = 100 / 200 /
//! 400 (`fit bench --suite soc`, one core, Intel Xeon, 2026-12-04).
//!
//! References: Francis, Comput. J. 4 (1961); Anderson et al., LAPACK Users' Guide (`dlahqr`);
//! Ahues & Tisseur, LAPACK Working Note 122 (1997).

/// Column-major square matrix view used by the sweep (index `i + j n`).
struct ColMajor<'a> {
    data: &'a mut [f64],
    n: usize,
}

impl ColMajor<'_> {
    #[inline(always)]
    fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i + j * self.n]
    }
    #[inline(always)]
    fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i + j * self.n] = v;
    }
}

/// Reduces the upper Hessenberg `h` (column-major, n × n) to upper quasi-triangular form in
/// place and post-multiplies `z` (column-major, n × n) by the orthogonal transformation.
/// Returns `false` if the iteration did not converge.
pub fn hessenberg_qr(h: &mut [f64], z: &mut [f64], n: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { hessenberg_qr_avx2(h, z, n) };
    }
    hessenberg_qr_generic::<CHUNK>(h, z, n)
}

/// One double-shift sweep ([`double_shift_sweep`]) on the active block `l..=iu` with the
/// given shifts, in the AVX2 build where the CPU has it (see [`hessenberg_qr_avx2`]).
pub(crate) fn sweep(
    h: &mut [f64],
    z: &mut [f64],
    n: usize,
    l: usize,
    iu: usize,
    shifts: ShiftPair,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { sweep_avx2(h, z, n, l, iu, shifts) };
    }
    double_shift_sweep::<CHUNK>(h, z, n, l, iu, shifts)
}

/// [`double_shift_sweep`] compiled for AVX2 (same operations, same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sweep_avx2(
    h: &mut [f64],
    z: &mut [f64],
    n: usize,
    l: usize,
    iu: usize,
    shifts: ShiftPair,
) {
    double_shift_sweep::<CHUNK>(h, z, n, l, iu, shifts)
}

/// The Schur form `T` and vectors `V` (both `size × size`, column-major) of the diagonal block
/// of the Hessenberg `h` (n × n) that starts at `k0`, computed on a copy; `None` if the
/// iteration did not converge.
pub(crate) fn block_schur(
    h: &[f64],
    n: usize,
    k0: usize,
    size: usize,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut t = vec![0.0; size * size];
    for c in 0..size {
        let col = &h[k0 + (k0 + c) * n..];
        t[c * size..c * size + size.min(c + 2)].copy_from_slice(&col[..size.min(c + 2)]);
    }
    let mut v = vec![0.0; size * size];
    (0..size).for_each(|i| v[i * (size + 1)] = 1.0);
    hessenberg_qr(&mut t, &mut v, size).then_some((t, v))
}

/// Reflectors per chunk of a sweep whose updates away from the bulge are deferred and applied
/// together ([`hessenberg_qr_generic`]).
const CHUNK: usize = 64;

/// Rows per block of the deferred right-hand updates (the block's columns of the chunk stay in
/// L1 while every reflector of the chunk is applied to them).
const ROW_BLOCK: usize = 256;

/// One reflector of a sweep: `I − τ v vᵀ` on rows/columns `k…k + nr − 1`, `v = [1, v2, v3]`,
/// `t = [τ, τ v2, τ v3]`.
#[derive(Debug, Clone, Copy)]
struct Reflector {
    k: usize,
    nr: usize,
    v2: f64,
    v3: f64,
    t: [f64; 3],
}

/// [`hessenberg_qr_generic`] compiled for AVX2 (VEX-encoded instructions). The same IEEE
/// operations in the same order (no fused multiply-add is enabled), so the same bits.
///
/// Why: the SOC step calls faer, whose matmul kernels run AVX-512 on CPUs that have it and
/// return with the upper halves of the vector registers in use; legacy-SSE2 code after that
/// runs with a false dependency on those halves. On the AMD EPYC (Zen 4) development machine
/// the SSE2 build of this loop took 113 ms per SOC step at N = 200 and 780 ms at N = 400; with
/// a `vzeroupper` before it, 30 and 193–203 ms; this AVX2 build, 29–38 and 185–208 ms
/// (`fit bench --suite soc`, one core).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hessenberg_qr_avx2(h: &mut [f64], z: &mut [f64], n: usize) -> bool {
    hessenberg_qr_generic::<CHUNK>(h, z, n)
}

/// The iteration on all of `h` (rows and columns `0..n`).
#[inline(always)]
fn hessenberg_qr_generic<const B: usize>(h: &mut [f64], z: &mut [f64], n: usize) -> bool {
    n <= 1 || lahqr::<B>(h, z, n, 0, n - 1)
}

/// `dlahqr` on the active block `ilo..=ihi` of the Hessenberg `h` (`h[ilo, ilo − 1]` and
/// `h[ihi + 1, ihi]` zero or outside), in full-Schur mode: the rows above and the columns right
/// of the block receive the transformations too, and so do all rows of `z`. Returns `false` if
/// the iteration did not converge. Inlined into its callers so that the AVX2 build of
/// [`hessenberg_qr`] compiles it for AVX2 too.
#[inline(always)]
fn lahqr<const B: usize>(h: &mut [f64], z: &mut [f64], n: usize, ilo: usize, ihi: usize) -> bool {
    let itmax = 30 * (ihi + 1 - ilo).max(10);
    let mut i = ihi as isize;
    while i >= ilo as isize {
        let iu = i as usize;
        let mut l = ilo;
        let mut converged = false;
        for its in 0..=itmax {
            l = deflation_point(h, n, l, iu);
            if l > ilo {
                h[l + (l - 1) * n] = 0.0;
            }
            if l + 1 >= iu {
                converged = true;
                break;
            }
            let shifts = if its == 10 || its == 20 {
                exceptional_shift(h, n, l, iu, its == 10)
            } else {
                let g = |r: usize, c: usize| h[r + c * n];
                two_by_two_eigenvalues(g(iu - 1, iu - 1), g(iu - 1, iu), g(iu, iu - 1), g(iu, iu))
            };
            double_shift_sweep::<B>(h, z, n, l, iu, shifts);
        }
        if !converged {
            return false;
        }
        i = l as isize - 1;
    }
    true
}

/// The largest `k` in `l..=iu` with a negligible subdiagonal `h[k, k − 1]`, or `l`.
fn deflation_point(h: &[f64], n: usize, l: usize, iu: usize) -> usize {
    let mut k = iu;
    while k > l && !negligible_subdiagonal(h, n, k) {
        k -= 1;
    }
    k
}

/// Whether `h[k, k − 1]` (k ≥ 1) may be set to zero: `dlahqr`'s test (Ahues–Tisseur), which
/// compares it with its neighbours rather than with the norm of `h`.
#[inline]
pub(crate) fn negligible_subdiagonal(h: &[f64], n: usize, k: usize) -> bool {
    let h = |r: usize, c: usize| h[r + c * n];
    let ulp = f64::EPSILON;
    let smlnum = f64::MIN_POSITIVE * (n as f64 / ulp);
    let hkk1 = h(k, k - 1).abs();
    if hkk1 <= smlnum {
        return true;
    }
    let mut tst = h(k - 1, k - 1).abs() + h(k, k).abs();
    if tst == 0.0 {
        if k >= 2 {
            tst += h(k - 1, k - 2).abs();
        }
        if k + 1 < n {
            tst += h(k + 1, k).abs();
        }
    }
    if hkk1 <= ulp * tst {
        let ab = hkk1.max(h(k - 1, k).abs());
        let ba = hkk1.min(h(k - 1, k).abs());
        let d = (h(k - 1, k - 1) - h(k, k)).abs();
        let aa = h(k, k).abs().max(d);
        let bb = h(k, k).abs().min(d);
        let s = aa + ab;
        if ba * (ab / s) <= smlnum.max(ulp * (bb * (aa / s))) {
            return true;
        }
    }
    false
}

/// A shift pair `(re₁, im₁, re₂, im₂)`: two real shifts or a complex-conjugate pair.
pub(crate) type ShiftPair = (f64, f64, f64, f64);

/// `dlahqr`'s exceptional shifts (iterations 10 and 20 without deflation): from the top of the
/// active block (`top`) or from its bottom.
fn exceptional_shift(h: &[f64], n: usize, l: usize, iu: usize, top: bool) -> ShiftPair {
    let g = |r: usize, c: usize| h[r + c * n];
    let (h11, h12, h21, h22) = if top {
        let s = g(l + 1, l).abs() + g(l + 2, l + 1).abs();
        let h11 = 0.75 * s + g(l, l);
        (h11, -0.4375 * s, s, h11)
    } else {
        let s = g(iu, iu - 1).abs() + g(iu - 1, iu - 2).abs();
        let h11 = 0.75 * s + g(iu, iu);
        (h11, -0.4375 * s, s, h11)
    };
    two_by_two_eigenvalues(h11, h12, h21, h22)
}

/// The eigenvalues of `[[h11, h12], [h21, h22]]` as `dlahqr` computes its shifts: a complex
/// pair, or a real pair collapsed onto the eigenvalue nearer `h22` (used twice).
pub(crate) fn two_by_two_eigenvalues(h11: f64, h12: f64, h21: f64, h22: f64) -> ShiftPair {
    let s = h11.abs() + h12.abs() + h21.abs() + h22.abs();
    if s == 0.0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let (h11, h12, h21, h22) = (h11 / s, h12 / s, h21 / s, h22 / s);
    let tr = 0.5 * (h11 + h22);
    let det = (h11 - tr) * (h22 - tr) - h12 * h21;
    let rtdisc = det.abs().sqrt();
    if det >= 0.0 {
        (tr * s, rtdisc * s, tr * s, -rtdisc * s)
    } else {
        let (a, b) = (tr + rtdisc, tr - rtdisc);
        let r = if (a - h22).abs() <= (b - h22).abs() {
            a * s
        } else {
            b * s
        };
        (r, 0.0, r, 0.0)
    }
}

/// One double-shift QR sweep (bulge chase) on the active block `l..=iu` with the shift pair
/// `shifts`: it starts at the lowest row `m` where two consecutive subdiagonal entries are
/// small. Each sweep's reflectors are generated and applied near the bulge as in `dlahqr`;
/// their updates away from it — the rows of `H` to the right of the chunk's columns, the rows
/// above the chunk, and all of `Z` — are deferred to the end of each chunk of `B` reflectors
/// and applied there column by column (rows: row block by row block), each element receiving
/// the same operations in the same order as in `dlahqr`'s order. So the result is the same bits
/// for every `B` (`B = 1` is `dlahqr`'s order itself; a test checks this), and the strided row
/// updates of `H` touch each column once per chunk instead of once per reflector.
#[inline(always)]
fn double_shift_sweep<const B: usize>(
    h_data: &mut [f64],
    z: &mut [f64],
    n: usize,
    l: usize,
    iu: usize,
    (rt1r, rt1i, rt2r, rt2i): ShiftPair,
) {
    let ulp = f64::EPSILON;
    let mut h = ColMajor { data: h_data, n };
    // Look for two consecutive small subdiagonal elements.
    let mut v = [0.0f64; 3];
    let mut m = iu - 2;
    loop {
        let h21s0 = h.get(m + 1, m);
        let s = (h.get(m, m) - rt2r).abs() + rt2i.abs() + h21s0.abs();
        let h21s = h21s0 / s;
        v[0] = h21s * h.get(m, m + 1) + (h.get(m, m) - rt1r) * ((h.get(m, m) - rt2r) / s)
            - rt1i * (rt2i / s);
        v[1] = h21s * (h.get(m, m) + h.get(m + 1, m + 1) - rt1r - rt2r);
        v[2] = h21s * h.get(m + 2, m + 1);
        let s = v[0].abs() + v[1].abs() + v[2].abs();
        v.iter_mut().for_each(|x| *x /= s);
        if m == l {
            break;
        }
        let h00 = h.get(m, m - 1).abs() * (v[1].abs() + v[2].abs());
        let h01 = v[0].abs()
            * (h.get(m - 1, m - 1).abs() + h.get(m, m).abs() + h.get(m + 1, m + 1).abs());
        if h00 <= ulp * h01 {
            break;
        }
        m -= 1;
    }
    // Double-shift QR sweep (bulge chase) from row m to row iu, in chunks of B reflectors.
    let mut k0 = m;
    while k0 < iu {
        let k1 = (k0 + B).min(iu);
        // Columns left of `kw` and rows from `k0` down are updated at once; the rest
        // after the chunk (no reflector of the chunk reads them).
        let kw = (k1 + 2).min(n);
        let mut chunk = [Reflector {
            k: 0,
            nr: 0,
            v2: 0.0,
            v3: 0.0,
            t: [0.0; 3],
        }; B];
        for (k, slot) in (k0..k1).zip(chunk.iter_mut()) {
            let nr = 3.min(iu - k + 1);
            if k > m {
                for r in 0..nr {
                    v[r] = h.get(k + r, k - 1);
                }
            }
            let t1 = householder(&mut v[..nr]);
            if k > m {
                h.set(k, k - 1, v[0]);
                h.set(k + 1, k - 1, 0.0);
                if k + 2 < iu + 1 && nr == 3 {
                    h.set(k + 2, k - 1, 0.0);
                }
            } else if m > l {
                // LAPACK: avoids a bug when v[1] and v[2] underflow.
                let x = h.get(k, k - 1) * (1.0 - t1);
                h.set(k, k - 1, x);
            }
            let v2 = v[1];
            let v3 = if nr == 3 { v[2] } else { 0.0 };
            let rf = Reflector {
                k,
                nr,
                v2,
                v3,
                t: [t1, t1 * v2, t1 * v3],
            };
            apply_left(h.data, n, &rf, k..kw);
            let top = if nr == 3 { (k + 3).min(iu) } else { iu };
            apply_right(h.data, n, k0..top + 1, &rf);
            *slot = rf;
        }
        let chunk = &chunk[..k1 - k0];
        // The deferred updates, each element's in the order of the reflectors.
        // Sixteen columns at a time, the reflectors outermost: sixteen independent
        // dependency chains (one column's reflectors overlap in rows, so alone they
        // would run at the latency of a chain).
        let (rlo, rhi) = (k0, (k1 + 2).min(n));
        for cols in h.data[kw * n..].chunks_mut(16 * n) {
            let mut seg: [&mut [f64]; 16] = Default::default();
            let mut used = 0;
            for (s, col) in seg.iter_mut().zip(cols.chunks_exact_mut(n)) {
                *s = &mut col[rlo..rhi];
                used += 1;
            }
            for rf in chunk {
                let r = Reflector {
                    k: rf.k - rlo,
                    ..*rf
                };
                for s in seg[..used].iter_mut() {
                    apply_left_column(s, &r);
                }
            }
        }
        for r0 in (0..k0).step_by(ROW_BLOCK) {
            let rows = r0..(r0 + ROW_BLOCK).min(k0);
            for rf in chunk {
                apply_right(h.data, n, rows.clone(), rf);
            }
        }
        for r0 in (0..n).step_by(ROW_BLOCK) {
            let rows = r0..(r0 + ROW_BLOCK).min(n);
            for rf in chunk {
                apply_right(z, n, rows.clone(), rf);
            }
        }
        k0 = k1;
    }
}

/// Generates an elementary reflector (`dlarfg`) for `v`: on exit `v[0] = β`, `v[1..]` holds
/// the reflector's tail (its head is 1); returns τ. Used by the sweep (length 2 or 3) and by
/// the deflation window's reductions.
pub(crate) fn householder(v: &mut [f64]) -> f64 {
    let alpha = v[0];
    let xnorm = v[1..].iter().map(|x| x * x).sum::<f64>().sqrt();
    if xnorm == 0.0 {
        return 0.0;
    }
    // √(α² + ‖x‖²) directly where the squares can neither overflow nor lose precision to
    // underflow; libm's `hypot` (a call per reflector) elsewhere.
    let big = alpha.abs().max(xnorm);
    let norm = if big > 1e-150 && big < 1e150 {
        (alpha * alpha + xnorm * xnorm).sqrt()
    } else {
        alpha.hypot(xnorm)
    };
    let beta = -alpha.signum() * norm;
    let tau = (beta - alpha) / beta;
    let scale = 1.0 / (alpha - beta);
    v[1..].iter_mut().for_each(|x| *x *= scale);
    v[0] = beta;
    tau
}

/// Applies a reflector from the left to its rows of the columns `cols`. Column by column: the
/// two or three rows are adjacent in memory (column-major), so each column touches one or two
/// cache lines.
#[inline(always)]
fn apply_left(a: &mut [f64], n: usize, rf: &Reflector, cols: std::ops::Range<usize>) {
    for col in a[cols.start * n..cols.end * n].chunks_exact_mut(n) {
        apply_left_column(col, rf);
    }
}

/// A reflector from the left on one column (`col` the whole column).
#[inline(always)]
fn apply_left_column(col: &mut [f64], rf: &Reflector) {
    let [t1, t2, t3] = rf.t;
    if rf.nr == 3 {
        let c = &mut col[rf.k..rf.k + 3];
        let sum = c[0] + rf.v2 * c[1] + rf.v3 * c[2];
        c[0] -= sum * t1;
        c[1] -= sum * t2;
        c[2] -= sum * t3;
    } else {
        let c = &mut col[rf.k..rf.k + 2];
        let sum = c[0] + rf.v2 * c[1];
        c[0] -= sum * t1;
        c[1] -= sum * t2;
    }
}

/// A reflector from the right on its columns of the given rows.
#[inline(always)]
fn apply_right(a: &mut [f64], n: usize, rows: std::ops::Range<usize>, rf: &Reflector) {
    let [t1, t2, t3] = rf.t;
    if rf.nr == 3 {
        apply_right3(a, n, rows, rf.k, rf.v2, rf.v3, t1, t2, t3);
    } else {
        apply_right2(a, n, rows, rf.k, rf.v2, t1, t2);
    }
}

/// Applies `I − τ v vᵀ` (v = [1, v2, v3]) from the right to columns k..k+3 of the given rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn apply_right3(
    a: &mut [f64],
    n: usize,
    rows: std::ops::Range<usize>,
    k: usize,
    v2: f64,
    v3: f64,
    t1: f64,
    t2: f64,
    t3: f64,
) {
    let (head, tail) = a.split_at_mut((k + 1) * n);
    let c0 = &mut head[k * n..(k + 1) * n][rows.clone()];
    let (c1, c2) = tail.split_at_mut(n);
    let (c1, c2) = (&mut c1[rows.clone()], &mut c2[rows]);
    // Zipped slices: no bounds checks, so the loop vectorises.
    for ((x0, x1), x2) in c0.iter_mut().zip(c1.iter_mut()).zip(c2.iter_mut()) {
        let sum = *x0 + v2 * *x1 + v3 * *x2;
        *x0 -= sum * t1;
        *x1 -= sum * t2;
        *x2 -= sum * t3;
    }
}

/// Applies `I − τ v vᵀ` (v = [1, v2]) from the right to columns k..k+2 of the given rows.
#[inline(always)]
fn apply_right2(
    a: &mut [f64],
    n: usize,
    rows: std::ops::Range<usize>,
    k: usize,
    v2: f64,
    t1: f64,
    t2: f64,
) {
    let (head, tail) = a.split_at_mut((k + 1) * n);
    let c0 = &mut head[k * n..(k + 1) * n][rows.clone()];
    let c1 = &mut tail[..n][rows];
    for (x0, x1) in c0.iter_mut().zip(c1.iter_mut()) {
        let sum = *x0 + v2 * *x1;
        *x0 -= sum * t1;
        *x1 -= sum * t2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_matrices::{hessenberg, identity, schur_residuals};

    fn run<const B: usize>(h0: &[f64], n: usize) -> (bool, Vec<f64>, Vec<f64>) {
        let (mut h, mut z) = (h0.to_vec(), identity(n));
        let ok = hessenberg_qr_generic::<B>(&mut h, &mut z, n);
        (ok, h, z)
    }

    /// Deferring the updates away from the bulge changes no bit: chunks of 1 (`dlahqr`'s own
    /// order), 5 and [`CHUNK`] reflectors give identical Schur forms and vectors, also through
    /// the dispatching entry point.
    #[test]
    fn deferred_updates_change_no_bit() {
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (7, 4), (40, 5), (97, 6), (150, 7)] {
            let h0 = hessenberg(n, seed, false);
            let plain = run::<1>(&h0, n);
            assert!(plain.0, "n = {n}: no convergence");
            assert!(
                plain.1 == run::<5>(&h0, n).1 && plain.2 == run::<5>(&h0, n).2,
                "n = {n}"
            );
            assert!(plain == run::<CHUNK>(&h0, n), "n = {n}");
            let (mut h, mut z) = (h0.clone(), plain.2.clone());
            z.iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = (k % (n + 1) == 0) as u8 as f64);
            assert!(hessenberg_qr(&mut h, &mut z, n));
            assert!(h == plain.1 && z == plain.2, "n = {n}: dispatch");
            // And it is a Schur decomposition: Z T Zᵀ = H₀, T quasi-triangular.
            let (t, z) = (&plain.1, &plain.2);
            let (err, orth) = schur_residuals(&h0, t, z, n);
            assert!(
                orth < 1e-13 * n.max(1) as f64,
                "n = {n}: orthogonality {orth:e}"
            );
            for i in 0..n {
                for j in 0..i.saturating_sub(1) {
                    assert_eq!(t[i + j * n], 0.0, "n = {n}: T[{i}, {j}]");
                }
            }
            assert!(err < 1e-12 * n as f64, "n = {n}: residual {err:e}");
        }
    }
}
