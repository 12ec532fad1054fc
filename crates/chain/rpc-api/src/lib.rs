//! The node's JSON-RPC API in one place: the [`UmbraApi`] trait (`#[rpc(server, client)]`) names
//! every method, its typed parameters and its typed response. The node implements
//! [`UmbraApiServer`]; the SDK calls [`UmbraApiClient`], which jsonrpsee implements for its
//! clients. Substrate's names are used where they apply.
//!
//! | method | returns |
//! |---|---|
//! | `system_health`, `system_chain`, `system_properties`, `system_accountNextIndex(address)` | node and chain info |
//! | `chain_getHeader([hash])`, `chain_getBlock([hash])`, `chain_getBlockHash([number])`, `chain_getFinalizedHead` | blocks |
//! | `chain_subscribeNewHeads`, `chain_subscribeFinalizedHeads` | header notifications |
//! | `author_submitExtrinsic(hex)`, `author_submitAndWatchExtrinsic(hex)`, `author_pendingExtrinsics` | transactions |
//! | `umbra_account(address)`, `umbra_accounts([address])` (one consistent state), `umbra_events(hash)`, `umbra_parameters`, `umbra_chainSpec` | state queries |
//! | `umbra_authorities` | the authority set in the head's state (who may seal blocks) |
//! | `umbra_workers`, `umbra_worker(identity)` | the worker registry |
//! | `umbra_workerSession(identity)`, `umbra_computation` | computing state, emission, counts |
//! | `umbra_pools`, `umbra_pool(id)`, `umbra_poolStake(id, address)` | stake pools, one pool with its queue and loan, an account's shares and pending rewards |
//! | `umbra_vault`, `umbra_vaultPosition(address)`, `umbra_loan(pool)` | the lending vault (state, parameters, share price), a lender's position, a pool's loan |
//! | `umbra_contract(id)`, `umbra_contracts`, `umbra_contractCommands(id, from, to)`, `umbra_gatekeepers` | contracts and gatekeepers |
//! | `umbra_putCheckpoint(id, seq, hex)`, `umbra_getCheckpoint(id, seq)` | the off-chain store of encrypted contract checkpoints (a blob is accepted only if its hash is the one the chain recorded) |
//! | `umbra_blockWithEvents(number)` | SCALE block, events and commit certificate, for a worker's enclave to verify |
//! | `umbra_justification(number)`, `umbra_validators` | a block's BFT commit certificate (SCALE), the validator set in force |
//!
//! Every response is typed. Responses of the chain itself (headers, blocks, accounts, events'
//! phases, extrinsic status, raw blocks) are defined here. The views of individual runtime modules
//! are the module's own query types ([`WorkerInfo`], [`Session`], [`PoolInfo`], [`StakeInfo`],
//! [`VaultInfo`], [`Position`], [`LoanInfo`], [`ContractInfo`]), serialized by the node and
//! deserialized by the client from the same definition; views the node assembles from several
//! storage items ([`ComputationView`], [`GatekeepersView`]) are defined here. Only an event's body
//! (`umbra_events`) and the chain spec stay JSON values.
//!
//! Bytes are `0x`-hex, accounts SS58 addresses and balances decimal strings everywhere; field
//! names are camelCase.

use jsonrpsee::{core::RpcResult, core::SubscriptionResult, proc_macros::rpc};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use umbra_primitives::{
    finality::ValidatorSet,
    json::{from_hex, to_hex, BlockJson, HeaderJson},
    serde_helpers::balance_str,
    AccountId, Balance, BlockNumber, Nonce, H256,
};
use umbra_runtime::{api::AccountInfo, governance::Parameters, Phase};
pub use umbra_runtime::{
    computation::{ComputationParams, EmissionState, Session},
    contracts::ContractInfo,
    gatekeeper::MasterKeyInfo,
    registry::WorkerInfo,
    stake_pools::{PoolInfo, StakeInfo},
    vault::{LoanInfo, Position, VaultInfo},
};

/// An account as an SS58 address (accepted as SS58 or `0x`-hex).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Address(pub AccountId);

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_ss58())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<AccountId>()
            .map(Address)
            .map_err(|e| serde::de::Error::custom(format!("invalid address `{s}`: {e}")))
    }
}

