//! HTTP endpoints of the worker: `GET /info` (public facts) and `POST /query` (a SCALE
//! `EncryptedQuery` in, a SCALE `QueryResponse` out).

use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Serialize;
use umbra_enclave::Enclave;
use umbra_primitives::{json::to_hex, serde_helpers::account_ss58, AccountId, H256};

/// What `GET /info` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoJson {
    /// Identity key.
    #[serde(with = "account_ss58")]
    pub identity: AccountId,
    /// ECDH key, hex.
    pub ecdh: String,
    /// Measurement, hex.
    pub measurement: String,
    /// Platform.
    pub platform: umbra_tee::AttestationType,
    /// Whether the platform is insecure (simulated).
    pub insecure: bool,
    /// Last block the enclave accepted.
    pub synced_number: u64,
    /// Its hash.
    pub synced_hash: H256,
    /// Whether the enclave has seen its registration on chain.
    pub registered: bool,
    /// Egress waiting for the chain.
    pub pending_egress: usize,
    /// Benchmark score.
    pub benchmark_score: u64,
    /// The operator account.
    #[serde(with = "account_ss58")]
    pub operator: AccountId,
    /// The chain's genesis hash.
    pub genesis_hash: H256,
}

/// Shared state of the server.
#[derive(Debug)]
pub struct ServerState {
    /// The enclave.
    pub enclave: Arc<Mutex<Enclave>>,
    /// The operator account.
    pub operator: AccountId,
    /// Where answered queries' sealed replay records go before their answers leave (none: kept
    /// only until the next checkpoint, as in benchmarks).
    pub query_journal: Option<crate::files::QueryJournal>,
}

async fn info(State(s): State<Arc<ServerState>>) -> Json<InfoJson> {
    let e = s.enclave.lock().expect("enclave lock");
    let i = e.info();
    Json(InfoJson {
        identity: i.identity,
        ecdh: to_hex(&i.ecdh.0),
        measurement: to_hex(&i.measurement),
        platform: i.platform,
        insecure: i.insecure,
        synced_number: i.synced_number,
        synced_hash: i.synced_hash,
        registered: i.registered,
        pending_egress: i.pending_egress,
        benchmark_score: i.benchmark_score,
        operator: s.operator,
        genesis_hash: e.genesis_hash(),
    })
}

async fn query(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    let result = {
        let mut e = s.enclave.lock().expect("enclave lock");
        let result = e.handle_query(&body);
        // The replay record is stored before the answer leaves, so a crash and restart cannot
        // forget that this query was answered.
        let records = e.take_query_journal();
        match (&s.query_journal, records.is_empty()) {
            (Some(journal), false) => match journal.append(&records) {
                Ok(()) => result,
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "cannot store a query's replay record; not answering");
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "cannot store the query's replay record",
                    )
                        .into_response();
                }
            },
            _ => result,
        }
    };
    match result {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/octet-stream")], reply).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// The router.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new().route("/info", get(info)).route("/query", post(query)).with_state(state)
}

/// Binds `addr` and serves the endpoints in the background; returns the bound address.
pub async fn spawn(
    addr: std::net::SocketAddr,
    state: Arc<ServerState>,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Ok((bound, handle))
}
