//! `umbra evm ...`: EVM clusters in the spirit of Foundry's `cast` — create a cluster, deploy a
//! compiled artifact, send encrypted transactions, make private calls and read the logs meant
//! for the asker.
//!
//! Every command is validated completely before anything is sent: the artifact is read and
//! checked (hex, EIP-170/3860 sizes), the function is resolved (from its signature or the ABI),
//! the arguments are parsed against their types and encoded, the value and gas are checked. Bad
//! input is one line on stderr and a non-zero exit, and no connection is made to the node.
//! ABI work is done by [`umbra_evm_abi`] (the alloy crates).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use umbra_contracts::{
    evm::{EvmCommand as EvmTx, EvmQuery, EvmReceipt, EvmResponse, EvmStatus},
    ContractKind, EncryptedEvent,
};
use umbra_evm_abi::{
    alloy_json_abi::{Function, JsonAbi, StateMutability},
    decode_log, decode_return, decode_revert, encode_constructor, encode_function_call,
    resolve_function, Address, Artifact, B256,
};
use umbra_primitives::{query::WorkerQuery, Pair};
use umbra_primitives::{Balance, H256};
use umbra_runtime::{contracts, Call, EventRecord};

use crate::{
    cli::{failure_reason, pair_from_uri, parse_address, RpcArgs},
    contracts_cli::contract_info,
    worker::RegisteredKeys,
    Client,
};

/// Gas limit of a transaction or call when `--gas` is not given. A transaction prepays
/// `gas limit × gas price` (5 UMB at the development price of 10^6 per gas) and gets back what
/// it did not use when its result lands.
pub const DEFAULT_GAS: u64 = 5_000_000;
/// Largest `--gas` accepted: the development chain's per-command cap (the chain refuses a
/// transaction above its governance cap `maxGasPerCommand` with `contracts::GasLimitTooHigh`)
/// and the enclave's bound on private calls.
pub const MAX_GAS: u64 = umbra_contracts::evm::MAX_GAS_PER_QUERY;
/// Smallest `--gas` accepted: the intrinsic cost of any transaction (21,000).
pub const MIN_GAS: u64 = umbra_contracts::gas::MIN_GAS_LIMIT;

/// `umbra evm ...`
#[derive(Debug, Subcommand)]
pub enum EvmCommand {
    /// EVM clusters (one EVM world state with its own key, executed by K workers).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Deploys a compiled contract (`{"abi": [...], "bytecode": "0x..."}`) into a cluster.
    Deploy(DeployArgs),
    /// Sends an encrypted transaction calling a contract, and waits for its result.
    Send(SendArgs),
    /// Calls a contract privately through a worker of the cluster (no transaction), prints the
    /// decoded return values.
    Call(CallArgs),
    /// Prints the cluster's logs the asker may read, decrypted and decoded with the ABI.
    Logs(LogsArgs),
    /// Prints the EVM address (`msg.sender`) of an account: a secret URI or an SS58 address.
    Address {
        /// Secret URI (//Eve) or SS58 address.
        account: String,
    },
}

/// `umbra evm cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Creates a cluster and waits until its key is published.
    Create(ClusterCreateArgs),
}

