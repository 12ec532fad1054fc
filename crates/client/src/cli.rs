//! The client commands of `umbra`: keys, transfers, accounts, chain head.
//!
//! Each command prints its result to stdout and returns an error (one line, non-zero exit in the
//! binary) when anything is wrong.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use umbra_primitives::{format_amount, json::to_hex, parse_amount, AccountId, Pair};
use umbra_runtime::{balances, Call};

use crate::{sdk::Inclusion, Client};

/// Default node address.
pub const DEFAULT_RPC: &str = "ws://127.0.0.1:9944";

/// Where the node is.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// Node RPC URL (ws:// or http://).
    #[arg(long, env = "UMBRA_RPC", default_value = DEFAULT_RPC)]
    pub rpc: String,
}

impl RpcArgs {
    /// Connects to the node.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.rpc).await?)
    }
}

/// `umbra key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generates a new sr25519 key from a fresh BIP-39 mnemonic.
    Generate,
    /// Shows the public key and address of a secret URI (`//Alice`, a mnemonic, `0x<seed>`,
    /// with `//hard` / `/soft` junctions and `///password`), or of an SS58 address.
    Inspect {
        /// The secret URI or address.
        uri: String,
    },
}

/// `umbra transfer ...`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Secret URI of the sender.
    #[arg(long)]
    pub from: String,
    /// SS58 address of the recipient.
    #[arg(long)]
    pub to: String,
    /// Amount in UMB, e.g. 1.5 (12 decimals).
    #[arg(long)]
    pub amount: String,
    /// Tip in UMB for priority.
    #[arg(long, default_value = "0")]
    pub tip: String,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// `umbra chain ...`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Shows the best block header, after checking its hash.
    Head {
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Parses a secret URI into a key pair, with a clear error.
pub fn pair_from_uri(uri: &str) -> anyhow::Result<Pair> {
    Pair::from_suri(uri).with_context(|| format!("invalid secret URI `{uri}`"))
}

/// Parses an SS58 (or 0x-hex) address, with a clear error.
pub fn parse_address(text: &str) -> anyhow::Result<AccountId> {
    text.parse::<AccountId>().map_err(|e| anyhow::anyhow!("invalid address `{text}`: {e}"))
}

fn print_public(public: &AccountId) {
    println!("Public key (hex):  {}", to_hex(public.as_bytes()));
    println!("Account ID:        {}", to_hex(public.as_bytes()));
    println!("SS58 Address:      {}", public.to_ss58());
}

/// Runs `umbra key ...`.
pub fn key(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Generate => {
            let (pair, phrase) = Pair::generate();
            println!("Secret phrase:     {phrase}");
            print_public(&pair.public());
        }
        KeyCommand::Inspect { uri } => match Pair::from_suri(&uri) {
            Ok(pair) => {
                println!("Secret Key URI `{uri}` is account:");
                print_public(&pair.public());
            }
            Err(uri_err) => match uri.parse::<AccountId>() {
                Ok(public) => {
                    println!("Public Key `{uri}` is account:");
                    print_public(&public);
                }
                Err(_) => bail!("invalid secret URI or address `{uri}`: {uri_err}"),
            },
        },
    }
    Ok(())
}

/// Formats one event JSON (`{"Module": {"Name": {fields}}}`) as `Module.Name {fields}`.
pub fn format_event(event: &Value) -> String {
    if let Some((module, inner)) = event.as_object().and_then(|o| o.iter().next()) {
        if let Some((name, fields)) = inner.as_object().and_then(|o| o.iter().next()) {
            return format!("{module}.{name} {fields}");
        }
        return format!("{module}.{inner}");
    }
    event.to_string()
}

fn print_inclusion(inc: &Inclusion) {
    println!("included in block #{} ({}) at index {}", inc.block_number, inc.block_hash, inc.index);
    println!("events:");
    for e in &inc.events {
        println!("  {}", format_event(e));
    }
}

