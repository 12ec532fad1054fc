//! Umbra's malachite `Context`: heights are block numbers, a value is a block hash (the block
//! itself travels in proposal parts), addresses are ed25519 consensus keys, and every vote signs
//! [`umbra_primitives::finality::vote_sign_bytes`], the bytes a light client checks.

use std::fmt;

use malachitebft_app_channel::app::types::core::{
    self as mcore, NilOrVal, Round, SignedExtension, SignedMessage, SigningProvider, VoteType,
};
use malachitebft_signing_ed25519::{Ed25519, PrivateKey, PublicKey, Signature};
use parity_scale_codec::{Decode, Encode};
use umbra_primitives::{
    finality::{self, VoteKind},
    H256,
};

/// A consensus height: the number of the block being decided.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl mcore::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its ed25519 consensus public key.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Address(pub [u8; 32]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(&self.0[..6]))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address(0x{})", hex::encode(self.0))
    }
}

impl mcore::Address for Address {}

/// The value consensus decides: the hash of a block.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct BlockValue(pub H256);

impl mcore::Value for BlockValue {
    type Id = H256;

    fn id(&self) -> H256 {
        self.0
    }
}

fn round_u32(r: Round) -> u32 {
    r.as_u32().unwrap_or(u32::MAX)
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    /// Prevote or precommit.
    pub typ: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<H256>,
    /// The voter.
    pub validator: Address,
}

impl Vote {
    /// The bytes the voter signs (shared with light clients).
    pub fn sign_bytes(&self, genesis: &H256) -> Vec<u8> {
        let kind = match self.typ {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        };
        let value = match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(h) => Some(h),
        };
        finality::vote_sign_bytes(
            genesis,
            kind,
            self.height.0,
            round_u32(self.round),
            value,
            &self.validator.0,
        )
    }
}

impl mcore::Vote<UmbraContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<H256> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<H256> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.typ
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    // Umbra uses no vote extensions.
    fn extension(&self) -> Option<&SignedExtension<UmbraContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<UmbraContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<UmbraContext>) -> Self {
        self
    }
}

/// A proposal: the proposer's signed claim that `value` is its block for `height`/`round`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block's hash.
    pub value: BlockValue,
    /// Proof-of-lock round (nil for a new block).
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl Proposal {
    /// The bytes the proposer signs.
    pub fn sign_bytes(&self, genesis: &H256) -> Vec<u8> {
        (
            b"umbra/bft-proposal/v1",
            genesis,
            self.height.0,
            self.round.as_u32(),
            self.value.0,
            self.pol_round.as_u32(),
            self.proposer.0,
        )
            .encode()
    }
}

impl mcore::Proposal<UmbraContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A part of a streamed proposal: `Init`, the whole SCALE block, then `Fin` with the
/// proposer's signature over [`parts_sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ProposalPart {
    /// Stream header.
    Init {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Proof-of-lock round.
        pol_round: Option<u32>,
        /// The proposer.
        proposer: Address,
    },
    /// The encoded block.
    Block(Vec<u8>),
    /// The proposer's ed25519 signature over [`parts_sign_bytes`].
    Fin([u8; 64]),
    /// Not a proposal: transactions a node received from its clients, gossiped on the same
    /// channel so that every proposer can include them (each is validated again on receipt).
    Transactions(Vec<Vec<u8>>),
}

/// What the proposer signs in a stream's `Fin`.
pub fn parts_sign_bytes(genesis: &H256, height: u64, round: u32, block_hash: &H256) -> Vec<u8> {
    (b"umbra/bft-parts/v1", genesis, height, round, block_hash).encode()
}

impl mcore::ProposalPart<UmbraContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, Self::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, Self::Fin(_))
    }
}

/// A validator as consensus sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its consensus key as address.
    pub address: Address,
    /// Its consensus key.
    pub public_key: PublicKey,
    /// Its voting power.
    pub power: u64,
    /// Its sr25519 account (which seals the blocks it proposes).
    pub account: umbra_primitives::AccountId,
}

