//! The client commands of `umbra`: keys, transfers, accounts, chain head.
//!
//! Each command prints its result to stdout and returns an error (one line, non-zero exit in the
//! binary) when anything is wrong.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use umbra_primitives::{format_amount, json::to_hex, parse_amount, AccountId, Balance, Pair};
use umbra_runtime::{balances, Call};

use crate::{
    sdk::{Inclusion, LoanInfo, PoolInfo, UmbraApiClient},
    Client,
};

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

fn dispatch_error(inc: &Inclusion) -> Option<&Value> {
    inc.events.iter().find_map(|e| e.get("System")?.get("ExtrinsicFailed")?.get("error"))
}

/// The error a failed call reported in its events, as `module::Error` (the name the node maps
/// the committed `(module, error)` indices to).
pub fn failure_reason(inc: &Inclusion) -> Option<String> {
    Some(dispatch_error(inc)?["name"].as_str()?.to_string())
}

/// The error a failed call reported, as its name and message, e.g. `registry::NotOperator
/// (registry: the signer must be the operator)`.
pub fn failure_message(inc: &Inclusion) -> Option<String> {
    let err = dispatch_error(inc)?;
    Some(format!("{} ({})", err["name"].as_str()?, err["message"].as_str()?))
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
    sign_and_report(&client, &from, call, tip, "transfer").await?;
    Ok(())
}

