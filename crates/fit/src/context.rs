//! What every command knows about the experiment it runs.

use dynamics::BackendKind;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The experiment being run: its file, text, overrides, run folder and options.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The experiment file.
    pub exp_path: PathBuf,
    /// Its YAML text.
    pub text: String,
    /// `--set field.path=value` overrides, in order.
    pub overrides: Vec<String>,
    /// The run folder (created before the system runs).
    pub out_dir: PathBuf,
    /// Continue from the last checkpoint in `out_dir`.
    pub resume: bool,
    /// burn backend for tensor work.
    pub backend: BackendKind,
    /// Suppress progress bars.
    pub quiet: bool,
}

impl RunContext {
    /// Hash of everything that defines the run (text and overrides), stored in checkpoints so
    /// a resumed run refuses a changed experiment.
    pub fn experiment_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.text.as_bytes());
        for o in &self.overrides {
            h.update(b"\0--set ");
            h.update(o.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
