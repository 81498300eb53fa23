//! The jr_peak fitting workflow: gradient against finite differences, recovery of the target,
//! and batched grid points against single simulations.

mod common;

use common::{experiment, rel, setup};
use dynamics::{BackendKind, f64_device};
use fit::objective::Objective;
use fit::train::{FitParams, evaluate};

fn loss_at(obj: &Objective, a: f64, b: f64) -> (f64, Vec<f64>) {
    let device = f64_device(BackendKind::Flex, true);
    let m = FitParams::from_host(&[vec![a], vec![b]], &[[1, 1], [1, 1]], &device);
    let e = evaluate(obj, &m).unwrap();
    (e.losses[0], e.grads.iter().flatten().copied().collect())
}

/// Gradient of 1 − corr(spectrum, target) wrt (a, b) at the start point (1000 noisy steps,
/// delays) equals central finite differences to relative 1e-5.
#[test]
fn jr_peak_gradient_matches_finite_differences() {
    let s = setup("jr_peak.yaml", &[]);
    let device = f64_device(BackendKind::Flex, true);
    let mut obj = Objective::new(&s, 1, &device, false).unwrap();
    obj.set_target(&s, &experiment("jr_peak.yaml")).unwrap();
    let (l, g) = loss_at(&obj, 0.04, 0.04);
    assert!(l > 0.8 && l < 1.1, "start loss {l}");
    let h = 1e-7;
    let fd_a = (loss_at(&obj, 0.04 + h, 0.04).0 - loss_at(&obj, 0.04 - h, 0.04).0) / (2.0 * h);
    let fd_b = (loss_at(&obj, 0.04, 0.04 + h).0 - loss_at(&obj, 0.04, 0.04 - h).0) / (2.0 * h);
    assert!(rel(g[0], fd_a) < 1e-5, "d/da {} vs FD {fd_a}", g[0]);
    assert!(rel(g[1], fd_b) < 1e-5, "d/db {} vs FD {fd_b}", g[1]);
}

/// The shipped jr_peak.yaml (the main job) lands: within 1% of the true (a, b) = (0.07, 0.065)
/// with a loss below 1e-3 at the last step, from a start loss of about 0.96.
#[test]
fn jr_peak_recovers_the_target() {
    let out = std::env::temp_dir().join(format!("neurodyn-jrpeak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let exp = experiment("jr_peak.yaml");
    fit::cli::run_from_args(&[
        "fit",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ])
    .unwrap();
    let (header, rows) = fit::run_dir::read_csv(&out.join("trajectory.csv")).unwrap();
    assert_eq!(header[..4], ["step", "loss", "a", "b"]);
    assert_eq!(rows.len(), 201);
    let first = rows[0][1];
    assert!((first - 0.96).abs() < 0.1, "start loss {first}");
    let last = rows.last().unwrap();
    assert!(last[1] < 1e-3, "last loss {}", last[1]);
    let fin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("final.json")).unwrap()).unwrap();
    for (name, truth) in [("a", 0.07), ("b", 0.065)] {
        for key in ["parameters", "last_parameters"] {
            let v = fin[key][name].as_f64().unwrap();
            assert!(
                ((v - truth) / truth).abs() < 0.01,
                "{key}.{name} = {v} vs {truth}"
            );
        }
        let e = fin["relative_error"][name].as_f64().unwrap();
        assert!(e.abs() < 0.01, "relative error of {name}: {e}");
    }
    for f in [
        "final.json",
        "loss.png",
        "parameters.png",
        "spectra.png",
        "checkpoints/step-000200/meta.json",
        "checkpoints/step-000200/optimizer.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}
