//! The one training loop of every family: run or resume, stop conditions, interruption,
//! checkpoints and divergence. It reports rows and checkpoints to an [`Observer`] (the CLI
//! writes them to a run folder, the tests to memory); it writes no files itself.
//!
//! **`checkpoint_every = k`** (k ≥ 1) means: a checkpoint after every k-th completed step
//! (steps done ≡ 0 mod k), and one when the loop ends. The one at the end holds the state
//! from which resuming reproduces the end: when a row ends the run (the final evaluation, a
//! target reached, early stopping) the state *before* that row, so a resume recomputes it and
//! stops in the same place; when the family has nothing left to do
//! ([`Family::finished`]), the state then.

use crate::family::{Family, Snapshot, StepReport};

/// Receives what the driver produces.
pub trait Observer {
    /// A trajectory row (finite).
    fn row(&mut self, report: &StepReport) -> anyhow::Result<()>;
    /// A state to checkpoint.
    fn checkpoint(&mut self, snapshot: &Snapshot) -> anyhow::Result<()>;
    /// The run diverged at `report.step`; `last_finite` is the state before the last step
    /// whose row was finite (resuming it with a smaller learning rate can continue), `None`
    /// when the first step of this run already diverged.
    fn diverged(
        &mut self,
        report: &StepReport,
        last_finite: Option<&Snapshot>,
    ) -> anyhow::Result<()>;
    /// After every step (progress display).
    fn progress(&mut self, _steps_done: usize, _report: &StepReport) {}
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The last row was written: `reason` says why (steps exhausted, target, early stop).
    Finished {
        /// The last row's step.
        last_step: usize,
        /// Why it ended.
        reason: String,
    },
    /// An interruption was requested; a checkpoint of `step` was written.
    Interrupted {
        /// Steps done.
        step: usize,
    },
    /// A non-finite loss or gradient at `step`.
    Diverged {
        /// The step whose evaluation was not finite.
        step: usize,
        /// The family's explanation.
        detail: String,
        /// The step of the kept last finite state, if any.
        kept: Option<usize>,
    },
}

/// Driver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// See the module docs (must be ≥ 1).
    pub checkpoint_every: usize,
}

