//! Cooperative interruption: Ctrl-C in the terminal (SIGINT/SIGTERM) or in Python
//! (KeyboardInterrupt) asks long work to stop at the next safe point.
//!
//! A process-wide flag rather than a token threaded through every call: the signal handler and
//! the Python bindings both run outside the work they interrupt, and there is one experiment
//! running per process. The training loop checks it after every update (and then writes a
//! checkpoint before it stops), simulations between chunks, grids between batches.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The error long work returns when it stopped because of [`request`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("interrupted{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
pub struct Interrupted(pub String);

/// Asks the running work to stop at its next safe point.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop has been requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Clears a request (before starting new work).
pub fn reset() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// `Err(Interrupted)` when a stop has been requested.
pub fn check(what: &str) -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted(what.to_string()))
    } else {
        Ok(())
    }
}

/// Whether an error chain holds an [`Interrupted`].
pub fn is_interrupted(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Interrupted>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_check_reset() {
        reset();
        assert!(check("x").is_ok());
        request();
        let e: anyhow::Error = check("grid at point 3").unwrap_err().into();
        assert!(is_interrupted(&e));
        assert_eq!(e.to_string(), "interrupted: grid at point 3");
        reset();
        assert!(!requested());
    }
}
