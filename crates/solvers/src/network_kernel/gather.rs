//! The delayed gather of one parameter set with AVX2, in the two ways x86 CPUs read scattered
//! values fastest, and the choice between them.
//!
//! `out[i] = Σ_j w[i·m + j]·base[o[i·m + j]]`, summed in the portable path's order
//! ([`DelayTable::gather_into`](super::DelayTable)): four partial sums (term `j` into partial
//! `j mod 4`, here the lanes of one 256-bit register), combined as `(s0 + s1) + (s2 + s3)`, then
//! the `m mod 4` last terms in order. Multiplies and adds are separate instructions (no FMA).
//! The two ways differ only in how the four delayed values of a quad reach the register:
//!
//! * [`GatherPath::Loads`]: scalar loads into the halves of two 128-bit registers, two offsets
//!   per 64-bit load. On AMD Zen 1 the hardware gather took twice as long per term (9.1–10.0 µs
//!   against 4.7–4.8 µs per 84 × 84 step, standalone comparison).
//! * [`GatherPath::Hardware`]: one `vgatherdpd` per quad. On the Intel Xeon (AVX-512 generation)
//!   the benchmarks ran on in December 2026 it made the whole Jansen-Rit forward pass 0.036–0.038 s
//!   against 0.040–0.044 s with the loads: the loads version is bound by its shuffles there.
//!
//! Neither is right on every CPU, and both give the same bits, so the process times both once
//! on the first problem's delay table ([`GatherPath::detect`]) and keeps the faster.
//! `NEURODYN_GATHER=loads|hardware` fixes the choice (for benchmarks that compare the two).
//!
//! Two targets are summed per pass: their chains of additions are independent, so the loop
//! is not bound by the latency of the additions (each sum is still one chain in its order).

use std::sync::OnceLock;

/// How the AVX2 gather reads the delayed values (the same bits either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GatherPath {
    /// The portable loop (no AVX2).
    Portable,
    /// Scalar loads into register halves.
    Loads,
    /// The hardware gather instruction.
    Hardware,
}

impl GatherPath {
    /// The path for this CPU: [`GatherPath::Portable`] without AVX2, else the faster of the
    /// other two (timed once per process on the first table it is asked for, `w` and `o`
    /// with `m` entries per target, or fixed by `NEURODYN_GATHER`).
    pub(super) fn detect(avx2: bool, m: usize, w: &[f64], o: Option<&[i32]>) -> Self {
        if !avx2 || !cfg!(target_arch = "x86_64") {
            return Self::Portable;
        }
        static CHOICE: OnceLock<GatherPath> = OnceLock::new();
        match std::env::var("NEURODYN_GATHER").as_deref() {
            Ok("loads") => return Self::Loads,
            Ok("hardware") => return Self::Hardware,
            _ => {}
        }
        // Without a table to time (interpolated delays: one table per parameter set), the
        // choice already made, else the loads, and the timing is left to the first problem
        // that has one.
        if o.is_none() {
            return CHOICE.get().copied().unwrap_or(Self::Loads);
        }
        *CHOICE.get_or_init(|| {
            if let Ok(v) = std::env::var("NEURODYN_GATHER") {
                eprintln!(
                    "neurodyn: NEURODYN_GATHER={v:?} is not one of `loads`, `hardware`; \
                     timing both instead"
                );
            }
            Self::fastest(m, w, o)
        })
    }

    /// Times both AVX2 paths on a real delay table (its address pattern decides: on a
    /// synthetic one both took the same time where the hardware gather made the kernel's
    /// forward pass 8% faster): the best of five alternated rounds of 40 gathers each, a few
    /// milliseconds.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn fastest(m: usize, w: &[f64], o: Option<&[i32]>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(o) = o.filter(|o| m > 0 && !o.is_empty()) {
            let (lo, hi) = o
                .iter()
                .fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let hist = vec![0.5; (hi as i64 - lo as i64 + 1) as usize];
            let mut out = vec![0.0; o.len() / m];
            let mut best = [f64::INFINITY; 2];
            for _ in 0..5 {
                for (path, b) in [Self::Loads, Self::Hardware].into_iter().zip(&mut best) {
                    let t = std::time::Instant::now();
                    for _ in 0..40 {
                        // SAFETY: AVX2 was detected (`detect`); `hist` spans every offset from
                        // its smallest (at index 0) to its largest.
                        unsafe {
                            let base = hist.as_ptr().offset(-(lo as isize));
                            gather_avx2(path, w, o, m, base, &mut out)
                        };
                        std::hint::black_box(&mut out);
                    }
                    *b = b.min(t.elapsed().as_secs_f64());
                }
            }
            if best[1] < best[0] {
                return Self::Hardware;
            }
        }
        Self::Loads
    }
}

