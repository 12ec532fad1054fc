//! The enclave side of encrypted queries: open, authenticate, refuse replays, answer sealed and
//! signed.

use std::collections::{HashMap, VecDeque};

use parity_scale_codec::Encode;
use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::query::{
    EncryptedQuery, QueryRequest, QueryResponse, QUERY_AAD, QUERY_MAX_SKEW_MS,
};

use crate::error::{decode, EnclaveError, Result};

/// Most nonces remembered at once; beyond it queries are refused until old ones expire.
pub const MAX_REMEMBERED_NONCES: usize = 200_000;

/// Remembers recent query nonces so a captured query cannot be replayed. A nonce is remembered
/// for as long as its timestamp is acceptable ([`QUERY_MAX_SKEW_MS`] around chain time), after
/// which the timestamp check refuses it anyway.
#[derive(Debug, Default, Clone)]
pub struct ReplayGuard {
    seen: HashMap<[u8; 16], u64>,
    order: VecDeque<([u8; 16], u64)>,
}

impl ReplayGuard {
    /// Checks `request`'s time window against `now_ms` and records its nonce.
    pub fn check(&mut self, request: &QueryRequest, now_ms: u64) -> Result<()> {
        let reject = |m: String| Err(EnclaveError::QueryRejected(m));
        if request.timestamp_ms + QUERY_MAX_SKEW_MS < now_ms
            || request.timestamp_ms > now_ms + QUERY_MAX_SKEW_MS
        {
            return reject(format!(
                "query timestamp {} is outside the window around chain time {now_ms}",
                request.timestamp_ms
            ));
        }
        while let Some((nonce, ts)) = self.order.front().copied() {
            if ts + QUERY_MAX_SKEW_MS >= now_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&nonce);
        }
        if self.seen.contains_key(&request.nonce) {
            return reject("replayed query nonce".into());
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            return reject("too many recent queries, retry later".into());
        }
        self.seen.insert(request.nonce, request.timestamp_ms);
        self.order.push_back((request.nonce, request.timestamp_ms));
        Ok(())
    }
}

/// An opened, authenticated query and what is needed to answer it.
#[derive(Debug)]
pub struct OpenedQuery {
    /// The request.
    pub request: QueryRequest,
    /// Hash of the wire query (binds the reply).
    pub query_hash: umbra_primitives::H256,
    /// Symmetric key for the reply.
    pub key: [u8; 32],
}

/// Opens and authenticates a wire query addressed to `identity`.
pub fn open(
    bytes: &[u8],
    ecdh: &EcdhSecret,
    identity: &Pair,
    guard: &mut ReplayGuard,
    now_ms: u64,
) -> Result<OpenedQuery> {
    let q: EncryptedQuery = decode("query", bytes)?;
    let (plain, key) = q
        .sealed
        .open(ecdh, QUERY_AAD)
        .map_err(|_| EnclaveError::QueryRejected("cannot decrypt query".into()))?;
    let request: QueryRequest = decode("query request", &plain)?;
    if !request.verify() {
        return Err(EnclaveError::QueryRejected("bad query signature".into()));
    }
    if request.worker != identity.public() {
        return Err(EnclaveError::QueryRejected("query is addressed to another worker".into()));
    }
    guard.check(&request, now_ms)?;
    Ok(OpenedQuery { request, query_hash: q.hash(), key })
}

/// Seals and signs the answer to `q`.
pub fn answer(q: &OpenedQuery, identity: &Pair, result: Result<Vec<u8>>) -> Vec<u8> {
    let result = result.map_err(|e| e.to_string());
    QueryResponse::seal(identity, &q.query_hash, &q.key, &result).encode()
}
