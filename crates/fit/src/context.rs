//! What every command knows about the experiment it runs.

use anyhow::{Context, Result};
use backend::BackendKind;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
    /// The context of an experiment file, as every command (and the Python module) builds it:
    /// reads the file, checks the overrides' syntax, picks the backend and the run folder
    /// (`out`, else `outputs.dir`, else `runs/<file stem><suffix>`).
    pub fn from_file(
        exp_path: &Path,
        overrides: &[String],
        out: Option<PathBuf>,
        suffix: &str,
        resume: bool,
        quiet: bool,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(exp_path)
            .with_context(|| format!("cannot read experiment file {}", exp_path.display()))?;
        Self::from_text(exp_path, text, overrides, out, suffix, resume, quiet)
    }

    /// [`RunContext::from_file`] for text already read (`exp_path` names it in messages and
    /// anchors its relative paths).
    pub fn from_text(
        exp_path: &Path,
        text: String,
        overrides: &[String],
        out: Option<PathBuf>,
        suffix: &str,
        resume: bool,
        quiet: bool,
    ) -> Result<Self> {
        for o in overrides {
            crate::yaml::split_override(o)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", exp_path.display()))?;
        }
        crate::check::backend(exp_path, &text, overrides)?;
        let tree = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).ok();
        let backend = tree
            .as_ref()
            .and_then(|v| v.get("backend")?.as_str().and_then(BackendKind::parse))
            .unwrap_or_default();
        let out_dir = out.unwrap_or_else(|| {
            let from_file = tree
                .as_ref()
                .and_then(|v| v.get("outputs")?.get("dir")?.as_str().map(PathBuf::from));
            let stem = exp_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or("run".into());
            from_file.unwrap_or_else(|| PathBuf::from("runs").join(format!("{stem}{suffix}")))
        });
        Ok(Self {
            out_dir,
            exp_path: exp_path.to_path_buf(),
            text,
            overrides: overrides.to_vec(),
            resume,
            backend,
            quiet: quiet || std::env::var_os("CI").is_some(),
        })
    }

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
