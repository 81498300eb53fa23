//! Every optimizer against optax 0.2.8 (float64) on an extended Rosenbrock function:
//! fixtures from `tools/make_optax_fixtures.py`.

use optim::plateau::ReduceOnPlateau;
use optim::{
    Chain, GradientTransformation, Schedule, adam, adamax, adamw, apply_updates, chain, clip,
    clip_by_global_norm, reduce_on_plateau, scale_by_adam, scale_by_learning_rate, sgd,
};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/optax_trajectories.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|b| f64::from_bits(b.as_u64().expect("bits")))
        .collect()
}

/// The fixture's loss and gradient, written out by hand.
fn loss_and_grad(x: &[f64]) -> (f64, Vec<f64>) {
    let mut v = 0.0;
    let mut g = vec![0.0; x.len()];
    for i in (0..x.len()).step_by(2) {
        let (a, b) = (x[i], x[i + 1]);
        v += (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        g[i] += -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[i + 1] += 200.0 * (b - a * a);
    }
    let sq: f64 = x.iter().map(|t| t * t).sum();
    for (gi, xi) in g.iter_mut().zip(x) {
        *gi += 0.2 * xi;
    }
    (v + 0.1 * sq, g)
}

const ADAM: (f64, f64, f64) = (0.9, 0.999, 1e-8);

fn constant(value: f64) -> Schedule {
    Schedule::Constant { value }
}

fn case(name: &str) -> Chain {
    let (b1, b2, eps) = ADAM;
    match name {
        "adam" => adam(constant(0.01), b1, b2, eps),
        "adam_betas" => adam(constant(0.003), 0.8, 0.99, 1e-6),
        "adamw" => adamw(constant(0.01), b1, b2, eps, 0.1),
        "adamax" => adamax(constant(0.02), b1, b2, eps),
        "sgd" => sgd(constant(1e-4), None, false),
        "sgd_momentum" => sgd(constant(1e-4), Some(0.9), false),
        "sgd_nesterov" => sgd(constant(1e-4), Some(0.9), true),
        "clip_norm_adam_expdecay" => chain![
            clip_by_global_norm(1.0),
            scale_by_adam(b1, b2, eps),
            scale_by_learning_rate(Schedule::ExponentialDecay {
                init_value: 0.05,
                transition_steps: 5,
                decay_rate: 0.8,
                transition_begin: 0,
                staircase: false,
                end_value: None,
            }),
        ],
        "clip_value_sgd" => chain![clip(2.0), sgd(constant(0.01), Some(0.5), false)],
        "adam_warmup_cosine" => adam(
            Schedule::WarmupCosineDecay {
                init_value: 0.0,
                peak_value: 0.05,
                warmup_steps: 5,
                decay_steps: 30,
                end_value: 0.001,
                exponent: 1.0,
            },
            b1,
            b2,
            eps,
        ),
        "adam_cosine" => adam(
            Schedule::CosineDecay {
                init_value: 0.05,
                decay_steps: 25,
                alpha: 0.1,
                exponent: 1.0,
            },
            b1,
            b2,
            eps,
        ),
        "adam_staircase" => adam(
            Schedule::ExponentialDecay {
                init_value: 0.05,
                transition_steps: 4,
                decay_rate: 0.5,
                transition_begin: 3,
                staircase: true,
                end_value: Some(0.005),
            },
            b1,
            b2,
            eps,
        ),
        "adam_plateau" => chain![
            adam(constant(0.05), b1, b2, eps),
            ReduceOnPlateau {
                rtol: 1e-3,
                ..reduce_on_plateau(0.5, 2, 1)
            },
        ],
        other => panic!("no Rust counterpart for fixture case {other}"),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

/// Per step, the update from optax's own gradient equals optax's update to 1e-12 relative.
#[test]
fn updates_equal_optax_per_step() {
    let fx = fixture();
    let cases = fx["cases"].as_object().expect("cases");
    assert!(cases.len() >= 13);
    for (name, rows) in cases {
        let opt = case(name);
        let rows = rows.as_array().expect("rows");
        let mut state = opt.init(&f64s(&rows[0]["params"]));
        let mut worst = 0.0_f64;
        for (k, row) in rows.iter().enumerate() {
            let params = f64s(&row["params"]);
            let grad = f64s(&row["grad"]);
            let value = f64::from_bits(row["loss"].as_u64().expect("loss"));
            let want = f64s(&row["update"]);
            let got = opt.update(grad, &mut state, &params, Some(value));
            for (g, w) in got.iter().zip(&want) {
                let r = rel(*g, *w);
                assert!(
                    r <= 1e-12,
                    "{name} step {k}: update {g:e} vs optax {w:e} ({r:e})"
                );
                worst = worst.max(r);
            }
        }
        eprintln!("{name}: worst per-step relative difference {worst:.1e}");
    }
}

/// Whole trajectories with gradients computed here: parameters equal optax's to 1e-10.
#[test]
fn trajectories_equal_optax() {
    let fx = fixture();
    for (name, rows) in fx["cases"].as_object().expect("cases") {
        let opt = case(name);
        let rows = rows.as_array().expect("rows");
        let mut x = f64s(&rows[0]["params"]);
        let mut state = opt.init(&x);
        for (k, row) in rows.iter().enumerate() {
            let want = f64s(&row["params"]);
            for (a, b) in x.iter().zip(&want) {
                assert!(rel(*a, *b) <= 1e-10, "{name} step {k}: {a} vs optax {b}");
            }
            let (v, g) = loss_and_grad(&x);
            let wv = f64::from_bits(row["loss"].as_u64().expect("loss"));
            assert!(rel(v, wv) <= 1e-10, "{name} step {k}: loss {v} vs {wv}");
            let u = opt.update(g, &mut state, &x, Some(v));
            apply_updates(&mut x, &u);
        }
    }
}

/// A state serialised halfway continues bit for bit.
#[test]
fn state_round_trips_exactly() {
    let opt = chain![
        case("adam_plateau"),
        clip_by_global_norm(10.0),
        sgd(constant(1.0), Some(0.5), true)
    ];
    let mut x = vec![-1.2, 1.0, -0.5, 0.8];
    let mut state = opt.init(&x);
    for _ in 0..7 {
        let (v, g) = loss_and_grad(&x);
        let u = opt.update(g, &mut state, &x, Some(v));
        apply_updates(&mut x, &u);
    }
    let text = serde_json::to_string(&state).expect("serialise");
    let mut back: optim::State = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, state);
    let (v, g) = loss_and_grad(&x);
    let a = opt.update(g.clone(), &mut state, &x, Some(v));
    let b = opt.update(g, &mut back, &x, Some(v));
    assert_eq!(
        a.iter().map(|t| t.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|t| t.to_bits()).collect::<Vec<_>>()
    );
}

/// Schedules at a few counts, checked by hand against optax's formulas.
#[test]
fn schedule_values() {
    let s = Schedule::WarmupCosineDecay {
        init_value: 0.0,
        peak_value: 1.0,
        warmup_steps: 4,
        decay_steps: 14,
        end_value: 0.1,
        exponent: 1.0,
    };
    assert_eq!(s.value(0), 0.0);
    assert_eq!(s.value(2), 0.5);
    assert_eq!(s.value(4), 1.0);
    assert!((s.value(9) - (0.1 + 0.9 * 0.5)).abs() < 1e-15);
    assert!((s.value(14) - 0.1).abs() < 1e-15);
    assert!((s.value(100) - 0.1).abs() < 1e-15);
    let e = Schedule::ExponentialDecay {
        init_value: 2.0,
        transition_steps: 10,
        decay_rate: 0.5,
        transition_begin: 0,
        staircase: false,
        end_value: None,
    };
    assert_eq!(e.value(10), 1.0);
    assert!((e.value(5) - 2.0 * 0.5f64.sqrt()).abs() < 1e-15);
    assert!(Schedule::Constant { value: -1.0 }.validate().is_err());
    assert!(Schedule::Constant { value: f64::NAN }.validate().is_err());
}
