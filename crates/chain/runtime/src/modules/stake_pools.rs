//! `stake_pools`: an owner creates a pool with a commission and binds workers to it; anyone
//! contributes stake and shares the pool's rewards pro rata; the owner starts workers with the
//! pool's free stake; withdrawals wait in a FIFO queue while stake is locked.
//!
//! **Money.** All of a pool's money sits in its keyless account [`pool_account`] (nobody holds
//! its key). The pool's bookkeeping splits it into
//! - stake: `free_stake + locked_stake == total_shares + loan principal` (1 share = 1 planck of
//!   contributed stake; borrowed stake from the [`vault`] has no shares until it is repaid), and
//! - unpaid rewards `reward_held == owner_reward + Σ pending + dust` (exactly, counting sub-planck
//!   remainders),
//!
//! and `stake + reward_held ≤` the account's free balance (anything sent to the account outside
//! the pool's calls is never paid out, but is never counted either).
//!
//! **Rewards** arrive from `computation` ([`on_reward`]): the borrowed stake's part
//! (`reward × principal / (total_shares + principal)`) repays the pool's vault loan (interest,
//! then principal; repaid principal becomes the owner's shares; what is left after the loan is
//! closed goes to the owner); the owner takes the commission of the rest, and the remainder
//! raises a reward-per-share accumulator (scaled by [`REWARD_SCALE`]). A contributor's pending
//! reward is `unclaimed + shares × (acc − snapshot) / REWARD_SCALE`, so a distribution costs the
//! same whatever the number of contributors. Rounding remainders are kept as `dust` (whole
//! planck) and `dust_frac` (sub-planck, scaled) and re-enter the next distribution.
//!
//! **Withdrawals** are paid at once from free stake when the queue is empty; the rest waits in a
//! FIFO queue (one entry per request, at most [`MAX_WITHDRAW_QUEUE`] per pool). Queued shares
//! keep earning until paid. Whenever free stake appears (a worker's stake is released, a
//! contribution, a loan), a defaulting vault loan is repaid first, then the queue is served in
//! order. Free stake that queued withdrawals are waiting for is never locked again.
//!
//! See `docs/STAKING.md`.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_crypto::{blake2_256, Public};
use umbra_primitives::{
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance, BlockNumber, UNITS,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{
        balances,
        computation::{self, PoolId, WorkerState},
        registry, system,
        vault::{self, RepaymentSource},
    },
    state::{Overlay, StorageMap, StorageValue},
};

/// The exact integer helpers (moved to the crate root, shared with the vault).
pub use crate::math;

use math::{mul_div, mul_div_rem};

/// Module name used in errors.
pub const MODULE: &str = "stake_pools";
/// Most workers bound to one pool.
pub const MAX_POOL_WORKERS: usize = 64;
/// Most open withdrawal requests in one pool's queue.
pub const MAX_WITHDRAW_QUEUE: u64 = 1024;
/// Most open withdrawal requests of one account in one pool.
pub const MAX_REQUESTS_PER_ACCOUNT: u32 = 8;
/// Least amount accepted by `contribute` (1 UMB); also the least stake left after a partial
/// withdrawal (a smaller remainder is withdrawn too).
pub const MIN_CONTRIBUTION: Balance = UNITS;
/// Commission is in parts per million.
pub const PPM: u32 = 1_000_000;
/// Fixed-point scale of the reward-per-share accumulator.
pub const REWARD_SCALE: u128 = 1_000_000_000_000_000_000;

// ---- storage ----

/// A stake pool.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// Its id.
    pub id: PoolId,
    /// Who created it: binds workers, starts and stops them, borrows, earns the commission.
    #[serde(with = "account_ss58")]
    pub owner: AccountId,
    /// Owner's cut of contributors' rewards, in parts per million.
    pub commission: u32,
    /// Workers bound to it.
    #[serde(
        serialize_with = "ss58_list",
        deserialize_with = "umbra_primitives::serde_helpers::ss58_list::deserialize"
    )]
    pub workers: Vec<Public>,
    /// Contributors' shares (1 share = 1 planck of stake), including shares waiting in the
    /// withdraw queue.
    #[serde(with = "balance_str")]
    pub total_shares: Balance,
    /// Stake not bound to any worker.
    #[serde(with = "balance_str")]
    pub free_stake: Balance,
    /// Stake bound to workers (computing, or cooling down).
    #[serde(with = "balance_str")]
    pub locked_stake: Balance,
    /// Sum of the withdraw queue (shares waiting to be paid).
    #[serde(with = "balance_str")]
    pub queued: Balance,
    /// Index of the oldest open withdrawal request.
    pub queue_head: u64,
    /// Index the next withdrawal request gets.
    pub queue_tail: u64,
    /// Reward per share, scaled by [`REWARD_SCALE`].
    #[serde(with = "balance_str")]
    pub reward_acc: u128,
    /// Unclaimed commission.
    #[serde(with = "balance_str")]
    pub owner_reward: Balance,
    /// Reward money in the pool account not yet paid out (commission, contributors' pending
    /// rewards and dust).
    #[serde(with = "balance_str")]
    pub reward_held: Balance,
    /// Whole planck of rounding owed to nobody yet (re-enters the next distribution).
    #[serde(with = "balance_str")]
    pub dust: Balance,
    /// Sub-planck rounding, scaled by [`REWARD_SCALE`] (always below it).
    #[serde(with = "balance_str")]
    pub dust_frac: u128,
    /// Every reward the pool received.
    #[serde(with = "balance_str")]
    pub total_rewards: Balance,
    /// Accounts with a stake record in the pool.
    pub contributors: u32,
    /// Block it was created.
    pub created_at: BlockNumber,
}

