//! The Umbra state commitment without a database: what a verifier (the enclave's light client,
//! a client checking a proof, another chain) needs, depending only on `blake2` and
//! `parity-scale-codec`. `umbra-chain-storage` builds its incremental, redb-backed tree on this
//! crate and re-exports it.
//!
//! A compressed binary sparse Merkle tree over `blake2_256(key)` paths (MSB first):
//! - Empty: hash `[0; 32]`;
//! - Leaf `{key_path, value_hash}`: `blake2_256(0x00 ‖ key_path ‖ blake2_256(value))`;
//! - Internal `{left, right}`: `blake2_256(0x01 ‖ left ‖ right)`.
//!
//! A subtree with exactly one key is a leaf at the subtree's top, so an internal node never
//! has an (Empty, Leaf) pair of children. The root depends only on the key/value set
//! ([`compute_root`] is the from-scratch reference).
//!
//! [`verify_proof`] checks a [`StateProof`] of inclusion or non-inclusion (binary siblings).

pub mod hashing;
pub mod proof;
pub mod reference;

pub use hashing::{internal_hash, key_path, leaf_hash, value_hash, Hash, EMPTY_HASH};
pub use proof::{verify_proof, ProofTerminal, StateProof};
pub use reference::compute_root;
