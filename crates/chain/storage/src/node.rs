//! Tree nodes as stored in the node table, and the positions they are stored under.

use crate::error::{Result, StorageError};
use crate::hashing::{
    internal_hash, leaf_hash, Hash, EMPTY_HASH, INTERNAL_TAG, LEAF_TAG, PATH_BITS,
};

/// Length of a stored node: one tag byte and two 32-byte hashes.
const NODE_LEN: usize = 65;

/// Length of a position key: depth as `u16` big-endian, then the 32-byte path prefix.
pub(crate) const POSITION_LEN: usize = 34;

/// Key of a node in the node table: depth (u16 big-endian) ‖ path prefix with every bit at and
/// beyond `depth` zeroed.
pub(crate) type Position = [u8; POSITION_LEN];

/// One node of the compressed binary sparse Merkle tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// No key below this position. Never stored.
    Empty,
    /// Exactly one key below this position.
    Leaf {
        /// Path of the key.
        key_path: Hash,
        /// Hash of its value.
        value_hash: Hash,
    },
    /// Two or more keys below this position; holds both children's hashes.
    Internal {
        /// Hash of the left (bit 0) child.
        left: Hash,
        /// Hash of the right (bit 1) child.
        right: Hash,
    },
}

impl Node {
    /// The node's hash ([`EMPTY_HASH`] for `Empty`).
    pub(crate) fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY_HASH,
            Node::Leaf { key_path, value_hash } => leaf_hash(key_path, value_hash),
            Node::Internal { left, right } => internal_hash(left, right),
        }
    }

    /// Stored form: tag ‖ 32 bytes ‖ 32 bytes. `None` for `Empty`, which is never stored.
    pub(crate) fn encode(&self) -> Option<[u8; NODE_LEN]> {
        let (tag, a, b) = match self {
            Node::Empty => return None,
            Node::Leaf { key_path, value_hash } => (LEAF_TAG, key_path, value_hash),
            Node::Internal { left, right } => (INTERNAL_TAG, left, right),
        };
        let mut out = [0u8; NODE_LEN];
        out[0] = tag;
        out[1..33].copy_from_slice(a);
        out[33..].copy_from_slice(b);
        Some(out)
    }

    /// Parses a stored node, rejecting anything this crate would not have written.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Node> {
        let corrupt = |detail: String| StorageError::Corrupt { what: "state tree node", detail };
        if bytes.len() != NODE_LEN {
            return Err(corrupt(format!("length {} instead of {NODE_LEN}", bytes.len())));
        }
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a.copy_from_slice(&bytes[1..33]);
        b.copy_from_slice(&bytes[33..]);
        match bytes[0] {
            LEAF_TAG => Ok(Node::Leaf { key_path: a, value_hash: b }),
            INTERNAL_TAG => Ok(Node::Internal { left: a, right: b }),
            tag => Err(corrupt(format!("unknown tag {tag:#04x}"))),
        }
    }
}

/// Position key of the subtree at `depth` whose path starts with the first `depth` bits of
/// `path` (bits of `path` beyond `depth` are ignored).
pub(crate) fn position(depth: usize, path: &Hash) -> Position {
    let depth = depth.min(PATH_BITS);
    let mut out = [0u8; POSITION_LEN];
    // PATH_BITS (256) fits a u16.
    out[..2].copy_from_slice(&(depth as u16).to_be_bytes());
    let full = depth / 8;
    out[2..2 + full].copy_from_slice(&path[..full]);
    if full < 32 {
        let rem = depth % 8;
        let mask = !(0xffu8 >> rem);
        out[2 + full] = path[full] & mask;
    }
    out
}

/// `prefix` with bit `index` set (for the right child's prefix).
pub(crate) fn with_bit_set(prefix: &Hash, index: usize) -> Hash {
    let mut out = *prefix;
    if let Some(byte) = out.get_mut(index / 8) {
        *byte |= 0x80 >> (index % 8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_zero_bits_beyond_depth() {
        let path = [0xffu8; 32];
        let p0 = position(0, &path);
        assert_eq!(p0, [0u8; POSITION_LEN]);
        let p3 = position(3, &path);
        assert_eq!(&p3[..2], &[0, 3]);
        assert_eq!(p3[2], 0b1110_0000);
        assert!(p3[3..].iter().all(|&b| b == 0));
        let p256 = position(256, &path);
        assert_eq!(&p256[..2], &[1, 0]);
        assert!(p256[2..].iter().all(|&b| b == 0xff));
        let p9 = position(9, &path);
        assert_eq!(&p9[2..4], &[0xff, 0x80]);
    }

    #[test]
    fn set_bit() {
        let p = with_bit_set(&[0u8; 32], 9);
        assert_eq!(p[1], 0x40);
        assert_eq!(with_bit_set(&p, 256), p);
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_garbage() {
        let leaf = Node::Leaf { key_path: [1; 32], value_hash: [2; 32] };
        let internal = Node::Internal { left: [3; 32], right: [4; 32] };
        for node in [leaf, internal] {
            let bytes = node.encode().unwrap();
            assert_eq!(Node::decode(&bytes).unwrap(), node);
        }
        assert!(Node::Empty.encode().is_none());
        assert!(Node::decode(&[0u8; 64]).is_err());
        let mut bad = leaf.encode().unwrap();
        bad[0] = 7;
        assert!(matches!(Node::decode(&bad), Err(StorageError::Corrupt { .. })));
    }

    #[test]
    fn hashes_follow_the_spec() {
        assert_eq!(Node::Empty.hash(), EMPTY_HASH);
        let leaf = Node::Leaf { key_path: [1; 32], value_hash: [2; 32] };
        assert_eq!(leaf.hash(), leaf_hash(&[1; 32], &[2; 32]));
    }
}
