//! The stability-optimized-circuit (SOC) optimizer (Hennequin, Vogels & Gerstner 2014; the
//! algorithm of the code of Stroud et al. 2018, DESIGN §7).
//!
//! `W_ij` is the weight from neuron `j` to neuron `i`; columns `0..N/2` are excitatory (E),
//! the rest inhibitory (I). Initial weights: `round(p N (N−1))` off-diagonal non-zeros drawn
//! uniformly without replacement, E weight `w0/√N`, I weight `−γ w0/√N`,
//! `w0 = √2 R / √(p (1−p)(1+γ²))` (so the bulk of the spectrum has radius ≈ R).
//! One step, with `α = α(W)` from one real Schur decomposition `W = Z T Zᵀ`:
//! 1. `s = max(1.5 α, α + 0.2)`;
//! 2. Gramians `P`, `Q` of `W − sI` on the Schur form, `G = QP / tr(QP)`;
//! 3. `W[:, I] −= η G[:, I]` (excitatory weights never change);
//! 4. Dale's law: positive inhibitory entries → 0;
//! 5. balance: scale `W[E, I]` so `mean W[E, I] = −γ mean W[E, E]` and `W[I, I]` so
//!    `mean W[I, I] = −γ mean W[I, E]` (block means over all entries);
//! 6. sparsity: keep the `round(ρ N · N/2) − 1` most negative inhibitory entries (stable order
//!    of `W[:, I]` flattened column-major), zero the rest;
//! 7. zero the diagonal.
//!
//! The loop stops when `α(W) ≤ α_target`.

use crate::error::SocError;
use crate::gramians::SchurGramians;
use crate::schur::RealSchur;
use faer::{Mat, MatRef, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Configuration of the SOC optimizer (defaults: the seed code's values).
#[derive(Debug, Clone, PartialEq)]
pub struct SocConfig {
    /// Number of neurons `N` (even; the first half excitatory). Default 200.
    pub n: usize,
    /// Initial connection probability `p ∈ (0, 1]`. Default 0.1.
    pub p: f64,
    /// Initial spectral radius `R` of the bulk. Default 10.
    pub radius: f64,
    /// Inhibition/excitation strength ratio `γ > 0`. Default 3.
    pub gamma: f64,
    /// Learning rate `η > 0`. Default 10.
    pub eta: f64,
    /// Target inhibitory density `ρ ∈ (0, 1]` (step 6). Default 0.4.
    pub inhibitory_density: f64,
    /// Stop when `α(W) ≤ alpha_target`. Default 0.15.
    pub alpha_target: f64,
    /// Shift factor `c` in `s = max(c α, α + m)`. Default 1.5.
    pub shift_factor: f64,
    /// Shift margin `m` in `s = max(c α, α + m)` (> 0). Default 0.2.
    pub shift_margin: f64,
    /// Maximum number of steps. Default 10000.
    pub max_steps: usize,
    /// Seed of the ChaCha8 generator for the initial weights. Default 0.
    pub seed: u64,
    /// Threads for dense linear algebra (1 = sequential). Default 1.
    pub threads: usize,
}

impl Default for SocConfig {
    fn default() -> Self {
        Self {
            n: 200,
            p: 0.1,
            radius: 10.0,
            gamma: 3.0,
            eta: 10.0,
            inhibitory_density: 0.4,
            alpha_target: 0.15,
            shift_factor: 1.5,
            shift_margin: 0.2,
            max_steps: 10_000,
            seed: 0,
            threads: 1,
        }
    }
}

fn check(name: &'static str, value: f64, ok: bool, expected: &'static str) -> Result<(), SocError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(SocError::InvalidParameter {
            name,
            value,
            expected,
        })
    }
}

impl SocConfig {
    /// Checks every field; returns the first violation.
    pub fn validate(&self) -> Result<(), SocError> {
        if self.n < 2 || !self.n.is_multiple_of(2) {
            return Err(SocError::OddSize(self.n));
        }
        check("p", self.p, self.p > 0.0 && self.p <= 1.0, "in (0, 1]")?;
        check("radius", self.radius, self.radius > 0.0, "> 0")?;
        check("gamma", self.gamma, self.gamma > 0.0, "> 0")?;
        check("eta", self.eta, self.eta > 0.0, "> 0")?;
        let rho = self.inhibitory_density;
        check(
            "inhibitory_density",
            rho,
            rho > 0.0 && rho <= 1.0,
            "in (0, 1]",
        )?;
        check("alpha_target", self.alpha_target, true, "finite")?;
        check(
            "shift_factor",
            self.shift_factor,
            self.shift_factor >= 1.0,
            "≥ 1",
        )?;
        check(
            "shift_margin",
            self.shift_margin,
            self.shift_margin > 0.0,
            "> 0",
        )?;
        check("threads", self.threads as f64, self.threads >= 1, "≥ 1")?;
        Ok(())
    }

