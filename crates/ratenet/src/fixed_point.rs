//! Fixed points `r* = F(r*)` of the rate network: the seed's Euler relaxation, an exact Newton
//! solver, linear stability, and the implicit-function gradient.
//!
//! * [`euler2fixedpt`] reproduces `utils_for_max.Euler2fixedpt` step for step (DESIGN §4):
//!   `Nmax = round(Tmax/dt)`, `Nmin = round(Tmin/dt)`; for `n = 0…Nmax−1`: `dx = dxdt(x)·dt`,
//!   `x += dx`, converged when `n > Nmin` and `max_i |dx_i|/max(xmin, |x_i|) < xtol`.
//!   It stops early (202 steps on the seed network), about 1e-3 Hz from the true fixed point.
//! * [`solve_fixed_point`]: Newton on `G(r) = F(r) − r` with the analytic Jacobian (faer LU)
//!   and a backtracking line search, to `max_i |F(r)_i − r_i| ≤ tol` (default 1e-12 Hz).
//!   From [`STRUCTURED_MIN_N`] neurons on, the same iteration runs matrix-free
//!   ([`crate::structured`]): `W` and `W2` in factored form (the mean field as a separable
//!   Fourier–Bessel sum, O(N·K) per product) and GMRES for the Newton steps, so neither an N×N
//!   Jacobian nor an O(N³) LU is formed (the dense LU remains the fallback if GMRES stalls).
//! * [`stability`]: eigenvalues of `T⁻¹(∂F/∂r − I)`, the Jacobian of the relaxation dynamics.
//! * [`implicit_gradient`]: with `r*(θ)` defined by `r* = F(r*, θ)`,
//!   `dL/dθ = λᵀ ∂F/∂θ` where `(I − ∂F/∂r)ᵀ λ = ∂L/∂r`: one linear solve, memory independent
//!   of how many iterations found r* (GMRES on the transposed products for large networks).

use crate::network::{N_THETA, NetworkError, RateNetwork, Weights};
use crate::phi::phi;
use crate::structured::{FactoredWeights, Workspace, gmres};
use faer::c64;
use faer::prelude::*;
use thiserror::Error;

/// Failures of the fixed-point solvers.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FixedPointError {
    /// Invalid network or parameters.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Newton ran out of iterations.
    #[error(
        "Newton did not converge in {iterations} iterations: max |F(r) - r| = {residual:e} Hz \
         (tolerance {tol:e}); try more Euler warm-up steps or check that a fixed point exists"
    )]
    NotConverged {
        /// Iterations done.
        iterations: usize,
        /// Final residual (Hz).
        residual: f64,
        /// Requested tolerance (Hz).
        tol: f64,
    },
    /// The line search could not reduce the residual.
    #[error(
        "Newton stalled after {iterations} iterations at max |F(r) - r| = {residual:e} Hz \
         (tolerance {tol:e}): no step along the Newton direction reduces the residual"
    )]
    Stalled {
        /// Iterations done.
        iterations: usize,
        /// Residual where it stalled (Hz).
        residual: f64,
        /// Requested tolerance (Hz).
        tol: f64,
    },
    /// A non-finite value appeared (rates blew up or Phi got NaN input).
    #[error("non-finite rates or residual after {0} iterations (diverging dynamics?)")]
    NonFinite(usize),
    /// `I − ∂F/∂r` is singular at the fixed point (a bifurcation): no implicit gradient.
    #[error(
        "I - dF/dr is singular at the fixed point (bifurcation?): solve gave non-finite values"
    )]
    Singular,
    /// The eigenvalue solver failed.
    #[error("eigenvalue computation failed: {0}")]
    Eigen(String),
    /// Wrong vector length.
    #[error("`{name}` has length {got}, expected {expected}")]
    Length {
        /// Argument name.
        name: &'static str,
        /// Length found.
        got: usize,
        /// Length expected.
        expected: usize,
    },
}

