//! `governance`: who may change chain parameters. For now a single council key (sudo); the same
//! calls will later be routed through token-weighted voting.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_primitives::{
    finality::{Equivocation, Validator, ValidatorSet, VoteKind},
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance, BlockNumber, UNITS,
};

use crate::{
    ext::{DispatchError, Ext},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "governance";

/// Chain parameters that governance may change. Also part of the chain spec's genesis.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameters {
    /// Target time between blocks, in milliseconds.
    pub block_time_ms: u64,
    /// Fee every transaction pays, in the smallest unit.
    #[serde(with = "balance_str")]
    pub base_fee: Balance,
    /// Fee per byte of encoded transaction.
    #[serde(with = "balance_str")]
    pub byte_fee: Balance,
    /// Least balance a new account must receive.
    #[serde(with = "balance_str")]
    pub existential_deposit: Balance,
    /// Largest encoded transaction accepted, in bytes.
    pub max_extrinsic_size: u32,
    /// Most transactions in one block.
    pub max_block_extrinsics: u32,
}

impl Parameters {
    /// Development defaults: 1 s blocks, 0.01 UMB base fee, 1 µUMB per byte, 0.01 UMB existential
    /// deposit, 64 KiB transactions, 8192 transactions per block.
    pub fn dev() -> Self {
        Parameters {
            block_time_ms: 1000,
            base_fee: UNITS / 100,
            byte_fee: UNITS / 1_000_000,
            existential_deposit: UNITS / 100,
            max_extrinsic_size: 64 * 1024,
            max_block_extrinsics: 8192,
        }
    }

    /// Checks that the parameters keep the chain usable (every value bounded, so that no
    /// setting can make transactions unaffordable or blocks useless), naming the first one out of
    /// range.
    pub fn validate(&self) -> Result<(), Error> {
        in_range("blockTimeMs", self.block_time_ms, 50..=600_000)?;
        in_range("baseFee", self.base_fee, 0..=MAX_BASE_FEE)?;
        in_range("byteFee", self.byte_fee, 0..=MAX_BYTE_FEE)?;
        in_range("existentialDeposit", self.existential_deposit, 1..=MAX_EXISTENTIAL_DEPOSIT)?;
        in_range("maxExtrinsicSize", self.max_extrinsic_size, 256..=4 * 1024 * 1024)?;
        in_range("maxBlockExtrinsics", self.max_block_extrinsics, 1..=100_000)?;
        Ok(())
    }

    /// The fee of a transaction of `len` bytes with `tip`, if it fits.
    pub fn fee(&self, len: usize, tip: Balance) -> Option<Balance> {
        self.byte_fee.checked_mul(len as Balance)?.checked_add(self.base_fee)?.checked_add(tip)
    }
}

/// Largest base fee (10 UMB).
pub const MAX_BASE_FEE: Balance = 10 * UNITS;
/// Largest fee per byte (0.001 UMB).
pub const MAX_BYTE_FEE: Balance = UNITS / 1_000;
/// Largest existential deposit (100 UMB).
pub const MAX_EXISTENTIAL_DEPOSIT: Balance = 100 * UNITS;

fn in_range<T: PartialOrd>(
    name: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), Error> {
    range.contains(&value).then_some(()).ok_or(Error::InvalidParameters(name))
}

// ---- storage ----

/// The council (sudo) key.
pub const KEY: StorageValue<AccountId> = StorageValue::new(b"governance/key");
/// Current chain parameters.
pub const PARAMETERS: StorageValue<Parameters> = StorageValue::new(b"governance/parameters");
/// The BFT validator set in force (absent on single-authority chains).
pub const VALIDATORS: StorageValue<ValidatorSet> = StorageValue::new(b"governance/validators");
/// The validator set the council scheduled for the next epoch boundary.
pub const NEXT_VALIDATORS: StorageValue<Vec<Validator>> =
    StorageValue::new(b"governance/next_validators");

/// Recorded equivocations: (consensus key, height, round, kind) → who reported it. The record
/// a future staking module slashes from.
pub const EQUIVOCATIONS: StorageMap<([u8; 32], BlockNumber, u32, VoteKind), AccountId> =
    StorageMap::new(b"governance/equivocation/");

