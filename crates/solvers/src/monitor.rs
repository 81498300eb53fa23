//! Monitors: what a simulation records, and the gradient of a loss on the record.
//!
//! * `Raw` (stride 1) and `SubSample` record `X_{k+1}` for `k = 0, stride, 2·stride, …`
//!   (`trace[::stride]`, TVB-O's observation; the first sample is the state after one step).
//! * `TemporalAverage` records the mean of each window of `stride` consecutive states,
//!   `mean(X_{m·stride+1} … X_{(m+1)·stride})` (tvb-library's `TemporalAverage`); an incomplete
//!   last window is dropped.
//!
//! * `Bold` runs the Balloon-Windkessel model of [`crate::bold`] alongside the network and
//!   records its BOLD signal every TR after a transient (one signal per region).
//!
//! Sub-sampling and averages are linear in the states, so the adjoint adds the trace gradient
//! (divided by the window length for averages) to the state adjoint at the recorded steps; the
//! BOLD adjoint runs backwards through the haemodynamic recursion inside the kernel.

use crate::bold::BoldMonitor;

/// How samples are formed.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MonitorKind {
    /// Every `stride`-th state (stride 1: raw).
    #[default]
    SubSample,
    /// Mean over windows of `stride` steps.
    TemporalAverage,
    /// The BOLD signal of the Balloon-Windkessel model (`variables` holds one entry, for the
    /// trace's shape; the driver is in the [`BoldMonitor`]).
    Bold(BoldMonitor),
}

/// Which state variables are recorded, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// Sampling kind.
    pub kind: MonitorKind,
    /// Steps per sample.
    pub stride: usize,
    /// State variables recorded (indices into the model's state).
    pub variables: Vec<usize>,
}

impl Monitor {
    /// Every step, the given variables.
    pub fn raw(variables: Vec<usize>) -> Self {
        Self {
            kind: MonitorKind::SubSample,
            stride: 1,
            variables,
        }
    }

    /// Number of recorded samples for a run of `steps` steps.
    pub fn samples(&self, steps: usize) -> usize {
        match &self.kind {
            MonitorKind::SubSample => steps.div_ceil(self.stride),
            MonitorKind::TemporalAverage => steps / self.stride,
            MonitorKind::Bold(b) => b.samples(steps),
        }
    }

    /// The sample step `k` (producing `X_{k+1}`) contributes to, with its weight (`None` for
    /// the BOLD monitor, whose samples are not linear in the state).
    #[inline]
    pub fn sample_of(&self, k: usize, steps: usize) -> Option<(usize, f64)> {
        match &self.kind {
            MonitorKind::SubSample => k
                .is_multiple_of(self.stride)
                .then(|| (k / self.stride, 1.0)),
            MonitorKind::TemporalAverage => {
                let m = k / self.stride;
                (m < steps / self.stride).then(|| (m, 1.0 / self.stride as f64))
            }
            MonitorKind::Bold(_) => None,
        }
    }

    /// Time stamp (in steps) of sample `m`: the recorded step for sub-sampling, the window's
    /// last step for averages.
    pub fn sample_step(&self, m: usize) -> usize {
        match &self.kind {
            MonitorKind::SubSample => m * self.stride + 1,
            MonitorKind::TemporalAverage => (m + 1) * self.stride,
            MonitorKind::Bold(b) => b.transient + (m + 1) * b.period,
        }
    }

    /// The BOLD monitor, if this is one.
    pub fn bold(&self) -> Option<&BoldMonitor> {
        match &self.kind {
            MonitorKind::Bold(b) => Some(b),
            _ => None,
        }
    }
}
