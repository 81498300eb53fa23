//! Additive noise drawn inside the kernel from a seekable stream.
//!
//! The draws `ξ ~ N(0, 1)` come in the order `[step, state variable, node]` from a ChaCha8
//! generator (standard normals by rand_distr's ziggurat), so a seeded run gives exactly the
//! numbers the up-front `[steps, variables, nodes]` array of earlier versions held. Nothing of
//! size `steps` is stored: the forward pass draws one step at a time, keeps a copy of the
//! generator (a few hundred bytes) at each adjoint checkpoint, and the adjoint redraws one
//! segment from there. The numbers therefore do not depend on the segment length, the batch
//! layout or how a run is chunked (a chunk continues from the generator the previous one
//! returned). Independent realisations use separate ChaCha streams (`set_stream`).
//!
//! An array of draws (from a `.npy` file) can replace the generator for exact cross-checks with
//! other simulators.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// Where the standard normal draws come from.
#[derive(Debug, Clone, PartialEq)]
pub enum NoiseSource {
    /// No noise (deterministic).
    None,
    /// A generator in the state the run starts from.
    Generator(Box<ChaCha8Rng>),
    /// Precomputed draws `[steps, state variables, nodes]`, starting at the given offset.
    Draws(Arc<Vec<f64>>, usize),
    /// Independent realisations: parameter set `b` of a batch uses realisation `b mod K`
    /// (noise-averaged losses evaluate every realisation as one batch).
    Realisations(Arc<Vec<NoiseSource>>),
}

impl NoiseSource {
    /// The generator of `seed`, realisation (ChaCha stream) `realisation`; realisation 0 is
    /// the plain `seed_from_u64(seed)` stream.
    pub fn seeded(seed: u64, realisation: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if realisation > 0 {
            rng.set_stream(realisation);
        }
        Self::Generator(Box::new(rng))
    }

    /// The same draws for a run of `steps` steps of `variables × nodes` values, kept in memory
    /// when they take at most `budget` bytes (a generator otherwise). A fit evaluates the same
    /// draws at every step, so keeping them saves regenerating them; the numbers are identical
    /// either way.
    pub fn materialised(self, steps: usize, variables: usize, nodes: usize, budget: usize) -> Self {
        let len = steps.saturating_mul(variables).saturating_mul(nodes);
        match &self {
            Self::Generator(rng) if len.saturating_mul(8) <= budget => {
                let mut rng = (**rng).clone();
                Self::Draws(
                    Arc::new((0..len).map(|_| StandardNormal.sample(&mut rng)).collect()),
                    0,
                )
            }
            _ => self,
        }
    }

    /// Whether there is any noise.
    pub fn is_some(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// The source parameter set `b` of a batch draws from.
    pub fn for_set(&self, b: usize) -> &NoiseSource {
        match self {
            Self::Realisations(r) => r[b % r.len()].for_set(0),
            other => other,
        }
    }

    /// `k` independent realisations of the generator of `seed` (realisation 0 is the plain
    /// seeded stream), each kept in memory when all of them fit in `budget` bytes.
    pub fn realisations(
        seed: u64,
        k: usize,
        steps: usize,
        variables: usize,
        nodes: usize,
        budget: usize,
    ) -> Self {
        let each = budget / k.max(1);
        let all: Vec<NoiseSource> = (0..k as u64)
            .map(|r| Self::seeded(seed, r).materialised(steps, variables, nodes, each))
            .collect();
        if k == 1 {
            all.into_iter().next().expect("one realisation")
        } else {
            Self::Realisations(Arc::new(all))
        }
    }
}

/// Where a cursor stood: what the adjoint keeps per checkpoint segment.
#[derive(Debug, Clone)]
pub enum NoiseMark {
    /// No noise.
    None,
    /// The generator's state.
    Generator(Box<ChaCha8Rng>),
    /// Position in the draws.
    Draws(usize),
}

/// A cursor into a noise source during one run (one per run, so the generator is kept inline).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum NoiseCursor<'a> {
    /// No noise.
    None,
    /// A running generator.
    Generator(ChaCha8Rng),
    /// Draws and the position of the next one.
    Draws(&'a [f64], usize),
}

impl<'a> NoiseCursor<'a> {
    /// A cursor at the start of `src`.
    pub fn new(src: &'a NoiseSource) -> Self {
        match src {
            NoiseSource::None => Self::None,
            NoiseSource::Generator(r) => Self::Generator((**r).clone()),
            NoiseSource::Draws(d, offset) => Self::Draws(d, *offset),
            NoiseSource::Realisations(r) => Self::new(&r[0]),
        }
    }

    /// Fills `eta` with the next step's `scale·ξ` (`eta.len()` values); zeros when there is
    /// no noise.
    #[inline]
    pub fn next_step(&mut self, scale: f64, eta: &mut [f64]) {
        match self {
            Self::None => eta.fill(0.0),
            Self::Generator(rng) => {
                for e in eta.iter_mut() {
                    let xi: f64 = StandardNormal.sample(rng);
                    *e = scale * xi;
                }
            }
            Self::Draws(d, pos) => {
                let len = eta.len();
                for (e, xi) in eta.iter_mut().zip(&d[*pos..*pos + len]) {
                    *e = scale * xi;
                }
                *pos += len;
            }
        }
    }

    /// The next step's standard normal draws (`buf.len()` values, unscaled): a slice of the
    /// draws themselves, or the generator's output written into `buf`; `None` without noise.
    #[inline]
    pub fn next_raw<'b>(&'b mut self, buf: &'b mut [f64]) -> Option<&'b [f64]> {
        let len = buf.len();
        match self {
            Self::None => None,
            Self::Generator(rng) => {
                for e in buf.iter_mut() {
                    *e = StandardNormal.sample(rng);
                }
                Some(buf)
            }
            Self::Draws(d, pos) => {
                let at = *pos;
                *pos += len;
                Some(&d[at..at + len])
            }
        }
    }

    /// A mark from which [`NoiseCursor::resume`] continues (cheap: no draws are copied).
    pub fn mark(&self) -> NoiseMark {
        match self {
            Self::None => NoiseMark::None,
            Self::Generator(r) => NoiseMark::Generator(Box::new(r.clone())),
            Self::Draws(_, pos) => NoiseMark::Draws(*pos),
        }
    }

    /// A cursor on `src` continuing from `mark`.
    pub fn resume(src: &'a NoiseSource, mark: &NoiseMark) -> Self {
        match (src, mark) {
            (NoiseSource::Draws(d, _), NoiseMark::Draws(pos)) => Self::Draws(d, *pos),
            (_, NoiseMark::Generator(r)) => Self::Generator((**r).clone()),
            _ => Self::None,
        }
    }

    /// The source that continues from here, for the cursor of `src`.
    pub fn remaining(&self, src: &NoiseSource) -> NoiseSource {
        match (self, src) {
            (Self::Generator(r), _) => NoiseSource::Generator(Box::new(r.clone())),
            (Self::Draws(_, pos), NoiseSource::Draws(d, _)) => NoiseSource::Draws(d.clone(), *pos),
            _ => NoiseSource::None,
        }
    }
}