/// The error a failed call reported in its events, as `module::Error`.
pub fn failure_reason(inc: &Inclusion) -> Option<String> {
    inc.events.iter().find_map(|e| {
        let err = e.get("System")?.get("ExtrinsicFailed")?.get("error")?;
        Some(format!("{}::{}", err["module"].as_str()?, err["error"].as_str()?))
    })
}

/// Runs `umbra transfer ...`: signs, submits, waits for inclusion, prints the block and events.
pub async fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let from = pair_from_uri(&args.from)?;
    let to = parse_address(&args.to)?;
    let amount = parse_amount(&args.amount).context("invalid --amount")?;
    let tip = parse_amount(&args.tip).context("invalid --tip")?;
    let client = args.rpc.connect().await?;
    println!("transfer {} from {} to {}", format_amount(amount), from.public(), to);
    let call = Call::Balances(balances::Call::Transfer { dest: to, amount });
    let inc = client.sign_and_watch(&from, call, tip).await?;
    print_inclusion(&inc);
    if !inc.success {
        bail!("transfer failed: {}", failure_reason(&inc).unwrap_or_else(|| "unknown error".into()));
    }
    Ok(())
}

/// Runs `umbra account ADDRESS`.
pub async fn account(address: &str, rpc: &RpcArgs) -> anyhow::Result<()> {
    let who = parse_address(address)?;
    let client = rpc.connect().await?;
    let info = client.account(&who).await?;
    println!("address:  {who}");
    println!("free:     {}", format_amount(info.free));
    println!("reserved: {}", format_amount(info.reserved));
    println!("nonce:    {}", info.nonce);
    Ok(())
}

