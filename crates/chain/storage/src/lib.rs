//! Umbra chain storage: one redb database holding blocks, events, state and an incremental
//! sparse Merkle commitment to the state.
//!
//! # Atomicity
//! Each block is written by one [`BlockWriter`], i.e. one redb write transaction holding the
//! block's state changes, the updated state tree, the encoded block, its events and
//! state-change set, the hash → number index and the new head. Commits use redb's
//! `Durability::Immediate`, so a process killed at any instant restarts at the last committed
//! block with all of these consistent.
//!
//! # State commitment
//! The compressed binary sparse Merkle tree defined in `umbra-state-tree` (hashing, the
//! from-scratch [`compute_root`], [`verify_proof`]; re-exported here), maintained incrementally.
//!
//! # Stored form
//! The tree is stored in chunks of four binary levels (see `chunk`): the chunk at depth `d`
//! holds, for each of the 16 positions at depth `d + 4` below it, nothing, the one key below it
//! (path and value hash) or the hash of the chunk there, which exists exactly where two or more
//! keys share a prefix. The binary nodes inside a chunk are recomputed, not stored, so the
//! chunking changes the records, never the hashes: a changed key rewrites one record per four
//! levels (about `log16` of the state size) instead of one per level. Chunks are updated in
//! place, one batch per block, touching only the chunks on changed paths. The top chunks
//! (depth ≤ 12, at most 4369) are stored together and kept in memory, with their node hashes,
//! across blocks.
//!
//! [`verify_proof`] checks a [`StateProof`] of inclusion or non-inclusion (binary siblings,
//! whatever the chunking); it lives in the redb-free crate `umbra-state-tree`, which depends only
//! on `blake2` and `parity-scale-codec`.

mod chunk;
mod error;
mod smt;
mod store;
mod tables;
mod writer;

pub use error::{Result, StorageError};
pub use store::{Snapshot, Store};
#[cfg(test)]
pub(crate) use umbra_state_tree::reference;
pub use umbra_state_tree::{
    compute_root, internal_hash, key_path, leaf_hash, value_hash, verify_proof, Hash,
    ProofTerminal, StateProof, EMPTY_HASH,
};
pub(crate) use umbra_state_tree::{hashing, proof};
pub use writer::BlockWriter;
