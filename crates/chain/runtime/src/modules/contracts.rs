//! `contracts`: confidential contracts on chain — deployment, the encrypted command log, random
//! assignment to workers with reshuffles, quorum-decided results, events, transfers and state
//! checkpoints.
//!
//! The chain never sees plaintext: commands are sealed to the contract's key (which only
//! gatekeepers and the assigned workers hold), bound to the contract id and the sender; private
//! events are encrypted to their recipients; checkpoints are encrypted with a key derived from the
//! contract key and kept off chain (the chain records only their hashes). It only orders, assigns
//! and settles:
//! - `deploy` records the contract (O(1) keys, whatever the number of contracts), asks the
//!   gatekeeper leader for its key, and assigns it to K workers picked from chain randomness among
//!   computing workers (the operator cannot choose). Each contract is reshuffled every
//!   `reshuffle_period` blocks at its own offset, so a block touches only the contracts due in it.
//! - `push_command` appends a sealed command to the log, with a running log hash over the whole
//!   [`CommandContext`] (contract, origin, block, sequence number, value, gas limit) and the
//!   sealed bytes, so a worker replaying the log can check the host handed it the real one. A
//!   command may carry value: it moves from the sender into the contract's account at push
//!   (refused for kinds that cannot receive it) and is credited to the sender inside the
//!   contract. Every command carries a gas limit (`21000..=max_gas_per_command`) and prepays
//!   `gas_limit × gas_price` into [`gas_escrow_account`].
//! - Assigned workers report each command's result (state hash, outputs, checkpoint hash, gas
//!   used). A result applies only once `quorum` workers reported the same one; then the gas
//!   used is charged to the treasury and the rest refunded. When no quorum is possible any more
//!   the contract pauses (no new commands; prepaid gas stays in escrow) until the council
//!   resumes it and its commands get results.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_contracts::{CommandContext, ContractId, ContractKind, EncryptedEvent};
use umbra_crypto::{blake2_256, Public, SealedBox};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, MessageOrigin},
    serde_helpers::{account_ss58, balance_str, bytes_hex},
    AccountId, Balance, BlockNumber, H256,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{balances, computation, gatekeeper, governance, mq, registry, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "contracts";
/// Largest salt accepted at deployment.
pub const MAX_SALT: usize = 64;
/// Largest assignment size (K).
pub const MAX_ASSIGNMENT: u32 = 64;
/// Smallest reshuffle period, in blocks.
pub const MIN_RESHUFFLE_PERIOD: u64 = 2;
/// Largest reshuffle period, in blocks (about a month of 6-second blocks).
pub const MAX_RESHUFFLE_PERIOD: u64 = 432_000;
/// Largest checkpoint interval, in commands.
pub const MAX_CHECKPOINT_INTERVAL: u64 = 1_000_000;
/// Smallest and largest bound on an (off-chain) encrypted checkpoint, in bytes (4 MiB: a blob
/// travels hex-encoded in one JSON-RPC message, and those are limited to 10 MiB).
pub const CHECKPOINT_BYTES_RANGE: core::ops::RangeInclusive<u32> = 1024..=(4 << 20);
/// Bounds of the gas price, in the smallest UMB unit per gas (up to 1 UMB per gas).
pub const GAS_PRICE_RANGE: core::ops::RangeInclusive<Balance> = 1..=umbra_primitives::UNITS;
/// Bounds of the per-command gas cap: from the intrinsic minimum to
/// [`umbra_contracts::gas::MAX_GAS_CAP`].
pub const MAX_GAS_RANGE: core::ops::RangeInclusive<u64> =
    umbra_contracts::gas::MIN_GAS_LIMIT..=umbra_contracts::gas::MAX_GAS_CAP;
/// Gas price of the development parameters: 1,000,000 smallest units (a millionth of a UMB)
/// per gas, so a 50,000-gas token transfer costs 0.05 UMB.
pub const DEV_GAS_PRICE: Balance = 1_000_000;

/// Assignment parameters. Part of genesis; governance may change them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContractsParams {
    /// Workers each contract is assigned to (K), `1..=64`.
    pub assignment_size: u32,
    /// Blocks between two reshuffles of a contract, `2..=432000`.
    pub reshuffle_period: u64,
    /// Commands between state checkpoints, `1..=1000000`.
    pub checkpoint_interval: u64,
    /// Largest encrypted checkpoint, in bytes (kept off chain), 1 KiB..=4 MiB; a larger state
    /// is not checkpointed (rebuilds replay the log from the previous checkpoint).
    pub max_checkpoint_bytes: u32,
    /// Price of one unit of gas in the smallest UMB unit, `1..=10^12` (1 UMB): a push prepays
    /// `gas_limit × gas_price`, and the price at push is the one its settlement uses.
    #[serde(with = "balance_str")]
    pub gas_price: Balance,
    /// The largest gas limit one command may carry, `21000..=100000000`.
    pub max_gas_per_command: u64,
}

