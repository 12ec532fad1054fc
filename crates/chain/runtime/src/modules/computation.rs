//! `computation`: workers prove they are online and earn the token for it.
//!
//! States: `Ready → Computing ⇄ Unresponsive → CoolingDown → Ready`.
//!
//! **Challenges.** Who is challenged at block `n` is decided by block `n`'s own VRF randomness,
//! which nobody but the author knows before block `n` exists: of the `C` computing workers, each
//! block challenges `⌊C / M⌋` (plus one more with probability `(C mod M) / M`, so the expectation
//! is exactly `C / M`, `M = mean_challenge_interval`), each picked uniformly by its index in the
//! dense index [`COMPUTING_AT`] from `blake2(randomness_n, i)`. Unresponsive workers are drawn the
//! same way from their own dense index [`UNRESPONSIVE_AT`] so they can come back. A worker that
//! already holds an open challenge is skipped. Nothing in state before block `n` says who will be
//! challenged at `n`, so a worker cannot be online only around its challenges. The cost of a block
//! is one read per pick, `O(C / M)`, never `O(C)`.
//! A challenged worker's enclave must answer with a [`Heartbeat`] (an mq message signed by its
//! identity, carrying the challenge block's hash, so it can only be made after that block exists)
//! before `deadline = challenge + heartbeat_window`; otherwise at the deadline block it becomes
//! Unresponsive, forfeits what it accrued since its last heartbeat, and earns nothing until it
//! answers a later challenge in time.
//!
//! **Rewards.** Each block mints the emission budget (decaying by `decay_ppm` every
//! `decay_period` blocks): `worker_share_ppm` (70%) goes to a reward pot and raises a global
//! reward-per-share accumulator over the shares of online computing workers; the rest goes to
//! the treasury (all of it when no worker is online). A worker is paid `share × Δaccumulator` when
//! its heartbeat lands, into its stake pool; it is paid only for time covered by answered
//! challenges, so stopping (or missing a deadline) forfeits what it accrued since its last
//! heartbeat to the treasury. A worker's share is its value (stake, ×1 to ×2 as its
//! uninterrupted online time ramps up; the ramp decays while it is unresponsive) plus its
//! benchmark score. See `docs/ECONOMICS.md`.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::{blake2_256, Public};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, Challenge, Heartbeat, MessageOrigin},
    serde_helpers::{account_ss58, balance_str},
    AccountId, Balance, BlockNumber, UNITS,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{balances, governance, mq, registry, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// What `computation` needs from the modules above it (the stake pools and the vault, which must
/// not be imported here), implemented by the runtime root [`crate::Runtime`] (FRAME-style hooks).
pub trait Config {
    /// The account a worker computing for `pool` is paid into.
    fn pool_account(pool: PoolId) -> AccountId;
    /// Blocks a worker may stay unresponsive before [`Config::on_unresponsive_limit`] is called
    /// (at least 1 is used).
    fn unresponsive_limit(st: &Overlay<'_>) -> BlockNumber;
    /// `worker` (computing for `pool`) was paid `amount`, already credited to
    /// [`Config::pool_account`].
    fn on_reward(ext: &mut Ext<'_>, pool: PoolId, worker: &Public, amount: Balance);
    /// `worker` (computing for `pool`) has been unresponsive for
    /// [`Config::unresponsive_limit`] blocks.
    fn on_unresponsive_limit(ext: &mut Ext<'_>, pool: PoolId, worker: &Public);
    /// `worker`'s cool-down ended: its `stake` is free again in `pool`.
    fn on_stake_released(ext: &mut Ext<'_>, pool: PoolId, worker: &Public, stake: Balance);
}

/// Module name used in errors.
pub const MODULE: &str = "computation";
/// Fixed-point scale of the reward accumulator.
pub const ACC_PRECISION: u128 = 1_000_000_000_000;

/// A stake pool's id.
pub type PoolId = u64;

/// Economic parameters. Part of genesis; governance may change them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComputationParams {
    /// Mean number of blocks between two challenges of one worker.
    pub mean_challenge_interval: u64,
    /// Blocks a challenged worker has to answer.
    pub heartbeat_window: u64,
    /// Blocks a stopped worker's stake stays locked.
    pub cool_down_blocks: u64,
    /// Minimum stake per square root of benchmark score, in the smallest unit.
    #[serde(with = "balance_str")]
    pub min_stake_per_sqrt_score: Balance,
    /// Emission per block at genesis, in the smallest unit.
    #[serde(with = "balance_str")]
    pub budget_per_block: Balance,
    /// How much the per-block budget shrinks every `decay_period` blocks, in parts per million.
    pub decay_ppm: u32,
    /// Blocks between two budget decays.
    pub decay_period: u64,
    /// Part of each block's emission that goes to online workers, in parts per million.
    pub worker_share_ppm: u32,
    /// Online blocks after which a worker's value reaches twice its stake.
    pub uptime_ramp_blocks: u64,
    /// Online-time credit lost per block spent unresponsive.
    pub unresponsive_decay: u64,
}

impl ComputationParams {
    /// Development values: a challenge every ~20 blocks, 10 blocks to answer, 20 blocks of cool
    /// down, 10 UMB per block decaying 5% every 100,000 blocks, 70% to workers.
    pub fn dev() -> Self {
        ComputationParams {
            mean_challenge_interval: 20,
            heartbeat_window: 10,
            cool_down_blocks: 20,
            min_stake_per_sqrt_score: 10 * UNITS,
            budget_per_block: 10 * UNITS,
            decay_ppm: 50_000,
            decay_period: 100_000,
            worker_share_ppm: 700_000,
            uptime_ramp_blocks: 1_000,
            unresponsive_decay: 2,
        }
    }

    /// Checks every parameter against its allowed range (see [`MAX_COOL_DOWN_BLOCKS`] and the
    /// other bounds; `docs/ECONOMICS.md` lists them), naming the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        in_range(
            "meanChallengeInterval",
            self.mean_challenge_interval,
            1..=MAX_CHALLENGE_INTERVAL,
        )?;
        in_range("heartbeatWindow", self.heartbeat_window, 2..=system::BLOCK_HASH_COUNT)?;
        in_range("coolDownBlocks", self.cool_down_blocks, 1..=MAX_COOL_DOWN_BLOCKS)?;
        in_range("minStakePerSqrtScore", self.min_stake_per_sqrt_score, 0..=MAX_MIN_STAKE)?;
        in_range("budgetPerBlock", self.budget_per_block, 0..=MAX_BUDGET_PER_BLOCK)?;
        in_range("decayPpm", self.decay_ppm, 0..=1_000_000)?;
        in_range("decayPeriod", self.decay_period, 1..=MAX_PERIOD_BLOCKS)?;
        in_range("workerSharePpm", self.worker_share_ppm, 0..=1_000_000)?;
        in_range("uptimeRampBlocks", self.uptime_ramp_blocks, 1..=MAX_PERIOD_BLOCKS)?;
        in_range("unresponsiveDecay", self.unresponsive_decay, 0..=MAX_UNRESPONSIVE_DECAY)?;
        Ok(())
    }
}

/// Longest mean challenge interval, in blocks.
pub const MAX_CHALLENGE_INTERVAL: u64 = 1_000_000;
/// Longest cool-down, in blocks (about 11.6 days at 1 s blocks): stake can never be locked for
/// longer than this after a stop.
pub const MAX_COOL_DOWN_BLOCKS: u64 = 1_000_000;
/// Largest minimum stake per square root of benchmark score.
pub const MAX_MIN_STAKE: Balance = 1_000_000 * UNITS;
/// Largest emission per block.
pub const MAX_BUDGET_PER_BLOCK: Balance = 10_000 * UNITS;
/// Longest decay period and uptime ramp, in blocks.
pub const MAX_PERIOD_BLOCKS: u64 = 100_000_000;
/// Largest uptime credit lost per unresponsive block.
pub const MAX_UNRESPONSIVE_DECAY: u64 = 1_000;

fn in_range<T: PartialOrd>(
    name: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), Error> {
    range.contains(&value).then_some(()).ok_or(Error::InvalidParameters(name))
}

/// A worker's computing state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
pub enum WorkerState {
    /// Registered, not computing.
    Ready,
    /// Computing and answering challenges.
    Computing,
    /// Missed a challenge; earns nothing until it answers one.
    Unresponsive,
    /// Stopped; its stake unlocks after the cool-down.
    CoolingDown,
}

/// An open challenge.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
pub struct PendingChallenge {
    /// Block that issued it.
    pub block: BlockNumber,
    /// First block at which it counts as missed.
    pub deadline: BlockNumber,
}

/// A worker's computing session.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// State.
    pub state: WorkerState,
    /// The stake pool it computes for.
    pub pool: PoolId,
    /// Stake locked for it.
    #[serde(with = "balance_str")]
    pub stake: Balance,
    /// Benchmark score when it started.
    pub score: u64,
    /// Credited online blocks (drives the value ramp).
    pub uptime: u64,
    /// Its current share of the reward accumulator.
    #[serde(with = "balance_str")]
    pub share: u128,
    /// Accumulator value at its last settlement.
    #[serde(with = "balance_str")]
    pub acc_at_settle: u128,
    /// Block of its last heartbeat (or start).
    pub last_heartbeat: BlockNumber,
    /// Its last challenge (open while `deadline` is ahead and it has not answered).
    pub pending: Option<PendingChallenge>,
    /// When it became unresponsive.
    pub unresponsive_since: Option<BlockNumber>,
    /// When its cool-down ends.
    pub cool_down_end: Option<BlockNumber>,
    /// Everything it earned.
    #[serde(with = "balance_str")]
    pub total_reward: Balance,
    /// Block it started computing.
    pub started_at: BlockNumber,
}

/// Emission bookkeeping.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct EmissionState {
    /// Current per-block budget.
    #[serde(with = "balance_str")]
    pub budget: Balance,
    /// Block of the next decay.
    pub next_decay: BlockNumber,
    /// Everything emitted so far.
    #[serde(with = "balance_str")]
    pub total_emitted: Balance,
    /// Everything emitted for workers (into the pot).
    #[serde(with = "balance_str")]
    pub to_workers: Balance,
    /// Everything paid out of the pot to workers.
    #[serde(with = "balance_str")]
    pub paid_to_workers: Balance,
    /// Everything unresponsive workers forfeited (moved from the pot to the treasury).
    #[serde(with = "balance_str")]
    pub forfeited: Balance,
}

