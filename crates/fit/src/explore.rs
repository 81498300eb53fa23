//! `fit explore`: a grid over the free parameters, evaluated as batched tensor programs, or a
//! grid of fits (every point a start for Adam, all optimised together as one batch).
//! `--shard K/N` evaluates one contiguous share of the points; `fit merge` assembles shards.
//!
//! Mirrors tvboptim's `GridSpace` + `ParallelExecution`, but one batched simulation per chunk
//! replaces the Python loop, and only the subsampled observed variable is ever stored.

use crate::config::{ObservationKind, Statistic};
use crate::context::RunContext;
use crate::network_setup::NetworkSetup;
use crate::npy::write_npy;
use crate::objective::{Objective, Target, TargetFiles};
use crate::plot::heatmap;
use crate::progress::progress_bar;
use crate::run_dir::{CsvAppender, write_json};
use crate::simulate::{load, write_resolved};
use crate::train::{FitParams, column_names, evaluate};
use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use solvers::network_kernel;
use spectra::peak_frequency;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One grid axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Parameter name.
    pub name: String,
    /// Points (numpy `linspace(low, high, n)`).
    pub values: Vec<f64>,
}

/// `numpy.linspace(lo, hi, n)`.
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![lo],
        _ => {
            let step = (hi - lo) / (n - 1) as f64;
            // numpy computes lo + k·step and sets the last point to hi exactly.
            (0..n)
                .map(|k| if k == n - 1 { hi } else { lo + k as f64 * step })
                .collect()
        }
    }
}

/// The axes of an experiment's grid (free parameters with low, high, n).
pub fn grid_axes(setup: &NetworkSetup, path: &Path) -> Result<Vec<Axis>> {
    if setup.free.is_empty() {
        bail!(
            "{}: no parameter is marked `free: true`; nothing to explore",
            path.display()
        );
    }
    setup
        .free
        .iter()
        .map(|f| {
            let name = f.param.qualified_name();
            if f.per_region {
                bail!(
                    "{}: {name}: per-region parameters cannot be grid axes",
                    path.display()
                );
            }
            if let Some(n) = f.n {
                // The axis itself is allocated before the grid's size is checked.
                crate::budget::check_memory(
                    path,
                    &[("a grid axis", &format!("{name}.n"), n as f64 * 8.0 * 4.0)],
                )?;
            }
            match (f.low, f.high, f.n) {
                (Some(lo), Some(hi), Some(n)) if n >= 1 => Ok(Axis {
                    name,
                    values: linspace(lo, hi, n),
                }),
                _ => bail!(
                    "{}: free parameter {name} needs low, high and n (>= 1) to be a grid axis",
                    path.display()
                ),
            }
        })
        .collect()
}

/// Point `k` of the grid in 'ij' order (first axis slowest), one value per axis.
pub fn grid_point(axes: &[Axis], mut k: usize) -> Vec<f64> {
    let mut out = vec![0.0; axes.len()];
    for (a, axis) in axes.iter().enumerate().rev() {
        let n = axis.values.len();
        out[a] = axis.values[k % n];
        k /= n;
    }
    out
}

/// Parses `K/N` (1-based K).
pub fn parse_shard(spec: &str) -> Result<(usize, usize)> {
    let (k, n) = spec
        .split_once('/')
        .ok_or_else(|| anyhow!("--shard {spec}: expected K/N"))?;
    let num = |x: &str| -> Result<usize> {
        x.trim().parse().map_err(|_| {
            anyhow!("--shard {spec}: `{}` is not a whole number; expected K/N with 1 <= K <= N (e.g. 2/4)", x.trim())
        })
    };
    let (k, n) = (num(k)?, num(n)?);
    if n == 0 || k == 0 || k > n {
        bail!("--shard {spec}: need 1 <= K <= N");
    }
    Ok((k, n))
}

/// The half-open range of points of shard `k` of `n`.
pub fn shard_range(points: usize, k: usize, n: usize) -> std::ops::Range<usize> {
    let start = points * (k - 1) / n;
    let end = points * k / n;
    start..end
}

/// What a shard (or an unsharded run) computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Experiment hash (shards of different experiments must not be merged).
    pub experiment_hash: String,
    /// Shard K (1-based) of N.
    pub shard: [usize; 2],
    /// Total grid points.
    pub points: usize,
    /// First point of this shard.
    pub start: usize,
    /// The axes.
    pub axes: Vec<Axis>,
    /// Statistic names.
    pub statistics: Vec<String>,
    /// Values `[statistic][point − start]`, as f64 bit patterns (exact).
    pub values_bits: Vec<Vec<u64>>,
}

fn stat_name(s: Statistic) -> &'static str {
    match s {
        Statistic::PeakFrequency => "peak_frequency",
        Statistic::SpectralMax => "spectral_max",
        Statistic::Loss => "loss",
        Statistic::FcCorrelation => "fc_correlation",
        Statistic::PeakSignificance => "peak_significance",
    }
}

/// The unit of a statistic, for colour bars and axes.
fn stat_unit(name: &str) -> &'static str {
    match name {
        "peak_frequency" => "Hz",
        "spectral_max" => "power spectral density (signal unit² / Hz)",
        "fc_correlation" => "Pearson r",
        "peak_significance" => "peak / median power",
        _ => "loss",
    }
}

fn chunk_size(setup: &NetworkSetup) -> usize {
    let threads = solvers::threads::available();
    setup
        .exp
        .exploration
        .as_ref()
        .and_then(|e| e.chunk)
        .unwrap_or(16 * threads)
        .max(1)
}

