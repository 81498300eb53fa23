//! Real Schur decomposition `W = Z T Zᵀ` (Z orthogonal, T upper quasi-triangular) with faer.
//!
//! faer 0.24 computes a real Schur form inside its eigen-solver but keeps that routine
//! crate-private. faer's public (blocked) Hessenberg reduction gives `W = Q_h H Q_hᵀ`; the
//! hand-written QR iteration then reduces `H` to `T` and accumulates the Schur vectors `Z`:
//! LAPACK's `dlaqr0` scheme (`crate::multishift`: aggressive early deflation with many shifts
//! per iteration) from 128 rows, the double-shift `dlahqr` (`crate::francis`) below.

use crate::error::SocError;
use crate::multishift;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::hessenberg;
use faer::linalg::{householder, qr};
use faer::{Conj, Mat, MatRef, Par, Spec};

/// A real Schur decomposition `W = Z T Zᵀ`.
#[derive(Debug, Clone)]
pub struct RealSchur {
    /// Orthogonal Schur vectors `Z` (n × n).
    pub z: Mat<f64>,
    /// Upper quasi-triangular Schur form `T` (1 × 1 and 2 × 2 diagonal blocks; the 2 × 2 blocks
    /// carry complex-conjugate eigenvalue pairs).
    pub t: Mat<f64>,
}

/// Diagonal block `(start, size)` list of an upper quasi-triangular matrix (size 1 or 2).
pub fn diagonal_blocks(t: MatRef<'_, f64>) -> Vec<(usize, usize)> {
    let n = t.nrows();
    let mut blocks = Vec::with_capacity(n);
    let mut k = 0;
    while k < n {
        if k + 1 < n && t[(k + 1, k)] != 0.0 {
            blocks.push((k, 2));
            k += 2;
        } else {
            blocks.push((k, 1));
            k += 1;
        }
    }
    blocks
}

/// The eigenvalues `(re, im)` of the diagonal blocks (1 × 1, or 2 × 2 where the subdiagonal
/// entry is nonzero, not necessarily standardized) of the leading `n × n` part of a
/// quasi-triangular matrix read through `get(row, column)`, top to bottom; a complex pair as
/// `(re, +im), (re, −im)`.
pub(crate) fn quasi_triangular_eigenvalues(
    n: usize,
    get: impl Fn(usize, usize) -> f64,
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    while k < n {
        if k + 1 < n && get(k + 1, k) != 0.0 {
            let (a, b, c, d) = (get(k, k), get(k, k + 1), get(k + 1, k), get(k + 1, k + 1));
            let half_trace = 0.5 * (a + d);
            let disc = 0.25 * (a - d) * (a - d) + b * c;
            if disc >= 0.0 {
                let r = disc.sqrt();
                out.push((half_trace + r, 0.0));
                out.push((half_trace - r, 0.0));
            } else {
                let r = (-disc).sqrt();
                out.push((half_trace, r));
                out.push((half_trace, -r));
            }
            k += 2;
        } else {
            out.push((get(k, k), 0.0));
            k += 1;
        }
    }
    out
}

impl RealSchur {
    /// Decomposes the square matrix `w`; fails on non-finite entries.
    pub fn new(w: MatRef<'_, f64>, par: Par) -> Result<Self, SocError> {
        let n = w.nrows();
        if w.ncols() != n {
            return Err(SocError::NotSquare {
                rows: n,
                cols: w.ncols(),
            });
        }
        if (0..n).any(|j| (0..n).any(|i| !w[(i, j)].is_finite())) {
            return Err(SocError::NonFinite);
        }
        if n <= 1 {
            return Ok(Self {
                z: Mat::identity(n, n),
                t: w.to_owned(),
            });
        }
        let bs = qr::no_pivoting::factor::recommended_block_size::<f64>(n - 1, n - 1);
        let req = StackReq::any_of(&[
            hessenberg::hessenberg_in_place_scratch::<f64>(n, bs, par, Spec::default()),
            householder::apply_block_householder_sequence_on_the_right_in_place_scratch::<f64>(
                n - 1,
                bs,
                n - 1,
            ),
        ]);
        let mut buf = MemBuffer::new(req);
        let stack = MemStack::new(&mut buf);

        let mut h = w.to_owned();
        let mut hh = Mat::<f64>::zeros(bs, n - 1);
        hessenberg::hessenberg_in_place(h.as_mut(), hh.as_mut(), par, stack, Spec::default());
        let mut z = Mat::<f64>::identity(n, n);
        householder::apply_block_householder_sequence_on_the_right_in_place_with_conj(
            h.as_ref().submatrix(1, 0, n - 1, n - 1),
            hh.as_ref(),
            Conj::No,
            z.as_mut().submatrix_mut(1, 1, n - 1, n - 1),
            par,
            stack,
        );
        for j in 0..n {
            for i in j + 2..n {
                h[(i, j)] = 0.0;
            }
        }

        let mut hv: Vec<f64> = (0..n * n).map(|k| h[(k % n, k / n)]).collect();
        let mut zv: Vec<f64> = (0..n * n).map(|k| z[(k % n, k / n)]).collect();
        if !multishift::schur_qr(&mut hv, &mut zv, n, par) {
            return Err(SocError::SchurFailed);
        }
        let h = Mat::from_fn(n, n, |i, j| if i > j + 1 { 0.0 } else { hv[i + j * n] });
        let z = Mat::from_fn(n, n, |i, j| zv[i + j * n]);
        Ok(Self { z, t: h })
    }

