//! # fitting — the fitting library
//!
//! Everything between a validated experiment configuration and a fitted parameter set, with no
//! files and no terminal: experiment families behind one seam ([`family::Family`]), one
//! training driver ([`driver::run`]), one checkpoint format ([`checkpoint`]), the rules of
//! what a resume may change ([`resume`]), gradient checks for every
//! family that opts in ([`gradcheck`]) and cooperative interruption ([`interrupt`]). The
//! `fit` command line keeps only what is I/O (schema parsing, datasets, run folders, plots,
//! progress bars). The Jansen-Rit network family's objective assembly lives in [`network`].

pub mod budget;
pub mod checkpoint;
pub mod driver;
pub mod family;
pub mod gradcheck;
pub mod interrupt;
pub mod network;
pub mod resume;
