//! JSON-RPC over HTTP and WebSocket on one port (jsonrpsee): the node's implementation of the
//! typed [`UmbraApiServer`] trait, which lists every method with its parameters and response
//! (`umbra-rpc-api` has the table).
//!
//! A refused transaction gets the runtime's stable error code (1001–1013) and a one-line message.

use std::{net::SocketAddr, sync::Arc};

use jsonrpsee::{
    core::{RpcResult, SubscriptionResult},
    server::{Server, ServerHandle},
    types::{ErrorObject, ErrorObjectOwned},
    PendingSubscriptionSink, RpcModule, SubscriptionMessage,
};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use umbra_primitives::{
    json::{from_hex, BlockJson, HeaderJson},
    BlockNumber, Nonce, H256,
};
use umbra_rpc_api::{
    AccountsAt, Address, Bytes, ComputationView, ContractInfo, EventJson, ExtrinsicStatus,
    GatekeepersView, Health, LoanInfo, MasterKeyEntry, PoolInfo, Position, Properties,
    RawBlockWithEvents, Session, SignedBlock, StakeInfo, VaultInfo, WorkerInfo,
};
pub use umbra_rpc_api::{UmbraApiClient, UmbraApiServer};
use umbra_runtime::{api::AccountInfo, governance::Parameters};

use crate::service::{Node, SubmitError};

/// JSON-RPC code for bad parameters.
pub const INVALID_PARAMS: i32 = -32602;
/// JSON-RPC code for internal failures.
pub const INTERNAL: i32 = -32603;

fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INVALID_PARAMS, msg.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL, format!("internal error: {e}"), None::<()>)
}

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    let code = match &e {
        SubmitError::Invalid(i) => i.code(),
        SubmitError::Pool(p) => p.code(),
        SubmitError::Internal(_) => INTERNAL,
    };
    // Decoding errors span several indented lines; the message is documented as one line.
    let message = e
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ErrorObject::owned(code, message, None::<()>)
}

fn extrinsic_bytes(hex: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    from_hex(hex)
        .map_err(|e| ErrorObject::owned(1001, format!("malformed extrinsic: {e}"), None::<()>))
}

/// A module's typed state as its JSON view.
/// The RPC server's state: the node.
#[derive(Debug, Clone)]
pub struct Rpc {
    node: Arc<Node>,
}

