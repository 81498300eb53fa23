//! The one checkpoint format of every experiment family, as bytes in and out (the `fit` crate
//! writes the folder).
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNN/` holding four files:
//!
//! | file | holds |
//! |---|---|
//! | `meta.json` | [`CheckpointMeta`]: step, experiment hash and resolved config, the parameters as f64 bit patterns (exact) and readable, shapes, wall time, seed |
//! | `optimizer.json` | the family's own state (optimizer moments, warm starts, early-stopping counters, …), every f64 as its bit pattern |
//! | `trajectory.csv` | the trajectory rows before this step, exactly as written, so a damaged `trajectory.csv` is rebuilt rather than shortened |
//! | `manifest.json` | [`Manifest`]: format, step, experiment hash, code revision, seed, dtype, backend and the SHA-256 of each file above |
//!
//! [`decode`] verifies every checksum, so a flipped byte in Adam's moments is a damaged
//! checkpoint (the caller falls back to an older one) rather than a silently different resume.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The format tag written into every manifest.
pub const FORMAT: &str = "neurodyn-checkpoint/1";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The metadata's file name.
pub const META_FILE: &str = "meta.json";
/// The family state's file name.
pub const STATE_FILE: &str = "optimizer.json";
/// The trajectory rows' file name.
pub const ROWS_FILE: &str = "trajectory.csv";

/// The code revision this library was built from (`git rev-parse HEAD`, `-dirty` when the
/// tree had changes, `unknown` without git).
pub const CODE_REVISION: &str = env!("NEURODYN_REVISION");

/// Everything but the family state and the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Steps completed (the next trajectory row is this step).
    pub step: usize,
    /// Hash of the experiment text and overrides.
    pub experiment_hash: String,
    /// The resolved experiment, to say what changed when the hash differs.
    pub config: Value,
    /// Parameter values as f64 bit patterns (exact), one list per parameter tensor.
    pub params_bits: Vec<Vec<u64>>,
    /// The same values, readable.
    pub params: Vec<Vec<f64>>,
    /// Shapes of the parameter tensors.
    pub shapes: Vec<[usize; 2]>,
    /// Wall-clock seconds spent before this checkpoint.
    pub wall_time: f64,
    /// Seed of the noise generator (all draws are made up front, so the seed is the state).
    pub noise_seed: u64,
    /// neurodyn version that wrote it.
    pub code_version: String,
    /// Compute backend.
    pub backend: String,
    /// Float type.
    pub dtype: String,
}

/// What a checkpoint folder holds, with checksums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Steps completed.
    pub step: usize,
    /// Hash of the experiment text and overrides.
    pub experiment_hash: String,
    /// [`CODE_REVISION`] of the writer.
    pub code_revision: String,
    /// Noise seed.
    pub seed: u64,
    /// Float type.
    pub dtype: String,
    /// Compute backend.
    pub backend: String,
    /// SHA-256 (hex) of every other file in the folder, by file name.
    pub sha256: BTreeMap<String, String>,
}

/// A decoded checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Metadata and exact parameters.
    pub meta: CheckpointMeta,
    /// The family's state (JSON with f64 bit patterns).
    pub state: Vec<u8>,
    /// The trajectory file's text up to (excluding) row `meta.step`: header and rows.
    pub rows: Vec<u8>,
}

/// Why a checkpoint folder cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckpointError {
    /// No manifest: written by an older neurodyn, or the folder is incomplete.
    #[error(
        "no {MANIFEST_FILE}: written by an older neurodyn (before checksummed checkpoints) or incomplete"
    )]
    OldFormat,
    /// A file is missing or unreadable.
    #[error("cannot read {0}")]
    Missing(String),
    /// A file does not match its checksum.
    #[error("{0} does not match its SHA-256 in {MANIFEST_FILE} (damaged)")]
    Damaged(String),
    /// A file parses badly or disagrees with the manifest.
    #[error("{0}")]
    Invalid(String),
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The folder name of the checkpoint after `step` steps.
pub fn folder_name(step: usize) -> String {
    format!("step-{step:06}")
}

/// The step of a checkpoint folder name, if it is one.
pub fn step_of_folder(name: &str) -> Option<usize> {
    name.strip_prefix("step-")?.parse().ok()
}

impl Checkpoint {
    /// The files of the folder, manifest last (a reader that finds a manifest finds the rest).
    pub fn encode(&self) -> Result<Vec<(&'static str, Vec<u8>)>, serde_json::Error> {
        let mut meta = serde_json::to_vec_pretty(&self.meta)?;
        meta.push(b'\n');
        let files = vec![
            (META_FILE, meta),
            (STATE_FILE, self.state.clone()),
            (ROWS_FILE, self.rows.clone()),
        ];
        let manifest = Manifest {
            format: FORMAT.to_string(),
            step: self.meta.step,
            experiment_hash: self.meta.experiment_hash.clone(),
            code_revision: CODE_REVISION.to_string(),
            seed: self.meta.noise_seed,
            dtype: self.meta.dtype.clone(),
            backend: self.meta.backend.clone(),
            sha256: files
                .iter()
                .map(|(n, b)| (n.to_string(), sha256_hex(b)))
                .collect(),
        };
        let mut m = serde_json::to_vec_pretty(&manifest)?;
        m.push(b'\n');
        let mut files = files;
        files.push((MANIFEST_FILE, m));
        Ok(files)
    }
}

/// Reads and verifies a checkpoint through `read(file name)`.
pub fn decode(
    mut read: impl FnMut(&str) -> Option<Vec<u8>>,
) -> Result<(Manifest, Checkpoint), CheckpointError> {
    let Some(m) = read(MANIFEST_FILE) else {
        return Err(CheckpointError::OldFormat);
    };
    let manifest: Manifest = serde_json::from_slice(&m)
        .map_err(|e| CheckpointError::Invalid(format!("unreadable {MANIFEST_FILE}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(CheckpointError::Invalid(format!(
            "format `{}`, this neurodyn reads `{FORMAT}`",
            manifest.format
        )));
    }
    let mut get = |name: &str| -> Result<Vec<u8>, CheckpointError> {
        let bytes = read(name).ok_or_else(|| CheckpointError::Missing(name.to_string()))?;
        match manifest.sha256.get(name) {
            Some(h) if *h == sha256_hex(&bytes) => Ok(bytes),
            Some(_) => Err(CheckpointError::Damaged(name.to_string())),
            None => Err(CheckpointError::Invalid(format!(
                "{MANIFEST_FILE} lists no checksum for {name}"
            ))),
        }
    };
    let meta_bytes = get(META_FILE)?;
    let state = get(STATE_FILE)?;
    let rows = get(ROWS_FILE)?;
    let meta: CheckpointMeta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| CheckpointError::Invalid(format!("unreadable {META_FILE}: {e}")))?;
    if meta.step != manifest.step || meta.experiment_hash != manifest.experiment_hash {
        return Err(CheckpointError::Invalid(format!(
            "{META_FILE} (step {}) disagrees with {MANIFEST_FILE} (step {})",
            meta.step, manifest.step
        )));
    }
    if meta.params_bits.len() != meta.shapes.len()
        || meta
            .params_bits
            .iter()
            .zip(&meta.shapes)
            .any(|(v, s)| v.len() != s[0] * s[1])
    {
        return Err(CheckpointError::Invalid(format!(
            "{META_FILE}: the parameters do not match their shapes"
        )));
    }
    Ok((manifest, Checkpoint { meta, state, rows }))
}

impl CheckpointMeta {
    /// The exact parameter values (from the bit patterns).
    pub fn exact_params(&self) -> Vec<Vec<f64>> {
        self.params_bits
            .iter()
            .map(|v| v.iter().map(|b| f64::from_bits(*b)).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample() -> Checkpoint {
        let p = vec![0.1f64, -3.0e-300, f64::MIN_POSITIVE];
        Checkpoint {
            meta: CheckpointMeta {
                step: 7,
                experiment_hash: "abc".into(),
                config: serde_json::json!({"optimization": {"steps": 9}}),
                params_bits: vec![p.iter().map(|x| x.to_bits()).collect()],
                params: vec![p],
                shapes: vec![[1, 3]],
                wall_time: 1.5,
                noise_seed: 42,
                code_version: "0".into(),
                backend: "flex".into(),
                dtype: "f64".into(),
            },
            state: b"{\"m\":[1,2]}".to_vec(),
            rows: b"step,loss\n0,1.0\n".to_vec(),
        }
    }

    fn files(c: &Checkpoint) -> HashMap<String, Vec<u8>> {
        c.encode()
            .unwrap()
            .into_iter()
            .map(|(n, b)| (n.to_string(), b))
            .collect()
    }

    #[test]
    fn round_trip_is_exact() {
        let c = sample();
        let f = files(&c);
        let (m, back) = decode(|n| f.get(n).cloned()).unwrap();
        // The readable copy is for people (serde_json may round its last digit); the bit
        // patterns are the state.
        assert_eq!(back.meta.exact_params(), c.meta.params);
        assert_eq!(back.meta.params_bits, c.meta.params_bits);
        assert_eq!((back.state, back.rows), (c.state, c.rows));
        assert_eq!(m.step, 7);
        assert_eq!(m.seed, 42);
        assert_eq!(m.code_revision, CODE_REVISION);
    }

    #[test]
    fn a_flipped_byte_is_damage() {
        let c = sample();
        for name in [META_FILE, STATE_FILE, ROWS_FILE] {
            let mut f = files(&c);
            f.get_mut(name).unwrap()[3] ^= 1;
            assert_eq!(
                decode(|n| f.get(n).cloned()).unwrap_err(),
                CheckpointError::Damaged(name.to_string())
            );
        }
        let mut f = files(&c);
        f.remove(MANIFEST_FILE);
        assert_eq!(
            decode(|n| f.get(n).cloned()).unwrap_err(),
            CheckpointError::OldFormat
        );
        let mut f = files(&c);
        f.remove(STATE_FILE);
        assert_eq!(
            decode(|n| f.get(n).cloned()).unwrap_err(),
            CheckpointError::Missing(STATE_FILE.into())
        );
    }
}
