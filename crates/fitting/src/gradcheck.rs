//! Gradient checks for every family that opts in: a family whose loss is a differentiable
//! function of its parameters implements [`Differentiable`], and [`check`] compares its
//! gradient with central differences, entry by entry. `fit gradcheck` prints the report.

use anyhow::Result;

/// A loss with an exact gradient, in the optimizer's (or the user's) coordinates.
pub trait Differentiable {
    /// One name per parameter entry (trajectory column names).
    fn parameter_names(&self) -> Vec<String>;
    /// The point to check at (flat).
    fn parameters(&self) -> Vec<f64>;
    /// The loss and its gradient at `params`.
    fn loss_and_gradient(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>)>;
    /// The loss alone at `params` (the default evaluates the gradient too).
    fn loss(&mut self, params: &[f64]) -> Result<f64> {
        Ok(self.loss_and_gradient(params)?.0)
    }
}

/// One parameter entry of a [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// The family's gradient.
    pub analytic: f64,
    /// Central difference `(L(p + h) − L(p − h)) / 2h`.
    pub central: f64,
    /// `|analytic − central| / max(|central|, 1e-300)`.
    pub relative_error: f64,
}

/// The result of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The loss at the point.
    pub loss: f64,
    /// One entry per parameter.
    pub entries: Vec<Entry>,
}

impl Report {
    /// The largest relative error over the finite entries.
    pub fn worst(&self) -> f64 {
        self.entries
            .iter()
            .filter(|e| e.analytic.is_finite() && e.central.is_finite())
            .map(|e| e.relative_error)
            .fold(0.0, f64::max)
    }

    /// Entries whose gradient or central difference is not finite.
    pub fn non_finite(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| !(e.analytic.is_finite() && e.central.is_finite()))
            .collect()
    }
}

/// Compares `f`'s gradient at its point with central differences of step
/// `h = rel_step · max(|p|, 1e-3)` per entry. Fails only when an evaluation fails; a
/// non-finite loss is reported in [`Report::loss`] and non-finite entries in
/// [`Report::non_finite`].
pub fn check(f: &mut dyn Differentiable, rel_step: f64) -> Result<Report> {
    let names = f.parameter_names();
    let p = f.parameters();
    anyhow::ensure!(
        names.len() == p.len(),
        "{} parameter names for {} parameters",
        names.len(),
        p.len()
    );
    let (loss, grad) = f.loss_and_gradient(&p)?;
    anyhow::ensure!(
        grad.len() == p.len(),
        "a gradient of {} entries for {} parameters",
        grad.len(),
        p.len()
    );
    let mut entries = Vec::with_capacity(p.len());
    if loss.is_finite() {
        for (k, name) in names.into_iter().enumerate() {
            let h = rel_step * p[k].abs().max(1e-3);
            let mut q = p.clone();
            q[k] = p[k] + h;
            let up = f.loss(&q)?;
            q[k] = p[k] - h;
            let down = f.loss(&q)?;
            let central = (up - down) / (2.0 * h);
            entries.push(Entry {
                name,
                analytic: grad[k],
                central,
                relative_error: (grad[k] - central).abs() / central.abs().max(1e-300),
            });
        }
    }
    Ok(Report { loss, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L(x, y) = x² y + sin y.
    struct Analytic;

    impl Differentiable for Analytic {
        fn parameter_names(&self) -> Vec<String> {
            vec!["x".into(), "y".into()]
        }
        fn parameters(&self) -> Vec<f64> {
            vec![0.7, -1.3]
        }
        fn loss_and_gradient(&mut self, p: &[f64]) -> Result<(f64, Vec<f64>)> {
            let (x, y) = (p[0], p[1]);
            Ok((x * x * y + y.sin(), vec![2.0 * x * y, x * x + y.cos()]))
        }
    }

    /// A wrong gradient in y.
    struct Wrong;

    impl Differentiable for Wrong {
        fn parameter_names(&self) -> Vec<String> {
            Analytic.parameter_names()
        }
        fn parameters(&self) -> Vec<f64> {
            Analytic.parameters()
        }
        fn loss_and_gradient(&mut self, p: &[f64]) -> Result<(f64, Vec<f64>)> {
            let (l, mut g) = Analytic.loss_and_gradient(p)?;
            g[1] *= 1.01;
            Ok((l, g))
        }
    }

    #[test]
    fn exact_gradients_pass_and_wrong_ones_are_caught() {
        let r = check(&mut Analytic, 1e-6).unwrap();
        assert_eq!(r.entries.len(), 2);
        assert!(r.worst() < 1e-8, "{r:?}");
        let r = check(&mut Wrong, 1e-6).unwrap();
        assert!(r.entries[0].relative_error < 1e-8);
        assert!((r.entries[1].relative_error - 0.01).abs() < 1e-6, "{r:?}");
        assert!(r.non_finite().is_empty());
    }
}
