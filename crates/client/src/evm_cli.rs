//! `umbra evm ...`: EVM clusters in the spirit of Foundry's `cast` — create a cluster, deploy a
//! compiled artifact, send encrypted transactions, make private calls and read the logs meant
//! for the asker.
//!
//! Every command is validated completely before anything is sent: the artifact is read and
//! checked (hex, EIP-170/3860 sizes), the function is resolved (from its signature or the ABI),
//! the arguments are parsed against their types and encoded, the value and gas are checked. Bad
//! input is one line on stderr and a non-zero exit, and no connection is made to the node.
//! ABI work is done by [`umbra_evm_abi`] (the alloy crates).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use umbra_evm_abi::{
    alloy_json_abi::{Function, JsonAbi, StateMutability},
    decode_log, decode_return, decode_revert, encode_constructor, encode_function_call,
    resolve_function, Address, Artifact, B256,
};
use umbra_primitives::{Balance, H256};

use crate::cli::{pair_from_uri, RpcArgs};

/// Gas limit of a transaction or call when `--gas` is not given.
pub const DEFAULT_GAS: u64 = 5_000_000;
/// Largest `--gas` accepted (one transaction may not ask for more).
pub const MAX_GAS: u64 = 30_000_000;
/// Smallest `--gas` accepted: the intrinsic cost of any transaction (21,000).
pub const MIN_GAS: u64 = 21_000;

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
    /// Gas limit.
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
    #[arg(long)]
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
    /// Only logs of this contract.
    #[arg(long)]
    pub address: Option<String>,
    /// Artifacts or ABI JSON files whose events decode the logs (repeatable).
    #[arg(long)]
    pub abi: Vec<PathBuf>,
    /// Secret URI of the asker: only the logs it may read are decrypted.
    #[arg(long = "as", default_value = "//Alice")]
    pub signer: String,
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

/// The submission of EVM commands is the cluster runtime's API (docs/EVM.md, "API for the
/// CLI"); until that is in this build, every command stops after validation with this error.
fn submission_unavailable(what: &str) -> anyhow::Error {
    anyhow!("{what}: this build has no EVM cluster runtime to submit to (validated; nothing sent)")
}

/// Runs `umbra evm ...`. Validation happens first: bad input returns an error before any
/// connection to the node is made.
pub async fn evm(cmd: EvmCommand) -> anyhow::Result<()> {
    match cmd {
        EvmCommand::Cluster(ClusterCommand::Create(args)) => {
            pair_from_uri(&args.from)?;
            if args.quorum == Some(0) {
                bail!("invalid --quorum 0: at least 1");
            }
            Err(submission_unavailable("evm cluster create"))
        }
        EvmCommand::Deploy(args) => {
            let _prepared = prepare_deploy(&args)?;
            Err(submission_unavailable("evm deploy"))
        }
        EvmCommand::Send(args) => {
            let _prepared = prepare_send(&args)?;
            Err(submission_unavailable("evm send"))
        }
        EvmCommand::Call(args) => {
            let _prepared = prepare_call(&args)?;
            Err(submission_unavailable("evm call"))
        }
        EvmCommand::Logs(args) => {
            let _prepared = prepare_logs(&args)?;
            Err(submission_unavailable("evm logs"))
        }
    }
}

#[cfg(test)]
mod tests;
