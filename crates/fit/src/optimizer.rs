//! The optimizer chain of network fits, from the library ([`fitting::network::optimizer`]).

pub use fitting::network::optimizer::*;
