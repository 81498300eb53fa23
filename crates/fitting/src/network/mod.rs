//! The network family: every registered neural mass model on a connectome with delays.
//!
//! A validated experiment ([`config::Experiment`]) becomes a simulation problem and packed
//! parameter arrays ([`setup::NetworkSetup`]), then a differentiable loss pipeline
//! (parameters → bounds transform → simulation → observation → loss:
//! [`objective::Objective`]) driven by the optimizer chain of [`optimizer`]. Data the experiment
//! names (connectome, arrays, targets) come through a [`data::DataSource`]: nothing here opens a
//! file.

pub mod config;
pub mod data;
pub mod family;
pub mod objective;
pub mod optimizer;
pub mod setup;
