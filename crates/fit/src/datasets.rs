//! Loading connectomes and per-region data from disk (BIDS relmat TSV + JSON sidecars, plain
//! CSV/TSV matrices, tvbo network YAML), with errors that say what was wrong and where.

use crate::config::{ConnectivityCfg, NormCfg};
use anyhow::{Context, Result, anyhow, bail};
use dynamics::{Connectome, Normalisation};
use fitting::network::data::DataSource;
use std::path::{Path, PathBuf};

/// Folders searched for a dataset given by name, in order.
pub fn dataset_search_path(exp_path: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("datasets")];
    if let Some(parent) = exp_path.parent() {
        dirs.push(parent.join("datasets"));
        dirs.push(parent.join("..").join("datasets"));
    }
    if let Ok(env) = std::env::var("NEURODYN_DATASETS") {
        dirs.push(PathBuf::from(env));
    }
    // The datasets shipped in this repository, wherever the binary is run from.
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets"));
    dirs
}

/// Finds a dataset folder (or file) by name or path: a bare name next to the experiment file
/// first, then in the dataset folders.
pub fn resolve_dataset(name: &str, exp_path: &Path) -> Result<PathBuf> {
    if name.trim().is_empty() {
        bail!("empty file or dataset name");
    }
    if PathBuf::from(name).is_absolute() || name.contains('/') {
        return resolve_file(name, exp_path);
    }
    let dirs = dataset_search_path(exp_path);
    let mut candidates: Vec<PathBuf> = vec![exp_dir(exp_path).join(name)];
    candidates.extend(dirs.iter().map(|d| d.join(name)));
    candidates.dedup();
    if let Some(p) = candidates.iter().find(|p| p.exists()) {
        return Ok(p.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "{} `{name}` not found; looked in: {}",
        // A name with an extension is a file (noise, trace, target), else a dataset folder.
        if name.contains('.') {
            "file"
        } else {
            "dataset"
        },
        looked.join(", ")
    )
}

/// The folder of the experiment file (`.` for a bare file name).
fn exp_dir(exp_path: &Path) -> &Path {
    exp_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Finds a file given as a path: relative to the experiment file, as written (from the current
/// folder), then inside the dataset folders (so `dk_average/<file>.tsv` names a file of a
/// shipped dataset).
fn resolve_file(name: &str, exp_path: &Path) -> Result<PathBuf> {
    let p = PathBuf::from(name);
    let mut candidates = vec![exp_dir(exp_path).join(name), p.clone()];
    if !p.is_absolute() {
        candidates.extend(dataset_search_path(exp_path).iter().map(|d| d.join(name)));
    }
    candidates
        .iter()
        .find(|c| c.exists())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            anyhow!("`{name}` not found (looked at {})", looked.join(", "))
        })
}

/// Reads a numeric matrix from CSV or TSV (delimiter detected), without header.
pub fn read_matrix(path: &Path) -> Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read matrix file {}", path.display()))?;
    let mut rows = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = if line.contains('\t') {
            line.split('\t').collect()
        } else if line.contains(',') {
            line.split(',').collect()
        } else {
            line.split_whitespace().collect()
        };
        let mut row = Vec::with_capacity(cells.len());
        for (col, c) in cells.iter().enumerate() {
            let v: f64 = c.trim().parse().map_err(|_| {
                anyhow!(
                    "{}:{}: column {}: `{}` is not a number",
                    path.display(),
                    ln + 1,
                    col + 1,
                    c.trim()
                )
            })?;
            row.push(v);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{} holds no matrix", path.display());
    }
    Ok(rows)
}

/// Reads region labels: a BIDS `nodeindices.tsv` (column `label`) or one label per line.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read labels file {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    if first.contains('\t') {
        let header: Vec<&str> = first.split('\t').collect();
        let col = header
            .iter()
            .position(|h| h.trim() == "label")
            .ok_or_else(|| anyhow!("{}: TSV without a `label` column", path.display()))?;
        lines
            .map(|l| {
                l.split('\t')
                    .nth(col)
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| anyhow!("{}: row without label: {l}", path.display()))
            })
            .collect()
    } else {
        Ok(std::iter::once(first)
            .chain(lines)
            .map(|l| l.trim().to_string())
            .collect())
    }
}

/// Node labels from a tvbo network YAML (`nodes: [{label: ...}]`).
fn tvbo_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    let tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", path.display()))?;
    let nodes = tree
        .get("nodes")
        .and_then(|n| n.as_sequence())
        .ok_or_else(|| anyhow!("{}: no `nodes` list", path.display()))?;
    nodes
        .iter()
        .map(|n| {
            n.get("label")
                .and_then(|l| l.as_str())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{}: node without label", path.display()))
        })
        .collect()
}

fn find_with_suffix(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().ends_with(suffix))
                .unwrap_or(false)
        })
        .collect();
    hits.sort();
    hits.into_iter().next()
}