impl ContractsParams {
    /// Development values: 3 workers per contract (default quorum 2), reshuffle every 50
    /// blocks, checkpoint every 100 commands, checkpoints up to 4 MiB, gas at
    /// [`DEV_GAS_PRICE`] with a cap of 30,000,000 per command.
    pub fn dev() -> Self {
        ContractsParams {
            assignment_size: 3,
            reshuffle_period: 50,
            checkpoint_interval: 100,
            max_checkpoint_bytes: 4 << 20,
            gas_price: DEV_GAS_PRICE,
            max_gas_per_command: umbra_contracts::gas::DEFAULT_MAX_GAS_PER_COMMAND,
        }
    }

    /// Checks ranges; the error names the parameter out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_ASSIGNMENT).contains(&self.assignment_size) {
            return Err(Error::InvalidAssignmentSize);
        }
        if !(MIN_RESHUFFLE_PERIOD..=MAX_RESHUFFLE_PERIOD).contains(&self.reshuffle_period) {
            return Err(Error::InvalidReshufflePeriod);
        }
        if !(1..=MAX_CHECKPOINT_INTERVAL).contains(&self.checkpoint_interval) {
            return Err(Error::InvalidCheckpointInterval);
        }
        if !CHECKPOINT_BYTES_RANGE.contains(&self.max_checkpoint_bytes) {
            return Err(Error::InvalidCheckpointSize);
        }
        if !GAS_PRICE_RANGE.contains(&self.gas_price) {
            return Err(Error::InvalidGasPrice);
        }
        if !MAX_GAS_RANGE.contains(&self.max_gas_per_command) {
            return Err(Error::InvalidMaxGas);
        }
        Ok(())
    }

    /// The default quorum for K workers: a majority, `K / 2 + 1`.
    pub fn default_quorum(&self) -> u32 {
        (self.assignment_size / 2).saturating_add(1)
    }
}

/// A checkpoint the chain recorded: the encrypted blob itself lives off chain (the node's blob
/// store), addressed by `(contract, seq)` and checked against `blob_hash`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRecord {
    /// Sequence number it covers (commands `0..=seq`).
    pub seq: u64,
    /// State hash after `seq`.
    pub state_hash: H256,
    /// Log hash after `seq`.
    pub log_hash: H256,
    /// blake2 of the encrypted blob.
    pub blob_hash: H256,
}

/// Why a contract is paused.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    /// The command no quorum could decide.
    pub seq: u64,
    /// What happened.
    pub reason: String,
}

/// A contract on chain.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractInfo {
    /// Its id.
    pub id: H256,
    /// Built-in kind.
    pub kind: ContractKind,
    /// Who deployed it.
    #[serde(with = "account_ss58")]
    pub deployer: AccountId,
    /// Master key rotation its key derives from.
    pub rotation: u32,
    /// Its public (x25519) key, once the gatekeeper published it.
    #[serde(with = "umbra_primitives::serde_helpers::opt_bytes_hex")]
    pub pubkey: Option<[u8; 32]>,
    /// Block of deployment.
    pub deployed_at: BlockNumber,
    /// Matching reports needed to apply a command's result (`1..=K`, set at deployment).
    pub quorum: u32,
    /// Commands pushed so far (the next sequence number).
    pub commands: u64,
    /// Running hash of the command log.
    pub log_hash: H256,
    /// Assignment epoch.
    pub epoch: u64,
    /// Block of the next reshuffle.
    pub next_reshuffle: BlockNumber,
    /// Workers assigned in this epoch.
    #[serde(
        serialize_with = "ss58_list",
        deserialize_with = "umbra_primitives::serde_helpers::ss58_list::deserialize"
    )]
    pub assigned: Vec<Public>,
    /// Results decided so far (commands `0..executed` have a result).
    pub executed: u64,
    /// State hash after the last decided result.
    pub state_hash: H256,
    /// Latest checkpoint.
    pub checkpoint: Option<CheckpointRecord>,
    /// Set when the workers diverged so that no quorum is possible: the contract takes no
    /// commands until the council resumes it.
    pub paused: Option<Pause>,
}

/// One command in the log.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommandRecord {
    /// Who pushed it (authenticated by the extrinsic signature).
    pub origin: AccountId,
    /// Block it was pushed in.
    pub block: BlockNumber,
    /// The sealed command.
    pub sealed: SealedBox,
    /// Value moved from `origin` into the contract's account with it.
    pub value: Balance,
    /// Gas limit, prepaid at push (`gas_limit × gas_price` held in [`gas_escrow_account`]
    /// until the result settles it).
    pub gas_limit: u64,
    /// Gas price at push (what the settlement charges and refunds at).
    pub gas_price: Balance,
    /// Log hash after it.
    pub log_hash: H256,
}

// The boundary messages (defined with every other one in `umbra-protocol`).
pub use umbra_protocol::{Assignment, CommandResult, ContractKeyShare, SealedOutput};
use umbra_protocol::{
    ContractPubkey, DeriveContractKey, FromWorker, ToEnclave, ToGatekeeper, ToWorker,
};

fn ss58_list<S: serde::Serializer>(v: &[Public], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_ss58()))
}

