//! `umbra secret ...`: the secret vault (`solidity/contracts/SecretVault.sol`). A secret goes
//! into the cluster sealed to its key and comes out only in the private receipt of an account
//! that passed the owner's policy.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use umbra_evm_abi::{
    apps::SecretVault::{self as Sv, SecretVaultErrors as E},
    Address, U256,
};

use super::{connect_as, parse_id, parse_party, AppTarget};

/// Largest secret the vault keeps (bytes).
pub const MAX_SECRET: usize = 1024;

/// Which SecretVault contract.
#[derive(Debug, Args, Clone)]
pub struct VaultApp {
    /// The SecretVault contract's EVM address (`umbra dev` prints it).
    #[arg(long = "vault", env = "UMBRA_SECRET_VAULT")]
    pub at: String,
    /// Cluster, worker, node.
    #[command(flatten)]
    pub target: AppTarget,
}

/// The secret, from the command line or (better: not in the shell's history) from a file.
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = false)]
pub struct SecretInput {
    /// The secret as text.
    #[arg(long)]
    pub secret: Option<String>,
    /// A file holding the secret (its bytes, as they are).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
}

impl SecretInput {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        let bytes = match (&self.secret, &self.secret_file) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(p)) => {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?
            }
            (None, None) => bail!("give --secret or --secret-file"),
        };
        if bytes.is_empty() || bytes.len() > MAX_SECRET {
            bail!("the secret must be 1 to {MAX_SECRET} bytes (got {})", bytes.len());
        }
        Ok(bytes)
    }
}

super::app_args!(VaultApp, "--vault");