/// Blocks per epoch: a validator-set change scheduled by the council takes effect in the first
/// block whose number is a multiple of this (that block is still finalized by the old set; the
/// next one by the new set).
pub const EPOCH_BLOCKS: BlockNumber = 10;

// ---- calls ----

/// Calls of the governance module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Hands the council key to `new`. Origin: the council key.
    #[codec(index = 0)]
    SetKey {
        /// The new key.
        new: AccountId,
    },
    /// Replaces the chain parameters (validated). Origin: the council key.
    #[codec(index = 1)]
    SetParameters {
        /// The new parameters.
        parameters: Parameters,
    },
    /// Schedules a new BFT validator set for the next epoch boundary (validated; the chain must
    /// already run with validators). Origin: the council key.
    #[codec(index = 2)]
    SetValidators {
        /// The new validators, in proposer order.
        validators: Vec<Validator>,
    },
    /// Records proof that a validator of the current set signed two conflicting votes
    /// (verified on chain; each equivocation once). Origin: anyone (the reporter pays the fee).
    #[codec(index = 3)]
    ReportEquivocation {
        /// The two signed votes.
        evidence: Equivocation,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2, 3];

// ---- events ----

/// Events of the governance module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// The council key changed.
    KeyChanged {
        /// The previous key.
        #[serde(with = "account_ss58")]
        old: AccountId,
        /// The new key.
        #[serde(with = "account_ss58")]
        new: AccountId,
    },
    /// The chain parameters changed.
    ParametersChanged {
        /// The new parameters.
        parameters: Parameters,
    },
    /// A validator set was scheduled for the next epoch boundary.
    ValidatorSetScheduled {
        /// Its validators (in force from the next multiple of `EPOCH_BLOCKS`).
        validators: Vec<Validator>,
    },
    /// A validator's equivocation was proven and recorded.
    EquivocationRecorded {
        /// Its consensus key.
        #[serde(with = "umbra_primitives::serde_helpers::bytes_hex")]
        validator: [u8; 32],
        /// Its account.
        #[serde(with = "account_ss58")]
        account: AccountId,
        /// Height of the conflicting votes.
        height: BlockNumber,
        /// Round of the conflicting votes.
        round: u32,
        /// Prevote or precommit.
        kind: VoteKind,
        /// Who reported it.
        #[serde(with = "account_ss58")]
        reporter: AccountId,
    },
    /// The validator set changed in this block: the blocks after it are finalized by `set`.
    /// Light clients follow this event.
    ValidatorSetChanged {
        /// The new set.
        set: ValidatorSet,
    },
}

// ---- errors ----

/// Errors of the governance module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
    /// A parameter is out of its allowed range (named).
    #[error("parameter {0} is out of its allowed range")]
    InvalidParameters(#[codec(skip)] &'static str),
    /// The proposed validator set is invalid (empty, duplicate, zero power, bad key).
    #[error("the validator set is invalid (empty, duplicate, zero power or bad key)")]
    InvalidValidatorSet,
    /// The chain has no BFT validator set (single-authority chain).
    #[error("this chain has no validator set")]
    NoValidatorSet,
    /// The equivocation evidence does not verify (same vote twice, bad signature).
    #[error("the equivocation evidence does not verify")]
    InvalidEvidence,
    /// The equivocating key is not a validator of the current set.
    #[error("the equivocating key is not a current validator")]
    NotAValidator,
    /// This equivocation was already recorded.
    #[error("this equivocation was already recorded")]
    AlreadyReported,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The current parameters (development defaults if genesis set none).
pub fn parameters(st: &Overlay<'_>) -> Parameters {
    PARAMETERS.get(st).unwrap_or_else(Parameters::dev)
}

/// The council key.
pub fn key(st: &Overlay<'_>) -> Option<AccountId> {
    KEY.get(st)
}

/// Whether `who` holds the council key (every module's council-only calls check this).
pub fn is_council(st: &Overlay<'_>, who: &AccountId) -> bool {
    key(st).as_ref() == Some(who)
}

fn ensure_council(st: &Overlay<'_>, origin: &AccountId) -> Result<AccountId, Error> {
    match key(st) {
        Some(k) if k == *origin => Ok(k),
        _ => Err(Error::RequireCouncil),
    }
}

/// Dispatches a governance call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    if let Call::ReportEquivocation { evidence } = call {
        return report_equivocation(ext, origin, evidence);
    }
    let old = ensure_council(&ext.state, &origin)?;
    match call {
        Call::SetKey { new } => {
            KEY.put(&mut ext.state, &new);
            ext.deposit_event(Event::KeyChanged { old, new });
        }
        Call::SetParameters { parameters } => {
            parameters.validate()?;
            PARAMETERS.put(&mut ext.state, &parameters);
            ext.deposit_event(Event::ParametersChanged { parameters });
        }
        Call::SetValidators { validators } => {
            let current = VALIDATORS.get(&ext.state).ok_or(Error::NoValidatorSet)?;
            let next = ValidatorSet { set_id: current.set_id.saturating_add(1), validators };
            next.validate().map_err(|_| Error::InvalidValidatorSet)?;
            NEXT_VALIDATORS.put(&mut ext.state, &next.validators);
            ext.deposit_event(Event::ValidatorSetScheduled { validators: next.validators });
        }
        Call::ReportEquivocation { .. } => {}
    }
    Ok(())
}

