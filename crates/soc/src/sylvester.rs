//! Triangular Sylvester and Lyapunov solves on real Schur forms (the Bartels–Stewart back
//! substitution).
//!
//! faer 0.24 has no Sylvester or Lyapunov solver (its QZ code has only a private 2 × 2 block
//! helper), so the quasi-triangular solve is written here. Large problems are split
//! recursively (Jonsson & Kågström's RECSY scheme) so that almost all flops are faer matmuls;
//! blocks of at most [`BASE`] × [`BASE`] are solved by scalar block back substitution.
//!
//! References: Bartels & Stewart, Comm. ACM 15 (1972); Jonsson & Kågström, ACM TOMS 28 (2002).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::schur::diagonal_blocks;

/// Largest block solved by scalar back substitution (16: 3–4% faster per SOC step than 32 or
/// 8 at N = 100–400, more of the flops in faer's matmuls).
pub const BASE: usize = 16;

/// Solves `A X + X Bᵀ − σ X = C` in place (`c` holds `C` on entry, `X` on exit), with `A`
/// (m × m) and `B` (n × n) upper quasi-triangular (real Schur forms).
pub fn solve_quasi_triangular_sylvester(
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    sigma: f64,
    c: MatMut<'_, f64>,
    par: Par,
) {
    let (m, n) = (c.nrows(), c.ncols());
    if m == 0 || n == 0 {
        return;
    }
    if m <= BASE && n <= BASE {
        solve_small(a, b, sigma, c);
        return;
    }
    if m >= n {
        let k = split_point(a);
        let (mut c1, mut c2) = c.split_at_row_mut(k);
        solve_quasi_triangular_sylvester(
            a.submatrix(k, k, m - k, m - k),
            b,
            sigma,
            c2.rb_mut(),
            par,
        );
        matmul(
            c1.rb_mut(),
            Accum::Add,
            a.submatrix(0, k, k, m - k),
            c2.rb(),
            -1.0,
            par,
        );
        solve_quasi_triangular_sylvester(a.submatrix(0, 0, k, k), b, sigma, c1, par);
    } else {
        let k = split_point(b);
        let (mut c1, mut c2) = c.split_at_col_mut(k);
        solve_quasi_triangular_sylvester(
            a,
            b.submatrix(k, k, n - k, n - k),
            sigma,
            c2.rb_mut(),
            par,
        );
        matmul(
            c1.rb_mut(),
            Accum::Add,
            c2.rb(),
            b.submatrix(0, k, k, n - k).transpose(),
            -1.0,
            par,
        );
        solve_quasi_triangular_sylvester(a, b.submatrix(0, 0, k, k), sigma, c1, par);
    }
}

use faer::reborrow::{Reborrow, ReborrowMut};

/// A split index near the middle that does not cut a 2 × 2 diagonal block.
fn split_point(t: MatRef<'_, f64>) -> usize {
    let mut k = t.nrows() / 2;
    if t[(k, k - 1)] != 0.0 {
        k += 1;
    }
    k
}

/// Scalar block back substitution: for diagonal blocks `i` of `A` and `j` of `B`, from the
/// bottom right, `A_ii X_ij + X_ij B_jjᵀ − σ X_ij = C_ij − Σ_{k>i} A_ik X_kj − Σ_{l>j} X_il B_jlᵀ`
/// (a dense system of order ≤ 4).
///
/// The blocks ([`BASE`] × [`BASE`] or smaller in the recursion) are first copied into
/// contiguous local arrays, `A` and `B` by rows and `C` by columns. The `B` sum is applied to
/// a whole block column of `C` at once (column updates, contiguous) before the `A` sums of
/// that column (dot products along rows of `A`, contiguous), so neither runs strided.
fn solve_small(a: MatRef<'_, f64>, b: MatRef<'_, f64>, sigma: f64, c: MatMut<'_, f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { solve_small_avx2(a, b, sigma, c) };
    }
    solve_small_generic(a, b, sigma, c)
}

/// [`solve_small_generic`] compiled for AVX2 (VEX-encoded instructions; see
/// [`crate::francis::hessenberg_qr`] for why that matters). The same operations in the same
/// order, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn solve_small_avx2(a: MatRef<'_, f64>, b: MatRef<'_, f64>, sigma: f64, c: MatMut<'_, f64>) {
    solve_small_generic(a, b, sigma, c)
}

