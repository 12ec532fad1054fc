//! The incremental state tree: a compressed binary sparse Merkle tree persisted node by node
//! in the [`TREE_NODES`] table, keyed by position and overwritten in place.
//!
//! A batch of changes is sorted by path and applied in one recursive pass from the root, so a
//! node shared by several changed paths is read and written once. Only nodes on changed paths
//! are touched (plus, when a deletion empties one side of an internal node, one read of the
//! other side to see whether a lone leaf must move up): the cost of a batch grows with the
//! number of changed keys times the tree depth (about `log2` of the state size), never with the
//! state size itself.

use std::collections::BTreeMap;

use redb::{ReadableTable, Table};

use crate::error::{Result, StorageError};
use crate::hashing::{bit, key_path, value_hash, Hash, EMPTY_HASH, PATH_BITS};
use crate::node::{position, with_bit_set, Node, Position};
use crate::proof::{ProofTerminal, StateProof};
use crate::tables::{access, TREE_NODES};

/// The writable node table.
pub(crate) type NodeTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// One deduplicated change of a batch, with its tree path and value hash precomputed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreparedChange<'a> {
    /// Storage key.
    pub(crate) key: &'a [u8],
    /// New value, `None` to delete.
    pub(crate) value: Option<&'a [u8]>,
    /// `key_path(key)`.
    pub(crate) path: Hash,
    /// `value_hash(value)`, `None` to delete.
    pub(crate) value_hash: Option<Hash>,
}

/// Deduplicates a batch (the last change of a key wins) and sorts it by tree path.
pub(crate) fn prepare_changes(
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<Vec<PreparedChange<'_>>> {
    let last: BTreeMap<&[u8], Option<&[u8]>> =
        changes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
    let mut prepared: Vec<PreparedChange<'_>> = last
        .into_iter()
        .map(|(key, value)| PreparedChange {
            key,
            value,
            path: key_path(key),
            value_hash: value.map(value_hash),
        })
        .collect();
    prepared.sort_unstable_by_key(|change| change.path);
    if prepared.windows(2).any(|w| w[0].path == w[1].path) {
        return Err(StorageError::PathCollision);
    }
    Ok(prepared)
}

/// Counts of node-table operations done by one batch update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UpdateStats {
    /// Nodes read.
    pub(crate) reads: usize,
    /// Nodes inserted or overwritten.
    pub(crate) writes: usize,
    /// Nodes removed.
    pub(crate) removes: usize,
}

