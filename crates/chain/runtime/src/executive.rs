//! Transaction validation and block execution.
//!
//! The same checks run at submission (the pool, [`validate_transaction`]) and when a block is
//! built or imported ([`BlockExecutor::apply`]), so nothing the pool accepted can break a block,
//! and a block from a faulty author is refused as a whole.

use parity_scale_codec::{Decode, Encode};
use umbra_primitives::{
    extrinsic::ExtrinsicHead, merkle::merkle_root, AccountId, Balance, Nonce, EXTRINSIC_VERSION,
    H256,
};

use crate::{
    balances, dispatch,
    ext::{EventRecord, Ext, Phase},
    governance::{self, Parameters},
    is_known_call,
    state::{Overlay, StateRead},
    system::{self, BlockInit},
    Call, Extrinsic,
};

/// How far ahead of the account's next nonce the pool accepts transactions.
pub const MAX_FUTURE_NONCES: Nonce = 64;

/// Why a transaction is refused. Each has a stable numeric code for JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransaction {
    /// The bytes do not decode as an extrinsic.
    #[error("malformed extrinsic: {reason}")]
    Malformed {
        /// What failed to decode.
        reason: String,
    },
    /// The extrinsic format version is not supported.
    #[error("unsupported extrinsic version {version} (expected {EXTRINSIC_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The call's module or call index is unknown.
    #[error("unknown call: module index {module}, call index {call}")]
    UnknownCall {
        /// Module index.
        module: u8,
        /// Call index inside the module.
        call: u8,
    },
    /// The transaction was signed for another chain.
    #[error("transaction is for another chain: genesis {got}, this chain's genesis is {expected}")]
    WrongGenesis {
        /// This chain's genesis hash.
        expected: H256,
        /// The genesis hash in the transaction.
        got: H256,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The nonce was already used.
    #[error("stale nonce {nonce}: the account's next nonce is {expected}")]
    StaleNonce {
        /// The transaction's nonce.
        nonce: Nonce,
        /// The account's next nonce.
        expected: Nonce,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error("nonce {nonce} is too far in the future: the account's next nonce is {expected}, at most {MAX_FUTURE_NONCES} ahead are accepted")]
    FutureNonce {
        /// The transaction's nonce.
        nonce: Nonce,
        /// The account's next nonce.
        expected: Nonce,
    },
    /// The signer cannot pay the fee.
    #[error("insufficient balance to pay the fee: fee {fee}, free balance {free}")]
    InsufficientBalance {
        /// The fee (base + length + tip).
        fee: Balance,
        /// The signer's free balance.
        free: Balance,
    },
    /// The encoded transaction is larger than allowed.
    #[error("extrinsic of {size} bytes exceeds the maximum of {max} bytes")]
    Oversize {
        /// Its size.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// The block has no room left.
    #[error("block is full")]
    ExhaustsResources,
}

impl InvalidTransaction {
    /// Stable JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            InvalidTransaction::Malformed { .. } => 1001,
            InvalidTransaction::UnsupportedVersion { .. } => 1002,
            InvalidTransaction::UnknownCall { .. } => 1003,
            InvalidTransaction::WrongGenesis { .. } => 1004,
            InvalidTransaction::BadSignature => 1005,
            InvalidTransaction::StaleNonce { .. } => 1006,
            InvalidTransaction::FutureNonce { .. } => 1007,
            InvalidTransaction::InsufficientBalance { .. } => 1008,
            InvalidTransaction::Oversize { .. } => 1009,
            InvalidTransaction::ExhaustsResources => 1010,
        }
    }
}

/// A transaction that passed validation.
#[derive(Debug, Clone)]
pub struct ValidTransaction {
    /// Its hash.
    pub hash: H256,
    /// The decoded extrinsic.
    pub extrinsic: Extrinsic,
    /// Its encoded length.
    pub len: usize,
    /// The fee it pays (including tip).
    pub fee: Balance,
    /// The signer's next nonce in the state it was validated against.
    pub account_nonce: Nonce,
}

