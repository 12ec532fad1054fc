//! BFT finality: validator sets, the precommit each validator signs, and the commit certificate
//! (≥ 2/3 of the voting power precommitting one block) that makes a block final.
//!
//! The node's malachite (Tendermint) engine signs exactly [`vote_sign_bytes`]; a light client
//! (the enclave's) verifies a [`CommitCertificate`] with [`CommitCertificate::verify`] against the
//! validator set it tracks, without any consensus code. Consensus keys are ed25519
//! (`ed25519-consensus`, the verification rules Tendermint/Zcash use); a validator's key is
//! derived from its sr25519 account key with [`consensus_seed`], so one `--validator-key` URI
//! gives both.

use std::collections::BTreeSet;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::{AccountId, BlockNumber, H256};

/// Domain of the consensus-key derivation.
pub const CONSENSUS_KEY_CONTEXT: &[u8] = b"umbra/validator-ed25519/v1";
/// Domain of every consensus vote signature.
pub const VOTE_CONTEXT: &[u8] = b"umbra/bft-vote/v1";

/// The ed25519 seed of the consensus key of the validator whose sr25519 secret key (64 bytes,
/// `Pair::to_secret_bytes`) is `sr25519_secret`: `blake2_256(CONSENSUS_KEY_CONTEXT ‖ secret)`.
pub fn consensus_seed(sr25519_secret: &[u8; 64]) -> [u8; 32] {
    let mut input = Vec::with_capacity(CONSENSUS_KEY_CONTEXT.len().saturating_add(64));
    input.extend_from_slice(CONSENSUS_KEY_CONTEXT);
    input.extend_from_slice(sr25519_secret);
    umbra_crypto::blake2_256(&input)
}

/// The ed25519 public key of `seed`.
pub fn consensus_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_consensus::SigningKey::from(*seed).verification_key().to_bytes()
}

/// One validator: the account that authors its blocks (sr25519), its consensus key (ed25519)
/// and its voting power.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Validator {
    /// The sr25519 account that seals the blocks it proposes (an authority of the chain).
    #[serde(with = "crate::serde_helpers::account_ss58")]
    pub account: AccountId,
    /// Its ed25519 consensus key, which signs its votes.
    #[serde(with = "crate::serde_helpers::bytes_hex")]
    pub consensus_key: [u8; 32],
    /// Its voting power (> 0).
    pub power: u64,
}

/// A validator set, numbered from 0 (genesis) up by each change.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidatorSet {
    /// How many changes came before this set.
    pub set_id: u64,
    /// The validators, in proposer order.
    pub validators: Vec<Validator>,
}

/// Why a validator set or a commit certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
    /// The set has no validator.
    #[error("the validator set is empty")]
    EmptySet,
    /// A validator has zero power.
    #[error("validator {0} has zero voting power")]
    ZeroPower(String),
    /// Two validators share a consensus key or an account.
    #[error("validator {0} appears twice in the set")]
    DuplicateValidator(String),
    /// The total power overflows.
    #[error("the validator set's total voting power overflows")]
    PowerOverflow,
    /// A consensus key is not a valid ed25519 point.
    #[error("validator consensus key 0x{0} is not a valid ed25519 key")]
    BadKey(String),
    /// The certificate is for another height.
    #[error("certificate is for height {got}, the block is #{expected}")]
    WrongHeight {
        /// Height in the certificate.
        got: BlockNumber,
        /// The block's number.
        expected: BlockNumber,
    },
    /// The certificate commits another block.
    #[error("certificate commits block {got}, not {expected}")]
    WrongBlock {
        /// Block hash in the certificate.
        got: H256,
        /// The block's hash.
        expected: H256,
    },
    /// A signer is not in the validator set.
    #[error("certificate signer 0x{0} is not in validator set")]
    UnknownSigner(String),
    /// A signer signed twice.
    #[error("certificate signer 0x{0} appears twice")]
    DuplicateSigner(String),
    /// A signature does not verify.
    #[error("certificate signature of 0x{0} does not verify")]
    BadSignature(String),
    /// The signers hold less than 2/3 of the voting power.
    #[error("certificate signers hold {signed} of {total} voting power, not more than 2/3")]
    InsufficientPower {
        /// Power of the valid signers.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
}

