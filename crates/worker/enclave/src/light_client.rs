//! The enclave's light client.
//!
//! It starts from a genesis it checks itself (the genesis state built from the config must hash
//! to the genesis header's state root; the authorities come from that config) and then accepts a
//! block only if: its number is the next one and its parent hash is the last accepted block's
//! hash (nothing skipped or reordered), its author is an authority and its seal and VRF verify
//! (nothing forged), its body matches the extrinsics root, and the events the host hands over
//! match the events root. The host can delay or withhold blocks, never make it accept a forged
//! one.

use parity_scale_codec::Encode;
use umbra_crypto::Public;
use umbra_primitives::{merkle::merkle_root, Block, Header, H256};
use umbra_runtime::{EventRecord, GenesisConfig};

use crate::error::{decode, EnclaveError, Result};

/// The light client's state.
#[derive(Clone, Debug)]
pub struct LightClient {
    last: Header,
    authorities: Vec<Public>,
}

impl LightClient {
    /// Starts at genesis after checking `header` against `config`; returns the genesis hash.
    pub fn from_genesis(header: &Header, config: &GenesisConfig) -> Result<(Self, H256)> {
        if header.number != 0 || header.parent_hash != H256::ZERO {
            return Err(EnclaveError::BadGenesis("header is not a genesis header".into()));
        }
        let state = config.build().map_err(|e| EnclaveError::BadGenesis(e.to_string()))?;
        let root = H256(umbra_state_tree::compute_root(state));
        if root != header.state_root {
            return Err(EnclaveError::BadGenesis(format!(
                "genesis config builds state root {root}, header says {}",
                header.state_root
            )));
        }
        let authorities = config.authorities.iter().map(|a| a.0).collect();
        Ok((LightClient { last: header.clone(), authorities }, header.hash()))
    }

    /// Resumes from a checkpointed header.
    pub fn resume(last: Header, authorities: Vec<Public>) -> Self {
        LightClient { last, authorities }
    }

    /// The last accepted header.
    pub fn last(&self) -> &Header {
        &self.last
    }

    /// The authorities it trusts.
    pub fn authorities(&self) -> &[Public] {
        &self.authorities
    }

    /// Verifies and accepts the next block (SCALE `Block`) with its events (SCALE
    /// `Vec<EventRecord>`). On any failure nothing changes.
    pub fn accept(&mut self, block: &[u8], events: &[u8]) -> Result<(Block, Vec<EventRecord>)> {
        let block: Block = decode("block", block)?;
        block.header.verify_against(&self.last, &self.authorities)?;
        block.verify_body()?;
        let events: Vec<EventRecord> = decode("events", events)?;
        let encoded: Vec<Vec<u8>> = events.iter().map(Encode::encode).collect();
        if merkle_root(&encoded) != block.header.events_root {
            return Err(EnclaveError::EventsMismatch(block.header.number));
        }
        self.last = block.header.clone();
        Ok((block, events))
    }
}