// ---- storage ----

/// Parameters.
pub const PARAMS: StorageValue<ContractsParams> = StorageValue::new(b"contracts/params");
/// Contracts by id.
pub const CONTRACTS: StorageMap<ContractId, ContractInfo> = StorageMap::new(b"contracts/contract/");
/// Number of contracts deployed.
pub const CONTRACT_COUNT: StorageValue<u64> = StorageValue::new(b"contracts/count");
/// Contract ids by deployment index (`0..CONTRACT_COUNT`).
pub const CONTRACT_AT: StorageMap<u64, ContractId> = StorageMap::new(b"contracts/at/");
/// Number of contracts due for a reshuffle at a block.
pub const RESHUFFLE_N: StorageMap<BlockNumber, u32> = StorageMap::new(b"contracts/reshuffle_n/");
/// Contracts due for a reshuffle at a block, `(block, i)` for `i < RESHUFFLE_N[block]`.
pub const RESHUFFLE_AT: StorageMap<(BlockNumber, u32), ContractId> =
    StorageMap::new(b"contracts/reshuffle_at/");
/// The command log.
pub const COMMANDS: StorageMap<(ContractId, u64), CommandRecord> =
    StorageMap::new(b"contracts/command/");
/// Every checkpoint recorded, by `(contract, seq)` (the node's blob store accepts a blob only
/// if its hash is recorded here).
pub const CHECKPOINTS: StorageMap<(ContractId, u64), CheckpointRecord> =
    StorageMap::new(b"contracts/checkpoint/");
/// Decided result of each executed command: (state hash, vote key).
pub const RESULTS: StorageMap<(ContractId, u64), (H256, H256)> =
    StorageMap::new(b"contracts/result/");
/// Reports for a command not decided yet: (worker, vote key), at most one per worker.
pub const VOTES: StorageMap<(ContractId, u64), Vec<(Public, H256)>> =
    StorageMap::new(b"contracts/votes/");
/// The reported result behind each vote key of an undecided command.
pub const PROPOSALS: StorageMap<(ContractId, u64, H256), CommandResult> =
    StorageMap::new(b"contracts/proposal/");

// ---- calls ----

/// Calls of the contracts module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Deploys a built-in contract. Origin: signed (the deployer). Its id is
    /// `umbra_contracts::contract_id(deployer, kind, salt)`.
    #[codec(index = 0)]
    Deploy {
        /// Kind.
        kind: ContractKind,
        /// Salt making the id unique.
        salt: Vec<u8>,
        /// Matching worker reports needed to apply a result, `1..=K`; `None` is a majority of
        /// K.
        quorum: Option<u32>,
    },
    /// Appends a sealed command. Origin: signed (the command's origin).
    #[codec(index = 1)]
    PushCommand {
        /// Contract.
        contract: ContractId,
        /// The command sealed to the contract key.
        command: SealedBox,
        /// UMB moved from the sender into the contract's account with the command and
        /// credited to the sender inside the contract (an EVM cluster credits the sender's
        /// mapped EVM address before executing). 0 for commands carrying none; kinds that
        /// cannot receive value (the guestbook) refuse any other amount.
        value: Balance,
        /// Gas the command may use, `21000..=max_gas_per_command`. `gas_limit × gas_price` is
        /// prepaid from the sender at push (into [`gas_escrow_account`]); when the result lands
        /// `gas_used × price` goes to the treasury and the rest back to the sender. It is part
        /// of the command's context under the log hash.
        gas_limit: u64,
    },
    /// Replaces the parameters. Origin: the council key.
    #[codec(index = 2)]
    SetParams {
        /// New parameters.
        params: ContractsParams,
    },
    /// Resumes a paused contract: drops the undecided reports and reassigns it, so its workers
    /// rebuild from the chain's record and report again. Origin: the council key.
    #[codec(index = 3)]
    Resume {
        /// Contract.
        contract: ContractId,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2, 3];

// ---- events ----