impl ValidatorSet {
    /// Checks the set: non-empty, unique keys and accounts, non-zero powers, total fits `u64`,
    /// every key a valid ed25519 point.
    pub fn validate(&self) -> Result<(), FinalityError> {
        if self.validators.is_empty() {
            return Err(FinalityError::EmptySet);
        }
        let mut keys = BTreeSet::new();
        let mut accounts = BTreeSet::new();
        let mut total: u64 = 0;
        for v in &self.validators {
            let name = hex::encode(v.consensus_key);
            if v.power == 0 {
                return Err(FinalityError::ZeroPower(name));
            }
            if !keys.insert(v.consensus_key) || !accounts.insert(v.account.0) {
                return Err(FinalityError::DuplicateValidator(name));
            }
            ed25519_consensus::VerificationKey::try_from(v.consensus_key)
                .map_err(|_| FinalityError::BadKey(name))?;
            total = total.checked_add(v.power).ok_or(FinalityError::PowerOverflow)?;
        }
        Ok(())
    }

    /// Total voting power (saturating).
    pub fn total_power(&self) -> u64 {
        self.validators.iter().fold(0u64, |acc, v| acc.saturating_add(v.power))
    }

    /// The validator with consensus key `key`.
    pub fn get(&self, key: &[u8; 32]) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.consensus_key == key)
    }

    /// The sr25519 accounts of the validators (the chain's authorities).
    pub fn accounts(&self) -> Vec<AccountId> {
        self.validators.iter().map(|v| v.account).collect()
    }
}

/// `signed` is more than 2/3 of `total` (computed in u128, no overflow).
pub fn is_quorum(signed: u64, total: u64) -> bool {
    u128::from(signed).saturating_mul(3) > u128::from(total).saturating_mul(2)
}

/// A vote's kind.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step; ≥ 2/3 precommits for a block finalize it.
    Precommit,
}

/// The bytes a validator signs for a vote: `SCALE(VOTE_CONTEXT, genesis, kind, height, round,
/// block hash or none for nil, the validator's consensus key)`. The genesis hash binds the vote
/// to one chain.
pub fn vote_sign_bytes(
    genesis: &H256,
    kind: VoteKind,
    height: BlockNumber,
    round: u32,
    block: Option<&H256>,
    validator: &[u8; 32],
) -> Vec<u8> {
    (VOTE_CONTEXT, genesis, kind, height, round, block, validator).encode()
}

/// Whether `signature` is `validator`'s ed25519 signature of the vote
/// ([`vote_sign_bytes`]).
pub fn verify_vote(
    genesis: &H256,
    kind: VoteKind,
    height: BlockNumber,
    round: u32,
    block: Option<&H256>,
    validator: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = ed25519_consensus::VerificationKey::try_from(*validator) else {
        return false;
    };
    let msg = vote_sign_bytes(genesis, kind, height, round, block, validator);
    key.verify(&ed25519_consensus::Signature::from(*signature), &msg).is_ok()
}

/// Proof that a validator equivocated: two valid signatures of the same kind of vote, at the same
/// height and round, for different blocks (or a block and nil). Anyone can check it with
/// [`Equivocation::verify`]; the chain records it (`governance::ReportEquivocation`).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Equivocation {
    /// The equivocating validator's consensus key.
    pub validator: [u8; 32],
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// Height.
    pub height: BlockNumber,
    /// Round.
    pub round: u32,
    /// The first vote: its block (none = nil) and signature.
    pub first: (Option<H256>, [u8; 64]),
    /// The conflicting vote.
    pub second: (Option<H256>, [u8; 64]),
}

impl Equivocation {
    /// Both votes are validly signed by `validator` for chain `genesis` and differ.
    pub fn verify(&self, genesis: &H256) -> bool {
        let check = |(value, sig): &(Option<H256>, [u8; 64])| {
            verify_vote(
                genesis,
                self.kind,
                self.height,
                self.round,
                value.as_ref(),
                &self.validator,
                sig,
            )
        };
        self.first.0 != self.second.0 && check(&self.first) && check(&self.second)
    }
}

/// One validator's precommit signature in a certificate.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommitSignature {
    /// The signer's consensus key.
    pub validator: [u8; 32],
    /// Its ed25519 signature over [`vote_sign_bytes`] (precommit for the block).
    pub signature: [u8; 64],
}

/// The commit certificate of a block: precommits for it at one round from more than 2/3 of the
/// voting power. Stored with the block and served over RPC (`umbra_justification`).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommitCertificate {
    /// The block number (the consensus height).
    pub height: BlockNumber,
    /// The round the block was decided in.
    pub round: u32,
    /// The committed block's hash.
    pub block_hash: H256,
    /// The precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