// ---- storage ----

/// Parameters.
pub const PARAMS: StorageValue<ComputationParams> = StorageValue::new(b"computation/params");
/// Sessions by worker.
pub const SESSIONS: StorageMap<Public, Session> = StorageMap::new(b"computation/session/");
/// Workers whose open challenge expires at a block.
pub const DEADLINE_AT: BlockList =
    BlockList::new(b"computation/deadline_n/", b"computation/deadline_at/");
/// Workers whose cool-down ends at a block.
pub const COOL_DOWN_AT: BlockList =
    BlockList::new(b"computation/cool_down_n/", b"computation/cool_down_at/");
/// Workers that reach the vault's unresponsiveness limit at a block.
pub const OFFLINE_LIMIT_AT: BlockList =
    BlockList::new(b"computation/offline_limit_n/", b"computation/offline_limit_at/");
/// Sum of the shares of online computing workers.
pub const ONLINE_SHARES: StorageValue<u128> = StorageValue::new(b"computation/online_shares");
/// Reward per share, scaled by [`ACC_PRECISION`].
pub const ACCUMULATOR: StorageValue<u128> = StorageValue::new(b"computation/accumulator");
/// Emission bookkeeping.
pub const EMISSION: StorageValue<EmissionState> = StorageValue::new(b"computation/emission");
/// Number of workers in each state (Computing, Unresponsive, CoolingDown).
pub const COUNTS: StorageValue<(u64, u64, u64)> = StorageValue::new(b"computation/counts");
/// Computing workers by dense index `0..COUNTS.0` (for random selection in O(1)).
pub const COMPUTING_AT: StorageMap<u64, Public> = StorageMap::new(b"computation/computing_at/");
/// Each computing worker's index in [`COMPUTING_AT`].
pub const COMPUTING_POS: StorageMap<Public, u64> = StorageMap::new(b"computation/computing_pos/");
/// Unresponsive workers by dense index `0..COUNTS.1` (challenged at random so they can return).
pub const UNRESPONSIVE_AT: StorageMap<u64, Public> =
    StorageMap::new(b"computation/unresponsive_at/");
