//! The Hessenberg QR driver for larger matrices (LAPACK `dlaqr0`): aggressive early deflation
//! ([`crate::aed`]) before every sweep, many shifts per iteration taken from the deflation
//! window's undeflated eigenvalues, and sweeps skipped when the window deflated enough.
//!
//! The shifts are applied as consecutive double-shift sweeps ([`crate::francis::sweep`]), one
//! per pair, rather than as LAPACK's chain of tightly packed bulges (`dlaqr5`): the same shifts
//! and so the same convergence, with the sweep kernel that is already tuned here, at the price
//! of level-2 rather than level-3 updates inside the active block. Below [`PLAIN_BELOW`] rows the
//! plain `dlahqr` iteration is used.
//!
//! Parameters follow LAPACK's `iparmq` (number of shifts, window size, the 14 % "nibble" rule,
//! exceptional shifts every sixth iteration without deflation).
//!
//! References: Braman, Byers & Mathias, "The multishift QR algorithm", SIAM J. Matrix Anal.
//! Appl. 23 (2002), parts I and II; LAPACK `dlaqr0`, `iparmq`.

use crate::aed::{aggressive_early_deflation, block_eigenvalues};
use crate::francis::{self, ShiftPair};
use faer::Par;

/// Active blocks of at most this many rows are not swept once the deflation window deflated
/// anything (LAPACK's `NMIN`, in the "nibble" rule).
const NMIN: usize = 75;

/// Below this many rows the whole matrix goes to the plain double-shift iteration. LAPACK
/// switches at `NMIN`; here the plain iteration is as fast up to about 130 rows (1.9 against
/// 2.1 ms at N = 100, 4.07 against 4.07 ms at N = 130, 6.7 against 6.3 ms at N = 160, Schur
/// decomposition of the SOC matrix, one core, AMD EPYC), so the switch is later.
pub(crate) const PLAIN_BELOW: usize = 128;

/// A sweep is skipped when the deflation window deflated more than this percentage of its
/// rows (LAPACK's `NIBBLE`).
const NIBBLE: usize = 14;

/// Iterations without deflation after which the window grows (`KEXNW`) and after which the
/// shifts are exceptional (`KEXSH`).
const KEXNW: usize = 5;
const KEXSH: usize = 6;

/// The number of shifts for an active block of `nh` rows (`iparmq`, `ISPEC = 15`).
fn shift_count(nh: usize) -> usize {
    let ns = if nh < 30 {
        2
    } else if nh < 60 {
        4
    } else if nh < 150 {
        10
    } else if nh < 590 {
        let log2 = ((nh as f64).ln() / 2f64.ln()).round() as usize;
        10.max(nh / log2)
    } else if nh < 3000 {
        64
    } else {
        128
    };
    2.max(ns - ns % 2)
}

/// Reduces the upper Hessenberg `h` (n × n, column-major) to quasi-triangular form and
/// post-multiplies `z` by the transformation, as [`francis::hessenberg_qr`] does; for `n ≥
/// PLAIN_BELOW` with aggressive early deflation. `par` is the parallelism of the window updates.
/// Returns `false` if the iteration did not converge.
pub fn schur_qr(h: &mut [f64], z: &mut [f64], n: usize, par: Par) -> bool {
    if n < PLAIN_BELOW {
        francis::hessenberg_qr(h, z, n)
    } else {
        aed_qr(h, z, n, par)
    }
}

