//! Peak statistics of spectra.

use burn::tensor::{Tensor, TensorData, activation::softmax};

/// Frequency of the first maximum of `psd` (numpy `argmax` semantics), optionally restricted to
/// a band `[lo, hi]` Hz and/or excluding the DC bin. Returns NaN when no bin qualifies.
pub fn peak_frequency(freqs: &[f64], psd: &[f64], band: Option<[f64; 2]>, exclude_dc: bool) -> f64 {
    let mut best: Option<usize> = None;
    for (k, (&f, &p)) in freqs.iter().zip(psd).enumerate() {
        if (exclude_dc && k == 0) || band.is_some_and(|[lo, hi]| f < lo || f > hi) {
            continue;
        }
        // Strict '>' keeps the first maximum; NaN never wins.
        if best.is_none_or(|b| p > psd[b]) {
            best = Some(k);
        }
    }
    best.map_or(f64::NAN, |k| freqs[k])
}

/// Peak significance: the power of the spectral maximum over the median power of the bins of
/// `band` (all bins when `None`, DC excluded when `exclude_dc`). A flat spectrum (a white noise
/// floor, where the argmax is set by the noise realisation) gives about 1–3; a real oscillation
/// tens to thousands. NaN when no bin qualifies or the median is not positive.
pub fn peak_significance(
    freqs: &[f64],
    psd: &[f64],
    band: Option<[f64; 2]>,
    exclude_dc: bool,
) -> f64 {
    let mut p: Vec<f64> = band_bins(freqs, band, exclude_dc)
        .into_iter()
        .map(|k| psd[k])
        .collect();
    if p.is_empty() || p.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    p.sort_by(f64::total_cmp);
    let m = p.len();
    let median = if m % 2 == 1 {
        p[m / 2]
    } else {
        0.5 * (p[m / 2 - 1] + p[m / 2])
    };
    if median > 0.0 {
        p[m - 1] / median
    } else {
        f64::NAN
    }
}

/// Indices of the bins inside `band` (all when `None`), without DC when `exclude_dc`.
pub fn band_bins(freqs: &[f64], band: Option<[f64; 2]>, exclude_dc: bool) -> Vec<usize> {
    (0..freqs.len())
        .filter(|&k| !(exclude_dc && k == 0))
        .filter(|&k| band.is_none_or(|[lo, hi]| freqs[k] >= lo && freqs[k] <= hi))
        .collect()
}

/// Differentiable peak statistic: the frequency averaged with weights `softmax(log P / τ)`
/// (∝ `P^(1/τ)`) over the bins of `band`, along the last axis of `psd` `[.., F]`. As τ → 0 it
/// tends to the argmax frequency; τ = 1 gives the spectral centroid.
pub fn soft_peak_frequency<const D: usize>(
    psd: Tensor<D>,
    freqs: &[f64],
    band: Option<[f64; 2]>,
    exclude_dc: bool,
    tau: f64,
) -> Tensor<D> {
    let device = psd.device();
    let bins = band_bins(freqs, band, exclude_dc);
    let idx: Vec<i64> = bins.iter().map(|&k| k as i64).collect();
    let idx =
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [bins.len()]), &device);
    let sel = psd.select(D - 1, idx);
    // mul by 1/τ: burn-autodiff 0.22's div_scalar backward computes the reciprocal in f32.
    let w = softmax(sel.log().mul_scalar(1.0 / tau), D - 1);
    let f: Vec<f64> = bins.iter().map(|&k| freqs[k]).collect();
    let mut shape = [1usize; D];
    shape[D - 1] = bins.len();
    let f = Tensor::<1>::from_data(TensorData::new(f, [bins.len()]), &device).reshape(shape);
    (w * f).sum_dim(D - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_significance_separates_peaks_from_a_flat_floor() {
        let freqs: Vec<f64> = (0..51).map(|k| k as f64).collect();
        let flat: Vec<f64> = (0..51)
            .map(|k| 1.0 + 0.3 * ((k * 7 % 11) as f64 / 11.0))
            .collect();
        let mut peaked = flat.clone();
        peaked[10] = 80.0;
        assert!(peak_significance(&freqs, &flat, None, true) < 1.5);
        assert!(peak_significance(&freqs, &peaked, None, true) > 50.0);
        assert!(peak_significance(&freqs, &peaked, Some([20.0, 30.0]), true) < 1.5);
        assert!(peak_significance(&freqs, &[f64::NAN; 51], None, false).is_nan());
    }

    #[test]
    fn first_argmax_band_and_dc() {
        let f = [0.0, 1.0, 2.0, 3.0, 4.0];
        let p = [9.0, 1.0, 5.0, 5.0, 2.0];
        assert_eq!(peak_frequency(&f, &p, None, false), 0.0);
        assert_eq!(peak_frequency(&f, &p, None, true), 2.0);
        assert_eq!(peak_frequency(&f, &p, Some([2.5, 10.0]), false), 3.0);
        assert!(peak_frequency(&f, &p, Some([20.0, 30.0]), false).is_nan());
    }
}
