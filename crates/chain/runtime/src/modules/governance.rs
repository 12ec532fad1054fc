//! `governance`: who may change chain parameters. For now a single council key (sudo); the same
//! calls will later be routed through token-weighted voting.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_primitives::{
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance, UNITS,
};

use crate::{
    ext::{DispatchError, Ext},
    state::{Overlay, StorageValue},
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
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1];

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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EmptyState;
    use umbra_primitives::Pair;

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