fn report_equivocation(
    ext: &mut Ext<'_>,
    reporter: AccountId,
    evidence: Equivocation,
) -> Result<(), DispatchError> {
    let set = VALIDATORS.get(&ext.state).ok_or(Error::NoValidatorSet)?;
    let account = set.get(&evidence.validator).ok_or(Error::NotAValidator)?.account;
    if !evidence.verify(&ext.genesis_hash()) {
        return Err(Error::InvalidEvidence.into());
    }
    let key = (evidence.validator, evidence.height, evidence.round, evidence.kind);
    if EQUIVOCATIONS.get(&ext.state, &key).is_some() {
        return Err(Error::AlreadyReported.into());
    }
    EQUIVOCATIONS.insert(&mut ext.state, &key, &reporter);
    ext.deposit_event(Event::EquivocationRecorded {
        validator: evidence.validator,
        account,
        height: evidence.height,
        round: evidence.round,
        kind: evidence.kind,
        reporter,
    });
    Ok(())
}

/// The validator set in force (`None` on single-authority chains).
pub fn validators(st: &Overlay<'_>) -> Option<ValidatorSet> {
    VALIDATORS.get(st)
}

/// Block initialization: at an epoch boundary, a scheduled validator set takes effect (event
/// `ValidatorSetChanged`). Returns the new set, whose accounts become the chain's authorities.
pub fn on_initialize(ext: &mut Ext<'_>, number: BlockNumber) -> Option<ValidatorSet> {
    if number.checked_rem(EPOCH_BLOCKS) != Some(0) {
        return None;
    }
    let validators = NEXT_VALIDATORS.get(&ext.state)?;
    ext.state.set(NEXT_VALIDATORS.key().to_vec(), None);
    let set_id = VALIDATORS.get(&ext.state).map_or(0, |s| s.set_id.saturating_add(1));
    let set = ValidatorSet { set_id, validators };
    VALIDATORS.put(&mut ext.state, &set);
    ext.deposit_event(Event::ValidatorSetChanged { set: set.clone() });
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EmptyState;
    use umbra_primitives::{Pair, H256};

    fn who(s: &str) -> AccountId {
        Pair::from_suri(s).unwrap().public()
    }

    fn ext() -> Ext<'static> {
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        KEY.put(&mut ext.state, &who("//Alice"));
        ext
    }

    #[test]
    fn set_parameters_basics() {
        let mut ext = ext();
        let mut p = Parameters::dev();
        p.base_fee = 7;
        dispatch(&mut ext, who("//Alice"), Call::SetParameters { parameters: p.clone() }).unwrap();
        assert_eq!(parameters(&ext.state), p);
    }

    #[test]
    fn cannot_change_anything_without_council_key() {
        let mut ext = ext();
        let err = dispatch(&mut ext, who("//Bob"), Call::SetKey { new: who("//Bob") }).unwrap_err();
        assert_eq!(err.variant(), "RequireCouncil");
        assert_eq!(key(&ext.state), Some(who("//Alice")));
    }

    /// The attack: the council sets a value that makes the chain unusable (fees nobody can pay,
    /// an existential deposit nobody can reach, blocks that never come or hold nothing). Each is
    /// refused with the parameter's name and nothing changes.
    #[test]
    fn cannot_set_out_of_range_parameters() {
        let d = Parameters::dev();
        let cases = [
            ("blockTimeMs", Parameters { block_time_ms: 1, ..d.clone() }),
            ("blockTimeMs", Parameters { block_time_ms: u64::MAX, ..d.clone() }),
            ("baseFee", Parameters { base_fee: Balance::MAX, ..d.clone() }),
            ("baseFee", Parameters { base_fee: MAX_BASE_FEE + 1, ..d.clone() }),
            ("byteFee", Parameters { byte_fee: Balance::MAX, ..d.clone() }),
            ("existentialDeposit", Parameters { existential_deposit: 0, ..d.clone() }),
            ("existentialDeposit", Parameters { existential_deposit: Balance::MAX, ..d.clone() }),
            ("maxExtrinsicSize", Parameters { max_extrinsic_size: u32::MAX, ..d.clone() }),
            ("maxBlockExtrinsics", Parameters { max_block_extrinsics: 0, ..d.clone() }),
            ("maxBlockExtrinsics", Parameters { max_block_extrinsics: u32::MAX, ..d.clone() }),
        ];
        for (name, p) in cases {
            // The dispatch error commits only the variant; the validator names the parameter.
            assert_eq!(p.validate(), Err(Error::InvalidParameters(name)));
            let mut ext = ext();
            PARAMETERS.put(&mut ext.state, &d);
            let err = crate::dispatch(
                &mut ext,
                who("//Alice"),
                crate::Call::Governance(Call::SetParameters { parameters: p }),
            )
            .unwrap_err();
            assert_eq!(err.variant(), "InvalidParameters");
            assert_eq!(parameters(&ext.state), d);
            let (_, events) = ext.into_parts();
            assert!(events.is_empty());
        }
        let edge = Parameters {
            base_fee: MAX_BASE_FEE,
            existential_deposit: MAX_EXISTENTIAL_DEPOSIT,
            ..d
        };
        let mut ext = ext();
        dispatch(&mut ext, who("//Alice"), Call::SetParameters { parameters: edge.clone() })
            .unwrap();
        assert_eq!(parameters(&ext.state), edge);
    }

    fn validator_key(uri: &str) -> (ed25519_consensus::SigningKey, Validator) {
        let pair = Pair::from_suri(uri).unwrap();
        let seed = umbra_primitives::finality::consensus_seed(&pair.to_secret_bytes());
        let sk = ed25519_consensus::SigningKey::from(seed);
        let v = Validator {
            account: pair.public(),
            consensus_key: sk.verification_key().to_bytes(),
            power: 1,
        };
        (sk, v)
    }

    fn vote(
        genesis: &H256,
        sk: &ed25519_consensus::SigningKey,
        value: Option<H256>,
    ) -> (Option<H256>, [u8; 64]) {
        let key = sk.verification_key().to_bytes();
        let msg = umbra_primitives::finality::vote_sign_bytes(
            genesis,
            VoteKind::Prevote,
            5,
            0,
            value.as_ref(),
            &key,
        );
        (value, sk.sign(&msg).to_bytes())
    }

    #[test]
    fn equivocation_is_verified_and_recorded_once() {
        let genesis = H256::hash(b"chain");
        let mut ext = Ext::with_genesis(Overlay::new(&EmptyState), genesis);
        KEY.put(&mut ext.state, &who("//Alice"));
        let (dave_sk, dave) = validator_key("//Dave");
        let (_, alice) = validator_key("//Alice");
        let (eve_sk, _) = validator_key("//Eve");
        let evidence = |sk: &ed25519_consensus::SigningKey, g: &H256| Equivocation {
            validator: sk.verification_key().to_bytes(),
            kind: VoteKind::Prevote,
            height: 5,
            round: 0,
            first: vote(g, sk, Some(H256::hash(b"a"))),
            second: vote(g, sk, Some(H256::hash(b"b"))),
        };
        let report = |ext: &mut Ext<'_>, e: Equivocation| {
            dispatch(ext, who("//Bob"), Call::ReportEquivocation { evidence: e })
        };
        // No validator set: nothing to report against.
        assert_eq!(
            report(&mut ext, evidence(&dave_sk, &genesis)),
            Err(Error::NoValidatorSet.into())
        );
        VALIDATORS.put(&mut ext.state, &ValidatorSet { set_id: 0, validators: vec![alice, dave] });
        // A key outside the set.
        assert_eq!(report(&mut ext, evidence(&eve_sk, &genesis)), Err(Error::NotAValidator.into()));
        // The same vote twice is no equivocation.
        let mut same = evidence(&dave_sk, &genesis);
        same.second = same.first;
        assert_eq!(report(&mut ext, same), Err(Error::InvalidEvidence.into()));
        // A forged second signature, and votes of another chain, are refused.
        let mut forged = evidence(&dave_sk, &genesis);
        forged.second.1[3] ^= 1;
        assert_eq!(report(&mut ext, forged), Err(Error::InvalidEvidence.into()));
        assert_eq!(
            report(&mut ext, evidence(&dave_sk, &H256::hash(b"other"))),
            Err(Error::InvalidEvidence.into())
        );
        assert!(ext.events().is_empty());
        // Genuine double votes are recorded once, with an event naming the validator.
        report(&mut ext, evidence(&dave_sk, &genesis)).unwrap();
        assert_eq!(ext.events().len(), 1);
        let key = (dave_sk.verification_key().to_bytes(), 5, 0, VoteKind::Prevote);
        assert_eq!(EQUIVOCATIONS.get(&ext.state, &key), Some(who("//Bob")));
        assert_eq!(
            report(&mut ext, evidence(&dave_sk, &genesis)),
            Err(Error::AlreadyReported.into())
        );
    }

    #[test]
    fn validator_sets_change_only_through_the_council_and_at_epoch_boundaries() {
        let mut ext = ext();
        let (_, a) = validator_key("//Alice");
        let (_, b) = validator_key("//Bob");
        let call = |v: Vec<Validator>| Call::SetValidators { validators: v };
        // A single-authority chain has no set to change.
        assert_eq!(
            dispatch(&mut ext, who("//Alice"), call(vec![a.clone()])),
            Err(Error::NoValidatorSet.into())
        );
        VALIDATORS.put(&mut ext.state, &ValidatorSet { set_id: 0, validators: vec![a.clone()] });
        assert_eq!(
            dispatch(&mut ext, who("//Bob"), call(vec![b.clone()])),
            Err(Error::RequireCouncil.into())
        );
        assert_eq!(
            dispatch(&mut ext, who("//Alice"), call(vec![])),
            Err(Error::InvalidValidatorSet.into())
        );
        assert_eq!(
            dispatch(&mut ext, who("//Alice"), call(vec![b.clone(), b.clone()])),
            Err(Error::InvalidValidatorSet.into())
        );
        dispatch(&mut ext, who("//Alice"), call(vec![a.clone(), b.clone()])).unwrap();
        // Not at a non-boundary block; at the boundary, with an event, once.
        assert_eq!(on_initialize(&mut ext, EPOCH_BLOCKS + 3), None);
        let set = on_initialize(&mut ext, 2 * EPOCH_BLOCKS).unwrap();
        assert_eq!(set, ValidatorSet { set_id: 1, validators: vec![a, b] });
        assert_eq!(validators(&ext.state), Some(set));
        assert_eq!(on_initialize(&mut ext, 3 * EPOCH_BLOCKS), None);
    }

    #[test]
    fn key_handover_emits_event_and_moves_power() {
        let mut ext = ext();
        dispatch(&mut ext, who("//Alice"), Call::SetKey { new: who("//Bob") }).unwrap();
        assert_eq!(key(&ext.state), Some(who("//Bob")));
        assert!(dispatch(&mut ext, who("//Alice"), Call::SetKey { new: who("//Alice") }).is_err());
    }

    #[test]
    fn fee_is_base_plus_bytes_plus_tip() {
        let p = Parameters::dev();
        assert_eq!(p.fee(100, 5), Some(p.base_fee + 100 * p.byte_fee + 5));
        let mut huge = p;
        huge.byte_fee = Balance::MAX;
        assert_eq!(huge.fee(2, 0), None);
    }
}