/// `umbra evm cluster create`
#[derive(Debug, Args)]
pub struct ClusterCreateArgs {
    /// Creator's secret URI.
    #[arg(long)]
    pub from: String,
    /// Matching worker reports needed to apply a result, 1..=K (default: a majority of K).
    #[arg(long)]
    pub quorum: Option<u32>,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Value and gas of a transaction.
#[derive(Debug, Args, Clone)]
pub struct TxArgs {
    /// Value sent with the transaction, in UMB (e.g. 1.5).
    #[arg(long)]
    pub value: Option<String>,
    /// Gas limit, prepaid at the chain's gas price (what is not used is refunded when the
    /// result lands). Default 5,000,000.
    #[arg(long)]
    pub gas: Option<u64>,
}

/// `umbra evm deploy`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Cluster id (0x + 64 hex digits).
    #[arg(long)]
    pub cluster: String,
    /// The artifact JSON (solidity/artifacts/<Name>.json, or Foundry's out/<File>/<Name>.json).
    pub artifact: PathBuf,
    /// Constructor arguments, one per parameter.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Deployer's secret URI.
    #[arg(long)]
    pub from: String,
    /// Query endpoint of a worker assigned to the cluster (it hands the sender the key that
    /// decrypts the receipt).
    #[arg(long, env = "UMBRA_WORKER")]
    pub worker: String,
    /// Value and gas.
    #[command(flatten)]
    pub tx: TxArgs,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// `umbra evm send`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Cluster id.
    #[arg(long)]
    pub cluster: String,
    /// The contract's EVM address (0x + 40 hex digits; mixed case must be a valid checksum).
    #[arg(long)]
    pub to: String,
    /// The function: a signature such as 'transfer(address,uint256)', or a bare name with --abi.
    pub function: String,
    /// Arguments, one per parameter.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// The contract's artifact or ABI JSON: bare function names, custom errors, decoded logs.
    #[arg(long)]
    pub abi: Option<PathBuf>,
    /// Sender's secret URI.
    #[arg(long)]
    pub from: String,
    /// Query endpoint of a worker assigned to the cluster (it hands the sender the key that
    /// decrypts the receipt).
    #[arg(long, env = "UMBRA_WORKER")]
    pub worker: String,
    /// Value and gas.
    #[command(flatten)]
    pub tx: TxArgs,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// `umbra evm call`
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Cluster id.
    #[arg(long)]
    pub cluster: String,
    /// The contract's EVM address.
    #[arg(long)]
    pub to: String,
    /// The function: 'balanceOf(address)(uint256)' (outputs in the second parenthesis), or a
    /// name with --abi.
    pub function: String,
    /// Arguments, one per parameter.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// The contract's artifact or ABI JSON.
    #[arg(long)]
    pub abi: Option<PathBuf>,
    /// Secret URI the call is signed with (its EVM address is msg.sender).
    #[arg(long = "as", default_value = "//Alice")]
    pub signer: String,
    /// Query endpoint of a worker assigned to the cluster.
    #[arg(long, env = "UMBRA_WORKER")]
    pub worker: String,
    /// Gas limit.
    #[arg(long)]
    pub gas: Option<u64>,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// `umbra evm logs`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Cluster id.
    #[arg(long)]
    pub cluster: String,
    /// Only logs of this contract (public events, whose emitter the chain does not record,
    /// are then left out).
    #[arg(long)]
    pub address: Option<String>,
    /// Artifacts or ABI JSON files whose events decode the logs (repeatable).
    #[arg(long)]
    pub abi: Vec<PathBuf>,
    /// Secret URI of the asker: only the logs it may read are decrypted.
    #[arg(long = "as", default_value = "//Alice")]
    pub signer: String,
    /// Query endpoint of a worker assigned to the cluster (it hands the asker its event key).
    #[arg(long, env = "UMBRA_WORKER")]
    pub worker: String,
    /// First block to read from.
    #[arg(long, default_value_t = 0)]
    pub from_block: u64,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Parses a cluster id: `0x` and 64 hex digits.
pub fn parse_cluster(text: &str) -> anyhow::Result<H256> {
    text.trim()
        .parse::<H256>()
        .map_err(|e| anyhow!("invalid cluster id `{text}` (0x and 64 hex digits): {e}"))
}

/// The EVM address of an account given as an SS58 address or a secret URI.
pub fn account_evm_address(account: &str) -> anyhow::Result<Address> {
    let id = match parse_address(account) {
        Ok(id) => id,
        Err(_) if account.starts_with("//") || account.contains(' ') => {
            pair_from_uri(account)?.public()
        }
        Err(e) => return Err(e),
    };
    Ok(Address::from(umbra_contracts::evm::evm_address(&id)))
}

/// Parses an EVM address. All-lowercase or all-uppercase hex is taken as is; mixed case must be
/// a valid EIP-55 checksum (a typo in a mixed-case address is caught rather than sent to).
pub fn parse_evm_address(text: &str) -> anyhow::Result<Address> {
    let t = text.trim();
    let digits = t.strip_prefix("0x").ok_or_else(|| {
        anyhow!("invalid EVM address `{text}`: it must start with 0x (0x and 40 hex digits)")
    })?;
    if digits.len() != 40 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("invalid EVM address `{text}`: expected 0x and 40 hex digits");
    }
    let mixed = digits.chars().any(|c| c.is_ascii_lowercase())
        && digits.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(t, None)
            .map_err(|_| anyhow!("invalid EVM address `{text}`: bad EIP-55 checksum"))
    } else {
        t.parse::<Address>().map_err(|e| anyhow!("invalid EVM address `{text}`: {e}"))
    }
}

