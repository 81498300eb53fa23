//! Experiments of the other model families, each dispatched by its `model.name`.

pub mod lowdim;
pub mod ratenet;
pub mod soc;

use crate::context::RunContext;
use serde::Deserialize;

/// `outputs:` section shared by the runners of this module.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    /// Write PNG plots.
    #[serde(default = "yes")]
    pub plots: bool,
    /// Default run folder (read by the CLI when `--out` is absent).
    #[serde(default)]
    pub dir: Option<String>,
}

impl Default for Outputs {
    fn default() -> Self {
        Self {
            plots: true,
            dir: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A runner for some model names.
pub struct System {
    /// Model names it accepts.
    pub models: &'static [&'static str],
    /// Runs an experiment.
    pub run: fn(&RunContext) -> anyhow::Result<()>,
    /// Checks an experiment without running it (`fit validate`).
    pub validate: fn(&RunContext) -> anyhow::Result<()>,
    /// `fit gradcheck`, for the families whose loss has an exact gradient.
    pub gradcheck: Option<fn(&RunContext) -> anyhow::Result<fitting::gradcheck::Report>>,
    /// The models among [`System::models`] that `gradcheck` accepts.
    pub gradcheck_models: &'static [&'static str],
}

/// Every registered system besides the network models (which `train` runs).
pub const SYSTEMS: [System; 3] = [
    System {
        models: ratenet::MODELS,
        run: ratenet::run,
        validate: ratenet::validate,
        gradcheck: Some(ratenet::gradcheck),
        gradcheck_models: ratenet::MODELS,
    },
    System {
        models: lowdim::MODELS,
        run: lowdim::run,
        validate: lowdim::validate,
        gradcheck: Some(lowdim::gradcheck),
        gradcheck_models: &["FitzHughNagumo"],
    },
    System {
        models: soc::MODELS,
        run: soc::run,
        validate: soc::validate,
        // The SOC update follows the gradient of a smoothed spectral abscissa whose shift
        // moves with α every step: there is no one loss to check (soc's tests check the SSA
        // gradient against finite differences).
        gradcheck: None,
        gradcheck_models: &[],
    },
];

/// The runner for a model name, if any.
pub fn find(model: &str) -> Option<&'static System> {
    SYSTEMS.iter().find(|s| s.models.contains(&model))
}

/// All model names `fit run` accepts.
pub fn all_models() -> Vec<&'static str> {
    dynamics::ModelKind::names()
        .into_iter()
        .chain(SYSTEMS.iter().flat_map(|s| s.models.iter().copied()))
        .collect()
}