/// Events of the contracts module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A contract was deployed.
    Deployed {
        /// Id.
        id: H256,
        /// Kind.
        kind: ContractKind,
        /// Deployer.
        #[serde(with = "account_ss58")]
        deployer: AccountId,
        /// Master key rotation of its key.
        rotation: u32,
    },
    /// A contract's public key was published.
    KeyPublished {
        /// Contract.
        id: H256,
        /// Its key.
        #[serde(with = "bytes_hex")]
        pubkey: [u8; 32],
    },
    /// A contract was (re)assigned.
    Assigned {
        /// Contract.
        id: H256,
        /// Epoch.
        epoch: u64,
        /// Workers.
        workers: Vec<String>,
    },
    /// A sealed command was appended to a contract's log.
    CommandPushed {
        /// Contract.
        id: H256,
        /// Its sequence number.
        seq: u64,
        /// Who sent it.
        #[serde(with = "account_ss58")]
        origin: AccountId,
        /// The sealed command (opaque to the chain).
        #[serde(skip)]
        sealed: SealedBox,
        /// Value moved into the contract's account with it.
        #[serde(with = "balance_str")]
        value: Balance,
        /// Its gas limit.
        gas_limit: u64,
        /// What the sender prepaid for it (`gas_limit × gas_price`), held until it settles.
        #[serde(with = "balance_str")]
        prepaid: Balance,
        /// Log hash after it.
        log_hash: H256,
    },
    /// A command's gas was settled when its result was accepted: `fee = gas_used × price` went
    /// to the treasury, `refund = (gas_limit − gas_used) × price` back to the sender.
    GasSettled {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// The sender who prepaid.
        #[serde(with = "account_ss58")]
        origin: AccountId,
        /// Gas used (the quorum's figure, at most the limit).
        gas_used: u64,
        /// Paid to the treasury.
        #[serde(with = "balance_str")]
        fee: Balance,
        /// Returned to the sender.
        #[serde(with = "balance_str")]
        refund: Balance,
    },
    /// A command ran (a quorum of workers agreed on its result).
    CommandExecuted {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// State hash after it.
        state_hash: H256,
    },
    /// A command failed (tampered, undecodable or refused by the contract); state unchanged.
    CommandFailed {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// Why.
        reason: String,
        /// State hash after it (the one before).
        state_hash: H256,
    },
    /// A public event of a contract.
    ContractEvent {
        /// Contract.
        id: H256,
        /// Sequence number of the command that emitted it.
        seq: u64,
        /// Payload.
        #[serde(with = "bytes_hex")]
        data: Vec<u8>,
    },
    /// A private event of a contract, for one recipient.
    PrivateContractEvent {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// Recipient.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// Encrypted payload.
        #[serde(skip)]
        event: EncryptedEvent,
    },
    /// A contract paid from its on-chain account.
    ContractTransfer {
        /// Contract.
        id: H256,
        /// Recipient.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// Amount.
        #[serde(with = "balance_str")]
        amount: Balance,
        /// Whether it went through.
        ok: bool,
    },
    /// A worker reported a result that differs from another report (or from the decided one).
    StateDiverged {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// The worker whose report differs.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// No quorum is possible for a command any more: the contract is paused.
    Paused {
        /// Contract.
        id: H256,
        /// The undecided command.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The council resumed a paused contract.
    Resumed {
        /// Contract.
        id: H256,
    },
    /// A checkpoint was recorded (the encrypted blob is kept off chain).
    Checkpointed {
        /// Contract.
        id: H256,
        /// Sequence number it covers (commands `0..=seq`).
        seq: u64,
        /// State hash.
        state_hash: H256,
        /// Log hash at `seq`.
        log_hash: H256,
        /// blake2 of the encrypted blob.
        blob_hash: H256,
    },
    /// The parameters changed.
    ParamsChanged {
        /// New parameters.
        params: ContractsParams,
    },
}

// ---- errors ----

/// Errors of the contracts module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// No master key exists yet (no gatekeeper launched).
    #[error("no master key yet")]
    NoMasterKey,
    /// A contract with this id exists.
    #[error("contract already exists")]
    AlreadyExists,
    /// The salt is too long.
    #[error("salt too long")]
    SaltTooLong,
    /// No such contract.
    #[error("no such contract")]
    UnknownContract,
    /// The contract's key is not published yet.
    #[error("contract key not published yet")]
    KeyNotReady,
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
    /// The assignment size must be within 1..=64.
    #[error("assignment size must be within 1..=64")]
    InvalidAssignmentSize,
    /// The reshuffle period must be within 2..=432000 blocks.
    #[error("reshuffle period must be within 2..=432000 blocks")]
    InvalidReshufflePeriod,
    /// The checkpoint interval must be within 1..=1000000 commands.
    #[error("checkpoint interval must be within 1..=1000000 commands")]
    InvalidCheckpointInterval,
    /// The checkpoint size bound must be within 1 KiB..=4 MiB.
    #[error("checkpoint size bound must be within 1 KiB..=4 MiB")]
    InvalidCheckpointSize,
    /// The quorum must be within 1..=K.
    #[error("quorum must be within 1..=K (the assignment size)")]
    InvalidQuorum,
    /// The contract is paused after its workers diverged.
    #[error("contract paused after its workers diverged")]
    Paused,
    /// The contract is not paused.
    #[error("contract is not paused")]
    NotPaused,
    /// A counter would overflow.
    #[error("counter overflow")]
    Overflow,
    /// The contract's kind cannot receive value with a command.
    #[error("this contract kind does not accept value with a command (send value 0)")]
    ValueNotAccepted,
    /// The gas price must be within 1..=10^12 (1 UMB) smallest units per gas.
    #[error("gas price must be within 1..=1000000000000 smallest units per gas")]
    InvalidGasPrice,
    /// The per-command gas cap must be within 21000..=100000000.
    #[error("max gas per command must be within 21000..=100000000")]
    InvalidMaxGas,
    /// The command's gas limit is below the intrinsic minimum (21000).
    #[error("gas limit below the minimum of 21000")]
    GasLimitTooLow,
    /// The command's gas limit is above the governance cap `max_gas_per_command`.
    #[error("gas limit above the per-command cap (the contracts parameter maxGasPerCommand)")]
    GasLimitTooHigh,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The account holding prepaid gas until results settle it: `blake2_256("umbra/contracts/gas")`.
/// No one holds its key; its balance is exactly the sum of `gas_limit × gas_price` over the
/// commands without a result yet.
pub fn gas_escrow_account() -> AccountId {
    umbra_primitives::Public(blake2_256(b"umbra/contracts/gas"))
}

/// Parameters.
pub fn params(st: &Overlay<'_>) -> ContractsParams {
    PARAMS.get(st).unwrap_or_else(ContractsParams::dev)
}

/// A contract.
pub fn contract(st: &Overlay<'_>, id: &ContractId) -> Option<ContractInfo> {
    CONTRACTS.get(st, id)
}

/// Number of contracts deployed.
pub fn contract_count(st: &Overlay<'_>) -> u64 {
    CONTRACT_COUNT.get_or_default(st)
}

/// The log hash after appending a command: `blake2("umbra/contract-log/v4" ‖ prev ‖ context ‖
/// sealed)`, where the context is everything the contract sees besides the command (contract,
/// origin, block, sequence number, value, gas limit) — a host replaying the log cannot change
/// any of it.
pub fn next_log_hash(prev: &H256, ctx: &CommandContext, sealed: &SealedBox) -> H256 {
    H256(blake2_256(&(b"umbra/contract-log/v4", prev, ctx, sealed).encode()))
}

fn first_u64(seed: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&seed[..8]);
    u64::from_le_bytes(b)
}

