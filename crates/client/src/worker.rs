//! Talking to a worker: its public info endpoint, and encrypted queries whose answers are
//! trusted only after checking the replying identity against the chain's registry.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};

use parity_scale_codec::{Decode, Encode};
use rand::RngCore;
use serde_json::Value;
use umbra_crypto::{EcdhPublic, Pair, Public};
use umbra_primitives::query::{EncryptedQuery, QueryRequest, QueryResponse};

use crate::{
    sdk::{ClientError, UmbraApiClient},
    Client,
};

async fn http(method: Method, url: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClientError> {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ClientError::Transport(format!("bad URL `{url}`: {e}")))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| ClientError::Connect { url: url.to_string(), reason: e.to_string() })?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

fn base(url: &str) -> String {
    let u = url.trim_end_matches('/');
    if u.contains("://") {
        u.to_string()
    } else {
        format!("http://{u}")
    }
}

/// The worker's public info (`GET /info`), as JSON. Untrusted: whatever the host says.
pub async fn info(url: &str) -> Result<Value, ClientError> {
    let (status, body) = http(Method::GET, &format!("{}/info", base(url)), Vec::new()).await?;
    if status != 200 {
        return Err(ClientError::Unexpected(format!(
            "worker answered {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected(e.to_string()))
}

/// A worker's keys as the chain's registry records them.
#[derive(Debug, Clone, Copy)]
pub struct RegisteredKeys {
    /// Identity key.
    pub identity: Public,
    /// ECDH key.
    pub ecdh: EcdhPublic,
}

/// Looks `identity` up in the chain's registry.
pub async fn registered_keys(
    chain: &Client,
    identity: &Public,
) -> Result<RegisteredKeys, ClientError> {
    let w = chain.api().umbra_worker((*identity).into()).await?;
    let w = w.ok_or_else(|| {
        ClientError::Unexpected(format!("worker {identity} is not registered on chain"))
    })?;
    Ok(RegisteredKeys { identity: *identity, ecdh: w.ecdh_public() })
}

/// Sends an encrypted query `body` to the worker at `url` whose registered keys are `keys`;
/// returns the decrypted answer after checking it is signed by `keys.identity`.
pub async fn query(
    url: &str,
    keys: &RegisteredKeys,
    signer: &Pair,
    body: Vec<u8>,
) -> Result<Vec<u8>, ClientError> {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let request = QueryRequest::new_signed(signer, keys.identity, nonce, now, body);
    let (q, key) = EncryptedQuery::seal(&request, &keys.ecdh)
        .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    let (status, reply) = http(Method::POST, &format!("{}/query", base(url)), q.encode()).await?;
    if status != 200 {
        return Err(ClientError::Rpc {
            code: status as i32,
            message: String::from_utf8_lossy(&reply).into_owned(),
        });
    }
    let resp = QueryResponse::decode(&mut &reply[..])
        .map_err(|e| ClientError::Unexpected(format!("bad reply: {e}")))?;
    resp.open(&keys.identity, &q.hash(), &key)
        .map_err(ClientError::Unexpected)?
        .map_err(|e| ClientError::Rpc { code: 400, message: e })
}
