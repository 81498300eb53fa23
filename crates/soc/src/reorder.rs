//! Reordering a real Schur form: moving a diagonal block up past its neighbours by orthogonal
//! swaps of adjacent blocks (LAPACK `dtrexc` / `dlaexc`), used by aggressive early deflation
//! ([`crate::aed`]) to move undeflatable eigenvalues out of the way.
//!
//! Written by hand for the same reason as [`crate::francis`]: faer 0.24 keeps its swaps
//! crate-private. One direct-swap method serves every pair of block sizes (1 or 2): solve the
//! small Sylvester equation `A X − X B = −C` for the blocks `[[A, C], [0, B]]`, take `Q` from a
//! QR factorisation of `[X; I]`, apply `Qᵀ · Q` and zero the block that must vanish — only
//! after checking that it is negligible (the weak stability test of Bai & Demmel; a rejected
//! swap leaves the matrix unchanged). 2 × 2 blocks need not be standardized.
//!
//! References: Bai & Demmel, "On swapping diagonal blocks in real Schur form", Linear Algebra
//! Appl. 186 (1993); LAPACK `dlaexc`.

use crate::sylvester;

/// Column-major `n × n` matrix data (`a[i + j n]`).
type Cm<'a> = &'a mut [f64];

/// The size (1 or 2) of the diagonal block starting at `k` of the quasi-triangular `t`.
pub(crate) fn block_size(t: &[f64], n: usize, k: usize) -> usize {
    if k + 1 < n && t[k + 1 + k * n] != 0.0 {
        2
    } else {
        1
    }
}

/// Moves the diagonal block starting at `from` up so that it starts at `to` (`to ≤ from`, both
/// block starts), updating `t` (n × n, quasi-triangular) and the columns of `v` (`nv × n`
/// column-major, nv rows) by the same orthogonal similarity. Returns `false` (with the swaps
/// done so far kept: still an orthogonal similarity) if a swap was rejected or a moved 2 × 2
/// block split.
pub(crate) fn move_block_up(t: Cm, n: usize, v: Cm, nv: usize, from: usize, to: usize) -> bool {
    let mut here = from;
    let size = block_size(t, n, here);
    while here > to {
        // The block just above `here`.
        let above = if here >= 2 && t[here - 1 + (here - 2) * n] != 0.0 {
            2
        } else {
            1
        };
        let start = here - above;
        if !swap(t, n, v, nv, start, above, size) {
            return false;
        }
        here = start;
        if size == 2 && t[here + 1 + here * n] == 0.0 {
            return false;
        }
    }
    true
}

