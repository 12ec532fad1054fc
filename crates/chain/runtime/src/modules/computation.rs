//! `computation`: workers prove they are online and earn the token for it.
//!
//! States: `Ready → Computing ⇄ Unresponsive → CoolingDown → Ready`.
//!
//! **Challenges.** When a worker starts computing, and after each answered challenge, its next
//! challenge block is drawn from the current block's VRF randomness (uniform in
//! `1..=2·mean_challenge_interval` blocks ahead) and the worker is appended to that block's list
//! in an ordered index (`challenge_at/<block>`). At each block only that list is read, so the cost
//! of a block depends on how many workers are challenged or answering, never on how many exist.
//! A challenged worker's enclave must answer with a [`Heartbeat`] (an mq message signed by its
//! identity, carrying the challenge block's hash, so it can only be made after that block exists)
//! before `deadline = challenge + heartbeat_window`; otherwise at the deadline block it becomes
//! Unresponsive, forfeits what it accrued since its last heartbeat, and earns nothing until it
//! answers a later challenge (it keeps being challenged at the usual rate).
//!
//! **Rewards.** Each block mints the emission budget (decaying by `decay_ppm` every
//! `decay_period` blocks): `worker_share_ppm` (70%) goes to a reward pot and raises a global
//! reward-per-share accumulator over the shares of online computing workers; the rest goes to
//! the treasury (all of it when no worker is online). A worker is paid `share × Δaccumulator` when
//! its heartbeat lands, into its stake pool. A worker's share is its value (stake, ×1 to ×2 as its
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
    modules::{balances, governance, mq, registry, stake_pools, system, vault},
    state::{Overlay, StorageMap, StorageValue},
};

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

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.mean_challenge_interval >= 1
            && (2..=system::BLOCK_HASH_COUNT).contains(&self.heartbeat_window)
            && self.decay_ppm <= 1_000_000
            && self.decay_period >= 1
            && self.worker_share_ppm <= 1_000_000
            && self.uptime_ramp_blocks >= 1;
        ok.then_some(()).ok_or(Error::InvalidParameters)
    }
}

/// A worker's computing state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub struct PendingChallenge {
    /// Block that issued it.
    pub block: BlockNumber,
    /// First block at which it counts as missed.
    pub deadline: BlockNumber,
}

