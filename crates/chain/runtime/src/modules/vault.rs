//! `vault`: a lending pool. Lenders deposit UMB for vault shares; stake pool owners borrow the
//! stake their workers need, and the pool's rewards repay the loan.
//!
//! **Value and shares.** `value = cash + principal + interest due` (interest due includes what
//! accrued since the last settlement), and a share is worth `value / total_shares`. Deposits
//! mint `⌊amount × total_shares / value⌋` shares, withdrawals pay `⌊shares × value / total_shares⌋`
//! from cash (rounding always favours the vault). Money sent to the vault account outside these
//! calls is never counted, so the share price cannot be pushed around by donations.
//!
//! **Interest** is simple interest on principal, `interest_per_block_ppb` parts per billion per
//! block, accrued lazily: a global index grows by the rate each block; a loan owes
//! `⌊principal × (index − its snapshot) / 10⁹⌋` since it was last settled. The vault tracks
//! `Σ principal_i × snapshot_i` (256-bit) so the interest accrued by all loans is known in O(1).
//!
//! **Loans.** One per pool, owned by the pool's owner; the sum over a borrower's loans is capped
//! by `max_loan_per_borrower`. Borrowed money becomes free stake of the pool without shares.
//! Repayment (from the pool's rewards, or the owner's balance with `repay`) pays interest first,
//! then principal; repaid principal becomes the owner's shares in the pool.
//!
//! **Default.** When a worker of a borrowing pool stays unresponsive for `default_after_blocks`,
//! the worker is stopped and the loan defaults: its unpaid interest is written off (lenders lose
//! it), it stops accruing, and the pool's free stake — including the stake released after the
//! cool-down — repays the principal before anything else. Principal is lost only if the pool
//! ends with nothing left to repay it (impossible while stake cannot be slashed).
//!
//! See `docs/STAKING.md`.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::{blake2_256, Public};
use umbra_primitives::{
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance, BlockNumber, UNITS,
};

