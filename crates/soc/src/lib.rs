//! Stability-optimized circuits (SOC).
pub mod error;
mod francis;
pub mod schur;
pub mod sylvester;
pub mod gramians;
pub mod ssa;
pub use error::SocError;
