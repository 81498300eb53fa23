//! Fit checkpoints: parameters (bit-exact), optimizer state (`optimizer.json`: the `optim`
//! crate's state with every f64 as its bit pattern, or a system's own payload), step, noise
//! seed and the experiment hash, written as a folder renamed into place (atomic).

use crate::run_dir::{write_atomic, write_json};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How many checkpoints are kept (oldest removed first).
pub const KEEP: usize = 3;

/// The optimizer payload's file in a checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.json";

/// Its name before the `optim` crate (burn's record for network fits; JSON for the others).
pub const LEGACY_OPTIMIZER_FILE: &str = "optimizer.bpk";

/// Everything but the optimizer state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Adam updates applied so far (the next trajectory row is this step).
    pub step: usize,
    /// Hash of the experiment text and overrides.
    pub experiment_hash: String,
    /// The resolved experiment, to say what changed when the hash differs.
    pub config: Value,
    /// Unconstrained parameter values as f64 bit patterns (exact), one list per free parameter.
    pub params_bits: Vec<Vec<u64>>,
    /// The same values, readable.
    pub params: Vec<Vec<f64>>,
    /// Shapes `[batch, m]` of the parameter tensors.
    pub shapes: Vec<[usize; 2]>,
    /// Wall-clock seconds spent before this checkpoint.
    pub wall_time: f64,
    /// Seed of the noise generator (all draws are made up front, so the seed is the state).
    pub noise_seed: u64,
    /// neurodyn version that wrote it.
    pub code_version: String,
    /// burn backend.
    pub backend: String,
    /// Float type.
    pub dtype: String,
}

fn ckpt_root(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// Writes checkpoint `meta` with the optimizer bytes into `run/checkpoints/step-NNNNNN/`.
pub fn save(run: &Path, meta: &CheckpointMeta, optimizer: &[u8]) -> Result<PathBuf> {
    let root = ckpt_root(run);
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create the checkpoints folder {}", root.display()))?;
    let name = format!("step-{:06}", meta.step);
    let tmp = root.join(format!(".{name}.tmp"));
    let dst = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove the stale {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    write_json(&tmp.join("meta.json"), meta)?;
    write_atomic(&tmp.join(OPTIMIZER_FILE), optimizer)?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst)
            .with_context(|| format!("cannot replace checkpoint {}", dst.display()))?;
    }
    std::fs::rename(&tmp, &dst)
        .with_context(|| format!("cannot publish checkpoint {}", dst.display()))?;
    let mut all = list(run)?;
    while all.len() > KEEP {
        let (_, old) = all.remove(0);
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the old checkpoint {}", old.display()))?;
    }
    Ok(dst)
}

/// Completed checkpoints `(step, folder)`, oldest first.
pub fn list(run: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let root = ckpt_root(run);
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&root).with_context(|| format!("cannot list {}", root.display()))? {
        let p = e
            .with_context(|| format!("cannot list {}", root.display()))?
            .path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<usize>().ok())
            && p.join("meta.json").exists()
            && (p.join(OPTIMIZER_FILE).exists() || p.join(LEGACY_OPTIMIZER_FILE).exists())
        {
            out.push((step, p));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest checkpoint: its metadata and optimizer bytes.
pub fn latest(run: &Path) -> Result<Option<(CheckpointMeta, Vec<u8>)>> {
    let Some((_, dir)) = list(run)?.pop() else {
        return Ok(None);
    };
    let meta_path = dir.join("meta.json");
    let meta_bytes = std::fs::read(&meta_path)
        .with_context(|| format!("cannot read {}", meta_path.display()))?;
    let meta: CheckpointMeta = serde_json::from_slice(&meta_bytes)
        .with_context(|| format!("{}: unreadable checkpoint", dir.display()))?;
    let file = if dir.join(OPTIMIZER_FILE).exists() {
        OPTIMIZER_FILE
    } else {
        LEGACY_OPTIMIZER_FILE
    };
    let bytes = std::fs::read(dir.join(file))
        .with_context(|| format!("cannot read {}", dir.join(file).display()))?;
    Ok(Some((meta, bytes)))
}

/// Leaf paths whose values differ between two resolved configurations.
pub fn diff_configs(old: &Value, new: &Value) -> Vec<String> {
    fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(p, x.get(k), y.get(k), out);
                }
            }
            (a, b) if a != b => {
                let show = |v: Option<&Value>| v.map_or("(absent)".to_string(), |v| v.to_string());
                out.push(format!("{path}: {} -> {}", show(a), show(b)));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), Some(old), Some(new), &mut out);
    out
}

/// Refuses a checkpoint written for a different experiment, saying what changed.
pub fn check_same_experiment(
    meta: &CheckpointMeta,
    hash: &str,
    config: &Value,
    run: &Path,
) -> Result<()> {
    if meta.experiment_hash == hash {
        return Ok(());
    }
    let changes = diff_configs(&meta.config, config);
    let what = if changes.is_empty() {
        "the experiment text changed (comments or formatting only?)".to_string()
    } else {
        changes.join("; ")
    };
    bail!(
        "{}: the checkpoint at step {} was written for a different experiment ({what}). \
         Use --out for a new run folder or --fresh to start this one over.",
        run.display(),
        meta.step
    )
}

/// Decodes exact parameter values from a checkpoint.
pub fn params_from_bits(meta: &CheckpointMeta) -> Result<Vec<Vec<f64>>> {
    if meta.params_bits.len() != meta.shapes.len() {
        return Err(anyhow!(
            "corrupt checkpoint: {} parameters, {} shapes",
            meta.params_bits.len(),
            meta.shapes.len()
        ));
    }
    Ok(meta
        .params_bits
        .iter()
        .map(|v| v.iter().map(|b| f64::from_bits(*b)).collect())
        .collect())
}
