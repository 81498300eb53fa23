//! `eˣ` in straight-line arithmetic, written once for any number of lanes.
//!
//! Every sigmoid of a neural-mass model is an `exp`, and the kernels evaluate four of them per
//! region per step (three in Jansen-Rit's drift, one in its coupling), so `exp` was a fifth of
//! the Jansen-Rit kernel's time as a call into libm, one lane at a time. This version has no
//! branch, table or call: Cody-Waite reduction `x = k·ln2 + r` with `|r| ≤ ln2/2`, a
//! degree-13 Taylor polynomial for `eʳ` (truncation error below 5e-18; its inner part by
//! Estrin's scheme, whose short dependency chain matters more than its three extra products),
//! and the scale `2ᵏ` built from the exponent bits in two halves, so that overflow, underflow
//! into the subnormal range, `±∞` and NaN come out as IEEE `exp` gives them. Each step is a
//! loop over the lanes, which the compiler turns into packed SIMD instructions for
//! [`exp_lanes`] with four lanes.
//!
//! The scalar [`exp`] is `exp_lanes::<1>`: the same operations in the same order, so a lane of
//! the four-wide kernels is bit-for-bit the scalar result (Rust never fuses `a·b + c`). The
//! error is within about one unit in the last place of the correctly rounded value (checked
//! against libm over the whole range in the tests below); it is not always the *same* bits as
//! libm, which is why every kernel, vector–Jacobian product and tape in the engine calls this
//! function rather than `f64::exp`. No crate offers a vectorisable `exp` that is also the
//! scalar one bit for bit on stable Rust, which is why it is written here.

