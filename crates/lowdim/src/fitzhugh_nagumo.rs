//! FitzHugh–Nagumo model (seed 002, DESIGN §6).
//!
//! Standard form (the default):
//!
//! ```text
//! dv/dt = v − v³/3 − w + I,     dw/dt = (v + a − b w)/tau
//! ```
//!
//! `v` is the fast (membrane-like) variable, `w` the slow recovery variable, `I` the input
//! current; time is dimensionless. The seed notebook's variant has `v` and `w` swapped in the
//! cubic, `dv/dt = v + w³/3 − w + I`; it is kept as [`FhnForm::SeedSwapped`] so the notebook's
//! Adam experiment can be reproduced (its unique fixed point is a saddle).
//!
//! References: FitzHugh (1961), Nagumo et al. (1962); Izhikevich, *Dynamical Systems in
//! Neuroscience* (2007), ch. 4.

use crate::drift::Drift;
use crate::error::{LowdimError, finite, positive};
use crate::jacobian::TangentDrift;
use burn::tensor::Tensor;

/// Which right-hand side for `dv/dt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FhnForm {
    /// `dv/dt = v − v³/3 − w + I` (FitzHugh 1961).
    #[default]
    Standard,
    /// `dv/dt = v + w³/3 − w + I`, as written in the seed 002 notebook.
    SeedSwapped,
}

impl FhnForm {
    /// Parses `standard` or `seed_swapped`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(Self::Standard),
            "seed_swapped" => Some(Self::SeedSwapped),
            _ => None,
        }
    }
}

/// FitzHugh–Nagumo parameters; state columns are `(v, w)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitzHughNagumo {
    /// Time-scale ratio `tau` of the recovery variable.
    pub tau: f64,
    /// Offset `a` of the `w` nullcline.
    pub a: f64,
    /// Slope `b` of the `w` nullcline.
    pub b: f64,
    /// Input current `I`.
    pub i: f64,
    /// Form of the cubic term.
    pub form: FhnForm,
}

impl Default for FitzHughNagumo {
    fn default() -> Self {
        Self {
            tau: 12.5,
            a: 0.7,
            b: 0.8,
            i: 0.0,
            form: FhnForm::Standard,
        }
    }
}

impl FitzHughNagumo {
    /// Builds a validated model (`tau` > 0, all finite).
    pub fn new(tau: f64, a: f64, b: f64, i: f64, form: FhnForm) -> Result<Self, LowdimError> {
        Ok(Self {
            tau: positive("tau", tau)?,
            a: finite("a", a)?,
            b: finite("b", b)?,
            i: finite("I", i)?,
            form,
        })
    }

    /// The same model with input current `i`.
    pub fn with_input(self, i: f64) -> Self {
        Self { i, ..self }
    }

    /// The drift on the host for one state `(v, w)`.
    pub fn drift_host(&self, v: f64, w: f64) -> [f64; 2] {
        let dv = match self.form {
            FhnForm::Standard => v - v.powi(3) / 3.0 - w + self.i,
            FhnForm::SeedSwapped => v + w.powi(3) / 3.0 - w + self.i,
        };
        [dv, (v + self.a - self.b * w) / self.tau]
    }
}

impl Drift for FitzHughNagumo {
    fn dim(&self) -> usize {
        2
    }

    fn drift(&self, _t: f64, x: Tensor<2>) -> Tensor<2> {
        let v = x.clone().narrow(1, 0, 1);
        let w = x.narrow(1, 1, 1);
        let dv = match self.form {
            FhnForm::Standard => {
                (v.clone() - v.clone().powi_scalar(3).mul_scalar(1.0 / 3.0) - w.clone())
                    .add_scalar(self.i)
            }
            FhnForm::SeedSwapped => (v.clone() + w.clone().powi_scalar(3).mul_scalar(1.0 / 3.0)
                - w.clone())
            .add_scalar(self.i),
        };
        let dw = (v.add_scalar(self.a) - w.mul_scalar(self.b)).mul_scalar(1.0 / self.tau);
        Tensor::cat(vec![dv, dw], 1)
    }

    fn name(&self) -> String {
        let form = match self.form {
            FhnForm::Standard => "standard",
            FhnForm::SeedSwapped => "seed_swapped",
        };
        format!("FitzHughNagumo({form}, I={})", self.i)
    }
}