/// A worker's computing session.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
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
    /// Its open challenge, if any.
    pub pending: Option<PendingChallenge>,
    /// Block of its next scheduled challenge.
    pub next_challenge: Option<BlockNumber>,
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, Serialize)]
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
/// Workers whose next challenge is at a block.
pub const CHALLENGE_AT: BlockList =
    BlockList::new(b"computation/challenge_n/", b"computation/challenge_at/");
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
    /// The parameters are out of range.
    #[error("parameters out of range")]
    InvalidParameters,
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
        x -= 1;
    }
    while (x + 1).saturating_mul(x + 1) <= n {
        x += 1;
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
    let value = (stake / UNITS).saturating_mul(ramp + credited) / ramp;
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
        self.count.insert(st, &at, &(n + 1));
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

fn schedule_next_challenge(
    st: &mut Overlay<'_>,
    p: &ComputationParams,
    worker: &Public,
    s: &mut Session,
) {
    let randomness = system::RANDOMNESS.get_or_default(st);
    let seed = blake2_256(&(b"umbra/challenge", randomness, worker).encode());
    let span = p.mean_challenge_interval.saturating_mul(2).max(1);
    let gap = 1 + u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")) % span;
    let at = now(st) + gap;
    s.next_challenge = Some(at);
    push(&CHALLENGE_AT, st, at, worker);
}

fn adjust_counts(
    st: &mut Overlay<'_>,
    worker: &Public,
    from: Option<WorkerState>,
    to: Option<WorkerState>,
) {
    let (mut c, mut u, mut d) = COUNTS.get_or_default(st);
    if from == Some(WorkerState::Computing) && to != Some(WorkerState::Computing) {
        if let Some(pos) = COMPUTING_POS.get(st, worker) {
            let last = c.saturating_sub(1);
            if pos != last {
                if let Some(moved) = COMPUTING_AT.get(st, &last) {
                    COMPUTING_AT.insert(st, &pos, &moved);
                    COMPUTING_POS.insert(st, &moved, &pos);
                }
            }
            COMPUTING_AT.remove(st, &last);
            COMPUTING_POS.remove(st, worker);
        }
    }
    if to == Some(WorkerState::Computing) && from != Some(WorkerState::Computing) {
        COMPUTING_AT.insert(st, &c, worker);
        COMPUTING_POS.insert(st, worker, &c);
    }
    for (state, delta) in [(from, -1i64), (to, 1)] {
        let slot = match state {
            Some(WorkerState::Computing) => &mut c,
            Some(WorkerState::Unresponsive) => &mut u,
            Some(WorkerState::CoolingDown) => &mut d,
            _ => continue,
        };
        *slot = slot.saturating_add_signed(delta);
    }
    COUNTS.put(st, &(c, u, d));
}

/// What `s` accrued since its last settlement.
fn accrued(st: &Overlay<'_>, s: &Session) -> Balance {
    let acc = ACCUMULATOR.get_or_default(st);
    s.share.saturating_mul(acc.saturating_sub(s.acc_at_settle)) / ACC_PRECISION
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
    from.free -= amount;
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
    let mut s = Session {
        state: WorkerState::Computing,
        pool,
        stake,
        score: info.benchmark_score,
        uptime: 0,
        share,
        acc_at_settle: ACCUMULATOR.get_or_default(&ext.state),
        last_heartbeat: n,
        pending: None,
        next_challenge: None,
        unresponsive_since: None,
        cool_down_end: None,
        total_reward: previous.map_or(0, |s| s.total_reward),
        started_at: n,
    };
    schedule_next_challenge(&mut ext.state, &p, worker, &mut s);
    set_online_share(&mut ext.state, 0, share);
    adjust_counts(&mut ext.state, worker, None, Some(WorkerState::Computing));
    SESSIONS.insert(&mut ext.state, worker, &s);
    ext.deposit_event(Event::WorkerStarted { worker: *worker, pool, stake });
    Ok(())
}

/// Stops `worker` (called by `stake_pools` and the vault's default handling). A computing worker
/// is paid what it accrued; the stake unlocks after the cool-down.
pub fn stop_computing(ext: &mut Ext<'_>, worker: &Public) -> Result<(), DispatchError> {
    let mut s = session(&ext.state, worker).ok_or(Error::NotComputing)?;
    if !matches!(s.state, WorkerState::Computing | WorkerState::Unresponsive) {
        return Err(Error::NotComputing.into());
    }
    if s.state == WorkerState::Computing {
        settle(ext, worker, &mut s);
        set_online_share(&mut ext.state, s.share, 0);
    }
    let p = params(&ext.state);
    let end = now(&ext.state) + p.cool_down_blocks.max(1);
    adjust_counts(&mut ext.state, worker, Some(s.state), Some(WorkerState::CoolingDown));
    s.state = WorkerState::CoolingDown;
    s.pending = None;
    s.next_challenge = None;
    s.unresponsive_since = None;
    s.cool_down_end = Some(end);
    push(&COOL_DOWN_AT, &mut ext.state, end, worker);
    SESSIONS.insert(&mut ext.state, worker, &s);
    ext.deposit_event(Event::WorkerStopped { worker: *worker, cool_down_end: end });
    Ok(())
}

/// Pays `s` what it accrued into its pool and resets its settlement point.
fn settle(ext: &mut Ext<'_>, worker: &Public, s: &mut Session) -> Balance {
    let owed = accrued(&ext.state, s);
    s.acc_at_settle = ACCUMULATOR.get_or_default(&ext.state);
    let paid = pay_from_pot(ext, &stake_pools::pool_account(s.pool), owed);
    if paid > 0 {
        let mut e = EMISSION.get_or_default(&ext.state);
        e.paid_to_workers = e.paid_to_workers.saturating_add(paid);
        EMISSION.put(&mut ext.state, &e);
        s.total_reward = s.total_reward.saturating_add(paid);
        stake_pools::on_reward(ext, s.pool, worker, paid);
    }
    paid
}

/// Handles an encoded heartbeat from `worker`'s enclave (its wire payload). Never fails: a bad
/// heartbeat is reported as an event.
pub fn on_heartbeat(ext: &mut Ext<'_>, worker: &Public, payload: &[u8]) {
    match Heartbeat::decode(&mut &payload[..]) {
        Ok(hb) => heartbeat(ext, worker, &hb),
        Err(_) => ext.deposit_event(Event::HeartbeatRejected {
            worker: *worker,
            reason: "malformed heartbeat".into(),
        }),
    }
}

/// Handles a decoded heartbeat from `worker` (routed by `mq`).
pub fn heartbeat(ext: &mut Ext<'_>, worker: &Public, hb: &Heartbeat) {
    let reject = |ext: &mut Ext<'_>, reason: &str| {
        ext.deposit_event(Event::HeartbeatRejected { worker: *worker, reason: reason.into() })
    };
    let Some(mut s) = session(&ext.state, worker) else { return reject(ext, "not computing") };
    if s.pending.is_none_or(|c| c.block != hb.challenge_block) {
        return reject(ext, "no open challenge at that block");
    }
    if system::BLOCK_HASHES.get(&ext.state, &hb.challenge_block) != Some(hb.challenge_block_hash) {
        return reject(ext, "challenge block hash mismatch");
    }
    let p = params(&ext.state);
    let n = now(&ext.state);
    match s.state {
        WorkerState::Computing => {
            let reward = settle(ext, worker, &mut s);
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
    if s.next_challenge.is_none_or(|at| at <= n) {
        schedule_next_challenge(&mut ext.state, &p, worker, &mut s);
    }
    SESSIONS.insert(&mut ext.state, worker, &s);
}

fn emit(ext: &mut Ext<'_>, p: &ComputationParams, n: BlockNumber) {
    let mut e = EMISSION.get_or_default(&ext.state);
    if e.next_decay == 0 {
        e.budget = p.budget_per_block;
        e.next_decay = n + p.decay_period;
    }
    while n >= e.next_decay {
        e.budget -= e.budget * p.decay_ppm as u128 / 1_000_000;
        e.next_decay += p.decay_period;
    }
    let budget = e.budget;
    let shares = ONLINE_SHARES.get_or_default(&ext.state);
    let to_workers = if shares == 0 { 0 } else { budget * p.worker_share_ppm as u128 / 1_000_000 };
    let to_treasury = budget - to_workers;
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
            &acc.saturating_add(to_workers.saturating_mul(ACC_PRECISION) / shares),
        );
    }
    e.total_emitted = e.total_emitted.saturating_add(budget);
    e.to_workers = e.to_workers.saturating_add(to_workers);
    EMISSION.put(&mut ext.state, &e);
}