    /// Eigenvalues `(re, im)` read from the diagonal blocks of `T`.
    pub fn eigenvalues(&self) -> Vec<(f64, f64)> {
        let t = self.t.as_ref();
        quasi_triangular_eigenvalues(t.nrows(), |r, c| t[(r, c)])
    }

    /// Spectral abscissa `α = max Re λ(W)`.
    pub fn spectral_abscissa(&self) -> f64 {
        self.eigenvalues()
            .iter()
            .map(|e| e.0)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Spectral abscissa `α(W) = max Re λ(W)` of a square matrix.
pub fn spectral_abscissa(w: MatRef<'_, f64>, par: Par) -> Result<f64, SocError> {
    Ok(RealSchur::new(w, par)?.spectral_abscissa())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::matmul::matmul;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Mat<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5)
    }

    #[test]
    fn reconstructs_and_is_orthogonal() {
        for &n in &[1usize, 2, 5, 20, 90, 150] {
            let w = random(n, n as u64);
            let s = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
            let mut zt = Mat::<f64>::zeros(n, n);
            matmul(
                zt.as_mut(),
                faer::Accum::Replace,
                s.z.as_ref(),
                s.t.as_ref(),
                1.0,
                Par::Seq,
            );
            let mut rec = Mat::<f64>::zeros(n, n);
            matmul(
                rec.as_mut(),
                faer::Accum::Replace,
                zt.as_ref(),
                s.z.transpose(),
                1.0,
                Par::Seq,
            );
            let err = (&rec - &w).norm_max();
            let mut ztz = Mat::<f64>::zeros(n, n);
            matmul(
                ztz.as_mut(),
                faer::Accum::Replace,
                s.z.transpose(),
                s.z.as_ref(),
                1.0,
                Par::Seq,
            );
            let orth = (&ztz - Mat::<f64>::identity(n, n)).norm_max();
            assert!(
                err < 1e-13 * n as f64,
                "n={n}: reconstruction error {err:e}"
            );
            assert!(
                orth < 1e-13 * n as f64,
                "n={n}: orthogonality error {orth:e}"
            );
            // Quasi-triangular: no two consecutive non-zero subdiagonal entries.
            for k in 1..n.saturating_sub(1) {
                assert!(s.t[(k, k - 1)] == 0.0 || s.t[(k + 1, k)] == 0.0);
            }
        }
    }