/// Each unresponsive worker's index in [`UNRESPONSIVE_AT`].
pub const UNRESPONSIVE_POS: StorageMap<Public, u64> =
    StorageMap::new(b"computation/unresponsive_pos/");

// ---- calls ----

/// Calls of the computation module (workers start and stop through `stake_pools`; heartbeats
/// arrive through `mq`).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Replaces the parameters. Origin: the council key.
    #[codec(index = 0)]
    SetParams {
        /// New parameters.
        params: ComputationParams,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0];

// ---- events ----

/// Events of the computation module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A worker started computing.
    WorkerStarted {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Its pool.
        pool: PoolId,
        /// Stake locked.
        #[serde(with = "balance_str")]
        stake: Balance,
    },
    /// A worker was challenged.
    Challenged {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Deadline block.
        deadline: BlockNumber,
    },
    /// A heartbeat landed in time and was paid.
    HeartbeatAccepted {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Reward paid to its pool.
        #[serde(with = "balance_str")]
        reward: Balance,
    },
    /// A heartbeat was ignored.
    HeartbeatRejected {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Why.
        reason: String,
    },
    /// A worker missed its deadline.
    WorkerUnresponsive {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// What it had accrued since its last heartbeat, forfeited to the treasury.
        #[serde(with = "balance_str")]
        forfeited: Balance,
    },
    /// An unresponsive worker answered again.
    WorkerRecovered {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// A worker stopped computing; its stake cools down.
    WorkerStopped {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Block its stake unlocks.
        cool_down_end: BlockNumber,
        /// What it had accrued since its last heartbeat (not covered by an answered challenge),
        /// forfeited to the treasury.
        #[serde(with = "balance_str")]
        forfeited: Balance,
    },
    /// A worker's cool-down ended; it is Ready and its stake is free in its pool.
    WorkerReady {
        /// Worker.
        #[serde(with = "account_ss58")]
        worker: Public,
        /// Stake released.
        #[serde(with = "balance_str")]
        stake: Balance,
    },
    /// The parameters changed.
    ParamsChanged {
        /// New parameters.
        params: ComputationParams,
    },
}

