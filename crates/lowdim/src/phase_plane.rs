//! Phase-plane geometry of 2-D systems: nullclines.

use crate::drift::{Drift, eval_drift};
use crate::error::LowdimError;
use burn::tensor::Device;

/// Points on the two nullclines `f_0(x, y) = 0` and `f_1(x, y) = 0` of a 2-D drift, found as
/// sign changes of each component along the rows and columns of an `n × n` grid over
/// `[x_lo, x_hi] × [y_lo, y_hi]`, linearly interpolated. One batched drift evaluation.
pub fn nullclines<D: Drift + ?Sized>(
    model: &D,
    x_range: (f64, f64),
    y_range: (f64, f64),
    n: usize,
    device: &Device,
) -> Result<[Vec<(f64, f64)>; 2], LowdimError> {
    if model.dim() != 2 {
        return Err(LowdimError::Shape {
            what: "phase-plane dimension",
            expected: 2,
            got: model.dim(),
        });
    }
    if n < 2 {
        return Err(LowdimError::Shape {
            what: "nullcline grid",
            expected: 2,
            got: n,
        });
    }
    let xs: Vec<f64> = (0..n)
        .map(|i| x_range.0 + (x_range.1 - x_range.0) * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|j| y_range.0 + (y_range.1 - y_range.0) * j as f64 / (n - 1) as f64)
        .collect();
    let pts: Vec<f64> = ys
        .iter()
        .flat_map(|&y| xs.iter().flat_map(move |&x| [x, y]))
        .collect();
    let f = eval_drift(model, 0.0, &pts, device);
    let val = |c: usize, i: usize, j: usize| f[(j * n + i) * 2 + c];
    let mut out = [Vec::new(), Vec::new()];
    for (c, curve) in out.iter_mut().enumerate() {
        for j in 0..n {
            for i in 0..n {
                let v = val(c, i, j);
                if i + 1 < n {
                    let u = val(c, i + 1, j);
                    if (v <= 0.0) != (u <= 0.0) {
                        let s = v / (v - u);
                        curve.push((xs[i] + s * (xs[i + 1] - xs[i]), ys[j]));
                    }
                }
                if j + 1 < n {
                    let u = val(c, i, j + 1);
                    if (v <= 0.0) != (u <= 0.0) {
                        let s = v / (v - u);
                        curve.push((xs[i], ys[j] + s * (ys[j + 1] - ys[j])));
                    }
                }
            }
        }
    }
    Ok(out)
}
