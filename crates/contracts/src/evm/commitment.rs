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

/// A change to the tree: a path and its new value hash (`None` removes it).
pub type Update = (Hash, Option<Hash>);

impl Node {
    /// The subtree at `depth` over `items` (sorted by path, distinct paths, all in this
    /// subtree), in the reference shape.
    fn build(depth: usize, items: &[(Hash, Hash)]) -> Node {
        match items {
            [] => Node::Empty,
            [(path, value)] => Node::leaf(*path, *value),
            // A full 256-bit path collision: keep the tree total, as the reference.
            [first, ..] if depth >= 256 => Node::leaf(first.0, first.1),
            _ => {
                let split = items.partition_point(|(p, _)| !bit(p, depth));
                let next = depth.saturating_add(1);
                let (l, r) = items.split_at(split);
                Node::internal(Node::build(next, l), Node::build(next, r))
            }
        }
    }

    /// Applies `updates` (sorted by path, distinct paths, all in this subtree) at `depth`,
    /// hashing every changed node once.
    fn update(&mut self, depth: usize, updates: &[Update]) {
        if updates.is_empty() {
            return;
        }
        match self {
            Node::Empty | Node::Leaf { .. } => {
                // Merge the (at most one) existing leaf with the updates and rebuild.
                let mut items: Vec<(Hash, Hash)> =
                    Vec::with_capacity(updates.len().saturating_add(1));
                let existing = match self {
                    Node::Leaf { path, value, .. } => Some((*path, *value)),
                    _ => None,
                };
                let mut existing =
                    existing.filter(|(p, _)| updates.binary_search_by(|u| u.0.cmp(p)).is_err());
                for (path, value) in updates {
                    if let Some(e) = existing.filter(|e| e.0 < *path) {
                        items.push(e);
                        existing = None;
                    }
                    if let Some(v) = value {
                        items.push((*path, *v));
                    }
                }
                items.extend(existing);
                *self = Node::build(depth, &items);
            }
            Node::Internal { left, right, hash } => {
                let split = updates.partition_point(|(p, _)| !bit(p, depth));
                let next = depth.saturating_add(1);
                let (l, r) = updates.split_at(split);
                left.update(next, l);
                right.update(next, r);
                match (&**left, &**right) {
                    (Node::Empty, Node::Empty) => *self = Node::Empty,
                    (Node::Leaf { .. }, Node::Empty) => *self = core::mem::take(&mut **left),
                    (Node::Empty, Node::Leaf { .. }) => *self = core::mem::take(&mut **right),
                    (l, r) => *hash = internal_hash(&l.hash(), &r.hash()),
                }
            }
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

    /// Applies many changes at once (any order; for a path given twice the last one counts),
    /// hashing each changed node once instead of once per change.
    pub fn apply(&mut self, mut updates: Vec<Update>) {
        // Stable sort, then keep the last change of every path.
        updates.sort_by_key(|a| a.0);
        let mut deduped: Vec<Update> = Vec::with_capacity(updates.len());
        for u in updates {
            match deduped.last_mut() {
                Some(last) if last.0 == u.0 => *last = u,
                _ => deduped.push(u),
            }
        }
        self.root.update(0, &deduped);
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
    use umbra_state_tree::{compute_root, key_path, value_hash};

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

    proptest! {
        /// Batches of changes give the root the from-scratch specification gives, and the same
        /// tree as applying them one by one.
        #[test]
        fn batched_updates_match_the_reference(
            batches in proptest::collection::vec(
                proptest::collection::vec((any::<bool>(), 0u8..40, any::<u8>()), 0..20),
                0..12,
            )
        ) {
            let mut tree = MerkleMap::default();
            let mut one_by_one = MerkleMap::default();
            let mut model = BTreeMap::new();
            for batch in batches {
                let mut updates = Vec::new();
                for (set, k, v) in batch {
                    let key = vec![k];
                    if set {
                        one_by_one.set(&key, &[v]);
                        model.insert(key.clone(), vec![v]);
                        updates.push((key_path(&key), Some(value_hash(&[v]))));
                    } else {
                        one_by_one.remove(&key);
                        model.remove(&key);
                        updates.push((key_path(&key), None));
                    }
                }
                tree.apply(updates);
                prop_assert_eq!(tree.root(), compute_root(model.clone()));
                prop_assert_eq!(&tree, &one_by_one);
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