/// Applies a prepared batch (sorted by path, unique paths) to the tree and returns the new root.
pub(crate) fn apply_changes(
    nodes: &mut NodeTable<'_>,
    changes: &[PreparedChange<'_>],
) -> Result<(Hash, UpdateStats)> {
    let mut updater = Updater { nodes, stats: UpdateStats::default() };
    let pos = position(0, &EMPTY_HASH);
    let old = updater.read(&pos)?;
    let new = updater.update(0, &EMPTY_HASH, old.unwrap_or(Node::Empty), changes)?;
    updater.settle(&Slot::Changed { pos, old, new })?;
    Ok((new.hash(), updater.stats))
}

/// Reads the node stored at `pos`, if any.
pub(crate) fn read_node<T: ReadableTable<&'static [u8], &'static [u8]>>(
    nodes: &T,
    pos: &Position,
) -> Result<Option<Node>> {
    nodes
        .get(&pos[..])
        .map_err(access("get", TREE_NODES))?
        .map(|guard| Node::decode(guard.value()))
        .transpose()
}

/// Root hash of the stored tree ([`EMPTY_HASH`] when the state is empty).
pub(crate) fn root_hash<T: ReadableTable<&'static [u8], &'static [u8]>>(nodes: &T) -> Result<Hash> {
    Ok(read_node(nodes, &position(0, &EMPTY_HASH))?.map_or(EMPTY_HASH, |node| node.hash()))
}

/// Builds the inclusion or non-inclusion proof of `key` from the stored tree.
pub(crate) fn prove<T: ReadableTable<&'static [u8], &'static [u8]>>(
    nodes: &T,
    key: &[u8],
) -> Result<StateProof> {
    let path = key_path(key);
    let mut siblings = Vec::new();
    let mut prefix = EMPTY_HASH;
    let mut node = read_node(nodes, &position(0, &EMPTY_HASH))?.unwrap_or(Node::Empty);
    loop {
        let depth = siblings.len();
        let (left, right) = match node {
            Node::Empty => return Ok(StateProof { siblings, terminal: ProofTerminal::Empty }),
            Node::Leaf { key_path, value_hash } => {
                let terminal = ProofTerminal::Leaf { key_path, value_hash };
                return Ok(StateProof { siblings, terminal });
            }
            Node::Internal { left, right } => (left, right),
        };
        if depth >= PATH_BITS {
            return Err(internal_too_deep());
        }
        let (next, sibling) = if bit(&path, depth) {
            prefix = with_bit_set(&prefix, depth);
            (right, left)
        } else {
            (left, right)
        };
        siblings.push(sibling);
        node = if next == EMPTY_HASH {
            Node::Empty
        } else {
            load_child(nodes, &position(depth + 1, &prefix), &next)?
        };
    }
}

/// Reads a child a parent refers to by `hash`, checking it is there and matches.
fn load_child<T: ReadableTable<&'static [u8], &'static [u8]>>(
    nodes: &T,
    pos: &Position,
    hash: &Hash,
) -> Result<Node> {
    let node = read_node(nodes, pos)?.ok_or_else(|| StorageError::Corrupt {
        what: "state tree",
        detail: format!("internal node refers to a missing child at depth {}", depth_of(pos)),
    })?;
    if node.hash() != *hash {
        return Err(StorageError::Corrupt {
            what: "state tree",
            detail: format!("child at depth {} does not match its parent's hash", depth_of(pos)),
        });
    }
    Ok(node)
}

fn depth_of(pos: &Position) -> u16 {
    u16::from_be_bytes([pos[0], pos[1]])
}

fn internal_too_deep() -> StorageError {
    StorageError::Corrupt {
        what: "state tree",
        detail: "internal node at the last path bit".to_owned(),
    }
}

/// What a parent knows about one of its children before recursing.
enum Child {
    /// Empty subtree; nothing stored at the child position.
    Absent,
    /// A leaf being pushed down from the parent's position; not stored at the child position.
    Virtual(Node),
    /// A node with this hash is stored at the child position.
    Stored(Hash),
}

/// A child position after the batch was applied below it.
enum Slot {
    /// Stored at `pos`, untouched by the batch and not read.
    Untouched { pos: Position, hash: Hash },
    /// `old` is what the table holds at `pos` (not yet rewritten), `new` the node belonging there.
    Changed { pos: Position, old: Option<Node>, new: Node },
}

impl Slot {
    fn is_empty(&self) -> bool {
        match self {
            Slot::Untouched { hash, .. } => *hash == EMPTY_HASH,
            Slot::Changed { new, .. } => *new == Node::Empty,
        }
    }

    fn hash(&self) -> Hash {
        match self {
            Slot::Untouched { hash, .. } => *hash,
            Slot::Changed { new, .. } => new.hash(),
        }
    }

    fn lone_leaf(&self) -> Option<Node> {
        match self {
            Slot::Changed { new: leaf @ Node::Leaf { .. }, .. } => Some(*leaf),
            _ => None,
        }
    }
}

/// One batch update in progress.
struct Updater<'a, 't> {
    nodes: &'a mut NodeTable<'t>,
    stats: UpdateStats,
}

impl Updater<'_, '_> {
    fn read(&mut self, pos: &Position) -> Result<Option<Node>> {
        self.stats.reads += 1;
        read_node(&*self.nodes, pos)
    }

    fn remove(&mut self, pos: &Position) -> Result<()> {
        self.stats.removes += 1;
        self.nodes.remove(&pos[..]).map_err(access("remove", TREE_NODES))?;
        Ok(())
    }

    fn insert(&mut self, pos: &Position, node: &Node) -> Result<()> {
        if let Some(bytes) = node.encode() {
            self.stats.writes += 1;
            self.nodes.insert(&pos[..], &bytes[..]).map_err(access("insert", TREE_NODES))?;
        }
        Ok(())
    }

    /// Returns the node that now belongs at (`depth`, `prefix`), which held `existing`, after
    /// applying `changes` (all under this position). Every position below is written; the
    /// position itself is left to the caller, which may move a lone leaf further up.
    fn update(
        &mut self,
        depth: usize,
        prefix: &Hash,
        existing: Node,
        changes: &[PreparedChange<'_>],
    ) -> Result<Node> {
        if changes.is_empty() {
            return Ok(existing);
        }
        match existing {
            Node::Empty => {
                let mut inserts = changes.iter().filter_map(|c| c.value_hash.map(|v| (c.path, v)));
                match (inserts.next(), inserts.next()) {
                    (None, _) => Ok(Node::Empty),
                    (Some((key_path, value_hash)), None) => Ok(Node::Leaf { key_path, value_hash }),
                    _ => self.split(depth, prefix, Child::Absent, Child::Absent, changes),
                }
            }
            Node::Leaf { key_path, .. } => {
                if let [only] = changes {
                    if only.path == key_path {
                        return Ok(match only.value_hash {
                            Some(value_hash) => Node::Leaf { key_path, value_hash },
                            None => Node::Empty,
                        });
                    }
                }
                if changes.iter().all(|c| c.value_hash.is_none() && c.path != key_path) {
                    // Only deletions of absent keys.
                    return Ok(existing);
                }
                let leaf = Child::Virtual(existing);
                if bit(&key_path, depth) {
                    self.split(depth, prefix, Child::Absent, leaf, changes)
                } else {
                    self.split(depth, prefix, leaf, Child::Absent, changes)
                }
            }
            Node::Internal { left, right } => {
                let child = |hash: Hash| {
                    if hash == EMPTY_HASH {
                        Child::Absent
                    } else {
                        Child::Stored(hash)
                    }
                };
                self.split(depth, prefix, child(left), child(right), changes)
            }
        }
    }

    /// Recurses into both children of (`depth`, `prefix`) and joins the results.
    fn split(
        &mut self,
        depth: usize,
        prefix: &Hash,
        left: Child,
        right: Child,
        changes: &[PreparedChange<'_>],
    ) -> Result<Node> {
        if depth >= PATH_BITS {
            return Err(internal_too_deep());
        }
        let mid = changes.partition_point(|c| !bit(&c.path, depth));
        let (left_changes, right_changes) = changes.split_at(mid);
        let right_prefix = with_bit_set(prefix, depth);
        let left = self.descend(depth + 1, prefix, left, left_changes)?;
        let right = self.descend(depth + 1, &right_prefix, right, right_changes)?;
        self.join(left, right)
    }

    fn descend(
        &mut self,
        depth: usize,
        prefix: &Hash,
        child: Child,
        changes: &[PreparedChange<'_>],
    ) -> Result<Slot> {
        let pos = position(depth, prefix);
        Ok(match child {
            Child::Absent => Slot::Changed {
                pos,
                old: None,
                new: self.update(depth, prefix, Node::Empty, changes)?,
            },
            Child::Virtual(node) => {
                Slot::Changed { pos, old: None, new: self.update(depth, prefix, node, changes)? }
            }
            Child::Stored(hash) if changes.is_empty() => Slot::Untouched { pos, hash },
            Child::Stored(hash) => {
                self.stats.reads += 1;
                let node = load_child(&*self.nodes, &pos, &hash)?;
                Slot::Changed {
                    pos,
                    old: Some(node),
                    new: self.update(depth, prefix, node, changes)?,
                }
            }
        })
    }

    /// Reads an untouched slot so its kind is known.
    fn materialize(&mut self, slot: Slot) -> Result<Slot> {
        match slot {
            Slot::Untouched { pos, hash } => {
                self.stats.reads += 1;
                let node = load_child(&*self.nodes, &pos, &hash)?;
                Ok(Slot::Changed { pos, old: Some(node), new: node })
            }
            changed => Ok(changed),
        }
    }

    /// Node for the parent of two recomputed children, writing the children where they stay.
    fn join(&mut self, left: Slot, right: Slot) -> Result<Node> {
        let (left, right) = match (left.is_empty(), right.is_empty()) {
            (true, true) => {
                self.vacate(&left)?;
                self.vacate(&right)?;
                return Ok(Node::Empty);
            }
            (true, false) => (left, self.materialize(right)?),
            (false, true) => (self.materialize(left)?, right),
            (false, false) => (left, right),
        };
        let lone_leaf = if left.is_empty() {
            right.lone_leaf()
        } else if right.is_empty() {
            left.lone_leaf()
        } else {
            None
        };
        if let Some(leaf) = lone_leaf {
            // A subtree with one key is a leaf at its top: move it up.
            self.vacate(&left)?;
            self.vacate(&right)?;
            return Ok(leaf);
        }
        let node = Node::Internal { left: left.hash(), right: right.hash() };
        self.settle(&left)?;
        self.settle(&right)?;
        Ok(node)
    }

    /// Clears a slot's position (its node moved up or vanished).
    fn vacate(&mut self, slot: &Slot) -> Result<()> {
        match slot {
            Slot::Untouched { pos, .. } | Slot::Changed { pos, old: Some(_), .. } => {
                self.remove(pos)
            }
            Slot::Changed { old: None, .. } => Ok(()),
        }
    }

    /// Makes the table hold the slot's new node at its position, writing only on change.
    fn settle(&mut self, slot: &Slot) -> Result<()> {
        match slot {
            Slot::Untouched { .. } => Ok(()),
            Slot::Changed { pos, old, new: Node::Empty } => match old {
                Some(_) => self.remove(pos),
                None => Ok(()),
            },
            Slot::Changed { pos, old, new } => {
                if old.as_ref() == Some(new) {
                    Ok(())
                } else {
                    self.insert(pos, new)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