// ---- errors ----

/// Errors of the computation module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The worker is not registered.
    #[error("worker not registered")]
    NotRegistered,
    /// The worker is not Ready.
    #[error("worker is not ready")]
    NotReady,
    /// The worker is neither Computing nor Unresponsive.
    #[error("worker is not computing")]
    NotComputing,
    /// The stake is below the minimum for the worker's score.
    #[error("stake below the minimum for the worker's benchmark score")]
    StakeTooLow,
    /// A parameter is out of its allowed range (named).
    #[error("parameter {0} is out of its allowed range")]
    InvalidParameters(#[codec(skip)] &'static str),
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The reward pot: emission for workers waits here until heartbeats claim it.
pub fn pot_account() -> AccountId {
    Public(blake2_256(b"umbra/computation/pot"))
}

/// Parameters (development values if genesis set none).
pub fn params(st: &Overlay<'_>) -> ComputationParams {
    PARAMS.get(st).unwrap_or_else(ComputationParams::dev)
}

/// The session of `worker`.
pub fn session(st: &Overlay<'_>, worker: &Public) -> Option<Session> {
    SESSIONS.get(st, worker)
}

fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = (n as f64).sqrt() as u64;
    while x.saturating_mul(x) > n {
        x = x.saturating_sub(1);
    }
    while x.saturating_add(1).saturating_mul(x.saturating_add(1)) <= n {
        x = x.saturating_add(1);
    }
    x
}

/// Minimum stake for a benchmark score: `min_stake_per_sqrt_score × √score`.
pub fn min_stake(st: &Overlay<'_>, score: u64) -> Balance {
    params(st).min_stake_per_sqrt_score.saturating_mul(isqrt(score) as Balance)
}

/// A worker's share: value (stake in whole UMB, ×1..×2 with online time) plus its score.
pub fn share_of(p: &ComputationParams, stake: Balance, uptime: u64, score: u64) -> u128 {
    let ramp = p.uptime_ramp_blocks.max(1) as u128;
    let credited = (uptime as u128).min(ramp);
    let value = (stake.checked_div(UNITS).unwrap_or(0))
        .saturating_mul(ramp.saturating_add(credited))
        .checked_div(ramp)
        .unwrap_or(0);
    value.saturating_add(score as u128)
}

fn now(st: &Overlay<'_>) -> BlockNumber {
    system::NUMBER.get_or_default(st)
}

/// Workers due at a block, stored as a count plus one small entry per worker, so that adding one
/// costs two small writes whatever the list's length (a single growing value would be rewritten
/// whole on every append).
#[derive(Debug)]
pub struct BlockList {
    count: StorageMap<BlockNumber, u32>,
    items: StorageMap<(BlockNumber, u32), Public>,
}

impl BlockList {
    /// A list under two prefixes.
    pub const fn new(count_prefix: &'static [u8], item_prefix: &'static [u8]) -> Self {
        BlockList { count: StorageMap::new(count_prefix), items: StorageMap::new(item_prefix) }
    }

    /// Number of workers due at `at`.
    pub fn len(&self, st: &Overlay<'_>, at: BlockNumber) -> u32 {
        self.count.get_or_default(st, &at)
    }

    /// Whether nobody is due at `at`.
    pub fn is_empty(&self, st: &Overlay<'_>, at: BlockNumber) -> bool {
        self.len(st, at) == 0
    }

    fn push(&self, st: &mut Overlay<'_>, at: BlockNumber, w: &Public) {
        let n = self.len(st, at);
        self.items.insert(st, &(at, n), w);
        self.count.insert(st, &at, &n.saturating_add(1));
    }

    fn take(&self, st: &mut Overlay<'_>, at: BlockNumber) -> Vec<Public> {
        let n = self.len(st, at);
        let out = (0..n).filter_map(|i| self.items.get(st, &(at, i))).collect();
        for i in 0..n {
            self.items.remove(st, &(at, i));
        }
        if n > 0 {
            self.count.remove(st, &at);
        }
        out
    }
}

fn push(list: &BlockList, st: &mut Overlay<'_>, at: BlockNumber, w: &Public) {
    list.push(st, at, w);
}

fn take(list: &BlockList, st: &mut Overlay<'_>, at: BlockNumber) -> Vec<Public> {
    list.take(st, at)
}

/// A dense index `0..len` of workers and each one's position, so that a uniformly random pick
/// costs one read and removal swaps the last entry into the hole.
struct DenseIndex {
    at: StorageMap<u64, Public>,
    pos: StorageMap<Public, u64>,
}