/// Parses `--value` (UMB, 12 decimals); none is zero.
pub fn parse_value(value: Option<&str>) -> anyhow::Result<Balance> {
    match value {
        None => Ok(0),
        Some(v) => umbra_primitives::parse_amount(v).map_err(|e| anyhow!("invalid --value: {e}")),
    }
}

/// Checks `--gas` against [`MIN_GAS`]..=[`MAX_GAS`]; none is [`DEFAULT_GAS`].
pub fn check_gas(gas: Option<u64>) -> anyhow::Result<u64> {
    let gas = gas.unwrap_or(DEFAULT_GAS);
    if !(MIN_GAS..=MAX_GAS).contains(&gas) {
        bail!("invalid --gas {gas}: between {MIN_GAS} and {MAX_GAS}");
    }
    Ok(gas)
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads an artifact file.
pub fn load_artifact(path: &Path) -> anyhow::Result<Artifact> {
    Artifact::from_json(&read_file(path)?).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Reads an ABI from an artifact (`{"abi": [...], ...}`) or a bare ABI array.
pub fn load_abi(path: &Path) -> anyhow::Result<JsonAbi> {
    let text = read_file(path)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: not JSON: {e}", path.display()))?;
    let abi = match value {
        serde_json::Value::Object(mut o) => {
            o.remove("abi").ok_or_else(|| anyhow!("{}: no \"abi\" field", path.display()))?
        }
        array @ serde_json::Value::Array(_) => array,
        _ => bail!("{}: neither an artifact nor an ABI array", path.display()),
    };
    serde_json::from_value(abi).map_err(|e| anyhow!("{}: bad ABI: {e}", path.display()))
}

/// A deployment, validated and encoded, ready to be sealed and pushed.
#[derive(Debug, Clone)]
pub struct PreparedDeploy {
    /// The cluster.
    pub cluster: H256,
    /// The artifact (its ABI decodes the constructor's reverts and events).
    pub artifact: Artifact,
    /// Initcode followed by the encoded constructor arguments.
    pub initcode: Vec<u8>,
    /// Value, in the chain's smallest unit.
    pub value: Balance,
    /// Gas limit.
    pub gas: u64,
}

/// Validates and encodes `umbra evm deploy` without any network access.
pub fn prepare_deploy(args: &DeployArgs) -> anyhow::Result<PreparedDeploy> {
    let cluster = parse_cluster(&args.cluster)?;
    pair_from_uri(&args.from)?;
    let value = parse_value(args.tx.value.as_deref())?;
    let gas = check_gas(args.tx.gas)?;
    let artifact = load_artifact(&args.artifact)?;
    let initcode = encode_constructor(&artifact, &args.args)?;
    Ok(PreparedDeploy { cluster, artifact, initcode, value, gas })
}

/// A call (transaction or private call), validated and encoded.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    /// The cluster.
    pub cluster: H256,
    /// The contract.
    pub to: Address,
    /// The resolved function (from the ABI when one was given: it knows the outputs).
    pub function: Function,
    /// Selector and encoded arguments.
    pub data: Vec<u8>,
    /// The ABI, when given.
    pub abi: Option<JsonAbi>,
    /// Value, in the chain's smallest unit.
    pub value: Balance,
    /// Gas limit.
    pub gas: u64,
}

/// The part `send` and `call` share: cluster, address, function, encoded arguments.
fn prepare_call_parts(
    cluster: &str,
    to: &str,
    function: &str,
    args: &[String],
    abi: Option<&Path>,
) -> anyhow::Result<PreparedCall> {
    let cluster = parse_cluster(cluster)?;
    let to = parse_evm_address(to)?;
    let abi = abi.map(load_abi).transpose()?;
    let function = resolve_function(abi.as_ref(), function)?;
    let data = encode_function_call(&function, args)?;
    Ok(PreparedCall { cluster, to, function, data, abi, value: 0, gas: DEFAULT_GAS })
}

/// Validates and encodes `umbra evm send` without any network access.
pub fn prepare_send(args: &SendArgs) -> anyhow::Result<PreparedCall> {
    let mut call = prepare_call_parts(
        &args.cluster,
        &args.to,
        &args.function,
        &args.args,
        args.abi.as_deref(),
    )?;
    pair_from_uri(&args.from)?;
    call.value = parse_value(args.tx.value.as_deref())?;
    // With an ABI the function's mutability is known: value to a non-payable one would revert.
    let payable = call.function.state_mutability == StateMutability::Payable;
    if call.value > 0 && call.abi.is_some() && !payable {
        bail!("{} is not payable: it cannot receive --value", call.function.signature());
    }
    call.gas = check_gas(args.tx.gas)?;
    Ok(call)
}

/// Validates and encodes `umbra evm call` without any network access.
pub fn prepare_call(args: &CallArgs) -> anyhow::Result<PreparedCall> {
    let mut call = prepare_call_parts(
        &args.cluster,
        &args.to,
        &args.function,
        &args.args,
        args.abi.as_deref(),
    )?;
    pair_from_uri(&args.signer)?;
    call.gas = check_gas(args.gas)?;
    Ok(call)
}

/// Validated `umbra evm logs` options.
#[derive(Debug, Clone)]
pub struct PreparedLogs {
    /// The cluster.
    pub cluster: H256,
    /// Only this contract's logs, when given.
    pub address: Option<Address>,
    /// ABIs whose events decode the logs.
    pub abis: Vec<JsonAbi>,
}

/// Validates `umbra evm logs` without any network access.
pub fn prepare_logs(args: &LogsArgs) -> anyhow::Result<PreparedLogs> {
    let cluster = parse_cluster(&args.cluster)?;
    let address = args.address.as_deref().map(parse_evm_address).transpose()?;
    pair_from_uri(&args.signer)?;
    let abis = args.abi.iter().map(|p| load_abi(p)).collect::<anyhow::Result<_>>()?;
    Ok(PreparedLogs { cluster, address, abis })
}

/// How a transaction or call ended, as the executor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Success, with the return data.
    Success(Vec<u8>),
    /// `REVERT`, with the revert data.
    Revert(Vec<u8>),
    /// A halt (out of gas, invalid opcode, ...), with the executor's reason.
    Halt(String),
}