/// The iteration with aggressive early deflation (any `n ≥ 16`; [`schur_qr`] uses it from
/// [`PLAIN_BELOW`] rows).
fn aed_qr(h: &mut [f64], z: &mut [f64], n: usize, par: Par) -> bool {
    let nsr_max = shift_count(n).min((n - 3) / 6);
    let nwr = shift_count(n).min((n - 1) / 3);
    let nwmax = (n - 1) / 3;
    let itmax = 30.max(2 * KEXSH) * n.max(10);
    let mut kbot = n as isize - 1;
    let mut ndfl = 1;
    let mut nw = nwr;
    let mut ndec: isize = -1;
    let g = |h: &[f64], r: usize, c: usize| h[r + c * n];
    for _ in 0..itmax {
        if kbot < 0 {
            return true;
        }
        let kb = kbot as usize;
        let mut ktop = kb;
        while ktop > 0 && g(h, ktop, ktop - 1) != 0.0 {
            ktop -= 1;
        }
        let nh = kb + 1 - ktop;

        // The deflation window (LAPACK's rules: larger after KEXNW iterations without
        // deflation, one row more if that row's coupling is the weaker).
        let nwupbd = nh.min(nwmax);
        nw = if ndfl < KEXNW {
            nwupbd.min(nwr)
        } else {
            nwupbd.min(2 * nw)
        };
        if nw < nwmax {
            if nw + 1 >= nh {
                nw = nh;
            } else {
                let kwtop = kb + 1 - nw;
                if kwtop >= 2 && g(h, kwtop, kwtop - 1).abs() > g(h, kwtop - 1, kwtop - 2).abs() {
                    nw += 1;
                }
            }
        }
        if ndfl < KEXNW {
            ndec = -1;
        } else if ndec >= 0 || nw >= nwupbd {
            ndec += 1;
            if (nw as isize) - ndec < 2 {
                ndec = 0;
            }
            nw = (nw as isize - ndec) as usize;
        }

        let defl = aggressive_early_deflation(h, z, n, ktop, kb, nw, par);
        let ld = defl.deflated;
        kbot -= ld as isize;
        if ld > 0 {
            ndfl = 1;
        } else {
            ndfl += 1;
        }
        if kbot < 0 {
            return true;
        }
        let kb = kbot as usize;
        if kb < ktop + 2 {
            // One or two rows left: the next window covers them whole.
            continue;
        }
        let skip = ld > 0 && (100 * ld > nw * NIBBLE || kb + 1 - ktop <= NMIN.min(nwmax));
        if skip {
            continue;
        }

        let ns_wanted = {
            let ns = nsr_max.min(2.max(kb - ktop));
            ns - ns % 2
        };
        let mut pairs = if ndfl % KEXSH == 0 {
            exceptional_shifts(h, n, ktop, kb, ns_wanted)
        } else {
            let mut shifts = defl.shifts;
            if shifts.len() <= ns_wanted / 2 {
                shifts = trailing_eigenvalues(h, n, ktop, kb, ns_wanted);
            }
            pair_up(shifts, ns_wanted, g(h, kb, kb))
        };
        if pairs.is_empty() {
            // No shifts found: the trailing 2 × 2 block's, as in `dlahqr`.
            pairs.push(francis::two_by_two_eigenvalues(
                g(h, kb - 1, kb - 1),
                g(h, kb - 1, kb),
                g(h, kb, kb - 1),
                g(h, kb, kb),
            ));
        }
        for pair in pairs {
            francis::sweep(h, z, n, ktop, kb, pair);
        }
        // Deflations the sweeps revealed anywhere in the block.
        for k in ktop + 1..=kb {
            if francis::negligible_subdiagonal(h, n, k) {
                h[k + (k - 1) * n] = 0.0;
            }
        }
    }
    false
}

/// LAPACK's exceptional shifts from the trailing subdiagonal entries of the active block.
fn exceptional_shifts(h: &[f64], n: usize, ktop: usize, kbot: usize, ns: usize) -> Vec<ShiftPair> {
    let g = |r: usize, c: usize| h[r + c * n];
    let ks = kbot + 1 - ns.min(kbot + 1 - ktop);
    let mut pairs = Vec::new();
    let mut i = kbot;
    while i >= (ks + 1).max(ktop + 2) {
        let ss = g(i, i - 1).abs() + g(i - 1, i - 2).abs();
        let aa = 0.75 * ss + g(i, i);
        pairs.push(francis::two_by_two_eigenvalues(aa, ss, -0.4375 * ss, aa));
        if i < 2 {
            break;
        }
        i -= 2;
    }
    pairs
}

/// The eigenvalues of the trailing `ns × ns` block (a copy reduced by the plain iteration);
/// empty if that failed.
fn trailing_eigenvalues(
    h: &[f64],
    n: usize,
    ktop: usize,
    kbot: usize,
    ns: usize,
) -> Vec<(f64, f64)> {
    let ns = ns.min(kbot + 1 - ktop);
    match francis::block_schur(h, n, kbot + 1 - ns, ns) {
        Some((t, _)) => block_eigenvalues(&t, ns, ns),
        None => Vec::new(),
    }
}