#[inline(always)]
fn solve_small_generic(a: MatRef<'_, f64>, b: MatRef<'_, f64>, sigma: f64, mut c: MatMut<'_, f64>) {
    let (m, n) = (c.nrows(), c.ncols());
    // On the stack for the recursion's base cases; the heap only for a direct call on larger
    // blocks (the tests' reference path).
    let mut stack = [0.0f64; 3 * BASE * BASE];
    let mut heap = Vec::new();
    let len = m * m + n * n + m * n;
    let buf: &mut [f64] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0.0);
        &mut heap[..]
    };
    let (at, rest) = buf.split_at_mut(m * m);
    let (bt, cc) = rest.split_at_mut(n * n);
    for i in 0..m {
        for k in 0..m {
            at[i * m + k] = a[(i, k)];
        }
    }
    for j in 0..n {
        for l in 0..n {
            bt[j * n + l] = b[(j, l)];
        }
    }
    for j in 0..n {
        for i in 0..m {
            cc[i + j * m] = c[(i, j)];
        }
    }
    let blocks_a = diagonal_blocks(a);
    let blocks_b = diagonal_blocks(b);
    for &(j0, q) in blocks_b.iter().rev() {
        // C[:, j] −= Σ_{l ≥ j0+q} X[:, l] B[j, l] for the block's columns first, as whole-column
        // updates (contiguous, so they vectorise; summed along rows they were strided).
        for j in j0..j0 + q {
            let (head, tail) = cc.split_at_mut((j0 + q) * m);
            let cj = &mut head[j * m..(j + 1) * m];
            for (xl, &bjl) in tail.chunks_exact(m).zip(&bt[j * n + j0 + q..(j + 1) * n]) {
                for (c, x) in cj.iter_mut().zip(xl) {
                    *c -= x * bjl;
                }
            }
        }
        for &(i0, p) in blocks_a.iter().rev() {
            let mut rhs = [0.0f64; 4];
            for r in 0..p {
                for s in 0..q {
                    let (i, j) = (i0 + r, j0 + s);
                    let mut v = cc[i + j * m];
                    let arow = &at[i * m + i0 + p..(i + 1) * m];
                    let ccol = &cc[j * m + i0 + p..(j + 1) * m];
                    for (aik, ckj) in arow.iter().zip(ccol) {
                        v -= aik * ckj;
                    }
                    rhs[r * q + s] = v;
                }
            }
            // Unknown u = r·q + s ↔ X[i0 + r, j0 + s].
            let dim = p * q;
            let mut mat = [[0.0f64; 4]; 4];
            for r in 0..p {
                for s in 0..q {
                    let row = r * q + s;
                    for rr in 0..p {
                        mat[row][rr * q + s] += at[(i0 + r) * m + i0 + rr];
                    }
                    for ss in 0..q {
                        mat[row][r * q + ss] += bt[(j0 + s) * n + j0 + ss];
                    }
                    mat[row][row] -= sigma;
                }
            }
            let x = solve_dense(&mut mat, &mut rhs, dim);
            for r in 0..p {
                for s in 0..q {
                    cc[i0 + r + (j0 + s) * m] = x[r * q + s];
                }
            }
        }
    }
    for j in 0..n {
        for i in 0..m {
            c[(i, j)] = cc[i + j * m];
        }
    }
}

/// Gaussian elimination with partial pivoting on a system of order `dim` ≤ 4; a singular
/// system yields non-finite values, which callers detect.
// Always inlined, so that it is part of the AVX2 build of `solve_small`.
#[inline(always)]
pub(crate) fn solve_dense(mat: &mut [[f64; 4]; 4], rhs: &mut [f64; 4], dim: usize) -> [f64; 4] {
    for col in 0..dim {
        let piv = (col..dim)
            .max_by(|&x, &y| mat[x][col].abs().total_cmp(&mat[y][col].abs()))
            .unwrap_or(col);
        mat.swap(col, piv);
        rhs.swap(col, piv);
        for row in col + 1..dim {
            let f = mat[row][col] / mat[col][col];
            for k in col..dim {
                mat[row][k] -= f * mat[col][k];
            }
            rhs[row] -= f * rhs[col];
        }
    }
    let mut x = [0.0f64; 4];
    for row in (0..dim).rev() {
        let mut v = rhs[row];
        for k in row + 1..dim {
            v -= mat[row][k] * x[k];
        }
        x[row] = v / mat[row][row];
    }
    x
}