impl Pool {
    /// Free stake that may be bound to a worker: free stake not owed to queued withdrawals.
    pub fn available_stake(&self) -> Balance {
        self.free_stake.saturating_sub(self.queued)
    }

    /// Open withdrawal requests.
    pub fn queue_len(&self) -> u64 {
        self.queue_tail.saturating_sub(self.queue_head)
    }
}

fn ss58_list<S: serde::Serializer>(v: &[Public], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_ss58()))
}

/// An account's stake in a pool.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Stake {
    /// Shares (planck of stake), including queued ones.
    pub shares: Balance,
    /// Part of `shares` waiting in the withdraw queue.
    pub queued: Balance,
    /// Open withdrawal requests.
    pub requests: u32,
    /// The pool's accumulator when this stake's rewards were last settled.
    pub reward_snapshot: u128,
    /// Settled, unclaimed rewards.
    pub unclaimed: Balance,
}

impl Stake {
    fn is_empty(&self) -> bool {
        self.shares == 0 && self.queued == 0 && self.unclaimed == 0 && self.requests == 0
    }
}

/// A worker bound to a pool.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerBinding {
    /// The pool.
    pub pool: PoolId,
    /// Stake the pool locked for it (0 unless computing or cooling down).
    #[serde(with = "balance_str")]
    pub stake: Balance,
}

/// An open withdrawal request.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawRequest {
    /// Who gets paid.
    #[serde(with = "account_ss58")]
    pub who: AccountId,
    /// What is still owed.
    #[serde(with = "balance_str")]
    pub amount: Balance,
    /// Block it was queued.
    pub queued_at: BlockNumber,
}

/// Id the next pool gets.
pub const NEXT_POOL_ID: StorageValue<PoolId> = StorageValue::new(b"stake_pools/next_id");
/// Pools by id.
pub const POOLS: StorageMap<PoolId, Pool> = StorageMap::new(b"stake_pools/pool/");
/// Stakes by (pool, account).
pub const STAKES: StorageMap<(PoolId, AccountId), Stake> = StorageMap::new(b"stake_pools/stake/");
/// The pool each worker is bound to.
pub const WORKER_POOLS: StorageMap<Public, WorkerBinding> = StorageMap::new(b"stake_pools/worker/");
/// Withdraw queues by (pool, index).
pub const WITHDRAW_QUEUE: StorageMap<(PoolId, u64), WithdrawRequest> =
    StorageMap::new(b"stake_pools/withdraw/");

// ---- calls ----

/// Calls of the stake pools module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Creates a pool owned by the signer. Origin: signed.
    #[codec(index = 0)]
    Create {
        /// Owner's cut of contributors' rewards, in parts per million (≤ 1,000,000).
        commission: u32,
    },
    /// Changes the commission. Origin: the pool owner.
    #[codec(index = 1)]
    SetCommission {
        /// Pool.
        pool: PoolId,
        /// New commission, in parts per million.
        commission: u32,
    },
    /// Binds a registered worker to the pool. Origin: the pool owner, who must also be the
    /// worker's registered operator.
    #[codec(index = 2)]
    AddWorker {
        /// Pool.
        pool: PoolId,
        /// The worker's identity.
        worker: Public,
    },
    /// Unbinds a worker that is neither computing nor cooling down. Origin: the pool owner.
    #[codec(index = 3)]
    RemoveWorker {
        /// Pool.
        pool: PoolId,
        /// The worker's identity.
        worker: Public,
    },
    /// Adds stake from the signer's free balance. Origin: signed.
    #[codec(index = 4)]
    Contribute {
        /// Pool.
        pool: PoolId,
        /// Amount (≥ [`MIN_CONTRIBUTION`]).
        #[codec(compact)]
        amount: Balance,
    },
    /// Withdraws stake: paid now from free stake as far as possible, the rest queued.
    /// Origin: a contributor.
    #[codec(index = 5)]
    Withdraw {
        /// Pool.
        pool: PoolId,
        /// Amount of the signer's stake (not already queued).
        #[codec(compact)]
        amount: Balance,
    },
    /// Starts a bound worker computing with `stake` of the pool's free stake. Origin: the pool
    /// owner.
    #[codec(index = 6)]
    StartComputing {
        /// Pool.
        pool: PoolId,
        /// The worker's identity.
        worker: Public,
        /// Stake to lock.
        #[codec(compact)]
        stake: Balance,
    },
    /// Stops a computing worker; its stake is free again after the cool-down. Origin: the pool
    /// owner.
    #[codec(index = 7)]
    StopComputing {
        /// Pool.
        pool: PoolId,
        /// The worker's identity.
        worker: Public,
    },
    /// Pays the signer's pending rewards (and, for the owner, the commission). Origin: signed.
    #[codec(index = 8)]
    ClaimRewards {
        /// Pool.
        pool: PoolId,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8];

// ---- events ----

