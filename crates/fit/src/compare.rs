//! `fit compare RUN…`: a table of final parameters and losses, and one overlay plot.

use crate::plot::{Series, line_plot};
use crate::run_dir::read_csv;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// One run's trajectory, read from its folder.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Run folder.
    pub dir: PathBuf,
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<f64>>,
}

/// Reads `trajectory.csv` of a run folder (or of each start of a grid of fits).
pub fn read_run(dir: &Path) -> Result<Vec<RunSummary>> {
    let single = dir.join("trajectory.csv");
    if single.exists() {
        let (header, rows) = read_csv(&single)?;
        return Ok(vec![RunSummary {
            dir: dir.to_path_buf(),
            header,
            rows,
        }]);
    }
    let starts = dir.join("starts");
    if starts.exists() {
        let mut out = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&starts)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.extension().is_some_and(|e| e == "csv") {
                let (header, rows) = read_csv(&p)?;
                out.push(RunSummary {
                    dir: p,
                    header,
                    rows,
                });
            }
        }
        return Ok(out);
    }
    bail!("{}: no trajectory.csv (is it a run folder?)", dir.display())
}

/// Prints the comparison table and writes `compare.png` (parameters and loss vs step).
pub fn compare(dirs: &[PathBuf], out: &Path) -> Result<String> {
    let mut runs = Vec::new();
    for d in dirs {
        runs.extend(read_run(d).with_context(|| format!("reading {}", d.display()))?);
    }
    if runs.is_empty() {
        bail!("no runs to compare");
    }
    let mut table = String::new();
    let mut params: Vec<String> = Vec::new();
    for r in &runs {
        for h in &r.header[2..r.header.len().saturating_sub(2)] {
            if !params.contains(h) {
                params.push(h.clone());
            }
        }
    }
    let shown: Vec<&String> = params.iter().take(8).collect();
    table.push_str(&format!(
        "{:<40} {:>6} {:>12}",
        "run", "steps", "final loss"
    ));
    for p in &shown {
        table.push_str(&format!(" {:>12}", p));
    }
    table.push_str(&format!(" {:>10}\n", "wall (s)"));
    for r in &runs {
        let last = r.rows.last().cloned().unwrap_or_default();
        let get = |name: &str| {
            r.header
                .iter()
                .position(|h| h == name)
                .and_then(|c| last.get(c).copied())
        };
        let label = r.dir.display().to_string();
        let label = if label.len() > 40 {
            format!("…{}", &label[label.len() - 39..])
        } else {
            label
        };
        table.push_str(&format!(
            "{:<40} {:>6} {:>12.6}",
            label,
            get("step").unwrap_or(f64::NAN),
            get("loss").unwrap_or(f64::NAN)
        ));
        for p in &shown {
            table.push_str(&format!(" {:>12.6}", get(p).unwrap_or(f64::NAN)));
        }
        table.push_str(&format!(
            " {:>10.3}\n",
            get("wall_time").unwrap_or(f64::NAN)
        ));
    }
    let mut series = Vec::new();
    for r in &runs {
        let step: Vec<f64> = r.rows.iter().map(|x| x[0]).collect();
        for p in params.iter().take(4) {
            if let Some(c) = r.header.iter().position(|h| h == p) {
                let name = r
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                series.push(Series::new(
                    format!("{name}: {p}"),
                    step.clone(),
                    r.rows.iter().map(|x| x[c]).collect(),
                ));
            }
        }
    }
    line_plot(
        &out.join("compare_parameters.png"),
        "parameter trajectories",
        "step",
        "value",
        &series,
        false,
    )?;
    let losses: Vec<Series> = runs
        .iter()
        .map(|r| {
            let name = r
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Series::new(
                name,
                r.rows.iter().map(|x| x[0]).collect(),
                r.rows.iter().map(|x| x[1]).collect(),
            )
        })
        .collect();
    line_plot(
        &out.join("compare_loss.png"),
        "loss",
        "step",
        "loss",
        &losses,
        true,
    )?;
    Ok(table)
}