    /// Initial weight scale `w0 = √2 R / √(p (1−p)(1+γ²))`.
    pub fn w0(&self) -> f64 {
        2f64.sqrt() * self.radius
            / (self.p * (1.0 - self.p) * (1.0 + self.gamma * self.gamma)).sqrt()
    }

    fn par(&self) -> Par {
        if self.threads <= 1 {
            Par::Seq
        } else {
            Par::rayon(self.threads)
        }
    }
}

/// Draws the initial sparse E/I weight matrix from `ChaCha8Rng::seed_from_u64(config.seed)`.
pub fn initial_weights(config: &SocConfig) -> Result<Mat<f64>, SocError> {
    config.validate()?;
    let n = config.n;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let off = n * (n - 1);
    let k = (config.p * off as f64).round() as usize;
    let scale = config.w0() / (n as f64).sqrt();
    let mut w = Mat::<f64>::zeros(n, n);
    for idx in rand::seq::index::sample(&mut rng, off, k.min(off)).iter() {
        // Off-diagonal index → (row, col), row-major over the n × (n−1) off-diagonal grid.
        let (i, c) = (idx / (n - 1), idx % (n - 1));
        let j = if c >= i { c + 1 } else { c };
        w[(i, j)] = if j < n / 2 {
            scale
        } else {
            -config.gamma * scale
        };
    }
    Ok(w)
}

/// Statistics of one step (α before the update; the others after it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Step index (0-based).
    pub step: usize,
    /// Spectral abscissa `α(W)` before the step.
    pub alpha: f64,
    /// Shift `s` used for the Gramians (NaN when no update was made).
    pub s: f64,
    /// Off-diagonal inhibitory density after the step.
    pub inhibitory_density: f64,
    /// `−mean W[E, I] / mean W[E, E]` (I→E over E→E) after the step.
    pub ratio_ie_ee: f64,
    /// `mean W[I, I] / mean W[I, E]` negated (I→I over E→I) after the step.
    pub ratio_ii_ei: f64,
    /// Whether `α ≤ α_target` (no update was made).
    pub converged: bool,
}

/// Block means `(E→E, I→E, E→I, I→I)` = means of `W[E,E], W[E,I], W[I,E], W[I,I]`.
pub fn block_means(w: MatRef<'_, f64>) -> [f64; 4] {
    let n = w.nrows();
    let h = n / 2;
    let mut m = [0.0; 4];
    for j in 0..n {
        for i in 0..n {
            let b = (i >= h) as usize * 2 + (j >= h) as usize;
            m[b] += w[(i, j)];
        }
    }
    let count = (h * h) as f64;
    [m[0] / count, m[1] / count, m[2] / count, m[3] / count]
}

/// The block-mean ratios `(I→E / E→E, I→I / E→I)` = `(−mean W[E,I] / mean W[E,E],
/// −mean W[I,I] / mean W[I,E])` (both positive under Dale's law; ≈ 3 for the seed's SOC).
pub fn block_ratios(w: MatRef<'_, f64>) -> (f64, f64) {
    let [ee, ie, ei, ii] = block_means(w);
    (-ie / ee, -ii / ei)
}

/// Off-diagonal density of the inhibitory columns: non-zeros / (N·N/2 − N/2).
pub fn inhibitory_density(w: MatRef<'_, f64>) -> f64 {
    let n = w.nrows();
    let h = n / 2;
    let nz = (h..n)
        .map(|j| (0..n).filter(|&i| i != j && w[(i, j)] != 0.0).count())
        .sum::<usize>();
    nz as f64 / (n * h - h) as f64
}

/// The SOC optimizer state.
#[derive(Debug, Clone)]
pub struct SocOptimizer {
    config: SocConfig,
    w: Mat<f64>,
    step: usize,
}

impl SocOptimizer {
    /// Starts from `w0`, or from [`initial_weights`] when `None`; validates both.
    pub fn new(config: SocConfig, w0: Option<Mat<f64>>) -> Result<Self, SocError> {
        config.validate()?;
        let n = config.n;
        let w = match w0 {
            None => initial_weights(&config)?,
            Some(w) => {
                if w.nrows() != n || w.ncols() != n {
                    return Err(SocError::WrongShape {
                        expected: n,
                        rows: w.nrows(),
                        cols: w.ncols(),
                    });
                }
                for j in 0..n {
                    for i in 0..n {
                        let v = w[(i, j)];
                        if !v.is_finite() {
                            return Err(SocError::NonFinite);
                        }
                        if (j < n / 2 && v < 0.0) || (j >= n / 2 && v > 0.0) {
                            return Err(SocError::WrongSign {
                                row: i,
                                col: j,
                                value: v,
                                half: n / 2,
                            });
                        }
                    }
                }
                w
            }
        };
        Ok(Self { config, w, step: 0 })
    }