/// Signs `call`, waits for its block, prints the block and events, and fails with the call's
/// error (`<what> failed: module::Error (module: message)`) if it did not succeed.
pub async fn sign_and_report(
    client: &Client,
    signer: &Pair,
    call: Call,
    tip: Balance,
    what: &str,
) -> anyhow::Result<Inclusion> {
    let inc = client.sign_and_watch(signer, call, tip).await?;
    print_inclusion(&inc);
    if !inc.success {
        bail!("{what} failed: {}", failure_message(&inc).unwrap_or_else(|| "unknown error".into()));
    }
    Ok(inc)
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
                let authorities = client.authorities().await?;
                match crate::sdk::verify_header(&h, &authorities) {
                    Ok(r) => println!("randomness:      {} (VRF and seal verified)", to_hex(&r)),
                    Err(e) => {
                        println!("seal:            NOT verified");
                        bail!("head block is NOT verified against the chain's authority set: {e}")
                    }
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
        assert!(format!("{:#}", pair_from_uri("not a valid phrase").unwrap_err())
            .contains("invalid secret URI"));
        assert!(
            format!("{:#}", parse_address("5Grw").unwrap_err()).contains("invalid address `5Grw`")
        );
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
    let list = client.registered_workers().await?;
    println!("{} registered worker(s)", list.len());
    for w in list {
        println!(
            "{}  operator {}  platform {:?}{}  score {}  registered at #{}  measurement {}",
            w.identity,
            w.operator,
            w.platform,
            if w.insecure { " (INSECURE)" } else { "" },
            w.benchmark_score,
            w.registered_at,
            to_hex(&w.measurement),
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
                    let s =
                        WorkerStatus::decode(&mut &answer[..]).context("malformed status reply")?;
                    println!("synced block:  #{} ({})", s.synced_number, s.synced_hash);
                    println!("registered:    {}", s.registered);
                    println!("asked by:      {}", s.asked_by);
                }
            }
        }
        WorkerCommand::Ping { identity, from, timeout, rpc } => {
            ping(&identity, &from, timeout, &rpc).await?
        }
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
    let call = Call::Mq(umbra_runtime::mq::Call::PushMessage {
        topic: topics::ping_topic(&identity),
        payload: payload.to_vec(),
    });
    let sent = client.sign_and_watch(&from, call, 0).await?;
    println!("ping sent in block #{}", sent.block_number);
    let ping_hash = H256::hash(&payload);
    let want_sender = identity.to_ss58();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut next = sent.block_number + 1;
    while std::time::Instant::now() < deadline {
        let head = client.head().await?.number;
        while next <= head {
            let hash = client.block_hash(next).await?;
            let Some(hash) = hash else { break };
            for r in client.events(hash).await? {
                let Some(m) = r["event"]["Mq"].get("InboundMessage") else { continue };
                if m["sender"]["Worker"].as_str() != Some(&want_sender) {
                    continue;
                }
                let payload =
                    umbra_primitives::json::from_hex(m["payload"].as_str().unwrap_or_default())
                        .map_err(|e| anyhow::anyhow!(e))?;
                if let Ok(pong) = <umbra_primitives::mq::Pong as parity_scale_codec::Decode>::decode(
                    &mut &payload[..],
                ) {
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

// ---- stake pools and vault ----

/// Who signs a transaction, with what tip, through which node.
#[derive(Debug, Clone, Args)]
pub struct TxArgs {
    /// Secret URI of the signer.
    #[arg(long)]
    pub from: String,
    /// Tip in UMB for priority.
    #[arg(long, default_value = "0")]
    pub tip: String,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// `umbra pool ...`
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Creates a stake pool owned by the signer and prints its id.
    Create {
        /// The owner's cut of contributors' rewards: `10%`, `0.1`, or `100000ppm`.
        #[arg(long)]
        commission: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Changes a pool's commission (owner).
    SetCommission {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// New commission: `10%`, `0.1`, or `100000ppm`.
        #[arg(long)]
        commission: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Binds a registered worker to the pool (owner, who must be the worker's operator).
    AddWorker {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// The worker's identity (SS58).
        #[arg(long)]
        worker: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Unbinds a worker that is neither computing nor cooling down (owner).
    RemoveWorker {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// The worker's identity (SS58).
        #[arg(long)]
        worker: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Starts a worker computing with some of the pool's free stake (owner).
    Start {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// The worker's identity (SS58).
        #[arg(long)]
        worker: String,
        /// Stake to lock, in UMB.
        #[arg(long)]
        stake: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Stops a worker; its stake is free again after the cool-down (owner).
    Stop {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// The worker's identity (SS58).
        #[arg(long)]
        worker: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Adds stake to a pool from the signer's balance.
    Contribute {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// Amount in UMB.
        #[arg(long)]
        amount: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Withdraws stake: paid now from free stake, the rest queued until stake frees.
    Withdraw {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// Amount in UMB, or `all`.
        #[arg(long)]
        amount: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Pays the signer's pending rewards (and the owner's commission).
    Claim {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Shows a pool (workers, stake, queue, loan) and, with --address, an account's position.
    Info {
        /// Pool id.
        id: u64,
        /// Also show this account's shares and pending rewards.
        #[arg(long)]
        address: Option<String>,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Lists all pools.
    List {
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// `umbra vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Lends UMB to the vault for shares at the current share price.
    Deposit {
        /// Amount in UMB.
        #[arg(long)]
        amount: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Burns vault shares for their value, paid from the vault's cash.
    Withdraw {
        /// Shares (12 decimals like UMB), or `all`.
        #[arg(long)]
        shares: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Borrows UMB as stake for a pool you own (repaid from its rewards).
    Borrow {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// Amount in UMB.
        #[arg(long)]
        amount: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Repays a pool's loan from your balance: interest first, then principal.
    Repay {
        /// Pool id.
        #[arg(long)]
        pool: u64,
        /// Most to pay, in UMB, or `all`.
        #[arg(long)]
        amount: String,
        /// Signer, tip and node.
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Shows the vault and, with --address, a lender's position, with --pool, a pool's loan.
    Info {
        /// Also show this account's shares and their value.
        #[arg(long)]
        address: Option<String>,
        /// Also show this pool's loan.
        #[arg(long)]
        pool: Option<u64>,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Parses a commission as parts per million: `10%`, `2.5%`, `0.1` (a fraction of 1), or
/// `100000ppm`. At most 100%.
pub fn parse_commission(text: &str) -> anyhow::Result<u32> {
    let t = text.trim();
    let bad = || {
        anyhow::anyhow!("invalid commission `{text}`: use a percentage (10%), a fraction (0.1) or ppm (100000ppm)")
    };
    let (number, decimals) = if let Some(p) = t.strip_suffix('%') {
        (p.trim(), 4)
    } else if let Some(p) = t.strip_suffix("ppm") {
        (p.trim(), 0)
    } else {
        (t, 6)
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    if frac.len() > decimals {
        bail!("invalid commission `{text}`: too many decimals (the unit is 1 ppm = 0.0001%)");
    }
    let scale = 10u64.pow(decimals as u32);
    let int: u64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<decimals$}").parse().map_err(|_| bad())?
    };
    let ppm = int.checked_mul(scale).and_then(|v| v.checked_add(frac)).ok_or_else(bad)?;
    if ppm > 1_000_000 {
        bail!("invalid commission `{text}`: at most 100%");
    }
    Ok(ppm as u32)
}

/// `ppm` as a percentage, e.g. `12.5%`.
pub fn format_commission(ppm: u64) -> String {
    let int = ppm / 10_000;
    let frac = ppm % 10_000;
    if frac == 0 {
        format!("{int}%")
    } else {
        format!("{int}.{}%", format!("{frac:04}").trim_end_matches('0'))
    }
}

fn parse_umb(text: &str, what: &str) -> anyhow::Result<umbra_primitives::Balance> {
    parse_amount(text).with_context(|| format!("invalid {what}"))
}

/// A balance field of an RPC answer (decimal string) formatted in UMB.
fn umb(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map(format_amount)
        .unwrap_or_else(|| v.to_string())
}

/// Signs `call`, waits for its block, prints the block and events; fails with the call's error.
async fn submit_call(tx: &TxArgs, what: &str, call: Call) -> anyhow::Result<Inclusion> {
    let signer = pair_from_uri(&tx.from).context("invalid --from")?;
    let tip = parse_umb(&tx.tip, "--tip")?;
    let client = tx.rpc.connect().await?;
    sign_and_report(&client, &signer, call, tip, what).await
}

fn event_field<'a>(inc: &'a Inclusion, module: &str, name: &str) -> Option<&'a Value> {
    inc.events.iter().find_map(|e| e.get(module)?.get(name))
}

/// Runs `umbra pool ...`.
pub async fn pool(cmd: PoolCommand) -> anyhow::Result<()> {
    use umbra_runtime::stake_pools::Call as P;
    let pools = |c: P| Call::StakePools(c);
    match cmd {
        PoolCommand::Create { commission, tx } => {
            let commission = parse_commission(&commission)?;
            let inc = submit_call(&tx, "pool create", pools(P::Create { commission })).await?;
            if let Some(id) = event_field(&inc, "StakePools", "PoolCreated").map(|e| &e["pool"]) {
                println!("pool id: {id}");
            }
        }
        PoolCommand::SetCommission { pool, commission, tx } => {
            let commission = parse_commission(&commission)?;
            submit_call(&tx, "pool set-commission", pools(P::SetCommission { pool, commission }))
                .await?;
        }
        PoolCommand::AddWorker { pool, worker, tx } => {
            let worker = parse_address(&worker)?;
            submit_call(&tx, "pool add-worker", pools(P::AddWorker { pool, worker })).await?;
        }
        PoolCommand::RemoveWorker { pool, worker, tx } => {
            let worker = parse_address(&worker)?;
            submit_call(&tx, "pool remove-worker", pools(P::RemoveWorker { pool, worker })).await?;
        }
        PoolCommand::Start { pool, worker, stake, tx } => {
            let worker = parse_address(&worker)?;
            let stake = parse_umb(&stake, "--stake")?;
            submit_call(&tx, "pool start", pools(P::StartComputing { pool, worker, stake }))
                .await?;
        }
        PoolCommand::Stop { pool, worker, tx } => {
            let worker = parse_address(&worker)?;
            submit_call(&tx, "pool stop", pools(P::StopComputing { pool, worker })).await?;
        }
        PoolCommand::Contribute { pool, amount, tx } => {
            let amount = parse_umb(&amount, "--amount")?;
            submit_call(&tx, "pool contribute", pools(P::Contribute { pool, amount })).await?;
        }
        PoolCommand::Withdraw { pool, amount, tx } => {
            let amount = if amount.trim() == "all" {
                let who = pair_from_uri(&tx.from).context("invalid --from")?.public();
                let client = tx.rpc.connect().await?;
                let s = client.api().umbra_pool_stake(pool, who.into()).await?;
                let s = s.with_context(|| format!("no pool {pool}"))?;
                let requestable = s.shares.saturating_sub(s.queued);
                if requestable == 0 {
                    bail!("nothing to withdraw: {who} has no stake in pool {pool} that is not already queued");
                }
                requestable
            } else {
                parse_umb(&amount, "--amount")?
            };
            submit_call(&tx, "pool withdraw", pools(P::Withdraw { pool, amount })).await?;
        }
        PoolCommand::Claim { pool, tx } => {
            submit_call(&tx, "pool claim", pools(P::ClaimRewards { pool })).await?;
        }
        PoolCommand::Info { id, address, rpc } => {
            let who = address.as_deref().map(parse_address).transpose()?;
            let client = rpc.connect().await?;
            let p = client.api().umbra_pool(id).await?;
            let p = p.with_context(|| format!("no pool {id}"))?;
            print_pool(&p);
            if let Some(who) = who {
                let s = client.api().umbra_pool_stake(id, who.into()).await?;
                if let Some(s) = s {
                    println!("position of {who}:");
                    println!("  shares (stake):   {}", format_amount(s.shares));
                    println!(
                        "  queued:           {} in {} request(s)",
                        format_amount(s.queued),
                        s.requests
                    );
                    println!("  pending rewards:  {}", format_amount(s.pending_rewards));
                    if s.owner_reward != 0 {
                        println!("  commission:       {}", format_amount(s.owner_reward));
                    }
                    println!("  claimable:        {}", format_amount(s.claimable));
                }
            }
        }
        PoolCommand::List { rpc } => {
            let client = rpc.connect().await?;
            let list = client.api().umbra_pools().await?;
            println!("{} pool(s)", list.len());
            for info in list {
                let p = &info.pool;
                println!(
                    "#{}  owner {}  commission {}  workers {}  stake {} (free {}, locked {})  contributors {}{}",
                    p.id,
                    p.owner,
                    format_commission(p.commission.into()),
                    p.workers.len(),
                    format_amount(p.total_shares),
                    format_amount(p.free_stake),
                    format_amount(p.locked_stake),
                    p.contributors,
                    info.loan.as_ref().map_or(String::new(), |l| format!("  loan {}", format_amount(l.principal))),
                );
            }
        }
    }
    Ok(())
}

fn print_pool(info: &PoolInfo) {
    let p = &info.pool;
    println!("pool #{}", p.id);
    println!("owner:            {}", p.owner);
    println!("commission:       {}", format_commission(p.commission.into()));
    println!(
        "account:          {} (balance {})",
        info.account,
        format_amount(info.account_balance)
    );
    println!(
        "contributed:      {} by {} account(s)",
        format_amount(p.total_shares),
        p.contributors
    );
    println!(
        "free stake:       {} ({} available to start workers)",
        format_amount(p.free_stake),
        format_amount(info.available_stake)
    );
    println!("locked stake:     {}", format_amount(p.locked_stake));
    println!("rewards received: {}", format_amount(p.total_rewards));
    println!(
        "unclaimed:        {} (owner commission {})",
        format_amount(p.reward_held),
        format_amount(p.owner_reward)
    );
    println!("workers:          {}", p.workers.len());
    for w in &p.workers {
        println!("  {w}");
    }
    let queue = info.withdraw_queue.as_deref().unwrap_or_default();
    println!("withdraw queue:   {} request(s), {}", queue.len(), format_amount(p.queued));
    for r in queue {
        println!("  {}  {}  since #{}", r.who, format_amount(r.amount), r.queued_at);
    }
    if let Some(l) = &info.loan {
        print_loan(l);
    }
}

fn print_loan(l: &LoanInfo) {
    println!(
        "loan:             principal {}, interest due {}, borrowed at #{}{}",
        format_amount(l.principal),
        format_amount(l.interest_due),
        l.borrowed_at,
        if l.defaulting {
            let since = l.defaulted_at.map_or_else(|| "?".to_string(), |b| b.to_string());
            format!(", IN DEFAULT since #{since}")
        } else {
            String::new()
        },
    );
}

/// Runs `umbra vault ...`.
pub async fn vault(cmd: VaultCommand) -> anyhow::Result<()> {
    use umbra_runtime::vault::Call as V;
    match cmd {
        VaultCommand::Deposit { amount, tx } => {
            let amount = parse_umb(&amount, "--amount")?;
            let inc = submit_call(&tx, "vault deposit", Call::Vault(V::Deposit { amount })).await?;
            if let Some(s) = event_field(&inc, "Vault", "Deposited").map(|e| &e["shares"]) {
                println!("shares minted: {}", umb(s).trim_end_matches(" UMB"));
            }
        }
        VaultCommand::Withdraw { shares, tx } => {
            let shares = if shares.trim() == "all" {
                let who = pair_from_uri(&tx.from).context("invalid --from")?.public();
                let client = tx.rpc.connect().await?;
                let pos = client.api().umbra_vault_position(who.into()).await?;
                let mine = pos.shares;
                if mine == 0 {
                    bail!("{who} has no vault shares");
                }
                mine
            } else {
                parse_umb(&shares, "--shares")?
            };
            submit_call(&tx, "vault withdraw", Call::Vault(V::Withdraw { shares })).await?;
        }
        VaultCommand::Borrow { pool, amount, tx } => {
            let amount = parse_umb(&amount, "--amount")?;
            submit_call(&tx, "vault borrow", Call::Vault(V::Borrow { pool, amount })).await?;
        }
        VaultCommand::Repay { pool, amount, tx } => {
            // The vault takes only what is owed, so `all` can offer any amount.
            let amount =
                if amount.trim() == "all" { u128::MAX } else { parse_umb(&amount, "--amount")? };
            submit_call(&tx, "vault repay", Call::Vault(V::Repay { pool, amount })).await?;
        }
        VaultCommand::Info { address, pool, rpc } => {
            let who = address.as_deref().map(parse_address).transpose()?;
            let client = rpc.connect().await?;
            let v = client.api().umbra_vault().await?;
            let p = &v.params;
            println!("vault account:    {}", v.account);
            println!(
                "value:            {} (cash {}, lent {}, interest owed {})",
                format_amount(v.value),
                format_amount(v.cash),
                format_amount(v.principal),
                format_amount(v.interest_owed)
            );
            println!(
                "shares:           {}",
                format_amount(v.total_shares).trim_end_matches(" UMB")
            );
            println!("share price:      {} UMB", v.share_price);
            println!("loans:            {}", v.loans);
            println!(
                "interest paid:    {} (written off {}, principal lost {})",
                format_amount(v.interest_paid),
                format_amount(v.interest_written_off),
                format_amount(v.principal_written_off)
            );
            println!(
                "params:           {} ppb interest per block, at most {} per borrower, default after {} unresponsive blocks",
                p.interest_per_block_ppb,
                format_amount(p.max_loan_per_borrower),
                p.default_after_blocks
            );
            if let Some(who) = who {
                let pos = client.api().umbra_vault_position(who.into()).await?;
                println!("position of {who}:");
                println!(
                    "  shares:           {}",
                    format_amount(pos.shares).trim_end_matches(" UMB")
                );
                println!("  value:            {}", format_amount(pos.value));
                println!("  borrowed:         {}", format_amount(pos.borrowed));
            }
            if let Some(pool) = pool {
                let l = client.api().umbra_loan(pool).await?;
                match l {
                    Some(l) => {
                        println!("pool #{pool}:");
                        print_loan(&l);
                    }
                    None => println!("pool #{pool} has no loan"),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod staking_tests {
    use super::*;

    #[test]
    fn commissions_parse_as_ppm() {
        assert_eq!(parse_commission("10%").unwrap(), 100_000);
        assert_eq!(parse_commission("2.5%").unwrap(), 25_000);
        assert_eq!(parse_commission("0.1").unwrap(), 100_000);
        assert_eq!(parse_commission("1").unwrap(), 1_000_000);
        assert_eq!(parse_commission("0").unwrap(), 0);
        assert_eq!(parse_commission(".05").unwrap(), 50_000);
        assert_eq!(parse_commission("100%").unwrap(), 1_000_000);
        assert_eq!(parse_commission("123456ppm").unwrap(), 123_456);
        assert_eq!(parse_commission("0.0001%").unwrap(), 1);
        for bad in ["", "%", "abc", "-1%", "101%", "1.5", "0.00001%", "1e3", "10 %x"] {
            assert!(parse_commission(bad).is_err(), "{bad}");
        }
        assert!(format!("{:#}", parse_commission("101%").unwrap_err()).contains("at most 100%"));
    }

    #[test]
    fn commissions_format_as_percent() {
        assert_eq!(format_commission(100_000), "10%");
        assert_eq!(format_commission(25_000), "2.5%");
        assert_eq!(format_commission(1), "0.0001%");
        assert_eq!(format_commission(1_000_000), "100%");
    }
}
