//! Structural connectivity: weights, tract lengths, labels, and integer conduction delays.

use thiserror::Error;

/// Why a connectome was rejected.
#[derive(Debug, Error, PartialEq)]
pub enum ConnectomeError {
    /// A matrix is not square.
    #[error("{what} matrix is not square: {rows} rows but row {row} has {cols} entries")]
    NotSquare {
        /// Which matrix.
        what: &'static str,
        /// Number of rows.
        rows: usize,
        /// Offending row.
        row: usize,
        /// Entries in that row.
        cols: usize,
    },
    /// Weights and lengths disagree in size.
    #[error("weights are {weights}x{weights} but lengths are {lengths}x{lengths}")]
    ShapeMismatch {
        /// Regions in the weights.
        weights: usize,
        /// Regions in the lengths.
        lengths: usize,
    },
    /// A non-finite entry.
    #[error("{what}[{row},{col}] = {value} is not finite")]
    NotFinite {
        /// Which matrix.
        what: &'static str,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// A negative tract length.
    #[error("lengths[{row},{col}] = {value} is negative; tract lengths must be >= 0")]
    NegativeLength {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// Wrong number of labels.
    #[error("{labels} region labels for a {regions}-region connectome")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Regions.
        regions: usize,
    },
    /// An empty connectome.
    #[error("the connectome has no regions")]
    Empty,
    /// Conduction speed or dt not positive.
    #[error("conduction speed ({speed}) and dt ({dt}) must be positive and finite")]
    BadSpeed {
        /// Conduction speed in mm/ms.
        speed: f64,
        /// Step in ms.
        dt: f64,
    },
}

/// Weight normalisation applied when a connectome is loaded (none by default, as TVB-O).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalisation {
    /// Raw weights.
    #[default]
    None,
    /// Divide by the largest weight.
    Max,
    /// Divide each row by its sum (in-strength 1 per target region).
    RowSum,
}

impl Normalisation {
    /// Names accepted in experiment files.
    pub const NAMES: [&'static str; 3] = ["none", "max", "row_sum"];

    /// Parses a normalisation name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "max" => Some(Self::Max),
            "row_sum" => Some(Self::RowSum),
            _ => None,
        }
    }
}

/// A validated connectome: `weights[i*n + j]` is the weight from source `j` onto target `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Connectome {
    n: usize,
    weights: Vec<f64>,
    lengths: Vec<f64>,
    labels: Vec<String>,
}

/// Integer conduction delays in steps, laid out for the coupling gather.
#[derive(Debug, Clone, PartialEq)]
pub struct Delays {
    /// `lag[i*n + j]`: how many steps back target `i` reads source `j` (= round(L[j,i]/speed/dt)).
    pub lag: Vec<usize>,
    /// History length `max lag + 1` (the newest entry is the current state).
    pub horizon: usize,
}

fn check_rows(what: &'static str, rows: &[Vec<f64>]) -> Result<Vec<f64>, ConnectomeError> {
    let n = rows.len();
    let mut flat = Vec::with_capacity(n * n);
    for (row, r) in rows.iter().enumerate() {
        if r.len() != n {
            return Err(ConnectomeError::NotSquare {
                what,
                rows: n,
                row,
                cols: r.len(),
            });
        }
        for (col, &value) in r.iter().enumerate() {
            if !value.is_finite() {
                return Err(ConnectomeError::NotFinite {
                    what,
                    row,
                    col,
                    value,
                });
            }
        }
        flat.extend_from_slice(r);
    }
    Ok(flat)
}