/// Events of the stake pools module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A pool was created.
    PoolCreated {
        /// Its id.
        pool: PoolId,
        /// Its owner.
        #[serde(with = "account_ss58")]
        owner: AccountId,
        /// Its commission (ppm).
        commission: u32,
    },
    /// A pool's commission changed.
    CommissionChanged {
        /// Pool.
        pool: PoolId,
        /// New commission (ppm).
        commission: u32,
    },
    /// A worker was bound to a pool.
    WorkerAdded {
        /// Pool.
        pool: PoolId,
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// A worker was unbound from a pool.
    WorkerRemoved {
        /// Pool.
        pool: PoolId,
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// Stake was added.
    Contributed {
        /// Pool.
        pool: PoolId,
        /// Contributor.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Amount.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// Part of a withdrawal waits in the queue for stake to free.
    WithdrawQueued {
        /// Pool.
        pool: PoolId,
        /// Contributor.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Amount queued.
        #[serde(with = "balance_str")]
        amount: Balance,
        /// The request's index in the pool's queue.
        request: u64,
    },
    /// Stake was paid back to a contributor (at once or from the queue).
    Withdrawn {
        /// Pool.
        pool: PoolId,
        /// Contributor.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Amount paid.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
    /// A worker started computing with pool stake.
    ComputingStarted {
        /// Pool.
        pool: PoolId,
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Stake locked.
        #[serde(with = "balance_str")]
        stake: Balance,
    },
    /// A worker was stopped; its stake cools down.
    ComputingStopped {
        /// Pool.
        pool: PoolId,
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// A worker's cool-down ended; its stake is free in the pool again.
    StakeReleased {
        /// Pool.
        pool: PoolId,
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Stake freed.
        #[serde(with = "balance_str")]
        stake: Balance,
    },
    /// A worker's reward reached the pool and was split.
    RewardDistributed {
        /// Pool.
        pool: PoolId,
        /// Worker that earned it.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// The whole reward.
        #[serde(with = "balance_str")]
        amount: Balance,
        /// Paid to the vault (loan interest and principal).
        #[serde(with = "balance_str")]
        to_vault: Balance,
        /// To the owner (commission, plus the borrowed stake's reward once its loan is closed).
        #[serde(with = "balance_str")]
        to_owner: Balance,
        /// To contributors pro rata.
        #[serde(with = "balance_str")]
        to_contributors: Balance,
    },
    /// Rewards were paid out.
    RewardsClaimed {
        /// Pool.
        pool: PoolId,
        /// Who.
        #[serde(with = "account_ss58")]
        who: AccountId,
        /// Amount paid.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
}

// ---- errors ----

/// Errors of the stake pools module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// No pool with this id.
    #[error("no such pool")]
    PoolNotFound,
    /// The caller is not the pool's owner.
    #[error("the caller is not the pool owner")]
    NotPoolOwner,
    /// Commission above 100%.
    #[error("commission must be at most 1,000,000 ppm")]
    InvalidCommission,
    /// The worker is not registered.
    #[error("worker not registered")]
    WorkerNotRegistered,
    /// The caller is not the worker's registered operator.
    #[error("the caller is not the worker's operator")]
    NotWorkerOperator,
    /// The worker is already bound to a pool.
    #[error("worker already bound to a pool")]
    WorkerAlreadyBound,
    /// The worker is not bound to this pool.
    #[error("worker not in this pool")]
    WorkerNotInPool,
    /// The pool has [`MAX_POOL_WORKERS`] workers.
    #[error("too many workers in the pool")]
    TooManyWorkers,
    /// The worker is computing or cooling down.
    #[error("worker is computing or cooling down")]
    WorkerBusy,
    /// The amount is zero.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Below [`MIN_CONTRIBUTION`].
    #[error("contribution below the minimum")]
    ContributionTooLow,
    /// The caller's stake (not already queued) is smaller than the amount.
    #[error("insufficient stake")]
    InsufficientStake,
    /// The pool's withdraw queue is full.
    #[error("withdraw queue full")]
    WithdrawQueueFull,
    /// The caller has [`MAX_REQUESTS_PER_ACCOUNT`] open withdrawal requests in this pool.
    #[error("too many open withdrawal requests")]
    TooManyRequests,
    /// The pool's free stake (not owed to queued withdrawals) is smaller than the stake.
    #[error("insufficient free stake in the pool")]
    InsufficientFreeStake,
    /// The pool's vault loan is in default: its free stake repays the vault.
    #[error("the pool's vault loan is in default")]
    LoanDefaulting,
    /// Nothing to claim.
    #[error("no rewards to claim")]
    NothingToClaim,
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

/// The keyless account holding pool `pool`'s money: `blake2_256(("umbra/pool", pool).encode())`.
pub fn pool_account(pool: PoolId) -> AccountId {
    Public(blake2_256(&(b"umbra/pool", pool).encode()))
}

/// Pool `id`.
pub fn pool(st: &Overlay<'_>, id: PoolId) -> Option<Pool> {
    POOLS.get(st, &id)
}

/// `who`'s stake in pool `id` (zero if none).
pub fn stake(st: &Overlay<'_>, id: PoolId, who: &AccountId) -> Stake {
    STAKES.get_or_default(st, &(id, *who))
}

/// The pool `worker` is bound to.
pub fn worker_binding(st: &Overlay<'_>, worker: &Public) -> Option<WorkerBinding> {
    WORKER_POOLS.get(st, worker)
}

fn now(st: &Overlay<'_>) -> BlockNumber {
    system::NUMBER.get_or_default(st)
}

fn load(st: &Overlay<'_>, id: PoolId) -> Result<Pool, Error> {
    pool(st, id).ok_or(Error::PoolNotFound)
}

fn load_owned(st: &Overlay<'_>, id: PoolId, origin: &AccountId) -> Result<Pool, Error> {
    let p = load(st, id)?;
    if p.owner != *origin {
        return Err(Error::NotPoolOwner);
    }
    Ok(p)
}

/// Adds a sub-planck remainder (scaled) to the pool's dust.
fn add_dust_scaled(pool: &mut Pool, scaled: u128) {
    pool.dust = pool.dust.saturating_add(scaled.checked_div(REWARD_SCALE).unwrap_or(0));
    // Both parts are below REWARD_SCALE, so the sum cannot overflow.
    let frac = pool.dust_frac.saturating_add(scaled.checked_rem(REWARD_SCALE).unwrap_or(0));
    pool.dust = pool.dust.saturating_add(frac.checked_div(REWARD_SCALE).unwrap_or(0));
    pool.dust_frac = frac.checked_rem(REWARD_SCALE).unwrap_or(0);
}

/// What `s` earned since its snapshot, as (whole planck, scaled remainder).
fn accrued(pool: &Pool, s: &Stake) -> (Balance, u128) {
    let delta = pool.reward_acc.saturating_sub(s.reward_snapshot);
    if delta == 0 || s.shares == 0 {
        return (0, 0);
    }
    // The quotient is at most the reward money distributed, so it fits; if it ever did not,
    // the stake is credited nothing rather than more than exists.
    mul_div_rem(s.shares, delta, REWARD_SCALE).unwrap_or((0, 0))
}

/// Moves what `s` earned into `s.unclaimed` (keeping the exact remainder as dust) and resets its
/// snapshot. Must run before `s.shares` changes.
fn settle(pool: &mut Pool, s: &mut Stake) {
    let (whole, rem) = accrued(pool, s);
    s.unclaimed = s.unclaimed.saturating_add(whole);
    add_dust_scaled(pool, rem);
    s.reward_snapshot = pool.reward_acc;
}

/// The pending (claimable) reward of `s`, in planck.
pub fn pending_reward(pool: &Pool, s: &Stake) -> Balance {
    s.unclaimed.saturating_add(accrued(pool, s).0)
}

/// Stores `s`, creating or removing the record and keeping the contributor count.
fn save_stake(st: &mut Overlay<'_>, pool: &mut Pool, who: &AccountId, s: &Stake) {
    let key = (pool.id, *who);
    let existed = STAKES.get(st, &key).is_some();
    if s.is_empty() {
        if existed {
            STAKES.remove(st, &key);
            pool.contributors = pool.contributors.saturating_sub(1);
        }
    } else {
        if !existed {
            pool.contributors = pool.contributors.saturating_add(1);
        }
        STAKES.insert(st, &key, s);
    }
}

/// Spreads `amount` (already counted in `reward_held`) over the shares, plus the dust kept from
/// earlier rounding.
fn distribute(pool: &mut Pool, amount: Balance) {
    let amount = amount.saturating_add(std::mem::take(&mut pool.dust));
    if amount == 0 {
        return;
    }
    if pool.total_shares == 0 {
        // No contributor to pay (only borrowed stake is at work): the owner takes it.
        pool.owner_reward = pool.owner_reward.saturating_add(amount);
        return;
    }
    match mul_div_rem(amount, REWARD_SCALE, pool.total_shares) {
        Some((inc, rem)) if pool.reward_acc.checked_add(inc).is_some() => {
            pool.reward_acc = pool.reward_acc.saturating_add(inc);
            add_dust_scaled(pool, rem);
        }
        // The accumulator would overflow (absurdly large rewards over tiny shares): keep it.
        _ => pool.dust = pool.dust.saturating_add(amount),
    }
}

/// Gives the owner `amount` new shares: borrowed stake whose principal was repaid (from rewards
/// or the owner's own balance) now belongs to the owner.
fn credit_owner_shares(st: &mut Overlay<'_>, pool: &mut Pool, amount: Balance) {
    if amount == 0 {
        return;
    }
    let owner = pool.owner;
    let mut s = stake(st, pool.id, &owner);
    settle(pool, &mut s);
    s.shares = s.shares.saturating_add(amount);
    pool.total_shares = pool.total_shares.saturating_add(amount);
    save_stake(st, pool, &owner, &s);
}

/// Pays `amount` of stake from the pool account to `who`, burning as many of `who`'s shares
/// (`queued` of them from the queue).
fn pay_stake(
    ext: &mut Ext<'_>,
    pool: &mut Pool,
    who: &AccountId,
    amount: Balance,
    queued: bool,
) -> Result<(), DispatchError> {
    let mut s = stake(&ext.state, pool.id, who);
    settle(pool, &mut s);
    s.shares = s.shares.checked_sub(amount).ok_or(Error::InsufficientStake)?;
    if queued {
        s.queued = s.queued.checked_sub(amount).ok_or(Error::InsufficientStake)?;
        pool.queued = pool.queued.saturating_sub(amount);
    }
    pool.free_stake = pool.free_stake.checked_sub(amount).ok_or(Error::InsufficientFreeStake)?;
    pool.total_shares = pool.total_shares.saturating_sub(amount);
    balances::transfer(ext, &pool_account(pool.id), who, amount)?;
    save_stake(&mut ext.state, pool, who, &s);
    ext.deposit_event(Event::Withdrawn { pool: pool.id, who: *who, amount });
    Ok(())
}

/// Uses free stake: first to repay a defaulting vault loan, then to serve the withdraw queue in
/// order. Never fails; work is bounded by the queue length.
fn use_free_stake(ext: &mut Ext<'_>, pool: &mut Pool) {
    let id = pool.id;
    if vault::loan(&ext.state, id).is_some_and(|l| l.defaulting) {
        if pool.free_stake > 0 {
            let budget = pool.free_stake;
            let account = pool_account(id);
            match ext.transactional(|ext| {
                vault::repay(ext, id, &account, budget, RepaymentSource::Stake)
            }) {
                Ok(r) => pool.free_stake = pool.free_stake.saturating_sub(r.total()),
                Err(e) => {
                    tracing::error!(pool = id, error = %e, "defaulted loan repayment from stake failed")
                }
            }
        }
        if pool.free_stake == 0 && pool.locked_stake == 0 {
            // Nothing is left that could repay it. Only reachable if stake was lost (no slashing
            // exists today): the rest is a loss to the vault's lenders.
            if let Some(l) = vault::loan(&ext.state, id).filter(|l| l.principal > 0) {
                vault::write_off(ext, id, l.principal);
            }
        }
    }
    while pool.free_stake > 0 && pool.queue_head < pool.queue_tail {
        let key = (id, pool.queue_head);
        let Some(mut req) = WITHDRAW_QUEUE.get(&ext.state, &key) else {
            pool.queue_head = pool.queue_head.saturating_add(1);
            continue;
        };
        let amount = req.amount.min(pool.free_stake);
        let mut next = pool.clone();
        let who = req.who;
        match ext.transactional(|ext| pay_stake(ext, &mut next, &who, amount, true)) {
            Ok(()) => *pool = next,
            Err(e) => {
                tracing::error!(pool = id, error = %e, "serving the withdraw queue failed");
                return;
            }
        }
        req.amount = req.amount.saturating_sub(amount);
        if req.amount == 0 {
            WITHDRAW_QUEUE.remove(&mut ext.state, &key);
            pool.queue_head = pool.queue_head.saturating_add(1);
            let mut s = stake(&ext.state, id, &who);
            s.requests = s.requests.saturating_sub(1);
            save_stake(&mut ext.state, pool, &who, &s);
        } else {
            WITHDRAW_QUEUE.insert(&mut ext.state, &key, &req);
        }
    }
}

fn create(ext: &mut Ext<'_>, origin: AccountId, commission: u32) -> Result<(), DispatchError> {
    if commission > PPM {
        return Err(Error::InvalidCommission.into());
    }
    let id = NEXT_POOL_ID.get_or_default(&ext.state);
    let next = id.checked_add(1).ok_or(Error::Overflow)?;
    let p = Pool {
        id,
        owner: origin,
        commission,
        workers: Vec::new(),
        total_shares: 0,
        free_stake: 0,
        locked_stake: 0,
        queued: 0,
        queue_head: 0,
        queue_tail: 0,
        reward_acc: 0,
        owner_reward: 0,
        reward_held: 0,
        dust: 0,
        dust_frac: 0,
        total_rewards: 0,
        contributors: 0,
        created_at: now(&ext.state),
    };
    NEXT_POOL_ID.put(&mut ext.state, &next);
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::PoolCreated { pool: id, owner: origin, commission });
    Ok(())
}

fn add_worker(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    worker: Public,
) -> Result<(), DispatchError> {
    let mut p = load_owned(&ext.state, id, &origin)?;
    let info = registry::worker(&ext.state, &worker).ok_or(Error::WorkerNotRegistered)?;
    if info.operator != origin {
        return Err(Error::NotWorkerOperator.into());
    }
    if worker_binding(&ext.state, &worker).is_some() {
        return Err(Error::WorkerAlreadyBound.into());
    }
    if p.workers.len() >= MAX_POOL_WORKERS {
        return Err(Error::TooManyWorkers.into());
    }
    if computation::session(&ext.state, &worker).is_some_and(|s| s.state != WorkerState::Ready) {
        return Err(Error::WorkerBusy.into());
    }
    p.workers.push(worker);
    WORKER_POOLS.insert(&mut ext.state, &worker, &WorkerBinding { pool: id, stake: 0 });
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::WorkerAdded { pool: id, worker });
    Ok(())
}

fn bound_to(st: &Overlay<'_>, worker: &Public, id: PoolId) -> Result<WorkerBinding, Error> {
    worker_binding(st, worker).filter(|b| b.pool == id).ok_or(Error::WorkerNotInPool)
}

fn remove_worker(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    worker: Public,
) -> Result<(), DispatchError> {
    let mut p = load_owned(&ext.state, id, &origin)?;
    let b = bound_to(&ext.state, &worker, id)?;
    let busy =
        computation::session(&ext.state, &worker).is_some_and(|s| s.state != WorkerState::Ready);
    if busy || b.stake > 0 {
        return Err(Error::WorkerBusy.into());
    }
    p.workers.retain(|w| *w != worker);
    WORKER_POOLS.remove(&mut ext.state, &worker);
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::WorkerRemoved { pool: id, worker });
    Ok(())
}

fn contribute(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    amount: Balance,
) -> Result<(), DispatchError> {
    let mut p = load(&ext.state, id)?;
    if amount < MIN_CONTRIBUTION {
        return Err(Error::ContributionTooLow.into());
    }
    balances::transfer(ext, &origin, &pool_account(id), amount)?;
    let mut s = stake(&ext.state, id, &origin);
    settle(&mut p, &mut s);
    s.shares = s.shares.checked_add(amount).ok_or(Error::Overflow)?;
    p.total_shares = p.total_shares.checked_add(amount).ok_or(Error::Overflow)?;
    p.free_stake = p.free_stake.checked_add(amount).ok_or(Error::Overflow)?;
    save_stake(&mut ext.state, &mut p, &origin, &s);
    ext.deposit_event(Event::Contributed { pool: id, who: origin, amount });
    use_free_stake(ext, &mut p);
    POOLS.insert(&mut ext.state, &id, &p);
    Ok(())
}

fn withdraw(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    amount: Balance,
) -> Result<(), DispatchError> {
    let mut p = load(&ext.state, id)?;
    if amount == 0 {
        return Err(Error::ZeroAmount.into());
    }
    let s = stake(&ext.state, id, &origin);
    let requestable = s.shares.saturating_sub(s.queued);
    if amount > requestable {
        return Err(Error::InsufficientStake.into());
    }
    // A remainder below the minimum contribution is withdrawn too.
    let rest = requestable.saturating_sub(amount);
    let amount = if rest > 0 && rest < MIN_CONTRIBUTION { requestable } else { amount };
    let now_paid = if p.queue_len() == 0 { amount.min(p.free_stake) } else { 0 };
    let to_queue = amount.saturating_sub(now_paid);
    if to_queue > 0 {
        if p.queue_len() >= MAX_WITHDRAW_QUEUE {
            return Err(Error::WithdrawQueueFull.into());
        }
        if s.requests >= MAX_REQUESTS_PER_ACCOUNT {
            return Err(Error::TooManyRequests.into());
        }
    }
    if now_paid > 0 {
        pay_stake(ext, &mut p, &origin, now_paid, false)?;
    }
    if to_queue > 0 {
        let request = p.queue_tail;
        p.queue_tail = p.queue_tail.checked_add(1).ok_or(Error::Overflow)?;
        p.queued = p.queued.checked_add(to_queue).ok_or(Error::Overflow)?;
        let mut s = stake(&ext.state, id, &origin);
        s.queued = s.queued.checked_add(to_queue).ok_or(Error::Overflow)?;
        s.requests = s.requests.checked_add(1).ok_or(Error::Overflow)?;
        save_stake(&mut ext.state, &mut p, &origin, &s);
        let req = WithdrawRequest { who: origin, amount: to_queue, queued_at: now(&ext.state) };
        WITHDRAW_QUEUE.insert(&mut ext.state, &(id, request), &req);
        ext.deposit_event(Event::WithdrawQueued {
            pool: id,
            who: origin,
            amount: to_queue,
            request,
        });
    }
    POOLS.insert(&mut ext.state, &id, &p);
    Ok(())
}

fn start_computing(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    worker: Public,
    amount: Balance,
) -> Result<(), DispatchError> {
    let mut p = load_owned(&ext.state, id, &origin)?;
    let mut b = bound_to(&ext.state, &worker, id)?;
    if b.stake > 0 {
        return Err(Error::WorkerBusy.into());
    }
    if amount == 0 {
        return Err(Error::ZeroAmount.into());
    }
    if vault::loan(&ext.state, id).is_some_and(|l| l.defaulting) {
        return Err(Error::LoanDefaulting.into());
    }
    if amount > p.available_stake() {
        return Err(Error::InsufficientFreeStake.into());
    }
    computation::start_computing(ext, &worker, id, amount)?;
    p.free_stake = p.free_stake.checked_sub(amount).ok_or(Error::Overflow)?;
    p.locked_stake = p.locked_stake.checked_add(amount).ok_or(Error::Overflow)?;
    b.stake = amount;
    WORKER_POOLS.insert(&mut ext.state, &worker, &b);
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::ComputingStarted { pool: id, worker, stake: amount });
    Ok(())
}

fn stop_computing(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    worker: Public,
) -> Result<(), DispatchError> {
    load_owned(&ext.state, id, &origin)?;
    bound_to(&ext.state, &worker, id)?;
    // What the worker accrued since its last heartbeat is forfeited (paid only for answered
    // challenges); the stake stays locked during the cool-down.
    computation::stop_computing(ext, &worker)?;
    ext.deposit_event(Event::ComputingStopped { pool: id, worker });
    Ok(())
}

fn claim_rewards(ext: &mut Ext<'_>, origin: AccountId, id: PoolId) -> Result<(), DispatchError> {
    let mut p = load(&ext.state, id)?;
    let mut s = stake(&ext.state, id, &origin);
    settle(&mut p, &mut s);
    let commission = if origin == p.owner { p.owner_reward } else { 0 };
    let amount = s.unclaimed.checked_add(commission).ok_or(Error::Overflow)?;
    if amount == 0 {
        return Err(Error::NothingToClaim.into());
    }
    balances::transfer(ext, &pool_account(id), &origin, amount)?;
    s.unclaimed = 0;
    p.owner_reward = p.owner_reward.checked_sub(commission).ok_or(Error::Overflow)?;
    p.reward_held = p.reward_held.checked_sub(amount).ok_or(Error::Overflow)?;
    save_stake(&mut ext.state, &mut p, &origin, &s);
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::RewardsClaimed { pool: id, who: origin, amount });
    Ok(())
}