const COMPUTING_INDEX: DenseIndex = DenseIndex { at: COMPUTING_AT, pos: COMPUTING_POS };
const UNRESPONSIVE_INDEX: DenseIndex = DenseIndex { at: UNRESPONSIVE_AT, pos: UNRESPONSIVE_POS };

impl DenseIndex {
    /// Appends `w` at `len` (the current length).
    fn insert(&self, st: &mut Overlay<'_>, len: u64, w: &Public) {
        self.at.insert(st, &len, w);
        self.pos.insert(st, w, &len);
    }

    /// Removes `w` from an index of length `len`.
    fn remove(&self, st: &mut Overlay<'_>, len: u64, w: &Public) {
        let Some(pos) = self.pos.get(st, w) else { return };
        let last = len.saturating_sub(1);
        if pos != last {
            if let Some(moved) = self.at.get(st, &last) {
                self.at.insert(st, &pos, &moved);
                self.pos.insert(st, &moved, &pos);
            }
        }
        self.at.remove(st, &last);
        self.pos.remove(st, w);
    }
}

fn adjust_counts(
    st: &mut Overlay<'_>,
    worker: &Public,
    from: Option<WorkerState>,
    to: Option<WorkerState>,
) {
    if from == to {
        return;
    }
    let (mut c, mut u, mut d) = COUNTS.get_or_default(st);
    match from {
        Some(WorkerState::Computing) => {
            COMPUTING_INDEX.remove(st, c, worker);
            c = c.saturating_sub(1);
        }
        Some(WorkerState::Unresponsive) => {
            UNRESPONSIVE_INDEX.remove(st, u, worker);
            u = u.saturating_sub(1);
        }
        Some(WorkerState::CoolingDown) => d = d.saturating_sub(1),
        _ => {}
    }
    match to {
        Some(WorkerState::Computing) => {
            COMPUTING_INDEX.insert(st, c, worker);
            c = c.saturating_add(1);
        }
        Some(WorkerState::Unresponsive) => {
            UNRESPONSIVE_INDEX.insert(st, u, worker);
            u = u.saturating_add(1);
        }
        Some(WorkerState::CoolingDown) => d = d.saturating_add(1),
        _ => {}
    }
    COUNTS.put(st, &(c, u, d));
}

/// A 64-bit draw from block randomness, separated by `tag` and `i`.
fn draw(randomness: &[u8; 32], tag: &[u8], i: u64) -> u64 {
    let seed = blake2_256(&(b"umbra/challenge", tag, randomness, i).encode());
    let mut word = [0u8; 8];
    word.copy_from_slice(&seed[..8]);
    u64::from_le_bytes(word)
}

/// How many of `len` workers a block challenges: `⌊len / mean⌋`, plus one with probability
/// `(len mod mean) / mean`, so that each worker is picked `1 / mean` times per block on average.
pub fn challenges_per_block(randomness: &[u8; 32], tag: &[u8], len: u64, mean: u64) -> u64 {
    let mean = mean.max(1);
    let base = len.checked_div(mean).unwrap_or(0);
    let remainder = len.checked_rem(mean).unwrap_or(0);
    let roll = draw(randomness, &[tag, b"/extra"].concat(), 0).checked_rem(mean).unwrap_or(0);
    base.saturating_add(u64::from(roll < remainder))
}

/// Challenges workers drawn from `index` (of length `len`) with this block's randomness.
fn challenge_from(
    ext: &mut Ext<'_>,
    p: &ComputationParams,
    n: BlockNumber,
    randomness: &[u8; 32],
    (index, tag, len): (&DenseIndex, &[u8], u64),
) {
    let picks = challenges_per_block(randomness, tag, len, p.mean_challenge_interval);
    let deadline = n.saturating_add(p.heartbeat_window);
    for i in 0..picks {
        let Some(slot) = draw(randomness, tag, i).checked_rem(len) else { return };
        let Some(worker) = index.at.get(&ext.state, &slot) else { continue };
        let Some(mut s) = session(&ext.state, &worker) else { continue };
        if s.pending.is_some_and(|c| c.deadline > n) {
            continue;
        }
        s.pending = Some(PendingChallenge { block: n, deadline });
        if s.state == WorkerState::Computing {
            push(&DEADLINE_AT, &mut ext.state, deadline, &worker);
        }
        SESSIONS.insert(&mut ext.state, &worker, &s);
        mq::send(ext, MODULE, umbra_protocol::ToEnclave::Challenge(Challenge { worker, block: n }));
        ext.deposit_event(Event::Challenged { worker, deadline });
    }
}

/// What `s` accrued since its last settlement.
fn accrued(st: &Overlay<'_>, s: &Session) -> Balance {
    let acc = ACCUMULATOR.get_or_default(st);
    s.share
        .saturating_mul(acc.saturating_sub(s.acc_at_settle))
        .checked_div(ACC_PRECISION)
        .unwrap_or(0)
}

