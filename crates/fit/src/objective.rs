//! The network fitting objective, from the library ([`fitting::network::objective`]), with
//! its target read from files.

use crate::datasets::Files;
use anyhow::Result;
pub use fitting::network::objective::*;
use fitting::network::setup::NetworkSetup;
use std::path::Path;

/// Targets named in an experiment file, read from the file system (datasets resolved next to
/// `exp_path`).
pub trait TargetFiles {
    /// Sets the target from the experiment's `optimization.target`.
    fn set_target(&mut self, setup: &NetworkSetup, exp_path: &Path) -> Result<()>;

    /// Checks the target and sets it; a simulated target is only simulated when `simulate` is
    /// true (`fit validate` checks its parameters, no more).
    fn check_target(&mut self, setup: &NetworkSetup, exp_path: &Path, simulate: bool)
    -> Result<()>;
}

impl TargetFiles for Objective {
    fn set_target(&mut self, setup: &NetworkSetup, exp_path: &Path) -> Result<()> {
        self.set_target_with(setup, exp_path, &Files::new(exp_path))
    }

    fn check_target(
        &mut self,
        setup: &NetworkSetup,
        exp_path: &Path,
        simulate: bool,
    ) -> Result<()> {
        self.check_target_with(setup, exp_path, &Files::new(exp_path), simulate)
    }
}