fn set_commission(
    ext: &mut Ext<'_>,
    origin: AccountId,
    id: PoolId,
    commission: u32,
) -> Result<(), DispatchError> {
    let mut p = load_owned(&ext.state, id, &origin)?;
    if commission > PPM {
        return Err(Error::InvalidCommission.into());
    }
    p.commission = commission;
    POOLS.insert(&mut ext.state, &id, &p);
    ext.deposit_event(Event::CommissionChanged { pool: id, commission });
    Ok(())
}

/// Dispatches a stake pools call from `origin`. A failing call changes nothing.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    ext.transactional(|ext| match call {
        Call::Create { commission } => create(ext, origin, commission),
        Call::SetCommission { pool, commission } => set_commission(ext, origin, pool, commission),
        Call::AddWorker { pool, worker } => add_worker(ext, origin, pool, worker),
        Call::RemoveWorker { pool, worker } => remove_worker(ext, origin, pool, worker),
        Call::Contribute { pool, amount } => contribute(ext, origin, pool, amount),
        Call::Withdraw { pool, amount } => withdraw(ext, origin, pool, amount),
        Call::StartComputing { pool, worker, stake } => {
            start_computing(ext, origin, pool, worker, stake)
        }
        Call::StopComputing { pool, worker } => stop_computing(ext, origin, pool, worker),
        Call::ClaimRewards { pool } => claim_rewards(ext, origin, pool),
    })
}

