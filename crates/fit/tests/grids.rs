//! Grids as a cluster runs them: the documented SLURM array script's commands as separate
//! processes, merged bit-exactly; a grid killed with SIGKILL and re-run; the refusals that
//! protect a shared run folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neurodyn-grids-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn grid() -> String {
    root()
        .join("experiments/jr_grid.yaml")
        .display()
        .to_string()
}

fn fit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// The small grid of the tests: 4 x 4 points of jr_grid.yaml, 300 steps each.
const SETS: [&str; 6] = [
    "integration.duration=300",
    "model.parameters.a.n=4",
    "model.parameters.b.n=4",
    "model.parameters.a.low=0.0013",
    "model.parameters.b.high=0.1999",
    "exploration.peak_significance_threshold=null",
];

fn set_args(sets: &[&str]) -> Vec<String> {
    sets.iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

/// Every file of a finished grid that must be the same bytes however it was computed.
const OUTPUTS: [&str; 8] = [
    "axes.json",
    "config.yaml",
    "grid_peak_frequency.npy",
    "grid_spectral_max.npy",
    "grid_peak_significance.npy",
    "grid_peak_frequency.png",
    "grid_spectral_max.png",
    "grid_peak_significance.png",
];

fn assert_same_outputs(a: &Path, b: &Path) {
    for f in OUTPUTS {
        let (x, y) = (std::fs::read(a.join(f)), std::fs::read(b.join(f)));
        assert!(x.is_ok() && y.is_ok(), "{f} missing in {a:?} or {b:?}");
        assert!(
            x.unwrap() == y.unwrap(),
            "{f} differs between {a:?} and {b:?}"
        );
    }
}

/// Every file below `dir` (relative paths), to find temporary files left behind.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn unsharded(dir: &Path, extra: &[&str]) -> PathBuf {
    let whole = dir.join("whole");
    let g = grid();
    let mut args = vec![
        "explore".to_string(),
        g,
        "--out".into(),
        whole.display().to_string(),
    ];
    args.extend(set_args(&SETS));
    args.extend(set_args(extra));
    args.push("--quiet".into());
    ok(&fit(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    whole
}

/// One array task of tools/slurm/jr_grid_array.sh, as SLURM would start it.
fn array_task(out: &Path, k: usize, n: usize, sets: &[&str]) -> Output {
    Command::new("bash")
        .arg(root().join("tools/slurm/jr_grid_array.sh"))
        .arg("task")
        .arg("--")
        .args(set_args(sets))
        .env("SLURM_ARRAY_TASK_ID", k.to_string())
        .env("SLURM_CPUS_PER_TASK", "1")
        .env("N", n.to_string())
        .env("EXP", grid())
        .env("OUT", out)
        .env("FIT", env!("CARGO_BIN_EXE_fit"))
        .current_dir(root())
        .output()
        .unwrap()
}

fn script_merge(out: &Path) -> Output {
    Command::new("bash")
        .arg(root().join("tools/slurm/jr_grid_array.sh"))
        .arg("merge")
        .env("OUT", out)
        .env("FIT", env!("CARGO_BIN_EXE_fit"))
        .current_dir(root())
        .output()
        .unwrap()
}

/// The script's task and merge commands for K = 1..N, each a separate process and each with
/// the overrides in another order, merge to exactly the bytes of the unsharded grid (axes.json
/// included); a changed setting and a changed N are refused with the files named.
#[test]
fn slurm_array_script_merges_bit_exactly() {
    let d = tmp("slurm");
    let whole = unsharded(&d, &[]);
    let out = d.join("sharded");
    let n = 4;
    for k in 1..=n {
        let mut sets = SETS.to_vec();
        sets.rotate_left(k);
        if k % 2 == 0 {
            sets.reverse();
        }
        let o = array_task(&out, k, n, &sets);
        assert!(ok(&o).contains(&format!("shard {k}/{n}")));
    }
    ok(&script_merge(&out));
    assert_same_outputs(&whole, &out);
    // axes.json holds every axis value bit for bit (it is parsed back from the shard files).
    let axes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("axes.json")).unwrap()).unwrap();
    let a = fit::explore::linspace(0.0013, 0.2, 4);
    let got: Vec<f64> = axes["axes"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(
        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        a.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert!(
        files_below(&out)
            .iter()
            .all(|f| !f.contains(".tmp") && !f.starts_with("grid-chunks")),
        "left behind: {:?}",
        files_below(&out)
    );

    // A shard re-run with a changed setting is refused before anything is replaced.
    let shard2 = out.join("shards/shard-0002-of-0004.json");
    let (before, config) = (
        std::fs::read(&shard2).unwrap(),
        std::fs::read(out.join("config.yaml")).unwrap(),
    );
    let mut changed = SETS.to_vec();
    changed[0] = "integration.duration=400";
    let o = array_task(&out, 2, n, &changed);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("refused before writing anything"), "{e}");
    assert!(e.contains("shard-0001-of-0004.json"), "{e}");
    assert_eq!(std::fs::read(&shard2).unwrap(), before);
    assert_eq!(std::fs::read(out.join("config.yaml")).unwrap(), config);

    // Changing N in the same folder: the shard names the stale files, merge lists both splits.
    let o = array_task(&out, 1, 3, &SETS);
    ok(&o);
    let e = text(&o.stderr);
    assert!(
        e.contains("another split") && e.contains("shard-0004-of-0004.json"),
        "{e}"
    );
    let o = script_merge(&out);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    for needle in [
        "N = 3",
        "N = 4",
        "shard-0001-of-0003.json",
        "shard-0003-of-0004.json",
        "rm",
    ] {
        assert!(e.contains(needle), "`{needle}` missing: {e}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// serde_json reads every f64 back exactly (the `float_roundtrip` feature): shard files and
/// axes.json depend on it.
#[test]
fn json_round_trips_every_f64() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values = Vec::new();
    while values.len() < 20_000 {
        // xorshift64: bit patterns spread over every exponent.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    values.extend(fit::explore::linspace(0.001, 0.2, 97));
    let text = serde_json::to_string(&values).unwrap();
    let back: Vec<f64> = serde_json::from_str(&text).unwrap();
    let bad = values
        .iter()
        .zip(&back)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(bad, 0, "{bad} of {} values changed", values.len());
}

fn chunk_files(out: &Path) -> Vec<String> {
    let dir = out.join("grid-chunks/grid");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("chunk-") && n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A grid killed with SIGKILL right after a chunk checkpoint appears (twice), with one chunk
/// then damaged, finishes on the rerun with the bytes of an uninterrupted run, evaluating only
/// the points no intact chunk holds, and leaves no chunk or temporary file behind.
#[test]
fn killed_grid_reruns_to_identical_outputs() {
    let d = tmp("kill");
    let slow = ["integration.duration=2000", "exploration.chunk=1"];
    let whole = unsharded(&d, &slow);
    let out = d.join("killed");
    let g = grid();
    let mut args = vec![
        "explore".to_string(),
        g,
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(set_args(&SETS));
    args.extend(set_args(&slow));
    args.push("--quiet".into());
    let mut seen = 0;
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fit"))
            .args(&args)
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while chunk_files(&out).len() <= seen {
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before a new chunk"
            );
            assert!(t0.elapsed() < Duration::from_secs(600), "no chunk appeared");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        seen = chunk_files(&out).len();
        assert!(
            !out.join("axes.json").exists() && seen < 16,
            "the grid finished before the kill"
        );
    }
    // One intact chunk becomes damaged: it is detected and evaluated again.
    let chunks = chunk_files(&out);
    let victim = out.join("grid-chunks/grid").join(&chunks[0]);
    let body = std::fs::read_to_string(&victim).unwrap();
    let at = body.find("\"values_bits\":[[").unwrap() + 16;
    let mut bytes = body.into_bytes();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&victim, bytes).unwrap();

    let o = fit(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = ok(&o);
    let kept = chunks.len() - 1;
    assert!(
        stdout.contains(&format!("resuming: {kept} of 16 points")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("({} evaluated now)", 16 - kept)),
        "{stdout}"
    );
    assert!(
        text(&o.stderr).contains("is damaged"),
        "{}",
        text(&o.stderr)
    );
    assert_same_outputs(&whole, &out);
    let left = files_below(&out);
    assert!(
        left.iter()
            .all(|f| !f.contains(".tmp") && !f.starts_with("grid-chunks")),
        "left behind: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// The starts' CSV files without the wall-time column (the only column that depends on when
/// a step ran).
fn without_wall_time(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string())
        .collect()
}

/// A grid of fits killed with SIGKILL once its step checkpoint exists resumes from it and ends
/// with the same best_fits.csv bytes and the same per-start trajectories as an uninterrupted run.
#[test]
fn killed_grid_of_fits_resumes() {
    let d = tmp("fits");
    let exp = root()
        .join("experiments/jr_grid_fits.yaml")
        .display()
        .to_string();
    let sets = set_args(&[
        "model.parameters.a.n=3",
        "model.parameters.b.n=3",
        "integration.duration=400",
        "optimization.steps=8",
    ]);
    let run = |out: &Path| -> Vec<String> {
        let mut a = vec!["explore".to_string(), exp.clone(), "--out".into()];
        a.push(out.display().to_string());
        a.extend(sets.iter().cloned());
        a.push("--quiet".into());
        a
    };
    let whole = d.join("whole");
    ok(&fit(&run(&whole)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()));
    let out = d.join("killed");
    let args = run(&out);
    let state = out.join("grid-chunks/fits/state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !state.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before a checkpoint"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("best_fits.csv").exists(),
        "finished before the kill"
    );
    let stdout = ok(&fit(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(
        stdout.contains("resuming the grid of fits at step"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(whole.join("best_fits.csv")).unwrap(),
        std::fs::read(out.join("best_fits.csv")).unwrap()
    );
    for p in 0..9 {
        let f = format!("starts/start-{p:05}.csv");
        assert_eq!(
            without_wall_time(&whole.join(&f)),
            without_wall_time(&out.join(&f)),
            "{f}"
        );
    }
    let left = files_below(&out);
    assert!(
        left.iter()
            .all(|f| !f.contains(".tmp") && !f.starts_with("grid-chunks")),
        "left behind: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
