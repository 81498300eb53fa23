//! Crash-safe run folders, with real `fit` processes: kill -9 at random moments then resume
//! equals an uninterrupted run (Jansen-Rit, AI-state rate network, SOC); two runs on one
//! folder give one clear error and no mixed rows; a damaged newest checkpoint falls back to
//! the previous one, named; a damaged `trajectory.csv` is rebuilt; SIGINT writes a checkpoint
//! (SIGTERM too) and exits with 130.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neurodyn-runs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One family's short experiment.
struct Case {
    exp: &'static str,
    sets: &'static [&'static str],
    /// The trajectory file.
    traj: &'static str,
    /// Whether its last column is wall time (not reproducible).
    wall_column: bool,
}

const JR: Case = Case {
    exp: "jr_peak.yaml",
    sets: &[
        "optimization.steps=30",
        "integration.duration=400",
        "optimization.checkpoint_every=4",
    ],
    traj: "trajectory.csv",
    wall_column: true,
};

const RATES: Case = Case {
    exp: "ai_rates.yaml",
    sets: &[
        "optimization.steps=40",
        "optimization.checkpoint_every=3",
        "outputs.plots=false",
    ],
    traj: "trajectory.csv",
    wall_column: false,
};

const SOC: Case = Case {
    exp: "soc.yaml",
    sets: &[
        "model.parameters.N=40",
        "initial_weights.seed=1",
        "optimization.checkpoint_every=20",
        "outputs.plots=false",
    ],
    traj: "steps.csv",
    wall_column: true,
};

impl Case {
    fn command(&self, out: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fit"));
        c.arg("run")
            .arg(root().join("experiments").join(self.exp))
            .arg("--out")
            .arg(out)
            .arg("--quiet");
        for s in self.sets {
            c.args(["--set", s]);
        }
        c.args(extra).current_dir(root());
        c
    }

    fn run(&self, out: &Path, extra: &[&str]) -> Output {
        self.command(out, extra).output().unwrap()
    }

    fn spawn(&self, out: &Path, env: &[(&str, &str)]) -> Child {
        let mut c = self.command(out, &[]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The trajectory rows without wall time.
    fn rows(&self, dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(self.traj))
            .unwrap()
            .lines()
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                let keep = if self.wall_column {
                    cells.len() - 1
                } else {
                    cells.len()
                };
                cells[..keep].join(",")
            })
            .collect()
    }

    /// `final.json` without wall time.
    fn final_json(&self, dir: &Path) -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("final.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("wall_time_s");
        v
    }

    fn rows_on_disk(&self, dir: &Path) -> usize {
        std::fs::read_to_string(dir.join(self.traj))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

fn checkpoints(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("step-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// No temporary file or folder anywhere in the run folder.
fn assert_no_temporaries(dir: &Path) {
    for d in [dir.to_path_buf(), dir.join("checkpoints")] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.contains(".tmp"), "temporary {n} left in {}", d.display());
        }
    }
}

/// xorshift64*: the kill moments (the seed is printed, to replay a failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Where a trial kills the run.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// Once the trajectory holds this many lines.
    Rows(usize),
    /// As soon as a checkpoint newer than the first one appears.
    AfterCheckpoint,
}

/// Runs `case` into `out`, SIGKILLs it at `moment`, then continues it and compares with
/// `reference`.
fn kill_and_resume(case: &Case, reference: &Path, out: &Path, moment: Moment) {
    let _ = std::fs::remove_dir_all(out);
    let mut child = case.spawn(out, &[]);
    let t0 = Instant::now();
    let first = loop {
        if child.try_wait().unwrap().is_some() {
            break None; // finished before the moment: the resume below must still agree
        }
        let hit = match moment {
            Moment::Rows(k) => case.rows_on_disk(out) >= k,
            Moment::AfterCheckpoint => checkpoints(out).len() >= 2,
        };
        if hit {
            break Some(());
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(1));
    };
    if first.is_some() {
        let _ = child.kill(); // SIGKILL
    }
    let _ = child.wait();
    let resume = !checkpoints(out).is_empty();
    let o = case.run(out, if resume { &["--resume"] } else { &[] });
    assert!(
        o.status.success(),
        "{} {moment:?}: {}",
        case.exp,
        stderr(&o)
    );
    assert_eq!(
        case.rows(out),
        case.rows(reference),
        "{} killed at {moment:?}",
        case.exp
    );
    assert_eq!(case.final_json(out), case.final_json(reference));
    assert_no_temporaries(out);
}