impl mcore::Validator<UmbraContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The validator set of a height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    /// The validators, in proposer order.
    pub validators: Vec<Validator>,
}

impl From<&finality::ValidatorSet> for ValidatorSet {
    fn from(set: &finality::ValidatorSet) -> Self {
        ValidatorSet {
            validators: set
                .validators
                .iter()
                .map(|v| Validator {
                    address: Address(v.consensus_key),
                    public_key: PublicKey::from_bytes(v.consensus_key),
                    power: v.power,
                    account: v.account,
                })
                .collect(),
        }
    }
}

impl mcore::ValidatorSet<UmbraContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.validators.iter().fold(0u64, |a, v| a.saturating_add(v.power))
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// Umbra's consensus context; the genesis hash binds every signature to this chain.
#[derive(Clone, Debug)]
pub struct UmbraContext {
    /// The chain's genesis hash.
    pub genesis: H256,
}

impl UmbraContext {
    /// The proposer of `height`/`round`: round-robin over the set,
    /// `(height - 1 + round) mod n`.
    pub fn proposer_index(set_len: usize, height: Height, round: Round) -> usize {
        let n = set_len.max(1) as u64;
        let r = u64::from(round.as_u32().unwrap_or(0));
        (height.0.saturating_sub(1).wrapping_add(r) % n) as usize
    }
}

impl mcore::Context for UmbraContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = bytes::Bytes;
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let i = Self::proposer_index(validator_set.validators.len(), height, round);
        &validator_set.validators[i]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<H256>,
        address: Address,
    ) -> Vote {
        Vote { typ: VoteType::Prevote, height, round, value: value_id, validator: address }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<H256>,
        address: Address,
    ) -> Vote {
        Vote { typ: VoteType::Precommit, height, round, value: value_id, validator: address }
    }
}

/// Signs with the node's ed25519 consensus key and verifies others' signatures, always over
/// the chain-bound sign bytes.
pub struct UmbraSigner {
    key: PrivateKey,
    genesis: H256,
}

impl fmt::Debug for UmbraSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = Address(*self.key.public_key().as_bytes());
        f.debug_struct("UmbraSigner").field("public", &public).finish_non_exhaustive()
    }
}

impl UmbraSigner {
    /// A signer with `key` for the chain `genesis`.
    pub fn new(key: PrivateKey, genesis: H256) -> Self {
        UmbraSigner { key, genesis }
    }
}

impl SigningProvider<UmbraContext> for UmbraSigner {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<UmbraContext, Vote> {
        let signature = self.key.sign(&vote.sign_bytes(&self.genesis));
        SignedMessage::new(vote, signature)
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Signature, pk: &PublicKey) -> bool {
        pk.verify(&vote.sign_bytes(&self.genesis), signature).is_ok()
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<UmbraContext, Proposal> {
        let signature = self.key.sign(&proposal.sign_bytes(&self.genesis));
        SignedMessage::new(proposal, signature)
    }

    fn verify_signed_proposal(&self, p: &Proposal, signature: &Signature, pk: &PublicKey) -> bool {
        pk.verify(&p.sign_bytes(&self.genesis), signature).is_ok()
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<UmbraContext, ProposalPart> {
        let signature = self.key.sign(&(b"umbra/bft-part/v1", self.genesis, &part).encode());
        SignedMessage::new(part, signature)
    }

    fn verify_signed_proposal_part(
        &self,
        part: &ProposalPart,
        signature: &Signature,
        pk: &PublicKey,
    ) -> bool {
        pk.verify(&(b"umbra/bft-part/v1", self.genesis, part).encode(), signature).is_ok()
    }

    fn sign_vote_extension(
        &self,
        extension: bytes::Bytes,
    ) -> SignedMessage<UmbraContext, bytes::Bytes> {
        let signature = self.key.sign(&extension);
        SignedMessage::new(extension, signature)
    }

    fn verify_signed_vote_extension(
        &self,
        extension: &bytes::Bytes,
        signature: &Signature,
        pk: &PublicKey,
    ) -> bool {
        pk.verify(extension, signature).is_ok()
    }
}