/// Swaps the adjacent diagonal blocks at `j` (size `p`) and `j + p` (size `q`) of `t`,
/// post-multiplying the columns `j..j + p + q` of `v` by the same rotation. Returns `false`
/// and changes nothing if the swap fails the stability test.
pub(crate) fn swap(t: Cm, n: usize, v: Cm, nv: usize, j: usize, p: usize, q: usize) -> bool {
    let m = p + q;
    let at = |t: &[f64], r: usize, c: usize| t[j + r + (j + c) * n];
    let mut d = [[0.0f64; 4]; 4];
    for (r, row) in d.iter_mut().enumerate().take(m) {
        for (c, x) in row.iter_mut().enumerate().take(m) {
            *x = at(t, r, c);
        }
    }
    let dnorm = d
        .iter()
        .flatten()
        .fold(0.0f64, |acc, x| acc.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let q_mat = match rotation(&d, p, q) {
        Some(q_mat) => q_mat,
        None => return false,
    };
    // D' = Qᵀ D Q; its lower-left q × p... block (rows q.., columns ..q) must vanish.
    let mut dq = [[0.0f64; 4]; 4];
    for r in 0..m {
        for c in 0..m {
            dq[r][c] = (0..m).map(|k| d[r][k] * q_mat[k][c]).sum();
        }
    }
    let mut dn = [[0.0f64; 4]; 4];
    for r in 0..m {
        for c in 0..m {
            dn[r][c] = (0..m).map(|k| q_mat[k][r] * dq[k][c]).sum();
        }
    }
    let thresh = 10.0 * f64::EPSILON * dnorm;
    for row in dn.iter().take(m).skip(q) {
        if row[..q].iter().any(|x| x.abs() > thresh) {
            return false;
        }
    }
    // Accepted: apply Q to the rest of t and to v.
    // Rows j..j+m of the columns right of the pair: Qᵀ · T.
    for c in j + m..n {
        let col = &mut t[c * n + j..c * n + j + m];
        let old: [f64; 4] = std::array::from_fn(|k| if k < m { col[k] } else { 0.0 });
        for (r, x) in col.iter_mut().enumerate() {
            *x = (0..m).map(|k| q_mat[k][r] * old[k]).sum();
        }
    }
    // Columns j..j+m of the rows above the pair: T · Q.
    apply_right(t, n, 0..j, j, m, &q_mat);
    apply_right(v, nv, 0..nv, j, m, &q_mat);
    for r in 0..m {
        for c in 0..m {
            let x = if r >= q && c < q { 0.0 } else { dn[r][c] };
            t[j + r + (j + c) * n] = x;
        }
    }
    true
}

/// `a[rows, j..j+m] ← a[rows, j..j+m] · Q` for a column-major `a` with `ld` rows.
fn apply_right(
    a: &mut [f64],
    ld: usize,
    rows: std::ops::Range<usize>,
    j: usize,
    m: usize,
    q: &[[f64; 4]; 4],
) {
    for r in rows {
        let old: [f64; 4] = std::array::from_fn(|k| if k < m { a[r + (j + k) * ld] } else { 0.0 });
        for c in 0..m {
            a[r + (j + c) * ld] = (0..m).map(|k| old[k] * q[k][c]).sum();
        }
    }
}

/// The orthogonal `Q` (m × m, m = p + q) whose first `q` columns span the invariant subspace of
/// `D = [[A, C], [0, B]]` that belongs to `B`: `Q R = [X; I]` with `A X − X B = −C`.
fn rotation(d: &[[f64; 4]; 4], p: usize, q: usize) -> Option<[[f64; 4]; 4]> {
    let m = p + q;
    // The Kronecker system (I_q ⊗ A − Bᵀ ⊗ I_p) vec(X) = −vec(C), X column-major (p × q).
    let np = p * q;
    let mut k = [[0.0f64; 4]; 4];
    let mut rhs = [0.0f64; 4];
    for cx in 0..q {
        for rx in 0..p {
            let row = rx + cx * p;
            for cy in 0..q {
                for ry in 0..p {
                    let mut val = 0.0;
                    if cy == cx {
                        val += d[rx][ry];
                    }
                    if ry == rx {
                        val -= d[p + cy][p + cx];
                    }
                    k[row][ry + cy * p] = val;
                }
            }
            rhs[row] = -d[rx][p + cx];
        }
    }
    // A singular system (the blocks share an eigenvalue) gives non-finite values.
    let x = sylvester::solve_dense(&mut k, &mut rhs, np);
    if !x[..np].iter().all(|v| v.is_finite()) {
        return None;
    }
    // Householder QR of M = [X; I_q] (m × q).
    let mut mm = [[0.0f64; 4]; 4];
    for r in 0..p {
        for c in 0..q {
            mm[r][c] = x[r + c * p];
        }
    }
    for c in 0..q {
        mm[p + c][c] = 1.0;
    }
    let mut qm = [[0.0f64; 4]; 4];
    for (i, row) in qm.iter_mut().enumerate().take(m) {
        row[i] = 1.0;
    }
    for c in 0..q {
        // Reflector on rows c..m of column c.
        let norm = (c..m).map(|r| mm[r][c] * mm[r][c]).sum::<f64>().sqrt();
        if norm == 0.0 {
            return None;
        }
        let alpha = mm[c][c];
        let beta = if alpha >= 0.0 { -norm } else { norm };
        let mut w = [0.0f64; 4];
        w[c] = alpha - beta;
        for r in c + 1..m {
            w[r] = mm[r][c];
        }
        let wn = (c..m).map(|r| w[r] * w[r]).sum::<f64>();
        if wn == 0.0 {
            continue;
        }
        let tau = 2.0 / wn;
        // M ← (I − τ w wᵀ) M, Q ← Q (I − τ w wᵀ).
        for cc in 0..q {
            let s: f64 = (c..m).map(|r| w[r] * mm[r][cc]).sum();
            for r in c..m {
                mm[r][cc] -= tau * s * w[r];
            }
        }
        for row in qm.iter_mut().take(m) {
            let s: f64 = (c..m).map(|r| row[r] * w[r]).sum();
            for r in c..m {
                row[r] -= tau * s * w[r];
            }
        }
    }
    Some(qm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aed::block_eigenvalues;
    use crate::test_matrices::{identity, schur_residuals};

    /// The eigenvalues of the `size × size` diagonal block of `t` at `k`.
    fn eig(t: &[f64], n: usize, k: usize, size: usize) -> Vec<(f64, f64)> {
        let b: Vec<f64> = (0..size * size)
            .map(|e| t[k + e % size + (k + e / size) * n])
            .collect();
        block_eigenvalues(&b, size, size)
    }

    /// Every pair of block sizes swaps: the result is an orthogonal similarity of the input
    /// (to rounding), still quasi-triangular, with the blocks' eigenvalues exchanged.
    #[test]
    fn swaps_exchange_the_eigenvalues_of_every_block_pair() {
        // Blocks: 1 × 1 (real), 2 × 2 (complex pair, not standardized).
        let block = |size: usize, shift: f64| -> Vec<f64> {
            if size == 1 {
                vec![shift]
            } else {
                // column-major [[shift, 2], [-0.7, shift + 0.3]]: complex pair.
                vec![shift, -0.7, 2.0, shift + 0.3]
            }
        };
        for p in 1..=2 {
            for q in 1..=2 {
                let n = p + q + 3;
                let mut t = vec![0.0; n * n];
                // Upper triangle filled, then the two blocks at j = 1.
                for j in 0..n {
                    for i in 0..=j {
                        t[i + j * n] = 0.3 + 0.1 * (i as f64) - 0.05 * (j as f64);
                    }
                }
                let j0 = 1;
                let (a, b) = (block(p, 1.5), block(q, -0.8));
                for c in 0..p {
                    for r in 0..p {
                        t[j0 + r + (j0 + c) * n] = a[r + c * p];
                    }
                }
                for c in 0..q {
                    for r in 0..q {
                        t[j0 + p + r + (j0 + p + c) * n] = b[r + c * q];
                    }
                }
                let t0 = t.clone();
                let mut z = identity(n);
                let before_a = eig(&t, n, j0, p);
                let before_b = eig(&t, n, j0 + p, q);
                assert!(swap(&mut t, n, &mut z, n, j0, p, q), "p = {p}, q = {q}");
                let (err, _) = schur_residuals(&t0, &t, &z, n);
                assert!(err < 1e-13, "p = {p}, q = {q}: residual {err:e}");
                for j in 0..n {
                    for i in j + 2..n {
                        assert_eq!(t[i + j * n], 0.0, "p = {p}, q = {q}");
                    }
                }
                let close = |x: &[(f64, f64)], y: &[(f64, f64)]| {
                    x.iter().zip(y).all(|(u, w)| {
                        (u.0 - w.0).abs() < 1e-12 && (u.1.abs() - w.1.abs()).abs() < 1e-12
                    })
                };
                assert!(close(&eig(&t, n, j0, q), &before_b), "p = {p}, q = {q}");
                assert!(close(&eig(&t, n, j0 + q, p), &before_a), "p = {p}, q = {q}");
                if q == 1 {
                    assert_eq!(t[j0 + 1 + j0 * n], 0.0);
                }
            }
        }
    }

    /// Blocks with the same eigenvalue cannot be swapped: rejected, nothing changed.
    #[test]
    fn equal_eigenvalues_are_rejected_unchanged() {
        let n = 2;
        let mut t = vec![0.5, 0.0, 1.0, 0.5];
        let mut z = vec![1.0, 0.0, 0.0, 1.0];
        let (t0, z0) = (t.clone(), z.clone());
        assert!(!swap(&mut t, n, &mut z, n, 0, 1, 1));
        assert_eq!((t, z), (t0, z0));
    }
}