    /// `W = Z T Zᵀ` to 1e-12 (relative to max |W|) with `ZᵀZ = I` to 1e-12 and T upper
    /// quasi-triangular, on random matrices and on matrices built to have complex-conjugate
    /// pairs (rotation–scaling blocks in a random orthogonal basis) and a defective-like cluster.
    #[test]
    fn schur_form_reconstructs_with_complex_pairs() {
        let check = |w: &Mat<f64>, want_pairs: bool| {
            let n = w.nrows();
            let s = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
            let rec = &s.z * &s.t * s.z.transpose();
            let scale = w.norm_max().max(f64::MIN_POSITIVE);
            let err = (&rec - w).norm_max() / scale;
            let orth = (s.z.transpose() * &s.z - Mat::<f64>::identity(n, n)).norm_max();
            assert!(err <= 1e-12, "n={n}: reconstruction {err:e}");
            assert!(orth <= 1e-12, "n={n}: orthogonality {orth:e}");
            for j in 0..n {
                for i in j + 2..n {
                    assert_eq!(s.t[(i, j)], 0.0, "n={n}: T[{i},{j}] below the subdiagonal");
                }
            }
            for k in 1..n.saturating_sub(1) {
                assert!(
                    s.t[(k, k - 1)] == 0.0 || s.t[(k + 1, k)] == 0.0,
                    "n={n}: 3×3 block"
                );
            }
            let pairs = diagonal_blocks(s.t.as_ref())
                .iter()
                .filter(|b| b.1 == 2)
                .count();
            if want_pairs {
                assert!(pairs > 0, "n={n}: no 2×2 block");
            }
            // The eigenvalues are those of W: their sum is the trace.
            let tr: f64 = (0..n).map(|i| w[(i, i)]).sum();
            let sum: f64 = s.eigenvalues().iter().map(|e| e.0).sum();
            assert!((tr - sum).abs() <= 1e-11 * scale * n as f64, "n={n}: trace");
        };
        for &n in &[3usize, 8, 40, 77, 128, 200] {
            check(&random(n, 100 + n as u64), n >= 8);
            // Pairs a_k ± i b_k and a few real eigenvalues, in a random orthogonal basis.
            let mut d = Mat::<f64>::zeros(n, n);
            let mut k = 0;
            while k + 1 < n {
                let (a, b) = (0.1 * k as f64 - 1.0, 0.5 + 0.03 * k as f64);
                d[(k, k)] = a;
                d[(k + 1, k + 1)] = a;
                d[(k, k + 1)] = b;
                d[(k + 1, k)] = -b;
                k += if k % 6 == 4 { 3 } else { 2 };
            }
            let q = random(n, 7 * n as u64).qr().compute_Q();
            let w = &q * &d * q.transpose();
            check(&w, true);
            // A sparse E/I-like matrix (many zero entries, one sign per column).
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let sparse = Mat::from_fn(n, n, |i, j| {
                let u: f64 = rng.random();
                if i == j || u > 0.1 {
                    0.0
                } else if j < n / 2 {
                    1.0
                } else {
                    -3.0
                }
            });
            check(&sparse, false);
        }
    }

    #[test]
    #[ignore]
    fn timing() {
        for &n in &[100usize, 200, 400] {
            let w = random(n, 5);
            let t0 = std::time::Instant::now();
            let _ = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
            let t1 = t0.elapsed().as_secs_f64();
            let t0 = std::time::Instant::now();
            let _ = w.eigenvalues().unwrap();
            let t2 = t0.elapsed().as_secs_f64();
            let t0 = std::time::Instant::now();
            let _ = w.eigen().unwrap();
            let t3 = t0.elapsed().as_secs_f64();
            eprintln!(
                "n={n}: schur {:.1} ms, eigvals {:.1} ms, eigen {:.1} ms",
                t1 * 1e3,
                t2 * 1e3,
                t3 * 1e3
            );
        }
    }

    #[test]
    fn eigenvalues_match_faer() {
        let n = 60;
        let w = random(n, 7);
        let s = RealSchur::new(w.as_ref(), Par::Seq).unwrap();
        let mut ours = s.eigenvalues();
        let mut theirs: Vec<(f64, f64)> = w
            .eigenvalues()
            .unwrap()
            .iter()
            .map(|c| (c.re, c.im))
            .collect();
        let key = |a: &(f64, f64), b: &(f64, f64)| a.partial_cmp(b).unwrap();
        ours.sort_by(key);
        theirs.sort_by(key);
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn abscissa_of_known_matrix() {
        // Block diag(rotation-scaling with eigenvalues 0.3 ± 2i, -1, 0.25): α = 0.3.
        let mut w = Mat::<f64>::zeros(4, 4);
        w[(0, 0)] = 0.3;
        w[(0, 1)] = 2.0;
        w[(1, 0)] = -2.0;
        w[(1, 1)] = 0.3;
        w[(2, 2)] = -1.0;
        w[(3, 3)] = 0.25;
        let q = random(4, 3).qr().compute_Q();
        let wq = &q * &w * q.transpose();
        let a = spectral_abscissa(wq.as_ref(), Par::Seq).unwrap();
        assert!((a - 0.3).abs() < 1e-14, "{a}");
    }
}