impl TangentDrift for FitzHughNagumo {
    /// `J v` with `J = [[1 − v², −1], [1/tau, −b/tau]]` (standard) or
    /// `[[1, w² − 1], [1/tau, −b/tau]]` (seed form).
    fn tangent(&self, _t: f64, x: Tensor<2>, dx: Tensor<2>) -> Tensor<2> {
        let v = x.clone().narrow(1, 0, 1);
        let w = x.narrow(1, 1, 1);
        let dv = dx.clone().narrow(1, 0, 1);
        let dw = dx.narrow(1, 1, 1);
        let tdv = match self.form {
            FhnForm::Standard => (v.square().neg().add_scalar(1.0)) * dv.clone() - dw.clone(),
            FhnForm::SeedSwapped => dv.clone() + w.square().sub_scalar(1.0) * dw.clone(),
        };
        let tdw = (dv - dw.mul_scalar(self.b)).mul_scalar(1.0 / self.tau);
        Tensor::cat(vec![tdv, tdw], 1)
    }
}

// The issue's reference numbers are kept digit for digit.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::adam_workflow::{AdamOptions, adam_fixed_points};
    use crate::fixed_points::{NewtonOptions, find_fixed_points, grid_starts, uniform_starts};
    use crate::jacobian::drift_jacobian;
    use crate::period::oscillation_period;
    use crate::scan::hopf_points;
    use crate::stability::Stability;
    use crate::stepper::{RK4, simulate};
    use crate::test_util::{flex, ndarray};

    fn box_starts() -> Vec<f64> {
        grid_starts(&[-2.5, -2.5], &[2.5, 2.5], 7)
    }

    /// Issue 6: standard form, I = 0: the unique fixed point (−1.19940803524, −0.62426004404),
    /// a stable focus with eigenvalues −0.25128982 ± 0.21194934 i (both backends).
    #[test]
    fn standard_form_fixed_point_is_stable_focus() {
        let model = FitzHughNagumo::default();
        for device in [flex(), ndarray()] {
            let fps = find_fixed_points(&model, &box_starts(), &NewtonOptions::default(), &device)
                .unwrap();
            assert_eq!(fps.len(), 1, "{fps:?}");
            let fp = &fps[0];
            assert!(
                (fp.x[0] + 1.1994080352440350).abs() < 1e-12,
                "v* = {:.16}",
                fp.x[0]
            );
            assert!(
                (fp.x[1] + 0.6242600440550437).abs() < 1e-12,
                "w* = {:.16}",
                fp.x[1]
            );
            assert_eq!(fp.stability, Stability::StableFocus);
            let (l0, l1) = (fp.eigenvalues[0], fp.eigenvalues[1]);
            assert!(
                (l0.re + 0.25128982).abs() < 5e-9 && (l0.im - 0.21194934).abs() < 5e-9,
                "{l0:?}"
            );
            assert!((l1.re - l0.re).abs() < 1e-15 && (l1.im + l0.im).abs() < 1e-15);
        }
    }

    /// Issue 6: Hopf points of the standard form at I = 0.331281337455 and 1.418718662545
    /// (analytic: trace J = 0 ⇔ v*² = 1 − b/τ).
    #[test]
    fn hopf_points_match_reference() {
        let base = FitzHughNagumo::default();
        let grid: Vec<f64> = (0..=40).map(|k| 0.05 * k as f64).collect();
        let hopf = hopf_points(
            |i| base.with_input(i),
            &grid,
            &[-1.2, -0.6],
            &NewtonOptions::default(),
            1e-13,
            &flex(),
        )
        .unwrap();
        assert_eq!(hopf.len(), 2, "{hopf:?}");
        assert!((hopf[0] - 0.331281337455).abs() < 1e-11, "{:.13}", hopf[0]);
        assert!((hopf[1] - 1.418718662545).abs() < 1e-11, "{:.13}", hopf[1]);
        let v = (1.0f64 - 0.8 / 12.5).sqrt();
        let analytic = |v: f64| -v + v.powi(3) / 3.0 + (v + 0.7) / 0.8;
        assert!((hopf[0] - analytic(-v)).abs() < 1e-11 && (hopf[1] - analytic(v)).abs() < 1e-11);
    }

    /// Issue 6: I = 0.5 lies between the Hopf points: the fixed point is an unstable focus and
    /// RK4 settles on a limit cycle with period ≈ 39.47.
    #[test]
    fn limit_cycle_period_at_half_input() {
        let model = FitzHughNagumo::default().with_input(0.5);
        let device = flex();
        let fps =
            find_fixed_points(&model, &box_starts(), &NewtonOptions::default(), &device).unwrap();
        assert_eq!(fps.len(), 1);
        assert_eq!(fps[0].stability, Stability::UnstableFocus);
        let traj = simulate(&model, &RK4, &[-1.0, 1.0], 0.02, 20_000, 1, &device).unwrap();
        let period = oscillation_period(&traj.times, &traj.component(0, 0), 0.3).unwrap();
        assert!((period - 39.47).abs() < 0.02, "period {period}");
    }

    /// Issue 6: seed form, I = 0: the unique fixed point (0.4488615963173350, 1.4360769953966686)
    /// is a saddle.
    #[test]
    fn seed_form_fixed_point_is_saddle() {
        let model = FitzHughNagumo {
            form: FhnForm::SeedSwapped,
            ..FitzHughNagumo::default()
        };
        let fps =
            find_fixed_points(&model, &box_starts(), &NewtonOptions::default(), &flex()).unwrap();
        assert_eq!(fps.len(), 1, "{fps:?}");
        assert!((fps[0].x[0] - 0.4488615963173350).abs() < 1e-12);
        assert!((fps[0].x[1] - 1.4360769953966686).abs() < 1e-12);
        assert_eq!(fps[0].stability, Stability::Saddle);
    }

    /// Issue 6: the seed's Adam workflow (lr 0.01, 1000 steps, uniform(−2, 2) starts) over 100
    /// seeded runs mostly stalls above 1e-6; the Newton polish reaches ‖F‖ < 1e-12 in 100/100.
    #[test]
    fn seed_adam_workflow_stalls_and_newton_polish_converges() {
        let model = FitzHughNagumo {
            form: FhnForm::SeedSwapped,
            ..FitzHughNagumo::default()
        };
        let starts = uniform_starts(&[-2.0, -2.0], &[2.0, 2.0], 100, 2);
        let out = adam_fixed_points(
            &model,
            &starts,
            &AdamOptions::default(),
            &NewtonOptions::default(),
            &flex(),
        )
        .unwrap();
        let mut losses = out.final_loss.clone();
        losses.sort_by(f64::total_cmp);
        eprintln!(
            "Adam final loss: min {:.2e}, q25 {:.2e}, median {:.2e}, q75 {:.2e}, max {:.2e}; below 1e-8: {}",
            losses[0],
            losses[25],
            losses[50],
            losses[75],
            losses[99],
            losses.iter().filter(|&&l| l < 1e-8).count()
        );
        assert!(losses[50] > 1e-6, "the seed's Adam mostly stalls");
        for (k, r) in out.polished.iter().enumerate() {
            if r.residual >= 1e-12 {
                eprintln!(
                    "run {k}: start {:?} adam {:?} loss {:e} -> {r:?}",
                    &starts[2 * k..2 * k + 2],
                    &out.adam_x[2 * k..2 * k + 2],
                    out.final_loss[k]
                );
            }
        }
        let converged = out.polished.iter().filter(|r| r.residual < 1e-12).count();
        assert_eq!(converged, 100);
        for r in &out.polished {
            assert!(
                (r.x[0] - 0.4488615963173350).abs() < 1e-12
                    && (r.x[1] - 1.4360769953966686).abs() < 1e-12
            );
        }
    }

    /// The tangent of both forms equals the autodiff Jacobian times the vector.
    #[test]
    fn tangent_matches_autodiff_jacobian() {
        let device = flex();
        for form in [FhnForm::Standard, FhnForm::SeedSwapped] {
            let model = FitzHughNagumo {
                form,
                ..FitzHughNagumo::default()
            };
            let x = [0.3, -1.2];
            let dx = [0.7, 0.4];
            let jac = drift_jacobian(&model, 0.0, &x, &device);
            let jv = crate::drift::to_host(model.tangent(
                0.0,
                crate::drift::tensor_from_rows(&x, 1, 2, &device),
                crate::drift::tensor_from_rows(&dx, 1, 2, &device),
            ));
            for i in 0..2 {
                let expect = jac[2 * i] * dx[0] + jac[2 * i + 1] * dx[1];
                assert!((jv[i] - expect).abs() < 1e-14);
            }
            // and the autodiff Jacobian equals central finite differences of the host drift
            for j in 0..2 {
                let h = 1e-6;
                let (mut p, mut m) = (x, x);
                p[j] += h;
                m[j] -= h;
                let (fp, fm) = (model.drift_host(p[0], p[1]), model.drift_host(m[0], m[1]));
                for i in 0..2 {
                    assert!((jac[2 * i + j] - (fp[i] - fm[i]) / (2.0 * h)).abs() < 1e-8);
                }
            }
        }
    }
}
