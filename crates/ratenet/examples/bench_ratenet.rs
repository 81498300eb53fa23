//! Runs the ratenet benchmarks: `cargo run -p ratenet --example bench_ratenet [N] [steps]`.
use backend::{BackendKind, f64_device};
use ratenet::bench::{bench_fixed_point, bench_phi_evals_per_second};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(2000);
    let steps = args.get(1).copied().unwrap_or(500);
    println!(
        "Phi evaluations/s (with derivatives): {:.3e}",
        bench_phi_evals_per_second(1_000_000)
    );
    for kind in [BackendKind::Flex, BackendKind::NdArray] {
        let b = bench_fixed_point(n, steps, &f64_device(kind, false))?;
        println!("{kind:?}: {b:#?}");
    }
    Ok(())
}
