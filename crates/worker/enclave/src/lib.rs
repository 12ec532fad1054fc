//! The Umbra enclave runtime: the trusted part of a worker.
//!
//! It does no I/O of its own. The untrusted host drives it through the narrow interface of
//! [`Enclave`] (init, feed a block, take egress, answer a query, seal a checkpoint) and a
//! [`umbra_tee::Platform`] (quote, seal, measurement), so the same code can move into an SGX/TDX
//! enclave unchanged.
//!
//! - [`keys`]: identity (sr25519) and ECDH (x25519) keys, generated inside and sealed to the
//!   platform, bound to one chain's genesis.
//! - [`light_client`]: accepts a block only if it links to the last accepted one, carries a valid
//!   authority seal and VRF, and its body and events match the header's roots.
//! - [`egress`]: messages to the chain, signed by the identity key with sequence numbers, kept
//!   until the chain has accepted them.
//! - [`query`]: the encrypted query endpoint's enclave side (replay-protected).
//! - [`confidential`]: gatekeeper duties (master keys, contract keys) and confidential
//!   contracts (execution in log order, results, checkpoints, rebuild by verified replay).
//! - [`enclave`]: the [`Enclave`] tying them together, its checkpoint and registration payload.

// Runtime, enclave and contract code must never panic on arithmetic: every operation is checked
// or saturating, and an overflow is an error the caller sees.
#![deny(clippy::arithmetic_side_effects)]

pub mod benchmark;
pub mod confidential;
pub mod egress;
pub mod enclave;
pub mod error;
pub mod keys;
pub mod light_client;
pub mod query;

pub use enclave::{Enclave, EnclaveInfo, GenesisInfo, InitOutput, RegistrationPayload};
pub use error::EnclaveError;
