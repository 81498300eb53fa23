//! The seam each experiment family implements for the one training [`driver`](crate::driver).
//!
//! A family owns its model, data, loss and optimizer; the driver owns the loop (start or
//! resume, stop conditions, interruption, checkpoints, divergence). A new family implements
//! [`Family`] and an encoding of its state into a [`Snapshot`]; nothing else.

/// How the step column of a trajectory row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepColumn {
    /// `7` (the network fits' `trajectory.csv`).
    Integer,
    /// `7.0`: the step is the first value of the row (rate networks, SOC).
    InRow,
}

/// What one optimisation step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The row's step number (the trajectory's first column).
    pub step: usize,
    /// The row's values after the step column (with [`StepColumn::InRow`]: all of them).
    pub row: Vec<f64>,
    /// Whether the loss (and gradient) were finite; a non-finite step writes no row.
    pub finite: bool,
    /// Why the run ends after this row, if it does (steps exhausted, target reached, early
    /// stopping).
    pub stop: Option<String>,
    /// For a non-finite step: the family's explanation (parameters, where it came from).
    pub detail: String,
}

/// The full resumable state of a family: exact parameters, optimizer state, step and any
/// noise/RNG cursor, so that restoring it continues bit-identically.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Steps completed.
    pub step: usize,
    /// Parameter tensors (exact f64).
    pub params: Vec<Vec<f64>>,
    /// Their shapes.
    pub shapes: Vec<[usize; 2]>,
    /// Everything else (optimizer moments, warm starts, counters), JSON with f64 bit patterns.
    pub state: Vec<u8>,
    /// Wall-clock seconds spent up to this state (carried across resumes).
    pub wall_time: f64,
}

/// One experiment family behind the training driver.
pub trait Family {
    /// Column names of a trajectory row, the step column first.
    fn columns(&self) -> Vec<String>;
    /// How the step column is written.
    fn step_column(&self) -> StepColumn {
        StepColumn::Integer
    }
    /// Steps completed so far.
    fn steps_done(&self) -> usize;
    /// Why there is nothing left to do before any step (a resume of a finished run), if so.
    fn finished(&self) -> Option<String> {
        None
    }
    /// One optimisation step: evaluate the current state (one trajectory row) and, unless it
    /// is the last row or not finite, update it.
    fn step(&mut self) -> anyhow::Result<StepReport>;
    /// The full state now.
    fn snapshot(&self) -> anyhow::Result<Snapshot>;
    /// Restores a state of [`Family::snapshot`].
    fn restore(&mut self, snapshot: &Snapshot) -> anyhow::Result<()>;
}