impl ValidTransaction {
    /// The signer.
    pub fn signer(&self) -> AccountId {
        self.extrinsic.head.signer
    }
    /// The transaction's nonce.
    pub fn nonce(&self) -> Nonce {
        self.extrinsic.nonce()
    }
}

/// Decodes an extrinsic, telling apart oversize, malformed, unsupported and unknown calls.
pub fn decode_extrinsic(bytes: &[u8], max_size: u32) -> Result<Extrinsic, InvalidTransaction> {
    if bytes.len() > max_size as usize {
        return Err(InvalidTransaction::Oversize { size: bytes.len(), max: max_size });
    }
    let malformed = |reason: String| InvalidTransaction::Malformed { reason };
    let mut input = bytes;
    if let Some(&version) = input.first() {
        if version != EXTRINSIC_VERSION {
            return Err(InvalidTransaction::UnsupportedVersion { version });
        }
    }
    let head = ExtrinsicHead::decode(&mut input).map_err(|e| malformed(format!("header: {e}")))?;
    match input {
        [module, call, ..] if !is_known_call(*module, *call) => {
            return Err(InvalidTransaction::UnknownCall { module: *module, call: *call })
        }
        [] | [_] => return Err(malformed("missing call".into())),
        _ => {}
    }
    let call = Call::decode(&mut input).map_err(|e| malformed(format!("call: {e}")))?;
    if !input.is_empty() {
        return Err(malformed(format!("{} trailing bytes", input.len())));
    }
    Ok(Extrinsic { head, call })
}

/// Whether to verify the signature again (it may already have been batch-verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify it.
    Verify,
    /// The caller has verified it.
    AlreadyVerified,
}

/// Validates a transaction against `st` for the pool: everything but nonce contiguity.
pub fn validate_transaction(
    st: &Overlay<'_>,
    genesis_hash: &H256,
    bytes: &[u8],
    check: SignatureCheck,
) -> Result<ValidTransaction, InvalidTransaction> {
    let params = governance::parameters(st);
    validate_with(st, &params, genesis_hash, bytes, check)
}

fn validate_with(
    st: &Overlay<'_>,
    params: &Parameters,
    genesis_hash: &H256,
    bytes: &[u8],
    check: SignatureCheck,
) -> Result<ValidTransaction, InvalidTransaction> {
    let xt = decode_extrinsic(bytes, params.max_extrinsic_size)?;
    if xt.head.genesis_hash != *genesis_hash {
        return Err(InvalidTransaction::WrongGenesis {
            expected: *genesis_hash,
            got: xt.head.genesis_hash,
        });
    }
    if check == SignatureCheck::Verify && !xt.verify_signature() {
        return Err(InvalidTransaction::BadSignature);
    }
    let signer = xt.head.signer;
    let expected = system::nonce(st, &signer);
    let nonce = xt.nonce();
    if nonce < expected {
        return Err(InvalidTransaction::StaleNonce { nonce, expected });
    }
    if nonce > expected.saturating_add(MAX_FUTURE_NONCES) {
        return Err(InvalidTransaction::FutureNonce { nonce, expected });
    }
    let free = balances::account(st, &signer).free;
    let fee = params
        .fee(bytes.len(), xt.tip())
        .ok_or(InvalidTransaction::InsufficientBalance { fee: Balance::MAX, free })?;
    if free < fee {
        return Err(InvalidTransaction::InsufficientBalance { fee, free });
    }
    Ok(ValidTransaction {
        hash: H256::hash(bytes),
        extrinsic: xt,
        len: bytes.len(),
        fee,
        account_nonce: expected,
    })
}

/// What applying one extrinsic did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Its index in the block.
    pub index: u32,
    /// Whether the call succeeded (the fee is paid either way).
    pub success: bool,
}

/// The result of executing a block.
#[derive(Debug)]
pub struct BlockOutput {
    /// The encoded extrinsics included, in order.
    pub extrinsics: Vec<Vec<u8>>,
    /// The events emitted.
    pub events: Vec<EventRecord>,
    /// The state changes, sorted by key (None = delete).
    pub changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Merkle root of the extrinsics.
    pub extrinsics_root: H256,
    /// Merkle root of the encoded event records.
    pub events_root: H256,
}