/// Moves `amount` out of the pot (capped at what it holds) to `to`.
fn pay_from_pot(ext: &mut Ext<'_>, to: &AccountId, amount: Balance) -> Balance {
    let pot = pot_account();
    let amount = amount.min(balances::account(&ext.state, &pot).free);
    if amount == 0 {
        return 0;
    }
    let mut from = balances::account(&ext.state, &pot);
    let mut dest = balances::account(&ext.state, to);
    from.free = from.free.saturating_sub(amount);
    dest.free = dest.free.saturating_add(amount);
    balances::ACCOUNTS.insert(&mut ext.state, &pot, &from);
    balances::ACCOUNTS.insert(&mut ext.state, to, &dest);
    amount
}

fn set_online_share(st: &mut Overlay<'_>, old: u128, new: u128) {
    let total = ONLINE_SHARES.get_or_default(st).saturating_sub(old).saturating_add(new);
    ONLINE_SHARES.put(st, &total);
}

/// Starts computing for `worker` with `stake` from `pool` (called by `stake_pools`).
pub fn start_computing(
    ext: &mut Ext<'_>,
    worker: &Public,
    pool: PoolId,
    stake: Balance,
) -> Result<(), DispatchError> {
    let info = registry::worker(&ext.state, worker).ok_or(Error::NotRegistered)?;
    let previous = session(&ext.state, worker);
    if previous.as_ref().is_some_and(|s| s.state != WorkerState::Ready) {
        return Err(Error::NotReady.into());
    }
    if stake < min_stake(&ext.state, info.benchmark_score) {
        return Err(Error::StakeTooLow.into());
    }
    let p = params(&ext.state);
    let n = now(&ext.state);
    let share = share_of(&p, stake, 0, info.benchmark_score);
    let s = Session {
        state: WorkerState::Computing,
        pool,
        stake,
        score: info.benchmark_score,
        uptime: 0,
        share,
        acc_at_settle: ACCUMULATOR.get_or_default(&ext.state),
        last_heartbeat: n,
        pending: None,
        unresponsive_since: None,
        cool_down_end: None,
        total_reward: previous.map_or(0, |s| s.total_reward),
        started_at: n,
    };
    set_online_share(&mut ext.state, 0, share);
    adjust_counts(&mut ext.state, worker, None, Some(WorkerState::Computing));
    SESSIONS.insert(&mut ext.state, worker, &s);
    ext.deposit_event(Event::WorkerStarted { worker: *worker, pool, stake });
    Ok(())
}

/// Stops `worker` (called by `stake_pools` and the vault's default handling). A worker is paid
/// only for time covered by answered challenges, so what a computing worker accrued since its
/// last heartbeat is forfeited to the treasury (otherwise an owner could start an offline worker,
/// stop it before its first deadline and collect its share without it ever being online). The
/// stake unlocks after the cool-down.
pub fn stop_computing(ext: &mut Ext<'_>, worker: &Public) -> Result<(), DispatchError> {
    let mut s = session(&ext.state, worker).ok_or(Error::NotComputing)?;
    if !matches!(s.state, WorkerState::Computing | WorkerState::Unresponsive) {
        return Err(Error::NotComputing.into());
    }
    let mut forfeited = 0;
    if s.state == WorkerState::Computing {
        forfeited = forfeit(ext, &mut s);
        set_online_share(&mut ext.state, s.share, 0);
    }
    let p = params(&ext.state);
    let end = now(&ext.state).saturating_add(p.cool_down_blocks.max(1));
    adjust_counts(&mut ext.state, worker, Some(s.state), Some(WorkerState::CoolingDown));
    s.state = WorkerState::CoolingDown;
    s.pending = None;
    s.unresponsive_since = None;
    s.cool_down_end = Some(end);
    push(&COOL_DOWN_AT, &mut ext.state, end, worker);
    SESSIONS.insert(&mut ext.state, worker, &s);
    ext.deposit_event(Event::WorkerStopped { worker: *worker, cool_down_end: end, forfeited });
    Ok(())
}

/// Moves what `s` accrued since its last settlement from the pot to the treasury (recorded as
/// `EMISSION.forfeited`) and resets its settlement point.
fn forfeit(ext: &mut Ext<'_>, s: &mut Session) -> Balance {
    let owed = accrued(&ext.state, s);
    s.acc_at_settle = ACCUMULATOR.get_or_default(&ext.state);
    let moved = pay_from_pot(ext, &balances::treasury_account(), owed);
    if moved > 0 {
        let mut e = EMISSION.get_or_default(&ext.state);
        e.forfeited = e.forfeited.saturating_add(moved);
        EMISSION.put(&mut ext.state, &e);
    }
    moved
}

