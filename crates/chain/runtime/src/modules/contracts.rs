//! `contracts`: confidential contracts on chain — deployment, the encrypted command log, random
//! assignment to workers with reshuffles, results, events, transfers and state checkpoints.
//!
//! The chain never sees plaintext: commands are sealed to the contract's key (which only
//! gatekeepers and the assigned workers hold), private events are encrypted to their recipients,
//! checkpoints are encrypted with a key derived from the contract key. It only orders, assigns and
//! settles:
//! - `deploy` records the contract, asks the gatekeeper leader for its key, and assigns it to K
//!   workers picked from chain randomness among online computing workers (the operator cannot
//!   choose); every `reshuffle_period` blocks every contract is reassigned.
//! - `push_command` appends a sealed command to the log (with a running log hash, so a worker
//!   replaying the log can check the host handed it the real one).
//! - Assigned workers report each command's result (state hash, outputs); the first report for a
//!   sequence number wins, a later one with a different state hash is flagged as divergence.
//!   Outputs become events and transfers from the contract's on-chain account.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_contracts::{ContractId, ContractKind, EncryptedEvent};
use umbra_crypto::{blake2_256, Public, SealedBox};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, MessageOrigin},
    serde_helpers::{account_ss58, balance_str, bytes_hex},
    AccountId, Balance, BlockNumber, H256,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{balances, computation, gatekeeper, governance, mq, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "contracts";
/// Largest salt accepted at deployment.
pub const MAX_SALT: usize = 64;

/// Assignment parameters. Part of genesis; governance may change them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContractsParams {
    /// Workers each contract is assigned to.
    pub assignment_size: u32,
    /// Blocks between reshuffles.
    pub reshuffle_period: u64,
    /// Commands between state checkpoints.
    pub checkpoint_interval: u64,
    /// Largest encrypted checkpoint kept on chain, in bytes.
    pub max_checkpoint_bytes: u32,
}

impl ContractsParams {
    /// Development values: 2 workers per contract, reshuffle every 50 blocks, checkpoint every 100
    /// commands, checkpoints up to 48 KiB.
    pub fn dev() -> Self {
        ContractsParams {
            assignment_size: 2,
            reshuffle_period: 50,
            checkpoint_interval: 100,
            max_checkpoint_bytes: 48 * 1024,
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = (1..=64).contains(&self.assignment_size)
            && self.reshuffle_period >= 2
            && self.checkpoint_interval >= 1
            && self.max_checkpoint_bytes <= 60 * 1024;
        ok.then_some(()).ok_or(Error::InvalidParameters)
    }
}

/// A contract on chain.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
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
    /// Commands pushed so far (the next sequence number).
    pub commands: u64,
    /// Running hash of the command log.
    pub log_hash: H256,
    /// Assignment epoch.
    pub epoch: u64,
    /// Workers assigned in this epoch.
    #[serde(serialize_with = "ss58_list")]
    pub assigned: Vec<Public>,
    /// Results recorded so far (commands `0..executed` have a result).
    pub executed: u64,
    /// State hash after the last recorded result.
    pub state_hash: H256,
    /// Latest checkpoint: (sequence it covers, state hash, log hash at it).
    pub checkpoint: Option<(u64, H256, H256)>,
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
    /// Log hash after it.
    pub log_hash: H256,
}

// The boundary messages (defined with every other one in `umbra-protocol`).
pub use umbra_protocol::{Assignment, ChainOutput, CommandResult, ContractKeyShare};
use umbra_protocol::{
    Checkpoint, ContractPubkey, DeriveContractKey, FromWorker, ToEnclave, ToGatekeeper, ToWorker,
};

fn ss58_list<S: serde::Serializer>(v: &[Public], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_ss58()))
}

// ---- storage ----

/// Parameters.
pub const PARAMS: StorageValue<ContractsParams> = StorageValue::new(b"contracts/params");
/// Contracts by id.
pub const CONTRACTS: StorageMap<ContractId, ContractInfo> = StorageMap::new(b"contracts/contract/");
/// All contract ids, in deployment order (reshuffles walk it).
pub const CONTRACT_LIST: StorageValue<Vec<ContractId>> = StorageValue::new(b"contracts/list");
/// The command log.
pub const COMMANDS: StorageMap<(ContractId, u64), CommandRecord> =
    StorageMap::new(b"contracts/command/");