// ---- hooks (called by computation and vault) ----

/// A heartbeat of `worker` (bound to `pool`) earned `amount`, which computation has already
/// credited to [`pool_account`]. Splits it: the borrowed stake's part repays the vault loan
/// (interest, then principal), the owner takes the commission of the rest, contributors share
/// the remainder pro rata. Never fails: money that cannot be assigned stays in the pool's
/// reward bookkeeping.
pub fn on_reward(ext: &mut Ext<'_>, pool_id: PoolId, worker: &Public, amount: Balance) {
    if amount == 0 {
        return;
    }
    let Some(mut p) = pool(&ext.state, pool_id) else {
        tracing::error!(
            pool = pool_id,
            "reward for a pool that does not exist; left in its account"
        );
        return;
    };
    p.total_rewards = p.total_rewards.saturating_add(amount);
    p.reward_held = p.reward_held.saturating_add(amount);

    // The borrowed stake's part: reward × principal / (shares + principal).
    let principal = vault::loan(&ext.state, pool_id).map_or(0, |l| l.principal);
    let loan_part = if principal == 0 {
        0
    } else {
        let backing = p.total_shares.saturating_add(principal);
        mul_div(amount, principal, backing).unwrap_or(amount).min(amount)
    };
    let rest = amount.saturating_sub(loan_part);
    let commission = mul_div(rest, p.commission as u128, PPM as u128).unwrap_or(0);
    let to_contributors = rest.saturating_sub(commission);
    p.owner_reward = p.owner_reward.saturating_add(commission);
    distribute(&mut p, to_contributors);

    let mut to_vault = 0;
    let mut to_owner = commission;
    if loan_part > 0 {
        let account = pool_account(pool_id);
        let repaid = ext
            .transactional(|ext| {
                vault::repay(ext, pool_id, &account, loan_part, RepaymentSource::Rewards)
            })
            .unwrap_or_else(|e| {
                tracing::error!(pool = pool_id, error = %e, "loan repayment from rewards failed");
                Default::default()
            });
        to_vault = repaid.total();
        p.reward_held = p.reward_held.saturating_sub(to_vault);
        credit_owner_shares(&mut ext.state, &mut p, repaid.principal);
        // The borrowed stake's reward beyond what the loan needed is the owner's.
        let left = loan_part.saturating_sub(to_vault);
        p.owner_reward = p.owner_reward.saturating_add(left);
        to_owner = to_owner.saturating_add(left);
    }
    POOLS.insert(&mut ext.state, &pool_id, &p);
    ext.deposit_event(Event::RewardDistributed {
        pool: pool_id,
        worker: *worker,
        amount,
        to_vault,
        to_owner,
        to_contributors,
    });
}