impl Rpc {
    /// Serves `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Rpc { node }
    }

    fn resolve(&self, hash: Option<H256>) -> RpcResult<Option<BlockNumber>> {
        match hash {
            None => Ok(Some(self.node.head().number)),
            Some(h) => self.node.block_number(&h).map_err(internal),
        }
    }

    async fn forward_headers(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut rx = self.node.subscribe();
        let sink = pending.accept().await?;
        loop {
            match rx.recv().await {
                Ok(block) => {
                    let msg = SubscriptionMessage::from_json(&HeaderJson::from(&block.header))?;
                    if sink.send(msg).await.is_err() {
                        return Ok(());
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}

#[jsonrpsee::core::async_trait]
impl UmbraApiServer for Rpc {
    fn system_health(&self) -> RpcResult<Health> {
        Ok(Health { peers: 0, is_syncing: false, should_have_peers: false })
    }

    fn system_chain(&self) -> RpcResult<String> {
        Ok(self.node.spec().name.clone())
    }

    fn system_properties(&self) -> RpcResult<Properties> {
        Ok(Properties {
            token_symbol: "UMB".into(),
            token_decimals: umbra_primitives::DECIMALS,
            ss58_format: umbra_crypto::ss58::DEFAULT_PREFIX,
        })
    }

    fn system_account_next_index(&self, address: Address) -> RpcResult<Nonce> {
        self.node.next_nonce(&address.0).map_err(internal)
    }

    fn chain_get_header(&self, hash: Option<H256>) -> RpcResult<Option<HeaderJson>> {
        let Some(n) = self.resolve(hash)? else { return Ok(None) };
        Ok(self.node.block(n).map_err(internal)?.map(|b| HeaderJson::from(&b.header)))
    }

    fn chain_get_block(&self, hash: Option<H256>) -> RpcResult<Option<SignedBlock>> {
        let Some(n) = self.resolve(hash)? else { return Ok(None) };
        Ok(self
            .node
            .block(n)
            .map_err(internal)?
            .map(|b| SignedBlock { block: BlockJson::from(&b), justifications: None }))
    }

    fn chain_get_block_hash(&self, number: Option<BlockNumber>) -> RpcResult<Option<H256>> {
        self.node.block_hash(number.unwrap_or_else(|| self.node.head().number)).map_err(internal)
    }

    fn chain_get_finalized_head(&self) -> RpcResult<H256> {
        Ok(self.node.head().hash())
    }

    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        self.forward_headers(pending).await
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        // The dev engine's blocks are final when sealed.
        self.forward_headers(pending).await
    }

    fn author_submit_extrinsic(&self, extrinsic: String) -> RpcResult<H256> {
        self.node.submit(extrinsic_bytes(&extrinsic)?).map_err(submit_error)
    }

    fn author_pending_extrinsics(&self) -> RpcResult<Vec<Bytes>> {
        Ok(self.node.pending().iter().map(|b| Bytes(b.to_vec())).collect())
    }

    async fn author_submit_and_watch_extrinsic(
        &self,
        pending: PendingSubscriptionSink,
        extrinsic: String,
    ) -> SubscriptionResult {
        let bytes = match extrinsic_bytes(&extrinsic) {
            Ok(b) => b,
            Err(e) => {
                pending.reject(e).await;
                return Ok(());
            }
        };
        // Subscribe before submitting so the inclusion cannot be missed.
        let mut rx = self.node.subscribe();
        let hash = match self.node.submit(bytes) {
            Ok(h) => h,
            Err(e) => {
                pending.reject(submit_error(e)).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let send = |s: ExtrinsicStatus| SubscriptionMessage::from_json(&s);
        sink.send(send(ExtrinsicStatus::Ready)?).await?;
        loop {
            match rx.recv().await {
                Ok(block) if block.included.contains(&hash) => {
                    let h = block.header.hash();
                    sink.send(send(ExtrinsicStatus::InBlock(h))?).await?;
                    sink.send(send(ExtrinsicStatus::Finalized(h))?).await?;
                    return Ok(());
                }
                Ok(block) if block.dropped.contains(&hash) => {
                    sink.send(send(ExtrinsicStatus::Invalid)?).await?;
                    return Ok(());
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }

    fn umbra_account(&self, address: Address) -> RpcResult<AccountInfo> {
        self.node.account(&address.0).map_err(internal)
    }

    fn umbra_accounts(&self, addresses: Vec<Address>) -> RpcResult<AccountsAt> {
        let (block, accounts) = self
            .node
            .with_state(|st| {
                let number = umbra_runtime::system::NUMBER.get_or_default(st);
                let infos = addresses
                    .iter()
                    .map(|a| umbra_runtime::api::account_info(st, &a.0))
                    .collect::<Vec<_>>();
                (number, infos)
            })
            .map_err(internal)?;
        Ok(AccountsAt { block, accounts })
    }

    fn umbra_events(&self, hash: Option<H256>) -> RpcResult<Option<Vec<EventJson>>> {
        let Some(n) = self.resolve(hash)? else { return Ok(None) };
        let Some(records) = self.node.events(n).map_err(internal)? else { return Ok(None) };
        records
            .into_iter()
            .map(|r| {
                Ok(EventJson {
                    phase: r.phase,
                    event: serde_json::to_value(&r.event).map_err(internal)?,
                })
            })
            .collect::<RpcResult<Vec<_>>>()
            .map(Some)
    }

    fn umbra_parameters(&self) -> RpcResult<Parameters> {
        self.node.parameters().map_err(internal)
    }

    fn umbra_chain_spec(&self) -> RpcResult<Value> {
        serde_json::to_value(self.node.spec()).map_err(internal)
    }

    fn umbra_authorities(&self) -> RpcResult<Vec<Address>> {
        let set = self.node.with_state(umbra_runtime::system::authorities).map_err(internal)?;
        Ok(set.into_iter().map(Address).collect())
    }

    fn umbra_workers(&self) -> RpcResult<Vec<WorkerInfo>> {
        self.node.workers().map_err(internal)
    }

    fn umbra_worker(&self, identity: Address) -> RpcResult<Option<WorkerInfo>> {
        self.node.worker(&identity.0).map_err(internal)
    }

    // ---- computation ----
    fn umbra_worker_session(&self, identity: Address) -> RpcResult<Option<Session>> {
        self.node
            .with_state(|st| umbra_runtime::computation::session(st, &identity.0))
            .map_err(internal)
    }

    fn umbra_computation(&self) -> RpcResult<ComputationView> {
        self.node
            .with_state(|st| {
                use umbra_runtime::{balances, computation as c};
                let (computing, unresponsive, cooling_down) = c::COUNTS.get_or_default(st);
                ComputationView {
                    params: c::params(st),
                    emission: c::EMISSION.get_or_default(st),
                    online_shares: c::ONLINE_SHARES.get_or_default(st),
                    pot: balances::account(st, &c::pot_account()).free,
                    treasury: balances::account(st, &balances::treasury_account()).free,
                    computing,
                    unresponsive,
                    cooling_down,
                }
            })
            .map_err(internal)
    }

    // ---- stake pools and vault ----
    fn umbra_pools(&self) -> RpcResult<Vec<PoolInfo>> {
        self.node.pools().map_err(internal)
    }

    fn umbra_pool(&self, id: u64) -> RpcResult<Option<PoolInfo>> {
        self.node.pool(id).map_err(internal)
    }

    fn umbra_pool_stake(&self, id: u64, address: Address) -> RpcResult<Option<StakeInfo>> {
        self.node.pool_stake(id, &address.0).map_err(internal)
    }

    fn umbra_vault(&self) -> RpcResult<VaultInfo> {
        self.node.vault().map_err(internal)
    }

    fn umbra_vault_position(&self, address: Address) -> RpcResult<Position> {
        self.node.vault_position(&address.0).map_err(internal)
    }

    fn umbra_loan(&self, pool: u64) -> RpcResult<Option<LoanInfo>> {
        self.node.loan(pool).map_err(internal)
    }

    // ---- contracts and gatekeepers ----
    fn umbra_contract(&self, id: H256) -> RpcResult<Option<ContractInfo>> {
        self.node.with_state(|st| umbra_runtime::contracts::contract(st, &id)).map_err(internal)
    }

    fn umbra_contracts(&self) -> RpcResult<Vec<ContractInfo>> {
        self.node
            .with_state(|st| {
                use umbra_runtime::contracts as c;
                (0..c::contract_count(st))
                    .filter_map(|i| c::CONTRACT_AT.get(st, &i))
                    .filter_map(|id| c::contract(st, &id))
                    .collect()
            })
            .map_err(internal)
    }

    fn umbra_contract_commands(&self, id: H256, from: u64, to: u64) -> RpcResult<Bytes> {
        if to < from || to - from > 1000 {
            return Err(invalid_params("at most 1000 commands per call"));
        }
        let records = self
            .node
            .with_state(|st| {
                (from..to)
                    .map_while(|seq| {
                        umbra_runtime::contracts::COMMANDS.get(st, &(id, seq)).map(|r| (seq, r))
                    })
                    .collect::<Vec<_>>()
            })
            .map_err(internal)?;
        Ok(Bytes(parity_scale_codec::Encode::encode(&records)))
    }

    // Off-chain checkpoint blobs: files `<id>-<seq>.bin` in `Node::checkpoint_dir`.
    fn umbra_put_checkpoint(&self, id: H256, seq: u64, blob: String) -> RpcResult<H256> {
        use umbra_runtime::contracts as c;
        let node = &self.node;
        let (record, max) = node
            .with_state(|st| (c::CHECKPOINTS.get(st, &(id, seq)), c::params(st)))
            .map_err(internal)?;
        let max = usize::try_from(max.max_checkpoint_bytes).unwrap_or(usize::MAX);
        // Checked on the hex text, before decoding it.
        if blob.len() / 2 > max.saturating_add(1) {
            return Err(invalid_params(format!("checkpoint larger than {max} bytes")));
        }
        let blob = from_hex(&blob).map_err(invalid_params)?;
        let record = record.ok_or_else(|| {
            invalid_params(format!("no checkpoint of {id} at #{seq} is recorded on chain"))
        })?;
        let hash = H256::hash(&blob);
        if hash != record.blob_hash {
            return Err(invalid_params(format!(
                "blob hash {hash} differs from the recorded {}",
                record.blob_hash
            )));
        }
        let dir = node.checkpoint_dir();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let name = format!("{id}-{seq}.bin");
            let tmp = dir.join(format!("{name}.tmp"));
            std::fs::write(&tmp, &blob)?;
            std::fs::rename(&tmp, dir.join(name))
        };
        write().map_err(internal)?;
        Ok(hash)
    }

    fn umbra_get_checkpoint(&self, id: H256, seq: u64) -> RpcResult<Option<Bytes>> {
        let path = self.node.checkpoint_dir().join(format!("{id}-{seq}.bin"));
        match std::fs::read(path) {
            Ok(blob) => Ok(Some(Bytes(blob))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(internal(e)),
        }
    }

    fn umbra_gatekeepers(&self) -> RpcResult<GatekeepersView> {
        self.node
            .with_state(|st| {
                use umbra_runtime::gatekeeper as g;
                let current = g::current_rotation(st);
                let master_keys = (0..=current.unwrap_or(0))
                    .filter_map(|rotation| {
                        g::MASTER_KEYS
                            .get(st, &rotation)
                            .map(|key| MasterKeyEntry { rotation, key })
                    })
                    .collect();
                let gatekeepers = g::gatekeepers(st);
                GatekeepersView {
                    holds: gatekeepers.iter().map(|w| (Address(*w), g::HOLDS.get(st, w))).collect(),
                    gatekeepers: gatekeepers.into_iter().map(Address).collect(),
                    current_rotation: current,
                    master_keys,
                }
            })
            .map_err(internal)
    }

    fn umbra_block_with_events(
        &self,
        number: BlockNumber,
    ) -> RpcResult<Option<RawBlockWithEvents>> {
        let Some((b, e)) = self.node.raw_block_with_events(number).map_err(internal)? else {
            return Ok(None);
        };
        let justification = self.node.justification(number).map_err(internal)?.map(Bytes);
        Ok(Some(RawBlockWithEvents { block: Bytes(b), events: Bytes(e), justification }))
    }

    fn umbra_justification(&self, number: BlockNumber) -> RpcResult<Option<Bytes>> {
        Ok(self.node.justification(number).map_err(internal)?.map(Bytes))
    }

    fn umbra_validators(&self) -> RpcResult<Option<umbra_primitives::finality::ValidatorSet>> {
        self.node.validator_set().map_err(internal)
    }
}

/// Builds the RPC module over `node`.
pub fn module(node: Arc<Node>) -> anyhow::Result<RpcModule<Rpc>> {
    Ok(Rpc::new(node).into_rpc())
}

/// Starts the RPC server on `addr`; returns the bound address and a handle to stop it.
pub async fn start(
    node: Arc<Node>,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder()
        .max_request_body_size(16 * 1024 * 1024)
        .build(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for RPC on {addr}: {e}"))?;
    let bound = server.local_addr()?;
    let handle = server.start(module(node)?);
    Ok((bound, handle))
}

#[cfg(test)]
mod checkpoint_store_tests {
    use umbra_primitives::{json::to_hex, Block, Header, Pair};
    use umbra_runtime::contracts::{CheckpointRecord, CHECKPOINTS};

    use super::*;
    use crate::{chain_spec::ChainSpec, consensus::DevAuthority};

    /// A dev node whose genesis state also records a checkpoint hash of `blob` for `(id, 7)`.
    fn node_with_recorded(dir: &std::path::Path, id: H256, blob: &[u8]) -> Arc<Node> {
        let spec = ChainSpec::dev();
        let (mut state, _) = spec.genesis().unwrap();
        let record = CheckpointRecord {
            seq: 7,
            state_hash: H256([1; 32]),
            log_hash: H256([2; 32]),
            blob_hash: H256::hash(blob),
        };
        state.push((CHECKPOINTS.key(&(id, 7)), parity_scale_codec::Encode::encode(&record)));
        state.sort();
        let root = H256(umbra_chain_storage::compute_root(state.iter().cloned()));
        let genesis = Block { header: Header::genesis(root, 0), extrinsics: Vec::new() };
        let alice = Pair::from_suri("//Alice").unwrap();
        Node::open_with_genesis(dir, spec, Arc::new(DevAuthority::new(alice)), state, genesis)
            .unwrap()
    }

    #[tokio::test]
    async fn large_checkpoints_are_stored_off_chain_only_under_the_recorded_hash() {
        let dir = tempfile::tempdir().unwrap();
        let id = H256([9; 32]);
        // Larger than the 48 KiB an on-chain value used to allow.
        let blob: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
        let node = node_with_recorded(dir.path(), id, &blob);
        let rpc = module(node.clone()).unwrap();
        let get = |seq: u64| {
            let rpc = &rpc;
            async move { rpc.call::<_, Option<String>>("umbra_getCheckpoint", (id, seq)).await.unwrap() }
        };
        assert_eq!(get(7).await, None, "nothing stored yet");

        // A blob whose hash is not the recorded one is refused, and nothing is written.
        let mut bad = blob.clone();
        bad[1000] ^= 1;
        let err =
            rpc.call::<_, H256>("umbra_putCheckpoint", (id, 7u64, to_hex(&bad))).await.unwrap_err();
        assert!(err.to_string().contains("differs from the recorded"), "{err}");
        assert_eq!(get(7).await, None);
        // No checkpoint recorded at that sequence number.
        let err = rpc
            .call::<_, H256>("umbra_putCheckpoint", (id, 8u64, to_hex(&blob)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no checkpoint"), "{err}");

        // The real blob is stored and served back byte for byte.
        let hash: H256 = rpc.call("umbra_putCheckpoint", (id, 7u64, to_hex(&blob))).await.unwrap();
        assert_eq!(hash, H256::hash(&blob));
        assert_eq!(get(7).await.map(|h| from_hex(&h).unwrap()), Some(blob.clone()));
        assert!(node.checkpoint_dir().join(format!("{id}-7.bin")).exists());
    }
}
