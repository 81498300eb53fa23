//! Exact serialisation of f64 values as their IEEE-754 bit patterns (`u64`), so states survive
//! JSON (which has no infinities and whose parsers may round) bit for bit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `#[serde(with = "bits::f64")]` for one value.
pub mod f64 {
    use super::*;
    /// Writes the bit pattern.
    pub fn serialize<S: Serializer>(v: &::core::primitive::f64, s: S) -> Result<S::Ok, S::Error> {
        v.to_bits().serialize(s)
    }
    /// Reads the bit pattern.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<::core::primitive::f64, D::Error> {
        Ok(::core::primitive::f64::from_bits(u64::deserialize(d)?))
    }
}

/// `#[serde(with = "bits::vec")]` for a `Vec<f64>`.
pub mod vec {
    use super::*;
    /// Writes the bit patterns.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|x| x.to_bits())
            .collect::<Vec<u64>>()
            .serialize(s)
    }
    /// Reads the bit patterns.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?
            .into_iter()
            .map(f64::from_bits)
            .collect())
    }
}

/// `#[serde(with = "bits::vecvec")]` for a `Vec<Vec<f64>>`.
pub mod vecvec {
    use super::*;
    /// Writes the bit patterns.
    pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect::<Vec<u64>>())
            .collect::<Vec<_>>()
            .serialize(s)
    }
    /// Reads the bit patterns.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<u64>>::deserialize(d)?
            .into_iter()
            .map(|r| r.into_iter().map(f64::from_bits).collect())
            .collect())
    }
}