/// `x / ln 2` rounded for the reduction.
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// High part of `ln 2`: its low 32 bits are zero, so `k · LN2_HI` is exact for `|k| < 2²¹`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// `ln 2 − LN2_HI` rounded (fdlibm's split of `ln 2`).
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 · 2⁵²`: adding it rounds to an integer held in the low mantissa bits.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// Beyond these, `eˣ` is `+∞` or `0` in `f64`; clamping keeps `k` within the two-half scale.
const X_MAX: f64 = 709.9;
const X_MIN: f64 = -745.2;

/// `1/n!` for `n = 2 … 13`, the Taylor coefficients of `eʳ` after `1 + r`.
const C: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `eˣ` of every lane (see the module documentation for the method and its accuracy).
#[inline(always)]
pub fn exp_lanes<const L: usize>(x: [f64; L]) -> [f64; L] {
    let mut xc = x;
    for v in xc.iter_mut() {
        // Comparisons are false for NaN, which therefore passes through to the result.
        *v = if *v > X_MAX { X_MAX } else { *v };
        *v = if *v < X_MIN { X_MIN } else { *v };
    }
    let mut kd = [0.0; L];
    let mut kf = [0.0; L];
    for l in 0..L {
        kd[l] = xc[l] * LOG2_E + ROUND;
        kf[l] = kd[l] - ROUND;
    }
    let mut r = [0.0; L];
    for l in 0..L {
        r[l] = (xc[l] - kf[l] * LN2_HI) - kf[l] * LN2_LO;
    }
    // q(r) = Σ C[i]·rⁱ by Estrin's scheme: four levels of independent products instead of
    // Horner's chain of eleven, so the dependency chain (the kernels' exp is latency-bound:
    // a third of the batch-major kernel's time was this polynomial) is a third as long.
    // q's rounding is scaled by r² ≤ 0.121 in the result, so it moves the final value far
    // less than half an ulp; the last two steps (`1 + r·(1 + r·q)`) carry the rounding that
    // matters, each half an ulp, as in Horner's form.
    // (Each stage is a loop over the lanes, as everywhere in this function, so that the
    // four-lane build is packed SIMD.)
    let (mut r2, mut r4, mut r8) = ([0.0; L], [0.0; L], [0.0; L]);
    for l in 0..L {
        r2[l] = r[l] * r[l];
        r4[l] = r2[l] * r2[l];
        r8[l] = r4[l] * r4[l];
    }
    let mut a = [[0.0; L]; 6];
    for (i, ai) in a.iter_mut().enumerate() {
        for l in 0..L {
            ai[l] = C[2 * i] + C[2 * i + 1] * r[l];
        }
    }
    let mut p = [0.0; L];
    for l in 0..L {
        let b0 = a[0][l] + a[1][l] * r2[l];
        let b1 = a[2][l] + a[3][l] * r2[l];
        let b2 = a[4][l] + a[5][l] * r2[l];
        let q = (b0 + b1 * r4[l]) + b2 * r8[l];
        p[l] = q * r[l] + 1.0;
        p[l] = p[l] * r[l] + 1.0;
    }
    // k sits in the low bits of kd as k + 2⁵¹. Split k = k1 + k2 with both halves in the
    // normal exponent range, so 2ᵏ¹ and 2ᵏ² are exact and only the final product rounds.
    let round_bits = ROUND.to_bits();
    let mut out = [0.0; L];
    for l in 0..L {
        let k = kd[l].to_bits().wrapping_sub(round_bits); // k mod 2⁶⁴
        let kb = k.wrapping_add(2048); // k + 2048 > 0 for the clamped range
        let k1 = (kb >> 1).wrapping_sub(1024);
        let k2 = k.wrapping_sub(k1);
        let s1 = f64::from_bits(k1.wrapping_add(1023) << 52);
        let s2 = f64::from_bits(k2.wrapping_add(1023) << 52);
        out[l] = p[l] * s1 * s2;
    }
    out
}

/// `eˣ`, bit-for-bit one lane of [`exp_lanes`].
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    exp_lanes([x])[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place, for finite positive values.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn within_one_ulp_of_libm_over_the_range() {
        // libm's exp is correctly rounded to within 0.5x ulp; ours to about 1 ulp, so they
        // differ by at most 1 (measured: 2 would fail the test).
        let mut worst = 0;
        let mut differ = 0usize;
        let n = 2_000_000;
        for i in 0..=n {
            let x = -745.0 + 1454.0 * (i as f64) / (n as f64);
            let (a, b) = (exp(x), x.exp());
            if b == 0.0 || b.is_infinite() {
                assert_eq!(a, b, "x = {x}");
                continue;
            }
            let d = ulps(a, b);
            worst = worst.max(d);
            differ += (d > 0) as usize;
            assert!(d <= 1, "exp({x}) = {a:e}, libm {b:e}: {d} ulps");
        }
        assert!(worst <= 1);
        // Most values agree exactly; a drift that changed every value would show here.
        assert!(differ < n / 5, "{differ} of {n} differ from libm");
        // The sigmoid range used by every neural-mass model, densely.
        for i in 0..=1_000_000 {
            let x = -40.0 + 80.0 * (i as f64) / 1e6;
            assert!(ulps(exp(x), x.exp()) <= 1, "x = {x}");
        }
    }

    #[test]
    fn special_values_as_ieee() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 1);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(1e300), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert!(ulps(exp(709.78), 709.78f64.exp()) <= 1);
        // Subnormal results: at most one ulp of the subnormal spacing from libm.
        for x in [-708.5, -710.0, -720.0, -740.0, -744.5] {
            let (a, b) = (exp(x), x.exp());
            assert!(b > 0.0 && b < f64::MIN_POSITIVE);
            assert!(ulps(a, b) <= 1, "exp({x}) = {a:e}, libm {b:e}");
        }
    }

    #[test]
    fn lanes_are_the_scalar_bit_for_bit() {
        let xs = [-3.7, 0.25, 12.5, -700.0];
        let v = exp_lanes(xs);
        for l in 0..4 {
            assert_eq!(v[l].to_bits(), exp(xs[l]).to_bits());
        }
    }
}
