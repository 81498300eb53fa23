//! What every command knows about the experiment it runs.

use anyhow::{Context, Result};
use backend::BackendKind;
use serde_yaml_ng::Value;
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

    /// Hash of everything that defines the run, stored in checkpoints and shard files so a
    /// resumed run or a merge refuses a changed experiment.
    ///
    /// It hashes the resolved configuration (the file with every `--set` applied) in a
    /// canonical form: mapping keys sorted, comments and layout dropped. The same overrides in
    /// another order are therefore the same experiment (SLURM scripts and Python build them in
    /// different orders); setting one field twice is still decided by the last setting.
    pub fn experiment_hash(&self) -> String {
        let mut h = Sha256::new();
        match crate::yaml::resolved_tree(&self.exp_path, &self.text, &self.overrides) {
            Ok(tree) => {
                h.update(b"neurodyn-experiment-v2\0");
                canonical(&tree, &mut h);
            }
            // Unreadable YAML never gets as far as a run; hash the text so the hash is defined.
            Err(_) => {
                h.update(self.text.as_bytes());
                for o in &self.overrides {
                    h.update(b"\0--set ");
                    h.update(o.as_bytes());
                }
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Feeds `v` to `h` in a canonical, unambiguous encoding: every node is a type tag followed by
/// length-prefixed content, and mapping entries are sorted by the encoding of their keys.
fn canonical(v: &Value, h: &mut Sha256) {
    fn bytes(tag: u8, b: &[u8], h: &mut Sha256) {
        h.update([tag]);
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    }
    match v {
        Value::Null => h.update(b"n"),
        Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
        // serde_yaml_ng prints numbers in a round-trip form (integers exactly, floats shortest).
        Value::Number(n) => bytes(b'#', n.to_string().as_bytes(), h),
        Value::String(s) => bytes(b's', s.as_bytes(), h),
        Value::Sequence(items) => {
            h.update(b"[");
            h.update((items.len() as u64).to_le_bytes());
            for item in items {
                canonical(item, h);
            }
        }
        Value::Mapping(m) => {
            let mut entries: Vec<(Vec<u8>, &Value)> = m
                .iter()
                .map(|(k, v)| {
                    let mut kh = Sha256::new();
                    canonical(k, &mut kh);
                    (kh.finalize().to_vec(), v)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            h.update(b"{");
            h.update((entries.len() as u64).to_le_bytes());
            for (k, v) in entries {
                h.update(&k);
                canonical(v, h);
            }
        }
        Value::Tagged(t) => {
            bytes(b'!', t.tag.to_string().as_bytes(), h);
            canonical(&t.value, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunContext {
            exp_path: "e.yaml".into(),
            text: text.into(),
            overrides: o,
            out_dir: "runs/x".into(),
            resume: false,
            backend: BackendKind::default(),
            quiet: true,
        }
        .experiment_hash()
    }

    #[test]
    fn hash_is_the_resolved_configuration() {
        let text = "a: {x: 1, y: 2.5}\nb: [1, 2]\n";
        let base = hash(text, &["a.x=3", "b=[4]"]);
        assert_eq!(base, hash(text, &["b=[4]", "a.x=3"]), "override order");
        assert_eq!(
            base,
            hash(
                "# comment\nb: [1, 2]\na: {y: 2.5, x: 1}\n",
                &["a.x=3", "b=[4]"]
            ),
            "key order and comments"
        );
        assert_eq!(
            base,
            hash("a: {x: 3, y: 2.5}\nb: [4]\n", &[]),
            "overrides = edits"
        );
        assert_ne!(base, hash(text, &["a.x=4", "b=[4]"]));
        assert_ne!(base, hash(text, &["a.x=3", "b=[4]", "a.x=5"]));
        assert_eq!(
            hash(text, &["a.x=5", "a.x=3", "b=[4]"]),
            base,
            "the last setting of a field decides"
        );
        assert_ne!(
            hash("a: '1'\n", &[]),
            hash("a: 1\n", &[]),
            "string vs number"
        );
    }
}