/// Picks `k` distinct computing workers from chain randomness.
fn pick_workers(st: &Overlay<'_>, id: &ContractId, epoch: u64, k: u32) -> Vec<Public> {
    let count = computation::computing_count(st);
    let randomness = system::RANDOMNESS.get_or_default(st);
    let mut picked = Vec::new();
    let want = u64::from(k).min(count);
    // Contract keys never go to a platform whose secrets the host can read, unless the chain
    // explicitly accepts such platforms (dev chains).
    let insecure_ok = registry::accepts_insecure(st);
    let limit = want.saturating_mul(64).saturating_add(64);
    for probe in 0..limit {
        if picked.len() as u64 >= want {
            break;
        }
        let seed = blake2_256(&(b"umbra/assign", randomness, id, epoch, probe).encode());
        let Some(idx) = first_u64(&seed).checked_rem(count) else { break };
        if let Some(w) = computation::computing_at(st, idx) {
            if !picked.contains(&w) && (insecure_ok || !registry::is_insecure_worker(st, &w)) {
                picked.push(w);
            }
        }
    }
    picked
}

fn assign(ext: &mut Ext<'_>, info: &mut ContractInfo) {
    let k = params(&ext.state).assignment_size;
    info.epoch = info.epoch.saturating_add(1);
    info.assigned = pick_workers(&ext.state, &info.id, info.epoch, k);
    ext.deposit_event(Event::Assigned {
        id: info.id,
        epoch: info.epoch,
        workers: info.assigned.iter().map(|w| w.to_ss58()).collect(),
    });
    let with_keys: Vec<(Public, [u8; 32])> = info
        .assigned
        .iter()
        .filter_map(|w| crate::modules::registry::worker(&ext.state, w).map(|r| (*w, r.ecdh)))
        .collect();
    let assignment = Assignment { contract: info.id, epoch: info.epoch, workers: with_keys };
    mq::send(ext, MODULE, ToEnclave::Contracts(ToWorker::Assigned(assignment)));
}

/// The first reshuffle of a contract deployed at `now`: `now + 1 + (id mod period)`, so the
/// contracts' reshuffles spread over the period instead of all landing on one block.
fn first_reshuffle(now: BlockNumber, id: &ContractId, period: u64) -> BlockNumber {
    let offset = first_u64(&id.0).checked_rem(period).unwrap_or(0);
    now.saturating_add(1).saturating_add(offset)
}

fn schedule_reshuffle(st: &mut Overlay<'_>, at: BlockNumber, id: &ContractId) {
    let n = RESHUFFLE_N.get_or_default(st, &at);
    RESHUFFLE_AT.insert(st, &(at, n), id);
    RESHUFFLE_N.insert(st, &at, &n.saturating_add(1));
}

/// Takes the contracts due for a reshuffle at `at`.
fn take_due(st: &mut Overlay<'_>, at: BlockNumber) -> Vec<ContractId> {
    let n = RESHUFFLE_N.get_or_default(st, &at);
    let due = (0..n).filter_map(|i| RESHUFFLE_AT.get(st, &(at, i))).collect();
    for i in 0..n {
        RESHUFFLE_AT.remove(st, &(at, i));
    }
    if n > 0 {
        RESHUFFLE_N.remove(st, &at);
    }
    due
}

