//! Aggressive early deflation (LAPACK `dlaqr3`; Braman, Byers & Mathias 2002, part II).
//!
//! The trailing `jw × jw` window of the active block is reduced to Schur form `T = Vᵀ H_w V`
//! (the small-bulge iteration of [`crate::francis`]). The window's coupling to the rest of
//! the block is then the spike `s Vᵀ e₁` (s = `H[kwtop, kwtop − 1]`); every eigenvalue whose
//! spike component is negligible deflates at once, even if no subdiagonal entry of `H` is
//! small. The undeflatable ones are moved to the top of the window ([`crate::reorder`]) and
//! serve as the next sweep's shifts; the spike is folded back by one reflector and the
//! undeflated part returned to Hessenberg form. All updates away from the window (the rows
//! above it, the columns right of it, the Schur vectors) are matrix products (faer).

use crate::francis;
use crate::reorder;
use crate::schur::quasi_triangular_eigenvalues;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// What one deflation window found.
#[derive(Debug, Default)]
pub(crate) struct Deflation {
    /// Eigenvalues deflated at the bottom of the active block.
    pub deflated: usize,
    /// The undeflated eigenvalues of the window `(re, im)` (complex pairs adjacent), top to
    /// bottom: shifts for the next sweep.
    pub shifts: Vec<(f64, f64)>,
}

/// Runs one aggressive early deflation on the active block `ktop..=kbot` of the Hessenberg `h`
/// (n × n, column-major, full-Schur mode) with a window of at most `nw` rows, updating `h` and
/// the Schur vectors `z` (n × n). `par` is the parallelism of the matrix products.
pub(crate) fn aggressive_early_deflation(
    h: &mut [f64],
    z: &mut [f64],
    n: usize,
    ktop: usize,
    kbot: usize,
    nw: usize,
    par: Par,
) -> Deflation {
    let ulp = f64::EPSILON;
    let smlnum = f64::MIN_POSITIVE * (n as f64 / ulp);
    let jw = nw.min(kbot + 1 - ktop);
    let kwtop = kbot + 1 - jw;
    let s = if kwtop == ktop {
        0.0
    } else {
        h[kwtop + (kwtop - 1) * n]
    };
    if jw == 1 {
        let d = h[kwtop + kwtop * n];
        if s.abs() <= smlnum.max(ulp * d.abs()) {
            if kwtop > ktop {
                h[kwtop + (kwtop - 1) * n] = 0.0;
            }
            return Deflation {
                deflated: 1,
                shifts: Vec::new(),
            };
        }
        return Deflation {
            deflated: 0,
            shifts: vec![(d, 0.0)],
        };
    }

    // The window's Schur form T = Vᵀ H_w V.
    let Some((mut t, mut v)) = francis::block_schur(h, n, kwtop, jw) else {
        // No Schur form of the window: deflate nothing; the driver's sweep uses other shifts.
        return Deflation::default();
    };

    // Deflation: test the bottom block's spike; deflate it or move it to the top (`ilst`).
    let mut ns = jw;
    let mut ilst = 0;
    while ilst < ns {
        let bulge = ns >= 2 && t[ns - 1 + (ns - 2) * jw] != 0.0;
        if !bulge {
            let mut scale = t[ns - 1 + (ns - 1) * jw].abs();
            if scale == 0.0 {
                scale = s.abs();
            }
            if (s * v[(ns - 1) * jw]).abs() <= smlnum.max(ulp * scale) {
                ns -= 1;
            } else {
                reorder::move_block_up(&mut t, jw, &mut v, jw, ns - 1, ilst);
                ilst += 1;
            }
        } else {
            let g = |r: usize, c: usize| t[r + c * jw];
            let mut scale = g(ns - 1, ns - 1).abs()
                + g(ns - 1, ns - 2).abs().sqrt() * g(ns - 2, ns - 1).abs().sqrt();
            if scale == 0.0 {
                scale = s.abs();
            }
            let spike = (s * v[(ns - 1) * jw])
                .abs()
                .max((s * v[(ns - 2) * jw]).abs());
            if spike <= smlnum.max(ulp * scale) {
                ns -= 2;
            } else {
                reorder::move_block_up(&mut t, jw, &mut v, jw, ns - 2, ilst);
                ilst += 2;
            }
        }
    }
    let shifts = block_eigenvalues(&t, jw, ns);
    // Everything deflated: the spike is dropped entirely.
    let s = if ns == 0 { 0.0 } else { s };

    if ns == jw && s != 0.0 {
        // Nothing deflated: H stays as it was; the window's eigenvalues are the shifts.
        return Deflation {
            deflated: 0,
            shifts,
        };
    }
    if ns > 1 && s != 0.0 {
        fold_spike_back(&mut t, &mut v, jw, ns);
    }
    if kwtop > ktop {
        h[kwtop + (kwtop - 1) * n] = s * v[0];
    }
    for c in 0..jw {
        for r in 0..jw.min(c + 2) {
            h[kwtop + r + (kwtop + c) * n] = t[r + c * jw];
        }
    }

    // The updates away from the window, as products with V.
    let vm = MatRef::from_column_major_slice(&v, jw, jw);
    // Scratch for the products: at most n rows (or n − kbot − 1 ≤ n columns) by jw.
    let mut tmp = vec![0.0; n * jw];
    // Rows above the window: H[0..kwtop, window] ← H[0..kwtop, window] · V.
    if kwtop > 0 {
        slab_right(h, n, kwtop, kwtop, jw, vm, &mut tmp, par);
    }
    // Columns right of the window: H[window, kbot+1..n] ← Vᵀ · H[window, kbot+1..n].
    let right = n - kbot - 1;
    if right > 0 {
        let src =
            MatRef::from_column_major_slice_with_stride(&h[kwtop + (kbot + 1) * n..], jw, right, n);
        let mut out = MatMut::from_column_major_slice_mut(&mut tmp[..jw * right], jw, right);
        matmul(&mut out, Accum::Replace, vm.transpose(), src, 1.0, par);
        for c in 0..right {
            h[kwtop + (kbot + 1 + c) * n..kwtop + (kbot + 1 + c) * n + jw]
                .copy_from_slice(&tmp[c * jw..(c + 1) * jw]);
        }
    }
    // Schur vectors: Z[:, window] ← Z[:, window] · V.
    slab_right(z, n, n, kwtop, jw, vm, &mut tmp, par);

    Deflation {
        deflated: jw - ns,
        shifts,
    }
}

