//! Hash primitives of the state tree. Depends only on `blake2`, so that proofs can be checked
//! anywhere (light clients, other chains) without redb.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

/// A 32-byte blake2b-256 digest: block hashes, state roots, tree paths and node hashes.
pub type Hash = [u8; 32];

/// Hash of the empty subtree, and so the state root of an empty state.
pub const EMPTY_HASH: Hash = [0u8; 32];

/// Number of bits in a tree path, and so the greatest depth a leaf can sit at.
pub const PATH_BITS: usize = 256;

/// Domain tag hashed in front of a leaf node.
pub const LEAF_TAG: u8 = 0x00;

/// Domain tag hashed in front of an internal node.
pub const INTERNAL_TAG: u8 = 0x01;

/// blake2b with a 256-bit output over the concatenation of `parts`.
pub fn blake2_256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Blake2b::<U32>::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Tree path of a storage key: `blake2_256(key)`, read most significant bit first.
pub fn key_path(key: &[u8]) -> Hash {
    blake2_256(&[key])
}

/// Hash a value is committed under in its leaf: `blake2_256(value)`.
pub fn value_hash(value: &[u8]) -> Hash {
    blake2_256(&[value])
}

/// Hash of a leaf node: `blake2_256(0x00 ‖ key_path ‖ value_hash)`.
pub fn leaf_hash(key_path: &Hash, value_hash: &Hash) -> Hash {
    blake2_256(&[&[LEAF_TAG], key_path, value_hash])
}

/// Hash of an internal node: `blake2_256(0x01 ‖ left ‖ right)`.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    blake2_256(&[&[INTERNAL_TAG], left, right])
}

/// Bit `index` (0 = most significant bit of byte 0) of a path; `false` goes left.
///
/// Callers keep `index < PATH_BITS`; an index past the end reads as `false`.
pub fn bit(path: &Hash, index: usize) -> bool {
    match path.get(index / 8) {
        Some(byte) => (byte >> 7usize.saturating_sub(index % 8)) & 1 == 1,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_msb_first() {
        let mut p = [0u8; 32];
        p[0] = 0b1000_0001;
        p[31] = 0b0000_0001;
        assert!(bit(&p, 0));
        assert!(!bit(&p, 1));
        assert!(bit(&p, 7));
        assert!(bit(&p, 255));
        assert!(!bit(&p, 254));
        assert!(!bit(&p, 256));
    }

    #[test]
    fn node_hashes_are_domain_separated() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert_ne!(leaf_hash(&a, &b), internal_hash(&a, &b));
        assert_eq!(leaf_hash(&a, &b), blake2_256(&[&[0u8], &a, &b]));
        assert_eq!(internal_hash(&a, &b), blake2_256(&[&[1u8], &a, &b]));
    }

    #[test]
    fn blake2_256_matches_known_vector() {
        // blake2b-256("abc"), RFC 7693 parameters with a 32-byte digest.
        let expected = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
        let got: String = blake2_256(&[b"abc"]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, expected);
    }
}
