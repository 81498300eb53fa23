//! Progress bars (indicatif) shared by every long-running command.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar with elapsed time, ETA and a message; hidden when `quiet`.
pub fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{elapsed_precise}] {wide_bar:.cyan/blue} {pos}/{len} (eta {eta}) {msg}",
        )
        .expect("static template is valid")
        .progress_chars("=> "),
    );
    bar
}