/// The statistics a grid records (`exploration.statistics`; the peak frequency when the file
/// has no `exploration` section).
fn statistics(setup: &NetworkSetup) -> Vec<Statistic> {
    setup
        .exp
        .exploration
        .as_ref()
        .map_or_else(|| vec![Statistic::PeakFrequency], |e| e.statistics.clone())
}

/// Pearson correlation of two equally long vectors.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Evaluates the points `todo` (ranges of the grid) chunk by chunk and hands every finished
/// chunk to `done` with its values `[statistic][point − chunk start]` and how many of its
/// points diverged (a non-finite observation: every statistic of such a point is NaN).
/// `already` points (from chunk checkpoints) start the progress bar.
///
/// The chunks form a two-stage pipeline: while the batched simulation of chunk `c + 1` runs
/// (on every worker thread), the spectra and statistics of chunk `c` are computed on one more
/// thread. Done one after the other, the Welch step (11% of a grid's samples under `perf`) left
/// all but one core idle. Each chunk's values are computed exactly as before (same batch, same
/// order), and `done` still sees the chunks in order, so the outputs and the chunk checkpoints
/// are the same bytes.
fn evaluate_points(
    ctx: &RunContext,
    setup: &NetworkSetup,
    axes: &[Axis],
    todo: &[Range<usize>],
    already: usize,
    done: &mut dyn FnMut(Range<usize>, Vec<Vec<f64>>, usize) -> Result<()>,
) -> Result<()> {
    let stats = statistics(setup);
    let device = backend::f64_device(setup.backend, false);
    let chunk = chunk_size(setup);
    // A grid point is one simulation: one noise realisation.
    let mut obj = Objective::new(setup, 1, &device, false)?.without_noise_averaging(setup);
    crate::check::statistics(setup, &stats, obj.kind)?;
    if stats.contains(&Statistic::Loss) || stats.contains(&Statistic::FcCorrelation) {
        obj.set_target(setup, &ctx.exp_path)?;
    }
    let n = setup.n();
    let total: usize = already + todo.iter().map(|r| r.len()).sum::<usize>();
    let bar = progress_bar(total as u64, ctx.quiet);
    bar.set_prefix("grid");
    bar.set_position(already as u64);
    let mut position = already;
    let chunks = todo.iter().flat_map(|r| {
        (r.start..r.end)
            .step_by(chunk)
            .map(move |k| k..(k + chunk).min(r.end))
    });
    let eval = ChunkStatistics {
        exp_path: &ctx.exp_path,
        setup,
        obj: &obj,
        stats: &stats,
        device: &device,
    };
    std::thread::scope(|scope| -> Result<()> {
        type Pending<'s> = (
            Range<usize>,
            std::thread::ScopedJoinHandle<'s, Result<(Vec<Vec<f64>>, usize)>>,
        );
        let mut pending: Option<Pending<'_>> = None;
        let mut finish = |p: Pending<'_>| -> Result<()> {
            let (r, handle) = p;
            let (values, diverged) = handle
                .join()
                .map_err(|_| anyhow!("the statistics of grid points {r:?} panicked"))??;
            position += r.len();
            done(r, values, diverged)?;
            bar.set_position(position as u64);
            Ok(())
        };
        for Range { start: k, end } in chunks {
            crate::interrupt::check(&format!("grid at point {k}"))?;
            let b = end - k;
            let mut params = Vec::with_capacity(b * setup.n_params() * n);
            for p in k..k + b {
                let mut set = setup.base_params.clone();
                for (f, v) in setup.free.iter().zip(grid_point(axes, p)) {
                    set[f.param.index() * n..(f.param.index() + 1) * n].fill(v);
                }
                params.extend(set);
            }
            // Forward only: no tape, and only the observed signal is kept.
            let (sim, _) = network_kernel::forward(&obj.sim.0, &params, false);
            // The previous chunk's statistics ran beside this simulation; hand them on in order.
            if let Some(p) = pending.take() {
                finish(p)?;
            }
            let eval = &eval;
            pending = Some((k..end, scope.spawn(move || eval.values(sim.trace, b))));
        }
        if let Some(p) = pending.take() {
            finish(p)?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// What the statistics of one chunk of grid points need (shared, read-only, by the thread that
/// computes them while the next chunk simulates).
struct ChunkStatistics<'a> {
    exp_path: &'a Path,
    setup: &'a NetworkSetup,
    obj: &'a Objective,
    stats: &'a [Statistic],
    device: &'a burn::tensor::Device,
}

impl ChunkStatistics<'_> {
    /// The statistics `[statistic][point]` of the `b` simulations of `trace` (`[b, t, n]`, the
    /// observed signal), and how many of them diverged.
    fn values(&self, trace: Vec<f64>, b: usize) -> Result<(Vec<Vec<f64>>, usize)> {
        let (obj, stats) = (self.obj, self.stats);
        let n = self.setup.n();
        let obs = &self.setup.exp.observation;
        let freqs = obj.welch.freqs();
        let psd = if obj.kind == ObservationKind::Spectrum {
            // The region-averaged spectrum of each point, by FFT on the host: the trace is
            // there already and no gradient is needed, so no tensor is made.
            let t = obj.welch.len();
            ensure!(
                trace.len() == b * t * n,
                "{}: the simulations returned {} values, not {b} points x {t} samples x {n} regions",
                self.exp_path.display(),
                trace.len()
            );
            let mut rows = vec![0.0; b * n * t];
            for (src, dst) in trace.chunks_exact(t * n).zip(rows.chunks_exact_mut(n * t)) {
                for (k, step) in src.chunks_exact(n).enumerate() {
                    for (i, v) in step.iter().enumerate() {
                        dst[i * t + k] = *v;
                    }
                }
            }
            let per_region = obj.welch.psd_host(&rows, b * n); // [b·n, F]
            let nf = freqs.len();
            let mut mean = vec![0.0; b * nf];
            for (m, regions) in mean
                .chunks_exact_mut(nf)
                .zip(per_region.chunks_exact(n * nf))
            {
                for region in regions.chunks_exact(nf) {
                    for (a, v) in m.iter_mut().zip(region) {
                        *a += v;
                    }
                }
                for a in m.iter_mut() {
                    *a /= n as f64;
                }
            }
            burn::tensor::Tensor::<1>::from_data(
                burn::tensor::TensorData::new(mean, [b * nf]),
                self.device,
            )
            .reshape([b, 1, nf])
        } else {
            obj.observe_host(trace, b) // [b, 1, M]
        };
        let nf = psd.dims()[2];
        let host: Vec<f64> = psd.clone().into_data().convert::<f64>().try_into_vec()?;
        let fc_corr: Vec<f64> = if stats.contains(&Statistic::FcCorrelation) {
            let Some(Target::Spectrum(t)) = obj.target() else {
                bail!(
                    "{}: fc_correlation needs an FC target",
                    self.exp_path.display()
                );
            };
            host.chunks(nf).map(|s| pearson(s, t)).collect()
        } else {
            vec![]
        };
        let losses = if stats.contains(&Statistic::Loss) {
            match obj.target() {
                Some(Target::Spectrum(_)) => obj
                    .loss_of(psd)?
                    .into_data()
                    .convert::<f64>()
                    .try_into_vec()?,
                _ => bail!(
                    "{}: the loss statistic needs a spectrum or FC target",
                    self.exp_path.display()
                ),
            }
        } else {
            vec![]
        };
        let threshold = self
            .setup
            .exp
            .exploration
            .as_ref()
            .and_then(|e| e.peak_significance_threshold);
        let mut out = vec![Vec::with_capacity(b); stats.len()];
        let mut diverged = 0;
        for j in 0..b {
            let s = &host[j * nf..(j + 1) * nf];
            if s.iter().any(|v| !v.is_finite()) {
                // A diverged simulation has no peak: NaN, never a frequency of 0 Hz.
                diverged += 1;
                for o in out.iter_mut() {
                    o.push(f64::NAN);
                }
                continue;
            }
            let significance = || spectra::peak_significance(freqs, s, obs.band, obs.exclude_dc);
            for (si, stat) in stats.iter().enumerate() {
                out[si].push(match stat {
                    Statistic::PeakFrequency => match threshold {
                        // A NaN significance (a diverged point) is masked too.
                        Some(t) if significance().is_nan() || significance() < t => f64::NAN,
                        _ => peak_frequency(freqs, s, obs.band, obs.exclude_dc),
                    },
                    Statistic::PeakSignificance => significance(),
                    Statistic::SpectralMax => s.iter().cloned().fold(f64::NAN, f64::max),
                    Statistic::Loss => losses[j],
                    Statistic::FcCorrelation => fc_corr[j],
                });
            }
        }
        Ok((out, diverged))
    }
}

