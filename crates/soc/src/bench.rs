//! Benchmarks for `fit bench`: time per SOC step, per Schur decomposition, and the full
//! reference run.

use crate::error::SocError;
use crate::optimizer::{
    SocConfig, SocOptimizer, StepStats, block_ratios, inhibitory_density, initial_weights,
};
use crate::schur::RealSchur;
use faer::{Mat, Par};
use std::time::Instant;

/// Milliseconds per SOC step (wall clock, sequential linear algebra) for each `N` in `sizes`
/// (seeded initial weights, seed 0); the first step is a warm-up.
pub fn bench_steps(sizes: &[usize]) -> Vec<(usize, f64)> {
    sizes
        .iter()
        .map(|&n| {
            let cfg = SocConfig {
                n,
                alpha_target: f64::MIN,
                ..SocConfig::default()
            };
            let mut opt = SocOptimizer::new(cfg, None).expect("valid default configuration");
            opt.step().expect("SOC step");
            let reps = (40_000_000 / (n * n * n)).clamp(3, 50);
            let t0 = Instant::now();
            for _ in 0..reps {
                opt.step().expect("SOC step");
            }
            (n, t0.elapsed().as_secs_f64() * 1e3 / reps as f64)
        })
        .collect()
}

/// Milliseconds per real Schur decomposition alone ([`RealSchur::new`], sequential) of the SOC
/// initial weights (seed 0) for each `N` in `sizes`: median of timed repetitions after one
/// warm-up, comparable with LAPACK's `dgees` alone (`tools/bench_soc_numpy.py` prints it).
pub fn bench_schur(sizes: &[usize]) -> Vec<(usize, f64)> {
    sizes
        .iter()
        .map(|&n| {
            let cfg = SocConfig {
                n,
                ..SocConfig::default()
            };
            let w = initial_weights(&cfg).expect("valid default configuration");
            RealSchur::new(w.as_ref(), Par::Seq).expect("Schur decomposition");
            let reps = (40_000_000 / (n * n * n)).clamp(5, 51);
            let mut ms: Vec<f64> = (0..reps)
                .map(|_| {
                    let t0 = Instant::now();
                    let s = RealSchur::new(w.as_ref(), Par::Seq).expect("Schur decomposition");
                    let dt = t0.elapsed().as_secs_f64() * 1e3;
                    std::hint::black_box(s);
                    dt
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            (n, ms[ms.len() / 2])
        })
        .collect()
}

/// Summary of a full SOC run.
#[derive(Debug, Clone)]
pub struct SocRunSummary {
    /// Per-step statistics (the last one is the converged check).
    pub steps: Vec<StepStats>,
    /// Initial weights.
    pub w0: Mat<f64>,
    /// Final weights.
    pub w: Mat<f64>,
    /// Final off-diagonal inhibitory density.
    pub inhibitory_density: f64,
    /// Final `−mean W[E,I] / mean W[E,E]` and `−mean W[I,I] / mean W[I,E]`.
    pub ratios: (f64, f64),
    /// Whether every excitatory weight is unchanged.
    pub excitatory_unchanged: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The full default run (N = 200, seeded W0): α from ≈ 10 to ≤ 0.15.
pub fn full_run(config: SocConfig) -> Result<SocRunSummary, SocError> {
    let t0 = Instant::now();
    let mut opt = SocOptimizer::new(config, None)?;
    let w0 = opt.weights().to_owned();
    let steps = opt.run(|_, _| {})?;
    let w = opt.weights().to_owned();
    let n = w.nrows();
    let excitatory_unchanged = (0..n / 2).all(|j| (0..n).all(|i| w[(i, j)] == w0[(i, j)]));
    Ok(SocRunSummary {
        steps,
        inhibitory_density: inhibitory_density(w.as_ref()),
        ratios: block_ratios(w.as_ref()),
        excitatory_unchanged,
        w0,
        w,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full N = 200 run (minutes in the dev profile): `cargo test -p soc full_run -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn full_run_n200() {
        let r = full_run(SocConfig::default()).unwrap();
        let last = r.steps.last().unwrap();
        eprintln!(
            "N=200: α {} → {} in {} steps, {:.1} s; density {}, ratios {:?}, E unchanged {}",
            r.steps[0].alpha,
            last.alpha,
            r.steps.len() - 1,
            r.seconds,
            r.inhibitory_density,
            r.ratios,
            r.excitatory_unchanged
        );
        assert!(last.converged && last.alpha <= 0.15);
        assert!((1000..=3000).contains(&(r.steps.len() - 1)));
        assert!((r.inhibitory_density - 0.397).abs() < 0.01);
        assert!(r.excitatory_unchanged);
        assert!((r.ratios.0 - 3.0).abs() < 0.3 && (r.ratios.1 - 3.0).abs() < 0.3);
    }

    #[test]
    #[ignore]
    fn bench_steps_report() {
        for (n, ms) in bench_steps(&[100, 200, 400]) {
            eprintln!("N={n}: {ms:.2} ms/step");
        }
    }
}
