//! The bad-input corpus: every subcommand and model family fed broken experiments, files, flags,
//! shards and run folders. Each case must exit with status 2, print no panic and no backtrace,
//! and say what to fix: its message names the file and the field or path (the expected
//! substrings of the case). No case runs a long simulation: they fail in the up-front check.
//!
//! The table is data: (name, arguments, files to create, expected substrings). `{E}` in an
//! argument is the folder of the shipped experiments, `{T}` the case's own scratch folder (also
//! its working folder, so run folders never collide).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Case {
    name: String,
    args: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    expect: Vec<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `.npy` file with the given dtype descriptor, shape text and raw data bytes.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Builds the table.
struct Table(Vec<Case>);

impl Table {
    fn case(&mut self, name: &str, args: &[&str], files: &[(&str, Vec<u8>)], expect: &[&str]) {
        self.0.push(Case {
            name: name.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            files: files
                .iter()
                .map(|(p, b)| (p.to_string(), b.clone()))
                .collect(),
            expect: expect.iter().map(|s| s.to_string()).collect(),
        });
    }

    /// `fit <cmd> {E}/<exp> --set s…`, expecting the experiment's name and `expect`.
    fn set(&mut self, name: &str, cmd: &str, exp: &str, sets: &[&str], expect: &[&str]) {
        let path = format!("{{E}}/{exp}");
        let mut args = vec![cmd, path.as_str()];
        for s in sets {
            if !s.starts_with("--") {
                args.push("--set");
            }
            args.push(s);
        }
        let mut e = vec![exp];
        e.extend(expect);
        self.case(name, &args, &[], &e);
    }

    /// `fit validate <file>` for an experiment written into the scratch folder.
    fn file(&mut self, name: &str, cmd: &str, text: &str, expect: &[&str]) {
        let mut e = vec!["exp.yaml"];
        e.extend(expect);
        self.case(
            name,
            &[cmd, "{T}/exp.yaml"],
            &[("exp.yaml", text.as_bytes().to_vec())],
            &e,
        );
    }
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(root().join("experiments").join(name)).unwrap()
}