/// `worker` finished cooling down: the stake the pool locked for it is free again (the pool's
/// own record is authoritative; `stake` is what computation reports). Repays a defaulting loan,
/// then serves the withdraw queue.
pub fn on_stake_released(ext: &mut Ext<'_>, pool_id: PoolId, worker: &Public, stake: Balance) {
    let Some(mut b) = worker_binding(&ext.state, worker).filter(|b| b.pool == pool_id) else {
        tracing::error!(pool = pool_id, %worker, "stake released for a worker not bound to the pool");
        return;
    };
    let Some(mut p) = pool(&ext.state, pool_id) else { return };
    if stake != b.stake {
        tracing::warn!(pool = pool_id, %worker, reported = stake, locked = b.stake, "released stake differs from the locked stake");
    }
    let released = b.stake.min(p.locked_stake);
    b.stake = 0;
    WORKER_POOLS.insert(&mut ext.state, worker, &b);
    p.locked_stake = p.locked_stake.saturating_sub(released);
    p.free_stake = p.free_stake.saturating_add(released);
    ext.deposit_event(Event::StakeReleased { pool: pool_id, worker: *worker, stake: released });
    use_free_stake(ext, &mut p);
    POOLS.insert(&mut ext.state, &pool_id, &p);
}

/// `worker` has been unresponsive for `vault::params().default_after_blocks` blocks. If its pool
/// has a vault loan, the worker is stopped and the loan goes into default: its unpaid interest is
/// written off and the pool's free stake (now, and as workers' stake is released) repays the
/// principal before anything else.
pub fn on_unresponsive_limit(ext: &mut Ext<'_>, pool_id: PoolId, worker: &Public) {
    if vault::loan(&ext.state, pool_id).is_none_or(|l| l.defaulting) {
        return;
    }
    if worker_binding(&ext.state, worker).is_none_or(|b| b.pool != pool_id) {
        return;
    }
    if let Err(e) = ext.transactional(|ext| computation::stop_computing(ext, worker)) {
        tracing::warn!(pool = pool_id, %worker, error = %e, "could not stop a defaulting worker");
    } else {
        ext.deposit_event(Event::ComputingStopped { pool: pool_id, worker: *worker });
    }
    vault::mark_defaulting(ext, pool_id, worker);
    if let Some(mut p) = pool(&ext.state, pool_id) {
        use_free_stake(ext, &mut p);
        POOLS.insert(&mut ext.state, &pool_id, &p);
    }
}