/// Writes grid arrays, axes and heatmaps from complete values `[statistic][point]`.
fn write_outputs(dir: &Path, axes: &[Axis], stats: &[String], values: &[Vec<f64>]) -> Result<()> {
    let shape: Vec<usize> = axes.iter().map(|a| a.values.len()).collect();
    write_json(
        &dir.join("axes.json"),
        &serde_json::json!({
            "indexing": "ij",
            "axes": axes,
            "statistics": stats,
        }),
    )?;
    for (name, v) in stats.iter().zip(values) {
        write_npy(&dir.join(format!("grid_{name}.npy")), v, &shape)?;
        if axes.len() == 2 {
            heatmap(
                &dir.join(format!("grid_{name}.png")),
                &format!("{name} over ({}, {})", axes[0].name, axes[1].name),
                &axes[0].name,
                &axes[1].name,
                &axes[0].values,
                &axes[1].values,
                v,
                stat_unit(name),
            )?;
        } else if axes.len() == 1 {
            // A sweep (e.g. FC correlation against the global coupling).
            crate::plot::line_plot(
                &dir.join(format!("grid_{name}.png")),
                &format!("{name} against {}", axes[0].name),
                &axes[0].name,
                stat_unit(name),
                &[crate::plot::Series::new(
                    name.clone(),
                    axes[0].values.clone(),
                    v.clone(),
                )],
                false,
            )?;
        }
    }
    Ok(())
}

/// One finished chunk of a grid, as written to `grid-chunks/<run>/chunk-<start>-<end>.json`:
/// enough to skip the chunk on a rerun, and a checksum that tells a damaged file from a good one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChunkFile {
    /// Experiment hash: a chunk of another configuration is never reused.
    experiment_hash: String,
    /// First grid point of the chunk.
    start: usize,
    /// One past its last point.
    end: usize,
    /// Statistic names, in the order of `values_bits`.
    statistics: Vec<String>,
    /// How many of its points diverged.
    diverged: usize,
    /// Values `[statistic][point − start]` as f64 bit patterns (exact).
    values_bits: Vec<Vec<u64>>,
    /// SHA-256 of all the fields above ([`chunk_digest`]).
    sha256: String,
}