/// At most `ns / 2` shift pairs from the bottom of `shifts` (the eigenvalues nearest the bottom
/// of the window converge first): complex-conjugate pairs as they come, real shifts two by two;
/// a lone real shift is used twice. If only two real shifts are available, the one nearer
/// `h_kk` (the bottom diagonal entry) is used twice (LAPACK does the same).
fn pair_up(shifts: Vec<(f64, f64)>, ns: usize, h_kk: f64) -> Vec<ShiftPair> {
    let take = ns.min(shifts.len());
    let mut start = shifts.len() - take;
    // Do not split a conjugate pair at the cut.
    if start > 0 && shifts[start].1 != 0.0 && shifts[start].1 == -shifts[start - 1].1 {
        start += 1;
    }
    let chosen = &shifts[start..];
    let mut pairs = Vec::with_capacity(chosen.len() / 2 + 1);
    let mut reals = Vec::new();
    let mut k = 0;
    while k < chosen.len() {
        let (re, im) = chosen[k];
        if im != 0.0 && k + 1 < chosen.len() {
            pairs.push((re, im, chosen[k + 1].0, chosen[k + 1].1));
            k += 2;
        } else {
            reals.push(re);
            k += 1;
        }
    }
    if pairs.is_empty() && reals.len() == 2 {
        let r = if (reals[0] - h_kk).abs() <= (reals[1] - h_kk).abs() {
            reals[0]
        } else {
            reals[1]
        };
        return vec![(r, 0.0, r, 0.0)];
    }
    for pair in reals.chunks(2) {
        let second = *pair.get(1).unwrap_or(&pair[0]);
        pairs.push((pair[0], 0.0, second, 0.0));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_matrices::{hessenberg, identity, schur_residuals};

    /// Runs the iteration with aggressive early deflation on `h0` and checks that it is a real
    /// Schur decomposition: backward error and orthogonality at rounding level, zeros below
    /// the subdiagonal, no two consecutive nonzero subdiagonal entries. Returns `T`.
    fn decompose_and_check(h0: &[f64], n: usize, label: &str) -> Vec<f64> {
        let (mut t, mut z) = (h0.to_vec(), identity(n));
        assert!(
            aed_qr(&mut t, &mut z, n, Par::Seq),
            "{label}: no convergence"
        );
        let (resid, orth) = schur_residuals(h0, &t, &z, n);
        let hnorm = h0.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1.0);
        assert!(
            resid < 1e-13 * n as f64 * hnorm,
            "{label}: residual {resid:e}"
        );
        assert!(orth < 1e-13 * n as f64, "{label}: orthogonality {orth:e}");
        for j in 0..n {
            for i in j + 2..n {
                assert_eq!(t[i + j * n], 0.0, "{label}: T[{i}, {j}]");
            }
            if j + 2 < n {
                assert!(
                    t[j + 1 + j * n] == 0.0 || t[j + 2 + (j + 1) * n] == 0.0,
                    "{label}: two consecutive subdiagonal entries at {j}"
                );
            }
        }
        t
    }

    /// Matrices that stress deflation and reordering: zero, identity (every swap rejected:
    /// equal eigenvalues), a nilpotent shift (all eigenvalues 0), a companion matrix with roots
    /// 1…n/4 repeated (clusters), a symmetric tridiagonal (real spectrum) and a rotation-like
    /// block diagonal (complex pairs only), at sizes on both sides of the switch.
    #[test]
    fn aggressive_early_deflation_converges_on_hard_matrices() {
        for n in [20, 64, 150] {
            let mut cases: Vec<(&str, Vec<f64>)> = vec![("zero", vec![0.0; n * n])];
            cases.push(("identity", identity(n)));
            let mut shift = vec![0.0; n * n];
            (1..n).for_each(|i| shift[i + (i - 1) * n] = 1.0);
            cases.push(("nilpotent", shift.clone()));
            let mut companion = shift;
            for i in 0..n {
                companion[i + (n - 1) * n] = if i % 2 == 0 { 0.5 } else { -0.25 };
            }
            cases.push(("companion", companion));
            let mut tri = vec![0.0; n * n];
            for i in 0..n {
                tri[i * (n + 1)] = (i % 7) as f64 - 3.0;
                if i + 1 < n {
                    tri[i + 1 + i * n] = 1.0;
                    tri[i + (i + 1) * n] = 1.0;
                }
            }
            cases.push(("symmetric tridiagonal", tri));
            let mut rot = vec![0.0; n * n];
            for k in (0..n - 1).step_by(2) {
                let c = 0.1 * k as f64;
                rot[k + k * n] = c;
                rot[k + 1 + (k + 1) * n] = c;
                rot[k + 1 + k * n] = 1.0;
                rot[k + (k + 1) * n] = -1.0;
                if k + 2 < n {
                    rot[k + (k + 2) * n] = 0.3;
                }
            }
            cases.push(("complex pairs", rot));
            for (label, h0) in cases {
                decompose_and_check(&h0, n, &format!("{label}, n = {n}"));
            }
        }
    }

    /// The iteration with aggressive early deflation gives a real Schur decomposition of
    /// random and graded Hessenberg matrices whose eigenvalues equal the plain iteration's.
    #[test]
    fn aggressive_early_deflation_gives_the_same_schur_form() {
        for (n, seed, graded) in [
            (20, 9, false),
            (75, 1, false),
            (120, 2, false),
            (200, 3, false),
            (160, 4, true),
            (90, 5, true),
        ] {
            let h0 = hessenberg(n, seed, graded);
            let t = decompose_and_check(&h0, n, &format!("n = {n}"));
            // The same spectrum as the plain iteration.
            let mut t2 = h0.clone();
            let mut z2 = vec![0.0; n * n];
            assert!(francis::hessenberg_qr(&mut t2, &mut z2, n));
            let spectrum = |t: &[f64]| {
                let mut e = block_eigenvalues(t, n, n);
                e.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
                e
            };
            let (e1, e2) = (spectrum(&t), spectrum(&t2));
            for (a, b) in e1.iter().zip(&e2) {
                assert!(
                    (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9,
                    "n = {n}: {a:?} vs {b:?}"
                );
            }
        }
    }
}
