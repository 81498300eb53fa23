//! The network setup, from the library ([`fitting::network::setup`]), built from an experiment
//! file and the files it names.

use crate::config::Experiment;
use crate::datasets::Files;
use anyhow::Result;
pub use fitting::network::setup::*;
use std::path::Path;

/// A [`NetworkSetup`] whose connectome, noise and initial-condition arrays are read from the
/// files the experiment names (resolved next to `exp_path`).
pub trait SetupFiles: Sized {
    /// Validates the experiment's numbers and loads everything it refers to (running a warm
    /// transient when `initial_conditions` asks for one).
    fn new(exp: Experiment, exp_path: &Path) -> Result<Self>;

    /// Everything [`SetupFiles::new`] checks, without running a warm transient.
    fn checked(exp: Experiment, exp_path: &Path) -> Result<Self>;
}

impl SetupFiles for NetworkSetup {
    fn new(exp: Experiment, exp_path: &Path) -> Result<Self> {
        NetworkSetup::with_data(exp, exp_path, &Files::new(exp_path))
    }

    fn checked(exp: Experiment, exp_path: &Path) -> Result<Self> {
        NetworkSetup::checked_with_data(exp, exp_path, &Files::new(exp_path))
    }
}