/// Formats an outcome for a person: decoded return values (one per line), the decoded revert
/// reason (`Error(string)`, `Panic` with its meaning, a custom error of the ABI), or the halt.
pub fn format_outcome(
    function: Option<&Function>,
    abi: Option<&JsonAbi>,
    outcome: &Outcome,
) -> Result<Vec<String>, String> {
    match outcome {
        Outcome::Success(data) => match function {
            Some(f) => decode_return(f, data).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        },
        Outcome::Revert(data) => Err(decode_revert(data, abi).to_string()),
        Outcome::Halt(reason) => Err(format!("halted: {reason}")),
    }
}

/// Formats one log: decoded with the first ABI whose event matches, otherwise raw.
pub fn format_log(abis: &[JsonAbi], address: &Address, topics: &[[u8; 32]], data: &[u8]) -> String {
    let topics: Vec<B256> = topics.iter().map(|t| B256::from(*t)).collect();
    for abi in abis {
        if let Ok(log) = decode_log(abi, &topics, data) {
            return format!("{address} {log}");
        }
    }
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    format!("{address} topics [{}] data 0x{}", topics.join(", "), hex::encode(data))
}

/// A cluster's on-chain record; refuses ids that are not EVM clusters.
async fn cluster_info(client: &Client, id: &H256) -> anyhow::Result<Value> {
    let info = contract_info(client, id).await?;
    if info["kind"] != serde_json::json!(ContractKind::Evm) {
        bail!("contract {id} is not an EVM cluster (kind {})", info["kind"]);
    }
    Ok(info)
}

