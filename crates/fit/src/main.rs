//! `fit`: differentiable neural dynamics from the command line.

#[global_allocator]
static ALLOC: fit::alloc::TrackingAllocator = fit::alloc::TrackingAllocator;

fn main() {
    // The first Ctrl-C (or SIGTERM) asks the running work to stop at its next safe point (a fit
    // writes a checkpoint first); a second one aborts at once.
    let _ = ctrlc::set_handler(|| {
        if fit::interrupt::requested() {
            eprintln!("\ninterrupted again: aborting");
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next safe point (Ctrl-C again to abort)");
        fit::interrupt::request();
    });
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = fit::cli::run_from_args(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(if fit::interrupt::is_interrupted(&e) {
            130
        } else {
            2
        });
    }
}
