//! The network experiment schema: the types live in the library
//! ([`fitting::network::config`]); `fit` parses YAML into them (`crate::yaml`).

pub use fitting::network::config::*;