/// Pays `s` what it accrued into its pool and resets its settlement point.
fn settle<T: Config>(ext: &mut Ext<'_>, worker: &Public, s: &mut Session) -> Balance {
    let owed = accrued(&ext.state, s);
    s.acc_at_settle = ACCUMULATOR.get_or_default(&ext.state);
    let paid = pay_from_pot(ext, &T::pool_account(s.pool), owed);
    if paid > 0 {
        let mut e = EMISSION.get_or_default(&ext.state);
        e.paid_to_workers = e.paid_to_workers.saturating_add(paid);
        EMISSION.put(&mut ext.state, &e);
        s.total_reward = s.total_reward.saturating_add(paid);
        T::on_reward(ext, s.pool, worker, paid);
    }
    paid
}

/// Handles an encoded heartbeat from `worker`'s enclave (its wire payload). Never fails: a bad
/// heartbeat is reported as an event.
pub fn on_heartbeat<T: Config>(ext: &mut Ext<'_>, worker: &Public, payload: &[u8]) {
    match Heartbeat::decode(&mut &payload[..]) {
        Ok(hb) => heartbeat::<T>(ext, worker, &hb),
        Err(_) => ext.deposit_event(Event::HeartbeatRejected {
            worker: *worker,
            reason: "malformed heartbeat".into(),
        }),
    }
}

/// Handles a decoded heartbeat from `worker` (routed by `mq`).
pub fn heartbeat<T: Config>(ext: &mut Ext<'_>, worker: &Public, hb: &Heartbeat) {
    let reject = |ext: &mut Ext<'_>, reason: &str| {
        ext.deposit_event(Event::HeartbeatRejected { worker: *worker, reason: reason.into() })
    };
    let Some(mut s) = session(&ext.state, worker) else { return reject(ext, "not computing") };
    let n = now(&ext.state);
    let Some(challenge) = s.pending.filter(|c| c.block == hb.challenge_block) else {
        return reject(ext, "no open challenge at that block");
    };
    if challenge.deadline <= n {
        return reject(ext, "challenge expired");
    }
    if system::BLOCK_HASHES.get(&ext.state, &hb.challenge_block) != Some(hb.challenge_block_hash) {
        return reject(ext, "challenge block hash mismatch");
    }
    let p = params(&ext.state);
    match s.state {
        WorkerState::Computing => {
            let reward = settle::<T>(ext, worker, &mut s);
            s.uptime = s.uptime.saturating_add(n.saturating_sub(s.last_heartbeat));
            let share = share_of(&p, s.stake, s.uptime, s.score);
            set_online_share(&mut ext.state, s.share, share);
            s.share = share;
            ext.deposit_event(Event::HeartbeatAccepted { worker: *worker, reward });
        }
        WorkerState::Unresponsive => {
            let since = s.unresponsive_since.unwrap_or(n);
            s.uptime = s
                .uptime
                .saturating_sub(n.saturating_sub(since).saturating_mul(p.unresponsive_decay));
            s.share = share_of(&p, s.stake, s.uptime, s.score);
            s.acc_at_settle = ACCUMULATOR.get_or_default(&ext.state);
            set_online_share(&mut ext.state, 0, s.share);
            adjust_counts(
                &mut ext.state,
                worker,
                Some(WorkerState::Unresponsive),
                Some(WorkerState::Computing),
            );
            s.state = WorkerState::Computing;
            s.unresponsive_since = None;
            ext.deposit_event(Event::WorkerRecovered { worker: *worker });
        }
        _ => return reject(ext, "not computing"),
    }
    s.pending = None;
    s.last_heartbeat = n;
    SESSIONS.insert(&mut ext.state, worker, &s);
}

/// `amount × ppm / 10⁶`, rounded down (`ppm ≤ 10⁶`, so it never exceeds `amount`).
fn ppm_of(amount: Balance, ppm: u32) -> Balance {
    let ppm = Balance::from(ppm.min(1_000_000));
    // amount = q·10⁶ + r: amount·ppm/10⁶ = q·ppm + r·ppm/10⁶, with no intermediate overflow.
    let q = amount.checked_div(1_000_000).unwrap_or(0);
    let r = amount.checked_rem(1_000_000).unwrap_or(0);
    q.saturating_mul(ppm).saturating_add(r.saturating_mul(ppm).checked_div(1_000_000).unwrap_or(0))
}