/// Runs `family` from its current state (fresh or restored) to the end.
pub fn run<F: Family + ?Sized, O: Observer + ?Sized>(
    family: &mut F,
    observer: &mut O,
    settings: Settings,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        settings.checkpoint_every >= 1,
        "optimization.checkpoint_every must be >= 1"
    );
    let mut last_finite: Option<Snapshot> = None;
    // The step of the newest checkpoint this run wrote (none yet: `None`).
    let mut saved: Option<usize> = None;
    let mut ran = false;
    loop {
        if crate::interrupt::requested() {
            let snap = family.snapshot()?;
            observer.checkpoint(&snap)?;
            return Ok(Outcome::Interrupted { step: snap.step });
        }
        if let Some(reason) = family.finished() {
            let done = family.steps_done();
            if ran && saved != Some(done) {
                observer.checkpoint(&family.snapshot()?)?;
            }
            return Ok(Outcome::Finished {
                last_step: done,
                reason,
            });
        }
        let before = family.snapshot()?;
        let report = family.step()?;
        ran = true;
        if !report.finite {
            observer.diverged(&report, last_finite.as_ref())?;
            return Ok(Outcome::Diverged {
                step: report.step,
                detail: report.detail,
                kept: last_finite.map(|s| s.step),
            });
        }
        observer.row(&report)?;
        let done = family.steps_done();
        observer.progress(done, &report);
        if let Some(reason) = report.stop {
            observer.checkpoint(&before)?;
            return Ok(Outcome::Finished {
                last_step: report.step,
                reason,
            });
        }
        if done != before.step && done.is_multiple_of(settings.checkpoint_every) {
            observer.checkpoint(&family.snapshot()?)?;
            saved = Some(done);
        }
        last_finite = Some(before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::StepColumn;

    /// x ← x − lr·2x on (x − 0)², diverging when `blow_at` is reached.
    struct Quad {
        x: f64,
        step: usize,
        steps: usize,
        blow_at: Option<usize>,
    }

    impl Family for Quad {
        fn columns(&self) -> Vec<String> {
            vec!["step".into(), "loss".into(), "x".into()]
        }
        fn step_column(&self) -> StepColumn {
            StepColumn::Integer
        }
        fn steps_done(&self) -> usize {
            self.step
        }
        fn step(&mut self) -> anyhow::Result<StepReport> {
            let loss = if self.blow_at == Some(self.step) {
                f64::NAN
            } else {
                self.x * self.x
            };
            let step = self.step;
            let stop = (step == self.steps).then(|| "steps".to_string());
            if loss.is_finite() && stop.is_none() {
                self.x -= 0.1 * 2.0 * self.x;
                self.step += 1;
            }
            Ok(StepReport {
                step,
                row: vec![loss, self.x],
                finite: loss.is_finite(),
                stop,
                detail: format!("x = {}", self.x),
            })
        }
        fn snapshot(&self) -> anyhow::Result<Snapshot> {
            Ok(Snapshot {
                step: self.step,
                params: vec![vec![self.x]],
                shapes: vec![[1, 1]],
                state: Vec::new(),
                wall_time: 0.0,
            })
        }
        fn restore(&mut self, s: &Snapshot) -> anyhow::Result<()> {
            self.x = s.params[0][0];
            self.step = s.step;
            Ok(())
        }
    }

    #[derive(Default)]
    struct Log {
        rows: Vec<usize>,
        ckpts: Vec<Snapshot>,
        kept: Option<Option<usize>>,
    }

    impl Observer for Log {
        fn row(&mut self, r: &StepReport) -> anyhow::Result<()> {
            self.rows.push(r.step);
            Ok(())
        }
        fn checkpoint(&mut self, s: &Snapshot) -> anyhow::Result<()> {
            self.ckpts.push(s.clone());
            Ok(())
        }
        fn diverged(&mut self, _: &StepReport, s: Option<&Snapshot>) -> anyhow::Result<()> {
            self.kept = Some(s.map(|s| s.step));
            Ok(())
        }
    }

    fn quad(blow_at: Option<usize>) -> Quad {
        Quad {
            x: 1.0,
            step: 0,
            steps: 7,
            blow_at,
        }
    }

    #[test]
    fn checkpoints_every_k_and_at_the_end_and_resume_is_identical() {
        let mut q = quad(None);
        let mut log = Log::default();
        let s = Settings {
            checkpoint_every: 3,
        };
        let out = run(&mut q, &mut log, s).unwrap();
        assert_eq!(
            out,
            Outcome::Finished {
                last_step: 7,
                reason: "steps".into()
            }
        );
        assert_eq!(log.rows, (0..=7).collect::<Vec<_>>());
        let steps: Vec<usize> = log.ckpts.iter().map(|c| c.step).collect();
        assert_eq!(steps, [3, 6, 7]);
        // Resume from the checkpoint at 3: rows 3..=7 and the same final state.
        let mut r = quad(None);
        r.restore(&log.ckpts[0]).unwrap();
        let mut log2 = Log::default();
        run(&mut r, &mut log2, s).unwrap();
        assert_eq!(log2.rows, (3..=7).collect::<Vec<_>>());
        assert_eq!(r.x.to_bits(), q.x.to_bits());
    }

    #[test]
    fn divergence_keeps_the_state_before_the_last_finite_row() {
        let mut q = quad(Some(5));
        let mut log = Log::default();
        let out = run(
            &mut q,
            &mut log,
            Settings {
                checkpoint_every: 100,
            },
        )
        .unwrap();
        assert!(matches!(
            out,
            Outcome::Diverged {
                step: 5,
                kept: Some(4),
                ..
            }
        ));
        assert_eq!(log.kept, Some(Some(4)));
        assert_eq!(log.rows, [0, 1, 2, 3, 4]);
    }
}
