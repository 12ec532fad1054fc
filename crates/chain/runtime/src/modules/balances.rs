//! `balances`: the native token UMB. Free and reserved balances per account, total issuance,
//! transfers, fees, and the reserve/mint/burn operations other modules build on.
//!
//! Invariant: `TOTAL_ISSUANCE == Σ (free + reserved)` over all accounts. Every operation uses
//! checked arithmetic and either fully applies or changes nothing.
//!
//! Existential deposit: an account that does not exist yet must receive at least the existential
//! deposit (set by governance), which stops dust accounts from bloating state. Accounts are never
//! reaped, so a nonce is never reset and a signed transaction can never be replayed.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::Serialize;
use umbra_primitives::{
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::governance,
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "balances";

// ---- storage ----

/// Balances of an account.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, Serialize)]
pub struct AccountData {
    /// Spendable balance.
    #[serde(with = "balance_str")]
    pub free: Balance,
    /// Balance held by modules (stake, deposits); not spendable until unreserved.
    #[serde(with = "balance_str")]
    pub reserved: Balance,
}

impl AccountData {
    /// free + reserved, if it fits.
    pub fn total(&self) -> Option<Balance> {
        self.free.checked_add(self.reserved)
    }
}

/// Balances of each account that exists.
pub const ACCOUNTS: StorageMap<AccountId, AccountData> = StorageMap::new(b"balances/account/");
/// Total UMB in existence.
pub const TOTAL_ISSUANCE: StorageValue<Balance> = StorageValue::new(b"balances/total_issuance");

// ---- calls ----

/// Calls of the balances module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Moves `amount` of the signer's free balance to `dest`. Origin: signed.
    /// A new `dest` must receive at least the existential deposit.
    #[codec(index = 0)]
    Transfer {
        /// Recipient.
        dest: AccountId,
        /// Amount in the smallest unit.
        #[codec(compact)]
        amount: Balance,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0];

// ---- events ----

/// Events of the balances module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A transfer succeeded.
    Transfer {
        /// Sender.
        #[serde(with = "account_ss58")]
        from: AccountId,
        /// Recipient.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// Amount moved.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// An account was created with this initial balance.
    Endowed {
        /// The new account.
        #[serde(with = "account_ss58")]
        account: AccountId,
        /// Its first balance.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// A transaction fee (including tip) was paid to the treasury.
    FeePaid {
        /// Who paid.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// The whole fee.
        #[serde(with = "balance_str")]
        fee: Balance,
        /// The part of it that was a tip.
        #[serde(with = "balance_str")]
        tip: Balance,
    },
    /// Some balance was reserved.
    Reserved {
        /// Whose.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// How much.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// Some reserved balance was freed.
    Unreserved {
        /// Whose.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// How much.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// New UMB was issued to an account.
    Minted {
        /// Recipient.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// How much.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
}

// ---- errors ----

/// Errors of the balances module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The free balance is lower than the amount.
    #[error("insufficient free balance")]
    InsufficientBalance,
    /// The reserved balance is lower than the amount.
    #[error("insufficient reserved balance")]
    InsufficientReserved,
    /// A new account would receive less than the existential deposit.
    #[error("amount below the existential deposit for a new account")]
    ExistentialDeposit,
    /// An arithmetic overflow would occur.
    #[error("balance overflow")]
    Overflow,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The treasury account: receives fees (and, later, the treasury share of emission). No one holds
/// its key; it is `blake2_256("umbra/treasury")`.
pub fn treasury_account() -> AccountId {
    umbra_primitives::Public(umbra_crypto::blake2_256(b"umbra/treasury"))
}

/// The balances of `who` (zero if the account does not exist).
pub fn account(st: &Overlay<'_>, who: &AccountId) -> AccountData {
    ACCOUNTS.get_or_default(st, who)
}

/// Whether `who` exists.
pub fn exists(st: &Overlay<'_>, who: &AccountId) -> bool {
    ACCOUNTS.get(st, who).is_some()
}

/// Total issuance.
pub fn total_issuance(st: &Overlay<'_>) -> Balance {
    TOTAL_ISSUANCE.get_or_default(st)
}

/// Moves `amount` of free balance from `from` to `to`.
pub fn transfer(
    ext: &mut Ext<'_>,
    from: &AccountId,
    to: &AccountId,
    amount: Balance,
) -> Result<(), Error> {
    let st = &mut ext.state;
    let mut src = account(st, from);
    src.free = src.free.checked_sub(amount).ok_or(Error::InsufficientBalance)?;
    if from == to {
        ext.deposit_event(Event::Transfer { from: *from, to: *to, amount });
        return Ok(());
    }
    let dest_exists = exists(st, to);
    if !dest_exists && amount < governance::parameters(st).existential_deposit {
        return Err(Error::ExistentialDeposit);
    }
    let mut dst = account(st, to);
    dst.free = dst.free.checked_add(amount).ok_or(Error::Overflow)?;
    dst.total().ok_or(Error::Overflow)?;
    ACCOUNTS.insert(st, from, &src);
    ACCOUNTS.insert(st, to, &dst);
    if !dest_exists {
        ext.deposit_event(Event::Endowed { account: *to, amount });
    }
    ext.deposit_event(Event::Transfer { from: *from, to: *to, amount });
    Ok(())
}

/// Charges a transaction fee: moves `fee` from `who`'s free balance to the treasury. The treasury
/// is credited without the existential-deposit rule (fees are small).
pub fn pay_fee(
    ext: &mut Ext<'_>,
    who: &AccountId,
    fee: Balance,
    tip: Balance,
) -> Result<(), Error> {
    let st = &mut ext.state;
    let mut src = account(st, who);
    src.free = src.free.checked_sub(fee).ok_or(Error::InsufficientBalance)?;
    let treasury = treasury_account();
    if treasury != *who {
        let mut t = account(st, &treasury);
        t.free = t.free.checked_add(fee).ok_or(Error::Overflow)?;
        t.total().ok_or(Error::Overflow)?;
        ACCOUNTS.insert(st, who, &src);
        ACCOUNTS.insert(st, &treasury, &t);
    }
    ext.deposit_event(Event::FeePaid { who: *who, fee, tip });
    Ok(())
}

/// Moves `amount` of free balance from `from` to `to` without the existential-deposit rule, for
/// module accounts (the contracts module's gas escrow, the treasury) and refunds from them;
/// emits `Transfer`. Nothing changes on error.
pub fn move_free(
    ext: &mut Ext<'_>,
    from: &AccountId,
    to: &AccountId,
    amount: Balance,
) -> Result<(), Error> {
    if amount == 0 {
        return Ok(());
    }
    let st = &mut ext.state;
    let mut src = account(st, from);
    src.free = src.free.checked_sub(amount).ok_or(Error::InsufficientBalance)?;
    if from != to {
        let mut dst = account(st, to);
        dst.free = dst.free.checked_add(amount).ok_or(Error::Overflow)?;
        dst.total().ok_or(Error::Overflow)?;
        ACCOUNTS.insert(st, from, &src);
        ACCOUNTS.insert(st, to, &dst);
    }
    ext.deposit_event(Event::Transfer { from: *from, to: *to, amount });
    Ok(())
}

/// Moves `amount` from free to reserved.
pub fn reserve(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Result<(), Error> {
    let st = &mut ext.state;
    let mut a = account(st, who);
    a.free = a.free.checked_sub(amount).ok_or(Error::InsufficientBalance)?;
    a.reserved = a.reserved.checked_add(amount).ok_or(Error::Overflow)?;
    ACCOUNTS.insert(st, who, &a);
    ext.deposit_event(Event::Reserved { who: *who, amount });
    Ok(())
}

/// Moves `amount` from reserved back to free.
pub fn unreserve(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Result<(), Error> {
    let st = &mut ext.state;
    let mut a = account(st, who);
    a.reserved = a.reserved.checked_sub(amount).ok_or(Error::InsufficientReserved)?;
    a.free = a.free.checked_add(amount).ok_or(Error::Overflow)?;
    ACCOUNTS.insert(st, who, &a);
    ext.deposit_event(Event::Unreserved { who: *who, amount });
    Ok(())
}

/// Issues `amount` of new UMB to `who` (raises total issuance) and emits `Minted`. Used by
/// genesis.
pub fn mint(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Result<(), Error> {
    issue(ext, who, amount)?;
    ext.deposit_event(Event::Minted { who: *who, amount });
    Ok(())
}

/// Issues `amount` of new UMB to `who` without an event: the per-block emission, whose totals
/// the computation module records.
pub fn issue(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Result<(), Error> {
    if amount == 0 {
        return Ok(());
    }
    let st = &mut ext.state;
    let issuance = total_issuance(st).checked_add(amount).ok_or(Error::Overflow)?;
    let mut a = account(st, who);
    a.free = a.free.checked_add(amount).ok_or(Error::Overflow)?;
    a.total().ok_or(Error::Overflow)?;
    ACCOUNTS.insert(st, who, &a);
    TOTAL_ISSUANCE.put(st, &issuance);
    Ok(())
}

/// Dispatches a balances call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::Transfer { dest, amount } => {
            transfer(ext, &origin, &dest, amount).map_err(Into::into)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        modules::governance::{self, Parameters},
        state::EmptyState,
        Event as RuntimeEvent,
    };
    use umbra_primitives::{Pair, UNITS};

    fn who(s: &str) -> AccountId {
        Pair::from_suri(s).unwrap().public()
    }

    fn ext_with(balances: &[(&str, Balance)]) -> Ext<'static> {
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        governance::PARAMETERS.put(&mut ext.state, &Parameters::dev());
        for (s, b) in balances {
            mint(&mut ext, &who(s), *b).unwrap();
        }
        ext
    }

    #[test]
    fn transfer_basics_emits_events_correctly() {
        let mut ext = ext_with(&[("//Alice", 10 * UNITS)]);
        let before = ext.events().len();
        transfer(&mut ext, &who("//Alice"), &who("//Bob"), 3 * UNITS).unwrap();
        assert_eq!(account(&ext.state, &who("//Alice")).free, 7 * UNITS);
        assert_eq!(account(&ext.state, &who("//Bob")).free, 3 * UNITS);
        assert_eq!(
            ext.events()[before..].iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
            vec![
                RuntimeEvent::Balances(Event::Endowed { account: who("//Bob"), amount: 3 * UNITS }),
                RuntimeEvent::Balances(Event::Transfer {
                    from: who("//Alice"),
                    to: who("//Bob"),
                    amount: 3 * UNITS
                }),
            ]
        );
        assert_eq!(total_issuance(&ext.state), 10 * UNITS);
    }

    #[test]
    fn cannot_transfer_more_than_free_and_nothing_changes() {
        let mut ext = ext_with(&[("//Alice", 10 * UNITS), ("//Bob", UNITS)]);
        let changes = ext.state.change_count();
        assert_eq!(
            transfer(&mut ext, &who("//Alice"), &who("//Bob"), 11 * UNITS),
            Err(Error::InsufficientBalance)
        );
        assert_eq!(ext.state.change_count(), changes);
        assert_eq!(account(&ext.state, &who("//Alice")).free, 10 * UNITS);
    }

    #[test]
    fn cannot_create_account_below_existential_deposit() {
        let mut ext = ext_with(&[("//Alice", 10 * UNITS)]);
        let ed = Parameters::dev().existential_deposit;
        assert_eq!(
            transfer(&mut ext, &who("//Alice"), &who("//Dave"), ed - 1),
            Err(Error::ExistentialDeposit)
        );
        assert!(!exists(&ext.state, &who("//Dave")));
        transfer(&mut ext, &who("//Alice"), &who("//Dave"), ed).unwrap();
        // Once it exists, any amount can be sent.
        transfer(&mut ext, &who("//Alice"), &who("//Dave"), 1).unwrap();
        assert_eq!(account(&ext.state, &who("//Dave")).free, ed + 1);
    }

    #[test]
    fn reserve_and_unreserve_keep_issuance() {
        let mut ext = ext_with(&[("//Alice", 10 * UNITS)]);
        let a = who("//Alice");
        reserve(&mut ext, &a, 4 * UNITS).unwrap();
        assert_eq!(account(&ext.state, &a), AccountData { free: 6 * UNITS, reserved: 4 * UNITS });
        assert_eq!(reserve(&mut ext, &a, 7 * UNITS), Err(Error::InsufficientBalance));
        assert_eq!(unreserve(&mut ext, &a, 5 * UNITS), Err(Error::InsufficientReserved));
        unreserve(&mut ext, &a, 4 * UNITS).unwrap();
        assert_eq!(account(&ext.state, &a), AccountData { free: 10 * UNITS, reserved: 0 });
        assert_eq!(total_issuance(&ext.state), 10 * UNITS);
    }

    #[test]
    fn mint_cannot_overflow_issuance() {
        let mut ext = ext_with(&[("//Alice", Balance::MAX - 5)]);
        assert_eq!(mint(&mut ext, &who("//Bob"), 10), Err(Error::Overflow));
        assert_eq!(total_issuance(&ext.state), Balance::MAX - 5);
        assert!(!exists(&ext.state, &who("//Bob")));
    }

    #[test]
    fn fee_goes_to_treasury() {
        let mut ext = ext_with(&[("//Alice", 10 * UNITS)]);
        pay_fee(&mut ext, &who("//Alice"), 5, 2).unwrap();
        assert_eq!(account(&ext.state, &treasury_account()).free, 5);
        assert_eq!(account(&ext.state, &who("//Alice")).free, 10 * UNITS - 5);
        assert_eq!(pay_fee(&mut ext, &who("//Bob"), 1, 0), Err(Error::InsufficientBalance));
    }
}