/// Options of the seed's Euler relaxation (defaults are the seed's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EulerConfig {
    /// Maximal integration time (s).
    pub t_max: f64,
    /// Step (s).
    pub dt: f64,
    /// Relative tolerance on the step.
    pub xtol: f64,
    /// Floor of the scale `max(xmin, |x|)` (Hz).
    pub xmin: f64,
    /// Minimal integration time before convergence is tested (s).
    pub t_min: f64,
}

impl Default for EulerConfig {
    /// Tmax = 0.5, dt = 0.001, xtol = 1e-5, xmin = 1, Tmin = 0.2.
    fn default() -> Self {
        Self {
            t_max: 0.5,
            dt: 0.001,
            xtol: 1e-5,
            xmin: 1.0,
            t_min: 0.2,
        }
    }
}

/// Result of [`euler2fixedpt`].
#[derive(Debug, Clone, PartialEq)]
pub struct EulerResult {
    /// Final rates (Hz).
    pub rates: Vec<f64>,
    /// Whether the seed's stopping test passed.
    pub converged: bool,
    /// Euler steps taken.
    pub steps: usize,
}

/// The seed's `Euler2fixedpt(dxdt, x_init)` with `dxdt = T⁻¹(F(r) − r)`.
pub fn euler2fixedpt(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_init: &[f64],
    cfg: &EulerConfig,
) -> Result<EulerResult, FixedPointError> {
    net.check_theta(theta)?;
    check_len("r_init", r_init.len(), net.n)?;
    let weights = net.weights(theta);
    let n_max = (cfg.t_max / cfg.dt).round() as usize;
    let n_min = (cfg.t_min / cfg.dt).round() as usize;
    let mut x = r_init.to_vec();
    for n in 0..n_max {
        let dxdt = net.rhs(&weights, &x);
        let mut worst = 0.0f64;
        for i in 0..net.n {
            let dx = dxdt[i] * cfg.dt;
            x[i] += dx;
            worst = worst.max(dx.abs() / cfg.xmin.max(x[i].abs()));
        }
        if !worst.is_finite() {
            return Err(FixedPointError::NonFinite(n + 1));
        }
        if n > n_min && worst < cfg.xtol {
            return Ok(EulerResult {
                rates: x,
                converged: true,
                steps: n + 1,
            });
        }
    }
    Ok(EulerResult {
        rates: x,
        converged: false,
        steps: n_max,
    })
}

/// Options of the Newton solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonConfig {
    /// Stop when `max_i |F(r)_i − r_i| ≤ tol` (Hz).
    pub tol: f64,
    /// Maximal Newton iterations.
    pub max_iter: usize,
    /// Euler steps (dt = 1 ms, the seed's relaxation) before Newton, to enter its basin.
    pub warmup_steps: usize,
}

impl Default for NewtonConfig {
    /// tol = 1e-12 Hz, 50 iterations, 100 warm-up steps.
    fn default() -> Self {
        Self {
            tol: 1e-12,
            max_iter: 50,
            warmup_steps: 100,
        }
    }
}

/// An exact fixed point.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoint {
    /// Rates r* (Hz).
    pub rates: Vec<f64>,
    /// `max_i |F(r*)_i − r*_i|` (Hz).
    pub residual: f64,
    /// Newton iterations used.
    pub iterations: usize,
}

fn check_len(name: &'static str, got: usize, expected: usize) -> Result<(), FixedPointError> {
    if got != expected {
        return Err(FixedPointError::Length {
            name,
            got,
            expected,
        });
    }
    Ok(())
}

fn residual(net: &RateNetwork, weights: &Weights, r: &[f64]) -> (Vec<f64>, f64) {
    let f = net.transfer(weights, r);
    let g: Vec<f64> = (0..net.n).map(|i| f[i].phi - r[i]).collect();
    let m = g.iter().fold(
        0.0f64,
        |m, v| if v.is_nan() { f64::NAN } else { m.max(v.abs()) },
    );
    (g, m)
}

