//! Period of a sustained oscillation from a sampled time series.

use crate::error::LowdimError;

/// Period of an oscillation from upward crossings of the mid level.
///
/// The first `discard` fraction of the series (the transient) is ignored; the level is the
/// midpoint of the remaining series' range, crossing times are linearly interpolated, and the
/// period is `(t_last − t_first)/(crossings − 1)` (the mean spacing). Needs at least three
/// crossings.
pub fn oscillation_period(times: &[f64], values: &[f64], discard: f64) -> Result<f64, LowdimError> {
    if times.len() != values.len() {
        return Err(LowdimError::Shape {
            what: "time series",
            expected: times.len(),
            got: values.len(),
        });
    }
    if !(0.0..1.0).contains(&discard) {
        return Err(LowdimError::InvalidParameter {
            name: "discard",
            value: discard,
            reason: "must be in [0, 1)",
        });
    }
    let start = (discard * times.len() as f64) as usize;
    let (t, v) = (&times[start..], &values[start..]);
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let level = 0.5 * (lo + hi);
    let crossings: Vec<f64> = (1..v.len())
        .filter(|&k| v[k - 1] < level && v[k] >= level)
        .map(|k| t[k - 1] + (level - v[k - 1]) / (v[k] - v[k - 1]) * (t[k] - t[k - 1]))
        .collect();
    if crossings.len() < 3 || hi - lo <= 1e-9 * hi.abs().max(1.0) {
        return Err(LowdimError::NotFound(format!(
            "no sustained oscillation: {} upward crossings, range {:.3e}",
            crossings.len(),
            hi - lo
        )));
    }
    Ok((crossings[crossings.len() - 1] - crossings[0]) / (crossings.len() - 1) as f64)
}