/// The checksum of a chunk's contents (every field but the checksum itself).
fn chunk_digest(c: &ChunkFile) -> String {
    let mut h = Sha256::new();
    h.update(b"neurodyn-grid-chunk-v1\0");
    h.update(c.experiment_hash.as_bytes());
    for x in [c.start, c.end, c.diverged, c.statistics.len()] {
        h.update((x as u64).to_le_bytes());
    }
    for (name, v) in c.statistics.iter().zip(&c.values_bits) {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        for bits in v {
            h.update(bits.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The chunk checkpoints of one grid run (the whole grid, or one shard): a rerun after a crash
/// or kill reads the intact ones and evaluates only the points they do not cover. Points are
/// independent simulations, so a chunk's values do not depend on how the grid was split.
struct ChunkStore {
    dir: PathBuf,
    hash: String,
    statistics: Vec<String>,
}

impl ChunkStore {
    fn path(&self, r: &Range<usize>) -> PathBuf {
        self.dir
            .join(format!("chunk-{:09}-{:09}.json", r.start, r.end))
    }

    /// The intact chunks inside `range`, sorted and not overlapping. Temporary files of a killed
    /// write, damaged chunks and chunks of another experiment are removed, with a message.
    fn load(&self, range: &Range<usize>) -> Result<Vec<ChunkFile>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot list the chunk folder {}", self.dir.display())
                });
            }
        };
        let mut chunks: Vec<ChunkFile> = Vec::new();
        for e in entries {
            let p = e
                .with_context(|| format!("cannot list the chunk folder {}", self.dir.display()))?
                .path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') && name.ends_with(".tmp") {
                // Left by a process killed while writing a chunk; the chunk is redone.
                let _ = std::fs::remove_file(&p);
                continue;
            }
            if !(name.starts_with("chunk-") && name.ends_with(".json")) {
                continue;
            }
            let problem = match std::fs::read(&p) {
                Err(e) => Some(format!("cannot be read ({e})")),
                Ok(bytes) => match serde_json::from_slice::<ChunkFile>(&bytes) {
                    Err(e) => Some(format!("is not a chunk checkpoint ({e})")),
                    Ok(c) => match self.check(&c, range) {
                        Some(why) => Some(why),
                        None => {
                            chunks.push(c);
                            None
                        }
                    },
                },
            };
            if let Some(why) = problem {
                eprintln!(
                    "{}: chunk checkpoint {why}; removed, its points are evaluated again",
                    p.display()
                );
                std::fs::remove_file(&p)
                    .with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
        chunks.sort_by_key(|c| c.start);
        let mut kept: Vec<ChunkFile> = Vec::with_capacity(chunks.len());
        for c in chunks {
            if kept.last().is_some_and(|l| c.start < l.end) {
                // Two runs split the same points differently; one copy is enough.
                let _ = std::fs::remove_file(self.path(&(c.start..c.end)));
                continue;
            }
            kept.push(c);
        }
        Ok(kept)
    }

    /// Why chunk `c` cannot be used for points `range` of this experiment (None: it can).
    fn check(&self, c: &ChunkFile, range: &Range<usize>) -> Option<String> {
        if c.sha256 != chunk_digest(c) {
            return Some("is damaged (its SHA-256 does not match its contents)".into());
        }
        if c.experiment_hash != self.hash {
            return Some("belongs to another configuration of the experiment".into());
        }
        if c.statistics != self.statistics
            || c.start >= c.end
            || c.start < range.start
            || c.end > range.end
            || c.values_bits.len() != c.statistics.len()
            || c.values_bits.iter().any(|v| v.len() != c.end - c.start)
        {
            return Some(format!(
                "does not fit this grid (points {}..{} of {}..{})",
                c.start, c.end, range.start, range.end
            ));
        }
        None
    }

    /// Writes one finished chunk atomically (temporary file, fsync, rename).
    fn save(&self, r: Range<usize>, values: &[Vec<f64>], diverged: usize) -> Result<ChunkFile> {
        let mut c = ChunkFile {
            experiment_hash: self.hash.clone(),
            start: r.start,
            end: r.end,
            statistics: self.statistics.clone(),
            diverged,
            values_bits: values
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect(),
            sha256: String::new(),
        };
        c.sha256 = chunk_digest(&c);
        let path = self.path(&r);
        let bytes =
            serde_json::to_vec(&c).with_context(|| format!("cannot encode {}", path.display()))?;
        crate::run_dir::write_atomic(&path, &bytes)?;
        Ok(c)
    }

    /// Removes the chunks once the grid's outputs are written (they hold nothing more).
    fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot remove the chunk folder {}", self.dir.display())
                });
            }
        }
        // The parent is shared by the shards of one folder; it goes with the last of them.
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// The grid points of `range` that no chunk covers (chunks sorted, inside `range`).
fn gaps(range: &Range<usize>, chunks: &[ChunkFile]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = range.start;
    for c in chunks {
        if c.start > at {
            out.push(at..c.start);
        }
        at = at.max(c.end);
    }
    if at < range.end {
        out.push(at..range.end);
    }
    out
}

/// The shard file of shard `k` of `n` in run folder `dir`.
fn shard_path(dir: &Path, k: usize, n: usize) -> PathBuf {
    dir.join("shards")
        .join(format!("shard-{k:04}-of-{n:04}.json"))
}