fn table() -> Vec<Case> {
    let mut t = Table(Vec::new());
    let jr = "jr_peak.yaml";
    let grid = "jr_grid.yaml";
    let fc = "rww_fc.yaml";
    let pop = "population_fixed_points.yaml";
    let fhn = "fhn_fixed_point.yaml";
    let rn = "random_tanh.yaml";
    let ai = "ai_rates.yaml";
    let soc = "soc.yaml";

    // ---- network models: unknown and misspelt fields at every level
    for (sec, field) in [
        ("", "modle"),
        ("model.", "parametrs"),
        ("connectivity.", "datset"),
        ("coupling.", "parameter"),
        ("integration.", "dtt"),
        ("integration.noise.", "sigm"),
        ("observation.", "strid"),
        ("optimization.", "stpes"),
        ("optimization.optimizer.", "betta1"),
        ("outputs.", "plot"),
        ("monitors.", "variable"),
    ] {
        let set = format!("{sec}{field}=1");
        t.set(
            &format!("jr unknown field {sec}{field}"),
            "validate",
            jr,
            &[&set],
            &[field],
        );
    }
    t.set(
        "jr unknown model parameter",
        "validate",
        jr,
        &["model.parameters.zz={value: 1}"],
        &["model.parameters.zz", "valid"],
    );
    t.set(
        "jr unknown coupling parameter",
        "validate",
        jr,
        &["coupling.parameters.q={value: 1}"],
        &["coupling.parameters.q", "valid"],
    );
    t.set(
        "jr unknown parameter entry field",
        "validate",
        jr,
        &["model.parameters.a.fre=true"],
        &["fre"],
    );
    t.set(
        "jr unknown model",
        "validate",
        jr,
        &["model.name=JansenRot"],
        &["JansenRot", "valid"],
    );
    t.set(
        "jr unknown coupling",
        "validate",
        jr,
        &["coupling.name=Linaer"],
        &["coupling.name", "Linaer"],
    );
    t.set(
        "jr unknown method",
        "validate",
        jr,
        &["integration.method=RK5"],
        &["RK5"],
    );
    t.set(
        "jr unknown loss",
        "validate",
        jr,
        &["optimization.loss=l2"],
        &["l2"],
    );
    t.set(
        "jr unknown optimizer",
        "validate",
        jr,
        &["optimization.optimizer.name=adamm"],
        &["adamm"],
    );
    t.set(
        "jr unknown dataset",
        "validate",
        jr,
        &["connectivity.dataset=nope_ds"],
        &["nope_ds", "looked in"],
    );
    t.set(
        "jr unknown variable",
        "validate",
        jr,
        &["observation.variable=y9"],
        &["observation.variable", "y9", "valid"],
    );
    t.set(
        "jr unknown monitor variable",
        "validate",
        jr,
        &["monitors.variables=[q]"],
        &["monitors.variables", "valid"],
    );
    t.set(
        "jr unknown plot variable",
        "validate",
        jr,
        &["outputs.plot_variable=zz"],
        &["outputs.plot_variable"],
    );
    t.set(
        "jr unknown initial kind",
        "validate",
        jr,
        &["initial_conditions={kind: lukewarm}"],
        &["lukewarm"],
    );
    t.set(
        "jr unknown target kind",
        "validate",
        jr,
        &["optimization.target={kind: guess}"],
        &["guess"],
    );
    t.set(
        "jr unknown target parameter",
        "validate",
        jr,
        &["optimization.target.parameters.zz=1"],
        &["optimization.target.parameters", "zz"],
    );
    t.set(
        "jr unknown schedule",
        "validate",
        jr,
        &["optimization.schedule={kind: wiggle}"],
        &["wiggle"],
    );
    t.set(
        "jr bad backend",
        "validate",
        jr,
        &["backend=cuda"],
        &["backend", "flex"],
    );
    t.set(
        "jr bad observation kind",
        "validate",
        jr,
        &["observation.kind=psd"],
        &["psd"],
    );
    t.set(
        "jr bad normalisation",
        "validate",
        jr,
        &["connectivity.normalisation=l2"],
        &["l2"],
    );
    t.set(
        "jr bad statistic",
        "validate",
        grid,
        &["exploration.statistics=[peak]"],
        &["peak"],
    );

    // ---- network models: wrong types and missing fields
    for (field, value) in [
        ("integration.dt", "fast"),
        ("integration.duration", "[1, 2]"),
        ("integration.segment", "-3"),
        ("integration.noise.seed", "x"),
        ("observation.stride", "2.5"),
        ("observation.band", "[1]"),
        ("optimization.steps", "many"),
        ("optimization.restore_best", "3"),
        ("model.parameters.a.value", "abc"),
        ("model.parameters.a.free", "maybe"),
        ("connectivity.conduction_speed", "fast"),
        ("monitors.stride", "{a: 1}"),
    ] {
        let set = format!("{field}={value}");
        t.set(
            &format!("jr wrong type {field}"),
            "validate",
            jr,
            &[&set],
            &["invalid"],
        );
    }
    for missing in ["model", "connectivity", "coupling", "integration"] {
        let text: String = shipped(jr)
            .lines()
            .scan(false, |skip, l| {
                if l.starts_with(&format!("{missing}:")) {
                    *skip = true;
                    return Some(None);
                }
                if *skip && (l.starts_with(' ') || l.is_empty()) {
                    return Some(None);
                }
                *skip = false;
                Some(Some(l.to_string()))
            })
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        t.file(
            &format!("jr missing section {missing}"),
            "validate",
            &text,
            &[missing],
        );
    }
    t.set(
        "jr missing dt",
        "validate",
        jr,
        &["integration={duration: 100}"],
        &["dt"],
    );
    t.set(
        "jr missing optimization steps",
        "validate",
        jr,
        &["optimization.steps=null"],
        &["optimization"],
    );

    // ---- network models: NaN, Inf, negative, zero and huge values
    for (field, value, needle) in [
        ("integration.dt", ".nan", "integration.dt"),
        ("integration.dt", "0", "integration.dt"),
        ("integration.dt", "-1", "integration.dt"),
        ("integration.dt", ".inf", "integration.dt"),
        ("integration.duration", ".inf", "integration.duration"),
        ("integration.duration", "0", "integration.duration"),
        ("integration.duration", "-5", "integration.duration"),
        ("integration.duration", "1.5", "integration.duration"),
        ("integration.duration", "1e15", "integration.duration"),
        ("integration.noise.sigma", "-0.1", "integration.noise.sigma"),
        ("integration.noise.sigma", ".nan", "integration.noise.sigma"),
        ("integration.segment", "0", "integration.segment"),
        ("connectivity.conduction_speed", "1e-6", "conduction_speed"),
        ("connectivity.conduction_speed", "0", "conduction_speed"),
        ("connectivity.conduction_speed", "-3", "conduction_speed"),
        ("model.parameters.a.value", ".nan", "model.parameters.a"),
        ("model.parameters.a.value", ".inf", "model.parameters.a"),
        ("model.parameters.a.value", "[1, 2]", "model.parameters.a"),
        ("model.parameters.a.low", "0.5", "model.parameters.a"),
        ("model.parameters.a.high", ".nan", "model.parameters.a.high"),
        ("observation.stride", "0", "observation.stride"),
        ("observation.stride", "1000", "observation.stride"),
        ("observation.nperseg", "1", "observation.nperseg"),
        ("observation.band", "[20, 5]", "observation.band"),
        ("observation.band", "[60, 80]", "observation.band"),
        ("observation.band", "[.nan, 5]", "observation.band"),
        ("observation.band", "[-5, 5]", "observation.band"),
        (
            "optimization.peak_temperature",
            "0",
            "optimization.peak_temperature",
        ),
        (
            "optimization.peak_temperature",
            "-1",
            "optimization.peak_temperature",
        ),
        (
            "optimization.optimizer.lr",
            "0",
            "optimization.optimizer.lr",
        ),
        (
            "optimization.optimizer.lr",
            ".nan",
            "optimization.optimizer.lr",
        ),
        (
            "optimization.optimizer.eps",
            "-1",
            "optimization.optimizer.eps",
        ),
        (
            "optimization.optimizer.beta1",
            "1.5",
            "optimization.optimizer.beta1",
        ),
        (
            "optimization.optimizer.beta2",
            "-0.1",
            "optimization.optimizer.beta2",
        ),
        ("optimization.grad_clip", "-1", "optimization.grad_clip"),
        ("optimization.clip_value", "0", "optimization.clip_value"),
        (
            "optimization.checkpoint_every",
            "0",
            "optimization.checkpoint_every",
        ),
        (
            "optimization.noise_realisations",
            "0",
            "optimization.noise_realisations",
        ),
        (
            "optimization.grad_horizon",
            "0",
            "optimization.grad_horizon",
        ),
        ("optimization.target.parameters.a", ".nan", "a"),
        ("monitors.stride", "0", "monitors.stride"),
        (
            "initial_conditions",
            "{kind: cold, value: .nan}",
            "initial_conditions.value",
        ),
        (
            "initial_conditions",
            "{kind: warm, transient: 1e15}",
            "initial_conditions.transient",
        ),
        (
            "initial_conditions",
            "{kind: warm, transient: -1}",
            "initial_conditions.transient",
        ),
        (
            "initial_conditions",
            "{kind: warm, transient: .nan}",
            "initial_conditions.transient",
        ),
    ] {
        let set = format!("{field}={value}");
        t.set(
            &format!("jr value {field}={value}"),
            "validate",
            jr,
            &[&set],
            &[needle],
        );
    }
    t.set(
        "jr per-region value of wrong length",
        "validate",
        jr,
        &["model.parameters.mu.value=[0.1, 0.2]"],
        &["model.parameters.mu", "regions"],
    );
    t.set(
        "jr history too long for --max-memory",
        "validate",
        jr,
        &["connectivity.conduction_speed=0.1", "--max-memory=2M"],
        &["delay history", "conduction_speed", "--max-memory"],
    );
    t.case(
        "jr small --max-memory",
        &["validate", "{E}/jr_peak.yaml", "--max-memory", "1K"],
        &[],
        &["jr_peak.yaml", "--max-memory", "memory"],
    );
    t.case(
        "jr small --max-work",
        &["validate", "{E}/jr_peak.yaml", "--max-work", "10"],
        &[],
        &["jr_peak.yaml", "--max-work", "integration.duration"],
    );
    t.case(
        "bad --max-memory",
        &["validate", "{E}/jr_peak.yaml", "--max-memory", "lots"],
        &[],
        &["--max-memory", "lots"],
    );
    t.case(
        "bad --max-work",
        &["validate", "{E}/jr_peak.yaml", "--max-work=-5"],
        &[],
        &["--max-work", "-5"],
    );

    // ---- network models: per-command requirements
    t.set(
        "gradcheck without a free parameter",
        "gradcheck",
        jr,
        &[
            "model.parameters.a.free=false",
            "model.parameters.b.free=false",
        ],
        &["free: true"],
    );
    t.set(
        "run without a free parameter",
        "run",
        jr,
        &[
            "model.parameters.a.free=false",
            "model.parameters.b.free=false",
        ],
        &["free: true"],
    );
    t.set(
        "run without optimization",
        "run",
        grid,
        &[],
        &["optimization"],
    );
    t.set(
        "explore without grid points",
        "explore",
        jr,
        &[],
        &["free parameter a", "low, high and n"],
    );
    t.set(
        "explore fc statistic on a spectrum",
        "explore",
        grid,
        &["exploration.statistics=[fc_correlation]"],
        &["exploration.statistics"],
    );
    t.set(
        "explore chunk 0",
        "explore",
        grid,
        &["exploration.chunk=0"],
        &["exploration.chunk"],
    );
    t.set(
        "explore huge grid",
        "explore",
        grid,
        &["model.parameters.a.n=100000", "model.parameters.b.n=100000"],
        &["grid"],
    );
    t.set(
        "explore bad threshold",
        "explore",
        grid,
        &["exploration.peak_significance_threshold=-1"],
        &["exploration.peak_significance_threshold"],
    );
    t.set(
        "simulate unrecorded plot variable",
        "simulate",
        jr,
        &["monitors.variables=[y1]", "outputs.plot_variable=y0"],
        &["outputs.plot_variable"],
    );
    t.set(
        "simulate huge trace",
        "simulate",
        jr,
        &["integration.duration=1e12", "optimization=null"],
        &["integration.duration"],
    );
    t.set(
        "fc loss on a spectrum",
        "validate",
        jr,
        &["optimization.loss=fc_rmse"],
        &["optimization.loss"],
    );
    t.set(
        "fcd without windows",
        "validate",
        fc,
        &["observation.kind=fcd", "optimization.loss=fcd_wasserstein"],
        &["observation.fcd"],
    );
    t.set(
        "bold period 0",
        "validate",
        fc,
        &["observation.bold.period=0"],
        &["observation.bold.period"],
    );
    t.set(
        "bold bad constants",
        "validate",
        fc,
        &["observation.bold.constants=weird"],
        &["observation.bold.constants", "classical"],
    );
    t.set(
        "bold bad driver",
        "validate",
        fc,
        &["observation.bold.driver=S -"],
        &["observation.bold.driver"],
    );
    t.set(
        "simulate on a lowdim model",
        "simulate",
        pop,
        &[],
        &["fit run"],
    );
    t.set("gradcheck on soc", "gradcheck", soc, &[], &["fit run"]);

    // ---- network models: malformed files
    let bad_npys: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"hello, not an npy".to_vec(), "not a valid .npy"),
        ("empty", Vec::new(), "not a valid .npy"),
        (
            "truncated",
            npy("<f8", false, "(84, 84)", &f64s(&[1.0; 10])),
            "x.npy",
        ),
        ("int dtype", npy("<i4", false, "(3,)", &[0u8; 12]), "dtype"),
        (
            "fortran",
            npy("<f8", true, "(2, 2)", &f64s(&[0.0; 4])),
            "Fortran",
        ),
        (
            "wrong shape",
            npy("<f8", false, "(3,)", &f64s(&[0.0; 3])),
            "shape",
        ),
    ];
    for (what, bytes, needle) in &bad_npys {
        t.case(
            &format!("noise file {what}"),
            &[
                "validate",
                "{E}/jr_peak.yaml",
                "--set",
                "integration.noise.file={T}/x.npy",
            ],
            &[("x.npy", bytes.clone())],
            &["x.npy", "integration.noise.file", needle],
        );
        t.case(
            &format!("initial trace {what}"),
            &[
                "validate",
                "{E}/jr_peak.yaml",
                "--set",
                "initial_conditions={kind: file, path: {T}/x.npy}",
            ],
            &[("x.npy", bytes.clone())],
            &["x.npy", "initial_conditions.path", needle],
        );
        t.case(
            &format!("target spectrum {what}"),
            &[
                "validate",
                "{E}/jr_peak.yaml",
                "--set",
                "optimization.target={kind: file, path: {T}/x.npy}",
            ],
            &[("x.npy", bytes.clone())],
            &[
                "x.npy",
                if *what == "wrong shape" {
                    "3 values"
                } else {
                    needle
                },
            ],
        );
    }
    t.case(
        "noise file with NaN",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "integration.noise.file={T}/n.npy",
            "--set",
            "integration.duration=2",
        ],
        &[(
            "n.npy",
            npy("<f8", false, "(2, 6, 84)", &f64s(&[f64::NAN; 2 * 6 * 84])),
        )],
        &["n.npy", "integration.noise.file", "finite"],
    );
    t.case(
        "target spectrum with NaN",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: {T}/s.npy}",
        ],
        &[("s.npy", npy("<f8", false, "(51,)", &f64s(&[f64::NAN; 51])))],
        &["s.npy", "finite"],
    );
    t.case(
        "constant target spectrum",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: {T}/s.npy}",
        ],
        &[("s.npy", npy("<f8", false, "(51,)", &f64s(&[1.0; 51])))],
        &["s.npy", "constant"],
    );
    let csv_rows: String = (0..51)
        .map(|k| format!("{},1.{k}\n", k as f64 * 2.0))
        .collect();
    t.case(
        "csv target with wrong frequencies",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: {T}/s.csv}",
        ],
        &[("s.csv", format!("freq,power\n{csv_rows}").into_bytes())],
        &["s.csv", "Welch bin"],
    );
    t.case(
        "csv target not numeric",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: {T}/s.csv}",
        ],
        &[("s.csv", b"freq,power\n0,abc\n".to_vec())],
        &["s.csv:2", "abc"],
    );
    t.case(
        "csv target ragged",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: {T}/s.csv}",
        ],
        &[("s.csv", b"freq,power\n0,1,2\n".to_vec())],
        &["s.csv:2", "columns"],
    );
    t.case(
        "missing target file",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "optimization.target={kind: file, path: nothere.npy}",
        ],
        &[],
        &[
            "jr_peak.yaml",
            "optimization.target.path",
            "nothere.npy",
            "looked",
        ],
    );
    t.case(
        "missing initial trace",
        &[
            "validate",
            "{E}/jr_peak.yaml",
            "--set",
            "initial_conditions={kind: file, path: nothere.npy}",
        ],
        &[],
        &[
            "jr_peak.yaml",
            "initial_conditions.path",
            "nothere.npy",
            "looked",
        ],
    );
    let conn = |w: &str, l: &str| -> Vec<String> {
        vec![
            "validate".into(),
            "{E}/jr_peak.yaml".into(),
            "--set".into(),
            format!("connectivity={{weights: {w}, lengths: {l}}}"),
        ]
    };
    for (what, w, needle) in [
        ("not numeric", "0,1\n1,x\n", "w.csv:2"),
        ("empty", "", "w.csv"),
        ("not square", "0,1,2\n1,0,2\n", "w.csv"),
        ("ragged", "0,1\n1\n", "w.csv"),
        ("NaN", "0,nan\n1,0\n", "w.csv"),
        ("infinite", "0,inf\n1,0\n", "w.csv"),
    ] {
        let a = conn("{T}/w.csv", "{T}/l.csv");
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        t.case(
            &format!("weights csv {what}"),
            &a,
            &[
                ("w.csv", w.as_bytes().to_vec()),
                ("l.csv", b"0,1\n1,0\n".to_vec()),
            ],
            &[needle],
        );
    }
    let a = conn("{T}/w.tsv", "{T}/nope.tsv");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    t.case(
        "lengths file missing",
        &a,
        &[("w.tsv", b"0\t1\n1\t0\n".to_vec())],
        &["nope.tsv", "looked"],
    );

    // ---- YAML syntax and structure
    t.file(
        "yaml tab indentation",
        "validate",
        "model:\n\tname: JansenRit\n",
        &[],
    );
    t.file(
        "yaml unclosed bracket",
        "validate",
        "model: {name: JansenRit\n",
        &[],
    );
    t.file(
        "yaml duplicate key",
        "validate",
        "model: {name: JansenRit}\nmodel: {name: JansenRit}\n",
        &["model"],
    );
    t.file("yaml not a mapping", "validate", "- 1\n- 2\n", &["model"]);
    t.file("yaml empty", "validate", "", &["model"]);
    t.file("yaml binary", "validate", "\u{0}\u{1}\u{2}", &[]);
    t.file(
        "yaml model is a list",
        "validate",
        "model: [1, 2]\n",
        &["model"],
    );
    t.file(
        "yaml model name number",
        "validate",
        "model: {name: 3}\n",
        &["model"],
    );
    t.file(
        "yaml bad indentation",
        "validate",
        "model:\n  name: JansenRit\n   parameters: {}\n",
        &[],
    );
    t.file(
        "yaml unknown model",
        "run",
        "model: {name: Nope}\n",
        &["Nope", "valid"],
    );
    t.case(
        "missing experiment file",
        &["validate", "{T}/none.yaml"],
        &[],
        &["none.yaml", "cannot read"],
    );
    t.case(
        "experiment is a folder",
        &["validate", "{T}"],
        &[],
        &["cannot read experiment file"],
    );

    // ---- --set syntax
    for (spec, needle) in [
        ("integration.dt", "field.path=value"),
        ("=3", "empty component"),
        ("a..b=1", "empty component"),
        ("integration.dt=[1", "not valid YAML"),
        ("integration.dt.x=1", "integration.dt"),
        ("description.x=1", "description"),
    ] {
        t.case(
            &format!("--set {spec}"),
            &["validate", "{E}/jr_peak.yaml", "--set", spec],
            &[],
            &["jr_peak.yaml", needle],
        );
    }

    // ---- flags
    t.case("no subcommand", &["--frobnicate"], &[], &["frobnicate"]);
    t.case(
        "unknown flag",
        &["validate", "{E}/jr_peak.yaml", "--fast"],
        &[],
        &["--fast"],
    );
    t.case(
        "--resume with --fresh",
        &["run", "{E}/jr_peak.yaml", "--resume", "--fresh"],
        &[],
        &["--resume", "--fresh"],
    );
    t.case(
        "--resume without checkpoint",
        &["run", "{E}/jr_peak.yaml", "--resume", "--out", "{T}/r"],
        &[],
        &["--resume", "checkpoint"],
    );
    t.case(
        "--out is a file",
        &["run", "{E}/population_fixed_points.yaml", "--out", "{T}/f"],
        &[("f", b"x".to_vec())],
        &["run folder", "/f"],
    );
    t.case(
        "--out under a file",
        &[
            "simulate",
            "{E}/jr_peak.yaml",
            "--out",
            "{T}/f/sub",
            "--set",
            "integration.duration=10",
            "--set",
            "observation.stride=1",
        ],
        &[("f", b"x".to_vec())],
        &["run folder", "f/sub"],
    );
    for spec in ["x/4", "0/4", "5/4", "1/0", "2", "a/b", "-1/3"] {
        let flag = format!("--shard={spec}");
        t.case(
            &format!("--shard {spec}"),
            &["explore", "{E}/jr_grid.yaml", &flag],
            &[],
            &["--shard", spec],
        );
    }
    t.case(
        "--shard on a grid of fits",
        &[
            "explore",
            "{E}/jr_grid_fits.yaml",
            "--shard",
            "1/2",
            "--out",
            "{T}/g",
        ],
        &[],
        &["--shard"],
    );
    t.case(
        "compare --by",
        &["compare", "{T}", "--by", "epoch"],
        &[],
        &["--by", "epoch"],
    );
    t.case("compare nothing", &["compare"], &[], &["run folder"]);
    t.case(
        "bench bad suite",
        &["bench", "--suite", "nope", "--quick", "--steps", "1"],
        &[],
        &["nope"],
    );

    // ---- merge: bad shard folders and files
    let shard = |k: usize, n: usize, points: usize, start: usize, vals: usize, hash: &str| {
        let axis: Vec<String> = (0..points).map(|p| p.to_string()).collect();
        let v: Vec<String> = (0..vals).map(|p| p.to_string()).collect();
        format!(
            "{{\"experiment_hash\":\"{hash}\",\"shard\":[{k},{n}],\"points\":{points},\"start\":{start},\
             \"axes\":[{{\"name\":\"a\",\"values\":[{}]}}],\"statistics\":[\"peak_frequency\"],\
             \"values_bits\":[[{}]]}}",
            axis.join(","),
            v.join(",")
        )
        .into_bytes()
    };
    t.case(
        "merge no folder",
        &["merge", "{T}/none"],
        &[],
        &["none", "shards"],
    );
    t.case(
        "merge empty shards",
        &["merge", "{T}"],
        &[("shards/readme.txt", b"x".to_vec())],
        &["shards", "no shard files"],
    );
    t.case(
        "merge garbage shard",
        &["merge", "{T}"],
        &[("shards/s.json", b"{not json".to_vec())],
        &["s.json", "shard file"],
    );
    t.case(
        "merge wrong field types",
        &["merge", "{T}"],
        &[("shards/s.json", b"{\"shard\": \"one\"}".to_vec())],
        &["s.json"],
    );
    t.case(
        "merge start out of range",
        &["merge", "{T}"],
        &[
            ("shards/s1.json", shard(1, 2, 4, 3, 2, "h")),
            ("shards/s2.json", shard(2, 2, 4, 2, 2, "h")),
        ],
        &["s1.json", "points 0..2"],
    );
    t.case(
        "merge point count does not fit",
        &["merge", "{T}"],
        &[("shards/s1.json", shard(1, 1, 4, 0, 9, "h"))],
        &["s1.json", "9 values"],
    );
    t.case(
        "merge points disagree with axes",
        &["merge", "{T}"],
        &[(
            "shards/s1.json",
            String::from_utf8(shard(1, 1, 4, 0, 4, "h"))
                .unwrap()
                .replace("\"points\":4", "\"points\":5")
                .into_bytes(),
        )],
        &["s1.json", "points = 5"],
    );
    t.case(
        "merge duplicate shard",
        &["merge", "{T}"],
        &[
            ("shards/a.json", shard(1, 2, 4, 0, 2, "h")),
            ("shards/b.json", shard(1, 2, 4, 0, 2, "h")),
            ("shards/c.json", shard(2, 2, 4, 2, 2, "h")),
        ],
        &["a.json", "b.json", "shard 1/2"],
    );
    t.case(
        "merge missing shard",
        &["merge", "{T}"],
        &[("shards/a.json", shard(1, 2, 4, 0, 2, "h"))],
        &["shards", "missing", "--shard"],
    );
    t.case(
        "merge different experiments",
        &["merge", "{T}"],
        &[
            ("shards/a.json", shard(1, 2, 4, 0, 2, "h")),
            ("shards/b.json", shard(2, 2, 4, 2, 2, "other")),
        ],
        &["b.json", "different experiment"],
    );
    t.case(
        "merge shard zero",
        &["merge", "{T}"],
        &[("shards/a.json", shard(0, 2, 4, 0, 2, "h"))],
        &["a.json", "shard"],
    );

    // ---- compare: bad run folders
    for (what, body, needle) in [
        ("empty", "", "empty file"),
        ("one column", "step\n0\n", "step,loss"),
        ("ragged", "step,loss,a\n0,1,2\n1,2\n", "trajectory.csv:3"),
        ("not numeric", "step,loss\n0,x\n", "trajectory.csv:2"),
        ("no rows", "step,loss,a,grad_norm,wall_time\n", "no rows"),
    ] {
        t.case(
            &format!("compare trajectory {what}"),
            &["compare", "{T}/run", "--out", "{T}/cmp"],
            &[("run/trajectory.csv", body.as_bytes().to_vec())],
            &["trajectory.csv", needle],
        );
    }
    t.case(
        "compare not a run folder",
        &["compare", "{T}/run", "--out", "{T}/cmp"],
        &[("run/other.txt", b"x".to_vec())],
        &["run", "trajectory.csv"],
    );
    t.case(
        "compare a file",
        &["compare", "{T}/f", "--out", "{T}/cmp"],
        &[("f", b"x".to_vec())],
        &["f", "not a folder"],
    );
    t.case(
        "compare missing folder",
        &["compare", "{T}/none", "--out", "{T}/cmp"],
        &[],
        &["none"],
    );
    t.case(
        "compare --out is a file",
        &["compare", "{T}/run", "--out", "{T}/f"],
        &[
            ("f", b"x".to_vec()),
            ("run/trajectory.csv", b"step,loss\n0,1\n".to_vec()),
        ],
        &["--out", "/f"],
    );

    // ---- SigmoidPopulation
    for (set, needle) in [
        ("model.parameters.tau=-1", "tau"),
        ("model.parameters.tau=0", "tau"),
        ("model.parameters.a=.nan", "a"),
        ("integration.duration=.inf", "integration.duration"),
        ("integration.duration=-1", "integration.duration"),
        ("integration.dt=0", "integration.dt"),
        ("integration.dt=.nan", "integration.dt"),
        ("integration.duration=1e15", "integration.duration"),
        ("integration.method=leapfrog", "leapfrog"),
        ("integration.every=0", "integration.every"),
        ("initial_states=[]", "initial_states"),
        ("initial_states=[.nan]", "initial_states"),
        ("fixed_points.per_axis=0", "fixed_points"),
        ("fixed_points.lo=[0, 1]", "fixed_points"),
        ("fixed_points.tol=-1", "fixed_points.tol"),
        ("fixed_points.lo=[.inf]", "fixed_points.lo"),
        ("exploration.w.n=0", "exploration.w.n"),
        ("exploration.w.lo=.nan", "exploration.w.lo"),
        ("noise.duration=.inf", "noise.duration"),
        ("noise.duration=1e15", "noise.duration"),
        ("noise.tau_ou=0", "noise.tau_ou"),
        ("noise.sigma=-1", "noise.sigma"),
        ("model.parameters.w=[1]", "invalid"),
        ("model.parametrs=1", "parametrs"),
        ("exploration.z={lo: 0, hi: 1, n: 2}", "z"),
        ("backend=cuda", "backend"),
    ] {
        t.set(
            &format!("population {set}"),
            "validate",
            pop,
            &[set],
            &[needle],
        );
    }
    t.set(
        "population run duration inf",
        "run",
        pop,
        &["integration.duration=.inf"],
        &["integration.duration"],
    );

    // ---- FitzHugh-Nagumo
    for (set, needle) in [
        ("limit_cycle.duration=1e15", "limit_cycle.duration"),
        ("limit_cycle.duration=.inf", "limit_cycle.duration"),
        ("limit_cycle.dt=0", "limit_cycle.dt"),
        ("model.form=weird", "model.form"),
        ("model.parameters.tau=0", "tau"),
        ("phase_plane.grid=1", "phase_plane.grid"),
        ("phase_plane.grid=1000000", "phase_plane.grid"),
        ("phase_plane.v=[1, -1]", "phase_plane.v"),
        ("continuation.I.n=0", "continuation.I.n"),
        ("continuation.tol=0", "continuation.tol"),
        ("optimization.runs=0", "optimization"),
        ("optimization.lo=3", "optimization"),
        ("optimization.form=other", "optimization.form"),
        ("optimization.lr=-1", "optimization.lr"),
        ("initial_states=[[1]]", "invalid"),
        ("fixed_points.per_axis=100000", "fixed_points.per_axis"),
        ("integration.every=0", "integration.every"),
    ] {
        t.set(&format!("fhn {set}"), "validate", fhn, &[set], &[needle]);
    }
    t.set(
        "fhn run limit cycle 1e15",
        "run",
        fhn,
        &["limit_cycle.duration=1e15"],
        &["limit_cycle.duration"],
    );

    // ---- RateNetwork
    for (set, needle) in [
        ("model.parameters.n=0", "model.parameters.n"),
        ("model.parameters.n=10000000", "model.parameters.n"),
        ("model.nonlinearity=relu", "model.nonlinearity"),
        ("model.parameters.g=.nan", "model.parameters.g"),
        ("integration.duration=.inf", "integration.duration"),
        ("lyapunov.dt=0", "lyapunov.dt"),
        ("lyapunov.realizations=0", "lyapunov.realizations"),
        ("lyapunov.duration=1e15", "lyapunov"),
        ("lyapunov.transient=-1", "lyapunov.transient"),
        ("model.weights=nothere.npy", "nothere.npy"),
    ] {
        t.set(
            &format!("rate network {set}"),
            "validate",
            rn,
            &[set],
            &[needle],
        );
    }
    t.case(
        "rate network weights not square",
        &[
            "validate",
            "{E}/random_tanh.yaml",
            "--set",
            "model.weights={T}/w.npy",
        ],
        &[("w.npy", npy("<f8", false, "(2, 3)", &f64s(&[0.0; 6])))],
        &["w.npy", "square"],
    );

    // ---- AI rate network
    for (set, needle) in [
        ("model.parameters.N=0", "model.parameters.N"),
        ("model.parameters.N=10000000", "model.parameters.N"),
        ("model.parameters.tau=[-1, 0.01]", "tau"),
        ("model.parameters.tau=[0.01]", "invalid"),
        ("optimization.optimizer=sgd", "optimization.optimizer"),
        ("optimization.lr=0", "learning rate"),
        ("optimization.fit=[K]", "optimization.fit"),
        ("optimization.fit=[P]", "mean_field"),
        (
            "network.connectivity={kind: explicit, matrix: [[1]]}",
            "connectivity.matrix",
        ),
        (
            "network.connectivity={kind: csv, path: nothere.csv}",
            "nothere.csv",
        ),
        ("network.connectivity={kind: wired}", "wired"),
        ("backend=cuda", "backend"),
    ] {
        t.set(
            &format!("ai rates {set}"),
            "validate",
            ai,
            &[set],
            &[needle],
        );
    }
    t.case(
        "ai rates npy wrong shape",
        &[
            "validate",
            "{E}/ai_rates.yaml",
            "--set",
            "network.connectivity={kind: npy, path: {T}/c.npy}",
        ],
        &[("c.npy", npy("<f8", false, "(3, 3)", &f64s(&[0.0; 9])))],
        &["c.npy", "shape"],
    );
    t.case(
        "ai rates csv not numeric",
        &[
            "validate",
            "{E}/ai_rates.yaml",
            "--set",
            "network.connectivity={kind: csv, path: {T}/c.csv}",
        ],
        &[("c.csv", b"1,2,x\n".to_vec())],
        &["c.csv", "numeric"],
    );

    // ---- SOC
    for (set, needle) in [
        ("model.parameters.N=2000000", "model.parameters.N"),
        ("model.parameters.N=0", "model.parameters"),
        ("model.parameters.p=1.5", "model.parameters"),
        ("model.parameters.R=-1", "model.parameters"),
        ("model.parameters.eta=.nan", "model.parameters"),
        (
            "initial_weights={kind: file, path: nothere.npy}",
            "nothere.npy",
        ),
        ("initial_weights={kind: magic}", "magic"),
        ("optimization.threads=many", "invalid"),
        ("model.parameters.gama=3", "gama"),
    ] {
        t.set(&format!("soc {set}"), "validate", soc, &[set], &[needle]);
    }
    t.case(
        "soc W0 wrong shape",
        &[
            "validate",
            "{E}/soc.yaml",
            "--set",
            "initial_weights={kind: file, path: {T}/w.npy}",
        ],
        &[("w.npy", npy("<f8", false, "(3, 3)", &f64s(&[0.0; 9])))],
        &["w.npy", "shape"],
    );
    t.0
}

