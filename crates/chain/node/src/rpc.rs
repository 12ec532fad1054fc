//! JSON-RPC over HTTP and WebSocket on one port (jsonrpsee), with Substrate's method names where
//! they apply.
//!
//! | method | returns |
//! |---|---|
//! | `system_health`, `system_chain`, `system_properties`, `system_accountNextIndex(address)` | node and chain info |
//! | `chain_getHeader([hash])`, `chain_getBlock([hash])`, `chain_getBlockHash([number])`, `chain_getFinalizedHead` | blocks |
//! | `chain_subscribeNewHeads`, `chain_subscribeFinalizedHeads` | header notifications |
//! | `author_submitExtrinsic(hex)`, `author_submitAndWatchExtrinsic(hex)`, `author_pendingExtrinsics` | transactions |
//! | `umbra_account(address)`, `umbra_accounts([address])` (one consistent state), `umbra_events(hash)`, `umbra_parameters`, `umbra_chainSpec` | state queries |
//! | `umbra_workers`, `umbra_worker(identity)` | the worker registry |
//! | `umbra_workerSession(identity)`, `umbra_computation` | computing state, emission, counts |
//! | `umbra_pools`, `umbra_pool(id)`, `umbra_poolStake(id, address)` | stake pools, one pool with its queue and loan, an account's shares and pending rewards |
//! | `umbra_vault`, `umbra_vaultPosition(address)`, `umbra_loan(pool)` | the lending vault (state, parameters, share price), a lender's position, a pool's loan |
//! | `umbra_contract(id)`, `umbra_contracts`, `umbra_contractCommands(id, from, to)`, `umbra_gatekeepers` | contracts and gatekeepers |
//! | `umbra_putCheckpoint(id, seq, hex)`, `umbra_getCheckpoint(id, seq)` | the off-chain store of encrypted contract checkpoints (a blob is accepted only if its hash is the one the chain recorded) |
//! | `umbra_blockWithEvents(number)` | SCALE block and events, for a worker's enclave to verify |
//!
//! A refused transaction gets the runtime's stable error code (1001–1013) and a one-line message.

use std::{net::SocketAddr, sync::Arc};

use jsonrpsee::{
    server::{Server, ServerHandle},
    types::{ErrorObject, ErrorObjectOwned, Params},
    PendingSubscriptionSink, RpcModule, SubscriptionMessage,
};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use umbra_primitives::{
    json::{from_hex, to_hex, BlockJson, HeaderJson},
    AccountId, BlockNumber, H256,
};

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

fn parse_account(params: &Params<'_>) -> Result<AccountId, ErrorObjectOwned> {
    let (addr,): (String,) = params.parse()?;
    addr.parse::<AccountId>().map_err(|e| invalid_params(format!("invalid address `{addr}`: {e}")))
}

fn optional_hash(params: &Params<'_>) -> Result<Option<H256>, ErrorObjectOwned> {
    if params.is_object() {
        return Err(invalid_params("expected positional parameters"));
    }
    let mut seq = params.sequence();
    let hash: Option<String> = seq.optional_next()?;
    hash.map(|h| h.parse::<H256>().map_err(|e| invalid_params(e.to_string()))).transpose()
}

fn resolve(node: &Node, hash: Option<H256>) -> Result<Option<BlockNumber>, ErrorObjectOwned> {
    match hash {
        None => Ok(Some(node.head().number)),
        Some(h) => node.block_number(&h).map_err(internal),
    }
}

fn extrinsic_bytes(params: &Params<'_>) -> Result<Vec<u8>, ErrorObjectOwned> {
    let (hex,): (String,) = params.parse()?;
    from_hex(&hex)
        .map_err(|e| ErrorObject::owned(1001, format!("malformed extrinsic: {e}"), None::<()>))
}

