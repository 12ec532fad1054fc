//! The 32-byte hash type.

use std::{fmt, str::FromStr};

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

/// A 32-byte hash (blake2-256 throughout Umbra). Shown and parsed as `0x`-prefixed hex.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen,
)]
pub struct H256(pub [u8; 32]);

impl H256 {
    /// The all-zero hash (parent of genesis, root of an empty set).
    pub const ZERO: H256 = H256([0u8; 32]);

    /// blake2-256 of `data`.
    pub fn hash(data: &[u8]) -> H256 {
        H256(umbra_crypto::blake2_256(data))
    }

    /// blake2-256 of the SCALE encoding of `value`.
    pub fn hash_of<T: Encode>(value: &T) -> H256 {
        value.using_encoded(H256::hash)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a hash from hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hash `{input}`: expected 0x followed by 64 hex digits")]
pub struct ParseHashError {
    /// The text that failed to parse.
    pub input: String,
}

impl FromStr for H256 {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseHashError { input: s.to_string() };
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(digits).map_err(|_| err())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| err())?;
        Ok(H256(arr))
    }
}

impl serde::Serialize for H256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for H256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let h = H256::hash(b"umbra");
        let s = h.to_string();
        assert!(s.starts_with("0x") && s.len() == 66);
        assert_eq!(s.parse::<H256>().unwrap(), h);
    }

    #[test]
    fn cannot_parse_wrong_length_or_non_hex() {
        assert!("0x1234".parse::<H256>().is_err());
        assert!(format!("0x{}", "zz".repeat(32)).parse::<H256>().is_err());
    }

    #[test]
    fn hash_of_hashes_the_encoding() {
        assert_eq!(H256::hash_of(&7u64), H256::hash(&7u64.encode()));
    }
}
