//! `fit compare RUN…`: which experiment fields differ between the runs, a table of final
//! parameters and losses, one panel per parameter (each run one colour throughout, the truth
//! dashed when the target was simulated), the loss on a log axis by step or by wall time, and
//! `compare.csv`.

use crate::plot::{Panel, Series, panels_plot};
use crate::run_dir::{read_csv, write_atomic};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run's trajectory, read from its folder.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Run folder (or a grid-of-fits start file).
    pub dir: PathBuf,
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<f64>>,
    /// The resolved experiment (`config.yaml`) as JSON, when the folder has one.
    pub config: Option<Value>,
    /// True parameter values by column (from `final.json` or a simulated target).
    pub truth: BTreeMap<String, f64>,
}

/// The x axis of the loss plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Optimizer step.
    Step,
    /// Wall-clock seconds.
    Time,
}

impl By {
    /// Parses `step` or `time`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "step" => Ok(Self::Step),
            "time" => Ok(Self::Time),
            other => bail!("--by {other}: expected `step` or `time`"),
        }
    }
}

fn read_config(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("config.yaml")).ok()?;
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    serde_json::to_value(yaml).ok()
}

fn read_truth(dir: &Path, config: Option<&Value>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(t) = std::fs::read(dir.join("final.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("truth").cloned())
        .and_then(|t| t.as_object().cloned())
    {
        for (k, v) in t {
            if let Some(x) = v.as_f64() {
                out.insert(k, x);
            }
        }
    }
    if out.is_empty()
        && let Some(t) = config.and_then(|c| c.pointer("/optimization/target"))
        && t.get("kind").and_then(Value::as_str) == Some("simulated")
        && let Some(p) = t.get("parameters").and_then(Value::as_object)
    {
        for (k, v) in p {
            if let Some(x) = v.as_f64() {
                out.insert(k.clone(), x);
            }
        }
    }
    out
}

/// A trajectory a comparison can use: `step,loss,…` columns and at least one row.
fn read_trajectory(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let (header, rows) = read_csv(path)?;
    if header.len() < 2 || header[0] != "step" || header[1] != "loss" {
        bail!(
            "{}: header `{}` is not a trajectory's (it starts with `step,loss`)",
            path.display(),
            header.join(",")
        );
    }
    if rows.is_empty() {
        bail!("{}: no rows (the run wrote no step)", path.display());
    }
    Ok((header, rows))
}

/// Reads `trajectory.csv` of a run folder (or SOC's `steps.csv`, or each start of a grid of
/// fits).
pub fn read_run(dir: &Path) -> Result<Vec<RunSummary>> {
    if !dir.is_dir() {
        bail!(
            "{}: not a folder (fit compare takes run folders)",
            dir.display()
        );
    }
    let config = read_config(dir);
    let truth = read_truth(dir, config.as_ref());
    let single = dir.join("trajectory.csv");
    if single.exists() {
        let (header, rows) = read_trajectory(&single)?;
        return Ok(vec![RunSummary {
            dir: dir.to_path_buf(),
            header,
            rows,
            config,
            truth,
        }]);
    }
    // SOC minimises the spectral abscissa: its `steps.csv` (`step,alpha,…`) is compared with
    // α in the loss column (the table and plots then show α per step).
    let soc = dir.join("steps.csv");
    if soc.exists() {
        let (mut header, rows) = read_csv(&soc)?;
        if header.len() >= 2 && header[0] == "step" && header[1] == "alpha" {
            if rows.is_empty() {
                bail!("{}: no rows (the run wrote no step)", soc.display());
            }
            header[1] = "loss".to_string();
            return Ok(vec![RunSummary {
                dir: dir.to_path_buf(),
                header,
                rows,
                config,
                truth,
            }]);
        }
    }
    let starts = dir.join("starts");
    if starts.exists() {
        let mut out = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&starts)
            .with_context(|| format!("cannot list {}", starts.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.extension().is_some_and(|e| e == "csv") {
                let (header, rows) = read_trajectory(&p)?;
                out.push(RunSummary {
                    dir: p,
                    header,
                    rows,
                    config: config.clone(),
                    truth: truth.clone(),
                });
            }
        }
        return Ok(out);
    }
    bail!(
        "{}: no trajectory.csv (nor an SOC steps.csv; is it a run folder?)",
        dir.display()
    )
}

fn leaves(path: String, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(p, x, out);
            }
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// Experiment fields whose values differ between the runs: `field: v1 | v2 | …` (a field a
/// run does not set shows as `-`).
pub fn differing_fields(configs: &[Option<&Value>]) -> Vec<String> {
    let flat: Vec<BTreeMap<String, String>> = configs
        .iter()
        .map(|c| {
            let mut m = BTreeMap::new();
            if let Some(c) = c {
                leaves(String::new(), c, &mut m);
            }
            m
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let vals: Vec<String> = flat
                .iter()
                .map(|m| m.get(k).cloned().unwrap_or_else(|| "-".into()))
                .collect();
            (vals.iter().any(|v| v != &vals[0])).then(|| format!("{k}: {}", vals.join(" | ")))
        })
        .collect()
}

fn label_of(r: &RunSummary) -> String {
    r.dir
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| r.dir.display().to_string())
}

/// Prints-ready comparison: the differing fields, the table; writes `compare_parameters.png`,
/// `compare_loss.png` and `compare.csv` into `out`.
pub fn compare(dirs: &[PathBuf], out: &Path, by: By) -> Result<String> {
    let mut runs = Vec::new();
    for d in dirs {
        runs.extend(read_run(d).with_context(|| format!("reading {}", d.display()))?);
    }
    if runs.is_empty() {
        bail!("no runs to compare");
    }
    let mut params: Vec<String> = Vec::new();
    for r in &runs {
        for h in r
            .header
            .get(2..r.header.len().saturating_sub(2))
            .unwrap_or(&[])
        {
            if !params.contains(h) {
                params.push(h.clone());
            }
        }
    }
    let mut text = String::new();
    let diffs = differing_fields(&runs.iter().map(|r| r.config.as_ref()).collect::<Vec<_>>());
    if runs.len() > 1 {
        if diffs.is_empty() {
            text.push_str("the runs' experiments are identical\n");
        } else {
            text.push_str("fields that differ (run order as in the table):\n");
            for d in &diffs {
                text.push_str(&format!("  {d}\n"));
            }
        }
        text.push('\n');
    }
    let shown: Vec<&String> = params.iter().take(8).collect();
    text.push_str(&format!(
        "{:<3} {:<36} {:>6} {:>12} {:>12}",
        "#", "run", "steps", "final loss", "best loss"
    ));
    for p in &shown {
        text.push_str(&format!(" {:>12}", p));
    }
    text.push_str(&format!(" {:>10}\n", "wall (s)"));
    let mut csv = vec![{
        let mut h = vec![
            "run".to_string(),
            "steps".to_string(),
            "final_loss".to_string(),
            "best_loss".to_string(),
            "best_step".to_string(),
        ];
        h.extend(params.iter().cloned());
        h.push("wall_time".into());
        h.join(",")
    }];
    for (k, r) in runs.iter().enumerate() {
        let last = r.rows.last().cloned().unwrap_or_default();
        let get = |name: &str| {
            r.header
                .iter()
                .position(|h| h == name)
                .and_then(|c| last.get(c).copied())
                .unwrap_or(f64::NAN)
        };
        let best = r
            .rows
            .iter()
            .min_by(|a, b| a[1].total_cmp(&b[1]))
            .cloned()
            .unwrap_or_default();
        let label = r.dir.display().to_string();
        let label = if label.chars().count() > 36 {
            let tail: String = label
                .chars()
                .rev()
                .take(35)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            label
        };
        let (best_loss, best_step) = (
            best.get(1).copied().unwrap_or(f64::NAN),
            best.first().copied().unwrap_or(f64::NAN),
        );
        text.push_str(&format!(
            "{:<3} {:<36} {:>6} {:>12.4e} {:>12.4e}",
            k + 1,
            label,
            get("step"),
            get("loss"),
            best_loss,
        ));
        for p in &shown {
            text.push_str(&format!(" {:>12.6}", get(p)));
        }
        text.push_str(&format!(" {:>10.3}\n", get("wall_time")));
        let mut row = vec![
            format!("\"{}\"", r.dir.display()),
            format!("{}", get("step")),
            format!("{:?}", get("loss")),
            format!("{best_loss:?}"),
            format!("{best_step}"),
        ];
        row.extend(params.iter().map(|p| format!("{:?}", get(p))));
        row.push(format!("{:?}", get("wall_time")));
        csv.push(row.join(","));
    }
    let truth_row: Vec<(String, f64)> = shown
        .iter()
        .filter_map(|p| {
            let base = p.split('[').next().unwrap_or(p);
            runs.iter()
                .find_map(|r| r.truth.get(*p).or_else(|| r.truth.get(base)).copied())
                .map(|t| ((*p).clone(), t))
        })
        .collect();
    if !truth_row.is_empty() {
        text.push_str(&format!(
            "truth: {}\n",
            truth_row
                .iter()
                .map(|(p, t)| format!("{p} = {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    write_atomic(&out.join("compare.csv"), (csv.join("\n") + "\n").as_bytes())?;

    let x_col = |r: &RunSummary| -> Vec<f64> {
        let c = match by {
            By::Step => 0,
            By::Time => r.header.iter().position(|h| h == "wall_time").unwrap_or(0),
        };
        r.rows.iter().map(|x| x[c]).collect()
    };
    let x_label = match by {
        By::Step => "step",
        By::Time => "wall time (s)",
    };
    let mut panels = Vec::new();
    for p in params.iter().take(9) {
        let mut series = Vec::new();
        let mut span = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, r) in runs.iter().enumerate() {
            if let Some(c) = r.header.iter().position(|h| h == p) {
                let x = x_col(r);
                for v in &x {
                    span = (span.0.min(*v), span.1.max(*v));
                }
                series.push(
                    Series::new(
                        format!("{} {}", k + 1, label_of(r)),
                        x,
                        r.rows.iter().map(|x| x[c]).collect(),
                    )
                    .with_color(k),
                );
            }
        }
        let base = p.split('[').next().unwrap_or(p);
        if let Some(t) = runs
            .iter()
            .find_map(|r| r.truth.get(p).or_else(|| r.truth.get(base)).copied())
            && span.0.is_finite()
        {
            series.push(
                Series::new("truth", vec![span.0, span.1], vec![t, t])
                    .with_color(7)
                    .dashed(),
            );
        }
        panels.push(Panel {
            title: p.clone(),
            x_label: x_label.into(),
            y_label: p.clone(),
            series,
            log_y: false,
        });
    }
    panels_plot(&out.join("compare_parameters.png"), &panels)?;
    let losses: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(k, r)| {
            Series::new(
                format!("{} {}", k + 1, label_of(r)),
                x_col(r),
                r.rows.iter().map(|x| x[1]).collect(),
            )
            .with_color(k)
        })
        .collect();
    panels_plot(
        &out.join("compare_loss.png"),
        &[Panel {
            title: "loss".into(),
            x_label: x_label.into(),
            y_label: "loss".into(),
            series: losses,
            log_y: true,
        }],
    )?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_fields_name_the_leaf_and_every_value() {
        let a = serde_json::json!({"optimization": {"adam": {"lr": 0.005}, "steps": 15}});
        let b = serde_json::json!({"optimization": {"adam": {"lr": 0.003}, "steps": 15}});
        let c = serde_json::json!({"optimization": {"steps": 20}});
        assert_eq!(
            differing_fields(&[Some(&a), Some(&b)]),
            vec!["optimization.adam.lr: 0.005 | 0.003".to_string()]
        );
        assert_eq!(
            differing_fields(&[Some(&a), Some(&c)]),
            vec![
                "optimization.adam.lr: 0.005 | -".to_string(),
                "optimization.steps: 15 | 20".to_string()
            ]
        );
    }
}