/// The vault lent `amount` to pool `id` (already in its account): it is free stake of the pool,
/// without shares.
pub(crate) fn on_borrowed(ext: &mut Ext<'_>, id: PoolId, amount: Balance) -> Result<(), Error> {
    let mut p = load(&ext.state, id)?;
    p.free_stake = p.free_stake.checked_add(amount).ok_or(Error::Overflow)?;
    use_free_stake(ext, &mut p);
    POOLS.insert(&mut ext.state, &id, &p);
    Ok(())
}

/// The owner repaid `principal` of pool `id`'s loan from their own balance: the borrowed stake is
/// now theirs, as shares.
pub(crate) fn on_principal_repaid_by_owner(
    ext: &mut Ext<'_>,
    id: PoolId,
    principal: Balance,
) -> Result<(), Error> {
    let mut p = load(&ext.state, id)?;
    credit_owner_shares(&mut ext.state, &mut p, principal);
    POOLS.insert(&mut ext.state, &id, &p);
    Ok(())
}

// ---- queries (RPC) ----

/// A pool as `umbra_pool` / `umbra_pools` return it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolInfo {
    /// The pool's bookkeeping.
    #[serde(flatten)]
    pub pool: Pool,
    /// The account holding its money.
    #[serde(with = "account_ss58")]
    pub account: AccountId,
    /// That account's free balance.
    #[serde(with = "balance_str")]
    pub account_balance: Balance,
    /// Free stake a worker may be started with.
    #[serde(with = "balance_str")]
    pub available_stake: Balance,
    /// Its vault loan, if any.
    pub loan: Option<vault::LoanInfo>,
    /// Open withdrawal requests, oldest first (only in `umbra_pool`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdraw_queue: Option<Vec<WithdrawRequest>>,
}