/// Solves the controllability-type Lyapunov equation `(T − sI) X + X (T − sI)ᵀ = C` for upper
/// quasi-triangular `T`.
pub fn lyapunov_controllability(
    t: MatRef<'_, f64>,
    s: f64,
    c: MatRef<'_, f64>,
    par: Par,
) -> Mat<f64> {
    let mut x = c.to_owned();
    solve_quasi_triangular_sylvester(t, t, 2.0 * s, x.as_mut(), par);
    x
}

/// Solves the observability-type Lyapunov equation `(T − sI)ᵀ Y + Y (T − sI) = C` for upper
/// quasi-triangular `T`.
///
/// With the index-reversal permutation `J`, `T̃ = J Tᵀ J` is upper quasi-triangular and
/// `Ỹ = J Y J` solves `T̃ Ỹ + Ỹ T̃ᵀ − 2s Ỹ = J C J`, the controllability form.
pub fn lyapunov_observability(
    t: MatRef<'_, f64>,
    s: f64,
    c: MatRef<'_, f64>,
    par: Par,
) -> Mat<f64> {
    let t_flip = t.transpose().reverse_rows_and_cols().to_owned();
    let mut y = c.reverse_rows_and_cols().to_owned();
    solve_quasi_triangular_sylvester(t_flip.as_ref(), t_flip.as_ref(), 2.0 * s, y.as_mut(), par);
    y.as_ref().reverse_rows_and_cols().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schur::RealSchur;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Mat<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5)
    }

    /// Residual of `(T − sI) X + X (T − sI)ᵀ − C` relative to ‖X‖.
    fn residual(t: &Mat<f64>, s: f64, x: &Mat<f64>, c: &Mat<f64>, transposed: bool) -> f64 {
        let n = t.nrows();
        let ts = t - Mat::<f64>::identity(n, n) * s;
        let r = if transposed {
            ts.transpose() * x + x * &ts - c
        } else {
            &ts * x + x * ts.transpose() - c
        };
        r.norm_max() / x.norm_max()
    }

    #[test]
    fn lyapunov_solves_on_schur_forms() {
        for &n in &[3usize, 31, 33, 100, 157] {
            let w = random(n, 11 + n as u64);
            let schur = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
            let s = schur.spectral_abscissa() + 0.3;
            let c = Mat::<f64>::identity(n, n) * -2.0;
            let x = lyapunov_controllability(schur.t.as_ref(), s, c.as_ref(), Par::Seq);
            let y = lyapunov_observability(schur.t.as_ref(), s, c.as_ref(), Par::Seq);
            let (rx, ry) = (
                residual(&schur.t, s, &x, &c, false),
                residual(&schur.t, s, &y, &c, true),
            );
            assert!(rx < 1e-12 && ry < 1e-12, "n={n}: residuals {rx:e} {ry:e}");
            // The recursive path must agree with the scalar path.
            if n > BASE {
                let mut x_small = c.clone();
                solve_small(
                    schur.t.as_ref(),
                    schur.t.as_ref(),
                    2.0 * s,
                    x_small.as_mut(),
                );
                assert!((&x_small - &x).norm_max() < 1e-11 * x.norm_max());
            }
        }
    }

    #[test]
    fn general_sylvester_rectangular() {
        let (m, n) = (70, 45);
        let sa = RealSchur::new(random(m, 1).as_ref(), Par::Seq).unwrap();
        let sb = RealSchur::new(random(n, 2).as_ref(), Par::Seq).unwrap();
        let c = random(m, 3).as_ref().submatrix(0, 0, m, n).to_owned();
        let mut x = c.clone();
        solve_quasi_triangular_sylvester(sa.t.as_ref(), sb.t.as_ref(), 5.0, x.as_mut(), Par::Seq);
        let r = &sa.t * &x + &x * sb.t.transpose() - &x * 5.0 - &c;
        assert!(r.norm_max() < 1e-12 * x.norm_max(), "{:e}", r.norm_max());
    }
}
