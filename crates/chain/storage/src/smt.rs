//! The incremental state tree: the compressed binary sparse Merkle tree stored as chunks of
//! [`CHUNK_LEVELS`] binary levels (see [`crate::chunk`]) in the [`TREE_CHUNKS`] table, keyed by
//! position and overwritten in place.
//!
//! A batch of changes is sorted by path and applied in one recursive pass from the root chunk,
//! so a chunk shared by several changed paths is read, rehashed and written once. Only chunks
//! on changed paths are touched: the cost of a batch grows with the number of changed keys
//! times the number of chunks on a path (about `log16` of the state size), never with the state
//! size itself. A chunk is rewritten only if one of its slots changed.
//!
//! The top chunks (depth ≤ [`TOP_DEPTH`]) of the committed tree are also kept in a
//! [`ChunkCache`] with their binary node hashes, so a block reads and rehashes only the chunks
//! below them.

use std::collections::{BTreeMap, HashMap};

use redb::{ReadableTable, Table};

use crate::chunk::{
    node_level, slot_index, slot_prefix, slots_below, Chunk, ChunkHashes, ChunkKey, Slot,
    CHUNK_LEVELS, SLOTS, TOP_DEPTH,
};
use crate::error::{Result, StorageError};
use crate::hashing::{bit, key_path, value_hash, Hash, EMPTY_HASH, PATH_BITS};
use crate::proof::{ProofTerminal, StateProof};
use crate::tables::{access, TREE_CHUNKS};

/// The writable chunk table.
pub(crate) type ChunkTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

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

/// Counts of chunk operations done by one batch update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UpdateStats {
    /// Chunks read from the table.
    pub(crate) reads: usize,
    /// Chunks taken from the cache instead.
    pub(crate) cached: usize,
    /// Chunks inserted or overwritten.
    pub(crate) writes: usize,
    /// Chunks removed.
    pub(crate) removes: usize,
}

/// A chunk with its binary node hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CachedChunk {
    pub(crate) chunk: Chunk,
    pub(crate) hashes: ChunkHashes,
}

/// The committed tree's chunks at depth ≤ [`TOP_DEPTH`] (those seen so far), shared by
/// the clones of a store. Only a successful commit changes it, with the updates its writer
/// collected, so it always equals the committed table where it has an entry.
#[derive(Debug, Default)]
pub(crate) struct ChunkCache {
    chunks: HashMap<ChunkKey, Box<CachedChunk>>,
}

/// Changes to make to the [`ChunkCache`] once a block is committed: `None` removes.
pub(crate) type CacheUpdates = Vec<(ChunkKey, Option<Box<CachedChunk>>)>;

impl ChunkCache {
    /// Applies a committed block's updates.
    pub(crate) fn apply(&mut self, updates: CacheUpdates) {
        for (key, entry) in updates {
            match entry {
                Some(entry) => self.chunks.insert(key, entry),
                None => self.chunks.remove(&key),
            };
        }
    }

    /// Forgets everything (when the committed table may no longer match).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }
}

/// Fills `cache` with the top of the stored tree, reading it top-down and checking each chunk
/// against its parent. Stops quietly at anything damaged: what is not cached is read (and the
/// damage reported) when a block needs it.
pub(crate) fn warm_cache<T: ReadableTable<&'static [u8], &'static [u8]>>(
    chunks: &T,
    cache: &mut ChunkCache,
) {
    let mut pending = vec![(0, EMPTY_HASH, None)];
    while let Some((depth, prefix, expected)) = pending.pop() {
        let Ok(Some(entry)) = read_chunk(chunks, depth, &prefix, expected.as_ref()) else {
            continue;
        };
        if depth + CHUNK_LEVELS <= TOP_DEPTH {
            for (slot, child) in entry.chunk.slots.iter().enumerate() {
                if let Slot::Child(hash) = child {
                    pending.push((
                        depth + CHUNK_LEVELS,
                        slot_prefix(&prefix, depth, slot),
                        Some(*hash),
                    ));
                }
            }
        }
        cache.chunks.insert(ChunkKey::new(depth, &prefix), Box::new(entry));
    }
}