/// `umbra secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Stores a secret under a new vault you own, with its release policy.
    Create {
        /// The secret.
        #[command(flatten)]
        secret: SecretInput,
        /// An account that may claim the secret (repeatable; more with `allow`).
        #[arg(long = "allow")]
        allowed: Vec<String>,
        /// A guardian (repeatable, at most 16).
        #[arg(long = "guardian")]
        guardians: Vec<String>,
        /// Guardian approvals needed per claim and for a recovery (M of N).
        #[arg(long, default_value_t = 0)]
        threshold: u8,
        /// Time lock: blocks between a claim's request and the claim.
        #[arg(long, default_value_t = 0)]
        delay: u64,
        /// Release the secret once only (until it is rotated).
        #[arg(long)]
        once: bool,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Allows an account to claim (or, with --remove, stops allowing it). Owner only.
    Allow {
        /// Vault id.
        id: String,
        /// The account.
        account: String,
        /// Remove the account instead.
        #[arg(long)]
        remove: bool,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Replaces the secret; earlier requests and approvals no longer count. Owner only.
    Rotate {
        /// Vault id.
        id: String,
        /// The secret.
        #[command(flatten)]
        secret: SecretInput,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Deletes the secret for good. Owner only.
    Revoke {
        /// Vault id.
        id: String,
        /// Owner's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Starts the time lock of your claim (an allowed account).
    Request {
        /// Vault id.
        id: String,
        /// Your secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// A guardian approves an account's claim.
    Approve {
        /// Vault id.
        id: String,
        /// The claiming account.
        account: String,
        /// Guardian's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Claims the secret: printed (or written to --out) if the policy lets you; logged.
    Claim {
        /// Vault id.
        id: String,
        /// Write the secret to this file instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Your secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Recovery, step 1: the owner's new account asks to take the vault over.
    RecoverRequest {
        /// Vault id.
        id: String,
        /// The new account's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Recovery, step 2: a guardian approves the new owner.
    RecoverApprove {
        /// Vault id.
        id: String,
        /// The new owner's account.
        new_owner: String,
        /// Guardian's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Recovery, step 3: the new account becomes the owner and gets the secret.
    Recover {
        /// Vault id.
        id: String,
        /// Write the secret to this file instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The new account's secret URI.
        #[arg(long)]
        from: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// The owner reads the secret back.
    Read {
        /// Vault id.
        id: String,
        /// Write the secret to this file instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Owner's secret URI.
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// The owner reads the policy.
    Policy {
        /// Vault id.
        id: String,
        /// Owner's secret URI.
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// The owner reads the release log.
    Log {
        /// Vault id.
        id: String,
        /// Owner's secret URI.
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
    /// Lists the vaults you own.
    List {
        /// Your secret URI.
        #[arg(long = "as")]
        signer: String,
        /// The application, its cluster, a worker, the node.
        #[command(flatten)]
        app: VaultApp,
    },
}

/// The one line for each refusal of the contract.
pub fn describe(e: E) -> String {
    match e {
        E::NoSuchVault(x) => format!("no vault {}", x.vault),
        E::NotOwner(x) => format!("not the owner: {} does not own this vault", x.caller),
        E::NotGuardian(x) => {
            format!("not a guardian: {} is not a guardian of this vault", x.caller)
        }
        E::NotAllowed(x) => {
            format!("policy not met: {} is not allowed to claim this secret", x.caller)
        }
        E::Revoked(x) => format!("vault {} is revoked: its secret is deleted", x.vault),
        E::AlreadyReleased(x) => {
            format!("policy not met: vault {} releases once and was already released", x.vault)
        }
        E::NotRequested(x) => format!(
            "policy not met: {} must first request (`umbra secret request`, or \
             `recover-request` for a recovery) and wait out the time lock",
            x.account
        ),
        E::TimeLocked(x) => format!(
            "policy not met: time-locked until block #{} (now #{})",
            x.unlockBlock, x.currentBlock
        ),
        E::ApprovalsMissing(x) => {
            format!("policy not met: {} of {} guardian approvals", x.have, x.need)
        }
        E::AlreadyApproved(x) => format!("guardian {} already approved this", x.guardian),
        E::NoRecovery(x) => {
            format!("vault {} has no guardians, so it cannot be recovered", x.vault)
        }
        E::BadPolicy(x) => format!("bad policy: {}", x.reason),
    }
}

/// Prints a secret (as text when it is UTF-8 without control characters, else as 0x hex), or
/// writes its bytes to `out`.
fn output_secret(secret: &[u8], out: Option<&PathBuf>) -> anyhow::Result<()> {
    match out {
        Some(p) => {
            std::fs::write(p, secret).with_context(|| format!("cannot write {}", p.display()))?;
            println!("secret written to {} ({} bytes)", p.display(), secret.len());
        }
        None => match std::str::from_utf8(secret) {
            Ok(t) if !t.chars().any(char::is_control) => println!("{t}"),
            _ => println!("0x{}", hex::encode(secret)),
        },
    }
    Ok(())
}

fn vault_id(id: &str) -> anyhow::Result<U256> {
    Ok(U256::from(parse_id(id, "vault id")?))
}

/// Runs `umbra secret ...`. Everything is validated before the first connection.
pub async fn secret(cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Create { secret, allowed, guardians, threshold, delay, once, from, app } => {
            let secret = secret.bytes()?;
            let allowed = allowed.iter().map(|a| parse_party(a)).collect::<Result<Vec<_>, _>>()?;
            let guardians =
                guardians.iter().map(|g| parse_party(g)).collect::<Result<Vec<_>, _>>()?;
            if usize::from(threshold) > guardians.len() {
                bail!(
                    "bad policy: --threshold {threshold} is above the {} guardians",
                    guardians.len()
                );
            }
            if !guardians.is_empty() && threshold == 0 {
                bail!("bad policy: guardians need a --threshold of at least 1");
            }
            let conn = connect_as(&from, &app).await?;
            let call = Sv::createCall {
                secret: secret.into(),
                guardians,
                threshold,
                delay,
                once,
                allowed,
            };
            let r = conn.send(call, 0, describe).await?;
            println!("vault {} created", r.id);
        }
        SecretCommand::Allow { id, account, remove, from, app } => {
            let id = vault_id(&id)?;
            let account_addr = parse_party(&account)?;
            let conn = connect_as(&from, &app).await?;
            let call = Sv::allowCall { id, account: account_addr, yes: !remove };
            conn.send(call, 0, describe).await?;
            let what = if remove { "no longer allowed" } else { "allowed" };
            println!("{account} {what} to claim vault {id}");
        }
        SecretCommand::Rotate { id, secret, from, app } => {
            let id = vault_id(&id)?;
            let secret = secret.bytes()?;
            let conn = connect_as(&from, &app).await?;
            conn.send(Sv::rotateCall { id, secret: secret.into() }, 0, describe).await?;
            println!("vault {id}: secret rotated; earlier requests and approvals no longer count");
        }
        SecretCommand::Revoke { id, from, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&from, &app).await?;
            conn.send(Sv::revokeCall { id }, 0, describe).await?;
            println!("vault {id} revoked: the secret is deleted");
        }
        SecretCommand::Request { id, from, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Sv::requestCall { id }, 0, describe).await?;
            println!("requested; claim from block #{}", r.unlockBlock);
        }
        SecretCommand::Approve { id, account, from, app } => {
            let id = vault_id(&id)?;
            let account_addr = parse_party(&account)?;
            let conn = connect_as(&from, &app).await?;
            let call = Sv::approveCall { id, account: account_addr };
            let r = conn.send(call, 0, describe).await?;
            println!("approved the claim of {account} on vault {id} ({} approvals)", r.count);
        }
        SecretCommand::Claim { id, out, from, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Sv::claimCall { id }, 0, describe).await?;
            output_secret(&r.secret, out.as_ref())?;
        }
        SecretCommand::RecoverRequest { id, from, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Sv::requestRecoveryCall { id }, 0, describe).await?;
            println!(
                "recovery requested; the guardians approve with `umbra secret recover-approve \
                 {id} {}`; recover from block #{}",
                Address::from(umbra_contracts::evm::evm_address(&conn.signer.public())),
                r.unlockBlock
            );
        }
        SecretCommand::RecoverApprove { id, new_owner, from, app } => {
            let id = vault_id(&id)?;
            let new_owner_addr = parse_party(&new_owner)?;
            let conn = connect_as(&from, &app).await?;
            let call = Sv::approveRecoveryCall { id, newOwner: new_owner_addr };
            let r = conn.send(call, 0, describe).await?;
            println!("approved {new_owner} as the new owner of vault {id} ({} approvals)", r.count);
        }
        SecretCommand::Recover { id, out, from, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&from, &app).await?;
            let r = conn.send(Sv::recoverCall { id }, 0, describe).await?;
            eprintln!("vault {id} recovered: you are its owner");
            output_secret(&r.secret, out.as_ref())?;
        }
        SecretCommand::Read { id, out, signer, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&signer, &app).await?;
            let r = conn.call(Sv::secretOfCall { id }, describe).await?;
            output_secret(&r._0, out.as_ref())?;
        }
        SecretCommand::Policy { id, signer, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&signer, &app).await?;
            let p = conn.call(Sv::policyCall { id }, describe).await?;
            let list =
                |v: &[Address]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            println!("allowed: [{}]", list(&p.allowed));
            println!("guardians: [{}], approvals needed: {}", list(&p.guardians), p.threshold);
            println!("time lock: {} blocks; release once: {}", p.delay, p.once);
            println!("released: {}; revoked: {}", p.released, p.revoked);
        }
        SecretCommand::Log { id, signer, app } => {
            let id = vault_id(&id)?;
            let conn = connect_as(&signer, &app).await?;
            let log = conn.call(Sv::releaseLogCall { id }, describe).await?._0;
            if log.is_empty() {
                println!("vault {id}: no releases");
            }
            for r in log {
                let how = if r.recovery { "recovery by" } else { "released to" };
                println!("#{} {how} {}", r.blockNumber, r.to);
            }
        }
        SecretCommand::List { signer, app } => {
            let conn = connect_as(&signer, &app).await?;
            let ids = conn.call(Sv::myVaultsCall {}, describe).await?.ids;
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            println!("vaults: [{}]", ids.join(", "));
        }
    }
    Ok(())
}