/// `I − ∂F/∂r` at r.
fn newton_matrix(net: &RateNetwork, weights: &Weights, r: &[f64]) -> Mat<f64> {
    let (_, sigma) = net.drive(weights, r);
    let evals = net.transfer(weights, r);
    let mut a = -net.jacobian(weights, &evals, &sigma);
    for i in 0..net.n {
        a[(i, i)] += 1.0;
    }
    a
}

/// Networks of at least this many neurons use the factored weights and GMRES
/// ([`crate::structured`]); smaller ones the dense matrices and LU (an O(N³) LU is cheap there,
/// and it keeps small-network results bit-identical to the dense reference).
pub const STRUCTURED_MIN_N: usize = 512;

/// Which linear algebra the solvers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Dense `W`, `W2` and partial-pivoting LU.
    Dense,
    /// Factored weights and GMRES (dense LU only when GMRES fails).
    Structured,
}

impl Path {
    fn for_size(n: usize) -> Self {
        if n >= STRUCTURED_MIN_N {
            Self::Structured
        } else {
            Self::Dense
        }
    }
}

/// Relative residual of the GMRES solves: near the attainable accuracy, so the Newton steps and
/// the implicit gradient are as accurate as the dense LU's.
const GMRES_RTOL: f64 = 1e-13;
/// Krylov dimension per GMRES cycle and the number of cycles before falling back to LU.
const GMRES_M: usize = 120;
const GMRES_RESTARTS: usize = 3;

/// Solves `r = F(r)` by damped Newton from `r_init` (after `warmup_steps` Euler steps).
/// Networks of [`STRUCTURED_MIN_N`] neurons or more take the matrix-free path.
pub fn solve_fixed_point(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_init: &[f64],
    cfg: &NewtonConfig,
) -> Result<FixedPoint, FixedPointError> {
    solve_fixed_point_on(net, theta, r_init, cfg, Path::for_size(net.n))
}

pub(crate) fn solve_fixed_point_on(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_init: &[f64],
    cfg: &NewtonConfig,
    path: Path,
) -> Result<FixedPoint, FixedPointError> {
    net.check_theta(theta)?;
    check_len("r_init", r_init.len(), net.n)?;
    if path == Path::Structured {
        return solve_structured(net, theta, r_init, cfg);
    }
    let weights = net.weights(theta);
    let mut r = r_init.to_vec();
    for _ in 0..cfg.warmup_steps {
        let d = net.rhs(&weights, &r);
        for i in 0..net.n {
            r[i] += 1e-3 * d[i];
        }
    }
    let (mut g, mut res) = residual(net, &weights, &r);
    for it in 0..cfg.max_iter {
        if !res.is_finite() {
            return Err(FixedPointError::NonFinite(it));
        }
        if res <= cfg.tol {
            return Ok(FixedPoint {
                rates: r,
                residual: res,
                iterations: it,
            });
        }
        let a = newton_matrix(net, &weights, &r);
        let rhs = Mat::from_fn(net.n, 1, |i, _| g[i]);
        let delta = a.partial_piv_lu().solve(&rhs);
        let mut step = 1.0;
        loop {
            let trial: Vec<f64> = (0..net.n)
                .map(|i| (r[i] + step * delta[(i, 0)]).max(0.0))
                .collect();
            let (g_new, res_new) = residual(net, &weights, &trial);
            if res_new.is_finite() && (res_new < res || res_new <= cfg.tol) {
                r = trial;
                g = g_new;
                res = res_new;
                break;
            }
            step *= 0.5;
            if step < 1e-10 {
                return Err(FixedPointError::Stalled {
                    iterations: it,
                    residual: res,
                    tol: cfg.tol,
                });
            }
        }
    }
    if res <= cfg.tol {
        return Ok(FixedPoint {
            rates: r,
            residual: res,
            iterations: cfg.max_iter,
        });
    }
    Err(FixedPointError::NotConverged {
        iterations: cfg.max_iter,
        residual: res,
        tol: cfg.tol,
    })
}

