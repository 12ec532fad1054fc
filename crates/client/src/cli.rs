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
