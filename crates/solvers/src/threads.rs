//! How many worker threads this process may use.
//!
//! `std::thread::available_parallelism` already follows the process's CPU affinity and cgroup
//! quota on Linux, but a SLURM task can be placed on a node without either being narrowed to
//! its allocation (e.g. `TaskPlugin=task/none`); then every array task would start one thread
//! per core of the node and the node would be oversubscribed. `SLURM_CPUS_PER_TASK` is the
//! allocation SLURM granted, so it caps the count; `NEURODYN_THREADS` overrides both (for
//! benchmarks and for sharing a machine by hand).

use std::sync::OnceLock;

/// The environment variable that sets the thread count explicitly.
pub const THREADS_ENV: &str = "NEURODYN_THREADS";

/// A positive whole number from an environment variable's text, if it is one.
fn positive(text: Option<&str>) -> Option<usize> {
    text.and_then(|t| t.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The thread count from its three sources: an explicit override wins; else the SLURM
/// allocation, never more than the CPUs the process can run on; else those CPUs.
/// Unparsable or zero values are ignored (a typo must not turn the run single-threaded).
pub fn choose(explicit: Option<&str>, slurm_cpus_per_task: Option<&str>, affinity: usize) -> usize {
    let affinity = affinity.max(1);
    positive(explicit)
        .unwrap_or_else(|| positive(slurm_cpus_per_task).map_or(affinity, |s| s.min(affinity)))
}

/// Worker threads for batched work in this process (see the module documentation); read once,
/// since the environment and the affinity of a running process do not change.
pub fn available() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok();
        choose(
            var(THREADS_ENV).as_deref(),
            var("SLURM_CPUS_PER_TASK").as_deref(),
            std::thread::available_parallelism().map_or(1, |t| t.get()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn override_then_slurm_then_affinity() {
        assert_eq!(choose(None, None, 8), 8);
        assert_eq!(choose(None, Some("2"), 8), 2);
        // SLURM never raises the count above the CPUs the process may use.
        assert_eq!(choose(None, Some("16"), 4), 4);
        assert_eq!(choose(Some("3"), Some("2"), 8), 3);
        // Garbage and zero are ignored, not read as one thread.
        assert_eq!(choose(Some("x"), Some("0"), 6), 6);
        assert_eq!(choose(Some(" 5 "), None, 1), 5);
        assert_eq!(choose(None, None, 0), 1);
    }
}
