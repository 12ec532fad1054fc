//! `umbra contract ...` and `umbra gatekeeper ...`: deploy confidential contracts, send them
//! encrypted commands, query them through an assigned worker, and manage gatekeepers.

use std::time::{Duration, Instant};

use crate::sdk::{ContractInfo, UmbraApiClient};
use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use umbra_contracts::{
    analytics::{AnalyticsQuery, AnalyticsResponse},
    guestbook::{GuestbookCommand, GuestbookQuery, GuestbookResponse},
    ContractId, ContractKind,
};
use umbra_crypto::EcdhPublic;
use umbra_primitives::query::WorkerQuery;
use umbra_runtime::{contracts, gatekeeper, Call};

use crate::{
    cli::{failure_reason, format_event, pair_from_uri, parse_address, RpcArgs},
    Client,
};

/// `umbra contract ...`
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Deploys a built-in contract, waits for its key, and sends its (encrypted) init command.
    Deploy {
        /// Kind: guestbook.
        #[arg(long, default_value = "guestbook")]
        kind: String,
        /// Deployer's secret URI.
        #[arg(long)]
        from: String,
        /// Salt making the id unique (random by default).
        #[arg(long)]
        salt: Option<String>,
        /// Init command as JSON, e.g. '{"Init":{"title":"hello"}}'.
        #[arg(long)]
        init: Option<String>,
        /// Matching worker reports needed to apply a result, 1..=K (default: a majority of K).
        #[arg(long)]
        quorum: Option<u32>,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Resumes a contract paused after its workers diverged (council).
    Resume {
        /// Contract id.
        id: String,
        /// Council key.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Sends an encrypted command (JSON of the contract's command type) and waits for its result.
    Command {
        /// Contract id.
        id: String,
        /// Sender's secret URI (the command's origin).
        #[arg(long)]
        from: String,
        /// The command, e.g. '{"Post":{"text":"hi"}}'.
        #[arg(long)]
        json: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Queries a contract through a worker assigned to it (signed, encrypted, reply checked).
    Query {
        /// Contract id.
        id: String,
        /// The worker's query endpoint.
        #[arg(long)]
        worker: String,
        /// Secret URI the query is signed with.
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// The query, e.g. '"Info"' or '{"Posts":{"from":0,"limit":10}}'.
        #[arg(long)]
        json: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Shows a contract's on-chain record (key, log, assignment, checkpoint).
    Info {
        /// Contract id.
        id: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// `umbra gatekeeper ...`
#[derive(Debug, Subcommand)]
pub enum GatekeeperCommand {
    /// Elects a registered worker as gatekeeper (council).
    Elect {
        /// The worker's identity.
        worker: String,
        /// Council key.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Rotates the master key (council).
    Rotate {
        /// Council key.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Lists gatekeepers and master public keys.
    List {
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

fn parse_kind(s: &str) -> anyhow::Result<ContractKind> {
    match s {
        "guestbook" => Ok(ContractKind::Guestbook),
        other => bail!("unknown contract kind `{other}` (built in: guestbook)"),
    }
}

fn encode_command(kind: ContractKind, json: &str) -> anyhow::Result<Vec<u8>> {
    match kind {
        ContractKind::Guestbook => {
            let c: GuestbookCommand =
                serde_json::from_str(json).context("invalid guestbook command JSON")?;
            Ok(c.encode())
        }
        ContractKind::Evm => bail!("EVM clusters take EVM commands: use `umbra evm`"),
        ContractKind::Analytics => bail!("analytics sites take commands from `umbra analytics`"),
    }
}

fn encode_query(kind: ContractKind, json: &str) -> anyhow::Result<Vec<u8>> {
    match kind {
        ContractKind::Guestbook => {
            let q: GuestbookQuery =
                serde_json::from_str(json).context("invalid guestbook query JSON")?;
            Ok(q.encode())
        }
        ContractKind::Evm => bail!("EVM clusters take EVM queries: use `umbra evm`"),
        ContractKind::Analytics => {
            let q: AnalyticsQuery =
                serde_json::from_str(json).context("invalid analytics query JSON")?;
            Ok(q.encode())
        }
    }
}

fn decode_response(kind: ContractKind, bytes: &[u8]) -> anyhow::Result<Value> {
    match kind {
        ContractKind::Guestbook => {
            let r = GuestbookResponse::decode(&mut &bytes[..])
                .context("malformed guestbook response")?;
            Ok(serde_json::to_value(r)?)
        }
        ContractKind::Evm => bail!("EVM responses are decoded by `umbra evm`"),
        ContractKind::Analytics => {
            let r = AnalyticsResponse::decode(&mut &bytes[..])
                .context("malformed analytics response")?;
            Ok(serde_json::to_value(r)?)
        }
    }
}

/// A contract's on-chain record.
pub async fn contract_record(client: &Client, id: &ContractId) -> anyhow::Result<ContractInfo> {
    let v = client.api().umbra_contract(*id).await?;
    v.ok_or_else(|| anyhow!("no contract {id} on chain"))
}

/// A contract's on-chain record in its JSON form (for callers that read fields by name; prefer
/// [`contract_record`]).
pub async fn contract_info(client: &Client, id: &ContractId) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(contract_record(client, id).await?)?)
}

fn ss58_json(accounts: &[umbra_primitives::AccountId]) -> String {
    let list: Vec<String> = accounts.iter().map(|a| a.to_ss58()).collect();
    serde_json::to_string(&list).unwrap_or_default()
}

/// Seals `command` to the contract's published key (bound to `from` as origin) in a session
/// envelope — from `from`'s session key for this contract key
/// ([`umbra_contracts::session_secret`] of the account secret), so the enclave opens the
/// account's commands without a key agreement once it has seen the session key — pushes it
/// with `value` and `gas_limit` (prepaying `gas_limit × gas price`), and returns the inclusion
/// and the command's sequence number in the log.
pub async fn push_sealed(
    client: &Client,
    from: &umbra_primitives::Pair,
    id: &ContractId,
    command: &[u8],
    value: umbra_primitives::Balance,
    gas_limit: u64,
) -> anyhow::Result<(crate::sdk::Inclusion, u64)> {
    let info = contract_record(client, id).await?;
    let key = info.pubkey.context("contract key not published yet")?;
    let contract_key = EcdhPublic(key);
    let account_secret = zeroize::Zeroizing::new(from.to_secret_bytes());
    let session = umbra_contracts::session_secret(account_secret.as_slice(), id, &contract_key);
    let sealed = umbra_contracts::seal_session_command(
        &session,
        &contract_key,
        id,
        &from.public(),
        command,
    )?;
    let push = contracts::Call::PushCommand { contract: *id, command: sealed, value, gas_limit };
    let inc = client.sign_and_watch(from, Call::Contracts(push), 0).await?;
    if !inc.success {
        bail!("command refused: {}", failure_reason(&inc).unwrap_or_default());
    }
    let seq = inc
        .events
        .iter()
        .find_map(|e| e["Contracts"]["CommandPushed"]["seq"].as_u64())
        .context("no CommandPushed event")?;
    Ok((inc, seq))
}

/// Seals `command` to the contract's published key, pushes it, and waits until a worker reports
/// its result; returns the result events.
pub async fn send_command(
    client: &Client,
    from: &umbra_primitives::Pair,
    id: &ContractId,
    command: &[u8],
) -> anyhow::Result<(u64, Vec<Value>)> {
    // Built-in kinds use the fixed gas schedule of the plaintext command's length.
    let gas_limit = umbra_contracts::gas::fixed_gas(command.len());
    let (inc, seq) = push_sealed(client, from, id, command, 0, gas_limit).await?;
    // Wait for a worker's result, then collect the events of that command.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut block = inc.block_number;
    let mut events = Vec::new();
    loop {
        let head = client.head().await?.number;
        while block <= head {
            let hash = client.block_hash(block).await?;
            if let Some(hash) = hash {
                for r in client.events(hash).await? {
                    let e = &r["event"]["Contracts"];
                    let Some((_, body)) = e.as_object().and_then(|o| o.iter().next()) else {
                        continue;
                    };
                    if body["id"] == serde_json::json!(id) && body["seq"].as_u64() == Some(seq) {
                        events.push(r["event"].clone());
                    }
                }
            }
            block += 1;
        }
        if events.iter().any(|e| {
            e["Contracts"].get("CommandExecuted").is_some()
                || e["Contracts"].get("CommandFailed").is_some()
        }) {
            return Ok((seq, events));
        }
        if let Some(reason) =
            events.iter().find_map(|e| e["Contracts"]["Paused"]["reason"].as_str())
        {
            bail!("the contract paused on command #{seq}: {reason}");
        }
        if Instant::now() > deadline {
            bail!("no worker reported the result of command #{seq} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runs `umbra contract ...`.
pub async fn contract(cmd: ContractCommand) -> anyhow::Result<()> {
    match cmd {
        ContractCommand::Deploy { kind, from, salt, init, quorum, rpc } => {
            let kind = parse_kind(&kind)?;
            let from = pair_from_uri(&from)?;
            let client = rpc.connect().await?;
            let salt = match salt {
                Some(s) => s.into_bytes(),
                None => umbra_crypto::blake2_256(
                    &std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_nanos()
                        .to_le_bytes(),
                )[..16]
                    .to_vec(),
            };
            let inc = client
                .sign_and_watch(
                    &from,
                    Call::Contracts(contracts::Call::Deploy { kind, salt, quorum }),
                    0,
                )
                .await?;
            if !inc.success {
                bail!("deploy refused: {}", failure_reason(&inc).unwrap_or_default());
            }
            let id: ContractId = inc
                .events
                .iter()
                .find_map(|e| serde_json::from_value(e["Contracts"]["Deployed"]["id"].clone()).ok())
                .context("no Deployed event")?;
            println!("contract {id} deployed in block #{}", inc.block_number);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let info = contract_record(&client, &id).await?;
                if info.pubkey.is_some() {
                    println!(
                        "key published by the gatekeeper; assigned to {}",
                        ss58_json(&info.assigned)
                    );
                    break;
                }
                if Instant::now() > deadline {
                    bail!("no gatekeeper published the contract key within 60 s (is a gatekeeper elected?)");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if let Some(json) = init {
                let (seq, events) =
                    send_command(&client, &from, &id, &encode_command(kind, &json)?).await?;
                println!("init command #{seq}:");
                for e in events {
                    println!("  {}", format_event(&e));
                }
            }
        }
        ContractCommand::Command { id, from, json, rpc } => {
            let id: ContractId = id.parse().map_err(|e| anyhow!("invalid contract id: {e}"))?;
            let from = pair_from_uri(&from)?;
            let client = rpc.connect().await?;
            let kind = contract_record(&client, &id).await?.kind;
            let (seq, events) =
                send_command(&client, &from, &id, &encode_command(kind, &json)?).await?;
            println!("command #{seq}:");
            for e in &events {
                println!("  {}", format_event(e));
            }
            if let Some(reason) =
                events.iter().find_map(|e| e["Contracts"]["CommandFailed"]["reason"].as_str())
            {
                bail!("command failed: {reason}");
            }
        }
        ContractCommand::Query { id, worker, signer, json, rpc } => {
            let id: ContractId = id.parse().map_err(|e| anyhow!("invalid contract id: {e}"))?;
            let signer = pair_from_uri(&signer)?;
            let client = rpc.connect().await?;
            let info = contract_record(&client, &id).await?;
            let kind = info.kind;
            let claimed = crate::worker::info(&worker).await?;
            let identity = parse_address(claimed["identity"].as_str().unwrap_or_default())?;
            if !info.assigned.contains(&identity) {
                let assigned: Vec<String> = info.assigned.iter().map(|a| a.to_ss58()).collect();
                bail!(
                    "worker {identity} is not assigned to contract {id} (assigned: {})",
                    assigned.join(", ")
                );
            }
            let keys = crate::worker::registered_keys(&client, &identity).await?;
            let body = WorkerQuery::Contract { id, query: encode_query(kind, &json)? }.encode();
            let answer = crate::worker::query(&worker, &keys, &signer, body).await?;
            println!("{}", serde_json::to_string_pretty(&decode_response(kind, &answer)?)?);
        }
        ContractCommand::Resume { id, from, rpc } => {
            let id: ContractId = id.parse().map_err(|e| anyhow!("invalid contract id: {e}"))?;
            let from = pair_from_uri(&from)?;
            let client = rpc.connect().await?;
            let call = Call::Contracts(contracts::Call::Resume { contract: id });
            crate::cli::sign_and_report(&client, &from, call, 0, "resume").await?;
        }
        ContractCommand::Info { id, rpc } => {
            let id: ContractId = id.parse().map_err(|e| anyhow!("invalid contract id: {e}"))?;
            let client = rpc.connect().await?;
            println!("{}", serde_json::to_string_pretty(&contract_info(&client, &id).await?)?);
        }
    }
    Ok(())
}

/// Runs `umbra gatekeeper ...`.
pub async fn gatekeeper_cmd(cmd: GatekeeperCommand) -> anyhow::Result<()> {
    let (call, from, rpc, what) = match cmd {
        GatekeeperCommand::List { rpc } => {
            let client = rpc.connect().await?;
            let v = client.api().umbra_gatekeepers().await?;
            // Through a JSON value: keys print sorted, as they always have.
            println!("{}", serde_json::to_string_pretty(&serde_json::to_value(v)?)?);
            return Ok(());
        }
        GatekeeperCommand::Elect { worker, from, rpc } => (
            Call::Gatekeeper(gatekeeper::Call::Elect { worker: parse_address(&worker)? }),
            from,
            rpc,
            "election",
        ),
        GatekeeperCommand::Rotate { from, rpc } => {
            (Call::Gatekeeper(gatekeeper::Call::RotateMasterKey), from, rpc, "rotation")
        }
    };
    let from = pair_from_uri(&from)?;
    let client = rpc.connect().await?;
    crate::cli::sign_and_report(&client, &from, call, 0, what).await?;
    Ok(())
}
