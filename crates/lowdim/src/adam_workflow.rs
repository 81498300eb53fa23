//! The seed 002 "torch workflow": fixed points by Adam on the state, minimising the mean
//! squared vector field `L(x) = (1/dim) Σ_i f_i(x)²` (PyTorch's `MSELoss` against zero), then a
//! Newton polish.
//!
//! Each row of the batch is one independent run: the batch loss is the *sum* of the per-run
//! losses, so every run sees exactly its own gradient, and Adam (element-wise) keeps separate
//! moments per run. The update is `optim::adam` in f64, which is `torch.optim.Adam`'s formula
//! (bias-corrected moments, `ε` added to `sqrt(v̂)`) with torch's defaults (ε = 1e-8).
//!
//! Minimising `‖f‖²` by gradient descent stalls where `Jᵀ f` is small but `f` is not (near
//! points where `J` is nearly singular), which is why the seed's runs end at losses of
//! 1e-5 … 1e-2; Newton on `f = 0` from the Adam endpoint removes the stall.

use crate::drift::{Drift, tensor_from_rows, to_host};
use crate::error::{LowdimError, positive};
use crate::fixed_points::{NewtonOptions, NewtonRun, newton};
use burn::tensor::Device;
use optim::GradientTransformation;

/// Options of the Adam search (defaults: the seed's lr 0.01, 1000 steps, torch's betas and ε).
///
/// β and ε are f64 (burn 0.22's Adam keeps them in f32, which rounds β₁ = 0.9 to
/// 0.8999999761581421); the update is the `optim` crate's `adam`, optax's operation order,
/// which is torch's formula (bias-corrected moments, ε added to `sqrt(v̂)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamOptions {
    /// Learning rate.
    pub lr: f64,
    /// Number of Adam steps.
    pub steps: usize,
    /// First-moment decay.
    pub beta_1: f64,
    /// Second-moment decay.
    pub beta_2: f64,
    /// Denominator offset.
    pub epsilon: f64,
}

impl Default for AdamOptions {
    fn default() -> Self {
        Self {
            lr: 0.01,
            steps: 1000,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// Result of the Adam workflow for a batch of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamOutcome {
    /// Adam endpoints, row-major `[runs, dim]`.
    pub adam_x: Vec<f64>,
    /// Loss of each run at its last step (evaluated before that step's update, as the seed
    /// prints `losses[-1]`), length `runs`.
    pub final_loss: Vec<f64>,
    /// Loss of every run at every step, row-major `[steps, runs]`.
    pub loss_history: Vec<f64>,
    /// Newton polish from each Adam endpoint.
    pub polished: Vec<NewtonRun>,
}

/// The Adam search one step at a time, with its full state exposed, so that a training
/// driver can checkpoint and resume it bit for bit.
pub struct AdamSearch<'a, D: Drift + ?Sized> {
    model: &'a D,
    runs: usize,
    x: Vec<f64>,
    optimizer: optim::Chain,
    state: optim::State,
    steps_done: usize,
    device: Device,
}

impl<'a, D: Drift + ?Sized> AdamSearch<'a, D> {
    /// A search from `starts` (row-major `[runs, dim]`).
    pub fn new(
        model: &'a D,
        starts: &[f64],
        adam: &AdamOptions,
        device: &Device,
    ) -> Result<Self, LowdimError> {
        positive("lr", adam.lr)?;
        let dim = model.dim();
        if starts.is_empty() || !starts.len().is_multiple_of(dim) {
            return Err(LowdimError::Shape {
                what: "Adam starts",
                expected: dim,
                got: starts.len(),
            });
        }
        let optimizer = optim::adam(
            optim::Schedule::Constant { value: adam.lr },
            adam.beta_1,
            adam.beta_2,
            adam.epsilon,
        );
        let state = optimizer.init(starts);
        Ok(Self {
            model,
            runs: starts.len() / dim,
            x: starts.to_vec(),
            optimizer,
            state,
            steps_done: 0,
            device: device.clone(),
        })
    }

    /// The current states, row-major `[runs, dim]`.
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// Adam steps applied so far.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// The optimizer state (plain data, serialises exactly).
    pub fn state(&self) -> &optim::State {
        &self.state
    }

    /// Restores a state of [`AdamSearch::x`], [`AdamSearch::state`] and
    /// [`AdamSearch::steps_done`].
    pub fn restore(
        &mut self,
        x: Vec<f64>,
        state: optim::State,
        steps_done: usize,
    ) -> Result<(), LowdimError> {
        if x.len() != self.x.len() {
            return Err(LowdimError::Shape {
                what: "restored Adam states",
                expected: self.x.len(),
                got: x.len(),
            });
        }
        self.x = x;
        self.state = state;
        self.steps_done = steps_done;
        Ok(())
    }

    /// Each run's loss `mean_i f_i(x)²` at states `x` (row-major `[runs, dim]`) and the
    /// gradient of their sum (each run's own gradient), through burn's autodiff.
    pub fn loss_and_gradient(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let dim = self.model.dim();
        let leaf = tensor_from_rows(x, self.runs, dim, &self.device)
            .autodiff()
            .require_grad();
        let per_run = self.model.drift(0.0, leaf.clone()).square().mean_dim(1); // [runs, 1]
        let grads = per_run.clone().sum().backward();
        let grad = to_host(
            leaf.grad(&grads)
                .expect("the state is a leaf that requires grad"),
        );
        (to_host(per_run.inner()), grad)
    }

    /// One Adam step: returns each run's loss at the current state (before the update) and
    /// whether the loss and gradient were finite; a non-finite step leaves the state as it was.
    pub fn step(&mut self) -> (Vec<f64>, bool) {
        let (losses, grad) = self.loss_and_gradient(&self.x);
        let finite = losses.iter().chain(&grad).all(|v| v.is_finite());
        if finite {
            let updates = self.optimizer.update(grad, &mut self.state, &self.x, None);
            optim::apply_updates(&mut self.x, &updates);
            self.steps_done += 1;
        }
        (losses, finite)
    }
}

/// Runs Adam from every start (row-major `[runs, dim]`) and polishes each endpoint by Newton.
pub fn adam_fixed_points<D: Drift + ?Sized>(
    model: &D,
    starts: &[f64],
    adam: &AdamOptions,
    newton_opts: &NewtonOptions,
    device: &Device,
) -> Result<AdamOutcome, LowdimError> {
    let mut search = AdamSearch::new(model, starts, adam, device)?;
    let runs = search.runs;
    let steps = adam.steps;
    let mut history = Vec::with_capacity(steps * runs);
    for _ in 0..steps {
        history.extend(search.step().0);
    }
    let final_loss = if steps == 0 {
        vec![f64::NAN; runs]
    } else {
        history[(steps - 1) * runs..].to_vec()
    };
    let adam_x = search.x;
    let polished = newton(model, &adam_x, newton_opts, device)?;
    Ok(AdamOutcome {
        adam_x,
        final_loss,
        loss_history: history,
        polished,
    })
}
