//! Chunks: the records the state tree is stored in.
//!
//! The binary tree is cut into chunks of [`CHUNK_LEVELS`] binary levels. The chunk at depth `d`
//! (a multiple of [`CHUNK_LEVELS`]) with path prefix `p` covers the binary subtree rooted at
//! (`d`, `p`) down to depth `d + CHUNK_LEVELS`, where it has [`SLOTS`] slots, one per
//! continuation of `p` by [`CHUNK_LEVELS`] bits. A slot holds what sits at its position:
//! - [`Slot::Empty`]: no key below it;
//! - [`Slot::Leaf`]: exactly one key below it (stored inline: its path and value hash);
//! - [`Slot::Child`]: two or more keys below it, stored in the chunk at the slot's position,
//!   whose subtree hash the slot holds.
//!
//! The binary nodes between a chunk's top and its slots are not stored: [`ChunkHashes`]
//! recomputes them with the tree's rules (a subtree with one key hashes as that key's leaf, an
//! empty one as [`EMPTY_HASH`]), so the tree's root hash is that of the compressed binary sparse
//! Merkle tree described in the crate docs, whatever the chunk size.
//!
//! A chunk exists exactly where a subtree holds two or more keys, except the root chunk (depth
//! 0), which exists whenever the state is not empty.

use crate::error::{Result, StorageError};
use crate::hashing::{bit, internal_hash, leaf_hash, Hash, EMPTY_HASH, PATH_BITS};

/// Binary levels per chunk.
pub(crate) const CHUNK_LEVELS: usize = 4;

/// Slots per chunk: one per continuation of the chunk's prefix by [`CHUNK_LEVELS`] bits.
pub(crate) const SLOTS: usize = 1 << CHUNK_LEVELS;

/// Bytes of one slot bitmap in the stored form.
const BITMAP_LEN: usize = SLOTS.div_ceil(8);

// Chunks tile the 256-bit paths exactly, and a slot bitmap fits a u64.
const _: () = assert!(PATH_BITS.is_multiple_of(CHUNK_LEVELS) && CHUNK_LEVELS >= 1 && SLOTS <= 64);

/// Greatest length of a chunk key: the region tag, 32 prefix bytes and the depth byte.
const MAX_KEY_LEN: usize = 34;

/// Chunks at this depth or above make the tree's top: stored together (see [`ChunkKey`]) and
/// kept in memory across blocks. With 4-level chunks that is at most `1 + 16 + 256 + 4096`
/// chunks of about 2 KiB in memory (with their node hashes); every block of a few hundred
/// changes rewrites most of the first three levels.
pub(crate) const TOP_DEPTH: usize = 12;

/// First byte of the keys of chunks below [`TOP_DEPTH`]: above every top depth code.
const DEEP_TAG: u8 = 0xff;

const _: () = assert!(TOP_DEPTH / CHUNK_LEVELS < DEEP_TAG as usize);

/// What sits at one slot of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// No key below the slot.
    Empty,
    /// Exactly one key below the slot.
    Leaf {
        /// Path of the key.
        key_path: Hash,
        /// Hash of its value.
        value_hash: Hash,
    },
    /// Two or more keys below the slot, in the chunk stored at the slot's position; holds that
    /// subtree's hash.
    Child(Hash),
}

impl Slot {
    /// Hash of the subtree at the slot.
    pub(crate) fn hash(&self) -> Hash {
        self.hash_and_count().0
    }

    /// Hash of the subtree at the slot, and how many keys it holds (0, 1 or 2 for "two or
    /// more").
    fn hash_and_count(&self) -> (Hash, u8) {
        match self {
            Slot::Empty => (EMPTY_HASH, 0),
            Slot::Leaf { key_path, value_hash } => (leaf_hash(key_path, value_hash), 1),
            Slot::Child(hash) => (*hash, 2),
        }
    }
}

/// The slots of one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Slot `s` is the continuation of the chunk's prefix by the [`CHUNK_LEVELS`] bits of `s`,
    /// most significant first.
    pub(crate) slots: [Slot; SLOTS],
}

impl Chunk {
    /// A chunk with every slot empty (what a position without a stored chunk holds).
    pub(crate) const EMPTY: Chunk = Chunk { slots: [Slot::Empty; SLOTS] };