/// The registered keys of the worker at `url`, after checking it is assigned to the cluster.
async fn assigned_worker(
    client: &Client,
    info: &Value,
    id: &H256,
    url: &str,
) -> anyhow::Result<RegisteredKeys> {
    let claimed = crate::worker::info(url).await?;
    let identity = parse_address(claimed["identity"].as_str().unwrap_or_default())?;
    let assigned: Vec<String> =
        serde_json::from_value(info["assigned"].clone()).unwrap_or_default();
    if !assigned.contains(&identity.to_ss58()) {
        bail!(
            "worker {identity} is not assigned to cluster {id} (assigned: {})",
            assigned.join(", ")
        );
    }
    Ok(crate::worker::registered_keys(client, &identity).await?)
}

/// The asker's event key for the cluster, from an assigned worker (signed, encrypted query).
async fn event_key(
    url: &str,
    keys: &RegisteredKeys,
    signer: &Pair,
    id: &H256,
) -> anyhow::Result<[u8; 32]> {
    let answer =
        crate::worker::query(url, keys, signer, WorkerQuery::EventKey { id: *id }.encode()).await?;
    <[u8; 32]>::decode(&mut &answer[..]).context("malformed event key answer")
}

/// What the chain charged for a command's gas when its result landed (`GasSettled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasSettlement {
    /// Gas used (the quorum's figure).
    pub gas_used: u64,
    /// Paid to the treasury: `gas_used × price`.
    pub fee: Balance,
    /// Returned to the sender: the unused part of the prepayment.
    pub refund: Balance,
}