/// Before a shard writes anything: refuses a folder whose shards of the same split belong to
/// another configuration (the rerun would replace good shards with a different experiment's),
/// and names the shards of another split, which `fit merge` will refuse.
fn check_shard_folder(ctx: &RunContext, hash: &str, n: usize) -> Result<()> {
    let sdir = ctx.out_dir.join("shards");
    let Ok(entries) = std::fs::read_dir(&sdir) else {
        return Ok(());
    };
    let mut other_experiment = Vec::new();
    let mut other_split = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(f) = std::fs::read(&p)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice::<ShardFile>(&b)?))
        else {
            continue; // `fit merge` names unreadable files itself.
        };
        if f.shard[1] != n {
            other_split.push(format!(
                "{} (shard {}/{})",
                p.display(),
                f.shard[0],
                f.shard[1]
            ));
        } else if f.experiment_hash != hash {
            other_experiment.push(p.display().to_string());
        }
    }
    other_experiment.sort();
    other_split.sort();
    if !other_experiment.is_empty() {
        bail!(
            "{}: refused before writing anything: {} computed with another configuration of              the experiment (a changed file or --set); this run would mix two experiments in one              folder. Re-run with the settings those shards were made with, or remove them              (rm {}) or choose another --out to start the grid over",
            ctx.out_dir.display(),
            other_experiment.join(", "),
            other_experiment.join(" ")
        );
    }
    if !other_split.is_empty() {
        eprintln!(
            "{}: note: the shards folder also holds shards of another split (not N = {n}): {}.              `fit merge` accepts one split only: remove those files once the N = {n} shards are              done, or run the missing shards of that split instead",
            ctx.out_dir.display(),
            other_split.join(", ")
        );
    }
    Ok(())
}