/// `a[0..rows, col0..col0 + jw] ← a[0..rows, col0..col0 + jw] · V` (column-major `a`, n rows).
#[allow(clippy::too_many_arguments)]
fn slab_right(
    a: &mut [f64],
    n: usize,
    rows: usize,
    col0: usize,
    jw: usize,
    vm: MatRef<'_, f64>,
    tmp: &mut [f64],
    par: Par,
) {
    let src = MatRef::from_column_major_slice_with_stride(&a[col0 * n..], rows, jw, n);
    let mut out = MatMut::from_column_major_slice_mut(&mut tmp[..rows * jw], rows, jw);
    matmul(&mut out, Accum::Replace, src, vm, 1.0, par);
    for c in 0..jw {
        a[(col0 + c) * n..(col0 + c) * n + rows].copy_from_slice(&tmp[c * rows..(c + 1) * rows]);
    }
}

/// The eigenvalues of the diagonal blocks of the quasi-triangular `t` (column-major, leading
/// dimension `ld`) in rows `0..ns`, top to bottom.
pub(crate) fn block_eigenvalues(t: &[f64], ld: usize, ns: usize) -> Vec<(f64, f64)> {
    quasi_triangular_eigenvalues(ns, |r, c| t[r + c * ld])
}

/// Folds the spike `V[0, 0..ns]` back onto its first entry with one reflector and returns the
/// undeflated `ns × ns` part of `t` to Hessenberg form (`dlarfg` + `dgehd2`), accumulating both
/// into the columns `0..ns` of `v`.
fn fold_spike_back(t: &mut [f64], v: &mut [f64], jw: usize, ns: usize) {
    // One buffer for every reflector of the fold and of the reduction, one for row sums.
    let mut w: Vec<f64> = (0..ns).map(|j| v[j * jw]).collect();
    let mut acc = Vec::with_capacity(jw);
    let tau = francis::householder(&mut w);
    w[0] = 1.0;
    reflect_left(t, jw, &w, tau, 0, 0..jw);
    reflect_right(t, jw, &w, tau, 0, 0..ns, &mut acc);
    reflect_right(v, jw, &w, tau, 0, 0..jw, &mut acc);
    // Entries below the subdiagonal of the undeflated part are filled by the reflector;
    // reduce them with reflectors on rows k + 1..ns (the deflated rows stay untouched).
    for k in 0..ns.saturating_sub(2) {
        w.clear();
        w.extend((k + 1..ns).map(|r| t[r + k * jw]));
        let tau = francis::householder(&mut w);
        t[k + 1 + k * jw] = w[0];
        for r in k + 2..ns {
            t[r + k * jw] = 0.0;
        }
        w[0] = 1.0;
        reflect_left(t, jw, &w, tau, k + 1, k + 1..jw);
        reflect_right(t, jw, &w, tau, k + 1, 0..ns, &mut acc);
        reflect_right(v, jw, &w, tau, k + 1, 0..jw, &mut acc);
    }
}

/// `a[r0.., cols] ← (I − τ w wᵀ) a[r0.., cols]` (w on rows `r0..r0 + w.len()`).
fn reflect_left(
    a: &mut [f64],
    ld: usize,
    w: &[f64],
    tau: f64,
    r0: usize,
    cols: std::ops::Range<usize>,
) {
    if tau == 0.0 {
        return;
    }
    for c in cols {
        let col = &mut a[c * ld + r0..c * ld + r0 + w.len()];
        let s: f64 = col.iter().zip(w).map(|(x, y)| x * y).sum();
        col.iter_mut().zip(w).for_each(|(x, y)| *x -= tau * s * y);
    }
}

/// `a[rows, c0..] ← a[rows, c0..] (I − τ w wᵀ)` (w on columns `c0..c0 + w.len()`); `acc` is
/// scratch for the row sums (column by column, so the inner loops run down contiguous columns).
#[allow(clippy::too_many_arguments)]
fn reflect_right(
    a: &mut [f64],
    ld: usize,
    w: &[f64],
    tau: f64,
    c0: usize,
    rows: std::ops::Range<usize>,
    acc: &mut Vec<f64>,
) {
    if tau == 0.0 {
        return;
    }
    acc.clear();
    acc.resize(rows.len(), 0.0);
    for (k, &wk) in w.iter().enumerate() {
        let col = &a[(c0 + k) * ld + rows.start..(c0 + k) * ld + rows.end];
        for (s, x) in acc.iter_mut().zip(col) {
            *s += x * wk;
        }
    }
    for (k, &wk) in w.iter().enumerate() {
        let col = &mut a[(c0 + k) * ld + rows.start..(c0 + k) * ld + rows.end];
        for (x, s) in col.iter_mut().zip(acc.iter()) {
            *x -= tau * s * wk;
        }
    }
}
