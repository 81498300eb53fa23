//! A resource budget checked before anything large is allocated or run.
//!
//! Every command estimates, from the configuration alone, the memory its biggest arrays take
//! (steps × state × batch, the delay history, N², noise arrays, grids …) and the work of its
//! longest loops (state-variable updates), and refuses with a message naming the fields and the
//! estimate when either is over the limit — rather than aborting on a failed allocation or
//! running for days. The memory limit defaults to half the machine's memory (`MemTotal` of
//! `/proc/meminfo`; 8 GiB where that cannot be read); `--max-memory` changes it. The work limit
//! defaults to 10¹² state-variable updates (hours of compute); `--max-work` changes it.

use anyhow::{Result, bail};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// 0 = not set: the default applies.
static MAX_MEMORY: AtomicU64 = AtomicU64::new(0);
/// 0 = not set: the default applies.
static MAX_WORK: AtomicU64 = AtomicU64::new(0);

/// Default work limit (state-variable updates).
pub const DEFAULT_MAX_WORK: f64 = 1e12;

/// Fallback memory limit where the machine's memory cannot be read (bytes).
const FALLBACK_MEMORY: u64 = 8 << 30;

/// The machine's memory in bytes (`MemTotal`), if it can be read.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Sets the memory limit (bytes) for this process (`--max-memory`).
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes.max(1), Ordering::Relaxed);
}

/// Sets the work limit (state-variable updates) for this process (`--max-work`).
pub fn set_max_work(updates: u64) {
    MAX_WORK.store(updates.max(1), Ordering::Relaxed);
}

/// The memory limit in bytes and where it comes from.
pub fn max_memory() -> (f64, &'static str) {
    match MAX_MEMORY.load(Ordering::Relaxed) {
        0 => match machine_memory() {
            Some(m) => (
                m as f64 / 2.0,
                "half the machine's memory; change with --max-memory",
            ),
            None => (
                FALLBACK_MEMORY as f64,
                "the default when /proc/meminfo cannot be read; change with --max-memory",
            ),
        },
        m => (m as f64, "--max-memory"),
    }
}

/// The work limit and where it comes from.
pub fn max_work() -> (f64, &'static str) {
    match MAX_WORK.load(Ordering::Relaxed) {
        0 => (DEFAULT_MAX_WORK, "the default; change with --max-work"),
        w => (w as f64, "--max-work"),
    }
}

/// Parses a size: bytes, or a number with a suffix `K`, `M`, `G`, `T` (powers of 1024,
/// optionally followed by `B` or `iB`): `8G`, `500M`, `1.5GiB`, `4096`.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, mult) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 1u64 << 10),
        Some('M') => (&body[..body.len() - 1], 1 << 20),
        Some('G') => (&body[..body.len() - 1], 1 << 30),
        Some('T') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "`{text}` is not a size; write bytes or a number with K, M, G or T (e.g. 8G, 500M)"
        )
    })?;
    let bytes = v * mult as f64;
    if !(1.0..1.8e19).contains(&bytes) {
        bail!("`{text}` is not a positive size (e.g. 8G, 500M)");
    }
    Ok(bytes as u64)
}

/// Parses a count of updates: an integer or a float such as `1e13`.
pub fn parse_count(text: &str) -> Result<u64> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a number (e.g. 1e13)"))?;
    if !(1.0..1.8e19).contains(&v) {
        bail!("`{text}` is not a positive count (e.g. 1e13)");
    }
    Ok(v as u64)
}

/// A human-readable byte count.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == UNITS.len() - 1 && v >= 1024.0 {
        return format!("{b:.3e} B");
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Refuses when the arrays `parts` (what, which fields set its size, bytes) together exceed
/// the memory limit. Sizes are f64 so that absurd configurations cannot overflow.
pub fn check_memory(file: &Path, parts: &[(&str, &str, f64)]) -> Result<()> {
    let total: f64 = parts.iter().map(|p| p.2).sum();
    let (limit, why) = max_memory();
    if total.is_finite() && total <= limit {
        return Ok(());
    }
    let mut big: Vec<&(&str, &str, f64)> = parts.iter().collect();
    big.sort_by(|a, b| b.2.total_cmp(&a.2));
    let lines: Vec<String> = big
        .iter()
        .filter(|p| p.2 > 0.0)
        .map(|(what, fields, bytes)| format!("{what}: {} (set by {fields})", human_bytes(*bytes)))
        .collect();
    bail!(
        "{}: this run needs about {} of memory, over the limit of {} ({why}): {}",
        file.display(),
        human_bytes(total),
        human_bytes(limit),
        lines.join("; ")
    )
}

/// Refuses when a loop would do more than the work limit of state-variable updates.
pub fn check_work(file: &Path, what: &str, fields: &str, updates: f64) -> Result<()> {
    let (limit, why) = max_work();
    if updates.is_finite() && updates <= limit {
        return Ok(());
    }
    bail!(
        "{}: {what} would take about {updates:.3e} state-variable updates, over the limit of \
         {limit:.0e} ({why}); reduce {fields}",
        file.display()
    )
}

/// Checks that a duration or size field is a finite positive number.
pub fn positive(file: &Path, field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!(
            "{}: {field} = {v} must be a finite positive number",
            file.display()
        );
    }
    Ok(())
}

/// Checks that a field is a finite number.
pub fn finite(file: &Path, field: &str, v: f64) -> Result<()> {
    if !v.is_finite() {
        bail!("{}: {field} = {v} must be a finite number", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2kb").unwrap(), 2048);
        for bad in ["", "G", "-1G", "nanG", "1e30T", "8X", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn over_budget_names_fields_and_estimate() {
        let e = check_memory(
            Path::new("x.yaml"),
            &[
                ("trace", "integration.duration", 1e30),
                ("weights", "N", 8.0),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("x.yaml: ") && e.contains("integration.duration"),
            "{e}"
        );
        assert!(check_memory(Path::new("x.yaml"), &[("t", "f", 1024.0)]).is_ok());
        assert!(check_memory(Path::new("x.yaml"), &[("t", "f", f64::NAN)]).is_err());
        assert!(check_work(Path::new("x.yaml"), "the run", "duration", 1e30).is_err());
    }
}
