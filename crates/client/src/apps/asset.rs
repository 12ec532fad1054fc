//! `umbra asset ...`: private assets (`solidity/contracts/PrivateAssets.sol`). Asset 0 is UMB
//! held privately (amounts in UMB); issued assets count whole units.

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use umbra_evm_abi::{
    apps::PrivateAssets::{self as Pa, PrivateAssetsErrors as E},
    B256, U256,
};
use umbra_primitives::{format_amount, Balance};

use super::{connect_as, parse_chain_account, parse_id, parse_party, parse_umb, AppTarget};

/// Which PrivateAssets contract.
#[derive(Debug, Args, Clone)]
pub struct AssetApp {
    /// The PrivateAssets contract's EVM address (`umbra dev` prints it).
    #[arg(long = "assets", env = "UMBRA_ASSETS")]
    pub at: String,
    /// Cluster, worker, node.
    #[command(flatten)]
    pub target: AppTarget,
}

super::app_args!(AssetApp, "--assets");

/// `umbra asset ...`
#[derive(Debug, Subcommand)]
pub enum AssetCommand {
    /// Moves public UMB from your account into your private UMB balance (asset 0).
    Deposit {
        /// Amount in UMB (e.g. 12.5).
        amount: String,
        /// Your secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
    /// Pays private UMB back out to a chain account (public from there on).
    Withdraw {
        /// Amount in UMB.
        amount: String,
        /// The receiving chain account (default: yourself).
        #[arg(long)]
        to: Option<String>,
        /// Your secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
    /// Issues a new asset; its whole supply starts in your private balance.
    Issue {
        /// Name.
        #[arg(long)]
        name: String,
        /// Symbol.
        #[arg(long)]
        symbol: String,
        /// Supply in whole units.
        #[arg(long)]
        supply: String,
        /// Issuer's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
    /// A private transfer: amount and parties stay inside the cluster.
    Transfer {
        /// Recipient: secret URI, SS58 address or EVM address.
        to: String,
        /// Amount: UMB for asset 0, whole units otherwise.
        amount: String,
        /// Asset id (0 is UMB).
        #[arg(long, default_value = "0")]
        asset: String,
        /// Sender's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
    /// Your private balance (only you can ask for it).
    Balance {
        /// Asset id (0 is UMB).
        #[arg(long, default_value = "0")]
        asset: String,
        /// Your secret URI (the query is signed with it).
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
    /// An asset's public facts: name, symbol, supply, issuer.
    Info {
        /// Asset id.
        #[arg(default_value = "0")]
        asset: String,
        /// Secret URI the query is signed with (anyone may ask).
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: AssetApp,
    },
}

/// The one line for each refusal of the contract.
pub fn describe(e: E) -> String {
    match e {
        E::NoSuchAsset(x) => format!("no asset {}", x.asset),
        E::InsufficientPrivateBalance(x) => format!(
            "insufficient private balance: you hold {}, this needs {}",
            amount_text(0, x.balance),
            amount_text(0, x.needed)
        ),
        E::ZeroAmount(_) => "the amount must be more than 0".into(),
        E::ZeroAddress(_) => "the recipient cannot be the zero address".into(),
        E::PrecompileFailed(x) => format!("the payout failed (0x{})", hex::encode(&x.returned)),
    }
}

/// An amount as a person reads it: UMB with decimals for asset 0, whole units otherwise.
pub fn amount_text(asset: u64, value: U256) -> String {
    match (asset, Balance::try_from(value)) {
        (0, Ok(v)) => format_amount(v),
        _ => value.to_string(),
    }
}

fn parse_asset_amount(asset: u64, text: &str) -> anyhow::Result<U256> {
    if asset == 0 {
        return Ok(U256::from(parse_umb(text, "amount")?));
    }
    let v: U256 =
        text.trim().parse().map_err(|_| anyhow!("invalid amount `{text}`: a whole number"))?;
    if v.is_zero() {
        bail!("invalid amount: must be more than 0");
    }
    Ok(v)
}

/// Runs `umbra asset ...`. Everything is validated before the first connection.
pub async fn asset(cmd: AssetCommand) -> anyhow::Result<()> {
    match cmd {
        AssetCommand::Deposit { amount, from, app } => {
            let amount = parse_umb(&amount, "amount")?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Pa::depositCall {}, amount, describe).await?;
            println!("deposited; private UMB balance {}", amount_text(0, r.balance));
        }
        AssetCommand::Withdraw { amount, to, from, app } => {
            let amount = parse_umb(&amount, "amount")?;
            let to = to.map(|t| parse_chain_account(&t)).transpose()?;
            let conn = connect_as(&from, &app).await?;
            let to = to.unwrap_or_else(|| conn.signer.public());
            let call =
                Pa::withdrawCall { amount: U256::from(amount), to: B256::from(*to.as_bytes()) };
            let r = conn.send(call, 0, describe).await?;
            println!(
                "withdrew {} to {to}; private UMB balance {}",
                format_amount(amount),
                amount_text(0, r.balance)
            );
        }
        AssetCommand::Issue { name, symbol, supply, from, app } => {
            let supply = parse_asset_amount(1, &supply)?;
            if name.is_empty() || symbol.is_empty() {
                bail!("--name and --symbol cannot be empty");
            }
            let conn = connect_as(&from, &app).await?;
            let call = Pa::issueCall { name, symbol: symbol.clone(), supply };
            let r = conn.send(call, 0, describe).await?;
            println!(
                "issued asset {} ({symbol}), supply {supply} in your private balance",
                r.asset
            );
        }
        AssetCommand::Transfer { to, amount, asset, from, app } => {
            let asset = parse_id(&asset, "asset")?;
            let amount = parse_asset_amount(asset, &amount)?;
            let to_addr = parse_party(&to)?;
            let conn = connect_as(&from, &app).await?;
            let call = Pa::transferCall { asset: U256::from(asset), to: to_addr, amount };
            let r = conn.send(call, 0, describe).await?;
            if !r.ok {
                bail!(
                    "insufficient private balance: you hold {} of asset {asset}, the transfer \
                     needs {}",
                    amount_text(asset, r.balance),
                    amount_text(asset, amount)
                );
            }
            println!(
                "sent {} of asset {asset} to {to} privately; your balance {}",
                amount_text(asset, amount),
                amount_text(asset, r.balance)
            );
        }
        AssetCommand::Balance { asset, signer, app } => {
            let asset = parse_id(&asset, "asset")?;
            let conn = connect_as(&signer, &app).await?;
            let call = Pa::balanceOfCall { asset: U256::from(asset) };
            let r = conn.call(call, describe).await?;
            println!("{}", amount_text(asset, r._0));
        }
        AssetCommand::Info { asset, signer, app } => {
            let asset = parse_id(&asset, "asset")?;
            let conn = connect_as(&signer, &app).await?;
            let call = Pa::assetInfoCall { asset: U256::from(asset) };
            let r = conn.call(call, describe).await?;
            println!(
                "asset {asset}: {} ({}), supply {}, issuer {}",
                r.name,
                r.symbol,
                amount_text(asset, r.supply),
                r.issuer
            );
        }
    }
    Ok(())
}