    /// Resumes at `step` from the weights `w` (a checkpoint); validated like [`Self::new`].
    pub fn resume(config: SocConfig, w: Mat<f64>, step: usize) -> Result<Self, SocError> {
        let mut s = Self::new(config, Some(w))?;
        s.step = step;
        Ok(s)
    }

    /// Current weights.
    pub fn weights(&self) -> MatRef<'_, f64> {
        self.w.as_ref()
    }

    /// Number of steps taken.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// The configuration.
    pub fn config(&self) -> &SocConfig {
        &self.config
    }

    /// One step: computes `α(W)`; if `α > α_target`, applies steps 1–7 (one Schur
    /// decomposition serves α and both Gramians).
    pub fn step(&mut self) -> Result<StepStats, SocError> {
        let cfg = &self.config;
        let par = cfg.par();
        let n = cfg.n;
        let h = n / 2;
        let schur = RealSchur::new(self.w.as_ref(), par)?;
        let alpha = schur.spectral_abscissa();
        if alpha <= cfg.alpha_target {
            return Ok(self.stats(alpha, f64::NAN, true));
        }
        let s = (cfg.shift_factor * alpha).max(alpha + cfg.shift_margin);
        let g = SchurGramians::new(&schur, s, par)?.normalized_qp(&schur, par);
        let w = &mut self.w;
        for j in h..n {
            for i in 0..n {
                let v = w[(i, j)] - cfg.eta * g[(i, j)];
                w[(i, j)] = v.min(0.0);
            }
        }
        let [ee, ie, ei, ii] = block_means(w.as_ref());
        let (f_ie, f_ii) = (-cfg.gamma * ee / ie, -cfg.gamma * ei / ii);
        if !(f_ie.is_finite() && f_ii.is_finite()) {
            return Err(SocError::InvalidParameter {
                name: "inhibitory block mean",
                value: 0.0,
                expected: "non-zero (an inhibitory block vanished)",
            });
        }
        for j in h..n {
            for i in 0..h {
                w[(i, j)] *= f_ie;
            }
            for i in h..n {
                w[(i, j)] *= f_ii;
            }
        }
        // Sparsity: the k most negative of W[:, I] flattened column-major, ties by position
        // (equal to a stable sort); selection is O(N²) instead of a full sort.
        let total = n * h;
        let keep = ((cfg.inhibitory_density * total as f64).round() as usize).saturating_sub(1);
        if keep < total {
            let mut idx: Vec<usize> = (0..total).collect();
            let val = |k: usize| w[(k % n, h + k / n)];
            let cmp = |a: &usize, b: &usize| val(*a).total_cmp(&val(*b)).then(a.cmp(b));
            if keep > 0 {
                idx.select_nth_unstable_by(keep - 1, cmp);
            }
            for &k in &idx[keep..] {
                w[(k % n, h + k / n)] = 0.0;
            }
        }
        for i in 0..n {
            w[(i, i)] = 0.0;
        }
        Ok(self.stats(alpha, s, false))
    }

    fn stats(&mut self, alpha: f64, s: f64, converged: bool) -> StepStats {
        let (ratio_ie_ee, ratio_ii_ei) = block_ratios(self.w.as_ref());
        let st = StepStats {
            step: self.step,
            alpha,
            s,
            inhibitory_density: inhibitory_density(self.w.as_ref()),
            ratio_ie_ee,
            ratio_ii_ei,
            converged,
        };
        if !converged {
            self.step += 1;
        }
        st
    }

    /// Runs until `α ≤ α_target` or `max_steps`, calling `on_step` after every step; returns
    /// all step statistics (the last one has `converged = true` if the target was reached).
    pub fn run(
        &mut self,
        mut on_step: impl FnMut(&StepStats, MatRef<'_, f64>),
    ) -> Result<Vec<StepStats>, SocError> {
        let mut out = Vec::new();
        while self.step < self.config.max_steps {
            let st = self.step()?;
            on_step(&st, self.w.as_ref());
            out.push(st);
            if st.converged {
                break;
            }
        }
        if !out.last().is_some_and(|s| s.converged) {
            // Check the last W without taking another step (max_steps may have run out).
            let alpha = RealSchur::new(self.w.as_ref(), self.config.par())?.spectral_abscissa();
            if alpha <= self.config.alpha_target {
                out.push(self.stats(alpha, f64::NAN, true));
            }
        }
        Ok(out)
    }
}

