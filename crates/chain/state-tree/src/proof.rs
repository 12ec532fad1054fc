//! State proofs and their verification.
//!
//! This module and [`crate::hashing`] depend only on `blake2` (and `parity-scale-codec` for the
//! wire format), never on redb, so a verifier can be built anywhere.

use parity_scale_codec::{Decode, Encode};

use crate::hashing::{
    bit, internal_hash, key_path, leaf_hash, value_hash, Hash, EMPTY_HASH, PATH_BITS,
};

/// Where the search for a key's path ended in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ProofTerminal {
    /// The search reached an empty subtree: the key is absent.
    Empty,
    /// The search reached a leaf. It is the key's own leaf when `key_path` equals the key's
    /// path (inclusion), otherwise it proves that the key is absent.
    Leaf {
        /// Path of the key stored in that leaf.
        key_path: Hash,
        /// Hash of the value stored in that leaf.
        value_hash: Hash,
    },
}

/// Proof that a key has a given value, or no value, under a state root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StateProof {
    /// Sibling hashes along the key's path, from the root's children down to the terminal's
    /// depth: `siblings[i]` is the sibling at depth `i + 1`.
    pub siblings: Vec<Hash>,
    /// What was found where the search ended (at depth `siblings.len()`).
    pub terminal: ProofTerminal,
}

/// Checks `proof` against `root`: with `value = Some(v)` that `key` holds `v`, with `None` that
/// `key` is absent. Pure function; never panics on malformed proofs.
pub fn verify_proof(root: &Hash, key: &[u8], value: Option<&[u8]>, proof: &StateProof) -> bool {
    verify_path(root, &key_path(key), value.map(value_hash).as_ref(), proof)
}

/// [`verify_proof`] for the key with tree path `path` and, with `Some`, value hash `value`.
pub fn verify_path(root: &Hash, path: &Hash, value: Option<&Hash>, proof: &StateProof) -> bool {
    let depth = proof.siblings.len();
    if depth > PATH_BITS {
        return false;
    }
    let terminal_hash = match (&proof.terminal, value) {
        (ProofTerminal::Empty, None) => EMPTY_HASH,
        (ProofTerminal::Empty, Some(_)) => return false,
        (ProofTerminal::Leaf { key_path: leaf_path, value_hash: leaf_value }, claimed) => {
            // A leaf sits at a position whose prefix its own path carries.
            if (0..depth).any(|i| bit(leaf_path, i) != bit(path, i)) {
                return false;
            }
            let matches = match claimed {
                Some(v) => leaf_path == path && leaf_value == v,
                None => leaf_path != path,
            };
            if !matches {
                return false;
            }
            leaf_hash(leaf_path, leaf_value)
        }
    };
    let computed = proof.siblings.iter().enumerate().rev().fold(terminal_hash, |acc, (i, sib)| {
        if bit(path, i) {
            internal_hash(sib, &acc)
        } else {
            internal_hash(&acc, sib)
        }
    });
    computed == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_proves_absence_only() {
        let proof = StateProof { siblings: vec![], terminal: ProofTerminal::Empty };
        assert!(verify_proof(&EMPTY_HASH, b"k", None, &proof));
        assert!(!verify_proof(&EMPTY_HASH, b"k", Some(b"v"), &proof));
        assert!(!verify_proof(&[1u8; 32], b"k", None, &proof));
    }

    #[test]
    fn single_leaf_tree() {
        let kp = key_path(b"k");
        let vh = value_hash(b"v");
        let root = leaf_hash(&kp, &vh);
        let proof = StateProof {
            siblings: vec![],
            terminal: ProofTerminal::Leaf { key_path: kp, value_hash: vh },
        };
        assert!(verify_proof(&root, b"k", Some(b"v"), &proof));
        assert!(!verify_proof(&root, b"k", Some(b"w"), &proof));
        assert!(!verify_proof(&root, b"k", None, &proof));
        // The same leaf proves every other key absent.
        assert!(verify_proof(&root, b"other", None, &proof));
        assert!(!verify_proof(&root, b"other", Some(b"v"), &proof));
    }

    #[test]
    fn rejects_overlong_and_misplaced_proofs() {
        let proof = StateProof { siblings: vec![EMPTY_HASH; 257], terminal: ProofTerminal::Empty };
        assert!(!verify_proof(&EMPTY_HASH, b"k", None, &proof));

        // A leaf whose path disagrees with the key's path above its depth cannot be on the path.
        let path = key_path(b"k");
        let mut other = path;
        other[0] ^= 0x80;
        let vh = value_hash(b"v");
        let sibling = [7u8; 32];
        let leaf = leaf_hash(&other, &vh);
        let root = if bit(&path, 0) {
            internal_hash(&sibling, &leaf)
        } else {
            internal_hash(&leaf, &sibling)
        };
        let proof = StateProof {
            siblings: vec![sibling],
            terminal: ProofTerminal::Leaf { key_path: other, value_hash: vh },
        };
        assert!(!verify_proof(&root, b"k", None, &proof));
    }

    #[test]
    fn proof_round_trips_through_scale() {
        let proof = StateProof {
            siblings: vec![[3u8; 32], [4u8; 32]],
            terminal: ProofTerminal::Leaf { key_path: [5u8; 32], value_hash: [6u8; 32] },
        };
        let bytes = proof.encode();
        assert_eq!(StateProof::decode(&mut &bytes[..]).unwrap(), proof);
        assert!(StateProof::decode(&mut &bytes[..bytes.len() - 1]).is_err());
    }
}
