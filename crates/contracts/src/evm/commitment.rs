//! An in-memory, incrementally updated sparse Merkle tree with the exact shape and hashing of
//! `umbra_state_tree` (`compute_root` is its specification): inserting, updating or removing
//! one key costs O(depth) hashes, about log2(number of keys), not O(state).

use umbra_state_tree::hashing::bit;
use umbra_state_tree::{internal_hash, key_path, leaf_hash, value_hash, Hash, EMPTY_HASH};

/// One node with its cached hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Node {
    #[default]
    Empty,
    Leaf {
        path: Hash,
        hash: Hash,
        value: Hash,
    },
    Internal {
        left: Box<Node>,
        right: Box<Node>,
        hash: Hash,
    },
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY_HASH,
            Node::Leaf { hash, .. } | Node::Internal { hash, .. } => *hash,
        }
    }

    fn leaf(path: Hash, value: Hash) -> Node {
        Node::Leaf { path, hash: leaf_hash(&path, &value), value }
    }

    fn internal(left: Node, right: Node) -> Node {
        let hash = internal_hash(&left.hash(), &right.hash());
        Node::Internal { left: Box::new(left), right: Box::new(right), hash }
    }

    /// Two leaves with different paths under one subtree at `depth`.
    fn split(depth: usize, a: Node, a_path: &Hash, b: Node, b_path: &Hash) -> Node {
        if depth >= 256 {
            return a; // a full 256-bit path collision: keep the tree total, as the reference
        }
        let next = depth.saturating_add(1);
        match (bit(a_path, depth), bit(b_path, depth)) {
            (false, true) => Node::internal(a, b),
            (true, false) => Node::internal(b, a),
            (false, false) => Node::internal(Node::split(next, a, a_path, b, b_path), Node::Empty),
            (true, true) => Node::internal(Node::Empty, Node::split(next, a, a_path, b, b_path)),
        }
    }

    fn insert(self, depth: usize, path: Hash, value: Hash) -> Node {
        match self {
            Node::Empty => Node::leaf(path, value),
            Node::Leaf { path: p, .. } if p == path => Node::leaf(path, value),
            leaf @ Node::Leaf { .. } => {
                let Node::Leaf { path: p, .. } = &leaf else { unreachable!() };
                let p = *p;
                Node::split(depth, leaf, &p, Node::leaf(path, value), &path)
            }
            Node::Internal { left, right, .. } => {
                let next = depth.saturating_add(1);
                if bit(&path, depth) {
                    Node::internal(*left, right.insert(next, path, value))
                } else {
                    Node::internal(left.insert(next, path, value), *right)
                }
            }
        }
    }

    fn remove(self, depth: usize, path: &Hash) -> Node {
        match self {
            Node::Leaf { path: p, .. } if p == *path => Node::Empty,
            Node::Internal { left, right, .. } => {
                let next = depth.saturating_add(1);
                let (left, right) = if bit(path, depth) {
                    (*left, right.remove(next, path))
                } else {
                    (left.remove(next, path), *right)
                };
                match (left, right) {
                    (Node::Empty, Node::Empty) => Node::Empty,
                    (leaf @ Node::Leaf { .. }, Node::Empty)
                    | (Node::Empty, leaf @ Node::Leaf { .. }) => leaf,
                    (l, r) => Node::internal(l, r),
                }
            }
            other => other,
        }
    }
}

/// The tree: `set`/`remove` by key, `root` in O(1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleMap {
    root: Node,
}

impl MerkleMap {
    /// Sets `key` to `value` (as `compute_root` would see the entry `(key, value)`).
    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        let root = core::mem::take(&mut self.root);
        self.root = root.insert(0, key_path(key), value_hash(value));
    }

    /// Removes `key` (nothing if absent).
    pub fn remove(&mut self, key: &[u8]) {
        let root = core::mem::take(&mut self.root);
        self.root = root.remove(0, &key_path(key));
    }

    /// The root, equal to `umbra_state_tree::compute_root` of the current entries.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use umbra_state_tree::compute_root;

    proptest! {
        /// Any sequence of sets and removes gives the root the from-scratch specification
        /// gives for the resulting key/value set.
        #[test]
        fn incremental_root_matches_the_reference(
            ops in proptest::collection::vec((any::<bool>(), 0u8..40, any::<u8>()), 0..120)
        ) {
            let mut tree = MerkleMap::default();
            let mut model = BTreeMap::new();
            for (set, k, v) in ops {
                let key = vec![k];
                if set {
                    tree.set(&key, &[v]);
                    model.insert(key, vec![v]);
                } else {
                    tree.remove(&key);
                    model.remove(&key);
                }
                prop_assert_eq!(tree.root(), compute_root(model.clone()));
            }
        }
    }

    #[test]
    fn empty_and_remove_all() {
        let mut t = MerkleMap::default();
        assert_eq!(t.root(), EMPTY_HASH);
        t.set(b"a", b"1");
        t.set(b"b", b"2");
        assert_ne!(t.root(), EMPTY_HASH);
        t.remove(b"a");
        assert_eq!(t.root(), compute_root(vec![(b"b".to_vec(), b"2".to_vec())]));
        t.remove(b"b");
        assert_eq!(t.root(), EMPTY_HASH);
    }
}