    /// Stored form: present bitmap ‖ leaf bitmap (bit `s` = slot `s`, big-endian) ‖ for each
    /// present slot in order, `key_path ‖ value_hash` (leaf) or the child hash.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut present = 0u64;
        let mut leaves = 0u64;
        let mut len = 2 * BITMAP_LEN;
        for (s, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Empty => {}
                Slot::Leaf { .. } => {
                    present |= 1 << s;
                    leaves |= 1 << s;
                    len += 64;
                }
                Slot::Child(_) => {
                    present |= 1 << s;
                    len += 32;
                }
            }
        }
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&present.to_be_bytes()[8 - BITMAP_LEN..]);
        out.extend_from_slice(&leaves.to_be_bytes()[8 - BITMAP_LEN..]);
        for slot in &self.slots {
            match slot {
                Slot::Empty => {}
                Slot::Leaf { key_path, value_hash } => {
                    out.extend_from_slice(key_path);
                    out.extend_from_slice(value_hash);
                }
                Slot::Child(hash) => out.extend_from_slice(hash),
            }
        }
        out
    }

    /// Parses a stored chunk, rejecting anything this crate would not have written.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Chunk> {
        let corrupt = |detail: String| StorageError::Corrupt { what: "state tree chunk", detail };
        if bytes.len() < 2 * BITMAP_LEN {
            return Err(corrupt(format!("length {} is too short", bytes.len())));
        }
        let bitmap = |raw: &[u8]| {
            let mut be = [0u8; 8];
            be[8 - BITMAP_LEN..].copy_from_slice(raw);
            u64::from_be_bytes(be)
        };
        let present = bitmap(&bytes[..BITMAP_LEN]);
        let leaves = bitmap(&bytes[BITMAP_LEN..2 * BITMAP_LEN]);
        let all = if SLOTS == 64 { u64::MAX } else { (1u64 << SLOTS) - 1 };
        if present == 0 || present & !all != 0 || leaves & !present != 0 {
            return Err(corrupt(format!("bad slot bitmaps {present:#x}/{leaves:#x}")));
        }
        let expected =
            2 * BITMAP_LEN + 32 * present.count_ones() as usize + 32 * leaves.count_ones() as usize;
        if bytes.len() != expected {
            return Err(corrupt(format!("length {} instead of {expected}", bytes.len())));
        }
        let mut chunk = Chunk::EMPTY;
        let mut rest = &bytes[2 * BITMAP_LEN..];
        let mut take = || {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&rest[..32]);
            rest = &rest[32..];
            hash
        };
        for (s, slot) in chunk.slots.iter_mut().enumerate() {
            if present & (1 << s) == 0 {
                continue;
            }
            *slot = if leaves & (1 << s) != 0 {
                let key_path = take();
                Slot::Leaf { key_path, value_hash: take() }
            } else {
                Slot::Child(take())
            };
        }
        Ok(chunk)
    }

    /// Checks that every leaf's path continues the prefix of the slot it sits in.
    pub(crate) fn check_leaf_paths(&self, depth: usize, prefix: &Hash) -> Result<()> {
        for (s, slot) in self.slots.iter().enumerate() {
            if let Slot::Leaf { key_path, .. } = slot {
                if !shares_prefix(key_path, &slot_prefix(prefix, depth, s), depth + CHUNK_LEVELS) {
                    return Err(StorageError::Corrupt {
                        what: "state tree",
                        detail: format!("leaf in a chunk at depth {depth} is off its path"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The binary nodes of a chunk, from its top (index 1) down to its slots (indices
/// `SLOTS..2 * SLOTS`), heap-ordered: node `i` has children `2i` (bit 0) and `2i + 1` (bit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChunkHashes {
    /// Subtree hash of each node (index 0 unused).
    hashes: [Hash; 2 * SLOTS],
    /// Keys below each node: 0, 1 or 2 for "two or more" (index 0 unused).
    counts: [u8; 2 * SLOTS],
}

impl ChunkHashes {
    /// Hashes of an all-empty chunk.
    pub(crate) const EMPTY: ChunkHashes =
        ChunkHashes { hashes: [EMPTY_HASH; 2 * SLOTS], counts: [0; 2 * SLOTS] };

    /// Computes every node of `chunk`.
    pub(crate) fn compute(chunk: &Chunk) -> ChunkHashes {
        let mut out = ChunkHashes::EMPTY;
        for (s, slot) in chunk.slots.iter().enumerate() {
            let (hash, count) = slot.hash_and_count();
            out.hashes[SLOTS + s] = hash;
            out.counts[SLOTS + s] = count;
        }
        for i in (1..SLOTS).rev() {
            out.join(i);
        }
        out
    }

    /// Recomputes the nodes above the slots in the `dirty` bitmap (bit `s` = slot `s`), which
    /// changed in `chunk` since these hashes were computed.
    pub(crate) fn update(&mut self, chunk: &Chunk, dirty: u64) {
        if dirty == 0 {
            return;
        }
        let mut marked = [false; 2 * SLOTS];
        for (s, slot) in chunk.slots.iter().enumerate() {
            if dirty & (1 << s) != 0 {
                let (hash, count) = slot.hash_and_count();
                self.hashes[SLOTS + s] = hash;
                self.counts[SLOTS + s] = count;
                marked[SLOTS + s] = true;
            }
        }
        for i in (1..SLOTS).rev() {
            if marked[2 * i] || marked[2 * i + 1] {
                self.join(i);
                marked[i] = true;
            }
        }
    }

    /// Node `i` from its two children, with the compressed tree's rules.
    fn join(&mut self, i: usize) {
        let (l, r) = (2 * i, 2 * i + 1);
        let (hash, count) = match (self.counts[l], self.counts[r]) {
            (0, 0) => (EMPTY_HASH, 0),
            // One key below: the node is that key's leaf.
            (0, 1) => (self.hashes[r], 1),
            (1, 0) => (self.hashes[l], 1),
            (cl, cr) => (internal_hash(&self.hashes[l], &self.hashes[r]), (cl + cr).min(2)),
        };
        self.hashes[i] = hash;
        self.counts[i] = count;
    }

    /// Hash of the chunk's subtree.
    pub(crate) fn root(&self) -> Hash {
        self.hashes[1]
    }

    /// Keys in the chunk's subtree: 0, 1 or 2 for "two or more".
    pub(crate) fn count(&self) -> u8 {
        self.counts[1]
    }

    /// Hash of node `i`.
    pub(crate) fn node_hash(&self, i: usize) -> Hash {
        self.hashes[i]
    }

    /// Keys below node `i`: 0, 1 or 2 for "two or more".
    pub(crate) fn node_count(&self, i: usize) -> u8 {
        self.counts[i]
    }
}

/// Whether the first `bits` bits of `a` and `b` agree.
fn shares_prefix(a: &Hash, b: &Hash, bits: usize) -> bool {
    let full = bits.min(PATH_BITS) / 8;
    let rem = bits.min(PATH_BITS) % 8;
    a[..full] == b[..full] && (rem == 0 || (a[full] ^ b[full]) & !(0xffu8 >> rem) == 0)
}

/// Level of heap node `i` within its chunk (0 for the top, [`CHUNK_LEVELS`] for the slots).
pub(crate) fn node_level(i: usize) -> usize {
    (usize::BITS - 1 - i.leading_zeros()) as usize
}

/// Slots below heap node `i`.
pub(crate) fn slots_below(i: usize) -> std::ops::Range<usize> {
    let shift = CHUNK_LEVELS - node_level(i);
    ((i << shift) - SLOTS)..(((i + 1) << shift) - SLOTS)
}

/// Slot of the chunk at `depth` that `path` goes through.
pub(crate) fn slot_index(path: &Hash, depth: usize) -> usize {
    (0..CHUNK_LEVELS).fold(0, |acc, i| (acc << 1) | usize::from(bit(path, depth + i)))
}

/// Prefix of slot `slot` of the chunk at (`depth`, `prefix`): `prefix` with bits
/// `depth..depth + CHUNK_LEVELS` set from `slot`.
pub(crate) fn slot_prefix(prefix: &Hash, depth: usize, slot: usize) -> Hash {
    let mut out = *prefix;
    for i in 0..CHUNK_LEVELS {
        let index = depth + i;
        let set = (slot >> (CHUNK_LEVELS - 1 - i)) & 1 == 1;
        if let Some(byte) = out.get_mut(index / 8) {
            let mask = 0x80u8 >> (index % 8);
            if set {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
    out
}

/// Table key of a chunk. Two regions:
/// - top chunks (depth ≤ [`TOP_DEPTH`]): `depth / CHUNK_LEVELS` as one byte, then the
///   `ceil(depth / 8)` bytes of the prefix that hold its first `depth` bits (bits beyond `depth`
///   zeroed). They sort by depth, then prefix: the few thousand chunks that every block
///   rewrites a good part of lie together, on few table pages;
/// - deeper chunks: [`DEEP_TAG`], the prefix bytes as above, then `depth / CHUNK_LEVELS`. They
///   sort depth-first, so a chunk lies next to the chunks below it and a changed key rewrites
///   its deep chunks on few pages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ChunkKey {
    bytes: [u8; MAX_KEY_LEN],
    len: u8,
}

impl ChunkKey {
    /// Key of the chunk at (`depth`, `prefix`).
    pub(crate) fn new(depth: usize, prefix: &Hash) -> ChunkKey {
        let depth = depth.min(PATH_BITS - CHUNK_LEVELS);
        // At most 256 / CHUNK_LEVELS - 1 = 255 chunk depths.
        let code = (depth / CHUNK_LEVELS) as u8;
        let mut bytes = [0u8; MAX_KEY_LEN];
        let top = depth <= TOP_DEPTH;
        bytes[0] = if top { code } else { DEEP_TAG };
        let full = depth / 8;
        let rem = depth % 8;
        bytes[1..1 + full].copy_from_slice(&prefix[..full]);
        let mut len = 1 + full;
        if rem != 0 {
            bytes[len] = prefix[full] & !(0xffu8 >> rem);
            len += 1;
        }
        if !top {
            bytes[len] = code;
            len += 1;
        }
        ChunkKey { bytes, len: len as u8 }
    }

    /// The key's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Depth of the chunk it names.
    pub(crate) fn depth(&self) -> usize {
        depth_of_key(self.as_bytes())
    }
}

/// Depth of the chunk a table key names (see [`ChunkKey`]).
pub(crate) fn depth_of_key(key: &[u8]) -> usize {
    let code = match key {
        [DEEP_TAG, .., code] => *code,
        [code, ..] => *code,
        [] => 0,
    };
    usize::from(code) * CHUNK_LEVELS
}

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkKey(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u8) -> Slot {
        Slot::Leaf { key_path: [n; 32], value_hash: [n + 1; 32] }
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_garbage() {
        let mut chunk = Chunk::EMPTY;
        chunk.slots[0] = leaf(1);
        chunk.slots[5] = Slot::Child([7; 32]);
        chunk.slots[SLOTS - 1] = leaf(9);
        let bytes = chunk.encode();
        assert_eq!(bytes.len(), 2 * BITMAP_LEN + 64 + 32 + 64);
        assert_eq!(Chunk::decode(&bytes).unwrap(), chunk);
        // Empty chunks are never stored; truncated or padded ones are refused.
        assert!(Chunk::decode(&Chunk::EMPTY.encode()).is_err());
        assert!(Chunk::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(matches!(Chunk::decode(&padded), Err(StorageError::Corrupt { .. })));
        // A leaf bit without its present bit.
        let mut bad = bytes;
        bad[2 * BITMAP_LEN - 1] |= 0b10;
        assert!(Chunk::decode(&bad).is_err());
        assert!(Chunk::decode(&[]).is_err());
    }

    #[test]
    fn hashes_follow_the_compressed_tree_rules() {
        let empty = ChunkHashes::compute(&Chunk::EMPTY);
        assert_eq!((empty.root(), empty.count()), (EMPTY_HASH, 0));

        // A lone leaf anywhere is the chunk's hash.
        let mut one = Chunk::EMPTY;
        one.slots[3] = leaf(4);
        let hashes = ChunkHashes::compute(&one);
        assert_eq!(hashes.root(), leaf_hash(&[4; 32], &[5; 32]));
        assert_eq!(hashes.count(), 1);

        // A lone child keeps its internal nodes up to the top.
        let mut child = Chunk::EMPTY;
        child.slots[0] = Slot::Child([8; 32]);
        let mut expected = [8u8; 32];
        for _ in 0..CHUNK_LEVELS {
            expected = internal_hash(&expected, &EMPTY_HASH);
        }
        let hashes = ChunkHashes::compute(&child);
        assert_eq!((hashes.root(), hashes.count()), (expected, 2));

        // Incremental updates agree with recomputation.
        let mut hashes = ChunkHashes::compute(&one);
        let mut two = one.clone();
        two.slots[SLOTS - 1] = leaf(6);
        two.slots[3] = Slot::Empty;
        two.slots[1] = leaf(2);
        hashes.update(&two, (1 << (SLOTS - 1)) | (1 << 3) | (1 << 1));
        assert_eq!(hashes, ChunkHashes::compute(&two));
    }

    #[test]
    fn prefixes_compare_bitwise() {
        let a = [0b1010_1010; 32];
        let mut b = a;
        b[1] ^= 0b0001_0000;
        assert!(shares_prefix(&a, &b, 11));
        assert!(!shares_prefix(&a, &b, 12));
        assert!(shares_prefix(&a, &a, PATH_BITS));
        b = a;
        b[31] ^= 1;
        assert!(shares_prefix(&a, &b, 255) && !shares_prefix(&a, &b, 256));
        for bits in 0..=PATH_BITS {
            let expected = (0..bits).all(|i| bit(&a, i) == bit(&b, i));
            assert_eq!(shares_prefix(&a, &b, bits), expected);
        }
    }

    #[test]
    fn slot_geometry() {
        let mut path = [0u8; 32];
        path[0] = 0b1011_0110;
        path[1] = 0b0100_0000;
        assert_eq!(slot_index(&path, 0), 0b1011 >> (4 - CHUNK_LEVELS.min(4)));
        if CHUNK_LEVELS == 4 {
            assert_eq!(slot_index(&path, 4), 0b0110);
            assert_eq!(slot_index(&path, 8), 0b0100);
            assert_eq!(slot_prefix(&[0u8; 32], 4, 0b0110)[0], 0b0000_0110);
            assert_eq!(slot_prefix(&[0xff; 32], 8, 0)[1], 0b0000_1111);
        }
        assert_eq!(node_level(1), 0);
        assert_eq!(node_level(SLOTS), CHUNK_LEVELS);
        assert_eq!(slots_below(1), 0..SLOTS);
        assert_eq!(slots_below(SLOTS + 3), 3..4);
        assert_eq!(slots_below(2), 0..SLOTS / 2);
        assert_eq!(slots_below(3), SLOTS / 2..SLOTS);
    }

    #[test]
    fn keys_are_short_unique_and_in_two_regions() {
        let path = [0xab; 32];
        let root = ChunkKey::new(0, &path);
        assert_eq!(root.as_bytes(), &[0]);
        assert_eq!(root.depth(), 0);
        let code = |depth: usize| (depth / CHUNK_LEVELS) as u8;
        let k8 = ChunkKey::new(8, &path);
        assert_eq!(k8.as_bytes(), &[code(8), 0xab]);
        assert_eq!(k8.depth(), 8);
        let k12 = ChunkKey::new(12, &path);
        assert_eq!(k12.as_bytes(), &[code(12), 0xab, 0xa0]);
        let k16 = ChunkKey::new(16, &path);
        assert_eq!(k16.as_bytes(), &[DEEP_TAG, 0xab, 0xab, code(16)]);
        assert_eq!(k16.depth(), 16);
        let last = ChunkKey::new(PATH_BITS - CHUNK_LEVELS, &path);
        assert_eq!(last.as_bytes().len(), MAX_KEY_LEN);
        assert_eq!(last.depth(), PATH_BITS - CHUNK_LEVELS);
        // Top chunks sort before deep ones, by depth; deep ones next to their parents.
        assert!(
            ChunkKey::new(TOP_DEPTH, &[0xff; 32])
                < ChunkKey::new(TOP_DEPTH + CHUNK_LEVELS, &[0; 32])
        );
        assert!(ChunkKey::new(4, &[0xff; 32]) < ChunkKey::new(8, &[0; 32]));
        let deep = TOP_DEPTH + CHUNK_LEVELS;
        let (a, b) = (ChunkKey::new(deep, &[0x11; 32]), ChunkKey::new(deep, &[0x12; 32]));
        let below_a = ChunkKey::new(deep + CHUNK_LEVELS, &[0x11; 32]);
        assert!(a < below_a && below_a < b);
        // Distinct positions get distinct keys, and the key gives the position back.
        let mask = |depth: usize, prefix: &Hash| {
            let mut out = [0u8; 32];
            for i in 0..depth {
                if bit(prefix, i) {
                    out[i / 8] |= 0x80 >> (i % 8);
                }
            }
            out
        };
        let mut by_key = std::collections::BTreeMap::new();
        for depth in (0..PATH_BITS).step_by(CHUNK_LEVELS) {
            for prefix in [[0u8; 32], [0xff; 32], path, [0x0f; 32]] {
                let key = ChunkKey::new(depth, &prefix);
                assert_eq!(key.depth(), depth);
                let position = (depth, mask(depth, &prefix));
                assert_eq!(*by_key.entry(key).or_insert(position), position);
            }
        }
        let positions: std::collections::BTreeSet<_> = by_key.values().collect();
        assert_eq!(positions.len(), by_key.len());
    }
}
