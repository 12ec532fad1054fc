//! `umbra box ...`: mystery boxes (`solidity/contracts/MysteryBoxes.sol`). Item contents stay
//! inside the cluster; their commitments are public; the owner who opens a box alone learns
//! its item and salt, and anyone verifies them here, against the public commitments.

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use umbra_evm_abi::{
    apps::{
        box_commitment,
        MysteryBoxes::{self as Mb, MysteryBoxesErrors as E},
    },
    B256, U256,
};
use umbra_primitives::format_amount;

use super::{connect_as, parse_chain_account, parse_id, parse_party, AppTarget};

/// Most items in a collection, and the largest item (bytes), as the contract accepts them.
pub const MAX_ITEMS: usize = 64;
/// Largest item in bytes.
pub const MAX_ITEM_BYTES: usize = 256;

/// Which MysteryBoxes contract.
#[derive(Debug, Args, Clone)]
pub struct BoxApp {
    /// The MysteryBoxes contract's EVM address (`umbra dev` prints it).
    #[arg(long = "boxes", env = "UMBRA_BOXES")]
    pub at: String,
    /// Cluster, worker, node.
    #[command(flatten)]
    pub target: AppTarget,
}

super::app_args!(BoxApp, "--boxes");

/// `umbra box ...`
#[derive(Debug, Subcommand)]
pub enum BoxCommand {
    /// Mints a collection, one box per item; the items are shuffled into the boxes with the
    /// cluster's randomness and only their commitments are public.
    Mint {
        /// Collection name.
        #[arg(long)]
        name: String,
        /// An item (repeatable, 1 to 64).
        #[arg(long = "item")]
        items: Vec<String>,
        /// Creator's secret URI (owns every box at first).
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// A collection's public facts: commitments and which boxes are opened (anyone may ask).
    Info {
        /// Collection id.
        collection: String,
        /// Secret URI the query is signed with.
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// The boxes you own in a collection.
    Mine {
        /// Collection id.
        collection: String,
        /// Your secret URI.
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// Gives a box to another account.
    Transfer {
        /// Collection id.
        collection: String,
        /// Box number.
        #[arg(name = "box")]
        box_: String,
        /// Recipient: secret URI, SS58 address or EVM address.
        to: String,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// Lists an unopened box for sale (price 0 withdraws the listing).
    List {
        /// Collection id.
        collection: String,
        /// Box number.
        #[arg(name = "box")]
        box_: String,
        /// Price in UMB.
        #[arg(long)]
        price: String,
        /// Chain account paid on sale (default: yourself).
        #[arg(long)]
        pay_to: Option<String>,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// Buys a listed box for its price in UMB.
    Buy {
        /// Collection id.
        collection: String,
        /// Box number.
        #[arg(name = "box")]
        box_: String,
        /// Buyer's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// Opens your box: prints its item and salt (only you receive them).
    Open {
        /// Collection id.
        collection: String,
        /// Box number.
        #[arg(name = "box")]
        box_: String,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
    /// Checks a revealed item and salt against the collection's public commitments (computed
    /// here, not by the contract).
    Verify {
        /// Collection id.
        collection: String,
        /// The revealed item.
        #[arg(long)]
        item: String,
        /// The revealed salt (0x + 64 hex digits).
        #[arg(long)]
        salt: String,
        /// Secret URI the query for the commitments is signed with (anyone may ask).
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: BoxApp,
    },
}

/// The one line for each refusal of the contract.
pub fn describe(e: E) -> String {
    match e {
        E::NoSuchBox(x) => format!("no box {} in collection {}", x.r#box, x.collection),
        E::NoSuchCollection(x) => format!("no collection {}", x.collection),
        E::NotBoxOwner(x) => format!("not the owner: {} does not own this box", x.caller),
        E::AlreadyOpened(x) => {
            format!("box {} of collection {} is already opened", x.r#box, x.collection)
        }
        E::NotOpened(x) => format!("box {} of collection {} is not opened", x.r#box, x.collection),
        E::NotListed(x) => {
            format!("box {} of collection {} is not for sale", x.r#box, x.collection)
        }
        E::WrongPrice(x) => {
            format!("wrong price: the box costs {}, {} was sent", umb(x.price), umb(x.paid))
        }
        E::BadCollection(x) => format!("bad collection: {}", x.reason),
        E::ZeroAddress(_) => "the recipient cannot be the zero address".into(),
        E::PrecompileFailed(x) => format!("a system call failed (0x{})", hex::encode(&x.returned)),
    }
}

fn umb(v: U256) -> String {
    u128::try_from(v).map(format_amount).unwrap_or_else(|_| v.to_string())
}

fn parse_salt(text: &str) -> anyhow::Result<[u8; 32]> {
    let digits = text.trim().strip_prefix("0x").unwrap_or(text.trim());
    let bytes = hex::decode(digits).map_err(|_| anyhow!("invalid --salt: 0x and 64 hex digits"))?;
    <[u8; 32]>::try_from(bytes).map_err(|_| anyhow!("invalid --salt: 0x and 64 hex digits"))
}

fn ids(collection: &str, box_: &str) -> anyhow::Result<(U256, U256)> {
    Ok((U256::from(parse_id(collection, "collection")?), U256::from(parse_id(box_, "box number")?)))
}

/// Runs `umbra box ...`. Everything is validated before the first connection.
pub async fn boxes(cmd: BoxCommand) -> anyhow::Result<()> {
    match cmd {
        BoxCommand::Mint { name, items, from, app } => {
            if items.is_empty() || items.len() > MAX_ITEMS {
                bail!("give 1 to {MAX_ITEMS} --item (got {})", items.len());
            }
            if let Some(bad) = items.iter().find(|i| i.is_empty() || i.len() > MAX_ITEM_BYTES) {
                bail!("item `{bad}`: items are 1 to {MAX_ITEM_BYTES} bytes");
            }
            let conn = connect_as(&from, &app).await?;
            let n = items.len();
            // About 150,000 gas per item (its bytes, salt, commitment, box), 30,000,000 at most.
            let gas = u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(200_000);
            let gas = gas.saturating_add(500_000).min(crate::evm_cli::MAX_GAS);
            let call = Mb::mintCall { name, items };
            let r = conn.send_with_gas(call, 0, gas, describe).await?;
            println!("collection {} minted: {n} boxes, all yours; commitments are public", r.c);
        }
        BoxCommand::Info { collection, signer, app } => {
            let c = U256::from(parse_id(&collection, "collection")?);
            let conn = connect_as(&signer, &app).await?;
            let info = conn.call(Mb::collectionInfoCall { c }, describe).await?;
            println!("collection {c} `{}` by {}", info.name, info.creator);
            for (i, (commitment, opened)) in info.commitments.iter().zip(&info.opened).enumerate() {
                let state = if *opened { "opened" } else { "unopened" };
                println!("box {i}: {state}; commitment #{i} {commitment}");
            }
        }
        BoxCommand::Mine { collection, signer, app } => {
            let c = U256::from(parse_id(&collection, "collection")?);
            let conn = connect_as(&signer, &app).await?;
            let mine = conn.call(Mb::myBoxesCall { c }, describe).await?.boxes;
            let list: Vec<String> = mine.iter().map(ToString::to_string).collect();
            println!("your boxes in collection {c}: [{}]", list.join(", "));
        }
        BoxCommand::Transfer { collection, box_, to, from, app } => {
            let (c, b) = ids(&collection, &box_)?;
            let to_addr = parse_party(&to)?;
            let conn = connect_as(&from, &app).await?;
            let call = Mb::transferCall { c, r#box: b, to: to_addr };
            conn.send(call, 0, describe).await?;
            println!("box {b} of collection {c} given to {to}");
        }
        BoxCommand::List { collection, box_, price, pay_to, from, app } => {
            let (c, b) = ids(&collection, &box_)?;
            let price = umbra_primitives::parse_amount(&price)
                .map_err(|e| anyhow!("invalid --price: {e}"))?;
            let pay_to = pay_to.map(|p| parse_chain_account(&p)).transpose()?;
            let conn = connect_as(&from, &app).await?;
            let pay_to = pay_to.unwrap_or_else(|| conn.signer.public());
            let call = Mb::listCall {
                c,
                r#box: b,
                price: U256::from(price),
                payTo: B256::from(*pay_to.as_bytes()),
            };
            conn.send(call, 0, describe).await?;
            if price == 0 {
                println!("box {b} of collection {c} is no longer for sale");
            } else {
                println!("box {b} of collection {c} for sale at {}", format_amount(price));
            }
        }
        BoxCommand::Buy { collection, box_, from, app } => {
            let (c, b) = ids(&collection, &box_)?;
            let conn = connect_as(&from, &app).await?;
            let price = conn.call(Mb::priceOfCall { c, r#box: b }, describe).await?._0;
            if price.is_zero() {
                bail!("{}", describe(E::NotListed(Mb::NotListed { collection: c, r#box: b })));
            }
            let value = u128::try_from(price).context("the price is out of range")?;
            conn.send(Mb::buyCall { c, r#box: b }, value, describe).await?;
            println!("bought box {b} of collection {c} for {}", format_amount(value));
        }
        BoxCommand::Open { collection, box_, from, app } => {
            let (c, b) = ids(&collection, &box_)?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Mb::openCall { c, r#box: b }, 0, describe).await?;
            println!("item: {}", r.item);
            println!("salt: {}", r.salt);
            println!(
                "anyone can check it: umbra box verify {c} --item '{}' --salt {}",
                r.item.replace('\'', "'\\''"),
                r.salt
            );
        }
        BoxCommand::Verify { collection, item, salt, signer, app } => {
            let c = U256::from(parse_id(&collection, "collection")?);
            let salt = parse_salt(&salt)?;
            let conn = connect_as(&signer, &app).await?;
            let info = conn.call(Mb::collectionInfoCall { c }, describe).await?;
            let mine = box_commitment(&item, &salt);
            match info.commitments.iter().position(|x| x.0 == mine) {
                Some(i) => println!(
                    "verified: `{item}` with this salt is commitment #{i} of collection {c}"
                ),
                None => bail!(
                    "does not verify: keccak256(item ‖ salt) = 0x{} is not a commitment of \
                     collection {c}",
                    hex::encode(mine)
                ),
            }
        }
    }
    Ok(())
}