/// Runs `umbra chain ...`.
pub async fn chain(cmd: ChainCommand) -> anyhow::Result<()> {
    match cmd {
        ChainCommand::Head { rpc } => {
            let client = rpc.connect().await?;
            let h = client.head().await?;
            println!("chain:           {}", client.chain_name().await?);
            println!("number:          {}", h.number);
            println!("hash:            {}", h.hash());
            println!("parent:          {}", h.parent_hash);
            println!("state root:      {}", h.state_root);
            println!("extrinsics root: {}", h.extrinsics_root);
            println!("events root:     {}", h.events_root);
            println!("timestamp:       {}", h.timestamp);
            println!("author:          {}", h.author);
            if h.number > 0 {
                match h.verify_seal(&[h.author]) {
                    Ok(r) => println!("randomness:      {} (VRF and seal verified)", to_hex(&r)),
                    Err(e) => bail!("head block fails verification: {e}"),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_print_as_module_dot_name() {
        let e = json!({"Balances": {"Transfer": {"amount": "5"}}});
        assert_eq!(format_event(&e), "Balances.Transfer {\"amount\":\"5\"}");
    }

    #[test]
    fn bad_uri_and_address_give_clear_errors() {
        assert!(format!("{:#}", pair_from_uri("not a valid phrase").unwrap_err()).contains("invalid secret URI"));
        assert!(format!("{:#}", parse_address("5Grw").unwrap_err()).contains("invalid address `5Grw`"));
    }
}

/// `umbra worker info|query|ping ...`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Shows a worker's public info (GET URL/info; as the host reports it).
    Info {
        /// The worker's query endpoint, e.g. http://127.0.0.1:8100.
        url: String,
    },
    /// Sends an encrypted, signed status query (or an echo) and checks the reply's signature
    /// against the identity the chain's registry holds for that worker.
    Query {
        /// The worker's query endpoint.
        url: String,
        /// Secret URI the query is signed with.
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// Ask the worker to echo this text instead of reporting its status.
        #[arg(long)]
        echo: Option<String>,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Sends a ping to a worker through the chain's message queue and waits for the pong its
    /// enclave sends back through the chain.
    Ping {
        /// The worker's identity (SS58).
        identity: String,
        /// Secret URI paying for the ping.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Seconds to wait for the pong.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Runs `umbra workers`: the registry, from the chain.
pub async fn workers(rpc: &RpcArgs) -> anyhow::Result<()> {
    let client = rpc.connect().await?;
    let list = client.workers().await?;
    println!("{} registered worker(s)", list.len());
    for w in list {
        println!(
            "{}  operator {}  platform {}{}  score {}  registered at #{}  measurement {}",
            w["identity"].as_str().unwrap_or("?"),
            w["operator"].as_str().unwrap_or("?"),
            w["platform"].as_str().unwrap_or("?"),
            if w["insecure"].as_bool() == Some(true) { " (INSECURE)" } else { "" },
            w["benchmarkScore"],
            w["registeredAt"],
            w["measurement"].as_str().unwrap_or("?"),
        );
    }
    Ok(())
}

/// Runs `umbra worker ...`.
pub async fn worker(cmd: WorkerCommand) -> anyhow::Result<()> {
    use parity_scale_codec::{Decode, Encode};
    use umbra_primitives::query::{WorkerQuery, WorkerStatus};
    match cmd {
        WorkerCommand::Info { url } => {
            let info = crate::worker::info(&url).await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
        WorkerCommand::Query { url, signer, echo, rpc } => {
            let signer = pair_from_uri(&signer)?;
            let claimed = crate::worker::info(&url).await?;
            let identity = parse_address(claimed["identity"].as_str().unwrap_or_default())?;
            let chain = rpc.connect().await?;
            let keys = crate::worker::registered_keys(&chain, &identity).await?;
            let body = match &echo {
                Some(t) => WorkerQuery::Echo(t.as_bytes().to_vec()),
                None => WorkerQuery::Status,
            };
            let answer = crate::worker::query(&url, &keys, &signer, body.encode()).await?;
            println!("reply signed by registered worker {identity} (checked against the chain)");
            match echo {
                Some(_) => println!("echo: {}", String::from_utf8_lossy(&answer)),
                None => {
                    let s = WorkerStatus::decode(&mut &answer[..]).context("malformed status reply")?;
                    println!("synced block:  #{} ({})", s.synced_number, s.synced_hash);
                    println!("registered:    {}", s.registered);
                    println!("asked by:      {}", s.asked_by);
                }
            }
        }
        WorkerCommand::Ping { identity, from, timeout, rpc } => ping(&identity, &from, timeout, &rpc).await?,
    }
    Ok(())
}

async fn ping(identity: &str, from: &str, timeout: u64, rpc: &RpcArgs) -> anyhow::Result<()> {
    use umbra_primitives::{mq::topics, H256};
    let identity = parse_address(identity)?;
    let from = pair_from_uri(from)?;
    let client = rpc.connect().await?;
    let mut payload = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut payload);
    let call = Call::Mq(umbra_runtime::mq::Call::PushMessage { topic: topics::ping_topic(&identity), payload: payload.to_vec() });
    let sent = client.sign_and_watch(&from, call, 0).await?;
    println!("ping sent in block #{}", sent.block_number);
    let ping_hash = H256::hash(&payload);
    let want_sender = identity.to_ss58();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut next = sent.block_number + 1;
    while std::time::Instant::now() < deadline {
        let head = client.head().await?.number;
        while next <= head {
            let hash: Option<umbra_primitives::H256> = client.call("chain_getBlockHash", jsonrpsee::rpc_params![next]).await?;
            let Some(hash) = hash else { break };
            for r in client.events(hash).await? {
                let Some(m) = r["event"]["Mq"].get("InboundMessage") else { continue };
                if m["sender"]["Worker"].as_str() != Some(&want_sender) {
                    continue;
                }
                let payload = umbra_primitives::json::from_hex(m["payload"].as_str().unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!(e))?;
                if let Ok(pong) = <umbra_primitives::mq::Pong as parity_scale_codec::Decode>::decode(&mut &payload[..]) {
                    if pong.ping_hash == ping_hash {
                        println!(
                            "pong from {identity} accepted in block #{next} (its enclave saw the ping in block #{})",
                            pong.block
                        );
                        return Ok(());
                    }
                }
            }
            next += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    bail!("no pong from {identity} within {timeout} s")
}