/// `fit explore EXP.yaml [--shard K/N]`.
///
/// Every finished chunk of points is checkpointed under `grid-chunks/` in the run folder; a
/// rerun after a crash, a kill or Ctrl-C evaluates only the missing chunks and writes the same
/// bytes as an uninterrupted run. The chunks are removed once the outputs are written.
pub fn explore(ctx: &RunContext, shard: Option<&str>) -> Result<()> {
    let setup = load(ctx)?;
    if setup.exp.exploration.as_ref().is_some_and(|e| e.fit) {
        if shard.is_some() {
            bail!("--shard is for grids of simulations, not grids of fits");
        }
        return grid_of_fits(ctx, &setup);
    }
    let axes = grid_axes(&setup, &ctx.exp_path)?;
    let stats: Vec<String> = statistics(&setup)
        .iter()
        .map(|s| stat_name(*s).to_string())
        .collect();
    let points: usize = axes.iter().map(|a| a.values.len()).product();
    let (k, n) = shard.map(parse_shard).transpose()?.unwrap_or((1, 1));
    let range = shard_range(points, k, n);
    let hash = ctx.experiment_hash();
    if shard.is_some() {
        check_shard_folder(ctx, &hash, n)?;
    }
    crate::cli::create_run_dir(&ctx.out_dir)?;
    write_resolved(ctx)?;
    let store = ChunkStore {
        dir: ctx.out_dir.join("grid-chunks").join(if shard.is_some() {
            format!("shard-{k:04}-of-{n:04}")
        } else {
            "grid".to_string()
        }),
        hash: hash.clone(),
        statistics: stats.clone(),
    };
    let mut chunks = store.load(&range)?;
    let already: usize = chunks.iter().map(|c| c.end - c.start).sum();
    if already > 0 {
        println!(
            "resuming: {already} of {} points from {} chunk checkpoint(s) in {}",
            range.len(),
            chunks.len(),
            store.dir.display()
        );
    }
    let todo = gaps(&range, &chunks);
    let t0 = std::time::Instant::now();
    evaluate_points(ctx, &setup, &axes, &todo, already, &mut |r, v, d| {
        chunks.push(store.save(r, &v, d)?);
        Ok(())
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let mut values = vec![vec![f64::NAN; range.len()]; stats.len()];
    let mut diverged = 0;
    for c in &chunks {
        diverged += c.diverged;
        for (s, v) in c.values_bits.iter().enumerate() {
            for (j, bits) in v.iter().enumerate() {
                values[s][c.start - range.start + j] = f64::from_bits(*bits);
            }
        }
    }
    if diverged > 0 {
        eprintln!(
            "{}: {diverged} of {} grid points diverged (non-finite simulation or spectrum); \
             they are NaN in every grid_*.npy (look at integration.dt and the axes' low/high)",
            ctx.exp_path.display(),
            range.len()
        );
    }
    let evaluated = range.len() - already;
    if shard.is_none() {
        write_outputs(&ctx.out_dir, &axes, &stats, &values)?;
        store.remove()?;
        println!(
            "{points} grid points ({evaluated} evaluated now) in {wall:.2} s ({:.4} s per \
             simulation); outputs in {}",
            wall / evaluated.max(1) as f64,
            ctx.out_dir.display()
        );
    } else {
        let file = ShardFile {
            experiment_hash: hash,
            shard: [k, n],
            points,
            start: range.start,
            axes,
            statistics: stats,
            values_bits: values
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect(),
        };
        let path = shard_path(&ctx.out_dir, k, n);
        write_json(&path, &file)?;
        store.remove()?;
        println!(
            "shard {k}/{n}: points {}..{} ({evaluated} evaluated now) in {wall:.2} s -> {}",
            range.start,
            range.end,
            path.display()
        );
    }
    Ok(())
}

/// `fit merge DIR`: checks that every shard is present and consistent, then writes the outputs.
pub fn merge(dir: &Path) -> Result<()> {
    let sdir = dir.join("shards");
    let mut files: Vec<ShardFile> = Vec::new();
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    for e in
        std::fs::read_dir(&sdir).with_context(|| format!("{}: no shards folder", dir.display()))?
    {
        let p = e
            .with_context(|| format!("cannot list the shards folder {}", sdir.display()))?
            .path();
        if p.extension().is_some_and(|x| x == "json") {
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read shard {}", p.display()))?;
            let f: ShardFile = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{}: not a shard file written by `fit explore --shard`",
                    p.display()
                )
            })?;
            check_shard(&f, &p)?;
            paths.push(p);
            files.push(f);
        }
    }
    let first = files
        .first()
        .ok_or_else(|| anyhow!("{}: no shard files", sdir.display()))?
        .clone();
    let n = first.shard[1];
    // Shards of several splits (N changed) or configurations in one folder: list every group,
    // so the stale files can be removed in one go.
    let group = |f: &ShardFile| (f.shard[1], f.experiment_hash.clone());
    let mut groups: Vec<((usize, String), Vec<String>)> = Vec::new();
    for (f, p) in files.iter().zip(&paths) {
        let name = p.display().to_string();
        match groups.iter_mut().find(|(g, _)| *g == group(f)) {
            Some((_, names)) => names.push(name),
            None => groups.push((group(f), vec![name])),
        }
    }
    if groups.len() > 1 {
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let lines: Vec<String> = groups
            .iter_mut()
            .map(|((gn, hash), names)| {
                names.sort();
                format!(
                    "  N = {gn}, experiment {}: {} file(s): {}",
                    hash.chars().take(12).collect::<String>(),
                    names.len(),
                    names.join(" ")
                )
            })
            .collect();
        let splits: Vec<usize> = groups.iter().map(|((gn, _), _)| *gn).collect();
        let hint = if groups.iter().all(|((_, h), _)| *h == first.experiment_hash) {
            format!(
                "the split changed (N = {splits:?}): keep the shards of one N, remove the \
                 others (rm FILES...), and run any missing shards with --shard K/N"
            )
        } else {
            "shards of a different experiment (another configuration) are mixed in: remove the \
             stale ones (rm FILES...), or re-run them with the settings of the others"
                .to_string()
        };
        bail!(
            "{}: the shards belong to a different experiment or split than each other:\n{}\n{hint}",
            sdir.display(),
            lines.join("\n")
        );
    }
    for (f, p) in files.iter().zip(&paths) {
        if f.axes != first.axes || f.statistics != first.statistics || f.points != first.points {
            bail!(
                "{}: shard {}/{} belongs to a different experiment or split than {}",
                p.display(),
                f.shard[0],
                f.shard[1],
                paths[0].display()
            );
        }
    }
    for (a, (f, p)) in files.iter().zip(&paths).enumerate() {
        if let Some(q) = files[..a]
            .iter()
            .zip(&paths)
            .find(|(g, _)| g.shard[0] == f.shard[0])
            .map(|(_, q)| q)
        {
            bail!(
                "{} and {} both claim shard {}/{n}; remove one",
                q.display(),
                p.display(),
                f.shard[0]
            );
        }
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&a| files[a].shard[0]);
    let files: Vec<ShardFile> = order.iter().map(|&a| files[a].clone()).collect();
    let have: Vec<usize> = files.iter().map(|f| f.shard[0]).collect();
    let missing: Vec<usize> = (1..=n).filter(|k| !have.contains(k)).collect();
    if !missing.is_empty() {
        bail!(
            "{}: shards {missing:?} of {n} are missing; run them with --shard K/{n}",
            sdir.display()
        );
    }
    // Every cell must be written by exactly one shard: a gap would otherwise read as 0.0.
    let mut values = vec![vec![f64::NAN; first.points]; first.statistics.len()];
    let mut filled = vec![false; first.points];
    for f in &files {
        for (s, v) in f.values_bits.iter().enumerate() {
            for (j, bits) in v.iter().enumerate() {
                values[s][f.start + j] = f64::from_bits(*bits);
            }
        }
        filled[f.start..f.start + f.values_bits[0].len()].fill(true);
    }
    if let Some(k) = filled.iter().position(|x| !x) {
        bail!(
            "{}: grid point {k} of {} is in no shard (the shards do not cover the grid); \
             re-run the shards with --shard K/{n}",
            sdir.display(),
            first.points
        );
    }
    write_outputs(dir, &first.axes, &first.statistics, &values)?;
    println!(
        "merged {n} shards ({} points) into {}",
        first.points,
        dir.display()
    );
    Ok(())
}

/// A shard file's numbers agree with each other: its range lies inside the grid, the grid
/// size is the product of the axes, and every statistic has one value per point of the range.
fn check_shard(f: &ShardFile, path: &Path) -> Result<()> {
    let file = path.display();
    let [k, n] = f.shard;
    if n == 0 || k == 0 || k > n {
        bail!("{file}: shard = [{k}, {n}] must be K/N with 1 <= K <= N");
    }
    let product = f
        .axes
        .iter()
        .try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()));
    if product != Some(f.points) {
        bail!(
            "{file}: points = {} but the axes give {} points",
            f.points,
            product.map_or("too many".to_string(), |p| p.to_string())
        );
    }
    let range = shard_range(f.points, k, n);
    let len = f.values_bits.first().map_or(0, Vec::len);
    if f.start != range.start || len != range.len() {
        bail!(
            "{file}: shard {k}/{n} of {} points must hold points {}..{}, but it starts at {} \
             with {len} values",
            f.points,
            range.start,
            range.end,
            f.start
        );
    }
    if f.values_bits.len() != f.statistics.len() || f.values_bits.iter().any(|v| v.len() != len) {
        bail!(
            "{file}: values_bits must hold {} lists (one per statistic) of {len} values",
            f.statistics.len()
        );
    }
    Ok(())
}

