//! Integrals of the scaled complementary error function, the special functions behind the LIF
//! transfer function [`crate::phi`].
//!
//! `erfcx(x) = exp(x²)·erfc(x)`, `erfc` and Dawson's integral `F(x) = exp(−x²)∫₀ˣ exp(t²) dt`
//! come from the `errorfunctions` crate (a Rust port of S. G. Johnson's Faddeeva package,
//! near machine precision on the whole real line). No maintained crate provides the integral
//! `G(x) = ∫₀ˣ erfcx(v) dv` that Phi needs, so it is computed here:
//!
//! * `0 ≤ x ≤ 64`: a table of `G` at fixed breakpoints (built once with composite 20-point
//!   Gauss–Legendre quadrature) plus one 20-point Gauss–Legendre rule from the breakpoint to `x`.
//!   erfcx is entire and behaves like `1/(z√π)` in the right half plane, so on the segments used
//!   (relative width ≤ 1) the rule converges far below f64 round-off.
//! * `x ≥ 64`: the asymptotic series `erfcx(v) = (1/√π)·Σₙ (−1)ⁿ (2n−1)!!/2ⁿ · v^(−2n−1)`
//!   integrated term by term (seven terms: truncation error < 1e-28 relative).
//!
//! Differences `∫_lo^hi erfcx` over short intervals are integrated directly, so they keep full
//! relative precision instead of cancelling two nearly equal values of `G`.

use errorfunctions::RealErrorFunctions;
use std::sync::OnceLock;

/// `1/√π`.
pub const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
/// `√π`.
pub const SQRT_PI: f64 = 1.772_453_850_905_516;

/// Breakpoints of the `G` table; above the last one the asymptotic series is used.
const BREAKS: [f64; 13] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0,
];
const ASYMPTOTIC_FROM: f64 = 64.0;
/// Gauss–Legendre order used everywhere in this module.
const GL_ORDER: usize = 20;

/// Scaled complementary error function `erfcx(x) = exp(x²) erfc(x)` (overflows to a huge value
/// for `x < −26.7`).
#[inline]
pub fn erfcx(x: f64) -> f64 {
    RealErrorFunctions::erfcx(x)
}

/// Complementary error function.
#[inline]
pub fn erfc(x: f64) -> f64 {
    RealErrorFunctions::erfc(x)
}

/// Dawson's integral `F(x) = exp(−x²) ∫₀ˣ exp(t²) dt`.
#[inline]
pub fn dawson(x: f64) -> f64 {
    RealErrorFunctions::dawson(x)
}

/// Nodes and weights of the `n`-point Gauss–Legendre rule on [−1, 1] (Newton iteration on the
/// Legendre polynomial from Chebyshev initial guesses; exact to round-off for n ≤ 100).
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 1 { x } else { p1 };
            let pn1 = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (x * pn - pn1) / (x * x - 1.0);
            let dx = pn / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        nodes[i] = x;
        nodes[n - 1 - i] = -x;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

fn rule() -> &'static (Vec<f64>, Vec<f64>) {
    static RULE: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    RULE.get_or_init(|| gauss_legendre(GL_ORDER))
}

/// `∫_lo^hi f(u) du` by one 20-point Gauss–Legendre rule.
#[inline]
pub fn gauss_legendre_integral(lo: f64, hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (nodes, weights) = rule();
    let half = 0.5 * (hi - lo);
    let mid = 0.5 * (hi + lo);
    let mut sum = 0.0;
    for (x, w) in nodes.iter().zip(weights) {
        sum += w * f(mid + half * x);
    }
    sum * half
}

fn table() -> &'static [f64; 13] {
    static TABLE: OnceLock<[f64; 13]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0; 13];
        for k in 1..BREAKS.len() {
            // Eight sub-panels per segment: the table is built once, so it may be generous.
            let (lo, hi) = (BREAKS[k - 1], BREAKS[k]);
            let h = (hi - lo) / 8.0;
            let mut acc = 0.0;
            for j in 0..8 {
                let a = lo + h * j as f64;
                acc += gauss_legendre_integral(a, a + h, erfcx);
            }
            t[k] = t[k - 1] + acc;
        }
        t
    })
}

/// `∫_lo^hi erfcx(v) dv` from the asymptotic series, for `lo ≥ 64`.
fn asymptotic_integral(lo: f64, hi: f64) -> f64 {
    // c_n = (−1)ⁿ (2n−1)!!/2ⁿ, n = 1..7.
    const C: [f64; 7] = [
        -0.5,
        0.75,
        -1.875,
        6.5625,
        -29.53125,
        162.421875,
        -1055.7421875,
    ];
    let (ilo2, ihi2) = (1.0 / (lo * lo), 1.0 / (hi * hi));
    let (mut plo, mut phi) = (1.0, 1.0);
    let mut sum = ((hi - lo) / lo).ln_1p();
    for (n, c) in C.iter().enumerate() {
        plo *= ilo2;
        phi *= ihi2;
        sum += c * (plo - phi) / (2.0 * (n + 1) as f64);
    }
    FRAC_1_SQRT_PI * sum
}

