//! Explicit Runge–Kutta steppers as data (a Butcher tableau with its order) and the simulation
//! loop that runs any [`Drift`].
//!
//! One generic stepper advances any model; Euler, Heun and RK4 are constant tableaux, as in
//! diffrax (`_heun_tableau`) and diffsol (`Tableau`). Fixed step size; the order is checked
//! empirically from a log-log regression of the error against `dt`.

use crate::drift::{Drift, tensor_from_rows, to_host};
use crate::error::{LowdimError, positive};
use crate::jacobian::TangentDrift;
use burn::tensor::{Device, Tensor};

/// An explicit Runge–Kutta method: `k_s = f(t + c_s dt, x + dt Σ_{r<s} a_{s r} k_r)`,
/// `x' = x + dt Σ b_s k_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tableau {
    /// Method name.
    pub name: &'static str,
    /// Strictly lower-triangular stage coefficients, row `s` has `s` entries.
    pub a: &'static [&'static [f64]],
    /// Weights `b_s`.
    pub b: &'static [f64],
    /// Nodes `c_s`.
    pub c: &'static [f64],
    /// Global order of accuracy.
    pub order: u32,
}

/// Forward Euler, order 1.
pub const EULER: Tableau = Tableau {
    name: "euler",
    a: &[&[]],
    b: &[1.0],
    c: &[0.0],
    order: 1,
};

/// Heun's method (explicit trapezoid), order 2.
pub const HEUN: Tableau = Tableau {
    name: "heun",
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    c: &[0.0, 1.0],
    order: 2,
};

/// The classical fourth-order Runge–Kutta method.
pub const RK4: Tableau = Tableau {
    name: "rk4",
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    c: &[0.0, 0.5, 0.5, 1.0],
    order: 4,
};

impl Tableau {
    /// Looks a method up by name (`euler`, `heun`, `rk4`).
    pub fn parse(name: &str) -> Option<Self> {
        [EULER, HEUN, RK4].into_iter().find(|t| t.name == name)
    }

    /// Advances `x` `[B, dim]` by one step of size `dt` from time `t`.
    pub fn step<D: Drift + ?Sized>(&self, model: &D, t: f64, x: Tensor<2>, dt: f64) -> Tensor<2> {
        let mut ks: Vec<Tensor<2>> = Vec::with_capacity(self.b.len());
        for (s, row) in self.a.iter().enumerate() {
            let mut xs = x.clone();
            for (r, &a) in row.iter().enumerate() {
                if a != 0.0 {
                    xs = xs + ks[r].clone().mul_scalar(a * dt);
                }
            }
            ks.push(model.drift(t + self.c[s] * dt, xs));
        }
        let mut out = x;
        for (k, &b) in ks.into_iter().zip(self.b) {
            if b != 0.0 {
                out = out + k.mul_scalar(b * dt);
            }
        }
        out
    }

    /// Advances the state `x` and a tangent vector `v` together (`dv/dt = J(x) v`), with the
    /// same stages, so `v` is the exact derivative of the discrete map applied to `v` only
    /// up to the method's order (as in Benettin's algorithm).
    pub fn step_tangent<D: TangentDrift + ?Sized>(
        &self,
        model: &D,
        t: f64,
        x: Tensor<2>,
        v: Tensor<2>,
        dt: f64,
    ) -> (Tensor<2>, Tensor<2>) {
        let mut kx: Vec<Tensor<2>> = Vec::with_capacity(self.b.len());
        let mut kv: Vec<Tensor<2>> = Vec::with_capacity(self.b.len());
        for (s, row) in self.a.iter().enumerate() {
            let (mut xs, mut vs) = (x.clone(), v.clone());
            for (r, &a) in row.iter().enumerate() {
                if a != 0.0 {
                    xs = xs + kx[r].clone().mul_scalar(a * dt);
                    vs = vs + kv[r].clone().mul_scalar(a * dt);
                }
            }
            let ts = t + self.c[s] * dt;
            let (fx, fv) = model.drift_and_tangent(ts, xs, vs);
            kx.push(fx);
            kv.push(fv);
        }
        let (mut xo, mut vo) = (x, v);
        for ((a, b), &w) in kx.into_iter().zip(kv).zip(self.b) {
            if w != 0.0 {
                xo = xo + a.mul_scalar(w * dt);
                vo = vo + b.mul_scalar(w * dt);
            }
        }
        (xo, vo)
    }
}

/// A simulated batch: `states[k]` is the row-major `[B, dim]` state at `times[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Sample times.
    pub times: Vec<f64>,
    /// States at each sample time, row-major `[B, dim]`.
    pub states: Vec<Vec<f64>>,
    /// Batch size `B`.
    pub batch: usize,
    /// State dimension.
    pub dim: usize,
}

impl Trajectory {
    /// The time series of component `i` of batch row `b`.
    pub fn component(&self, b: usize, i: usize) -> Vec<f64> {
        self.states.iter().map(|s| s[b * self.dim + i]).collect()
    }

    /// The final state, row-major `[B, dim]`.
    pub fn last(&self) -> &[f64] {
        self.states
            .last()
            .expect("a trajectory holds at least its initial state")
    }
}