/// Block hook: reshuffles the contracts due at this block (each contract every
/// `reshuffle_period` blocks, at its own offset) and schedules their next reshuffle.
pub fn on_initialize(ext: &mut Ext<'_>) {
    let n = system::NUMBER.get_or_default(&ext.state);
    let due = take_due(&mut ext.state, n);
    if due.is_empty() {
        return;
    }
    let period = params(&ext.state).reshuffle_period;
    for id in due {
        if let Some(mut info) = contract(&ext.state, &id) {
            assign(ext, &mut info);
            info.next_reshuffle = n.saturating_add(period);
            schedule_reshuffle(&mut ext.state, info.next_reshuffle, &id);
            CONTRACTS.insert(&mut ext.state, &id, &info);
        }
    }
}

fn apply_outputs(ext: &mut Ext<'_>, id: &ContractId, seq: u64, outputs: Vec<SealedOutput>) {
    let account = umbra_contracts::contract_account(id);
    for o in outputs {
        match o {
            SealedOutput::PublicEvent(data) => {
                ext.deposit_event(Event::ContractEvent { id: *id, seq, data })
            }
            SealedOutput::PrivateEvent { to, event } => {
                ext.deposit_event(Event::PrivateContractEvent { id: *id, seq, to, event })
            }
            SealedOutput::Transfer { to, amount } => {
                let ok =
                    ext.transactional(|ext| balances::transfer(ext, &account, &to, amount)).is_ok();
                ext.deposit_event(Event::ContractTransfer { id: *id, to, amount, ok });
            }
        }
    }
}

/// Settles a decided command's prepaid gas: `min(gas_used, limit) × price` from the escrow to
/// the treasury, the rest of the prepayment back to the sender. The escrow holds exactly the
/// prepayment (taken at push), so neither move can fail; were it ever short, what it holds is
/// paid and nothing panics.
fn settle_gas(ext: &mut Ext<'_>, id: &ContractId, seq: u64, cmd: &CommandRecord, gas_used: u64) {
    let used = gas_used.min(cmd.gas_limit);
    let fee = Balance::from(used).saturating_mul(cmd.gas_price);
    let prepaid = Balance::from(cmd.gas_limit).saturating_mul(cmd.gas_price);
    let refund = prepaid.saturating_sub(fee);
    let escrow = gas_escrow_account();
    let paid = balances::move_free(ext, &escrow, &balances::treasury_account(), fee).is_ok();
    let refunded = balances::move_free(ext, &escrow, &cmd.origin, refund).is_ok();
    let (fee, refund) = (if paid { fee } else { 0 }, if refunded { refund } else { 0 });
    ext.deposit_event(Event::GasSettled {
        id: *id,
        seq,
        origin: cmd.origin,
        gas_used: used,
        fee,
        refund,
    });
}

/// Applies a decided result: records it, its checkpoint, its outputs, and settles its gas.
fn apply_result(ext: &mut Ext<'_>, info: &mut ContractInfo, r: CommandResult, key: H256) {
    let (id, seq) = (r.contract, r.seq);
    RESULTS.insert(&mut ext.state, &(id, seq), &(r.state_hash, key));
    let record = COMMANDS.get(&ext.state, &(id, seq));
    if let Some(cmd) = &record {
        settle_gas(ext, &id, seq, cmd, r.gas_used);
    }
    info.executed = seq.saturating_add(1);
    info.state_hash = r.state_hash;
    match r.outcome {
        Ok(outputs) => {
            ext.deposit_event(Event::CommandExecuted { id, seq, state_hash: r.state_hash });
            apply_outputs(ext, &id, seq, outputs);
        }
        Err(reason) => {
            ext.deposit_event(Event::CommandFailed { id, seq, reason, state_hash: r.state_hash })
        }
    }
    if let Some(blob_hash) = r.checkpoint {
        if let Some(cmd) = record {
            let record = CheckpointRecord {
                seq,
                state_hash: r.state_hash,
                log_hash: cmd.log_hash,
                blob_hash,
            };
            CHECKPOINTS.insert(&mut ext.state, &(id, seq), &record);
            info.checkpoint = Some(record);
            ext.deposit_event(Event::Checkpointed {
                id,
                seq,
                state_hash: r.state_hash,
                log_hash: cmd.log_hash,
                blob_hash,
            });
        }
    }
}

fn clear_votes(st: &mut Overlay<'_>, id: &ContractId, seq: u64) {
    let votes = VOTES.get_or_default(st, &(*id, seq));
    let mut keys: Vec<H256> = votes.iter().map(|v| v.1).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        PROPOSALS.remove(st, &(*id, seq, k));
    }
    VOTES.remove(st, &(*id, seq));
}

/// The vote key with the most reports for a command, and how many.
fn leading(votes: &[(Public, H256)]) -> Option<(H256, u32)> {
    let mut best: Option<(H256, u32)> = None;
    for (_, k) in votes {
        let n = votes.iter().filter(|v| v.1 == *k).count();
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if best.is_none_or(|b| n > b.1) {
            best = Some((*k, n));
        }
    }
    best
}

