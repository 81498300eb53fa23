//! Feature unification for partial builds (see Cargo.toml); no code.