/// The AVX2 gather of one channel (see the module documentation), by `path` (`Loads` or
/// `Hardware`).
///
/// # Safety
/// AVX2 must be available; `w` and `o` hold `out.len()·m` entries, and `base.offset(o[k])` is
/// inside one allocation for every `k`.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn gather_avx2(
    path: GatherPath,
    w: &[f64],
    o: &[i32],
    m: usize,
    base: *const f64,
    out: &mut [f64],
) {
    assert!(w.len() >= out.len() * m && o.len() >= out.len() * m);
    // SAFETY: by the contract above.
    unsafe {
        if path == GatherPath::Hardware {
            gather_with::<true>(w, o, m, base, out)
        } else {
            gather_with::<false>(w, o, m, base, out)
        }
    }
}

/// [`gather_avx2`] with the hardware gather (`HW`) or scalar loads.
///
/// # Safety
/// As [`gather_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_with<const HW: bool>(
    w: &[f64],
    o: &[i32],
    m: usize,
    base: *const f64,
    out: &mut [f64],
) {
    use std::arch::x86_64::__m256d;
    let quads = m / 4;
    let (wp, op) = (w.as_ptr(), o.as_ptr());
    let pairs = out.len() / 2;
    for i in 0..pairs {
        let (k0, k1) = (2 * i * m, (2 * i + 1) * m);
        // SAFETY: indices stay below `out.len()·m` and every address inside the history, by
        // the contract of `gather_avx2`.
        unsafe {
            let (mut a, mut b): (__m256d, __m256d) = (zero(), zero());
            for q in 0..quads {
                a = add(a, quad::<HW>(wp, op, base, k0 + 4 * q));
                b = add(b, quad::<HW>(wp, op, base, k1 + 4 * q));
            }
            out[2 * i] = finish(a, wp, op, base, k0, m);
            out[2 * i + 1] = finish(b, wp, op, base, k1, m);
        }
    }
    for i in 2 * pairs..out.len() {
        let k0 = i * m;
        // SAFETY: as above.
        unsafe {
            let mut a = zero();
            for q in 0..quads {
                a = add(a, quad::<HW>(wp, op, base, k0 + 4 * q));
            }
            out[i] = finish(a, wp, op, base, k0, m);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn zero() -> std::arch::x86_64::__m256d {
    // SAFETY: only called from AVX2 code (`gather_with`).
    unsafe { std::arch::x86_64::_mm256_setzero_pd() }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn add(a: std::arch::x86_64::__m256d, b: std::arch::x86_64::__m256d) -> std::arch::x86_64::__m256d {
    // SAFETY: only called from AVX2 code (`gather_with`).
    unsafe { std::arch::x86_64::_mm256_add_pd(a, b) }
}

/// The products `w[k + l]·base[o[k + l]]`, `l = 0…3`, as the lanes of one register.
///
/// # Safety
/// As [`gather_avx2`], for the entries `k…k + 3`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn quad<const HW: bool>(
    w: *const f64,
    o: *const i32,
    base: *const f64,
    k: usize,
) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    // SAFETY: by the contract above.
    unsafe {
        let v = if HW {
            _mm256_i32gather_pd::<8>(base, _mm_loadu_si128(o.add(k) as *const __m128i))
        } else {
            // Two offsets per 64-bit load, split by register shifts (one load fewer per pair).
            let p = o.add(k) as *const u64;
            let (o01, o23) = (p.read_unaligned(), p.add(1).read_unaligned());
            let lo = _mm_loadh_pd(_mm_load_sd(at_low(base, o01)), at_high(base, o01));
            let hi = _mm_loadh_pd(_mm_load_sd(at_low(base, o23)), at_high(base, o23));
            _mm256_set_m128d(hi, lo)
        };
        _mm256_mul_pd(_mm256_loadu_pd(w.add(k)), v)
    }
}

/// `(s0 + s1) + (s2 + s3)` of the partial sums in `acc`, then the `m mod 4` last terms of the
/// row starting at entry `k0`.
///
/// # Safety
/// As [`gather_avx2`], for the row's entries.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn finish(
    acc: std::arch::x86_64::__m256d,
    w: *const f64,
    o: *const i32,
    base: *const f64,
    k0: usize,
    m: usize,
) -> f64 {
    let mut a = [0.0f64; 4];
    // SAFETY: by the contract above.
    unsafe {
        std::arch::x86_64::_mm256_storeu_pd(a.as_mut_ptr(), acc);
        let mut s = (a[0] + a[1]) + (a[2] + a[3]);
        for j in m / 4 * 4..m {
            s += *w.add(k0 + j) * *base.offset(*o.add(k0 + j) as isize);
        }
        s
    }
}

/// `base` offset by the low (first) of the two `i32` offsets packed in `pair` (x86 is
/// little-endian).
///
/// # Safety
/// The address must lie inside the allocation of `base`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn at_low(base: *const f64, pair: u64) -> *const f64 {
    // SAFETY: by the contract above.
    unsafe { base.offset(pair as u32 as i32 as isize) }
}

/// `base` offset by the high (second) of the two `i32` offsets packed in `pair`.
///
/// # Safety
/// The address must lie inside the allocation of `base`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn at_high(base: *const f64, pair: u64) -> *const f64 {
    // SAFETY: by the contract above.
    unsafe { base.offset((pair as i64 >> 32) as isize) }
}
