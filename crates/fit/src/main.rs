//! `fit`: differentiable neural dynamics from the command line.

#[global_allocator]
static ALLOC: fit::alloc::TrackingAllocator = fit::alloc::TrackingAllocator;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = fit::cli::run_from_args(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