/// Simulates `model` from the batch `x0` (row-major `[B, dim]`) for `steps` steps of `dt` with
/// `method`, recording the initial state and every `every`-th state.
pub fn simulate<D: Drift + ?Sized>(
    model: &D,
    method: &Tableau,
    x0: &[f64],
    dt: f64,
    steps: usize,
    every: usize,
    device: &Device,
) -> Result<Trajectory, LowdimError> {
    positive("dt", dt)?;
    let dim = model.dim();
    if x0.is_empty() || !x0.len().is_multiple_of(dim) {
        return Err(LowdimError::Shape {
            what: "initial states",
            expected: dim,
            got: x0.len(),
        });
    }
    if every == 0 {
        return Err(LowdimError::InvalidParameter {
            name: "every",
            value: 0.0,
            reason: "the recording stride must be ≥ 1",
        });
    }
    let batch = x0.len() / dim;
    let mut x = tensor_from_rows(x0, batch, dim, device);
    let mut recorded = vec![x.clone()];
    let mut times = vec![0.0];
    for k in 0..steps {
        let t = k as f64 * dt;
        x = method.step(model, t, x, dt);
        if (k + 1) % every == 0 {
            recorded.push(x.clone());
            times.push((k + 1) as f64 * dt);
        }
    }
    // One read-back for the whole run: each transfer costs a synchronisation.
    let flat = to_host(Tensor::stack::<3>(recorded, 0));
    let states = flat.chunks(batch * dim).map(<[f64]>::to_vec).collect();
    Ok(Trajectory {
        times,
        states,
        batch,
        dim,
    })
}

/// Least-squares slope of `ln(err)` against `ln(dt)`: the empirical order of convergence.
pub fn log_log_slope(dts: &[f64], errors: &[f64]) -> f64 {
    let xs: Vec<f64> = dts.iter().map(|d| d.ln()).collect();
    let ys: Vec<f64> = errors.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    sxy / sxx
}

// The reference numbers are kept digit for digit.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::fitzhugh_nagumo::FitzHughNagumo;
    use crate::population::SigmoidPopulation;
    use crate::test_util::flex;

    /// Empirical order from a log-log regression: Euler 1, Heun 2, RK4 4 — on the population
    /// relaxation (w = 0, analytic solution) and on FitzHugh–Nagumo against a fine RK4 run.
    #[test]
    fn empirical_order_matches_tableau() {
        let device = flex();
        let pop = SigmoidPopulation::new(1.2, 2.8, 0.0, 5.0, 1.0).unwrap();
        let exact = {
            let f = pop.transfer(5.0);
            f + (0.2 - f) * (-2.0f64).exp()
        };
        let fhn = FitzHughNagumo::default().with_input(0.5);
        let reference = simulate(&fhn, &RK4, &[-1.0, 1.0], 1e-3, 5000, 5000, &device).unwrap();
        let reference = reference.last().to_vec();
        for method in [EULER, HEUN, RK4] {
            let dts: [f64; 4] = [0.1, 0.05, 0.025, 0.0125];
            let pop_err: Vec<f64> = dts
                .iter()
                .map(|&dt| {
                    let steps = (2.0 / dt).round() as usize;
                    let tr = simulate(&pop, &method, &[0.2], dt, steps, steps, &device).unwrap();
                    (tr.last()[0] - exact).abs()
                })
                .collect();
            let fhn_err: Vec<f64> = dts
                .iter()
                .map(|&dt| {
                    let steps = (5.0 / dt).round() as usize;
                    let tr =
                        simulate(&fhn, &method, &[-1.0, 1.0], dt, steps, steps, &device).unwrap();
                    tr.last()
                        .iter()
                        .zip(&reference)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max)
                })
                .collect();
            for errs in [&pop_err, &fhn_err] {
                let slope = log_log_slope(&dts, errs);
                assert!(
                    (slope - method.order as f64).abs() < 0.15,
                    "{}: slope {slope}, {errs:?}",
                    method.name
                );
            }
        }
    }

    #[test]
    fn recording_and_errors() {
        let device = flex();
        let fhn = FitzHughNagumo::default();
        let tr = simulate(&fhn, &HEUN, &[0.0, 0.0, 1.0, 1.0], 0.1, 10, 5, &device).unwrap();
        assert_eq!(tr.times, vec![0.0, 0.5, 1.0]);
        assert_eq!((tr.batch, tr.dim, tr.states.len()), (2, 2, 3));
        assert_eq!(tr.component(1, 0)[0], 1.0);
        assert!(simulate(&fhn, &HEUN, &[0.0, 0.0, 1.0], 0.1, 10, 1, &device).is_err());
        assert!(simulate(&fhn, &HEUN, &[0.0, 0.0], -0.1, 10, 1, &device).is_err());
        assert!(simulate(&fhn, &HEUN, &[0.0, 0.0], 0.1, 10, 0, &device).is_err());
        assert_eq!(Tableau::parse("rk4"), Some(RK4));
        for t in [EULER, HEUN, RK4] {
            assert!((t.b.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            for (row, c) in t.a.iter().zip(t.c) {
                assert!((row.iter().sum::<f64>() - c).abs() < 1e-15);
            }
        }
    }
}