/// Executes one block: initialize, apply extrinsics one by one, finish.
#[derive(Debug)]
pub struct BlockExecutor<'a> {
    ext: Ext<'a>,
    genesis_hash: H256,
    params: Parameters,
    extrinsics: Vec<Vec<u8>>,
}

impl<'a> BlockExecutor<'a> {
    /// Starts a block on top of `backend` (the parent's state).
    pub fn new(backend: &'a dyn StateRead, genesis_hash: H256, init: &BlockInit) -> Self {
        let mut ext = Ext::with_genesis(Overlay::new(backend), genesis_hash);
        ext.set_phase(Phase::Initialization);
        system::initialize(&mut ext, init);
        if let Some(set) = governance::on_initialize(&mut ext, init.number) {
            // The new validators' accounts seal the blocks from now on.
            system::AUTHORITIES.put(&mut ext.state, &set.accounts());
        }
        crate::computation::on_initialize::<crate::Runtime>(&mut ext);
        crate::contracts::on_initialize(&mut ext);
        let params = governance::parameters(&ext.state);
        BlockExecutor { ext, genesis_hash, params, extrinsics: Vec::new() }
    }

    /// The parameters in force for this block.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// Number of extrinsics applied.
    pub fn len(&self) -> usize {
        self.extrinsics.len()
    }

    /// Whether no extrinsic was applied yet.
    pub fn is_empty(&self) -> bool {
        self.extrinsics.is_empty()
    }

    /// Applies one extrinsic. An invalid one (`Err`) is not included and changes nothing; a
    /// valid one pays its fee and uses its nonce even if its call fails.
    pub fn apply(
        &mut self,
        bytes: &[u8],
        check: SignatureCheck,
    ) -> Result<ApplyOutcome, InvalidTransaction> {
        if self.extrinsics.len() >= self.params.max_block_extrinsics as usize {
            return Err(InvalidTransaction::ExhaustsResources);
        }
        let valid = validate_with(&self.ext.state, &self.params, &self.genesis_hash, bytes, check)?;
        if valid.nonce() != valid.account_nonce {
            // Valid for the pool, but not yet: an earlier nonce is missing.
            return Err(InvalidTransaction::FutureNonce {
                nonce: valid.nonce(),
                expected: valid.account_nonce,
            });
        }
        let index = self.extrinsics.len() as u32;
        let signer = valid.signer();
        let tip = valid.extrinsic.tip();
        self.ext.set_phase(Phase::ApplyExtrinsic(index));
        balances::pay_fee(&mut self.ext, &signer, valid.fee, tip)
            .map_err(|_| InvalidTransaction::InsufficientBalance { fee: valid.fee, free: 0 })?;
        system::inc_nonce(&mut self.ext.state, &signer);
        let call = valid.extrinsic.call;
        let result = self.ext.transactional(|ext| dispatch(ext, signer, call));
        let success = result.is_ok();
        match result {
            Ok(()) => self.ext.deposit_event(system::Event::ExtrinsicSuccess { index }),
            Err(error) => self.ext.deposit_event(system::Event::ExtrinsicFailed { index, error }),
        }
        self.extrinsics.push(bytes.to_vec());
        Ok(ApplyOutcome { index, success })
    }

    /// Finishes the block. Fails if any state read failed or a stored value was corrupt: such a
    /// block must not be committed.
    pub fn finish(mut self) -> Result<BlockOutput, String> {
        self.ext.set_phase(Phase::Finalization);
        let (state, events) = self.ext.into_parts();
        if let Some(e) = state.take_error() {
            return Err(e);
        }
        let encoded_events: Vec<Vec<u8>> = events.iter().map(Encode::encode).collect();
        Ok(BlockOutput {
            extrinsics_root: merkle_root(&self.extrinsics),
            events_root: merkle_root(&encoded_events),
            extrinsics: self.extrinsics,
            events,
            changes: state.into_changes(),
        })
    }
}

#[cfg(test)]
mod tests;