/// Loads a dataset folder: BIDS relmat (`*streamlineCount_relmat.dense.tsv`,
/// `*tractLength_relmat.dense.tsv`, `*nodeindices.tsv`) or tvbo CSV (`*_weights.csv`,
/// `*_lengths.csv`, `*_relmat.yaml`).
fn load_dataset_dir(dir: &Path) -> Result<(PathBuf, PathBuf, Option<PathBuf>, bool)> {
    if let Some(w) = find_with_suffix(dir, "streamlineCount_relmat.dense.tsv") {
        let l = find_with_suffix(dir, "tractLength_relmat.dense.tsv")
            .ok_or_else(|| anyhow!("{}: no *tractLength_relmat.dense.tsv", dir.display()))?;
        return Ok((w, l, find_with_suffix(dir, "nodeindices.tsv"), false));
    }
    if let Some(w) = find_with_suffix(dir, "_weights.csv") {
        let l = find_with_suffix(dir, "_lengths.csv").ok_or_else(|| {
            anyhow!(
                "{}: no *_lengths.csv next to {}",
                dir.display(),
                w.display()
            )
        })?;
        return Ok((w, l, find_with_suffix(dir, "_relmat.yaml"), true));
    }
    bail!(
        "{}: not a connectome folder (expected BIDS *streamlineCount_relmat.dense.tsv + \
         *tractLength_relmat.dense.tsv, or *_weights.csv + *_lengths.csv)",
        dir.display()
    )
}

/// Loads, validates and normalises the connectome an experiment names.
pub fn load_connectome(cfg: &ConnectivityCfg, exp_path: &Path) -> Result<Connectome> {
    let (w, l, labels, tvbo_yaml) = match (&cfg.dataset, &cfg.weights, &cfg.lengths) {
        (Some(name), None, None) => load_dataset_dir(&resolve_dataset(name, exp_path)?)?,
        (None, Some(w), Some(l)) => (
            resolve_file(w, exp_path)?,
            resolve_file(l, exp_path)?,
            cfg.labels
                .as_deref()
                .map(|p| resolve_file(p, exp_path))
                .transpose()?,
            false,
        ),
        _ => bail!(
            "{}: connectivity needs either `dataset` or both `weights` and `lengths`",
            exp_path.display()
        ),
    };
    let weights = read_matrix(&w)?;
    let lengths = read_matrix(&l)?;
    let labels = match labels {
        Some(p) if tvbo_yaml => tvbo_labels(&p)?,
        Some(p) => read_labels(&p)?,
        None => (0..weights.len()).map(|k| format!("region{k}")).collect(),
    };
    let c = Connectome::new(&weights, &lengths, labels)
        .map_err(|e| anyhow!("connectome {} / {}: {e}", w.display(), l.display()))?;
    Ok(c.normalised(match cfg.normalisation {
        NormCfg::None => Normalisation::None,
        NormCfg::Max => Normalisation::Max,
        NormCfg::RowSum => Normalisation::RowSum,
    }))
}

/// The file system as the library's [`DataSource`]: dataset names resolved next to the
/// experiment file (then the dataset search path), arrays read from `.npy`, matrices from CSV
/// or TSV.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    exp_path: &'a Path,
}

impl<'a> Files<'a> {
    /// The files an experiment at `exp_path` names.
    pub fn new(exp_path: &'a Path) -> Self {
        Self { exp_path }
    }
}

impl DataSource for Files<'_> {
    fn connectome(&self, cfg: &ConnectivityCfg) -> Result<Connectome> {
        load_connectome(cfg, self.exp_path)
    }

    fn resolve(&self, name: &str) -> Result<PathBuf> {
        resolve_dataset(name, self.exp_path)
    }

    fn array(&self, at: &Path) -> Result<(Vec<f64>, Vec<usize>)> {
        crate::npy::read_npy(at)
    }

    fn matrix(&self, at: &Path) -> Result<Vec<Vec<f64>>> {
        read_matrix(at)
    }

    fn table(&self, at: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
        crate::run_dir::read_csv(at)
    }

    fn meg_alpha(&self, at: &Path, labels: &[String]) -> Result<Vec<Option<f64>>> {
        load_meg_alpha(at, labels)
    }
}

/// Desikan-Killiany cortical regions: dk_average abbreviation → FreeSurfer name.
const DK_ABBREVIATIONS: [(&str, &str); 34] = [
    ("BSTS", "bankssts"),
    ("CACG", "caudalanteriorcingulate"),
    ("CMFG", "caudalmiddlefrontal"),
    ("CU", "cuneus"),
    ("EC", "entorhinal"),
    ("FG", "fusiform"),
    ("IPG", "inferiorparietal"),
    ("ITG", "inferiortemporal"),
    ("ICG", "isthmuscingulate"),
    ("LOG", "lateraloccipital"),
    ("LOFG", "lateralorbitofrontal"),
    ("LG", "lingual"),
    ("MOFG", "medialorbitofrontal"),
    ("MTG", "middletemporal"),
    ("PHIG", "parahippocampal"),
    ("PaCG", "paracentral"),
    ("POP", "parsopercularis"),
    ("POR", "parsorbitalis"),
    ("PTR", "parstriangularis"),
    ("PCAL", "pericalcarine"),
    ("PoCG", "postcentral"),
    ("PCG", "posteriorcingulate"),
    ("PrCG", "precentral"),
    ("PCU", "precuneus"),
    ("RACG", "rostralanteriorcingulate"),
    ("RMFG", "rostralmiddlefrontal"),
    ("SFG", "superiorfrontal"),
    ("SPG", "superiorparietal"),
    ("STG", "superiortemporal"),
    ("SMG", "supramarginal"),
    ("FP", "frontalpole"),
    ("TP", "temporalpole"),
    ("TTG", "transversetemporal"),
    ("IN", "insula"),
];

