//! From-scratch computation of the state root, the specification the incremental tree in
//! the incremental tree in `umbra-chain-storage` is tested against. Depends only on `blake2`.

use std::collections::BTreeMap;

use crate::hashing::{
    bit, internal_hash, key_path, leaf_hash, value_hash, Hash, EMPTY_HASH, PATH_BITS,
};

/// Computes the state root of a key/value set from scratch in `O(n log n)`.
///
/// When a key occurs more than once the last value wins. Order of `entries` does not matter.
pub fn compute_root(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Hash {
    let by_key: BTreeMap<Vec<u8>, Vec<u8>> = entries.into_iter().collect();
    let mut leaves: Vec<(Hash, Hash)> =
        by_key.iter().map(|(k, v)| (key_path(k), value_hash(v))).collect();
    leaves.sort_unstable_by_key(|leaf| leaf.0);
    leaves_root(&leaves)
}

/// Root of the tree holding `leaves` (`(key_path, value_hash)` pairs sorted by path, unique
/// paths).
pub fn leaves_root(leaves: &[(Hash, Hash)]) -> Hash {
    subtree_root(0, leaves)
}

/// Root of the subtree at `depth` holding `leaves` (sorted by path, all sharing the first
/// `depth` bits).
fn subtree_root(depth: usize, leaves: &[(Hash, Hash)]) -> Hash {
    match leaves {
        [] => EMPTY_HASH,
        [(path, value)] => leaf_hash(path, value),
        // Only reachable if two keys share a full 256-bit path (a blake2 collision); keep the
        // function total instead of recursing past the last bit.
        [(path, value), ..] if depth >= PATH_BITS => leaf_hash(path, value),
        _ => {
            let mid = leaves.partition_point(|(path, _)| !bit(path, depth));
            let (left, right) = leaves.split_at(mid);
            internal_hash(
                &subtree_root(depth.saturating_add(1), left),
                &subtree_root(depth.saturating_add(1), right),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_single() {
        assert_eq!(compute_root(Vec::new()), EMPTY_HASH);
        let root = compute_root(vec![(b"k".to_vec(), b"v".to_vec())]);
        assert_eq!(root, leaf_hash(&key_path(b"k"), &value_hash(b"v")));
    }

    #[test]
    fn two_keys_form_internal_nodes_down_to_their_split() {
        let (a, b) = (b"a".to_vec(), b"b".to_vec());
        let (pa, pb) = (key_path(&a), key_path(&b));
        let split = (0..PATH_BITS).find(|&i| bit(&pa, i) != bit(&pb, i)).unwrap();
        let (la, lb) = (leaf_hash(&pa, &value_hash(b"1")), leaf_hash(&pb, &value_hash(b"2")));
        let mut h = if bit(&pa, split) { internal_hash(&lb, &la) } else { internal_hash(&la, &lb) };
        for d in (0..split).rev() {
            h = if bit(&pa, d) {
                internal_hash(&EMPTY_HASH, &h)
            } else {
                internal_hash(&h, &EMPTY_HASH)
            };
        }
        assert_eq!(compute_root(vec![(a, b"1".to_vec()), (b, b"2".to_vec())]), h);
    }

    #[test]
    fn last_duplicate_wins_and_order_is_irrelevant() {
        let one = compute_root(vec![
            (b"x".to_vec(), b"old".to_vec()),
            (b"y".to_vec(), b"1".to_vec()),
            (b"x".to_vec(), b"new".to_vec()),
        ]);
        let two =
            compute_root(vec![(b"y".to_vec(), b"1".to_vec()), (b"x".to_vec(), b"new".to_vec())]);
        assert_eq!(one, two);
    }
}