/// What a grid of fits has reached after a step: parameters and optimizer states of every
/// start, exact, with the step that evaluates them next.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FitsState {
    /// Experiment hash: a state of another configuration is never resumed.
    experiment_hash: String,
    /// The next step to evaluate.
    step: usize,
    /// Parameters `[axis][start]` as f64 bit patterns.
    values_bits: Vec<Vec<u64>>,
    /// Each start's optimizer state.
    states: Vec<optim::State>,
}

/// [`FitsState`] with the SHA-256 of its JSON encoding, as written to disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FitsFile {
    sha256: String,
    state: FitsState,
}

/// The SHA-256 of a state's JSON encoding (bit patterns only, so the encoding is exact).
fn fits_digest(st: &FitsState) -> Result<String> {
    let bytes = serde_json::to_vec(st).context("cannot encode the grid-of-fits state")?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The checkpoint of a grid of fits, rewritten (atomically) after every step.
struct FitsStore {
    path: PathBuf,
    hash: String,
}

impl FitsStore {
    /// The saved state when it is intact and of this experiment; else None (with a message
    /// for a damaged or foreign one, which is then ignored: the fits start over).
    fn load(&self, points: usize, axes: usize) -> Result<Option<FitsState>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        let why = match serde_json::from_slice::<FitsFile>(&bytes) {
            Err(e) => format!("is not a grid-of-fits checkpoint ({e})"),
            Ok(f) if fits_digest(&f.state)? != f.sha256 => {
                "is damaged (its SHA-256 does not match its contents)".to_string()
            }
            Ok(f) if f.state.experiment_hash != self.hash => {
                "belongs to another configuration of the experiment".to_string()
            }
            Ok(f)
                if f.state.states.len() != points
                    || f.state.values_bits.len() != axes
                    || f.state.values_bits.iter().any(|v| v.len() != points) =>
            {
                "does not fit this grid".to_string()
            }
            Ok(f) => return Ok(Some(f.state)),
        };
        eprintln!(
            "{}: checkpoint {why}; the grid of fits starts over",
            self.path.display()
        );
        Ok(None)
    }

    fn save(&self, step: usize, values: &[Vec<f64>], states: &[optim::State]) -> Result<()> {
        let state = FitsState {
            experiment_hash: self.hash.clone(),
            step,
            values_bits: values
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect(),
            states: states.to_vec(),
        };
        let file = FitsFile {
            sha256: fits_digest(&state)?,
            state,
        };
        let bytes = serde_json::to_vec(&file)
            .with_context(|| format!("cannot encode {}", self.path.display()))?;
        crate::run_dir::write_atomic(&self.path, &bytes)
    }

    fn remove(&self) -> Result<()> {
        ChunkStore {
            dir: self.path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            hash: String::new(),
            statistics: vec![],
        }
        .remove()
    }
}

/// Keeps the header and the first `rows` rows of a CSV file (atomically).
fn truncate_rows(path: &Path, rows: usize) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let keep: Vec<&str> = text.lines().take(rows + 1).collect();
    if keep.len() < rows + 1 {
        bail!(
            "{}: holds {} rows but the checkpoint is at step {rows}; remove the run folder to \
             start the grid of fits over",
            path.display(),
            keep.len().saturating_sub(1)
        );
    }
    let mut out = keep.join("\n");
    out.push('\n');
    crate::run_dir::write_atomic(path, out.as_bytes())
}