/// Eigenvalues `(re, im)` of `w`.
pub fn eigenvalues(w: MatRef<'_, f64>) -> Result<Vec<(f64, f64)>, SocError> {
    Ok(RealSchur::new(w, Par::Seq)?.eigenvalues())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SocConfig {
        SocConfig {
            n: 24,
            seed: 3,
            ..SocConfig::default()
        }
    }

    fn reduced() -> SocConfig {
        SocConfig {
            n: 40,
            seed: 3,
            ..SocConfig::default()
        }
    }

    #[test]
    fn initial_weights_follow_the_recipe() {
        let cfg = SocConfig::default();
        let w = initial_weights(&cfg).unwrap();
        let n = cfg.n;
        let nz = (0..n)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .filter(|&(i, j)| w[(i, j)] != 0.0)
            .count();
        assert_eq!(nz, (0.1 * (n * (n - 1)) as f64).round() as usize);
        assert!((0..n).all(|i| w[(i, i)] == 0.0));
        let scale = cfg.w0() / (n as f64).sqrt();
        assert!((cfg.w0() - 14.907119849998598).abs() < 1e-12);
        for j in 0..n {
            for i in 0..n {
                let v = w[(i, j)];
                assert!(v == 0.0 || v == if j < n / 2 { scale } else { -3.0 * scale });
            }
        }
        let alpha = RealSchur::new(w.as_ref(), Par::Seq)
            .unwrap()
            .spectral_abscissa();
        // The seed reference draw had α ≈ 10.7; the bulk radius is R = 10.
        assert!(alpha > 8.5 && alpha < 12.0, "α(W0) = {alpha}");
    }

    #[test]
    fn reduced_run_reaches_target_and_is_deterministic() {
        let cfg = reduced();
        let mut a = SocOptimizer::new(cfg.clone(), None).unwrap();
        let w0 = a.weights().to_owned();
        let ra = a.run(|_, _| {}).unwrap();
        // The second run (same W0) is compared over its first 200 steps to keep the test short.
        let short = SocConfig {
            max_steps: 200,
            ..cfg.clone()
        };
        let mut b = SocOptimizer::new(short, Some(w0.clone())).unwrap();
        let rb = b.run(|_, _| {}).unwrap();
        let (alpha_a, alpha_b): (Vec<f64>, Vec<f64>) = (
            ra.iter().map(|s| s.alpha).collect(),
            rb.iter().map(|s| s.alpha).collect(),
        );
        assert_eq!(
            alpha_a[..200],
            alpha_b[..200],
            "two runs from the same W0 differ"
        );
        let last = ra.last().unwrap();
        eprintln!(
            "N=40: α {} → {} in {} steps; density {} ratios {} {}",
            ra[0].alpha,
            last.alpha,
            a.steps(),
            ra[ra.len() - 2].inhibitory_density,
            ra[ra.len() - 2].ratio_ie_ee,
            ra[ra.len() - 2].ratio_ii_ei
        );
        assert!(last.converged && last.alpha <= 0.15);
        assert!(ra[0].alpha > 2.0);
        // Excitatory weights unchanged; Dale's law holds.
        let w = a.weights();
        for j in 0..cfg.n {
            for i in 0..cfg.n {
                if j < cfg.n / 2 {
                    assert_eq!(w[(i, j)], w0[(i, j)]);
                } else {
                    assert!(w[(i, j)] <= 0.0);
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let e = |c: SocConfig| SocOptimizer::new(c, None).unwrap_err();
        assert_eq!(e(SocConfig { n: 25, ..small() }), SocError::OddSize(25));
        assert!(matches!(
            e(SocConfig { p: 0.0, ..small() }),
            SocError::InvalidParameter { name: "p", .. }
        ));
        assert!(matches!(
            e(SocConfig { p: 1.5, ..small() }),
            SocError::InvalidParameter { name: "p", .. }
        ));
        assert!(matches!(
            e(SocConfig {
                gamma: 0.0,
                ..small()
            }),
            SocError::InvalidParameter { name: "gamma", .. }
        ));
        assert!(matches!(
            e(SocConfig {
                gamma: -1.0,
                ..small()
            }),
            SocError::InvalidParameter { name: "gamma", .. }
        ));
        let w = Mat::<f64>::zeros(24, 23);
        assert_eq!(
            SocOptimizer::new(small(), Some(w)).unwrap_err(),
            SocError::WrongShape {
                expected: 24,
                rows: 24,
                cols: 23
            }
        );
        let mut w = Mat::<f64>::zeros(24, 24);
        w[(3, 15)] = 0.5;
        let err = SocOptimizer::new(small(), Some(w)).unwrap_err();
        assert_eq!(
            err,
            SocError::WrongSign {
                row: 3,
                col: 15,
                value: 0.5,
                half: 12
            }
        );
        assert!(err.to_string().contains("Dale"));
        let mut w = Mat::<f64>::zeros(24, 24);
        w[(3, 5)] = -0.5;
        assert!(matches!(
            SocOptimizer::new(small(), Some(w)),
            Err(SocError::WrongSign { col: 5, .. })
        ));
    }
}
