//! The seed 002 "torch workflow": fixed points by Adam on the state, minimising the mean
//! squared vector field `L(x) = (1/dim) Σ_i f_i(x)²` (PyTorch's `MSELoss` against zero), then a
//! Newton polish.
//!
//! Each row of the batch is one independent run: the batch loss is the *sum* of the per-run
//! losses, so every run sees exactly its own gradient, and Adam (element-wise) keeps separate
//! moments per run. burn's Adam matches `torch.optim.Adam` (bias-corrected moments, `ε` added to
//! `sqrt(v̂)`); `ε` defaults to torch's 1e-8 rather than burn's 1e-5.
//!
//! Minimising `‖f‖²` by gradient descent stalls where `Jᵀ f` is small but `f` is not (near
//! points where `J` is nearly singular), which is why the seed's runs end at losses of
//! 1e-5 … 1e-2; Newton on `f = 0` from the Adam endpoint removes the stall.

use crate::drift::{Drift, tensor_from_rows, to_host};
use crate::error::{LowdimError, positive};
use crate::fixed_points::{NewtonOptions, NewtonRun, newton};
use burn::optim::{AdamConfig, Optimizer};
use burn::tensor::{Device, Tensor};

/// Options of the Adam search (defaults: the seed's lr 0.01, 1000 steps, torch's betas and ε).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamOptions {
    /// Learning rate.
    pub lr: f64,
    /// Number of Adam steps.
    pub steps: usize,
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// Denominator offset.
    pub epsilon: f32,
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

/// Runs Adam from every start (row-major `[runs, dim]`) and polishes each endpoint by Newton.
pub fn adam_fixed_points<D: Drift + ?Sized>(
    model: &D,
    starts: &[f64],
    adam: &AdamOptions,
    newton_opts: &NewtonOptions,
    device: &Device,
) -> Result<AdamOutcome, LowdimError> {
    positive("lr", adam.lr)?;
    let dim = model.dim();
    if starts.is_empty() || !starts.len().is_multiple_of(dim) {
        return Err(LowdimError::Shape {
            what: "Adam starts",
            expected: dim,
            got: starts.len(),
        });
    }
    let runs = starts.len() / dim;
    let optimizer = AdamConfig::new()
        .with_beta_1(adam.beta_1)
        .with_beta_2(adam.beta_2)
        .with_epsilon(adam.epsilon)
        .build();
    let mut x = tensor_from_rows(starts, runs, dim, device);
    let mut state = None;
    let mut losses: Vec<Tensor<2>> = Vec::with_capacity(adam.steps);
    for _ in 0..adam.steps {
        let leaf = x.clone().autodiff().require_grad();
        let per_run = model.drift(0.0, leaf.clone()).square().mean_dim(1); // [runs, 1]
        let grads = per_run.clone().sum().backward();
        let grad = leaf
            .grad(&grads)
            .expect("the state is a leaf that requires grad");
        losses.push(per_run.inner());
        let (next, next_state) = optimizer.step(adam.lr, x, grad, state);
        x = next;
        state = next_state;
    }
    let adam_x = to_host(x);
    let loss_history = if losses.is_empty() {
        Vec::new()
    } else {
        to_host(Tensor::cat(losses, 1))
    };
    // `loss_history` is [runs, steps] after the concatenation; transpose to [steps, runs].
    let steps = adam.steps;
    let mut history = vec![0.0; steps * runs];
    for r in 0..runs {
        for s in 0..steps {
            history[s * runs + r] = loss_history[r * steps + s];
        }
    }
    let final_loss = if steps == 0 {
        vec![f64::NAN; runs]
    } else {
        history[(steps - 1) * runs..].to_vec()
    };
    let polished = newton(model, &adam_x, newton_opts, device)?;
    Ok(AdamOutcome {
        adam_x,
        final_loss,
        loss_history: history,
        polished,
    })
}
