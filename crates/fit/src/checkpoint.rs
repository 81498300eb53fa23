//! Checkpoint folders of a run folder, in the one format of [`fitting::checkpoint`]: written
//! to a temporary folder and renamed into place (atomic), verified on reading (SHA-256 of every
//! file), the newest intact one used when the newest is damaged.

use crate::run_dir::write_atomic;
use anyhow::{Context, Result, bail};
pub use fitting::checkpoint::{Checkpoint, CheckpointError, CheckpointMeta};
use fitting::checkpoint::{decode, folder_name, step_of_folder};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How many checkpoints are kept (oldest removed first).
pub const KEEP: usize = 3;

fn ckpt_root(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// Writes `ckpt` into `run/checkpoints/step-NNNNNN/` (replacing one of that step) and removes
/// all but the newest [`KEEP`].
pub fn save(run: &Path, ckpt: &Checkpoint) -> Result<PathBuf> {
    let root = ckpt_root(run);
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create the checkpoints folder {}", root.display()))?;
    let name = folder_name(ckpt.meta.step);
    let tmp = root.join(format!(".{name}.{}.tmp", std::process::id()));
    let dst = root.join(&name);
    let write = || -> Result<()> {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("cannot remove the stale {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        for (file, bytes) in ckpt.encode()? {
            write_atomic(&tmp.join(file), &bytes)?;
        }
        if dst.exists() {
            std::fs::remove_dir_all(&dst)
                .with_context(|| format!("cannot replace checkpoint {}", dst.display()))?;
        }
        std::fs::rename(&tmp, &dst)
            .with_context(|| format!("cannot publish checkpoint {}", dst.display()))
    };
    if let Err(e) = write() {
        // No temporary folder is left behind after an error.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let mut all = list(run)?;
    while all.len() > KEEP {
        let (_, old) = all.remove(0);
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the old checkpoint {}", old.display()))?;
    }
    Ok(dst)
}

/// Removes the checkpoints after `step` (after a divergence: they hold the state that
/// produced it).
pub fn remove_after(run: &Path, step: usize) -> Result<()> {
    for (s, dir) in list(run)? {
        if s > step {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    Ok(())
}

/// Checkpoint folders `(step, folder)`, oldest first (intact or not).
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
        if let Some(step) = step_of_folder(&name)
            && p.is_dir()
        {
            out.push((step, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and verifies one checkpoint folder.
pub fn read(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    decode(|name| std::fs::read(dir.join(name)).ok()).map(|(_, c)| c)
}

/// The newest intact checkpoint. A damaged newer one is named on stderr and skipped; when
/// checkpoints exist but none is intact, the error names each and why.
pub fn latest(run: &Path) -> Result<Option<Checkpoint>> {
    let all = list(run)?;
    if all.is_empty() {
        return Ok(None);
    }
    let mut bad = Vec::new();
    for (_, dir) in all.iter().rev() {
        match read(dir) {
            Ok(c) => {
                for b in &bad {
                    eprintln!("{b}; using the checkpoint at step {} instead", c.meta.step);
                }
                return Ok(Some(c));
            }
            Err(e) => bad.push(format!("checkpoint {} is unusable: {e}", dir.display())),
        }
    }
    bail!(
        "{}: no intact checkpoint ({}). Use --fresh to start this run folder over.",
        run.display(),
        bad.join("; ")
    )
}

/// Whether a run folder holds any checkpoint folder.
pub fn exists(run: &Path) -> Result<bool> {
    Ok(!list(run)?.is_empty())
}

/// Leaf paths whose values differ between two resolved configurations (`path: a -> b`).
pub fn diff_configs(old: &Value, new: &Value) -> Vec<String> {
    fitting::resume::diff(old, new)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Accepts a checkpoint of the same experiment, or one whose differences are all allowed on
/// resume (learning rate, schedule, steps, checkpoint and stopping settings: printed as
/// "changed, allowed: …"); refuses any other change, listing them.
pub fn check_same_experiment(
    meta: &CheckpointMeta,
    hash: &str,
    config: &Value,
    run: &Path,
) -> Result<()> {
    if meta.experiment_hash == hash {
        return Ok(());
    }
    let (allowed, refused) = fitting::resume::classify(&meta.config, config);
    let show = |v: &[fitting::resume::Change]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if allowed.is_empty() && refused.is_empty() {
        bail!(
            "{}: the checkpoint at step {} was written for a different experiment (the \
             experiment text changed: comments or formatting only?). Use --out for a new run \
             folder or --fresh to start this one over.",
            run.display(),
            meta.step
        );
    }
    if !refused.is_empty() {
        bail!(
            "{}: the checkpoint at step {} was written for a different experiment ({}). A \
             resume may change only the learning rate, schedule, step count, checkpoint and \
             stopping settings. Use --out for a new run folder or --fresh to start this one over.",
            run.display(),
            meta.step,
            show(&refused)
        );
    }
    eprintln!("changed, allowed: {}", show(&allowed));
    Ok(())
}

/// Builds a checkpoint of `snap` for an experiment.
pub struct Writer {
    /// The run folder.
    pub run: PathBuf,
    /// Experiment hash.
    pub hash: String,
    /// Resolved experiment.
    pub config: Value,
    /// Noise seed.
    pub seed: u64,
    /// Compute backend name.
    pub backend: String,
}

impl Writer {
    /// Writes the checkpoint of `snap` with the trajectory text `rows` (header and the rows
    /// before `snap.step`).
    pub fn save(&self, snap: &fitting::family::Snapshot, rows: Vec<u8>) -> Result<PathBuf> {
        let meta = CheckpointMeta {
            step: snap.step,
            experiment_hash: self.hash.clone(),
            config: self.config.clone(),
            params_bits: snap
                .params
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect(),
            params: snap.params.clone(),
            shapes: snap.shapes.clone(),
            wall_time: snap.wall_time,
            noise_seed: self.seed,
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            backend: self.backend.clone(),
            dtype: "f64".to_string(),
        };
        save(
            &self.run,
            &Checkpoint {
                meta,
                state: snap.state.clone(),
                rows,
            },
        )
    }
}

/// The family snapshot stored in a checkpoint.
pub fn snapshot_of(c: &Checkpoint) -> fitting::family::Snapshot {
    fitting::family::Snapshot {
        step: c.meta.step,
        params: c.meta.exact_params(),
        shapes: c.meta.shapes.clone(),
        state: c.state.clone(),
        wall_time: c.meta.wall_time,
    }
}