fn emit(ext: &mut Ext<'_>, p: &ComputationParams, n: BlockNumber) {
    let mut e = EMISSION.get_or_default(&ext.state);
    if e.next_decay == 0 {
        e.budget = p.budget_per_block;
        e.next_decay = n.saturating_add(p.decay_period.max(1));
    }
    while n >= e.next_decay {
        e.budget = e.budget.saturating_sub(ppm_of(e.budget, p.decay_ppm));
        match e.next_decay.checked_add(p.decay_period.max(1)) {
            Some(next) => e.next_decay = next,
            None => {
                e.next_decay = BlockNumber::MAX;
                break;
            }
        }
    }
    let budget = e.budget;
    let shares = ONLINE_SHARES.get_or_default(&ext.state);
    let to_workers = if shares == 0 { 0 } else { ppm_of(budget, p.worker_share_ppm) };
    let to_treasury = budget.saturating_sub(to_workers);
    if balances::issue(ext, &pot_account(), to_workers).is_err()
        || balances::issue(ext, &balances::treasury_account(), to_treasury).is_err()
    {
        // Issuance would overflow: emission stops rather than breaking conservation.
        return;
    }
    if to_workers > 0 {
        let acc = ACCUMULATOR.get_or_default(&ext.state);
        ACCUMULATOR.put(
            &mut ext.state,
            &acc.saturating_add(
                to_workers.saturating_mul(ACC_PRECISION).checked_div(shares).unwrap_or(0),
            ),
        );
    }
    e.total_emitted = e.total_emitted.saturating_add(budget);
    e.to_workers = e.to_workers.saturating_add(to_workers);
    EMISSION.put(&mut ext.state, &e);
}

/// Block hook: emission, then the deadlines, challenges, vault limits and cool-downs due at
/// this block. Reads only this block's lists and one index entry per challenge.
pub fn on_initialize<T: Config>(ext: &mut Ext<'_>) {
    let n = now(&ext.state);
    let p = params(&ext.state);
    emit(ext, &p, n);

    for worker in take(&DEADLINE_AT, &mut ext.state, n) {
        let Some(mut s) = session(&ext.state, &worker) else { continue };
        if s.state != WorkerState::Computing || s.pending.map(|c| c.deadline) != Some(n) {
            continue;
        }
        let moved = forfeit(ext, &mut s);
        set_online_share(&mut ext.state, s.share, 0);
        adjust_counts(
            &mut ext.state,
            &worker,
            Some(WorkerState::Computing),
            Some(WorkerState::Unresponsive),
        );
        s.state = WorkerState::Unresponsive;
        s.unresponsive_since = Some(n);
        let limit = T::unresponsive_limit(&ext.state);
        push(&OFFLINE_LIMIT_AT, &mut ext.state, n.saturating_add(limit.max(1)), &worker);
        SESSIONS.insert(&mut ext.state, &worker, &s);
        ext.deposit_event(Event::WorkerUnresponsive { worker, forfeited: moved });
    }

    // Challenges: drawn from this block's randomness, unknown before this block.
    let randomness = system::RANDOMNESS.get_or_default(&ext.state);
    let (computing, unresponsive, _) = COUNTS.get_or_default(&ext.state);
    challenge_from(ext, &p, n, &randomness, (&COMPUTING_INDEX, b"computing", computing));
    challenge_from(ext, &p, n, &randomness, (&UNRESPONSIVE_INDEX, b"unresponsive", unresponsive));

    for worker in take(&OFFLINE_LIMIT_AT, &mut ext.state, n) {
        let Some(s) = session(&ext.state, &worker) else { continue };
        let limit = T::unresponsive_limit(&ext.state).max(1);
        if s.state == WorkerState::Unresponsive
            && s.unresponsive_since.map(|u| u.saturating_add(limit)) == Some(n)
        {
            T::on_unresponsive_limit(ext, s.pool, &worker);
        }
    }

    for worker in take(&COOL_DOWN_AT, &mut ext.state, n) {
        let Some(mut s) = session(&ext.state, &worker) else { continue };
        if s.state != WorkerState::CoolingDown || s.cool_down_end != Some(n) {
            continue;
        }
        let stake = s.stake;
        adjust_counts(&mut ext.state, &worker, Some(WorkerState::CoolingDown), None);
        s.state = WorkerState::Ready;
        s.stake = 0;
        s.share = 0;
        s.cool_down_end = None;
        SESSIONS.insert(&mut ext.state, &worker, &s);
        T::on_stake_released(ext, s.pool, &worker, stake);
        ext.deposit_event(Event::WorkerReady { worker, stake });
    }
}

/// Number of computing (online) workers.
pub fn computing_count(st: &Overlay<'_>) -> u64 {
    COUNTS.get_or_default(st).0
}

/// The computing worker at dense index `i` (`i < computing_count`).
pub fn computing_at(st: &Overlay<'_>, i: u64) -> Option<Public> {
    COMPUTING_AT.get(st, &i)
}

/// Dispatches a computation call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::SetParams { params } => {
            if !governance::is_council(&ext.state, &origin) {
                return Err(Error::RequireCouncil.into());
            }
            params.validate()?;
            let mut e = EMISSION.get_or_default(&ext.state);
            if e.budget != params.budget_per_block {
                e.budget = params.budget_per_block;
                e.next_decay = now(&ext.state).saturating_add(params.decay_period);
                EMISSION.put(&mut ext.state, &e);
            }
            PARAMS.put(&mut ext.state, &params);
            ext.deposit_event(Event::ParamsChanged { params });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
