//! L-BFGS for deterministic problems, with a backtracking Armijo line search.
//!
//! The direction is the two-loop recursion over the last `memory` pairs
//! `(s, y) = (x_{k+1} − x_k, g_{k+1} − g_k)`, with the initial Hessian scaled by
//! `γ = sᵀy / yᵀy` (Nocedal & Wright, Alg. 7.4). The step size starts at 1 (at the first
//! iteration, `initial_step / ‖g‖`, a step of length `initial_step`) and is halved (`shrink`)
//! until the Armijo condition `f(x + αd) ≤ f(x) + c1·α·gᵀd` holds. Pairs with
//! `sᵀy ≤ 1e-12·‖s‖‖y‖` (no positive curvature) are not stored; a direction that is not a
//! descent direction resets the memory to steepest descent. The line search only needs the
//! value at trial points, but every evaluation returns the gradient too, so the accepted
//! point's gradient is reused for the next iteration. (optax's `lbfgs` uses a zoom
//! strong-Wolfe search instead, so its iterates differ.)

use crate::bits;
use serde::{Deserialize, Serialize};

/// Settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lbfgs {
    /// Stored `(s, y)` pairs.
    pub memory: usize,
    /// Armijo constant c1.
    pub c1: f64,
    /// Step-size factor per rejected trial.
    pub shrink: f64,
    /// Most function evaluations per iteration.
    pub max_evals: usize,
    /// Length of the first (steepest-descent) step.
    pub initial_step: f64,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Self {
            memory: 10,
            c1: 1e-4,
            shrink: 0.5,
            max_evals: 30,
            initial_step: 1.0,
        }
    }
}

/// Memory of an L-BFGS run (serialised exactly).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LbfgsState {
    /// Iterations made.
    pub iterations: u64,
    /// Parameter differences, oldest first.
    #[serde(with = "bits::vecvec")]
    pub s: Vec<Vec<f64>>,
    /// Gradient differences, oldest first.
    #[serde(with = "bits::vecvec")]
    pub y: Vec<Vec<f64>>,
}