/// The FreeSurfer-style label (`ctx-lh-cuneus`) of a connectome label, when it is cortical.
pub fn canonical_cortical_label(label: &str) -> Option<String> {
    if label.starts_with("ctx-lh-") || label.starts_with("ctx-rh-") {
        return Some(label.to_string());
    }
    let (hemi, abbr) = label.split_once('.')?;
    let hemi = match hemi {
        "L" => "lh",
        "R" => "rh",
        _ => return None,
    };
    DK_ABBREVIATIONS
        .iter()
        .find(|(a, _)| *a == abbr)
        .map(|(_, name)| format!("ctx-{hemi}-{name}"))
}

/// MEG alpha amplitude per connectome region (`None` where the region has no value).
pub fn load_meg_alpha(path: &Path, labels: &[String]) -> Result<Vec<Option<f64>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read MEG alpha file {}", path.display()))?;
    let tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", path.display()))?;
    let nodes = tree
        .get("nodes")
        .and_then(|n| n.as_sequence())
        .ok_or_else(|| anyhow!("{}: no `nodes` list", path.display()))?;
    let mut table = std::collections::HashMap::new();
    for n in nodes {
        let label = n.get("label").and_then(|l| l.as_str());
        let value = n
            .get("parameters")
            .and_then(|p| p.get("megalpha"))
            .and_then(|m| m.get("value"))
            .and_then(|v| v.as_f64());
        if let (Some(l), Some(v)) = (label, value) {
            table.insert(l.to_string(), v);
        }
    }
    let out: Vec<Option<f64>> = labels
        .iter()
        .map(|l| canonical_cortical_label(l).and_then(|c| table.get(&c).copied()))
        .collect();
    if out.iter().all(Option::is_none) {
        bail!(
            "{}: no MEG alpha value matches any connectome label",
            path.display()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets")
            .join(name)
    }

    #[test]
    fn loads_both_shipped_connectomes() {
        let exp = Path::new("experiments/x.yaml");
        let cfg = |d: &str| ConnectivityCfg {
            dataset: Some(d.into()),
            weights: None,
            lengths: None,
            labels: None,
            conduction_speed: crate::config::SpeedCfg::Value(3.0),
            history_interpolation: Default::default(),
            normalisation: NormCfg::None,
        };
        let dk84 = load_connectome(&cfg("dk_average"), exp).unwrap();
        assert_eq!(dk84.len(), 84);
        assert_eq!(dk84.labels()[0], "L.BSTS");
        let d = dk84.delays(3.0, 1.0).unwrap();
        assert_eq!(d.horizon, 76);
        let min_off = (0..84 * 84)
            .filter(|k| k / 84 != k % 84)
            .map(|k| d.lag[k])
            .min()
            .unwrap();
        assert_eq!(min_off, 4);
        let dk87 = load_connectome(&cfg("dk87_dtor"), exp).unwrap();
        assert_eq!(dk87.len(), 87);
        assert_eq!(dk87.delays(3.0, 1.0).unwrap().horizon, 110);
        assert_eq!(dk87.weights().iter().cloned().fold(0.0, f64::max), 458885.0);
        let err = load_connectome(&cfg("nope"), exp).unwrap_err().to_string();
        assert!(
            err.contains("not found") && err.contains("looked in"),
            "{err}"
        );
    }

    #[test]
    fn meg_alpha_matches_both_label_styles() {
        let p = shipped(
            "meg_alpha/tpl-MNI152NLin2009c_atlas-DesikanKilliany_desc-MEGAlpha_dscalar.yaml",
        );
        let labels: Vec<String> = ["L.CU", "R.BSTS", "L.TH", "ctx-lh-cuneus"]
            .map(String::from)
            .to_vec();
        let v = load_meg_alpha(&p, &labels).unwrap();
        assert_eq!(v[0], Some(0.42327237));
        assert!(v[1].is_some() && v[2].is_none());
        assert_eq!(v[3], v[0]);
    }

    #[test]
    fn bad_matrix_names_file_line_and_column() {
        let dir = std::env::temp_dir().join(format!("neurodyn-ds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.csv");
        std::fs::write(&p, "0,1\n1,x\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("w.csv:2: column 2"), "{e}");
    }
}
