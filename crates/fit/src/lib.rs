//! # fit — the neurodyn command line
//!
//! The only crate that touches files: experiment YAML, datasets, run folders, checkpoints,
//! plots and `.npy` arrays. Commands: `run` (fit; the default), `simulate`, `validate`,
//! `explore`, `merge`, `compare`, `gradcheck`, `bench`. See the README for the schema.

pub mod alloc;
pub mod bench;
pub mod budget;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod compare;
pub mod config;
pub mod context;
pub mod datasets;
pub mod explore;
pub mod fc_plots;
pub mod gradcheck;
pub use fitting::interrupt;
pub mod network_setup;
pub mod npy;
pub mod objective;
pub mod optimizer;
pub mod plot;
pub mod progress;
pub mod run_dir;
pub mod simulate;
pub mod systems;
pub mod train;
pub mod yaml;
