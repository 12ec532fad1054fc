//! `umbra validators …`: the BFT validator set (docs/CONSENSUS.md). An operator prints what it
//! hands the council (`key`: its account and ed25519 consensus key, never a secret); the council
//! schedules a new set (`set`), which takes effect at the next epoch boundary.

use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use umbra_primitives::finality::{consensus_public, consensus_seed, Validator};
use umbra_runtime::{governance, Call};

use crate::cli::{pair_from_uri, parse_address, sign_and_report, RpcArgs};
use crate::sdk::UmbraApiClient;

/// `umbra validators …`.
#[derive(Debug, Subcommand)]
pub enum ValidatorsCommand {
    /// The validator set in force at the head.
    List {
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Prints the validator entry of a validator key (`ACCOUNT:CONSENSUS_KEY`): what an operator
    /// hands the council, derived locally (the secret URI never leaves this process).
    Key {
        /// The validator's secret URI (as given to `umbra node --validator-key`).
        #[arg(long)]
        validator_key: String,
    },
    /// Schedules a new validator set (council); it takes effect at the next epoch boundary.
    Set {
        /// A validator: `ACCOUNT:CONSENSUS_KEY[:POWER]` (SS58 account, 32-byte hex ed25519 key,
        /// power 1 by default), as `umbra validators key` prints it. Repeat for each.
        #[arg(long = "validator", required = true)]
        validators: Vec<String>,
        /// Council key.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Node.
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Parses `ACCOUNT:CONSENSUS_KEY[:POWER]`.
pub fn parse_validator(text: &str) -> anyhow::Result<Validator> {
    let mut parts = text.split(':');
    let (Some(account), Some(key)) = (parts.next(), parts.next()) else {
        bail!("a validator is ACCOUNT:CONSENSUS_KEY[:POWER], got {text:?}");
    };
    let power = match parts.next() {
        None => 1,
        Some(p) => p.parse::<u64>().map_err(|_| anyhow!("invalid power {p:?} in {text:?}"))?,
    };
    if parts.next().is_some() {
        bail!("a validator is ACCOUNT:CONSENSUS_KEY[:POWER], got {text:?}");
    }
    let account = parse_address(account)?;
    let bytes = hex::decode(key.trim_start_matches("0x"))
        .map_err(|_| anyhow!("the consensus key {key:?} is not hex"))?;
    let consensus_key: [u8; 32] =
        bytes.try_into().map_err(|_| anyhow!("the consensus key {key:?} is not 32 bytes"))?;
    if power == 0 {
        bail!("a validator's power must be at least 1 ({text:?})");
    }
    Ok(Validator { account, consensus_key, power })
}

/// Runs `umbra validators …`.
pub async fn run(cmd: ValidatorsCommand) -> anyhow::Result<()> {
    match cmd {
        ValidatorsCommand::List { rpc } => {
            let client = rpc.connect().await?;
            match client.api().umbra_validators().await? {
                Some(set) => println!("{}", serde_json::to_string_pretty(&set)?),
                None => println!("this chain has a single authority, no validator set"),
            }
        }
        ValidatorsCommand::Key { validator_key } => {
            let pair = pair_from_uri(&validator_key)?;
            let key = consensus_public(&consensus_seed(&pair.to_secret_bytes()));
            println!("{}:{}", pair.public(), hex::encode(key));
        }
        ValidatorsCommand::Set { validators, from, rpc } => {
            let validators = validators
                .iter()
                .map(|v| parse_validator(v))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let from = pair_from_uri(&from).context("the council key")?;
            let client = rpc.connect().await?;
            let call = Call::Governance(governance::Call::SetValidators { validators });
            sign_and_report(&client, &from, call, 0, "validator set change").await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn validator_entries_parse_and_bad_ones_are_refused_in_one_line() {
        let key = "11".repeat(32);
        let v = parse_validator(&format!("{ALICE}:{key}")).unwrap();
        assert_eq!((v.consensus_key, v.power), ([0x11; 32], 1));
        assert_eq!(parse_validator(&format!("{ALICE}:0x{key}:7")).unwrap().power, 7);
        for (bad, why) in [
            (ALICE.to_string(), "ACCOUNT:CONSENSUS_KEY"),
            (format!("{ALICE}:zz"), "not hex"),
            (format!("{ALICE}:1122"), "not 32 bytes"),
            (format!("{ALICE}:{key}:0"), "at least 1"),
            (format!("{ALICE}:{key}:x"), "invalid power"),
            (format!("{ALICE}:{key}:1:2"), "ACCOUNT:CONSENSUS_KEY"),
            (format!("nobody:{key}"), ""),
        ] {
            let err = parse_validator(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