/// `G(x) = ∫₀ˣ erfcx(v) dv` for `x ≥ 0` (grows like `ln(x)/√π`).
pub fn erfcx_integral(x: f64) -> f64 {
    let t = table();
    if x >= ASYMPTOTIC_FROM {
        return t[BREAKS.len() - 1] + asymptotic_integral(ASYMPTOTIC_FROM, x);
    }
    let k = BREAKS.partition_point(|&b| b <= x) - 1;
    t[k] + gauss_legendre_integral(BREAKS[k], x, erfcx)
}

/// `∫_lo^hi erfcx(v) dv` for `0 ≤ lo ≤ hi`, to full relative precision also when `hi ≈ lo`.
pub fn erfcx_integral_between(lo: f64, hi: f64) -> f64 {
    if lo >= ASYMPTOTIC_FROM {
        asymptotic_integral(lo, hi)
    } else if hi - lo <= f64::max(1.0, 0.5 * lo) {
        gauss_legendre_integral(lo, hi, erfcx)
    } else {
        erfcx_integral(hi) - erfcx_integral(lo)
    }
}

/// `g(t) = t·erfcx(t) − 1/√π` for `t ≥ 0`, accurate also for large `t` where it is
/// `≈ −1/(2√π t²)` (asymptotic series there, instead of a cancelling difference).
pub fn t_erfcx_minus_limit(t: f64) -> f64 {
    if t < 8.0 {
        return t * erfcx(t) - FRAC_1_SQRT_PI;
    }
    if t > 1e150 {
        return 0.0;
    }
    let inv = 1.0 / (2.0 * t * t);
    let (mut term, mut sum) = (1.0, 0.0);
    for n in 1..40 {
        let next = -term * (2 * n - 1) as f64 * inv;
        if next.abs() >= term.abs() {
            break; // the asymptotic series has reached its smallest term
        }
        term = next;
        sum += term;
        if term.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    FRAC_1_SQRT_PI * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(20);
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-14);
        // ∫ x^38 over [−1, 1] = 2/39: degree 2n − 1 = 39 is the highest exact degree.
        let s: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(38)).sum();
        assert!((s - 2.0 / 39.0).abs() < 1e-14, "{s}");
    }

    #[test]
    fn erfcx_integral_matches_fine_quadrature_and_is_continuous() {
        // Reference: 2000 Gauss–Legendre panels from 0 (independent of the table layout).
        for &x in &[0.3, 1.0, 2.5, 5.0, 7.9, 13.0, 40.0, 63.9, 64.0, 64.1, 100.0] {
            let panels = 2000;
            let h = x / panels as f64;
            let reference: f64 = (0..panels)
                .map(|j| gauss_legendre_integral(j as f64 * h, (j + 1) as f64 * h, erfcx))
                .sum();
            let got = erfcx_integral(x);
            // the 2000-panel sum itself carries ~2e-15 of accumulated round-off
            assert!(
                ((got - reference) / reference).abs() < 1e-14,
                "x={x}: {got} vs {reference}"
            );
        }
        // Power series G(x) = Σ_k (−1)^k x^(k+1) / ((k+1) Γ(k/2 + 1)) (no cancellation at x ≤ 1).
        for x in [0.25f64, 0.5, 1.0] {
            let (mut series, mut gamma) = (0.0, [1.0, SQRT_PI / 2.0]); // Γ(1), Γ(3/2)
            for k in 0..80 {
                let g = gamma[k % 2];
                series += (-1f64).powi(k as i32) * x.powi(k as i32 + 1) / ((k + 1) as f64 * g);
                gamma[k % 2] *= (k / 2 + 1) as f64 + 0.5 * (k % 2) as f64; // Γ(z + 1) = zΓ(z)
            }
            let got = erfcx_integral(x);
            assert!(
                ((got - series) / series).abs() < 4e-16,
                "x={x}: {got} vs series {series}"
            );
        }
        // Short intervals: the difference keeps relative precision.
        let (lo, hi) = (4.0 - 1e-6, 4.0 + 1e-6);
        let d = erfcx_integral_between(lo, hi);
        let want = (hi - lo) * erfcx(4.0); // midpoint rule: error ~ (hi − lo)² f''/24f ≈ 1e-13
        assert!((d / want - 1.0).abs() < 1e-12, "{d:e} vs {want:e}");
        let (lo, hi) = (1000.0, 1000.0 + 1e-3);
        let d = erfcx_integral_between(lo, hi);
        assert!((d / ((hi - lo) * erfcx(0.5 * (lo + hi))) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn g_is_accurate_on_both_sides_of_the_switch() {
        for &t in &[7.999_999, 8.0, 20.0] {
            let direct = t * erfcx(t) - FRAC_1_SQRT_PI;
            let series = t_erfcx_minus_limit(t);
            // the direct difference loses ~log10(2t²) digits, hence the tolerance
            assert!(
                ((direct - series) / series).abs() < 1e-12,
                "t={t}: {direct} vs {series}"
            );
        }
    }
}