/// Applies a prepared batch (sorted by path, unique paths) to the tree and returns the new root,
/// with the cache updates to apply if the transaction commits.
pub(crate) fn apply_changes(
    chunks: &mut ChunkTable<'_>,
    cache: &ChunkCache,
    changes: &[PreparedChange<'_>],
) -> Result<(Hash, UpdateStats, CacheUpdates)> {
    let mut updater =
        Updater { chunks, cache, stats: UpdateStats::default(), cache_updates: Vec::new() };
    let root = updater.load(0, &EMPTY_HASH, None)?.unwrap_or_else(Loaded::absent);
    let root = if changes.is_empty() {
        root.entry.hashes.root()
    } else {
        updater.update_chunk(0, &EMPTY_HASH, root, changes)?.hash()
    };
    Ok((root, updater.stats, updater.cache_updates))
}

/// Root hash of the stored tree ([`EMPTY_HASH`] when the state is empty).
pub(crate) fn root_hash<T: ReadableTable<&'static [u8], &'static [u8]>>(
    chunks: &T,
) -> Result<Hash> {
    Ok(read_chunk(chunks, 0, &EMPTY_HASH, None)?.map_or(EMPTY_HASH, |c| c.hashes.root()))
}

/// Builds the inclusion or non-inclusion proof of `key` from the stored tree.
pub(crate) fn prove<T: ReadableTable<&'static [u8], &'static [u8]>>(
    chunks: &T,
    key: &[u8],
) -> Result<StateProof> {
    prove_path(chunks, &key_path(key))
}

/// Builds the inclusion or non-inclusion proof of the key with tree path `path`.
pub(crate) fn prove_path<T: ReadableTable<&'static [u8], &'static [u8]>>(
    chunks: &T,
    path: &Hash,
) -> Result<StateProof> {
    let mut siblings = Vec::new();
    let mut depth = 0;
    let mut prefix = EMPTY_HASH;
    let mut expected = None;
    loop {
        let Some(CachedChunk { chunk, hashes }) =
            read_chunk(chunks, depth, &prefix, expected.as_ref())?
        else {
            return Ok(StateProof { siblings, terminal: ProofTerminal::Empty });
        };
        // Walk the chunk's binary nodes down the path.
        let mut i = 1;
        loop {
            match hashes.node_count(i) {
                0 => return Ok(StateProof { siblings, terminal: ProofTerminal::Empty }),
                1 => {
                    let terminal = slots_below(i)
                        .find_map(|s| match chunk.slots[s] {
                            Slot::Leaf { key_path, value_hash } => {
                                Some(ProofTerminal::Leaf { key_path, value_hash })
                            }
                            _ => None,
                        })
                        .ok_or_else(|| corrupt("a one-key subtree holds no leaf"))?;
                    return Ok(StateProof { siblings, terminal });
                }
                _ => {}
            }
            if i >= SLOTS {
                break;
            }
            let (next, sibling) = if bit(path, depth + node_level(i)) {
                (2 * i + 1, 2 * i)
            } else {
                (2 * i, 2 * i + 1)
            };
            siblings.push(hashes.node_hash(sibling));
            i = next;
        }
        let slot = i - SLOTS;
        let Slot::Child(hash) = chunk.slots[slot] else {
            return Err(corrupt("a two-key slot is not a child chunk"));
        };
        prefix = slot_prefix(&prefix, depth, slot);
        depth += CHUNK_LEVELS;
        if depth >= PATH_BITS {
            return Err(too_deep());
        }
        expected = Some(hash);
    }
}

/// Reads the chunk at (`depth`, `prefix`) and computes its node hashes, checking it is well
/// formed and, when `expected` (its parent's slot) is given, present and matching it.
fn read_chunk<T: ReadableTable<&'static [u8], &'static [u8]>>(
    chunks: &T,
    depth: usize,
    prefix: &Hash,
    expected: Option<&Hash>,
) -> Result<Option<CachedChunk>> {
    let key = ChunkKey::new(depth, prefix);
    let Some(guard) = chunks.get(key.as_bytes()).map_err(access("get", TREE_CHUNKS))? else {
        return match expected {
            None => Ok(None),
            Some(_) => Err(StorageError::Corrupt {
                what: "state tree",
                detail: format!("a chunk refers to a missing child chunk at depth {depth}"),
            }),
        };
    };
    let chunk = Chunk::decode(guard.value())?;
    drop(guard);
    chunk.check_leaf_paths(depth, prefix)?;
    let hashes = ChunkHashes::compute(&chunk);
    if depth > 0 && hashes.count() < 2 {
        return Err(StorageError::Corrupt {
            what: "state tree",
            detail: format!("chunk at depth {depth} holds fewer than two keys"),
        });
    }
    if let Some(expected) = expected {
        if hashes.root() != *expected {
            return Err(StorageError::Corrupt {
                what: "state tree",
                detail: format!("chunk at depth {depth} does not match its parent's hash"),
            });
        }
    }
    Ok(Some(CachedChunk { chunk, hashes }))
}

fn corrupt(detail: &str) -> StorageError {
    StorageError::Corrupt { what: "state tree", detail: detail.to_owned() }
}

fn too_deep() -> StorageError {
    corrupt("two keys below the last path bit")
}

/// The one non-empty slot of a chunk holding at most one key ([`Slot::Empty`] if none).
fn lone_slot(chunk: &Chunk) -> Slot {
    chunk.slots.iter().copied().find(|slot| *slot != Slot::Empty).unwrap_or(Slot::Empty)
}

/// A chunk being updated (boxed: the recursion may go 64 chunks deep).
struct Loaded {
    entry: Box<CachedChunk>,
    /// The table holds this chunk at its position.
    stored: bool,
    /// It came from the cache, which therefore already holds it.
    cached: bool,
}

impl Loaded {
    /// A position without a stored chunk.
    fn absent() -> Loaded {
        let entry = Box::new(CachedChunk { chunk: Chunk::EMPTY, hashes: ChunkHashes::EMPTY });
        Loaded { entry, stored: false, cached: false }
    }
}

/// One batch update in progress.
struct Updater<'a, 't> {
    chunks: &'a mut ChunkTable<'t>,
    cache: &'a ChunkCache,
    stats: UpdateStats,
    cache_updates: CacheUpdates,
}

impl Updater<'_, '_> {
    /// The chunk at (`depth`, `prefix`), from the cache or the table (see [`read_chunk`]).
    fn load(
        &mut self,
        depth: usize,
        prefix: &Hash,
        expected: Option<&Hash>,
    ) -> Result<Option<Loaded>> {
        if depth <= TOP_DEPTH {
            if let Some(entry) = self.cache.chunks.get(&ChunkKey::new(depth, prefix)) {
                if expected.is_none_or(|hash| *hash == entry.hashes.root()) {
                    self.stats.cached += 1;
                    return Ok(Some(Loaded { entry: entry.clone(), stored: true, cached: true }));
                }
            }
        }
        self.stats.reads += 1;
        Ok(read_chunk(&*self.chunks, depth, prefix, expected)?.map(|entry| Loaded {
            entry: Box::new(entry),
            stored: true,
            cached: false,
        }))
    }

    /// Applies `changes` (all below this chunk's position, sorted by path) to the chunk at
    /// (`depth`, `prefix`), writing it and everything below, and returns what its position
    /// holds now: [`Slot::Empty`], the lone remaining [`Slot::Leaf`] (which moves up into the
    /// parent's slot; the root chunk stays stored with it) or a [`Slot::Child`].
    fn update_chunk(
        &mut self,
        depth: usize,
        prefix: &Hash,
        loaded: Loaded,
        changes: &[PreparedChange<'_>],
    ) -> Result<Slot> {
        if depth >= PATH_BITS {
            return Err(too_deep());
        }
        let Loaded { mut entry, stored, cached } = loaded;
        let CachedChunk { chunk, hashes } = &mut *entry;
        let mut dirty = 0u64;
        let mut rest = changes;
        while let Some(first) = rest.first() {
            let slot = slot_index(&first.path, depth);
            let end = rest.partition_point(|c| slot_index(&c.path, depth) <= slot);
            let (group, tail) = rest.split_at(end);
            rest = tail;
            let old = chunk.slots[slot];
            let child_prefix = slot_prefix(prefix, depth, slot);
            let new = self.update_slot(depth + CHUNK_LEVELS, &child_prefix, old, group)?;
            if new != old {
                chunk.slots[slot] = new;
                dirty |= 1 << slot;
            }
        }
        hashes.update(chunk, dirty);
        let key = ChunkKey::new(depth, prefix);
        let count = hashes.count();
        if count == 0 || (count == 1 && depth > 0) {
            // At most one key left: no chunk here.
            if stored {
                self.remove(&key)?;
            }
            return Ok(lone_slot(chunk));
        }
        let slot = if count == 1 { lone_slot(chunk) } else { Slot::Child(hashes.root()) };
        let changed = dirty != 0 || !stored;
        if changed {
            self.stats.writes += 1;
            self.chunks
                .insert(key.as_bytes(), chunk.encode().as_slice())
                .map_err(access("insert", TREE_CHUNKS))?;
        }
        if depth <= TOP_DEPTH && (changed || !cached) {
            self.cache_updates.push((key, Some(entry)));
        }
        Ok(slot)
    }

    /// Applies `changes` (all below the slot's position, sorted by path) to the subtree at the
    /// slot (`depth`, `prefix`) that held `old`; returns what the slot holds now.
    fn update_slot(
        &mut self,
        depth: usize,
        prefix: &Hash,
        old: Slot,
        changes: &[PreparedChange<'_>],
    ) -> Result<Slot> {
        match old {
            Slot::Child(hash) => {
                if depth >= PATH_BITS {
                    return Err(too_deep());
                }
                let loaded = self
                    .load(depth, prefix, Some(&hash))?
                    .ok_or_else(|| corrupt("missing child chunk"))?;
                self.update_chunk(depth, prefix, loaded, changes)
            }
            Slot::Empty => {
                let mut inserts = changes.iter().filter_map(|c| {
                    c.value_hash.map(|value_hash| Slot::Leaf { key_path: c.path, value_hash })
                });
                match (inserts.next(), inserts.next()) {
                    (None, _) => Ok(Slot::Empty),
                    (Some(leaf), None) => Ok(leaf),
                    _ => self.update_chunk(depth, prefix, Loaded::absent(), changes),
                }
            }
            Slot::Leaf { key_path, .. } => {
                // Keys the slot will hold: the leaf unless deleted, and every other insert.
                let mut survivor = Some(old);
                let mut first_other = None;
                let mut others = 0usize;
                for change in changes {
                    if change.path == key_path {
                        survivor =
                            change.value_hash.map(|value_hash| Slot::Leaf { key_path, value_hash });
                    } else if let Some(value_hash) = change.value_hash {
                        others += 1;
                        first_other.get_or_insert(Slot::Leaf { key_path: change.path, value_hash });
                    }
                }
                match (survivor, first_other) {
                    (survivor, None) => Ok(survivor.unwrap_or(Slot::Empty)),
                    (None, Some(other)) if others == 1 => Ok(other),
                    _ => {
                        // Two or more keys: push the old leaf down into a new chunk here.
                        if depth >= PATH_BITS {
                            return Err(too_deep());
                        }
                        let mut loaded = Loaded::absent();
                        let CachedChunk { chunk, hashes } = &mut *loaded.entry;
                        let slot = slot_index(&key_path, depth);
                        chunk.slots[slot] = old;
                        hashes.update(chunk, 1 << slot);
                        self.update_chunk(depth, prefix, loaded, changes)
                    }
                }
            }
        }
    }

    fn remove(&mut self, key: &ChunkKey) -> Result<()> {
        self.stats.removes += 1;
        self.chunks.remove(key.as_bytes()).map_err(access("remove", TREE_CHUNKS))?;
        if key.depth() <= TOP_DEPTH {
            self.cache_updates.push((*key, None));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
