//! `fit gradcheck` over every family that opts in (the network models, the AI-state rate
//! network, the FitzHugh-Nagumo Adam workflow): the exact gradient equals central differences,
//! and a family without a loss is refused with the list of families that have one.

use fit::context::RunContext;
use std::path::PathBuf;

fn ctx(name: &str, sets: &[&str]) -> RunContext {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    RunContext::from_file(&path, &sets, None, "", false, true).unwrap()
}

fn report(name: &str, sets: &[&str]) -> fitting::gradcheck::Report {
    let c = ctx(name, sets);
    let model = fit::yaml::model_name(&c.exp_path, &c.text).unwrap();
    let system = fit::systems::find(&model).expect("a registered family");
    (system.gradcheck.expect("this family has a gradient check"))(&c).unwrap()
}

#[test]
fn rate_network_implicit_gradient_equals_central_differences() {
    let r = report("ai_rates.yaml", &[]);
    assert!(r.loss.is_finite() && r.loss > 0.0, "{r:?}");
    assert!(!r.entries.is_empty());
    assert!(r.non_finite().is_empty(), "{r:?}");
    assert!(
        r.worst() < 1e-5,
        "worst relative error {}: {r:?}",
        r.worst()
    );
}

#[test]
fn fhn_adam_workflow_gradient_equals_central_differences() {
    let r = report("fhn_fixed_point.yaml", &["optimization.runs=6"]);
    assert_eq!(r.entries.len(), 12, "v and w of 6 runs");
    assert!(r.non_finite().is_empty(), "{r:?}");
    assert!(
        r.worst() < 1e-5,
        "worst relative error {}: {r:?}",
        r.worst()
    );
}

#[test]
fn families_without_a_loss_are_refused_by_name() {
    let c = ctx("soc.yaml", &[]);
    let e = fit::check::experiment(&c, fit::check::Purpose::Gradcheck).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("soc.yaml"), "{msg}");
    assert!(msg.contains("no gradient check"), "{msg}");
    assert!(
        msg.contains("AiRateNetwork") && msg.contains("FitzHughNagumo"),
        "{msg}"
    );
}
