//! The Umbra chain node.
//!
//! - [`chain_spec`]: the chain spec (JSON) and the genesis block it defines.
//! - [`bft`]: BFT consensus on malachite (Tendermint): validators, certificates, sync.
//! - [`consensus`]: the [`consensus::ConsensusEngine`] trait and the single-authority dev engine.
//! - [`txpool`]: validated transactions ordered by nonce per sender.
//! - [`service`]: the [`service::Node`]: database, head, authoring and import of blocks.
//! - [`rpc`]: the JSON-RPC server.
//! - [`run`]: the block production loop and the whole node as `umbra node` runs it.

#[cfg(feature = "bft")]
pub mod bft;
pub mod chain_spec;
pub mod consensus;
pub mod rpc;
pub mod run;
pub mod service;
pub mod txpool;

pub use chain_spec::ChainSpec;
pub use service::Node;
