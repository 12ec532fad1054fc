//! The SDK: connect to a node, read accounts and blocks, sign, submit and watch transactions.

use jsonrpsee::{
    core::{
        client::{ClientT, Subscription, SubscriptionClientT},
        params::ArrayParams,
    },
    rpc_params,
    ws_client::{WsClient, WsClientBuilder},
};
use parity_scale_codec::Encode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use umbra_primitives::{
    json::{to_hex, BlockJson, HeaderJson},
    AccountId, Balance, Block, Header, Nonce, Pair, H256,
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
                ClientError::Rpc { code: obj.code(), message: obj.message().to_string() }
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
        let genesis: Option<H256> = rpc.request("chain_getBlockHash", rpc_params![0]).await?;
        let genesis_hash =
            genesis.ok_or_else(|| ClientError::Unexpected("node has no genesis block".into()))?;
        Ok(Client { rpc, genesis_hash })
    }

    /// Any RPC call, decoded as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: ArrayParams) -> Result<T> {
        Ok(self.rpc.request(method, params).await?)
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// The chain's name.
    pub async fn chain_name(&self) -> Result<String> {
        self.call("system_chain", rpc_params![]).await
    }

    /// The best header, rebuilt and checked against its hash.
    pub async fn head(&self) -> Result<Header> {
        let j: Option<HeaderJson> = self.call("chain_getHeader", rpc_params![]).await?;
        let j = j.ok_or_else(|| ClientError::Unexpected("no head".into()))?;
        Header::try_from(&j).map_err(ClientError::Unexpected)
    }

    /// The block with `hash`.
    pub async fn block(&self, hash: H256) -> Result<Option<Block>> {
        let v: Option<Value> = self.call("chain_getBlock", rpc_params![hash]).await?;
        let Some(v) = v else { return Ok(None) };
        let j: BlockJson = serde_json::from_value(v["block"].clone())
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Block::try_from(&j).map(Some).map_err(ClientError::Unexpected)
    }

    /// Balances and nonce of `who`.
    pub async fn account(&self, who: &AccountId) -> Result<AccountInfo> {
        self.call("umbra_account", rpc_params![who.to_ss58()]).await
    }

    /// The next nonce of `who`, counting its pooled transactions.
    pub async fn next_nonce(&self, who: &AccountId) -> Result<Nonce> {
        self.call("system_accountNextIndex", rpc_params![who.to_ss58()]).await
    }

    /// Events of the block `hash`, as JSON.
    pub async fn events(&self, hash: H256) -> Result<Vec<Value>> {
        let v: Option<Vec<Value>> = self.call("umbra_events", rpc_params![hash]).await?;
        v.ok_or_else(|| ClientError::Unexpected(format!("no events for block {hash}")))
    }

    /// The registered workers, as JSON.
    pub async fn workers(&self) -> Result<Vec<Value>> {
        self.call("umbra_workers", rpc_params![]).await
    }

    /// Signs `call` with the signer's next nonce.
    pub async fn sign(&self, signer: &Pair, call: Call, tip: Balance) -> Result<Vec<u8>> {
        let nonce = self.next_nonce(&signer.public()).await?;
        Ok(Extrinsic::new_signed(signer, call, nonce, tip, self.genesis_hash).encode())
    }

    /// Submits an encoded extrinsic; returns its hash once pooled.
    pub async fn submit(&self, bytes: &[u8]) -> Result<H256> {
        self.call("author_submitExtrinsic", rpc_params![to_hex(bytes)]).await
    }

    /// Submits an encoded extrinsic and waits until a block includes it.
    pub async fn submit_and_watch(&self, bytes: &[u8]) -> Result<Inclusion> {
        let tx_hash = H256::hash(bytes);
        let mut sub: Subscription<Value> = self
            .rpc
            .subscribe(
                "author_submitAndWatchExtrinsic",
                rpc_params![to_hex(bytes)],
                "author_unwatchExtrinsic",
            )
            .await?;
        while let Some(update) = sub.next().await {
            let update = update.map_err(|e| ClientError::Transport(e.to_string()))?;
            if update == Value::String("invalid".into()) {
                return Err(ClientError::Dropped(tx_hash));
            }
            if let Some(h) = update.get("inBlock") {
                let block_hash: H256 = serde_json::from_value(h.clone())
                    .map_err(|e| ClientError::Unexpected(e.to_string()))?;
                return self.inclusion(tx_hash, block_hash).await;
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
            .events(block_hash)
            .await?
            .into_iter()
            .filter(|r| r["phase"]["ApplyExtrinsic"] == index)
            .map(|r| r["event"].clone())
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
        Ok(self
            .rpc
            .subscribe("chain_subscribeNewHeads", rpc_params![], "chain_unsubscribeNewHeads")
            .await?)
    }

    /// Subscribes to finalized headers (`chain_subscribeFinalizedHeads`).
    pub async fn subscribe_finalized_heads(&self) -> Result<Subscription<HeaderJson>> {
        Ok(self
            .rpc
            .subscribe(
                "chain_subscribeFinalizedHeads",
                rpc_params![],
                "chain_unsubscribeFinalizedHeads",
            )
            .await?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_websocket_urls() {
        assert_eq!(ws_url("http://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("ws://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("https://node.example"), "wss://node.example");
    }
}