/// Seals `command` to the cluster key, pushes it, and waits until the quorum's result lands;
/// returns the command's sequence number, the sender's encrypted receipt and the gas
/// settlement.
///
/// The push carries the command's own `value` into the cluster: the chain moves it from the
/// sender into the cluster's account and the cluster credits the sender's EVM address with it
/// before executing, so the deployment or call can then send exactly that value on. It carries
/// the command's own gas limit as the prepaid limit, so the two always agree.
async fn push_and_wait(
    client: &Client,
    from: &Pair,
    id: &H256,
    command: &EvmTx,
) -> anyhow::Result<(u64, EncryptedEvent, Option<GasSettlement>)> {
    let (value, gas_limit) = match command {
        EvmTx::Deploy { value, gas_limit, .. } | EvmTx::Call { value, gas_limit, .. } => {
            (*value, *gas_limit)
        }
    };
    let origin = from.public();
    let (inc, seq) =
        crate::contracts_cli::push_sealed(client, from, id, &command.encode(), value, gas_limit)
            .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut block = inc.block_number;
    let mut receipt = None;
    let mut gas = None;
    loop {
        let head = client.head().await?.number;
        while block <= head {
            // The result's events come in one block: `CommandExecuted`, then its outputs.
            let mut executed = false;
            for e in contract_events(client, block).await? {
                match e {
                    contracts::Event::PrivateContractEvent { id: i, seq: s, to, event }
                        if i == *id && s == seq && to == origin && receipt.is_none() =>
                    {
                        receipt = Some(event)
                    }
                    contracts::Event::GasSettled {
                        id: i, seq: s, gas_used, fee, refund, ..
                    } if i == *id && s == seq => {
                        gas = Some(GasSettlement { gas_used, fee, refund });
                    }
                    contracts::Event::CommandExecuted { id: i, seq: s, .. }
                        if i == *id && s == seq =>
                    {
                        executed = true;
                    }
                    contracts::Event::CommandFailed { id: i, seq: s, reason, .. }
                        if i == *id && s == seq =>
                    {
                        bail!("command #{seq} failed: {reason}");
                    }
                    contracts::Event::Paused { id: i, seq: s, reason } if i == *id && s == seq => {
                        bail!("the cluster paused on command #{seq}: {reason}");
                    }
                    _ => {}
                }
            }
            if executed {
                return receipt
                    .map(|r| (seq, r, gas))
                    .with_context(|| format!("command #{seq} executed without a receipt"));
            }
            block = block.saturating_add(1);
        }
        if Instant::now() > deadline {
            bail!("no worker reported the result of command #{seq} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The `Contracts` events of block `number`, decoded from the SCALE records (the JSON form
/// leaves the encrypted payloads out).
pub async fn contract_events(
    client: &Client,
    number: u64,
) -> anyhow::Result<Vec<contracts::Event>> {
    let Some(raw) = client.raw_block_with_events(number).await? else { return Ok(Vec::new()) };
    let records = Vec::<EventRecord>::decode(&mut &raw.events.0[..])
        .map_err(|e| anyhow!("malformed events of block #{number}: {e}"))?;
    Ok(records
        .into_iter()
        .filter_map(|r| match r.event {
            umbra_runtime::Event::Contracts(e) => Some(e),
            _ => None,
        })
        .collect())
}

/// Opens and decodes the sender's receipt.
fn open_receipt(
    key: &[u8; 32],
    id: &H256,
    seq: u64,
    event: &EncryptedEvent,
) -> anyhow::Result<EvmReceipt> {
    let plain = umbra_contracts::open_event(key, id, seq, event)
        .map_err(|e| anyhow!("cannot decrypt the receipt of command #{seq}: {e}"))?;
    EvmReceipt::decode(&mut &plain[..]).context("malformed receipt")
}

fn outcome(status: &EvmStatus, output: &[u8]) -> Outcome {
    match status {
        EvmStatus::Success => Outcome::Success(output.to_vec()),
        EvmStatus::Revert => Outcome::Revert(output.to_vec()),
        EvmStatus::Halt(reason) => Outcome::Halt(reason.clone()),
    }
}

/// Prints a receipt (with what the chain charged for its gas); an unsuccessful one is an error
/// (non-zero exit) — its gas is paid all the same.
fn report_receipt(
    receipt: &EvmReceipt,
    gas: Option<GasSettlement>,
    function: Option<&Function>,
    abi: Option<&JsonAbi>,
) -> anyhow::Result<()> {
    println!("command #{} gas used {}", receipt.seq, receipt.gas_used);
    if let Some(g) = gas {
        println!(
            "  fee {} paid, {} refunded",
            umbra_primitives::format_amount(g.fee),
            umbra_primitives::format_amount(g.refund)
        );
    }
    let abis: Vec<JsonAbi> = abi.cloned().into_iter().collect();
    for log in &receipt.logs {
        println!(
            "  log {}",
            format_log(&abis, &Address::from(log.address), &log.topics, &log.data)
        );
    }
    match format_outcome(function, abi, &outcome(&receipt.status, &receipt.output)) {
        Ok(values) => {
            for v in values {
                println!("{v}");
            }
            Ok(())
        }
        Err(reason) => bail!("command #{}: {reason}", receipt.seq),
    }
}

/// A connection to one EVM cluster through one of its assigned workers: the node (to push
/// encrypted transactions and read their results) and the worker (private calls, the key that
/// decrypts the sender's receipts). `umbra evm` and the application commands (`umbra secret`,
/// `umbra box`, `umbra asset`) all go through it.
#[derive(Debug)]
pub struct EvmSession {
    /// The node.
    pub client: Client,
    /// The cluster.
    pub cluster: H256,
    worker: String,
    keys: RegisteredKeys,
}

impl EvmSession {
    /// Connects to the node, checks that `cluster` is an EVM cluster and that the worker at
    /// `worker` is assigned to it.
    pub async fn connect(rpc: &RpcArgs, cluster: H256, worker: &str) -> anyhow::Result<Self> {
        let client = rpc.connect().await?;
        let info = cluster_info(&client, &cluster).await?;
        let keys = assigned_worker(&client, &info, &cluster, worker).await?;
        Ok(EvmSession { client, cluster, worker: worker.to_string(), keys })
    }

    /// The asker's event key for the cluster (it decrypts the asker's receipts).
    pub async fn event_key(&self, signer: &Pair) -> anyhow::Result<[u8; 32]> {
        event_key(&self.worker, &self.keys, signer, &self.cluster).await
    }

    /// Seals `command`, pushes it (with its value) and waits for the quorum's result; returns
    /// the sender's decrypted receipt. The receipt key is fetched before anything is pushed,
    /// so a worker that cannot hand it out refuses with nothing sent.
    pub async fn transact(&self, from: &Pair, command: &EvmTx) -> anyhow::Result<EvmReceipt> {
        Ok(self.transact_settled(from, command).await?.0)
    }

    /// [`EvmSession::transact`], also returning what the chain charged for the command's gas
    /// (`GasSettled`: gas used, fee, refund of the unused prepaid gas).
    pub async fn transact_settled(
        &self,
        from: &Pair,
        command: &EvmTx,
    ) -> anyhow::Result<(EvmReceipt, Option<GasSettlement>)> {
        let key = self.event_key(from).await?;
        let (seq, sealed, gas) = push_and_wait(&self.client, from, &self.cluster, command).await?;
        Ok((open_receipt(&key, &self.cluster, seq, &sealed)?, gas))
    }

    /// An encrypted transaction calling `to` with `data` and `value`.
    pub async fn send(
        &self,
        from: &Pair,
        to: Address,
        data: Vec<u8>,
        value: Balance,
        gas: u64,
    ) -> anyhow::Result<EvmReceipt> {
        let command = EvmTx::Call { to: to.into_array(), data, value, gas_limit: gas };
        self.transact(from, &command).await
    }

    /// A private, read-only call signed by `signer` (its EVM address is `msg.sender`).
    pub async fn call(
        &self,
        signer: &Pair,
        to: Address,
        data: Vec<u8>,
        gas: u64,
    ) -> anyhow::Result<Outcome> {
        let query = EvmQuery::Call { to: to.into_array(), data, gas_limit: gas };
        let body = WorkerQuery::Contract { id: self.cluster, query: query.encode() }.encode();
        let answer = crate::worker::query(&self.worker, &self.keys, signer, body).await?;
        let EvmResponse::Call { status, output, .. } =
            EvmResponse::decode(&mut &answer[..]).context("malformed answer to the call")?
        else {
            bail!("the worker answered the call with another kind of response");
        };
        Ok(outcome(&status, &output))
    }
}

/// How a receipt ended.
pub fn receipt_outcome(receipt: &EvmReceipt) -> Outcome {
    outcome(&receipt.status, &receipt.output)
}

/// Runs `umbra evm ...`. Validation happens first: bad input returns an error before any
/// connection to the node is made.
pub async fn evm(cmd: EvmCommand) -> anyhow::Result<()> {
    match cmd {
        EvmCommand::Address { account } => println!("{}", account_evm_address(&account)?),
        EvmCommand::Cluster(ClusterCommand::Create(args)) => {
            let from = pair_from_uri(&args.from)?;
            if args.quorum == Some(0) {
                bail!("invalid --quorum 0: at least 1");
            }
            let client = args.rpc.connect().await?;
            let id = create_cluster(&client, &from, args.quorum).await?;
            println!("cluster {id}");
        }
        EvmCommand::Deploy(args) => {
            let p = prepare_deploy(&args)?;
            let from = pair_from_uri(&args.from)?;
            let session = EvmSession::connect(&args.rpc, p.cluster, &args.worker).await?;
            let command =
                EvmTx::Deploy { code: p.initcode.clone(), value: p.value, gas_limit: p.gas };
            let (receipt, gas) = session.transact_settled(&from, &command).await?;
            report_receipt(&receipt, gas, None, Some(&p.artifact.abi))?;
            let created = receipt.created.context("the deployment created no contract")?;
            println!("deployed at {}", Address::from(created));
        }
        EvmCommand::Send(args) => {
            let p = prepare_send(&args)?;
            let from = pair_from_uri(&args.from)?;
            let session = EvmSession::connect(&args.rpc, p.cluster, &args.worker).await?;
            let command = EvmTx::Call {
                to: p.to.into_array(),
                data: p.data.clone(),
                value: p.value,
                gas_limit: p.gas,
            };
            let (receipt, gas) = session.transact_settled(&from, &command).await?;
            report_receipt(&receipt, gas, Some(&p.function), p.abi.as_ref())?;
        }
        EvmCommand::Call(args) => {
            let p = prepare_call(&args)?;
            let signer = pair_from_uri(&args.signer)?;
            let session = EvmSession::connect(&args.rpc, p.cluster, &args.worker).await?;
            let outcome = session.call(&signer, p.to, p.data, p.gas).await?;
            match format_outcome(Some(&p.function), p.abi.as_ref(), &outcome) {
                Ok(values) => values.iter().for_each(|v| println!("{v}")),
                Err(reason) => bail!("call {reason}"),
            }
        }
        EvmCommand::Logs(args) => {
            let p = prepare_logs(&args)?;
            let signer = pair_from_uri(&args.signer)?;
            let session = EvmSession::connect(&args.rpc, p.cluster, &args.worker).await?;
            let key = session.event_key(&signer).await?;
            let client = &session.client;
            let me = signer.public();
            let head = client.head().await?.number;
            for number in args.from_block..=head {
                for e in contract_events(client, number).await? {
                    match e {
                        contracts::Event::PrivateContractEvent { id, seq, to, event }
                            if id == p.cluster && to == me =>
                        {
                            let receipt = open_receipt(&key, &id, seq, &event)?;
                            for log in &receipt.logs {
                                let address = Address::from(log.address);
                                if p.address.is_some_and(|a| a != address) {
                                    continue;
                                }
                                let line = format_log(&p.abis, &address, &log.topics, &log.data);
                                println!("#{number} command #{seq} {line}");
                            }
                        }
                        // A public event's emitter is not on chain: with --address, none.
                        contracts::Event::ContractEvent { id, seq, data }
                            if id == p.cluster && p.address.is_none() =>
                        {
                            println!(
                                "#{number} command #{seq} public event 0x{}",
                                hex::encode(&data)
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// Deploys a contract of kind EVM (a cluster) and waits until its key is published.
pub async fn create_cluster(
    client: &Client,
    from: &Pair,
    quorum: Option<u32>,
) -> anyhow::Result<H256> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let salt = umbra_crypto::blake2_256(&nanos.to_le_bytes())[..16].to_vec();
    let inc = client
        .sign_and_watch(
            from,
            Call::Contracts(contracts::Call::Deploy { kind: ContractKind::Evm, salt, quorum }),
            0,
        )
        .await?;
    if !inc.success {
        bail!("cluster creation refused: {}", failure_reason(&inc).unwrap_or_default());
    }
    let id: H256 = inc
        .events
        .iter()
        .find_map(|e| serde_json::from_value(e["Contracts"]["Deployed"]["id"].clone()).ok())
        .context("no Deployed event")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = contract_info(client, &id).await?;
        if !info["pubkey"].is_null() {
            eprintln!("cluster key published; assigned to {}", info["assigned"]);
            return Ok(id);
        }
        if Instant::now() > deadline {
            bail!("no gatekeeper published the cluster key within 60 s (is a gatekeeper elected?)");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests;