impl From<AccountId> for Address {
    fn from(a: AccountId) -> Self {
        Address(a)
    }
}

/// Bytes as `0x`-hex.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(b: Vec<u8>) -> Self {
        Bytes(b)
    }
}

/// `system_health`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Connected peers (the dev node has none).
    pub peers: u32,
    /// Whether the node is syncing.
    pub is_syncing: bool,
    /// Whether the node expects peers.
    pub should_have_peers: bool,
}

/// `system_properties`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties {
    /// The token's symbol.
    pub token_symbol: String,
    /// Decimal places of one token.
    pub token_decimals: u32,
    /// SS58 address prefix.
    pub ss58_format: u16,
}

/// `chain_getBlock`: a block and its justifications (none under the dev engine).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedBlock {
    /// The block.
    pub block: BlockJson,
    /// Finality proofs (always `null` today).
    pub justifications: Option<Vec<Bytes>>,
}

/// `umbra_accounts`: several accounts read from one state.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountsAt {
    /// The block whose state was read.
    pub block: BlockNumber,
    /// The accounts, in the order asked.
    pub accounts: Vec<AccountInfo>,
}

/// One event of `umbra_events`: the phase and the event's JSON form
/// (`{"Module": {"Name": {fields}}}`, as the module defines it).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct EventJson {
    /// When in the block it was emitted.
    pub phase: Phase,
    /// The event.
    pub event: serde_json::Value,
}

/// `author_submitAndWatchExtrinsic` notifications.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtrinsicStatus {
    /// Pooled.
    Ready,
    /// Included in the block with this hash.
    InBlock(H256),
    /// That block is final.
    Finalized(H256),
    /// Dropped from the pool as invalid before inclusion.
    Invalid,
}

/// `umbra_blockWithEvents`: a block and its event records, SCALE-encoded, for an enclave's
/// light client to verify against the header.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RawBlockWithEvents {
    /// SCALE `Block`.
    pub block: Bytes,
    /// SCALE `Vec<EventRecord>`.
    pub events: Bytes,
    /// SCALE `finality::CommitCertificate` finalizing the block (BFT chains; absent on a
    /// single-authority chain, whose seal is final).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Bytes>,
}

/// `umbra_computation`: the computation module's parameters, emission and worker counts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputationView {
    /// Parameters in force.
    pub params: ComputationParams,
    /// Emission bookkeeping.
    pub emission: EmissionState,
    /// Sum of the shares of online computing workers.
    #[serde(with = "balance_str")]
    pub online_shares: u128,
    /// Free balance of the reward pot (emitted for workers, not yet paid).
    #[serde(with = "balance_str")]
    pub pot: Balance,
    /// Free balance of the treasury.
    #[serde(with = "balance_str")]
    pub treasury: Balance,
    /// Workers computing.
    pub computing: u64,
    /// Workers unresponsive.
    pub unresponsive: u64,
    /// Workers cooling down.
    pub cooling_down: u64,
}

/// One published master key of `umbra_gatekeepers`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MasterKeyEntry {
    /// Its rotation number.
    pub rotation: u32,
    /// The key, when and by whom it was published.
    pub key: MasterKeyInfo,
}

/// `umbra_gatekeepers`: the elected gatekeepers, the rotation each holds and the master keys.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatekeepersView {
    /// Elected gatekeepers, in election order (the first is the leader).
    pub gatekeepers: Vec<Address>,
    /// The newest rotation each gatekeeper holds (`null`: none yet), by SS58 address.
    pub holds: BTreeMap<Address, Option<u32>>,
    /// The newest published rotation (`null` before the first key).
    pub current_rotation: Option<u32>,
    /// Published master keys, oldest rotation first.
    pub master_keys: Vec<MasterKeyEntry>,
}

/// The node's JSON-RPC API.
#[rpc(server, client)]
pub trait UmbraApi {
    /// Node health.
    #[method(name = "system_health")]
    fn system_health(&self) -> RpcResult<Health>;

    /// The chain's name.
    #[method(name = "system_chain")]
    fn system_chain(&self) -> RpcResult<String>;

    /// Token and address format.
    #[method(name = "system_properties")]
    fn system_properties(&self) -> RpcResult<Properties>;

    /// The next nonce of `address`, counting its pooled transactions.
    #[method(name = "system_accountNextIndex")]
    fn system_account_next_index(&self, address: Address) -> RpcResult<Nonce>;

