//! Welch's power spectral density estimate as a differentiable tensor program.
//!
//! For a signal of length `T`, segment length `L` (`nperseg`, default the whole input as in
//! TVB-O's `jax.scipy.signal.welch` call) and step `L − noverlap`:
//!
//! ```text
//! w_k   = 0.5 − 0.5 cos(2πk/L)                     (periodic Hann, scipy's get_window)
//! X_s,f = Σ_k w_k (x_{s,k} − mean_k x_{s,k}) e^{−2πi k f / L}    f = 0 … ⌊L/2⌋
//! P_f   = c_f |X_s,f|² / (fs Σ_k w_k²), averaged over segments s
//! ```
//!
//! with `c_f = 2` except at DC and (for even `L`) Nyquist. The DFT is a matmul with cos/sin
//! matrices whose angles are reduced `k·f mod L` first, so they are exact to rounding.
//!
//! Reference: Welch (1967), IEEE Trans. Audio Electroacoust. 15:70–73; `scipy.signal.welch`.

use burn::tensor::{Device, Tensor, TensorData};
use std::f64::consts::PI;

/// Why a Welch configuration was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WelchError {
    /// Segment longer than the input or empty.
    #[error("nperseg = {nperseg} must be between 1 and the input length {len}")]
    BadSegment {
        /// nperseg.
        nperseg: usize,
        /// Input length.
        len: usize,
    },
    /// Overlap not smaller than the segment.
    #[error("noverlap = {noverlap} must be smaller than nperseg = {nperseg}")]
    BadOverlap {
        /// noverlap.
        noverlap: usize,
        /// nperseg.
        nperseg: usize,
    },
    /// Sampling frequency not positive.
    #[error("sampling frequency {0} must be positive")]
    BadFs(f64),
}

/// Welch settings (scipy names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchConfig {
    /// Sampling frequency (Hz).
    pub fs: f64,
    /// Segment length; `None` = the whole input.
    pub nperseg: Option<usize>,
    /// Overlap; `None` = nperseg / 2.
    pub noverlap: Option<usize>,
}

/// A Welch estimator for inputs of one length, with its matrices on a device.
#[derive(Debug, Clone)]
pub struct Welch {
    len: usize,
    nperseg: usize,
    step: usize,
    segments: usize,
    freqs: Vec<f64>,
    /// `[L, F]` window·cos and window·sin, scaled so that |·|² is the density.
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Welch {
    /// Prepares the estimator for signals of length `len` on `device`.
    pub fn new(cfg: WelchConfig, len: usize, device: &Device) -> Result<Self, WelchError> {
        if !(cfg.fs > 0.0 && cfg.fs.is_finite()) {
            return Err(WelchError::BadFs(cfg.fs));
        }
        let l = cfg.nperseg.unwrap_or(len);
        if l == 0 || l > len {
            return Err(WelchError::BadSegment { nperseg: l, len });
        }
        let noverlap = cfg.noverlap.unwrap_or(l / 2);
        if noverlap >= l {
            return Err(WelchError::BadOverlap {
                noverlap,
                nperseg: l,
            });
        }
        let step = l - noverlap;
        let segments = (len - l) / step + 1;
        let nf = l / 2 + 1;
        let window: Vec<f64> = (0..l)
            .map(|k| 0.5 - 0.5 * (2.0 * PI * k as f64 / l as f64).cos())
            .collect();
        let wss: f64 = window.iter().map(|w| w * w).sum();
        let scale = 1.0 / (cfg.fs * wss);
        let mut c = vec![0.0; l * nf];
        let mut s = vec![0.0; l * nf];
        for k in 0..l {
            for f in 0..nf {
                let onesided = if f == 0 || (l.is_multiple_of(2) && f == l / 2) {
                    1.0
                } else {
                    2.0
                };
                // sqrt so that re² + im² carries the scale; angle reduced mod L for exactness.
                let amp = window[k] * (scale * onesided).sqrt();
                let angle = 2.0 * PI * ((k * f) % l) as f64 / l as f64;
                c[k * nf + f] = amp * angle.cos();
                s[k * nf + f] = amp * angle.sin();
            }
        }
        let freqs = (0..nf).map(|f| f as f64 * cfg.fs / l as f64).collect();
        let mat = |v: Vec<f64>| Tensor::<2>::from_data(TensorData::new(v, [l, nf]), device);
        Ok(Self {
            len,
            nperseg: l,
            step,
            segments,
            freqs,
            cos: mat(c),
            sin: mat(s),
        })
    }

    /// Frequencies of the bins (Hz).
    pub fn freqs(&self) -> &[f64] {
        &self.freqs
    }

    /// Input length this estimator was built for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty input length (never for a constructed estimator).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of segments averaged.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// PSD of `x` `[B, R, T]` along its last axis → `[B, R, F]`.
    pub fn psd(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, r, t] = x.dims();
        assert_eq!(t, self.len, "Welch built for length {} got {t}", self.len);
        let l = self.nperseg;
        let segs: Vec<Tensor<3>> = (0..self.segments)
            .map(|s| x.clone().narrow(2, s * self.step, l))
            .collect();
        let seg = if segs.len() == 1 {
            segs.into_iter()
                .next()
                .expect("one segment")
                .reshape([b * r, l])
        } else {
            Tensor::stack::<4>(segs, 2).reshape([b * r * self.segments, l])
        };
        let centred = seg.clone() - seg.mean_dim(1);
        let re = centred.clone().matmul(self.cos.clone());
        let im = centred.matmul(self.sin.clone());
        let power = re.clone() * re + im.clone() * im;
        let nf = self.freqs.len();
        power
            .reshape([b * r, self.segments, nf])
            .mean_dim(1)
            .reshape([b, r, nf])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::{BackendKind, f64_device};

    /// Parseval-style check without fixtures: a pure tone's power lands in its bin.
    #[test]
    fn tone_peaks_in_its_bin() {
        let device = f64_device(BackendKind::Flex, false);
        let t = 200;
        let x: Vec<f64> = (0..t)
            .map(|k| (2.0 * PI * 10.0 * k as f64 / 100.0).sin())
            .collect();
        let w = Welch::new(
            WelchConfig {
                fs: 100.0,
                nperseg: None,
                noverlap: None,
            },
            t,
            &device,
        )
        .unwrap();
        let p = w.psd(Tensor::<1>::from_data(TensorData::new(x, [t]), &device).reshape([1, 1, t]));
        let p: Vec<f64> = p.into_data().try_into_vec().unwrap();
        let argmax = p
            .iter()
            .enumerate()
            .fold(0, |m, (i, v)| if *v > p[m] { i } else { m });
        assert_eq!(w.freqs()[argmax], 10.0);
    }

    #[test]
    fn rejects_bad_settings() {
        let device = f64_device(BackendKind::Flex, false);
        let cfg = |nperseg, noverlap| WelchConfig {
            fs: 100.0,
            nperseg,
            noverlap,
        };
        assert!(matches!(
            Welch::new(cfg(Some(300), None), 200, &device),
            Err(WelchError::BadSegment { .. })
        ));
        assert!(matches!(
            Welch::new(cfg(Some(100), Some(100)), 200, &device),
            Err(WelchError::BadOverlap { .. })
        ));
        assert!(
            Welch::new(
                WelchConfig {
                    fs: 0.0,
                    nperseg: None,
                    noverlap: None
                },
                10,
                &device
            )
            .is_err()
        );
    }
}