#[test]
fn kill_9_at_random_moments_then_resume_equals_the_uninterrupted_run() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill moments seed {seed}");
    let mut rng = Rng(seed);
    let d = tmp("kill");
    let mut trials = 0;
    for (case, max_rows) in [(&JR, 31u64), (&RATES, 41), (&SOC, 300)] {
        let reference = d.join(format!("{}-whole", case.exp));
        let o = case.run(&reference, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut moments = vec![Moment::AfterCheckpoint];
        moments.extend((0..3).map(|_| Moment::Rows(2 + rng.below(max_rows - 2) as usize)));
        for (k, m) in moments.into_iter().enumerate() {
            kill_and_resume(case, &reference, &d.join(format!("{}-{k}", case.exp)), m);
            trials += 1;
        }
    }
    assert!(trials >= 10);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_second_run_on_the_same_folder_is_refused_and_writes_nothing() {
    let d = tmp("lock");
    let out = d.join("run");
    // The first run pauses after its row 5 (holding the folder; checkpoint at 4 written).
    let mut first = JR.spawn(&out, &[("NEURODYN_PAUSE_AFTER_ROW", "5")]);
    let t0 = Instant::now();
    while JR.rows_on_disk(&out) < 7 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the first run never reached row 5"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = std::fs::read(out.join("trajectory.csv")).unwrap();
    let o = JR.run(&out, &[]);
    let msg = stderr(&o);
    assert!(!o.status.success());
    assert!(
        msg.contains(&format!("is in use by PID {}", first.id())),
        "{msg}"
    );
    assert_eq!(msg.matches("error:").count(), 1, "{msg}");
    assert_eq!(std::fs::read(out.join("trajectory.csv")).unwrap(), before);
    first.kill().unwrap();
    first.wait().unwrap();
    // Once the holder is gone (even killed), the folder continues normally.
    let o = JR.run(&out, &["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let steps: Vec<String> = JR
        .rows(&out)
        .iter()
        .skip(1)
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..=30).map(|s| s.to_string()).collect();
    assert_eq!(steps, expected, "rows once each, in order");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn damaged_newest_checkpoint_falls_back_and_damaged_trajectory_is_rebuilt() {
    let d = tmp("damage");
    let whole = d.join("whole");
    assert!(JR.run(&whole, &[]).status.success());
    // Checkpoints 24, 28 and 30 are kept.
    assert_eq!(
        checkpoints(&whole),
        ["step-000024", "step-000028", "step-000030"]
    );
    let run = d.join("run");
    let o = JR.run(&run, &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Flip one byte of the newest checkpoint's optimizer state.
    let state = run.join("checkpoints/step-000030/optimizer.json");
    let mut bytes = std::fs::read(&state).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 0x01;
    std::fs::write(&state, bytes).unwrap();
    // And damage the trajectory: rows 0-9 gone, a garbage line.
    let text = std::fs::read_to_string(run.join("trajectory.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.drain(1..11);
    lines.push("garbage,,");
    std::fs::write(run.join("trajectory.csv"), lines.join("\n")).unwrap();
    std::fs::remove_file(run.join("final.json")).unwrap();

    let o = JR.run(&run, &["--resume"]);
    let msg = stderr(&o);
    assert!(o.status.success(), "{msg}");
    assert!(
        msg.contains("step-000030 is unusable")
            && msg.contains("optimizer.json does not match its SHA-256")
            && msg.contains("using the checkpoint at step 28"),
        "{msg}"
    );
    assert!(msg.contains("rebuilt from the checkpoint"), "{msg}");
    assert_eq!(JR.rows(&run), JR.rows(&whole));
    assert_eq!(JR.final_json(&run), JR.final_json(&whole));
    assert_no_temporaries(&run);
    let _ = std::fs::remove_dir_all(&d);
}

#[cfg(unix)]
#[test]
fn sigint_or_sigterm_writes_a_checkpoint_and_exits_130_for_every_family() {
    let d = tmp("sigint");
    for (case, extra, signal) in [
        (&JR, "optimization.steps=400", libc::SIGINT),
        (&RATES, "optimization.steps=4000", libc::SIGINT),
        (&SOC, "optimization.max_steps=100000", libc::SIGINT),
        (&JR, "optimization.steps=400", libc::SIGTERM),
    ] {
        let out = d.join(format!("{}-{signal}", case.exp));
        let mut c = case.command(&out, &["--set", extra]);
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while case.rows_on_disk(&out) < 4 {
            assert!(t0.elapsed() < Duration::from_secs(120), "no rows");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill(2) on our own child's PID.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let o = child.wait_with_output().unwrap();
        let msg = stderr(&o);
        assert_eq!(o.status.code(), Some(130), "{}: {msg}", case.exp);
        assert!(msg.contains("interrupted: the fit stopped after"), "{msg}");
        let step: usize = msg
            .split("the checkpoint at step ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{msg}"));
        assert!(step >= 1, "{msg}");
        assert_eq!(
            checkpoints(&out).last().unwrap(),
            &format!("step-{step:06}"),
            "{msg}"
        );
        assert!(!out.join("final.json").exists());
        assert_no_temporaries(&out);
    }
    let _ = std::fs::remove_dir_all(&d);
}