impl Connectome {
    /// Validates and builds a connectome from row-major matrices (rows = targets) and labels.
    pub fn new(
        weights: &[Vec<f64>],
        lengths: &[Vec<f64>],
        labels: Vec<String>,
    ) -> Result<Self, ConnectomeError> {
        let n = weights.len();
        if n == 0 {
            return Err(ConnectomeError::Empty);
        }
        if lengths.len() != n {
            return Err(ConnectomeError::ShapeMismatch {
                weights: n,
                lengths: lengths.len(),
            });
        }
        let w = check_rows("weights", weights)?;
        let l = check_rows("lengths", lengths)?;
        if let Some(k) = l.iter().position(|&v| v < 0.0) {
            return Err(ConnectomeError::NegativeLength {
                row: k / n,
                col: k % n,
                value: l[k],
            });
        }
        if labels.len() != n {
            return Err(ConnectomeError::LabelCount {
                labels: labels.len(),
                regions: n,
            });
        }
        Ok(Self {
            n,
            weights: w,
            lengths: l,
            labels,
        })
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no regions (never, for a validated connectome).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Row-major weights, `[target, source]`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Row-major tract lengths in mm.
    pub fn lengths(&self) -> &[f64] {
        &self.lengths
    }

    /// Region labels.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Returns a copy with normalised weights.
    pub fn normalised(mut self, how: Normalisation) -> Self {
        match how {
            Normalisation::None => {}
            Normalisation::Max => {
                let max = self.weights.iter().cloned().fold(0.0_f64, f64::max);
                if max > 0.0 {
                    self.weights.iter_mut().for_each(|w| *w /= max);
                }
            }
            Normalisation::RowSum => {
                for row in self.weights.chunks_mut(self.n) {
                    let s: f64 = row.iter().sum();
                    if s != 0.0 {
                        row.iter_mut().for_each(|w| *w /= s);
                    }
                }
            }
        }
        self
    }

    /// Integer delays `round(L / speed / dt)` as TVB-O computes them; target `i` reads source
    /// `j` with the lag of `L[j, i]` (the transpose, irrelevant for symmetric lengths).
    pub fn delays(&self, speed: f64, dt: f64) -> Result<Delays, ConnectomeError> {
        if !(speed > 0.0 && dt > 0.0 && speed.is_finite() && dt.is_finite()) {
            return Err(ConnectomeError::BadSpeed { speed, dt });
        }
        let n = self.n;
        let mut lag = vec![0usize; n * n];
        for i in 0..n {
            for j in 0..n {
                // jnp.round rounds half to even; f64::round_ties_even matches it.
                lag[i * n + j] = (self.lengths[j * n + i] / speed / dt).round_ties_even() as usize;
            }
        }
        let horizon = lag.iter().copied().max().unwrap_or(0) + 1;
        Ok(Delays { lag, horizon })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &[&[f64]]) -> Vec<Vec<f64>> {
        v.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        let l = |n| vec!["x".to_string(); n];
        let sq = m(&[&[0.0, 1.0], &[1.0, 0.0]]);
        assert!(matches!(
            Connectome::new(&m(&[&[0.0, 1.0], &[1.0]]), &sq, l(2)),
            Err(ConnectomeError::NotSquare { row: 1, .. })
        ));
        assert!(matches!(
            Connectome::new(&sq, &m(&[&[0.0]]), l(2)),
            Err(ConnectomeError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            Connectome::new(&m(&[&[0.0, f64::NAN], &[1.0, 0.0]]), &sq, l(2)),
            Err(ConnectomeError::NotFinite { row: 0, col: 1, .. })
        ));
        assert!(matches!(
            Connectome::new(&sq, &m(&[&[0.0, -1.0], &[1.0, 0.0]]), l(2)),
            Err(ConnectomeError::NegativeLength { .. })
        ));
        assert!(matches!(
            Connectome::new(&sq, &sq, l(3)),
            Err(ConnectomeError::LabelCount {
                labels: 3,
                regions: 2
            })
        ));
    }

    #[test]
    fn delays_use_the_transpose_and_round_half_even() {
        let w = m(&[&[0.0, 1.0], &[1.0, 0.0]]);
        let len = m(&[&[0.0, 9.0], &[4.5, 0.0]]);
        let c = Connectome::new(&w, &len, vec!["a".into(), "b".into()]).unwrap();
        let d = c.delays(3.0, 1.0).unwrap();
        // target 0 reads source 1 with L[1,0] = 4.5 -> 1.5 -> 2 (half to even);
        // target 1 reads source 0 with L[0,1] = 9 -> 3.
        assert_eq!(d.lag, vec![0, 2, 3, 0]);
        assert_eq!(d.horizon, 4);
        let norm = c.clone().normalised(Normalisation::Max);
        assert_eq!(norm.weights(), &[0.0, 1.0, 1.0, 0.0]);
        assert!(c.delays(0.0, 1.0).is_err());
    }
}
