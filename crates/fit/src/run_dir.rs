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
    let write = || -> Result<()> {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {} (for {})", tmp.display(), path.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    };
    let r = write();
    if r.is_err() {
        // No temporary file is left behind after an error.
        let _ = std::fs::remove_file(&tmp);
    }
    r
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

/// The lock file of a run folder: holds the PID of the process that owns the folder.
pub const LOCK_FILE: &str = ".fit.lock";

/// An exclusive lock on a run folder, held for the life of a `fit run` (released when
/// dropped, or by the OS when the process dies, so a killed run never leaves it stale).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the exclusive lock on `dir` (which must exist), or says which process holds it.
pub fn lock_run_dir(dir: &Path) -> Result<RunLock> {
    use std::io::{Read, Seek};
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            anyhow::bail!(
                "run folder {} is in use by PID {} (another `fit run` is writing it); wait for \
                 it to finish or choose another --out",
                dir.display(),
                if pid.is_empty() { "(unknown)" } else { pid }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    remove_stale_temporaries(dir)?;
    Ok(RunLock { _file: file })
}

/// Removes what a killed writer left behind (`.NAME.PID.tmp` files and checkpoint folders);
/// only called with the run folder's lock held, so no live writer owns them.
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    for d in [dir.to_path_buf(), dir.join("checkpoints")] {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".tmp.png")) {
                let p = e.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.with_context(|| format!("cannot remove the stale {}", p.display()))?;
            }
        }
    }
    Ok(())
}

/// Formats one trajectory row as written to the CSV.
pub fn format_row(column: fitting::family::StepColumn, step: usize, row: &[f64]) -> String {
    let mut line: Vec<String> = Vec::with_capacity(row.len() + 1);
    if column == fitting::family::StepColumn::Integer {
        line.push(step.to_string());
    }
    line.extend(row.iter().map(|&x| fmt_f64(x)));
    line.join(",")
}

/// Test hook: after appending this row, pause (so a test can SIGKILL the process there).
pub const PAUSE_ENV: &str = "NEURODYN_PAUSE_AFTER_ROW";

/// The run-folder side of the training driver: appends rows to the trajectory CSV, writes
/// checkpoints (with the rows before their step), keeps the last finite one after a
/// divergence, and shows progress.
pub struct FolderObserver {
    /// Checkpoint writer.
    pub writer: crate::checkpoint::Writer,
    file: File,
    path: PathBuf,
    header: String,
    lines: Vec<(usize, String)>,
    column: fitting::family::StepColumn,
    /// Progress bar.
    pub bar: indicatif::ProgressBar,
    /// The bar's message for a row.
    pub message: RowMessage,
    pause_at: Option<usize>,
}

impl FolderObserver {
    /// Opens the trajectory `path` with `columns`: a new file, or, on resume, exactly the rows
    /// the checkpoint holds (rebuilding a damaged file and saying so; rows written after the
    /// checkpoint are recomputed).
    pub fn open(
        writer: crate::checkpoint::Writer,
        path: &Path,
        columns: &[String],
        column: fitting::family::StepColumn,
        resumed: Option<&crate::checkpoint::Checkpoint>,
        bar: indicatif::ProgressBar,
    ) -> Result<Self> {
        let header = columns.join(",");
        let mut lines = Vec::new();
        match resumed {
            None => write_atomic(path, format!("{header}\n").as_bytes())?,
            Some(c) => {
                let text = String::from_utf8(c.rows.clone()).with_context(|| {
                    format!("checkpoint at step {}: rows are not text", c.meta.step)
                })?;
                let mut it = text.lines();
                if it.next() != Some(header.as_str()) {
                    anyhow::bail!(
                        "checkpoint at step {}: its trajectory columns differ from this \
                         experiment's ({header})",
                        c.meta.step
                    );
                }
                for l in it {
                    let step = l
                        .split(',')
                        .next()
                        .and_then(|s| s.parse::<f64>().ok())
                        .unwrap_or(f64::NAN) as usize;
                    lines.push((step, l.to_string()));
                }
                let on_disk = std::fs::read(path).unwrap_or_default();
                if !on_disk.starts_with(&c.rows) {
                    eprintln!(
                        "{} is damaged or shorter than the checkpoint at step {}: rebuilt from \
                         the checkpoint ({} rows)",
                        path.display(),
                        c.meta.step,
                        lines.len()
                    );
                }
                write_atomic(path, &c.rows)?;
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            writer,
            file,
            path: path.to_path_buf(),
            header,
            lines,
            column,
            bar,
            message: Box::new(|_| String::new()),
            pause_at: std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok()),
        })
    }

    /// The trajectory text up to (excluding) row `step`.
    fn rows_before(&self, step: usize) -> Vec<u8> {
        let mut text = self.header.clone();
        text.push('\n');
        for (s, l) in &self.lines {
            if *s < step {
                text.push_str(l);
                text.push('\n');
            }
        }
        text.into_bytes()
    }
}

