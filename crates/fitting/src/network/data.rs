//! Where a network experiment's data comes from.
//!
//! The library names what an experiment refers to (its connectome, a noise or initial-condition
//! array, a target spectrum, FC matrix or MEG table) and asks a [`DataSource`] for it, at the
//! point where it is needed, so that errors keep their order (a wrong loss is named before a
//! missing target file). The `fit` command line implements it over the file system
//! (`fit::datasets::Files`); a test or a notebook can hand in arrays without any file.

use crate::network::config::ConnectivityCfg;
use anyhow::Result;
use dynamics::Connectome;
use std::path::{Path, PathBuf};

/// The data a network experiment refers to, by name.
///
/// The paths are names: the library never opens them, it only passes them back to the source
/// and quotes them in messages.
pub trait DataSource {
    /// The connectome `connectivity` describes, validated and normalised.
    fn connectome(&self, cfg: &ConnectivityCfg) -> Result<Connectome>;
    /// Where a dataset name or path written in the experiment points (the name the other
    /// methods are given).
    fn resolve(&self, name: &str) -> Result<PathBuf>;
    /// A numeric array (`.npy`): its values in C order and its shape.
    fn array(&self, at: &Path) -> Result<(Vec<f64>, Vec<usize>)>;
    /// A dense matrix (CSV or TSV rows).
    fn matrix(&self, at: &Path) -> Result<Vec<Vec<f64>>>;
    /// A numeric table with a header line: column names and rows.
    fn table(&self, at: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)>;
    /// MEG alpha amplitude for each of `labels` (`None` where a region has no value).
    fn meg_alpha(&self, at: &Path, labels: &[String]) -> Result<Vec<Option<f64>>>;
}