/// Builds the RPC module over `node`.
pub fn module(node: Arc<Node>) -> anyhow::Result<RpcModule<Arc<Node>>> {
    let mut m = RpcModule::new(node);

    m.register_method(
        "system_health",
        |_, _, _| json!({ "peers": 0, "isSyncing": false, "shouldHavePeers": false }),
    )?;
    m.register_method("system_chain", |_, node, _| node.spec().name.clone())?;
    m.register_method("system_properties", |_, _, _| {
        json!({ "tokenSymbol": "UMB", "tokenDecimals": umbra_primitives::DECIMALS, "ss58Format": umbra_crypto::ss58::DEFAULT_PREFIX })
    })?;
    m.register_method("system_accountNextIndex", |params, node, _| {
        let who = parse_account(&params)?;
        node.next_nonce(&who).map_err(internal)
    })?;

    m.register_method(
        "chain_getHeader",
        |params, node, _| -> Result<Option<HeaderJson>, ErrorObjectOwned> {
            let Some(n) = resolve(node, optional_hash(&params)?)? else { return Ok(None) };
            Ok(node.block(n).map_err(internal)?.map(|b| HeaderJson::from(&b.header)))
        },
    )?;
    m.register_method(
        "chain_getBlock",
        |params, node, _| -> Result<Option<Value>, ErrorObjectOwned> {
            let Some(n) = resolve(node, optional_hash(&params)?)? else { return Ok(None) };
            Ok(node
                .block(n)
                .map_err(internal)?
                .map(|b| json!({ "block": BlockJson::from(&b), "justifications": null })))
        },
    )?;
    m.register_method(
        "chain_getBlockHash",
        |params, node, _| -> Result<Option<H256>, ErrorObjectOwned> {
            let mut seq = params.sequence();
            let number: Option<BlockNumber> = seq.optional_next()?;
            node.block_hash(number.unwrap_or_else(|| node.head().number)).map_err(internal)
        },
    )?;
    m.register_method("chain_getFinalizedHead", |_, node, _| {
        Ok::<_, ErrorObjectOwned>(node.head().hash())
    })?;

    for (sub, notif, unsub) in [
        ("chain_subscribeNewHeads", "chain_newHead", "chain_unsubscribeNewHeads"),
        ("chain_subscribeFinalizedHeads", "chain_finalizedHead", "chain_unsubscribeFinalizedHeads"),
    ] {
        m.register_subscription(
            sub,
            notif,
            unsub,
            |_, pending: PendingSubscriptionSink, node, _| async move {
                let mut rx = node.subscribe();
                let sink = pending.accept().await?;
                loop {
                    match rx.recv().await {
                        Ok(block) => {
                            let msg =
                                SubscriptionMessage::from_json(&HeaderJson::from(&block.header))?;
                            if sink.send(msg).await.is_err() {
                                return Ok(());
                            }
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return Ok(()),
                    }
                }
            },
        )?;
    }

    m.register_method("author_submitExtrinsic", |params, node, _| {
        let bytes = extrinsic_bytes(&params)?;
        node.submit(bytes).map_err(submit_error)
    })?;
    m.register_method("author_pendingExtrinsics", |_, node, _| {
        node.pending().iter().map(|b| to_hex(b)).collect::<Vec<_>>()
    })?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending: PendingSubscriptionSink, node, _| async move {
            let bytes = match extrinsic_bytes(&params) {
                Ok(b) => b,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            // Subscribe before submitting so the inclusion cannot be missed.
            let mut rx = node.subscribe();
            let hash = match node.submit(bytes) {
                Ok(h) => h,
                Err(e) => {
                    pending.reject(submit_error(e)).await;
                    return Ok(());
                }
            };
            let sink = pending.accept().await?;
            sink.send(SubscriptionMessage::from_json(&"ready")?).await?;
            loop {
                match rx.recv().await {
                    Ok(block) if block.included.contains(&hash) => {
                        let h = block.header.hash();
                        sink.send(SubscriptionMessage::from_json(&json!({ "inBlock": h }))?)
                            .await?;
                        sink.send(SubscriptionMessage::from_json(&json!({ "finalized": h }))?)
                            .await?;
                        return Ok(());
                    }
                    Ok(block) if block.dropped.contains(&hash) => {
                        sink.send(SubscriptionMessage::from_json(&"invalid")?).await?;
                        return Ok(());
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        },
    )?;

    m.register_method("umbra_account", |params, node, _| {
        let who = parse_account(&params)?;
        node.account(&who).map_err(internal)
    })?;
    m.register_method("umbra_accounts", |params, node, _| -> Result<Value, ErrorObjectOwned> {
        let (addrs,): (Vec<String>,) = params.parse()?;
        let who: Vec<AccountId> = addrs
            .iter()
            .map(|a| {
                a.parse::<AccountId>()
                    .map_err(|e| invalid_params(format!("invalid address `{a}`: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let (number, infos) = node
            .with_state(|st| {
                let number = umbra_runtime::system::NUMBER.get_or_default(st);
                (
                    number,
                    who.iter().map(|w| umbra_runtime::api::account_info(st, w)).collect::<Vec<_>>(),
                )
            })
            .map_err(internal)?;
        Ok(json!({ "block": number, "accounts": infos }))
    })?;
    m.register_method(
        "umbra_events",
        |params, node, _| -> Result<Option<Value>, ErrorObjectOwned> {
            let Some(n) = resolve(node, optional_hash(&params)?)? else { return Ok(None) };
            let events = node.events(n).map_err(internal)?;
            events.map(|e| serde_json::to_value(e).map_err(internal)).transpose()
        },
    )?;
    m.register_method("umbra_parameters", |_, node, _| node.parameters().map_err(internal))?;
    m.register_method("umbra_chainSpec", |_, node, _| -> Result<Value, ErrorObjectOwned> {
        serde_json::to_value(node.spec()).map_err(internal)
    })?;
    m.register_method("umbra_workers", |_, node, _| node.workers().map_err(internal))?;
    m.register_method("umbra_worker", |params, node, _| {
        let who = parse_account(&params)?;
        node.worker(&who).map_err(internal)
    })?;
    // ---- computation ----
    m.register_method("umbra_workerSession", |params, node, _| {
        let who = parse_account(&params)?;
        node.with_state(|st| umbra_runtime::computation::session(st, &who)).map_err(internal)
    })?;
    m.register_method("umbra_computation", |_, node, _| -> Result<Value, ErrorObjectOwned> {
        node.with_state(|st| {
            use umbra_runtime::{balances, computation as c};
            let (computing, unresponsive, cooling) = c::COUNTS.get_or_default(st);
            json!({
                "params": c::params(st),
                "emission": c::EMISSION.get_or_default(st),
                "onlineShares": c::ONLINE_SHARES.get_or_default(st).to_string(),
                "pot": balances::account(st, &c::pot_account()).free.to_string(),
                "treasury": balances::account(st, &balances::treasury_account()).free.to_string(),
                "computing": computing,
                "unresponsive": unresponsive,
                "coolingDown": cooling,
            })
        })
        .map_err(internal)
    })?;
    // ---- stake pools and vault ----
    m.register_method("umbra_pools", |_, node, _| node.pools().map_err(internal))?;
    m.register_method("umbra_pool", |params, node, _| {
        let (id,): (u64,) = params.parse()?;
        node.pool(id).map_err(internal)
    })?;
    m.register_method("umbra_poolStake", |params, node, _| {
        let (id, addr): (u64, String) = params.parse()?;
        let who = addr
            .parse::<AccountId>()
            .map_err(|e| invalid_params(format!("invalid address `{addr}`: {e}")))?;
        node.pool_stake(id, &who).map_err(internal)
    })?;
    m.register_method("umbra_vault", |_, node, _| node.vault().map_err(internal))?;
    m.register_method("umbra_vaultPosition", |params, node, _| {
        let who = parse_account(&params)?;
        node.vault_position(&who).map_err(internal)
    })?;
    m.register_method("umbra_loan", |params, node, _| {
        let (pool,): (u64,) = params.parse()?;
        node.loan(pool).map_err(internal)
    })?;
    // ---- end stake pools and vault ----
    // ---- contracts and gatekeepers ----
    m.register_method("umbra_contract", |params, node, _| {
        let (id,): (H256,) = params.parse()?;
        node.with_state(|st| umbra_runtime::contracts::contract(st, &id)).map_err(internal)
    })?;
    m.register_method("umbra_contracts", |_, node, _| -> Result<Value, ErrorObjectOwned> {
        node.with_state(|st| {
            use umbra_runtime::contracts as c;
            json!((0..c::contract_count(st))
                .filter_map(|i| c::CONTRACT_AT.get(st, &i))
                .filter_map(|id| c::contract(st, &id))
                .collect::<Vec<_>>())
        })
        .map_err(internal)
    })?;
    m.register_method(
        "umbra_contractCommands",
        |params, node, _| -> Result<String, ErrorObjectOwned> {
            let (id, from, to): (H256, u64, u64) = params.parse()?;
            if to < from || to - from > 1000 {
                return Err(invalid_params("at most 1000 commands per call"));
            }
            let records = node
                .with_state(|st| {
                    (from..to)
                        .map_while(|seq| {
                            umbra_runtime::contracts::COMMANDS.get(st, &(id, seq)).map(|r| (seq, r))
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(internal)?;
            Ok(to_hex(&parity_scale_codec::Encode::encode(&records)))
        },
    )?;
    // Off-chain checkpoint blobs: files `<id>-<seq>.bin` in `Node::checkpoint_dir`.
    m.register_method(
        "umbra_putCheckpoint",
        |params, node, _| -> Result<H256, ErrorObjectOwned> {
            let (id, seq, hex): (H256, u64, String) = params.parse()?;
            use umbra_runtime::contracts as c;
            let (record, max) = node
                .with_state(|st| (c::CHECKPOINTS.get(st, &(id, seq)), c::params(st)))
                .map_err(internal)?;
            let max = usize::try_from(max.max_checkpoint_bytes).unwrap_or(usize::MAX);
            if hex.len() / 2 > max.saturating_add(1) {
                return Err(invalid_params(format!("checkpoint larger than {max} bytes")));
            }
            let blob = from_hex(&hex).map_err(invalid_params)?;
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
        },
    )?;
    m.register_method(
        "umbra_getCheckpoint",
        |params, node, _| -> Result<Option<String>, ErrorObjectOwned> {
            let (id, seq): (H256, u64) = params.parse()?;
            let path = node.checkpoint_dir().join(format!("{id}-{seq}.bin"));
            match std::fs::read(path) {
                Ok(blob) => Ok(Some(to_hex(&blob))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(internal(e)),
            }
        },
    )?;
    m.register_method("umbra_gatekeepers", |_, node, _| -> Result<Value, ErrorObjectOwned> {
        node.with_state(|st| {
            use umbra_runtime::gatekeeper as g;
            let current = g::current_rotation(st);
            let keys: Vec<Value> = (0..=current.unwrap_or(0))
                .filter_map(|r| {
                    g::MASTER_KEYS.get(st, &r).map(|k| json!({ "rotation": r, "key": k }))
                })
                .collect();
            let holds: serde_json::Map<String, Value> = g::gatekeepers(st)
                .iter()
                .map(|w| (w.to_ss58(), json!(g::HOLDS.get(st, w))))
                .collect();
            json!({
                "gatekeepers": g::gatekeepers(st).iter().map(|w| w.to_ss58()).collect::<Vec<_>>(),
                "holds": holds,
                "currentRotation": current,
                "masterKeys": keys,
            })
        })
        .map_err(internal)
    })?;
    m.register_method(
        "umbra_blockWithEvents",
        |params, node, _| -> Result<Option<Value>, ErrorObjectOwned> {
            let (number,): (BlockNumber,) = params.parse()?;
            Ok(node
                .raw_block_with_events(number)
                .map_err(internal)?
                .map(|(b, e)| json!({ "block": to_hex(&b), "events": to_hex(&e) })))
        },
    )?;
    Ok(m)
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
    use umbra_primitives::{Block, Header, Pair};
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