/// Latest encrypted checkpoint of each contract.
pub const CHECKPOINTS: StorageMap<ContractId, Vec<u8>> = StorageMap::new(b"contracts/checkpoint/");
/// State hash recorded for each executed command.
pub const RESULTS: StorageMap<(ContractId, u64), H256> = StorageMap::new(b"contracts/result/");

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
    },
    /// Appends a sealed command. Origin: signed (the command's origin).
    #[codec(index = 1)]
    PushCommand {
        /// Contract.
        contract: ContractId,
        /// The command sealed to the contract key.
        command: SealedBox,
    },
    /// Replaces the parameters. Origin: the council key.
    #[codec(index = 2)]
    SetParams {
        /// New parameters.
        params: ContractsParams,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2];

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
        /// Log hash after it.
        log_hash: H256,
    },
    /// A command ran.
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
    /// Two workers reported different states for the same command.
    StateDiverged {
        /// Contract.
        id: H256,
        /// Sequence number.
        seq: u64,
        /// The worker whose report differs.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// An encrypted checkpoint was stored.
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
    /// The parameters are out of range.
    #[error("parameters out of range")]
    InvalidParameters,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// Parameters.
pub fn params(st: &Overlay<'_>) -> ContractsParams {
    PARAMS.get(st).unwrap_or_else(ContractsParams::dev)
}

/// A contract.
pub fn contract(st: &Overlay<'_>, id: &ContractId) -> Option<ContractInfo> {
    CONTRACTS.get(st, id)
}

/// The log hash after appending a command.
pub fn next_log_hash(prev: &H256, seq: u64, origin: &AccountId, sealed: &SealedBox) -> H256 {
    H256(blake2_256(&(b"umbra/contract-log/v1", prev, seq, origin, sealed).encode()))
}

/// Picks `k` distinct computing workers from chain randomness.
fn pick_workers(st: &Overlay<'_>, id: &ContractId, epoch: u64, k: u32) -> Vec<Public> {
    let count = computation::computing_count(st);
    let randomness = system::RANDOMNESS.get_or_default(st);
    let mut picked = Vec::new();
    let want = (k as u64).min(count);
    let mut probe = 0u64;
    while (picked.len() as u64) < want {
        let seed = blake2_256(&(b"umbra/assign", randomness, id, epoch, probe).encode());
        probe += 1;
        let idx = u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")) % count;
        if let Some(w) = computation::computing_at(st, idx) {
            if !picked.contains(&w) {
                picked.push(w);
            }
        }
        if probe > 64 * want + 64 {
            break;
        }
    }
    picked
}

fn assign(ext: &mut Ext<'_>, info: &mut ContractInfo) {
    let k = params(&ext.state).assignment_size;
    info.epoch += 1;
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

/// Block hook: reshuffles every contract at each period boundary.
pub fn on_initialize(ext: &mut Ext<'_>) {
    let n = system::NUMBER.get_or_default(&ext.state);
    let p = params(&ext.state);
    if n == 0 || !n.is_multiple_of(p.reshuffle_period) {
        return;
    }
    for id in CONTRACT_LIST.get_or_default(&ext.state) {
        if let Some(mut info) = contract(&ext.state, &id) {
            assign(ext, &mut info);
            CONTRACTS.insert(&mut ext.state, &id, &info);
        }
    }
}

fn apply_outputs(ext: &mut Ext<'_>, id: &ContractId, seq: u64, outputs: Vec<ChainOutput>) {
    let account = umbra_contracts::contract_account(id);
    for o in outputs {
        match o {
            ChainOutput::PublicEvent(data) => {
                ext.deposit_event(Event::ContractEvent { id: *id, seq, data })
            }
            ChainOutput::PrivateEvent { to, event } => {
                ext.deposit_event(Event::PrivateContractEvent { id: *id, seq, to, event })
            }
            ChainOutput::Transfer { to, amount } => {
                let ok =
                    ext.transactional(|ext| balances::transfer(ext, &account, &to, amount)).is_ok();
                ext.deposit_event(Event::ContractTransfer { id: *id, to, amount, ok });
            }
        }
    }
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
        FromWorker::CommandResult(r) => {
            let mut info = contract(&ext.state, &r.contract).ok_or("unknown contract")?;
            if !info.assigned.contains(sender) {
                return Err("sender is not assigned to the contract".into());
            }
            if r.seq >= info.commands {
                return Err("no such command".into());
            }
            if let Some(recorded) = RESULTS.get(&ext.state, &(r.contract, r.seq)) {
                if recorded != r.state_hash {
                    ext.deposit_event(Event::StateDiverged {
                        id: r.contract,
                        seq: r.seq,
                        worker: *sender,
                    });
                }
                return Ok(());
            }
            if r.seq != info.executed {
                return Err(format!("result for #{} before #{}", r.seq, info.executed));
            }
            RESULTS.insert(&mut ext.state, &(r.contract, r.seq), &r.state_hash);
            info.executed = r.seq + 1;
            info.state_hash = r.state_hash;
            CONTRACTS.insert(&mut ext.state, &r.contract, &info);
            match r.outcome {
                Ok(outputs) => {
                    ext.deposit_event(Event::CommandExecuted {
                        id: r.contract,
                        seq: r.seq,
                        state_hash: r.state_hash,
                    });
                    apply_outputs(ext, &r.contract, r.seq, outputs);
                }
                Err(reason) => {
                    ext.deposit_event(Event::CommandFailed { id: r.contract, seq: r.seq, reason })
                }
            }
            Ok(())
        }
        FromWorker::Checkpoint(Checkpoint { contract: id, seq, state_hash, blob }) => {
            let mut info = contract(&ext.state, &id).ok_or("unknown contract")?;
            if !info.assigned.contains(sender) {
                return Err("sender is not assigned to the contract".into());
            }
            if blob.len() > params(&ext.state).max_checkpoint_bytes as usize {
                return Err("checkpoint too large".into());
            }
            if RESULTS.get(&ext.state, &(id, seq)) != Some(state_hash) {
                return Err("checkpoint state hash does not match the recorded result".into());
            }
            if info.checkpoint.is_some_and(|(s, _, _)| s >= seq) {
                return Ok(());
            }
            let log_hash = COMMANDS.get(&ext.state, &(id, seq)).ok_or("no such command")?.log_hash;
            let blob_hash = H256::hash(&blob);
            info.checkpoint = Some((seq, state_hash, log_hash));
            CONTRACTS.insert(&mut ext.state, &id, &info);
            CHECKPOINTS.insert(&mut ext.state, &id, &blob);
            ext.deposit_event(Event::Checkpointed { id, seq, state_hash, log_hash, blob_hash });
            Ok(())
        }
    }
}

/// Dispatches a contracts call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, who: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::Deploy { kind, salt } => {
            if salt.len() > MAX_SALT {
                return Err(Error::SaltTooLong.into());
            }
            let rotation = gatekeeper::current_rotation(&ext.state).ok_or(Error::NoMasterKey)?;
            let id = umbra_contracts::contract_id(&who, kind, &salt);
            if contract(&ext.state, &id).is_some() {
                return Err(Error::AlreadyExists.into());
            }
            let mut info = ContractInfo {
                id,
                kind,
                deployer: who,
                rotation,
                pubkey: None,
                deployed_at: system::NUMBER.get_or_default(&ext.state),
                commands: 0,
                log_hash: H256::ZERO,
                epoch: 0,
                assigned: Vec::new(),
                executed: 0,
                state_hash: H256::ZERO,
                checkpoint: None,
            };
            ext.deposit_event(Event::Deployed { id, kind, deployer: who, rotation });
            let derive = DeriveContractKey { contract: id, rotation };
            mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::DeriveContractKey(derive)));
            assign(ext, &mut info);
            CONTRACTS.insert(&mut ext.state, &id, &info);
            let mut list = CONTRACT_LIST.get_or_default(&ext.state);
            list.push(id);
            CONTRACT_LIST.put(&mut ext.state, &list);
        }
        Call::PushCommand { contract: id, command } => {
            let mut info = contract(&ext.state, &id).ok_or(Error::UnknownContract)?;
            if info.pubkey.is_none() {
                return Err(Error::KeyNotReady.into());
            }
            let seq = info.commands;
            let log_hash = next_log_hash(&info.log_hash, seq, &who, &command);
            let block = system::NUMBER.get_or_default(&ext.state);
            COMMANDS.insert(
                &mut ext.state,
                &(id, seq),
                &CommandRecord { origin: who, block, sealed: command.clone(), log_hash },
            );
            info.commands += 1;
            info.log_hash = log_hash;
            CONTRACTS.insert(&mut ext.state, &id, &info);
            ext.deposit_event(Event::CommandPushed {
                id,
                seq,
                origin: who,
                sealed: command,
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
    }
    Ok(())
}

#[cfg(test)]
mod tests;