/// Linear stability of a fixed point.
#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    /// Eigenvalues of `T⁻¹(∂F/∂r − I)` (1/s).
    pub eigenvalues: Vec<c64>,
    /// Largest real part (1/s); stable if < 0.
    pub abscissa: f64,
}

impl Stability {
    /// True when every eigenvalue has a negative real part.
    pub fn is_stable(&self) -> bool {
        self.abscissa < 0.0
    }
}

/// Eigenvalues of `T⁻¹(∂F/∂r − I)` at rates r (faer's real Schur-based solver).
pub fn stability(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r: &[f64],
) -> Result<Stability, FixedPointError> {
    net.check_theta(theta)?;
    check_len("r", r.len(), net.n)?;
    let weights = net.weights(theta);
    let a = newton_matrix(net, &weights, r);
    let m = Mat::from_fn(net.n, net.n, |i, j| -a[(i, j)] / net.t_relax[i]);
    let eigenvalues = m
        .eigenvalues()
        .map_err(|e| FixedPointError::Eigen(format!("{e:?}")))?;
    let abscissa = eigenvalues
        .iter()
        .fold(f64::NEG_INFINITY, |m, z| m.max(z.re));
    Ok(Stability {
        eigenvalues,
        abscissa,
    })
}

/// `dL/dθ = λᵀ ∂F/∂θ` with `(I − ∂F/∂r)ᵀ λ = dL/dr`, at a fixed point r*.
/// Networks of [`STRUCTURED_MIN_N`] neurons or more solve for λ by GMRES on the factored weights.
pub fn implicit_gradient(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_star: &[f64],
    dl_dr: &[f64],
) -> Result<[f64; N_THETA], FixedPointError> {
    implicit_gradient_on(net, theta, r_star, dl_dr, Path::for_size(net.n))
}

pub(crate) fn implicit_gradient_on(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_star: &[f64],
    dl_dr: &[f64],
    path: Path,
) -> Result<[f64; N_THETA], FixedPointError> {
    net.check_theta(theta)?;
    check_len("r_star", r_star.len(), net.n)?;
    check_len("dl_dr", dl_dr.len(), net.n)?;
    if path == Path::Structured {
        return implicit_gradient_structured(net, theta, r_star, dl_dr);
    }
    let weights = net.weights(theta);
    let a = newton_matrix(net, &weights, r_star);
    let rhs = Mat::from_fn(net.n, 1, |i, _| dl_dr[i]);
    let lambda_m = a.partial_piv_lu().solve_transpose(&rhs);
    let lambda: Vec<f64> = (0..net.n).map(|i| lambda_m[(i, 0)]).collect();
    if lambda.iter().any(|v| !v.is_finite()) {
        return Err(FixedPointError::Singular);
    }
    Ok(net.theta_vjp(theta, r_star, &lambda))
}