use crate::{
    ext::{DispatchError, Ext},
    math::{mul_div, U256},
    modules::{balances, computation::PoolId, governance, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// What the vault needs from the stake pools (the module above it, which must not be imported
/// here), implemented by the runtime root [`crate::Runtime`] (FRAME-style hooks).
pub trait Config {
    /// The owner of stake pool `pool`, `None` if there is no such pool.
    fn pool_owner(st: &Overlay<'_>, pool: PoolId) -> Option<AccountId>;
    /// The account holding pool `pool`'s money (where a loan is paid out).
    fn pool_account(pool: PoolId) -> AccountId;
    /// The vault lent `amount` to `pool` (already in its account).
    fn on_borrowed(ext: &mut Ext<'_>, pool: PoolId, amount: Balance) -> Result<(), DispatchError>;
    /// `pool`'s owner repaid `principal` of its loan from their own balance.
    fn on_principal_repaid_by_owner(
        ext: &mut Ext<'_>,
        pool: PoolId,
        principal: Balance,
    ) -> Result<(), DispatchError>;
}

/// Module name used in errors.
pub const MODULE: &str = "vault";
/// Least deposit (1 UMB).
pub const MIN_DEPOSIT: Balance = UNITS;
/// Least loan (1 UMB).
pub const MIN_BORROW: Balance = UNITS;
/// Parts per billion.
pub const PPB: u128 = 1_000_000_000;
/// Highest interest rate governance may set: 0.1% per block.
pub const MAX_INTEREST_PER_BLOCK_PPB: u64 = 1_000_000;
/// Largest `max_loan_per_borrower` (one billion UMB).
pub const MAX_LOAN_PER_BORROWER: Balance = 1_000_000_000 * UNITS;
/// Longest `default_after_blocks`.
pub const MAX_DEFAULT_AFTER_BLOCKS: u64 = 10_000_000;

/// Lending parameters. Governance sets them; part of genesis.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultParams {
    /// Simple interest per block on principal, in parts per billion.
    pub interest_per_block_ppb: u64,
    /// Most a borrower may owe (principal, over all their pools' loans).
    #[serde(with = "balance_str")]
    pub max_loan_per_borrower: Balance,
    /// Blocks a borrowing pool's worker may stay unresponsive before the loan defaults.
    pub default_after_blocks: u64,
}

impl Default for VaultParams {
    /// Development values: 3 ppb per block (≈ 9.5% a year at 1 s blocks), at most 10,000 UMB per
    /// borrower, default after 100 unresponsive blocks.
    fn default() -> Self {
        VaultParams {
            interest_per_block_ppb: 3,
            max_loan_per_borrower: 10_000 * UNITS,
            default_after_blocks: 100,
        }
    }
}

impl VaultParams {
    /// Checks every parameter against its allowed range, naming the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let check = |name, ok: bool| ok.then_some(()).ok_or(Error::InvalidParams(name));
        check("interestPerBlockPpb", self.interest_per_block_ppb <= MAX_INTEREST_PER_BLOCK_PPB)?;
        check("maxLoanPerBorrower", self.max_loan_per_borrower <= MAX_LOAN_PER_BORROWER)?;
        check(
            "defaultAfterBlocks",
            (1..=MAX_DEFAULT_AFTER_BLOCKS).contains(&self.default_after_blocks),
        )?;
        Ok(())
    }
}

// ---- storage ----

/// The vault's bookkeeping.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Encode, Decode)]
pub struct VaultState {
    /// Lenders' shares.
    pub total_shares: Balance,
    /// Money in the vault account that belongs to lenders and is not lent.
    pub cash: Balance,
    /// Outstanding principal of all loans.
    pub principal: Balance,
    /// Principal of loans that accrue interest (not defaulting).
    pub accruing_principal: Balance,
    /// Interest settled into loans and not paid yet.
    pub interest_due: Balance,
    /// Interest index: Σ rate × blocks, in ppb.
    pub index: u128,
    /// Block the index was last brought up to date.
    pub index_updated_at: BlockNumber,
    /// Σ principal × index snapshot over accruing loans.
    pub weighted: U256,
    /// Open loans.
    pub loans: u32,
    /// Interest ever paid.
    pub interest_paid: Balance,
    /// Interest written off by defaults.
    pub interest_written_off: Balance,
    /// Principal lost.
    pub principal_written_off: Balance,
}

/// A pool's loan.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Loan {
    /// Pool.
    pub pool: PoolId,
    /// The pool's owner, who borrowed.
    pub borrower: AccountId,
    /// Outstanding principal.
    pub principal: Balance,
    /// Settled, unpaid interest.
    pub interest_due: Balance,
    /// Interest index at the last settlement.
    pub index_snapshot: u128,
    /// Block of the first borrowing.
    pub borrowed_at: BlockNumber,
    /// In default: no interest, free stake of the pool repays it first.
    pub defaulting: bool,
    /// When it defaulted.
    pub defaulted_at: Option<BlockNumber>,
}

/// Parameters.
pub const PARAMS: StorageValue<VaultParams> = StorageValue::new(b"vault/params");
/// Bookkeeping.
pub const STATE: StorageValue<VaultState> = StorageValue::new(b"vault/state");
/// Loans by pool.
pub const LOANS: StorageMap<PoolId, Loan> = StorageMap::new(b"vault/loan/");
/// Lenders' shares.
pub const SHARES: StorageMap<AccountId, Balance> = StorageMap::new(b"vault/shares/");
/// Principal owed by each borrower (over all their loans).
pub const BORROWED: StorageMap<AccountId, Balance> = StorageMap::new(b"vault/borrowed/");

// ---- calls ----

/// Calls of the vault module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Lends `amount` to the vault for shares at the current share price. Origin: signed.
    #[codec(index = 0)]
    Deposit {
        /// Amount (≥ [`MIN_DEPOSIT`]).
        #[codec(compact)]
        amount: Balance,
    },
    /// Burns `shares` for their value, paid from the vault's cash. Origin: a lender.
    #[codec(index = 1)]
    Withdraw {
        /// Shares to burn.
        #[codec(compact)]
        shares: Balance,
    },
    /// Borrows `amount` as free stake of `pool`. Origin: the pool owner.
    #[codec(index = 2)]
    Borrow {
        /// Pool.
        pool: PoolId,
        /// Amount (≥ [`MIN_BORROW`]).
        #[codec(compact)]
        amount: Balance,
    },
    /// Repays up to `amount` of `pool`'s loan (interest first) from the signer's balance.
    /// Origin: the pool owner.
    #[codec(index = 3)]
    Repay {
        /// Pool.
        pool: PoolId,
        /// Most to pay.
        #[codec(compact)]
        amount: Balance,
    },
    /// Replaces the parameters (validated). Origin: the council key.
    #[codec(index = 4)]
    SetParams {
        /// New parameters.
        params: VaultParams,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2, 3, 4];

// ---- events ----

/// Where a loan repayment came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum RepaymentSource {
    /// The pool's rewards.
    Rewards,
    /// The pool's free stake (defaulting loan).
    Stake,
    /// The owner's own balance.
    Owner,
}

