//! The SDK: connect to a node, read accounts and blocks, sign, submit and watch transactions.

use jsonrpsee::{
    core::{
        client::{ClientT, Subscription},
        params::ArrayParams,
    },
    ws_client::{WsClient, WsClientBuilder},
};
use parity_scale_codec::Encode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use umbra_primitives::{
    json::{to_hex, HeaderJson},
    AccountId, Balance, Block, BlockNumber, Header, Nonce, Pair, H256,
};
pub use umbra_rpc_api::{
    AccountsAt, Address, Bytes, ComputationView, ContractInfo, EventJson, ExtrinsicStatus,
    GatekeepersView, LoanInfo, MasterKeyEntry, PoolInfo, Position, RawBlockWithEvents, Session,
    StakeInfo, UmbraApiClient, VaultInfo, WorkerInfo,
};
use umbra_runtime::{api::AccountInfo, Call, Extrinsic};

/// Positional JSON-RPC parameters for [`Client::call`].
pub use jsonrpsee::core::params::ArrayParams as RpcParams;

/// What can go wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{message} (code {code})")]
    Rpc {
        /// Error code (1001–1013 for refused transactions).
        code: i32,
        /// The node's message.
        message: String,
    },
    /// Transport or protocol failure.
    #[error("RPC transport error: {0}")]
    Transport(String),
    /// The node returned something unexpected.
    #[error("unexpected response from node: {0}")]
    Unexpected(String),
    /// The transaction was dropped before inclusion.
    #[error("transaction {0} was dropped as invalid before inclusion")]
    Dropped(H256),
}