/// Block hook: emission, then the challenges, deadlines, vault limits and cool-downs due at this
/// block. Reads only this block's lists.
pub fn on_initialize(ext: &mut Ext<'_>) {
    let n = now(&ext.state);
    let p = params(&ext.state);
    emit(ext, &p, n);

    for worker in take(&CHALLENGE_AT, &mut ext.state, n) {
        let Some(mut s) = session(&ext.state, &worker) else { continue };
        if s.next_challenge != Some(n)
            || !matches!(s.state, WorkerState::Computing | WorkerState::Unresponsive)
        {
            continue;
        }
        let deadline = n + p.heartbeat_window;
        s.pending = Some(PendingChallenge { block: n, deadline });
        s.next_challenge = None;
        if s.state == WorkerState::Computing {
            push(&DEADLINE_AT, &mut ext.state, deadline, &worker);
        } else {
            // Unresponsive workers keep being challenged so they can come back.
            schedule_next_challenge(&mut ext.state, &p, &worker, &mut s);
        }
        SESSIONS.insert(&mut ext.state, &worker, &s);
        mq::send(ext, MODULE, umbra_protocol::ToEnclave::Challenge(Challenge { worker, block: n }));
        ext.deposit_event(Event::Challenged { worker, deadline });
    }

    for worker in take(&DEADLINE_AT, &mut ext.state, n) {
        let Some(mut s) = session(&ext.state, &worker) else { continue };
        if s.state != WorkerState::Computing || s.pending.map(|c| c.deadline) != Some(n) {
            continue;
        }
        let forfeited = accrued(&ext.state, &s);
        let moved = pay_from_pot(ext, &balances::treasury_account(), forfeited);
        let mut e = EMISSION.get_or_default(&ext.state);
        e.forfeited = e.forfeited.saturating_add(moved);
        EMISSION.put(&mut ext.state, &e);
        s.acc_at_settle = ACCUMULATOR.get_or_default(&ext.state);
        set_online_share(&mut ext.state, s.share, 0);
        adjust_counts(
            &mut ext.state,
            &worker,
            Some(WorkerState::Computing),
            Some(WorkerState::Unresponsive),
        );
        s.state = WorkerState::Unresponsive;
        s.unresponsive_since = Some(n);
        let limit = vault::params(&ext.state).default_after_blocks;
        push(&OFFLINE_LIMIT_AT, &mut ext.state, n + limit.max(1), &worker);
        schedule_next_challenge(&mut ext.state, &p, &worker, &mut s);
        SESSIONS.insert(&mut ext.state, &worker, &s);
        ext.deposit_event(Event::WorkerUnresponsive { worker, forfeited: moved });
    }

    for worker in take(&OFFLINE_LIMIT_AT, &mut ext.state, n) {
        let Some(s) = session(&ext.state, &worker) else { continue };
        let limit = vault::params(&ext.state).default_after_blocks.max(1);
        if s.state == WorkerState::Unresponsive
            && s.unresponsive_since.map(|u| u + limit) == Some(n)
        {
            stake_pools::on_unresponsive_limit(ext, s.pool, &worker);
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
        stake_pools::on_stake_released(ext, s.pool, &worker, stake);
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
                e.next_decay = now(&ext.state) + params.decay_period;
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