/// Every grid point as a start for the optimizer; all starts are evaluated together as one
/// batch, and each start has its own optimizer state (moments, schedule and plateau counters),
/// updated from its own loss and gradient.
fn grid_of_fits(ctx: &RunContext, setup: &NetworkSetup) -> Result<()> {
    let cfg = setup.exp.optimization.clone().ok_or_else(|| {
        anyhow!(
            "{}: a grid of fits needs an `optimization` section",
            ctx.exp_path.display()
        )
    })?;
    let axes = grid_axes(setup, &ctx.exp_path)?;
    let points: usize = axes.iter().map(|a| a.values.len()).product();
    let device = backend::f64_device(setup.backend, true);
    let mut obj = Objective::new(setup, points, &device, false)?;
    obj.set_target(setup, &ctx.exp_path)?;
    crate::cli::create_run_dir(&ctx.out_dir.join("starts"))?;
    write_resolved(ctx)?;
    let names = column_names(setup);
    let mut header = vec!["step".to_string(), "loss".to_string()];
    header.extend(names.iter().cloned());
    header.extend(["grad_norm".to_string(), "wall_time".to_string()]);
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let values: Vec<Vec<f64>> = (0..axes.len())
        .map(|a| (0..points).map(|p| grid_point(&axes, p)[a]).collect())
        .collect();
    let shapes = vec![[points, 1]; axes.len()];
    let optimizer = crate::optimizer::build(&cfg, &ctx.exp_path)?;
    let crate::optimizer::Method::Chain(chain) = &optimizer.method else {
        bail!(
            "{}: a grid of fits needs a first-order optimizer (adam, adamw, adamax, sgd), not {}",
            ctx.exp_path.display(),
            optimizer.name
        );
    };
    let start_of =
        |values: &[Vec<f64>], p: usize| -> Vec<f64> { values.iter().map(|v| v[p]).collect() };
    let states: Vec<optim::State> = (0..points)
        .map(|p| optim::GradientTransformation::init(chain, &start_of(&values, p)))
        .collect();
    let store = FitsStore {
        path: ctx
            .out_dir
            .join("grid-chunks")
            .join("fits")
            .join("state.json"),
        hash: ctx.experiment_hash(),
    };
    let start_path = |p: usize| ctx.out_dir.join("starts").join(format!("start-{p:05}.csv"));
    // Resume from the state after the last finished step; the starts' CSV files are cut back
    // to that step (a kill can fall between appending a row and saving the state).
    let (first_step, mut values, mut states, mut files) = match store.load(points, axes.len())? {
        Some(st) if (0..points).all(|p| start_path(p).exists()) => {
            println!(
                "resuming the grid of fits at step {} from {}",
                st.step,
                store.path.display()
            );
            let files = (0..points)
                .map(|p| {
                    truncate_rows(&start_path(p), st.step)?;
                    CsvAppender::append_to(&start_path(p))
                })
                .collect::<Result<Vec<_>>>()?;
            let values = st
                .values_bits
                .iter()
                .map(|v| v.iter().map(|b| f64::from_bits(*b)).collect())
                .collect();
            (st.step, values, st.states, files)
        }
        _ => {
            let files = (0..points)
                .map(|p| CsvAppender::create(&start_path(p), &hdr))
                .collect::<Result<Vec<_>>>()?;
            (0, values, states, files)
        }
    };
    let bar = progress_bar(cfg.steps as u64, ctx.quiet);
    bar.set_prefix("fits");
    let t0 = std::time::Instant::now();
    bar.set_position(first_step as u64);
    let mut last = None;
    for step in first_step..=cfg.steps {
        crate::interrupt::check(&format!("the grid of fits at step {step}"))?;
        let eval = evaluate(&obj, &FitParams::from_host(&values, &shapes, &device))?;
        let wall = t0.elapsed().as_secs_f64();
        for (p, f) in files.iter_mut().enumerate() {
            let mut row = vec![eval.losses[p]];
            let g: f64 = eval.grads.iter().map(|g| g[p] * g[p]).sum::<f64>().sqrt();
            row.extend(eval.thetas.iter().map(|t| t[p]));
            row.extend([g, wall]);
            f.append_step(step, &row)?;
        }
        let best = eval.losses.iter().cloned().fold(f64::INFINITY, f64::min);
        bar.set_message(format!("best loss {best:.5}"));
        if step == cfg.steps {
            last = Some(eval);
            break;
        }
        for (p, st) in states.iter_mut().enumerate() {
            let u = start_of(&values, p);
            let g: Vec<f64> = eval.grads.iter().map(|g| g[p]).collect();
            // A start whose loss is not finite stays where it is (the others go on).
            if !eval.losses[p].is_finite() || g.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let upd = optim::GradientTransformation::update(chain, g, st, &u, Some(eval.losses[p]));
            for (k, v) in values.iter_mut().enumerate() {
                v[p] = u[k] + upd[k];
            }
        }
        store.save(step + 1, &values, &states)?;
        bar.set_position(step as u64 + 1);
    }
    bar.finish_and_clear();
    let eval = last.expect("final evaluation");
    let mut order: Vec<usize> = (0..points).collect();
    order.sort_by(|&a, &b| eval.losses[a].total_cmp(&eval.losses[b]));
    let mut best = CsvAppender::create(
        &ctx.out_dir.join("best_fits.csv"),
        &std::iter::once("start")
            .chain(std::iter::once("final_loss"))
            .chain(names.iter().map(String::as_str))
            .collect::<Vec<_>>(),
    )?;
    for &p in &order {
        let mut row = vec![p as f64, eval.losses[p]];
        row.extend(eval.thetas.iter().map(|t| t[p]));
        best.append(&row)?;
    }
    store.remove()?;
    let p = order[0];
    println!(
        "{points} fits x {} steps in {:.2} s; best start {p}: loss {:.6}, {}",
        cfg.steps,
        t0.elapsed().as_secs_f64(),
        eval.losses[p],
        names
            .iter()
            .zip(&eval.thetas)
            .map(|(n, t)| format!("{n} = {:.5}", t[p]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_and_ij_order() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let axes = vec![
            Axis {
                name: "a".into(),
                values: vec![1.0, 2.0],
            },
            Axis {
                name: "b".into(),
                values: vec![10.0, 20.0, 30.0],
            },
        ];
        assert_eq!(grid_point(&axes, 0), vec![1.0, 10.0]);
        assert_eq!(grid_point(&axes, 1), vec![1.0, 20.0]);
        assert_eq!(grid_point(&axes, 3), vec![2.0, 10.0]);
        let covered: Vec<usize> = (1..=3).flat_map(|k| shard_range(10, k, 3)).collect();
        assert_eq!(covered, (0..10).collect::<Vec<_>>());
        assert!(
            parse_shard("0/3").is_err()
                && parse_shard("4/3").is_err()
                && parse_shard("2/3").is_ok()
        );
    }
}
