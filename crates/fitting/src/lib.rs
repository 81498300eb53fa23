//! # fitting — the fitting library
//!
//! Everything between a validated experiment configuration and a fitted parameter set, with no
//! files and no terminal: experiment families behind one seam, one training driver, and one
//! checkpoint format. The `fit` command line keeps only what is I/O (schema parsing, datasets,
//! run folders, plots, progress bars).

pub mod budget;
pub mod network;