impl CommitCertificate {
    /// Verifies that this certificate finalizes block `number` with hash `hash` of the chain
    /// with genesis `genesis` under validator set `set`: every signer is in the set, at most
    /// once, with a valid precommit signature, and the signers hold more than 2/3 of the power.
    /// Returns the signed power.
    pub fn verify(
        &self,
        genesis: &H256,
        number: BlockNumber,
        hash: &H256,
        set: &ValidatorSet,
    ) -> Result<u64, FinalityError> {
        if self.height != number {
            return Err(FinalityError::WrongHeight { got: self.height, expected: number });
        }
        if &self.block_hash != hash {
            return Err(FinalityError::WrongBlock { got: self.block_hash, expected: *hash });
        }
        let mut seen = BTreeSet::new();
        let mut signed: u64 = 0;
        for s in &self.signatures {
            let name = || hex::encode(s.validator);
            let v = set.get(&s.validator).ok_or_else(|| FinalityError::UnknownSigner(name()))?;
            if !seen.insert(s.validator) {
                return Err(FinalityError::DuplicateSigner(name()));
            }
            let key = ed25519_consensus::VerificationKey::try_from(s.validator)
                .map_err(|_| FinalityError::BadSignature(name()))?;
            let msg = vote_sign_bytes(
                genesis,
                VoteKind::Precommit,
                number,
                self.round,
                Some(hash),
                &s.validator,
            );
            key.verify(&ed25519_consensus::Signature::from(s.signature), &msg)
                .map_err(|_| FinalityError::BadSignature(name()))?;
            signed = signed.saturating_add(v.power);
        }
        let total = set.total_power();
        if !is_quorum(signed, total) {
            return Err(FinalityError::InsufficientPower { signed, total });
        }
        Ok(signed)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Pair;

    /// Validator `i` of a test set: (its ed25519 signing key, its record).
    pub(crate) fn validator(suri: &str, power: u64) -> (ed25519_consensus::SigningKey, Validator) {
        let pair = Pair::from_suri(suri).unwrap();
        let seed = consensus_seed(&pair.to_secret_bytes());
        let sk = ed25519_consensus::SigningKey::from(seed);
        let v = Validator { account: pair.public(), consensus_key: consensus_public(&seed), power };
        (sk, v)
    }

    pub(crate) fn sign_commit(
        genesis: &H256,
        sk: &ed25519_consensus::SigningKey,
        height: BlockNumber,
        round: u32,
        hash: &H256,
    ) -> CommitSignature {
        let key = sk.verification_key().to_bytes();
        let msg = vote_sign_bytes(genesis, VoteKind::Precommit, height, round, Some(hash), &key);
        CommitSignature { validator: key, signature: sk.sign(&msg).to_bytes() }
    }

    fn set4() -> (Vec<ed25519_consensus::SigningKey>, ValidatorSet) {
        let (keys, validators): (Vec<_>, Vec<_>) =
            ["//Alice", "//Bob", "//Charlie", "//Dave"].iter().map(|s| validator(s, 1)).unzip();
        (keys, ValidatorSet { set_id: 0, validators })
    }

    #[test]
    fn three_of_four_finalize_and_two_do_not() {
        let genesis = H256::hash(b"g");
        let hash = H256::hash(b"block");
        let (keys, set) = set4();
        set.validate().unwrap();
        let mut cert = CommitCertificate {
            height: 7,
            round: 1,
            block_hash: hash,
            signatures: keys[..3].iter().map(|k| sign_commit(&genesis, k, 7, 1, &hash)).collect(),
        };
        assert_eq!(cert.verify(&genesis, 7, &hash, &set), Ok(3));
        // Wrong block, wrong height, wrong chain.
        assert!(matches!(
            cert.verify(&genesis, 7, &H256::hash(b"x"), &set),
            Err(FinalityError::WrongBlock { .. })
        ));
        assert!(matches!(
            cert.verify(&genesis, 8, &hash, &set),
            Err(FinalityError::WrongHeight { .. })
        ));
        assert!(matches!(
            cert.verify(&H256::hash(b"other chain"), 7, &hash, &set),
            Err(FinalityError::BadSignature(_))
        ));
        // Two of four is not a quorum; a repeated signer does not count twice.
        cert.signatures.pop();
        assert_eq!(
            cert.verify(&genesis, 7, &hash, &set),
            Err(FinalityError::InsufficientPower { signed: 2, total: 4 })
        );
        cert.signatures.push(cert.signatures[0].clone());
        assert!(matches!(
            cert.verify(&genesis, 7, &hash, &set),
            Err(FinalityError::DuplicateSigner(_))
        ));
    }

    #[test]
    fn forged_and_foreign_signatures_are_refused() {
        let genesis = H256::hash(b"g");
        let hash = H256::hash(b"block");
        let (keys, set) = set4();
        let good: Vec<_> =
            keys[..3].iter().map(|k| sign_commit(&genesis, k, 3, 0, &hash)).collect();
        // A signature flipped by one bit.
        let mut forged = good.clone();
        forged[1].signature[10] ^= 1;
        let cert = CommitCertificate { height: 3, round: 0, block_hash: hash, signatures: forged };
        assert!(matches!(
            cert.verify(&genesis, 3, &hash, &set),
            Err(FinalityError::BadSignature(_))
        ));
        // A signature for another round does not count for this one.
        let mut other_round = good.clone();
        other_round[2] = sign_commit(&genesis, &keys[2], 3, 1, &hash);
        let cert =
            CommitCertificate { height: 3, round: 0, block_hash: hash, signatures: other_round };
        assert!(matches!(
            cert.verify(&genesis, 3, &hash, &set),
            Err(FinalityError::BadSignature(_))
        ));
        // A key outside the set (Eve) is refused.
        let (eve, _) = validator("//Eve", 1);
        let mut with_eve = good[..2].to_vec();
        with_eve.push(sign_commit(&genesis, &eve, 3, 0, &hash));
        let cert =
            CommitCertificate { height: 3, round: 0, block_hash: hash, signatures: with_eve };
        assert!(matches!(
            cert.verify(&genesis, 3, &hash, &set),
            Err(FinalityError::UnknownSigner(_))
        ));
    }

    #[test]
    fn weighted_power_counts() {
        let genesis = H256::hash(b"g");
        let hash = H256::hash(b"b");
        let (ka, a) = validator("//Alice", 5);
        let (kb, b) = validator("//Bob", 1);
        let (_, c) = validator("//Charlie", 1);
        let set = ValidatorSet { set_id: 0, validators: vec![a, b, c] };
        // Alice alone holds 5/7 > 2/3.
        let cert = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: hash,
            signatures: vec![sign_commit(&genesis, &ka, 1, 0, &hash)],
        };
        assert_eq!(cert.verify(&genesis, 1, &hash, &set), Ok(5));
        // Bob alone does not.
        let cert = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: hash,
            signatures: vec![sign_commit(&genesis, &kb, 1, 0, &hash)],
        };
        assert!(cert.verify(&genesis, 1, &hash, &set).is_err());
        assert!(is_quorum(3, 4) && !is_quorum(2, 3) && !is_quorum(2, 4) && is_quorum(u64::MAX, 2));
    }

    #[test]
    fn bad_sets_are_refused() {
        let (_, a) = validator("//Alice", 1);
        assert_eq!(ValidatorSet::default().validate(), Err(FinalityError::EmptySet));
        let dup = ValidatorSet { set_id: 0, validators: vec![a.clone(), a.clone()] };
        assert!(matches!(dup.validate(), Err(FinalityError::DuplicateValidator(_))));
        let mut zero = a.clone();
        zero.power = 0;
        let set = ValidatorSet { set_id: 0, validators: vec![zero] };
        assert!(matches!(set.validate(), Err(FinalityError::ZeroPower(_))));
        let (_, mut b) = validator("//Bob", u64::MAX);
        let set = ValidatorSet { set_id: 0, validators: vec![a.clone(), b.clone()] };
        assert_eq!(set.validate(), Err(FinalityError::PowerOverflow));
        b.power = 1;
        // Bytes that decode to no curve point (about half of all y coordinates have no x; ZIP 215
        // decoding accepts non-canonical encodings, so e.g. all-0xff bytes would still decode).
        b.consensus_key = (1u8..=255)
            .map(|k| {
                let mut bytes = [0u8; 32];
                bytes[0] = k;
                bytes
            })
            .find(|bytes| ed25519_consensus::VerificationKey::try_from(*bytes).is_err())
            .expect("a y coordinate without a point");
        let set = ValidatorSet { set_id: 0, validators: vec![a, b] };
        assert!(matches!(set.validate(), Err(FinalityError::BadKey(_))));
    }
}
