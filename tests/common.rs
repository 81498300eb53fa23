//! Helpers shared by the integration tests: loading shipped experiments.

#![allow(dead_code)]

use fit::network_setup::{NetworkSetup, SetupFiles};
use std::path::PathBuf;

/// Path of a shipped experiment file.
pub fn experiment(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(name)
}

/// Parses and prepares a shipped Jansen-Rit experiment with `--set` overrides.
pub fn setup(name: &str, overrides: &[&str]) -> NetworkSetup {
    let path = experiment(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let exp = fit::yaml::parse_experiment(&path, &text, &overrides).unwrap();
    NetworkSetup::new(exp, &path).unwrap()
}

/// Relative error with a floor.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}
