//! The resource budget, from the library ([`fitting::budget`]); `fit` sets its limits from
//! `--max-memory` and `--max-work`.

pub use fitting::budget::*;