/// Events of the vault module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A lender deposited.
    Deposited {
        /// Lender.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Amount.
        #[serde(with = "balance_str")]
        amount: Balance,
        /// Shares minted.
        #[serde(with = "balance_str")]
        shares: Balance,
    },
    /// A lender withdrew.
    Withdrawn {
        /// Lender.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Shares burnt.
        #[serde(with = "balance_str")]
        shares: Balance,
        /// Amount paid.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// A pool borrowed.
    Borrowed {
        /// Pool.
        pool: PoolId,
        /// Its owner.
        #[serde(with = "account_ss58")]
        borrower: AccountId,
        /// Amount.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// Part of a loan was repaid.
    Repaid {
        /// Pool.
        pool: PoolId,
        /// Who paid.
        #[serde(with = "account_ss58")]
        payer: AccountId,
        /// From rewards, stake or the owner.
        source: RepaymentSource,
        /// Interest paid.
        #[serde(with = "balance_str")]
        interest: Balance,
        /// Principal paid.
        #[serde(with = "balance_str")]
        principal: Balance,
    },
    /// A loan was fully repaid (or written off) and closed.
    LoanClosed {
        /// Pool.
        pool: PoolId,
    },
    /// A loan defaulted: a worker of the pool stayed unresponsive too long.
    LoanDefaulted {
        /// Pool.
        pool: PoolId,
        /// The unresponsive worker (stopped).
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Principal still owed (repaid from the pool's stake as it frees).
        #[serde(with = "balance_str")]
        principal: Balance,
        /// Unpaid interest written off.
        #[serde(with = "balance_str")]
        interest_written_off: Balance,
    },
    /// Principal that can no longer be repaid was written off: lenders lose it.
    LossWrittenOff {
        /// Pool.
        pool: PoolId,
        /// Principal lost.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// The parameters changed.
    ParamsChanged {
        /// New parameters.
        params: VaultParams,
    },
}

// ---- errors ----

/// Errors of the vault module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The amount is zero.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Below [`MIN_DEPOSIT`], or too small to mint a share.
    #[error("deposit too small")]
    DepositTooSmall,
    /// The caller has fewer shares.
    #[error("insufficient vault shares")]
    InsufficientShares,
    /// The vault's cash cannot pay this now (it is lent out).
    #[error("insufficient liquidity: the vault's cash is lent out")]
    InsufficientLiquidity,
    /// The vault has shares but no value left: deposits would be taken by old shares.
    #[error("the vault has lost all its value")]
    VaultInsolvent,
    /// No such pool.
    #[error("no such pool")]
    PoolNotFound,
    /// The caller is not the pool's owner.
    #[error("the caller is not the pool owner")]
    NotPoolOwner,
    /// Below [`MIN_BORROW`].
    #[error("loan below the minimum")]
    BorrowTooSmall,
    /// The borrower would owe more than `max_loan_per_borrower`.
    #[error("loan limit per borrower exceeded")]
    LoanLimitExceeded,
    /// The pool's loan is in default.
    #[error("the pool's loan is in default")]
    LoanDefaulting,
    /// The pool has no loan.
    #[error("the pool has no loan")]
    NoLoan,
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
    /// A parameter is out of its allowed range (named).
    #[error("parameter {0} is out of its allowed range")]
    InvalidParams(#[codec(skip)] &'static str),
    /// Arithmetic overflow.
    #[error("overflow")]
    Overflow,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The keyless account holding the vault's money: `blake2_256("umbra/vault")`.
pub fn vault_account() -> AccountId {
    Public(blake2_256(b"umbra/vault"))
}

/// Current parameters (development defaults if none were set).
pub fn params(st: &Overlay<'_>) -> VaultParams {
    PARAMS.get(st).unwrap_or_default()
}

/// The loan of `pool`, as last settled.
pub fn loan(st: &Overlay<'_>, pool: PoolId) -> Option<Loan> {
    LOANS.get(st, &pool)
}

/// Lender shares of `who`.
pub fn shares(st: &Overlay<'_>, who: &AccountId) -> Balance {
    SHARES.get_or_default(st, who)
}

fn now(st: &Overlay<'_>) -> BlockNumber {
    system::NUMBER.get_or_default(st)
}

/// The vault's bookkeeping brought up to the current block (not written).
pub fn state(st: &Overlay<'_>) -> VaultState {
    let mut v = STATE.get_or_default(st);
    let n = now(st);
    if n > v.index_updated_at {
        let rate = params(st).interest_per_block_ppb as u128;
        v.index = v
            .index
            .saturating_add(rate.saturating_mul(u128::from(n.saturating_sub(v.index_updated_at))));
        v.index_updated_at = n;
    }
    v
}

/// Interest accrued by accruing loans since their last settlement.
fn unsettled_interest(v: &VaultState) -> Balance {
    U256::mul(v.accruing_principal, v.index)
        .saturating_sub(v.weighted)
        .div_rem(PPB)
        .map_or(Balance::MAX, |(q, _)| q)
}

/// All interest owed to the vault now (settled and accrued).
pub fn interest_owed(v: &VaultState) -> Balance {
    v.interest_due.saturating_add(unsettled_interest(v))
}

/// What the lenders own: cash, principal lent, interest owed.
pub fn total_value(v: &VaultState) -> Balance {
    v.cash.saturating_add(v.principal).saturating_add(interest_owed(v))
}

/// Brings `loan`'s interest up to the index.
fn settle_loan(v: &mut VaultState, loan: &mut Loan) {
    let delta = v.index.saturating_sub(loan.index_snapshot);
    loan.index_snapshot = v.index;
    if loan.defaulting || delta == 0 || loan.principal == 0 {
        return;
    }
    let interest = mul_div(loan.principal, delta, PPB).unwrap_or(Balance::MAX);
    loan.interest_due = loan.interest_due.saturating_add(interest);
    v.interest_due = v.interest_due.saturating_add(interest);
    v.weighted = v.weighted.saturating_add(U256::mul(loan.principal, delta));
}

/// Takes `amount` of principal off `loan` (settled), keeping the accruing sums.
fn reduce_principal(st: &mut Overlay<'_>, v: &mut VaultState, loan: &mut Loan, amount: Balance) {
    loan.principal = loan.principal.saturating_sub(amount);
    v.principal = v.principal.saturating_sub(amount);
    if !loan.defaulting {
        v.accruing_principal = v.accruing_principal.saturating_sub(amount);
        v.weighted = v.weighted.saturating_sub(U256::mul(amount, v.index));
    }
    let owed = BORROWED.get_or_default(st, &loan.borrower).saturating_sub(amount);
    if owed == 0 {
        BORROWED.remove(st, &loan.borrower);
    } else {
        BORROWED.insert(st, &loan.borrower, &owed);
    }
}

/// Stores `loan`, or closes it if nothing is owed.
fn save_loan(ext: &mut Ext<'_>, v: &mut VaultState, loan: &Loan) {
    if loan.principal == 0 {
        // Interest is paid before principal, so only a defaulted loan's (already written off)
        // interest could be left; never count it again.
        v.interest_due = v.interest_due.saturating_sub(loan.interest_due);
        v.interest_written_off = v.interest_written_off.saturating_add(loan.interest_due);
        LOANS.remove(&mut ext.state, &loan.pool);
        v.loans = v.loans.saturating_sub(1);
        ext.deposit_event(Event::LoanClosed { pool: loan.pool });
    } else {
        LOANS.insert(&mut ext.state, &loan.pool, loan);
    }
}

/// Repayment of a loan.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Repayment {
    /// Interest paid.
    pub interest: Balance,
    /// Principal paid.
    pub principal: Balance,
}

impl Repayment {
    /// Interest plus principal.
    pub fn total(&self) -> Balance {
        self.interest.saturating_add(self.principal)
    }
}

/// Moves up to `budget` from `payer` to the vault against `pool`'s loan: interest first, then
/// principal; closes the loan when its principal reaches zero. The stake side (shares for the
/// owner, or stake leaving the pool) is the caller's business.
pub(crate) fn repay(
    ext: &mut Ext<'_>,
    pool: PoolId,
    payer: &AccountId,
    budget: Balance,
    source: RepaymentSource,
) -> Result<Repayment, DispatchError> {
    let mut l = loan(&ext.state, pool).ok_or(Error::NoLoan)?;
    let mut v = state(&ext.state);
    settle_loan(&mut v, &mut l);
    let interest = budget.min(l.interest_due);
    let principal = budget.saturating_sub(interest).min(l.principal);
    let r = Repayment { interest, principal };
    if r.total() == 0 {
        return Ok(r);
    }
    balances::transfer(ext, payer, &vault_account(), r.total())?;
    l.interest_due = l.interest_due.checked_sub(interest).ok_or(Error::Overflow)?;
    v.interest_due = v.interest_due.saturating_sub(interest);
    v.interest_paid = v.interest_paid.saturating_add(interest);
    v.cash = v.cash.checked_add(r.total()).ok_or(Error::Overflow)?;
    reduce_principal(&mut ext.state, &mut v, &mut l, principal);
    ext.deposit_event(Event::Repaid { pool, payer: *payer, source, interest, principal });
    save_loan(ext, &mut v, &l);
    STATE.put(&mut ext.state, &v);
    Ok(r)
}

/// Puts `pool`'s loan into default because `worker` stayed unresponsive: writes off its unpaid
/// interest and stops its accrual. Does nothing if there is no loan or it already defaulted.
pub(crate) fn mark_defaulting(ext: &mut Ext<'_>, pool: PoolId, worker: &Public) {
    let Some(mut l) = loan(&ext.state, pool).filter(|l| !l.defaulting) else { return };
    let mut v = state(&ext.state);
    settle_loan(&mut v, &mut l);
    let written_off = std::mem::take(&mut l.interest_due);
    v.interest_due = v.interest_due.saturating_sub(written_off);
    v.interest_written_off = v.interest_written_off.saturating_add(written_off);
    v.accruing_principal = v.accruing_principal.saturating_sub(l.principal);
    v.weighted = v.weighted.saturating_sub(U256::mul(l.principal, v.index));
    l.defaulting = true;
    l.defaulted_at = Some(now(&ext.state));
    LOANS.insert(&mut ext.state, &pool, &l);
    STATE.put(&mut ext.state, &v);
    ext.deposit_event(Event::LoanDefaulted {
        pool,
        worker: *worker,
        principal: l.principal,
        interest_written_off: written_off,
    });
}

/// Writes off up to `amount` of `pool`'s principal as lost: the vault's value (and so the share
/// price) drops by it.
pub(crate) fn write_off(ext: &mut Ext<'_>, pool: PoolId, amount: Balance) {
    let Some(mut l) = loan(&ext.state, pool) else { return };
    let mut v = state(&ext.state);
    settle_loan(&mut v, &mut l);
    let amount = amount.min(l.principal);
    if amount == 0 {
        return;
    }
    reduce_principal(&mut ext.state, &mut v, &mut l, amount);
    v.principal_written_off = v.principal_written_off.saturating_add(amount);
    ext.deposit_event(Event::LossWrittenOff { pool, amount });
    save_loan(ext, &mut v, &l);
    STATE.put(&mut ext.state, &v);
}

fn deposit(ext: &mut Ext<'_>, origin: AccountId, amount: Balance) -> Result<(), DispatchError> {
    if amount < MIN_DEPOSIT {
        return Err(Error::DepositTooSmall.into());
    }
    let mut v = state(&ext.state);
    let value = total_value(&v);
    let minted = if v.total_shares == 0 {
        amount
    } else if value == 0 {
        return Err(Error::VaultInsolvent.into());
    } else {
        mul_div(amount, v.total_shares, value).ok_or(Error::Overflow)?
    };
    if minted == 0 {
        return Err(Error::DepositTooSmall.into());
    }
    balances::transfer(ext, &origin, &vault_account(), amount)?;
    v.cash = v.cash.checked_add(amount).ok_or(Error::Overflow)?;
    v.total_shares = v.total_shares.checked_add(minted).ok_or(Error::Overflow)?;
    let mine = shares(&ext.state, &origin).checked_add(minted).ok_or(Error::Overflow)?;
    SHARES.insert(&mut ext.state, &origin, &mine);
    STATE.put(&mut ext.state, &v);
    ext.deposit_event(Event::Deposited { who: origin, amount, shares: minted });
    Ok(())
}

fn withdraw(ext: &mut Ext<'_>, origin: AccountId, burn: Balance) -> Result<(), DispatchError> {
    if burn == 0 {
        return Err(Error::ZeroAmount.into());
    }
    let mine = shares(&ext.state, &origin);
    if burn > mine {
        return Err(Error::InsufficientShares.into());
    }
    let mut v = state(&ext.state);
    let amount = mul_div(burn, total_value(&v), v.total_shares).ok_or(Error::Overflow)?;
    if amount > v.cash {
        return Err(Error::InsufficientLiquidity.into());
    }
    if amount > 0 {
        balances::transfer(ext, &vault_account(), &origin, amount)?;
    }
    v.cash = v.cash.checked_sub(amount).ok_or(Error::Overflow)?;
    v.total_shares = v.total_shares.checked_sub(burn).ok_or(Error::Overflow)?;
    if mine == burn {
        SHARES.remove(&mut ext.state, &origin);
    } else {
        SHARES.insert(&mut ext.state, &origin, &mine.saturating_sub(burn));
    }
    STATE.put(&mut ext.state, &v);
    ext.deposit_event(Event::Withdrawn { who: origin, shares: burn, amount });
    Ok(())
}

fn owned_pool<T: Config>(st: &Overlay<'_>, pool: PoolId, origin: &AccountId) -> Result<(), Error> {
    let owner = T::pool_owner(st, pool).ok_or(Error::PoolNotFound)?;
    if owner != *origin {
        return Err(Error::NotPoolOwner);
    }
    Ok(())
}

fn borrow<T: Config>(
    ext: &mut Ext<'_>,
    origin: AccountId,
    pool: PoolId,
    amount: Balance,
) -> Result<(), DispatchError> {
    owned_pool::<T>(&ext.state, pool, &origin)?;
    if amount < MIN_BORROW {
        return Err(Error::BorrowTooSmall.into());
    }
    let existing = loan(&ext.state, pool);
    if existing.is_some_and(|l| l.defaulting) {
        return Err(Error::LoanDefaulting.into());
    }
    let owed =
        BORROWED.get_or_default(&ext.state, &origin).checked_add(amount).ok_or(Error::Overflow)?;
    if owed > params(&ext.state).max_loan_per_borrower {
        return Err(Error::LoanLimitExceeded.into());
    }
    let mut v = state(&ext.state);
    if amount > v.cash {
        return Err(Error::InsufficientLiquidity.into());
    }
    let mut l = existing.unwrap_or(Loan {
        pool,
        borrower: origin,
        principal: 0,
        interest_due: 0,
        index_snapshot: v.index,
        borrowed_at: now(&ext.state),
        defaulting: false,
        defaulted_at: None,
    });
    if existing.is_none() {
        v.loans = v.loans.saturating_add(1);
    }
    settle_loan(&mut v, &mut l);
    l.principal = l.principal.checked_add(amount).ok_or(Error::Overflow)?;
    v.principal = v.principal.checked_add(amount).ok_or(Error::Overflow)?;
    v.accruing_principal = v.accruing_principal.checked_add(amount).ok_or(Error::Overflow)?;
    v.weighted = v.weighted.checked_add(U256::mul(amount, v.index)).ok_or(Error::Overflow)?;
    v.cash = v.cash.checked_sub(amount).ok_or(Error::Overflow)?;
    balances::transfer(ext, &vault_account(), &T::pool_account(pool), amount)?;
    LOANS.insert(&mut ext.state, &pool, &l);
    BORROWED.insert(&mut ext.state, &origin, &owed);
    STATE.put(&mut ext.state, &v);
    ext.deposit_event(Event::Borrowed { pool, borrower: origin, amount });
    T::on_borrowed(ext, pool, amount)?;
    Ok(())
}

fn repay_call<T: Config>(
    ext: &mut Ext<'_>,
    origin: AccountId,
    pool: PoolId,
    amount: Balance,
) -> Result<(), DispatchError> {
    owned_pool::<T>(&ext.state, pool, &origin)?;
    if amount == 0 {
        return Err(Error::ZeroAmount.into());
    }
    if loan(&ext.state, pool).is_none() {
        return Err(Error::NoLoan.into());
    }
    let r = repay(ext, pool, &origin, amount, RepaymentSource::Owner)?;
    T::on_principal_repaid_by_owner(ext, pool, r.principal)?;
    Ok(())
}

fn set_params(ext: &mut Ext<'_>, origin: AccountId, new: VaultParams) -> Result<(), DispatchError> {
    if !governance::is_council(&ext.state, &origin) {
        return Err(Error::RequireCouncil.into());
    }
    new.validate()?;
    // Interest up to now accrues at the old rate.
    let v = state(&ext.state);
    STATE.put(&mut ext.state, &v);
    PARAMS.put(&mut ext.state, &new);
    ext.deposit_event(Event::ParamsChanged { params: new });
    Ok(())
}

/// Dispatches a vault call from `origin`. A failing call changes nothing.
pub fn dispatch<T: Config>(
    ext: &mut Ext<'_>,
    origin: AccountId,
    call: Call,
) -> Result<(), DispatchError> {
    ext.transactional(|ext| match call {
        Call::Deposit { amount } => deposit(ext, origin, amount),
        Call::Withdraw { shares } => withdraw(ext, origin, shares),
        Call::Borrow { pool, amount } => borrow::<T>(ext, origin, pool, amount),
        Call::Repay { pool, amount } => repay_call::<T>(ext, origin, pool, amount),
        Call::SetParams { params } => set_params(ext, origin, params),
    })
}

// ---- queries (RPC) ----

/// `value / shares` as a decimal with 12 places (`"1"`-equivalent when there are no shares).
pub fn format_ratio(value: Balance, shares: Balance) -> String {
    if shares == 0 {
        return "1.000000000000".into();
    }
    let scaled = mul_div(value, UNITS, shares).unwrap_or(Balance::MAX);
    format!("{}.{:012}", scaled / UNITS, scaled % UNITS)
}

/// The vault as `umbra_vault` returns it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultInfo {
    /// The vault's account.
    #[serde(with = "account_ss58")]
    pub account: AccountId,
    /// Lenders' shares.
    #[serde(with = "balance_str")]
    pub total_shares: Balance,
    /// Money not lent.
    #[serde(with = "balance_str")]
    pub cash: Balance,
    /// Principal lent.
    #[serde(with = "balance_str")]
    pub principal: Balance,
    /// Interest owed now (settled and accrued).
    #[serde(with = "balance_str")]
    pub interest_owed: Balance,
    /// cash + principal + interest owed.
    #[serde(with = "balance_str")]
    pub value: Balance,
    /// value / total shares, 12 decimals.
    pub share_price: String,
    /// Open loans.
    pub loans: u32,
    /// Interest ever paid.
    #[serde(with = "balance_str")]
    pub interest_paid: Balance,
    /// Interest written off by defaults.
    #[serde(with = "balance_str")]
    pub interest_written_off: Balance,
    /// Principal lost.
    #[serde(with = "balance_str")]
    pub principal_written_off: Balance,
    /// Parameters.
    pub params: VaultParams,
}

/// The vault's state, parameters and share price at the current block.
pub fn vault_info(st: &Overlay<'_>) -> VaultInfo {
    let v = state(st);
    let value = total_value(&v);
    VaultInfo {
        account: vault_account(),
        total_shares: v.total_shares,
        cash: v.cash,
        principal: v.principal,
        interest_owed: interest_owed(&v),
        value,
        share_price: format_ratio(value, v.total_shares),
        loans: v.loans,
        interest_paid: v.interest_paid,
        interest_written_off: v.interest_written_off,
        principal_written_off: v.principal_written_off,
        params: params(st),
    }
}

/// A lender's position, as `umbra_vaultPosition` returns it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// Lender.
    #[serde(with = "account_ss58")]
    pub who: AccountId,
    /// Shares.
    #[serde(with = "balance_str")]
    pub shares: Balance,
    /// What they are worth now.
    #[serde(with = "balance_str")]
    pub value: Balance,
    /// Principal `who` owes as a borrower.
    #[serde(with = "balance_str")]
    pub borrowed: Balance,
}

/// `who`'s position as lender (and borrower).
pub fn position(st: &Overlay<'_>, who: &AccountId) -> Position {
    let v = state(st);
    let mine = shares(st, who);
    let value = if v.total_shares == 0 {
        0
    } else {
        mul_div(mine, total_value(&v), v.total_shares).unwrap_or(0)
    };
    Position { who: *who, shares: mine, value, borrowed: BORROWED.get_or_default(st, who) }
}

/// A loan as `umbra_loan` returns it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoanInfo {
    /// Pool.
    pub pool: PoolId,
    /// Borrower (the pool owner).
    #[serde(with = "account_ss58")]
    pub borrower: AccountId,
    /// Outstanding principal.
    #[serde(with = "balance_str")]
    pub principal: Balance,
    /// Interest owed now.
    #[serde(with = "balance_str")]
    pub interest_due: Balance,
    /// Block of the first borrowing.
    pub borrowed_at: BlockNumber,
    /// In default.
    pub defaulting: bool,
    /// When it defaulted.
    pub defaulted_at: Option<BlockNumber>,
}

/// `pool`'s loan with its interest brought up to the current block.
pub fn loan_info(st: &Overlay<'_>, pool: PoolId) -> Option<LoanInfo> {
    let mut l = loan(st, pool)?;
    let mut v = state(st);
    settle_loan(&mut v, &mut l);
    Some(LoanInfo {
        pool,
        borrower: l.borrower,
        principal: l.principal,
        interest_due: l.interest_due,
        borrowed_at: l.borrowed_at,
        defaulting: l.defaulting,
        defaulted_at: l.defaulted_at,
    })
}

#[cfg(test)]
pub(crate) mod tests;