impl fitting::driver::Observer for FolderObserver {
    fn row(&mut self, r: &fitting::family::StepReport) -> Result<()> {
        let line = format_row(self.column, r.step, &r.row);
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.lines.push((r.step, line));
        if self.pause_at == Some(r.step) {
            eprintln!("paused after row {} ({PAUSE_ENV})", r.step);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, snap: &fitting::family::Snapshot) -> Result<()> {
        let rows = self.rows_before(snap.step);
        self.writer.save(snap, rows).map(|_| ())
    }

    fn diverged(
        &mut self,
        _r: &fitting::family::StepReport,
        last_finite: Option<&fitting::family::Snapshot>,
    ) -> Result<()> {
        self.bar.finish_and_clear();
        if let Some(s) = last_finite {
            fitting::driver::Observer::checkpoint(self, s)?;
            crate::checkpoint::remove_after(&self.writer.run, s.step)?;
        }
        Ok(())
    }

    fn progress(&mut self, done: usize, r: &fitting::family::StepReport) {
        self.bar.set_position(done as u64);
        self.bar.set_message((self.message)(r));
    }
}

/// The progress line shown for a trajectory row.
pub type RowMessage = Box<dyn Fn(&fitting::family::StepReport) -> String>;

/// How a family's run is shown and recorded around the driver (see [`drive`]).
pub struct DriveSpec<'a> {
    /// The trajectory file (`trajectory.csv`, SOC's `steps.csv`, …).
    pub trajectory: &'a Path,
    /// Progress-bar prefix.
    pub prefix: &'static str,
    /// Steps the progress bar counts to.
    pub total: usize,
    /// The seed recorded in each checkpoint's manifest.
    pub seed: u64,
    /// The backend recorded in each checkpoint's manifest.
    pub backend: String,
    /// The driver's `checkpoint_every`.
    pub checkpoint_every: usize,
    /// The progress line of a row (`None`: the observer's default).
    pub message: Option<RowMessage>,
}

/// The newest intact checkpoint of the run folder, if any; `--resume` on a folder without one
/// is an error.
pub fn resume_point(
    ctx: &crate::context::RunContext,
) -> Result<Option<crate::checkpoint::Checkpoint>> {
    let resumed = crate::checkpoint::latest(&ctx.out_dir)?;
    if ctx.resume && resumed.is_none() {
        anyhow::bail!("--resume: {} holds no checkpoint", ctx.out_dir.display());
    }
    Ok(resumed)
}

/// Runs `family` (already restored from `resumed`, if any) on the one driver with the run
/// folder's observer: progress bar, trajectory rows, checkpoints with the manifest of `hash`
/// and `config`. Every way the run can end but finishing is returned as the CLI's error.
pub fn drive<F: fitting::family::Family + ?Sized>(
    ctx: &crate::context::RunContext,
    family: &mut F,
    resumed: Option<&crate::checkpoint::Checkpoint>,
    hash: String,
    config: serde_json::Value,
    spec: DriveSpec<'_>,
) -> Result<fitting::driver::Outcome> {
    let bar = crate::progress::progress_bar(spec.total as u64, ctx.quiet);
    bar.set_prefix(spec.prefix);
    bar.set_position(family.steps_done() as u64);
    let writer = crate::checkpoint::Writer {
        run: ctx.out_dir.clone(),
        hash,
        config,
        seed: spec.seed,
        backend: spec.backend,
    };
    let columns = family.columns();
    let mut observer = FolderObserver::open(
        writer,
        spec.trajectory,
        &columns,
        family.step_column(),
        resumed,
        bar.clone(),
    )?;
    if let Some(m) = spec.message {
        observer.message = m;
    }
    let outcome = fitting::driver::run(
        family,
        &mut observer,
        fitting::driver::Settings {
            checkpoint_every: spec.checkpoint_every,
        },
    )?;
    drop(observer);
    bar.finish_and_clear();
    crate::train::outcome_error(&outcome, spec.total, &ctx.out_dir)?;
    Ok(outcome)
}
