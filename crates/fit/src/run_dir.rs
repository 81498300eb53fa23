//! Run folders: atomic writes, JSON, and append-only CSV files.
//!
//! Nothing a user wrote is overwritten silently: every file is written to a temporary name in
//! the same folder and renamed into place, so an interrupted write leaves the old file intact.

use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {} (for {})", tmp.display(), path.display()))?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Formats a float so that it parses back to the same f64 (shortest round-trip form).
pub fn fmt_f64(x: f64) -> String {
    format!("{x:?}")
}

/// An append-only CSV file, flushed after every row (so a killed run keeps what it wrote).
pub struct CsvAppender {
    file: File,
    path: PathBuf,
}

impl CsvAppender {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> Result<Self> {
        let mut file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{}", header.join(","))
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing CSV to append to it.
    pub fn append_to(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one row whose first column is an integer step, then numbers.
    pub fn append_step(&mut self, step: usize, rest: &[f64]) -> Result<()> {
        let mut line = vec![step.to_string()];
        line.extend(rest.iter().map(|&x| fmt_f64(x)));
        writeln!(self.file, "{}", line.join(","))
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        Ok(())
    }

    /// Appends one row of numbers.
    pub fn append(&mut self, row: &[f64]) -> Result<()> {
        let line: Vec<String> = row.iter().map(|&x| fmt_f64(x)).collect();
        writeln!(self.file, "{}", line.join(","))
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        Ok(())
    }
}

/// Reads a numeric CSV with a header; returns the header and the rows.
pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if first.trim().is_empty() {
        anyhow::bail!(
            "{}: empty file (expected a CSV header line)",
            path.display()
        );
    }
    let header: Vec<String> = first.split(',').map(|c| c.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (k, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = line
            .split(',')
            .enumerate()
            .map(|(c, x)| {
                x.trim().parse::<f64>().map_err(|_| {
                    anyhow::anyhow!(
                        "{}:{}: column {} ({}): `{}` is not a number",
                        path.display(),
                        k + 2,
                        c + 1,
                        header.get(c).map_or("beyond the header", String::as_str),
                        x.trim()
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        if row.len() != header.len() {
            anyhow::bail!(
                "{}:{}: {} values but the header has {} columns",
                path.display(),
                k + 2,
                row.len(),
                header.len()
            );
        }
        rows.push(row);
    }
    Ok((header, rows))
}