/// Pool `id` with its account, loan and (if `with_queue`) withdraw queue.
pub fn pool_info(st: &Overlay<'_>, id: PoolId, with_queue: bool) -> Option<PoolInfo> {
    let p = pool(st, id)?;
    let account = pool_account(id);
    let queue = with_queue.then(|| {
        (p.queue_head..p.queue_tail).filter_map(|i| WITHDRAW_QUEUE.get(st, &(id, i))).collect()
    });
    Some(PoolInfo {
        account,
        account_balance: balances::account(st, &account).free,
        available_stake: p.available_stake(),
        loan: vault::loan_info(st, id),
        withdraw_queue: queue,
        pool: p,
    })
}

/// Every pool, by id (without queues).
pub fn pools(st: &Overlay<'_>) -> Vec<PoolInfo> {
    (0..NEXT_POOL_ID.get_or_default(st)).filter_map(|id| pool_info(st, id, false)).collect()
}

/// An account's position in a pool, as `umbra_poolStake` returns it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StakeInfo {
    /// Pool.
    pub pool: PoolId,
    /// Account.
    #[serde(with = "account_ss58")]
    pub who: AccountId,
    /// Shares (= planck of stake), including queued ones.
    #[serde(with = "balance_str")]
    pub shares: Balance,
    /// Part of the shares waiting in the withdraw queue.
    #[serde(with = "balance_str")]
    pub queued: Balance,
    /// Open withdrawal requests.
    pub requests: u32,
    /// Pending rewards as a contributor.
    #[serde(with = "balance_str")]
    pub pending_rewards: Balance,
    /// Unclaimed commission (owner only).
    #[serde(with = "balance_str")]
    pub owner_reward: Balance,
    /// What `claim_rewards` would pay now.
    #[serde(with = "balance_str")]
    pub claimable: Balance,
}

/// `who`'s position in pool `id` (`None` if the pool does not exist).
pub fn stake_info(st: &Overlay<'_>, id: PoolId, who: &AccountId) -> Option<StakeInfo> {
    let p = pool(st, id)?;
    let s = stake(st, id, who);
    let pending = pending_reward(&p, &s);
    let owner_reward = if p.owner == *who { p.owner_reward } else { 0 };
    Some(StakeInfo {
        pool: id,
        who: *who,
        shares: s.shares,
        queued: s.queued,
        requests: s.requests,
        pending_rewards: pending,
        owner_reward,
        claimable: pending.saturating_add(owner_reward),
    })
}

#[cfg(test)]
pub(crate) mod tests;