impl From<jsonrpsee::core::ClientError> for ClientError {
    fn from(e: jsonrpsee::core::ClientError) -> Self {
        match e {
            jsonrpsee::core::ClientError::Call(obj) => {
                // Parameter errors carry the detail (e.g. which address is invalid) in `data`.
                let message = match obj.data() {
                    Some(data) => {
                        let data = serde_json::from_str::<String>(data.get())
                            .unwrap_or_else(|_| data.get().to_string());
                        format!("{}: {data}", obj.message())
                    }
                    None => obj.message().to_string(),
                };
                ClientError::Rpc { code: obj.code(), message }
            }
            other => ClientError::Transport(other.to_string()),
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ClientError>;

/// Where a watched transaction landed.
#[derive(Debug, Clone)]
pub struct Inclusion {
    /// The transaction hash.
    pub tx_hash: H256,
    /// The block that included it.
    pub block_hash: H256,
    /// That block's number.
    pub block_number: u64,
    /// The transaction's index in the block.
    pub index: u32,
    /// Whether its call succeeded.
    pub success: bool,
    /// Its events (JSON, as `umbra_events` returns them).
    pub events: Vec<Value>,
}

/// A connection to a node.
#[derive(Debug)]
pub struct Client {
    rpc: WsClient,
    genesis_hash: H256,
}

/// Turns `http://` into `ws://` (the node serves both on one port).
pub fn ws_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if url.contains("://") {
        url.to_string()
    } else {
        format!("ws://{url}")
    }
}

impl Client {
    /// Connects to the node at `url` (`ws://`, `http://` or `host:port`).
    pub async fn connect(url: &str) -> Result<Client> {
        let ws = ws_url(url);
        let rpc = WsClientBuilder::default()
            .request_timeout(std::time::Duration::from_secs(60))
            .build(&ws)
            .await
            .map_err(|e| ClientError::Connect { url: ws.clone(), reason: e.to_string() })?;
        let genesis: Option<H256> = rpc.chain_get_block_hash(Some(0)).await?;
        let genesis_hash =
            genesis.ok_or_else(|| ClientError::Unexpected("node has no genesis block".into()))?;
        Ok(Client { rpc, genesis_hash })
    }

    /// Any RPC call by name, decoded as `T` (prefer [`Client::api`]'s typed methods).
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: ArrayParams) -> Result<T> {
        Ok(self.rpc.request(method, params).await?)
    }

    /// The node's typed API ([`UmbraApiClient`]: every method with its typed parameters and
    /// response).
    pub fn api(&self) -> &WsClient {
        &self.rpc
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// The chain's name.
    pub async fn chain_name(&self) -> Result<String> {
        Ok(self.rpc.system_chain().await?)
    }

    /// The best header, rebuilt and checked against its hash.
    pub async fn head(&self) -> Result<Header> {
        let j = self.rpc.chain_get_header(None).await?;
        let j = j.ok_or_else(|| ClientError::Unexpected("no head".into()))?;
        Header::try_from(&j).map_err(ClientError::Unexpected)
    }

    /// The hash of block `number`.
    pub async fn block_hash(&self, number: BlockNumber) -> Result<Option<H256>> {
        Ok(self.rpc.chain_get_block_hash(Some(number)).await?)
    }

    /// The block with `hash`.
    pub async fn block(&self, hash: H256) -> Result<Option<Block>> {
        let Some(signed) = self.rpc.chain_get_block(Some(hash)).await? else { return Ok(None) };
        Block::try_from(&signed.block).map(Some).map_err(ClientError::Unexpected)
    }

    /// Block `number` and its events, SCALE-encoded (what an enclave verifies).
    pub async fn raw_block_with_events(
        &self,
        number: BlockNumber,
    ) -> Result<Option<RawBlockWithEvents>> {
        Ok(self.rpc.umbra_block_with_events(number).await?)
    }

    /// Balances and nonce of `who`.
    pub async fn account(&self, who: &AccountId) -> Result<AccountInfo> {
        Ok(self.rpc.umbra_account(Address(*who)).await?)
    }

    /// The next nonce of `who`, counting its pooled transactions.
    pub async fn next_nonce(&self, who: &AccountId) -> Result<Nonce> {
        Ok(self.rpc.system_account_next_index(Address(*who)).await?)
    }

    /// Events of the block `hash`, with their phases.
    pub async fn event_records(&self, hash: H256) -> Result<Vec<EventJson>> {
        let v = self.rpc.umbra_events(Some(hash)).await?;
        v.ok_or_else(|| ClientError::Unexpected(format!("no events for block {hash}")))
    }

    /// Events of the block `hash`, as JSON records (`{"phase", "event"}`).
    pub async fn events(&self, hash: H256) -> Result<Vec<Value>> {
        self.event_records(hash)
            .await?
            .into_iter()
            .map(|r| serde_json::to_value(r).map_err(|e| ClientError::Unexpected(e.to_string())))
            .collect()
    }

    /// The chain's authority set (the accounts allowed to seal blocks), read from the head's state.
    pub async fn authorities(&self) -> Result<Vec<AccountId>> {
        Ok(self.rpc.umbra_authorities().await?.into_iter().map(|a| a.0).collect())
    }

    /// The registered workers, ordered by identity.
    pub async fn registered_workers(&self) -> Result<Vec<WorkerInfo>> {
        Ok(self.rpc.umbra_workers().await?)
    }

    /// The registered workers in their JSON form (for callers that read fields by name; prefer
    /// [`Client::registered_workers`]).
    pub async fn workers(&self) -> Result<Vec<Value>> {
        self.registered_workers()
            .await?
            .into_iter()
            .map(|w| serde_json::to_value(w).map_err(|e| ClientError::Unexpected(e.to_string())))
            .collect()
    }

    /// Signs `call` with the signer's next nonce.
    pub async fn sign(&self, signer: &Pair, call: Call, tip: Balance) -> Result<Vec<u8>> {
        let nonce = self.next_nonce(&signer.public()).await?;
        Ok(Extrinsic::new_signed(signer, call, nonce, tip, self.genesis_hash).encode())
    }

    /// Submits an encoded extrinsic; returns its hash once pooled.
    pub async fn submit(&self, bytes: &[u8]) -> Result<H256> {
        Ok(self.rpc.author_submit_extrinsic(to_hex(bytes)).await?)
    }

    /// Submits an encoded extrinsic and waits until a block includes it.
    pub async fn submit_and_watch(&self, bytes: &[u8]) -> Result<Inclusion> {
        let tx_hash = H256::hash(bytes);
        let mut sub = self.rpc.author_submit_and_watch_extrinsic(to_hex(bytes)).await?;
        while let Some(update) = sub.next().await {
            match update.map_err(|e| ClientError::Transport(e.to_string()))? {
                ExtrinsicStatus::Invalid => return Err(ClientError::Dropped(tx_hash)),
                ExtrinsicStatus::InBlock(block_hash) => {
                    return self.inclusion(tx_hash, block_hash).await
                }
                ExtrinsicStatus::Ready | ExtrinsicStatus::Finalized(_) => {}
            }
        }
        Err(ClientError::Transport("subscription closed before inclusion".into()))
    }

    async fn inclusion(&self, tx_hash: H256, block_hash: H256) -> Result<Inclusion> {
        let block = self
            .block(block_hash)
            .await?
            .ok_or_else(|| ClientError::Unexpected(format!("block {block_hash} not found")))?;
        let index =
            block.extrinsics.iter().position(|x| H256::hash(x) == tx_hash).ok_or_else(|| {
                ClientError::Unexpected("transaction not in the announced block".into())
            })? as u32;
        let events: Vec<Value> = self
            .event_records(block_hash)
            .await?
            .into_iter()
            .filter(|r| r.phase == umbra_runtime::Phase::ApplyExtrinsic(index))
            .map(|r| r.event)
            .collect();
        let success = events.iter().any(|e| e["System"].get("ExtrinsicSuccess").is_some());
        Ok(Inclusion {
            tx_hash,
            block_hash,
            block_number: block.header.number,
            index,
            success,
            events,
        })
    }

    /// Subscribes to new best headers (`chain_subscribeNewHeads`).
    pub async fn subscribe_heads(&self) -> Result<Subscription<HeaderJson>> {
        Ok(self.rpc.subscribe_new_heads().await?)
    }

    /// Subscribes to finalized headers (`chain_subscribeFinalizedHeads`).
    pub async fn subscribe_finalized_heads(&self) -> Result<Subscription<HeaderJson>> {
        Ok(self.rpc.subscribe_finalized_heads().await?)
    }

    /// Signs `call`, submits it and waits for inclusion.
    pub async fn sign_and_watch(
        &self,
        signer: &Pair,
        call: Call,
        tip: Balance,
    ) -> Result<Inclusion> {
        let bytes = self.sign(signer, call, tip).await?;
        self.submit_and_watch(&bytes).await
    }
}

/// Verifies `header`'s seal and VRF against the chain's `authorities` (never against the header's
/// own author field alone): a header sealed by a key outside the set is refused. Returns the
/// block randomness.
pub fn verify_header(
    header: &Header,
    authorities: &[AccountId],
) -> std::result::Result<[u8; 32], umbra_primitives::HeaderError> {
    header.verify_seal(authorities)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_by(pair: &Pair) -> Header {
        let parent = H256::hash(b"parent");
        let mut h = Header::genesis(H256::hash(b"state"), 1);
        h.parent_hash = parent;
        h.number = 7;
        h.vrf = pair.vrf_sign(&umbra_primitives::vrf_input(&parent, 7));
        h.seal_with(pair);
        h
    }

    #[test]
    fn a_header_sealed_by_a_non_authority_is_not_verified() {
        let authority = Pair::from_suri("//Alice").unwrap();
        let authorities = [authority.public()];
        assert!(verify_header(&sealed_by(&authority), &authorities).is_ok());
        // An attacker seals a well-formed header with their own key and names themselves author:
        // the seal and VRF are valid for that key, but the key is not an authority.
        let (attacker, _phrase) = Pair::generate();
        let forged = sealed_by(&attacker);
        assert!(forged.verify_seal(&[forged.author]).is_ok(), "self-consistent forgery");
        let err = verify_header(&forged, &authorities).unwrap_err();
        assert!(matches!(err, umbra_primitives::HeaderError::UnknownAuthor { .. }), "{err}");
    }

    #[test]
    fn urls_become_websocket_urls() {
        assert_eq!(ws_url("http://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("ws://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("https://node.example"), "wss://node.example");
    }
}