fn run_case(case: &Case, scratch: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    for (p, bytes) in &case.files {
        let path = scratch.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let e = root().join("experiments").display().to_string();
    let t = scratch.display().to_string();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{E}", &e).replace("{T}", &t))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_fit"))
        .args(&args)
        .current_dir(scratch)
        .env("RUST_BACKTRACE", "0")
        .env("CI", "1")
        .output()
        .map_err(|e| format!("cannot start fit: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit status {:?}, expected 2", out.status.code()));
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("panic or backtrace".to_string());
    }
    for needle in &case.expect {
        let needle = needle.replace("{T}", &t);
        if !stderr.contains(&needle) {
            problems.push(format!("message lacks `{needle}`"));
        }
    }
    let _ = std::fs::remove_dir_all(scratch);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n  fit {}\n  stderr: {}",
            case.name,
            problems.join("; "),
            args.join(" "),
            stderr.trim()
        ))
    }
}

#[test]
fn bad_input_corpus() {
    let cases = table();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let base = std::env::temp_dir().join(format!("neurodyn-bad-{}", std::process::id()));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    std::thread::scope(|s| {
        for w in 0..threads {
            let (cases, next, failures, base) = (&cases, &next, &failures, &base);
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(k) else { break };
                    if let Err(e) = run_case(case, &base.join(format!("w{w}-{k}"))) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&base);
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
