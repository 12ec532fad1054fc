//! The enclave's light client.
//!
//! It starts from a genesis it checks itself (the genesis state built from the config must hash
//! to the genesis header's state root; the authorities, and on a BFT chain the validator set,
//! come from that config) and then accepts a block only if: its number is the next one and its
//! parent hash is the last accepted block's hash (nothing skipped or reordered), its author is an
//! authority and its seal and VRF verify (nothing forged), its body matches the extrinsics root,
//! and the events the host hands over match the events root.
//!
//! On a BFT chain (validators in genesis) a block is accepted only with a commit certificate in
//! which validators holding more than 2/3 of the voting power of the set it tracks precommitted
//! this very block ([`umbra_primitives::finality::CommitCertificate::verify`]): no single key
//! can feed it a history. The set changes only through a verified block's
//! `governance::ValidatorSetChanged` event (set ids must follow each other), so certificates
//! signed by a past set are refused after the change. The host can delay or withhold blocks,
//! never make it accept a forged one.

use parity_scale_codec::Encode;
use umbra_crypto::Public;
use umbra_primitives::{
    finality::{CommitCertificate, ValidatorSet},
    merkle::merkle_root,
    Block, Header, H256,
};
use umbra_runtime::{governance, Event, EventRecord, GenesisConfig};

use crate::error::{decode, EnclaveError, Result};

/// The light client's state.
#[derive(Clone, Debug)]
pub struct LightClient {
    last: Header,
    authorities: Vec<Public>,
    /// The BFT validator set it tracks (`None`: a single-authority chain, the seal is final).
    validators: Option<ValidatorSet>,
    genesis: H256,
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
        let genesis = header.hash();
        let validators = config.validator_set();
        Ok((LightClient { last: header.clone(), authorities, validators, genesis }, genesis))
    }

    /// Resumes from a checkpointed header, authorities and validator set.
    pub fn resume(
        last: Header,
        authorities: Vec<Public>,
        validators: Option<ValidatorSet>,
        genesis: H256,
    ) -> Self {
        LightClient { last, authorities, validators, genesis }
    }

    /// The last accepted header.
    pub fn last(&self) -> &Header {
        &self.last
    }

    /// The authorities it trusts.
    pub fn authorities(&self) -> &[Public] {
        &self.authorities
    }

    /// The BFT validator set it tracks, if the chain has one.
    pub fn validators(&self) -> Option<&ValidatorSet> {
        self.validators.as_ref()
    }

    /// Verifies and accepts the next block (SCALE `Block`) with its events (SCALE
    /// `Vec<EventRecord>`) on a single-authority chain. On any failure nothing changes.
    pub fn accept(&mut self, block: &[u8], events: &[u8]) -> Result<(Block, Vec<EventRecord>)> {
        self.accept_finalized(block, events, None)
    }

    /// Verifies and accepts the next block with its events and, on a BFT chain, its commit
    /// certificate (SCALE `finality::CommitCertificate`). On any failure nothing changes.
    pub fn accept_finalized(
        &mut self,
        block: &[u8],
        events: &[u8],
        justification: Option<&[u8]>,
    ) -> Result<(Block, Vec<EventRecord>)> {
        let block: Block = decode("block", block)?;
        let number = block.header.number;
        block.header.verify_against(&self.last, &self.authorities)?;
        block.verify_body()?;
        if let Some(set) = &self.validators {
            let bytes = justification.ok_or(EnclaveError::MissingJustification(number))?;
            let cert: CommitCertificate = decode("commit certificate", bytes)?;
            cert.verify(&self.genesis, number, &block.hash(), set)
                .map_err(|error| EnclaveError::Finality { number, error })?;
        }
        let events: Vec<EventRecord> = decode("events", events)?;
        let encoded: Vec<Vec<u8>> = events.iter().map(Encode::encode).collect();
        if merkle_root(&encoded) != block.header.events_root {
            return Err(EnclaveError::EventsMismatch(number));
        }
        // A validator-set change in this block governs the blocks after it.
        let mut next = None;
        for record in &events {
            if let Event::Governance(governance::Event::ValidatorSetChanged { set }) = &record.event
            {
                let current = self.validators.as_ref().ok_or_else(|| {
                    EnclaveError::BadValidatorSetChange {
                        number,
                        reason: "the chain has no validator set".into(),
                    }
                })?;
                let bad = |reason: String| EnclaveError::BadValidatorSetChange { number, reason };
                if set.set_id != current.set_id.saturating_add(1) {
                    return Err(bad(format!(
                        "set id {} does not follow {}",
                        set.set_id, current.set_id
                    )));
                }
                set.validate().map_err(|e| bad(e.to_string()))?;
                next = Some(set.clone());
            }
        }
        if let Some(set) = next {
            self.authorities = set.accounts();
            self.validators = Some(set);
        }
        self.last = block.header.clone();
        Ok((block, events))
    }
}