/// Applies every undecided command, in order, whose reports reached the quorum.
fn decide(ext: &mut Ext<'_>, info: &mut ContractInfo) {
    while info.executed < info.commands {
        let seq = info.executed;
        let votes = VOTES.get_or_default(&ext.state, &(info.id, seq));
        let Some((key, n)) = leading(&votes) else { break };
        if n < info.quorum {
            break;
        }
        let Some(result) = PROPOSALS.get(&ext.state, &(info.id, seq, key)) else { break };
        for (w, k) in &votes {
            if *k != key {
                ext.deposit_event(Event::StateDiverged { id: info.id, seq, worker: *w });
            }
        }
        clear_votes(&mut ext.state, &info.id, seq);
        apply_result(ext, info, result, key);
    }
}

/// Records one worker's report for a command and applies whatever reached the quorum; pauses
/// the contract when no quorum is possible for the reported command.
fn on_result(ext: &mut Ext<'_>, sender: &Public, r: CommandResult) -> Result<(), String> {
    let mut info = contract(&ext.state, &r.contract).ok_or("unknown contract")?;
    if !info.assigned.contains(sender) {
        return Err("sender is not assigned to the contract".into());
    }
    if info.paused.is_some() {
        return Err("the contract is paused".into());
    }
    if r.seq >= info.commands {
        return Err("no such command".into());
    }
    let key = r.vote_key();
    let (id, seq) = (r.contract, r.seq);
    if seq < info.executed {
        // Already decided: a different report marks its worker as faulty.
        if RESULTS.get(&ext.state, &(id, seq)).is_some_and(|(_, k)| k != key) {
            ext.deposit_event(Event::StateDiverged { id, seq, worker: *sender });
        }
        return Ok(());
    }
    let mut votes = VOTES.get_or_default(&ext.state, &(id, seq));
    if votes.iter().any(|v| v.0 == *sender) {
        return Err(format!("already reported #{seq}"));
    }
    if votes.iter().any(|v| v.1 != key) {
        ext.deposit_event(Event::StateDiverged { id, seq, worker: *sender });
    }
    if !votes.iter().any(|v| v.1 == key) {
        PROPOSALS.insert(&mut ext.state, &(id, seq, key), &r);
    }
    votes.push((*sender, key));
    VOTES.insert(&mut ext.state, &(id, seq), &votes);
    decide(ext, &mut info);
    if info.executed <= seq {
        // Still undecided: is a quorum still possible with the assigned workers yet to report?
        let votes = VOTES.get_or_default(&ext.state, &(id, seq));
        let best = leading(&votes).map_or(0, |b| b.1);
        let pending = info.assigned.iter().filter(|w| !votes.iter().any(|v| v.0 == **w)).count();
        let possible = best.saturating_add(u32::try_from(pending).unwrap_or(u32::MAX));
        if possible < info.quorum {
            let reason = format!(
                "workers diverged on #{seq}: at most {possible} of the {} needed reports can agree",
                info.quorum
            );
            ext.deposit_event(Event::Paused { id, seq, reason: reason.clone() });
            info.paused = Some(Pause { seq, reason });
        }
    }
    CONTRACTS.insert(&mut ext.state, &id, &info);
    Ok(())
}

/// Decodes a contracts message from its wire form and handles it (for tests and tools; `mq`
/// routes decoded messages to [`handle`]).
pub fn on_message(
    ext: &mut Ext<'_>,
    sender: &Public,
    topic: &[u8],
    payload: &[u8],
) -> Result<(), String> {
    match umbra_protocol::FromEnclave::from_wire(topic, payload).map_err(|e| e.to_string())? {
        umbra_protocol::FromEnclave::Contracts(m) => handle(ext, sender, m),
        _ => Err("unknown contracts topic".into()),
    }
}

/// Handles a contracts message from an enclave (routed by `mq`).
pub fn handle(ext: &mut Ext<'_>, sender: &Public, message: FromWorker) -> Result<(), String> {
    match message {
        FromWorker::ContractPubkey(ContractPubkey { contract: id, rotation, pubkey }) => {
            if gatekeeper::leader(&ext.state) != Some(*sender) {
                return Err("only the gatekeeper leader publishes contract keys".into());
            }
            let mut info = contract(&ext.state, &id).ok_or("unknown contract")?;
            if info.pubkey.is_some() || info.rotation != rotation {
                return Err("contract key already published or wrong rotation".into());
            }
            info.pubkey = Some(pubkey);
            CONTRACTS.insert(&mut ext.state, &id, &info);
            ext.deposit_event(Event::KeyPublished { id, pubkey });
            Ok(())
        }
        FromWorker::ContractKey(share) => {
            if gatekeeper::leader(&ext.state) != Some(*sender) {
                return Err("only the gatekeeper leader hands out contract keys".into());
            }
            let info = contract(&ext.state, &share.contract).ok_or("unknown contract")?;
            // A share made for an earlier epoch is still good if the worker is assigned now.
            if share.epoch > info.epoch || !info.assigned.contains(&share.worker) {
                return Err("the worker is not assigned to the contract".into());
            }
            mq::send(ext, MODULE, ToEnclave::Contracts(ToWorker::ContractKey(share)));
            Ok(())
        }
        FromWorker::CommandResult(r) => on_result(ext, sender, r),
    }
}