/// Newton on the factored weights (see [`crate::structured`]): the same iteration, line search
/// and stopping rule as the dense path, with GMRES for the Newton step. `C` is built once; no
/// N×N array is allocated unless GMRES fails and the dense LU takes over.
fn solve_structured(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_init: &[f64],
    cfg: &NewtonConfig,
) -> Result<FixedPoint, FixedPointError> {
    let n = net.n;
    let fw = FactoredWeights::new(net, theta);
    let mut ws = Workspace::new(n);
    let mut r = r_init.to_vec();
    for _ in 0..cfg.warmup_steps {
        fw.drive_into(net, &r, &mut ws.mu, &mut ws.sigma);
        for i in 0..n {
            let f = phi(ws.mu[i], ws.sigma[i], net.tau[i], &net.lif);
            r[i] += 1e-3 * ((f - r[i]) / net.t_relax[i]);
        }
    }
    let max_abs = |g: &[f64]| {
        g.iter().fold(
            0.0f64,
            |m, v| if v.is_nan() { f64::NAN } else { m.max(v.abs()) },
        )
    };
    let residual_into = |ws: &mut Workspace, r: &[f64], g: &mut [f64]| {
        ws.transfer(net, &fw, r);
        for i in 0..n {
            g[i] = ws.evals[i].phi - r[i];
        }
        max_abs(g)
    };
    let mut g = vec![0.0; n];
    let mut res = residual_into(&mut ws, &r, &mut g);
    let mut trial_ws = Workspace::new(n);
    let (mut trial, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    let (mut alpha, mut beta) = (vec![0.0; n], vec![0.0; n]);
    for it in 0..cfg.max_iter {
        if !res.is_finite() {
            return Err(FixedPointError::NonFinite(it));
        }
        if res <= cfg.tol {
            return Ok(FixedPoint {
                rates: r,
                residual: res,
                iterations: it,
            });
        }
        ws.chain(net, None, &mut alpha, &mut beta);
        let delta = gmres(
            n,
            |x, y| fw.apply(&alpha, &beta, x, y),
            &g,
            GMRES_RTOL,
            GMRES_M,
            GMRES_RESTARTS,
        )
        .unwrap_or_else(|| {
            let a = fw.dense_newton_matrix(&alpha, &beta);
            let rhs = Mat::from_fn(n, 1, |i, _| g[i]);
            let d = a.partial_piv_lu().solve(&rhs);
            (0..n).map(|i| d[(i, 0)]).collect()
        });
        let mut step = 1.0;
        loop {
            for i in 0..n {
                trial[i] = (r[i] + step * delta[i]).max(0.0);
            }
            let res_new = residual_into(&mut trial_ws, &trial, &mut g_new);
            if res_new.is_finite() && (res_new < res || res_new <= cfg.tol) {
                std::mem::swap(&mut r, &mut trial);
                std::mem::swap(&mut g, &mut g_new);
                std::mem::swap(&mut ws, &mut trial_ws);
                res = res_new;
                break;
            }
            step *= 0.5;
            if step < 1e-10 {
                return Err(FixedPointError::Stalled {
                    iterations: it,
                    residual: res,
                    tol: cfg.tol,
                });
            }
        }
    }
    if res <= cfg.tol {
        return Ok(FixedPoint {
            rates: r,
            residual: res,
            iterations: cfg.max_iter,
        });
    }
    Err(FixedPointError::NotConverged {
        iterations: cfg.max_iter,
        residual: res,
        tol: cfg.tol,
    })
}

/// The implicit gradient on the factored weights: λ by GMRES on `(I − ∂F/∂r)ᵀ` (dense LU only if
/// it fails), then the θ-VJP in one pass over `C`.
fn implicit_gradient_structured(
    net: &RateNetwork,
    theta: &[f64; N_THETA],
    r_star: &[f64],
    dl_dr: &[f64],
) -> Result<[f64; N_THETA], FixedPointError> {
    let n = net.n;
    let fw = FactoredWeights::new(net, theta);
    let mut ws = Workspace::new(n);
    ws.transfer(net, &fw, r_star);
    let (mut alpha, mut beta) = (vec![0.0; n], vec![0.0; n]);
    ws.chain(net, None, &mut alpha, &mut beta);
    let lambda = gmres(
        n,
        |x, y| fw.apply_transpose(&alpha, &beta, x, y),
        dl_dr,
        GMRES_RTOL,
        GMRES_M,
        GMRES_RESTARTS,
    )
    .unwrap_or_else(|| {
        let a = fw.dense_newton_matrix(&alpha, &beta);
        let rhs = Mat::from_fn(n, 1, |i, _| dl_dr[i]);
        let l = a.partial_piv_lu().solve_transpose(&rhs);
        (0..n).map(|i| l[(i, 0)]).collect()
    });
    if lambda.iter().any(|v| !v.is_finite()) {
        return Err(FixedPointError::Singular);
    }
    ws.chain(net, Some(&lambda), &mut alpha, &mut beta);
    Ok(fw.theta_vjp(net, theta, r_star, &alpha, &beta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::{seed_network, seed_theta};
    use crate::network::{Connectivity, NetworkSpec, theta_from};
    use crate::phi::LifConstants;
    use crate::phi::tests::SEED_R;

    /// Seed 000: Euler2fixedpt from r = 1 stops after 202 steps at the printed rates.
    #[test]
    fn euler2fixedpt_reproduces_seed_000() {
        let net = seed_network();
        let out = euler2fixedpt(&net, &seed_theta(), &[1.0; 20], &EulerConfig::default()).unwrap();
        assert!(out.converged);
        assert_eq!(out.steps, 202);
        let worst = (0..20)
            .map(|i| (out.rates[i] - SEED_R[i]).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "Euler2fixedpt: {} steps, max |R - R_seed| = {worst:.2e} Hz",
            out.steps
        );
        assert!(worst <= 1e-4, "max |R - R_seed| = {worst:e}");
    }

    /// Newton reaches 1e-12 Hz; Euler's stopping point is ~1e-3 Hz away (as DESIGN §4 says).
    #[test]
    fn newton_is_exact_and_stable_on_seed_network() {
        let net = seed_network();
        let th = seed_theta();
        let fp = solve_fixed_point(&net, &th, &[1.0; 20], &NewtonConfig::default()).unwrap();
        assert!(fp.residual <= 1e-12, "residual {:e}", fp.residual);
        let gap = (0..20)
            .map(|i| (fp.rates[i] - SEED_R[i]).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "Newton: {} its, residual {:.1e}; Euler stop {gap:.1e} Hz away",
            fp.iterations, fp.residual
        );
        assert!(
            gap > 1e-4 && gap < 1e-2,
            "Euler stops {gap:e} Hz from the fixed point"
        );
        let st = stability(&net, &th, &fp.rates).unwrap();
        assert!(st.is_stable(), "abscissa {}", st.abscissa);
    }

    #[test]
    fn non_convergence_is_reported() {
        let net = seed_network();
        let cfg = NewtonConfig {
            tol: 1e-12,
            max_iter: 1,
            warmup_steps: 0,
        };
        let err = solve_fixed_point(&net, &seed_theta(), &[1.0; 20], &cfg).unwrap_err();
        assert!(
            matches!(err, FixedPointError::NotConverged { iterations: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("did not converge"));
        let err = solve_fixed_point(&net, &seed_theta(), &[1.0; 3], &cfg).unwrap_err();
        assert!(matches!(err, FixedPointError::Length { .. }));
    }

    fn fluctuation_network() -> (RateNetwork, [f64; N_THETA]) {
        let spec = NetworkSpec {
            n: 20,
            tau: [0.01, 0.01],
            t_relax: [0.01, 0.005],
            h: 1500.0,
            xi2: 900.0,
        };
        let net =
            RateNetwork::new(&spec, LifConstants::default(), Connectivity::MeanField).unwrap();
        (
            net,
            theta_from(
                [1.0, 0.8, 1.2, 0.9],
                [0.5, 0.6, 0.7, 0.4],
                [0.6, 0.9, 1.3, 2.0],
            ),
        )
    }

    /// Implicit gradient of L = Σ c_i r*_i equals central finite differences of re-solved fixed
    /// points, for every θ entry (J, P and w through the mean field).
    #[test]
    fn implicit_gradient_matches_finite_differences() {
        let (net, theta) = fluctuation_network();
        let cfg = NewtonConfig::default();
        let c: Vec<f64> = (0..20).map(|i| 1.0 + 0.1 * i as f64).collect();
        let loss = |th: &[f64; N_THETA]| -> f64 {
            let fp = solve_fixed_point(&net, th, &[5.0; 20], &cfg).unwrap();
            fp.rates.iter().zip(&c).map(|(r, c)| r * c).sum()
        };
        let fp = solve_fixed_point(&net, &theta, &[5.0; 20], &cfg).unwrap();
        let g = implicit_gradient(&net, &theta, &fp.rates, &c).unwrap();
        for k in 0..N_THETA {
            let h = 1e-5 * theta[k].abs().max(0.1);
            let (mut tp, mut tm) = (theta, theta);
            tp[k] += h;
            tm[k] -= h;
            let fd = (loss(&tp) - loss(&tm)) / (2.0 * h);
            let rel = (g[k] - fd).abs()
                / fd.abs()
                    .max(1e-3 * g.iter().map(|v| v.abs()).fold(0.0, f64::max));
            eprintln!("implicit vs FD θ[{k}]: rel {rel:.1e}");
            assert!(
                rel < 1e-6,
                "θ[{k}]: implicit {} vs fd {fd} (rel {rel:e})",
                g[k]
            );
        }
    }

    /// The matrix-free path (forced at small N) finds the same fixed point and implicit
    /// gradient as the dense path, on the mean-field network and the seed's explicit one.
    #[test]
    fn structured_path_matches_dense() {
        let (mf, mf_theta) = fluctuation_network();
        let seed = seed_network();
        for (net, theta, r0) in [(&mf, mf_theta, 5.0), (&seed, seed_theta(), 1.0)] {
            let n = net.n;
            let r_init = vec![r0; n];
            let cfg = NewtonConfig::default();
            let d = solve_fixed_point_on(net, &theta, &r_init, &cfg, Path::Dense).unwrap();
            let s = solve_fixed_point_on(net, &theta, &r_init, &cfg, Path::Structured).unwrap();
            assert!(s.residual <= cfg.tol, "residual {:e}", s.residual);
            for i in 0..n {
                assert!((d.rates[i] - s.rates[i]).abs() <= 1e-11, "rate {i}");
            }
            let c: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * i as f64).collect();
            let gd = implicit_gradient_on(net, &theta, &d.rates, &c, Path::Dense).unwrap();
            let gs = implicit_gradient_on(net, &theta, &d.rates, &c, Path::Structured).unwrap();
            let scale = gd.iter().map(|v| v.abs()).fold(0.0, f64::max);
            for k in 0..N_THETA {
                let rel = (gd[k] - gs[k]).abs() / scale;
                assert!(
                    rel <= 1e-12,
                    "θ[{k}]: dense {} vs structured {} ({rel:e})",
                    gd[k],
                    gs[k]
                );
            }
        }
    }

    /// At N ≥ STRUCTURED_MIN_N the public solvers take the matrix-free path; on the benchmark
    /// network (N = 600) it agrees with the dense LU path.
    #[test]
    fn large_network_dispatch_matches_dense() {
        let n = STRUCTURED_MIN_N + 88;
        let (net, theta) = crate::bench::bench_network(n).unwrap();
        let r_init = vec![5.0; n];
        let cfg = NewtonConfig::default();
        let auto = solve_fixed_point(&net, &theta, &r_init, &cfg).unwrap();
        let dense = solve_fixed_point_on(&net, &theta, &r_init, &cfg, Path::Dense).unwrap();
        assert!(auto.residual <= cfg.tol);
        let gap = (0..n)
            .map(|i| (auto.rates[i] - dense.rates[i]).abs())
            .fold(0.0, f64::max);
        assert!(gap <= 1e-11, "rates differ by {gap:e}");
        let ones = vec![1.0; n];
        let ga = implicit_gradient(&net, &theta, &auto.rates, &ones).unwrap();
        let gd = implicit_gradient_on(&net, &theta, &auto.rates, &ones, Path::Dense).unwrap();
        let scale = gd.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for k in 0..N_THETA {
            assert!(
                (ga[k] - gd[k]).abs() <= 1e-11 * scale,
                "θ[{k}]: {} vs {}",
                ga[k],
                gd[k]
            );
        }
    }
}