/// The outcome of one iteration: the accepted point, its value and gradient, plus whatever
/// the evaluation closure returned there.
#[derive(Debug, Clone)]
pub struct LbfgsStep<T> {
    /// New parameters.
    pub params: Vec<f64>,
    /// Their value.
    pub value: f64,
    /// Their gradient.
    pub grad: Vec<f64>,
    /// The closure's extra output at the accepted point.
    pub extra: T,
    /// Function evaluations used.
    pub evaluations: usize,
    /// Accepted step size α.
    pub step_size: f64,
    /// Whether the Armijo condition held (false: the search ran out of evaluations and the
    /// best trial was taken).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Lbfgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory == 0 {
            return Err("memory must be >= 1".into());
        }
        if !(self.c1 > 0.0 && self.c1 < 1.0) {
            return Err(format!("c1 must be in (0, 1), got {}", self.c1));
        }
        if !(self.shrink > 0.0 && self.shrink < 1.0) {
            return Err(format!("shrink must be in (0, 1), got {}", self.shrink));
        }
        if self.max_evals == 0 {
            return Err("max_evals must be >= 1".into());
        }
        if !(self.initial_step.is_finite() && self.initial_step > 0.0) {
            return Err(format!(
                "initial_step must be positive, got {}",
                self.initial_step
            ));
        }
        Ok(())
    }

    /// The search direction `−H·g` from the memory (two-loop recursion).
    pub fn direction(&self, state: &LbfgsState, grad: &[f64]) -> Vec<f64> {
        let mut q = grad.to_vec();
        let k = state.s.len();
        let mut alpha = vec![0.0; k];
        let rho: Vec<f64> = (0..k)
            .map(|i| 1.0 / dot(&state.y[i], &state.s[i]))
            .collect();
        for i in (0..k).rev() {
            alpha[i] = rho[i] * dot(&state.s[i], &q);
            for (qj, yj) in q.iter_mut().zip(&state.y[i]) {
                *qj -= alpha[i] * yj;
            }
        }
        if k > 0 {
            let gamma =
                dot(&state.s[k - 1], &state.y[k - 1]) / dot(&state.y[k - 1], &state.y[k - 1]);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for i in 0..k {
            let beta = rho[i] * dot(&state.y[i], &q);
            for (qj, sj) in q.iter_mut().zip(&state.s[i]) {
                *qj += (alpha[i] - beta) * sj;
            }
        }
        q.iter_mut().for_each(|v| *v = -*v);
        q
    }

    /// One iteration from `params` (value `value`, gradient `grad`); `f(x)` returns the value,
    /// the gradient and anything else the caller wants back at the accepted point.
    pub fn step<T, E>(
        &self,
        state: &mut LbfgsState,
        params: &[f64],
        value: f64,
        grad: &[f64],
        mut f: impl FnMut(&[f64]) -> Result<(f64, Vec<f64>, T), E>,
    ) -> Result<LbfgsStep<T>, E> {
        let mut d = self.direction(state, grad);
        let mut slope = dot(grad, &d);
        if slope >= 0.0 || !slope.is_finite() {
            state.s.clear();
            state.y.clear();
            d = grad.iter().map(|g| -g).collect();
            slope = dot(grad, &d);
        }
        let gnorm = dot(grad, grad).sqrt();
        let mut alpha = if state.s.is_empty() && gnorm > 0.0 {
            (self.initial_step / gnorm).min(1.0 / f64::EPSILON)
        } else {
            1.0
        };
        // (value, params, grad, extra, step size) of the best trial so far.
        type Trial<T> = (f64, Vec<f64>, Vec<f64>, T, f64);
        let mut best: Option<Trial<T>> = None;
        let mut evaluations = 0;
        let mut converged = false;
        while evaluations < self.max_evals {
            let x: Vec<f64> = params
                .iter()
                .zip(&d)
                .map(|(p, di)| p + alpha * di)
                .collect();
            let (v, g, extra) = f(&x)?;
            evaluations += 1;
            let ok = v.is_finite() && v <= value + self.c1 * alpha * slope;
            let better = v.is_finite() && best.as_ref().is_none_or(|b| v < b.0);
            if ok || better {
                best = Some((v, x, g, extra, alpha));
            }
            if ok {
                converged = true;
                break;
            }
            alpha *= self.shrink;
        }
        let (v, x, g, extra, alpha) = match best {
            Some(b) => b,
            None => {
                // Every trial was non-finite: stay put (the caller sees no progress).
                let (v, g, extra) = f(params)?;
                evaluations += 1;
                (v, params.to_vec(), g, extra, 0.0)
            }
        };
        let s: Vec<f64> = x.iter().zip(params).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g.iter().zip(grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() && sy.is_finite() {
            state.s.push(s);
            state.y.push(y);
            if state.s.len() > self.memory {
                state.s.remove(0);
                state.y.remove(0);
            }
        }
        state.iterations += 1;
        Ok(LbfgsStep {
            params: x,
            value: v,
            grad: g,
            extra,
            evaluations,
            step_size: alpha,
            converged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64]) -> (f64, Vec<f64>) {
        let (a, b) = (x[0], x[1]);
        let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let g = vec![
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
            200.0 * (b - a * a),
        ];
        (v, g)
    }

    #[test]
    fn minimises_rosenbrock() {
        let opt = Lbfgs::default();
        let mut st = LbfgsState::default();
        let mut x = vec![-1.2, 1.0];
        let (mut v, mut g) = rosenbrock(&x);
        let mut evals = 0;
        for _ in 0..100 {
            let r = opt
                .step(&mut st, &x, v, &g, |p| {
                    Ok::<_, ()>({
                        let (v, g) = rosenbrock(p);
                        (v, g, ())
                    })
                })
                .unwrap();
            assert!(r.value <= v, "monotone: {} > {v}", r.value);
            evals += r.evaluations;
            (x, v, g) = (r.params, r.value, r.grad);
            if v < 1e-20 {
                break;
            }
        }
        assert!(
            (x[0] - 1.0).abs() < 1e-9 && (x[1] - 1.0).abs() < 1e-9,
            "{x:?} after {evals}"
        );
        assert!(st.iterations < 60, "{} iterations", st.iterations);
        // The memory round-trips exactly.
        let back: LbfgsState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back, st);
    }
}