    /// The header with `hash`, or the best header.
    #[method(name = "chain_getHeader")]
    fn chain_get_header(&self, hash: Option<H256>) -> RpcResult<Option<HeaderJson>>;

    /// The block with `hash`, or the best block.
    #[method(name = "chain_getBlock")]
    fn chain_get_block(&self, hash: Option<H256>) -> RpcResult<Option<SignedBlock>>;

    /// The hash of block `number`, or of the best block.
    #[method(name = "chain_getBlockHash")]
    fn chain_get_block_hash(&self, number: Option<BlockNumber>) -> RpcResult<Option<H256>>;

    /// The hash of the last final block.
    #[method(name = "chain_getFinalizedHead")]
    fn chain_get_finalized_head(&self) -> RpcResult<H256>;

    /// New best headers.
    #[subscription(
        name = "chain_subscribeNewHeads" => "chain_newHead",
        unsubscribe = "chain_unsubscribeNewHeads",
        item = HeaderJson
    )]
    async fn subscribe_new_heads(&self) -> SubscriptionResult;

    /// New final headers.
    #[subscription(
        name = "chain_subscribeFinalizedHeads" => "chain_finalizedHead",
        unsubscribe = "chain_unsubscribeFinalizedHeads",
        item = HeaderJson
    )]
    async fn subscribe_finalized_heads(&self) -> SubscriptionResult;

    /// Pools an encoded extrinsic; returns its hash. Refusals carry codes 1001–1013.
    #[method(name = "author_submitExtrinsic")]
    fn author_submit_extrinsic(&self, extrinsic: String) -> RpcResult<H256>;

    /// The pooled extrinsics, hex.
    #[method(name = "author_pendingExtrinsics")]
    fn author_pending_extrinsics(&self) -> RpcResult<Vec<Bytes>>;

    /// Pools an encoded extrinsic and reports `ready`, then `inBlock` and `finalized` (or
    /// `invalid` if it is dropped).
    #[subscription(
        name = "author_submitAndWatchExtrinsic" => "author_extrinsicUpdate",
        unsubscribe = "author_unwatchExtrinsic",
        item = ExtrinsicStatus
    )]
    async fn author_submit_and_watch_extrinsic(&self, extrinsic: String) -> SubscriptionResult;

    /// Balances and nonce of `address`.
    #[method(name = "umbra_account")]
    fn umbra_account(&self, address: Address) -> RpcResult<AccountInfo>;

    /// Balances and nonces of several accounts, read from one state.
    #[method(name = "umbra_accounts")]
    fn umbra_accounts(&self, addresses: Vec<Address>) -> RpcResult<AccountsAt>;

    /// The events of the block with `hash`, or of the best block.
    #[method(name = "umbra_events")]
    fn umbra_events(&self, hash: Option<H256>) -> RpcResult<Option<Vec<EventJson>>>;

    /// The chain parameters governance controls.
    #[method(name = "umbra_parameters")]
    fn umbra_parameters(&self) -> RpcResult<Parameters>;

    /// The chain spec the node runs (the node's own JSON chain spec format).
    #[method(name = "umbra_chainSpec")]
    fn umbra_chain_spec(&self) -> RpcResult<serde_json::Value>;

    /// The authority set in the head's state: the accounts allowed to seal blocks.
    #[method(name = "umbra_authorities")]
    fn umbra_authorities(&self) -> RpcResult<Vec<Address>>;

    /// Every registered worker.
    #[method(name = "umbra_workers")]
    fn umbra_workers(&self) -> RpcResult<Vec<WorkerInfo>>;

    /// The worker registered under `identity`.
    #[method(name = "umbra_worker")]
    fn umbra_worker(&self, identity: Address) -> RpcResult<Option<WorkerInfo>>;

    /// A worker's computing session.
    #[method(name = "umbra_workerSession")]
    fn umbra_worker_session(&self, identity: Address) -> RpcResult<Option<Session>>;

    /// Computation parameters, emission and counts.
    #[method(name = "umbra_computation")]
    fn umbra_computation(&self) -> RpcResult<ComputationView>;

    /// Every stake pool.
    #[method(name = "umbra_pools")]
    fn umbra_pools(&self) -> RpcResult<Vec<PoolInfo>>;

    /// One stake pool with its queue and loan.
    #[method(name = "umbra_pool")]
    fn umbra_pool(&self, id: u64) -> RpcResult<Option<PoolInfo>>;

    /// An account's shares and pending rewards in a pool.
    #[method(name = "umbra_poolStake")]
    fn umbra_pool_stake(&self, id: u64, address: Address) -> RpcResult<Option<StakeInfo>>;

    /// The lending vault.
    #[method(name = "umbra_vault")]
    fn umbra_vault(&self) -> RpcResult<VaultInfo>;

    /// A lender's vault position.
    #[method(name = "umbra_vaultPosition")]
    fn umbra_vault_position(&self, address: Address) -> RpcResult<Position>;

    /// A pool's loan.
    #[method(name = "umbra_loan")]
    fn umbra_loan(&self, pool: u64) -> RpcResult<Option<LoanInfo>>;

    /// A contract's record.
    #[method(name = "umbra_contract")]
    fn umbra_contract(&self, id: H256) -> RpcResult<Option<ContractInfo>>;

    /// Every contract.
    #[method(name = "umbra_contracts")]
    fn umbra_contracts(&self) -> RpcResult<Vec<ContractInfo>>;

    /// Commands `from..to` (at most 1000) of a contract's log: SCALE `Vec<(u64, CommandRecord)>`.
    #[method(name = "umbra_contractCommands")]
    fn umbra_contract_commands(&self, id: H256, from: u64, to: u64) -> RpcResult<Bytes>;

    /// Stores an encrypted contract checkpoint blob (hex) off chain; accepted only if its hash is
    /// the one the chain recorded for `(id, seq)`. Returns that hash.
    #[method(name = "umbra_putCheckpoint")]
    fn umbra_put_checkpoint(&self, id: H256, sequence: u64, blob: String) -> RpcResult<H256>;

    /// The stored checkpoint blob of `(id, seq)`.
    #[method(name = "umbra_getCheckpoint")]
    fn umbra_get_checkpoint(&self, id: H256, sequence: u64) -> RpcResult<Option<Bytes>>;

    /// Gatekeepers, their master keys and who holds which.
    #[method(name = "umbra_gatekeepers")]
    fn umbra_gatekeepers(&self) -> RpcResult<GatekeepersView>;

    /// Block `number` and its events, SCALE-encoded.
    #[method(name = "umbra_blockWithEvents")]
    fn umbra_block_with_events(&self, number: BlockNumber)
        -> RpcResult<Option<RawBlockWithEvents>>;

    /// The commit certificate of block `number`, SCALE `finality::CommitCertificate` (BFT
    /// chains; `null` for a block without one).
    #[method(name = "umbra_justification")]
    fn umbra_justification(&self, number: BlockNumber) -> RpcResult<Option<Bytes>>;

    /// The BFT validator set in force at the head (`null` on a single-authority chain).
    #[method(name = "umbra_validators")]
    fn umbra_validators(&self) -> RpcResult<Option<ValidatorSet>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_are_hex_and_ss58() {
        let who = umbra_primitives::Pair::from_suri("//Alice").unwrap().public();
        let a = serde_json::to_value(Address(who)).unwrap();
        assert_eq!(a, serde_json::json!(who.to_ss58()));
        assert_eq!(serde_json::from_value::<Address>(a).unwrap(), Address(who));
        let err = serde_json::from_value::<Address>(serde_json::json!("5Grw")).unwrap_err();
        assert!(err.to_string().contains("invalid address `5Grw`"), "{err}");
        assert_eq!(serde_json::to_value(Bytes(vec![1, 2])).unwrap(), serde_json::json!("0x0102"));
        let h = H256::hash(b"b");
        assert_eq!(
            serde_json::to_value(ExtrinsicStatus::InBlock(h)).unwrap(),
            serde_json::json!({ "inBlock": h })
        );
        assert_eq!(
            serde_json::to_value(ExtrinsicStatus::Ready).unwrap(),
            serde_json::json!("ready")
        );
        assert_eq!(
            serde_json::from_value::<ExtrinsicStatus>(serde_json::json!("invalid")).unwrap(),
            ExtrinsicStatus::Invalid
        );
    }
}

#[cfg(test)]
mod view_tests;