/// Dispatches a contracts call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, who: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::Deploy { kind, salt, quorum } => {
            if salt.len() > MAX_SALT {
                return Err(Error::SaltTooLong.into());
            }
            let p = params(&ext.state);
            let quorum = quorum.unwrap_or_else(|| p.default_quorum());
            if !(1..=p.assignment_size).contains(&quorum) {
                return Err(Error::InvalidQuorum.into());
            }
            let rotation = gatekeeper::current_rotation(&ext.state).ok_or(Error::NoMasterKey)?;
            let id = umbra_contracts::contract_id(&who, kind, &salt);
            if contract(&ext.state, &id).is_some() {
                return Err(Error::AlreadyExists.into());
            }
            let count = contract_count(&ext.state);
            let next_count = count.checked_add(1).ok_or(Error::Overflow)?;
            let now = system::NUMBER.get_or_default(&ext.state);
            let mut info = ContractInfo {
                id,
                kind,
                deployer: who,
                rotation,
                pubkey: None,
                deployed_at: now,
                quorum,
                commands: 0,
                log_hash: H256::ZERO,
                epoch: 0,
                next_reshuffle: first_reshuffle(now, &id, p.reshuffle_period),
                assigned: Vec::new(),
                executed: 0,
                state_hash: H256::ZERO,
                checkpoint: None,
                paused: None,
            };
            ext.deposit_event(Event::Deployed { id, kind, deployer: who, rotation });
            let derive = DeriveContractKey { contract: id, rotation };
            mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::DeriveContractKey(derive)));
            assign(ext, &mut info);
            schedule_reshuffle(&mut ext.state, info.next_reshuffle, &id);
            CONTRACTS.insert(&mut ext.state, &id, &info);
            CONTRACT_AT.insert(&mut ext.state, &count, &id);
            CONTRACT_COUNT.put(&mut ext.state, &next_count);
        }
        Call::PushCommand { contract: id, command, value, gas_limit } => {
            let mut info = contract(&ext.state, &id).ok_or(Error::UnknownContract)?;
            if info.pubkey.is_none() {
                return Err(Error::KeyNotReady.into());
            }
            if info.paused.is_some() {
                return Err(Error::Paused.into());
            }
            let p = params(&ext.state);
            if gas_limit < umbra_contracts::gas::MIN_GAS_LIMIT {
                return Err(Error::GasLimitTooLow.into());
            }
            if gas_limit > p.max_gas_per_command {
                return Err(Error::GasLimitTooHigh.into());
            }
            let prepaid =
                Balance::from(gas_limit).checked_mul(p.gas_price).ok_or(Error::Overflow)?;
            let seq = info.commands;
            let next = seq.checked_add(1).ok_or(Error::Overflow)?;
            let block = system::NUMBER.get_or_default(&ext.state);
            if value > 0 && !info.kind.receives_value() {
                return Err(Error::ValueNotAccepted.into());
            }
            // The last fallible steps, in one transaction: a sender who cannot pay the value
            // and the prepaid gas is refused and nothing changes.
            ext.transactional(|ext| {
                if value > 0 {
                    let account = umbra_contracts::contract_account(&id);
                    balances::transfer(ext, &who, &account, value)?;
                }
                balances::move_free(ext, &who, &gas_escrow_account(), prepaid)
            })?;
            let ctx = CommandContext { contract: id, origin: who, block, seq, value, gas_limit };
            let log_hash = next_log_hash(&info.log_hash, &ctx, &command);
            let gas_price = p.gas_price;
            let record = CommandRecord {
                origin: who,
                block,
                sealed: command.clone(),
                value,
                gas_limit,
                gas_price,
                log_hash,
            };
            COMMANDS.insert(&mut ext.state, &(id, seq), &record);
            info.commands = next;
            info.log_hash = log_hash;
            CONTRACTS.insert(&mut ext.state, &id, &info);
            ext.deposit_event(Event::CommandPushed {
                id,
                seq,
                origin: who,
                sealed: command,
                value,
                gas_limit,
                prepaid,
                log_hash,
            });
        }
        Call::SetParams { params } => {
            if !governance::is_council(&ext.state, &who) {
                return Err(Error::RequireCouncil.into());
            }
            params.validate()?;
            PARAMS.put(&mut ext.state, &params);
            ext.deposit_event(Event::ParamsChanged { params });
        }
        Call::Resume { contract: id } => {
            if !governance::is_council(&ext.state, &who) {
                return Err(Error::RequireCouncil.into());
            }
            let mut info = contract(&ext.state, &id).ok_or(Error::UnknownContract)?;
            if info.paused.is_none() {
                return Err(Error::NotPaused.into());
            }
            for seq in info.executed..info.commands {
                clear_votes(&mut ext.state, &id, seq);
            }
            info.paused = None;
            ext.deposit_event(Event::Resumed { id });
            assign(ext, &mut info);
            CONTRACTS.insert(&mut ext.state, &id, &info);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
