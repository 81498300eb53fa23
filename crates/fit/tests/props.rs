//! Property tests: random and mutated bytes fed to every reader of user input — the experiment
//! YAML with its validation pass, `--set` overrides, `.npy`, CSV/TSV matrices, labels and
//! trajectory CSVs — must give a value or an error, never a panic (and never an allocation
//! sized by a corrupt header). Library functions are called directly, so this stays fast.

use fit::check::{Purpose, experiment};
use fit::config::Experiment;
use fit::context::RunContext;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const SHIPPED: [&str; 8] = [
    "jr_peak.yaml",
    "jr_grid.yaml",
    "rww_fc.yaml",
    "population_fixed_points.yaml",
    "fhn_fixed_point.yaml",
    "random_tanh.yaml",
    "ai_rates.yaml",
    "soc.yaml",
];

fn shipped(k: usize) -> (PathBuf, String) {
    let p = root().join("experiments").join(SHIPPED[k % SHIPPED.len()]);
    let text = std::fs::read_to_string(&p).unwrap();
    (p, text)
}

fn ctx(path: &Path, text: String, overrides: Vec<String>) -> RunContext {
    RunContext {
        exp_path: path.to_path_buf(),
        text,
        overrides,
        out_dir: std::env::temp_dir().join("neurodyn-props-never-written"),
        resume: false,
        backend: Default::default(),
        quiet: true,
    }
}

/// Keeps whatever a mutation makes the validation pass accept small: the pass never runs a
/// simulation, but it does build W for the rate models and the SOC optimizer.
fn small_budget() {
    fit::budget::set_max_memory(64 << 20);
    fit::budget::set_max_work(1e9 as u64);
}

/// Values that break numeric fields.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("-.inf".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e300".to_string()),
        Just("1e-300".to_string()),
        Just("18446744073709551616".to_string()),
        Just("abc".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("null".to_string()),
        Just("[1, [2]]".to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        any::<i64>().prop_map(|x| x.to_string()),
        (0u32..40).prop_map(|x| x.to_string()),
    ]
}

/// Replaces the `k`-th number of `text` with `v`.
fn replace_number(text: &str, k: usize, v: &str) -> String {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let prev_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if c.is_ascii_digit() && prev_ok {
            let s = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b".eE+-".contains(&bytes[i])) {
                i += 1;
            }
            starts.push((s, i));
        } else {
            i += 1;
        }
    }
    if starts.is_empty() {
        return text.to_string();
    }
    let (s, e) = starts[k % starts.len()];
    format!("{}{v}{}", &text[..s], &text[e..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_experiment(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        small_budget();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let p = Path::new("random.yaml");
        let _ = fit::yaml::parse_experiment::<Experiment>(p, &text, &[]);
        let _ = experiment(&ctx(p, text, vec![]), Purpose::Validate);
    }

    #[test]
    fn mutated_numbers_in_shipped_experiments(k in 0usize..8, pos in any::<usize>(), v in nasty()) {
        small_budget();
        let (p, text) = shipped(k);
        let text = replace_number(&text, pos, &v);
        let _ = experiment(&ctx(&p, text, vec![]), Purpose::Validate);
    }

    #[test]
    fn mutated_bytes_in_shipped_experiments(
        k in 0usize..8,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        small_budget();
        let (p, text) = shipped(k);
        let mut bytes = text.into_bytes();
        for (at, b, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 => bytes.insert(at, b),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = b,
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = experiment(&ctx(&p, text, vec![]), Purpose::Validate);
    }

    #[test]
    fn random_overrides(
        k in 0usize..8,
        field in "[a-z_.]{0,30}",
        pick in any::<usize>(),
        v in nasty(),
        raw in ".{0,40}",
    ) {
        small_budget();
        let (p, text) = shipped(k);
        // A random path, a real field path of the file, and raw text as a whole spec.
        let tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let mut paths = Vec::new();
        fn walk(v: &serde_yaml_ng::Value, at: String, out: &mut Vec<String>) {
            if let Some(m) = v.as_mapping() {
                for (key, x) in m {
                    if let Some(key) = key.as_str() {
                        let p = if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
                        out.push(p.clone());
                        walk(x, p, out);
                    }
                }
            }
        }
        walk(&tree, String::new(), &mut paths);
        let real = paths[pick % paths.len()].clone();
        for spec in [format!("{field}={v}"), format!("{real}={v}"), raw.clone()] {
            let _ = fit::yaml::split_override(&spec);
            let _ = fit::yaml::parse_experiment::<Experiment>(&p, &text, std::slice::from_ref(&spec));
            let _ = experiment(&ctx(&p, text.clone(), vec![spec]), Purpose::Validate);
        }
    }

    #[test]
    fn npy_reader_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        descr in prop_oneof![Just("<f8"), Just("<f4"), Just(">f8"), Just("<i4"), Just("|b1"), Just("<c16"), Just("zz")],
        shape in prop_oneof![
            Just("()".to_string()),
            Just("(3,)".to_string()),
            Just("(2, 2)".to_string()),
            Just("(18446744073709551615, 2)".to_string()),
            Just("(4294967296, 4294967296)".to_string()),
            Just("(-1,)".to_string()),
            Just("(abc)".to_string()),
            (0usize..6, 0usize..6).prop_map(|(a, b)| format!("({a}, {b})")),
        ],
        fortran in any::<bool>(),
        cut in any::<usize>(),
    ) {
        let p = Path::new("x.npy");
        let _ = fit::npy::decode_npy(&bytes, p);
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (11 + header.len()) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend((header.len() as u16).to_le_bytes());
        file.extend(header.as_bytes());
        file.extend(&bytes);
        if let Ok((v, s)) = fit::npy::decode_npy(&file, p) {
            prop_assert_eq!(v.len(), s.iter().product::<usize>());
        }
        let cut = cut % (file.len() + 1);
        let _ = fit::npy::decode_npy(&file[..cut], p);
    }

    #[test]
    fn csv_and_tsv_readers_never_panic(
        cells in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just("".to_string()), Just("nan".to_string()), Just("inf".to_string()),
                    Just("x".to_string()), Just("1e999".to_string()), Just("#".to_string()),
                    any::<f64>().prop_map(|x| x.to_string()), (0i32..9).prop_map(|x| x.to_string()),
                ],
                0..5,
            ),
            0..6,
        ),
        sep in prop_oneof![Just(","), Just("\t"), Just(" "), Just(";")],
        noise in proptest::collection::vec(any::<u8>(), 0..60),
    ) {
        let dir = std::env::temp_dir().join(format!("neurodyn-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = cells.iter().map(|r| r.join(sep) + "\n").collect();
        let p = dir.join(format!("m-{}.csv", text.len() % 7));
        for body in [text.into_bytes(), noise] {
            std::fs::write(&p, &body).unwrap();
            if let Ok(m) = fit::datasets::read_matrix(&p) {
                prop_assert!(!m.is_empty());
            }
            let _ = fit::datasets::read_labels(&p);
            if let Ok((h, rows)) = fit::run_dir::read_csv(&p) {
                prop_assert!(rows.iter().all(|r| r.len() == h.len()));
            }
            let _ = fit::compare::read_run(&dir);
        }
    }
}
