//! The applications of docs/APPS.md as commands: `umbra secret` (secret vault), `umbra box`
//! (mystery boxes) and `umbra asset` (private assets). Each is a Solidity contract in an EVM
//! cluster (`solidity/contracts/`), driven through the same [`EvmSession`] as `umbra evm`;
//! arguments are validated before anything is sent, and a refused action is one line that says
//! why (the contract's custom error, decoded).

pub mod asset;
pub mod boxes;
pub mod secret;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use umbra_evm_abi::{
    alloy_sol_types::{SolCall, SolInterface},
    decode_revert, Address,
};
use umbra_primitives::{AccountId, Balance, Pair};

use crate::{
    cli::{pair_from_uri, parse_address, RpcArgs},
    evm_cli::{
        account_evm_address, parse_cluster, parse_evm_address, receipt_outcome, EvmSession,
        Outcome, DEFAULT_GAS,
    },
};

/// Where an application lives: its cluster, the worker to talk through, the node.
#[derive(Debug, Args, Clone)]
pub struct AppTarget {
    /// The EVM cluster holding the application (`umbra dev` prints it).
    #[arg(long, env = "UMBRA_APPS_CLUSTER")]
    pub cluster: String,
    /// Query endpoint of a worker assigned to the cluster.
    #[arg(long, env = "UMBRA_WORKER")]
    pub worker: String,
    /// Node.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// An account given as a secret URI (//Bob), an SS58 address or an EVM address (0x + 40 hex):
/// its EVM address (`msg.sender` inside the cluster).
pub fn parse_party(text: &str) -> anyhow::Result<Address> {
    if text.starts_with("0x") {
        parse_evm_address(text)
    } else {
        account_evm_address(text)
            .map_err(|e| anyhow!("`{text}` is neither an account nor an EVM address: {e}"))
    }
}

/// A chain account given as a secret URI or an SS58 address (payouts go to chain accounts).
pub fn parse_chain_account(text: &str) -> anyhow::Result<AccountId> {
    match parse_address(text) {
        Ok(id) => Ok(id),
        Err(_) if text.starts_with("//") => Ok(pair_from_uri(text)?.public()),
        Err(e) => Err(e),
    }
}

/// One application's command-line arguments: where it is.
pub(crate) trait App {
    /// The flag naming the application's address (for errors).
    const FLAG: &'static str;
    /// Its cluster, worker and node.
    fn target(&self) -> &AppTarget;
    /// Its EVM address as given.
    fn at(&self) -> &str;
}

macro_rules! app_args {
    ($ty:ty, $flag:literal) => {
        impl $crate::apps::App for $ty {
            const FLAG: &'static str = $flag;
            fn target(&self) -> &$crate::apps::AppTarget {
                &self.target
            }
            fn at(&self) -> &str {
                &self.at
            }
        }
    };
}
pub(crate) use app_args;

/// An application reached as one account: every action signs with `signer`.
pub(crate) struct Connected {
    pub signer: Pair,
    session: EvmSession,
    at: Address,
}

/// Parses the secret URI `signer`, the application's cluster and address (so bad input fails
/// before any connection), then connects to its worker and node.
pub(crate) async fn connect_as<A: App>(signer: &str, app: &A) -> anyhow::Result<Connected> {
    let signer = pair_from_uri(signer)?;
    let target = app.target();
    let cluster = parse_cluster(&target.cluster)?;
    let at = parse_evm_address(app.at()).with_context(|| format!("invalid {} address", A::FLAG))?;
    let session = EvmSession::connect(&target.rpc, cluster, &target.worker).await?;
    Ok(Connected { signer, session, at })
}

impl Connected {
    /// Sends `call` as an encrypted transaction from the signer with `value`; a revert is an
    /// error with the application's line for it.
    pub(crate) async fn send<C: SolCall, E: SolInterface>(
        &self,
        call: C,
        value: Balance,
        describe: impl Fn(E) -> String,
    ) -> anyhow::Result<C::Return> {
        self.send_with_gas(call, value, DEFAULT_GAS, describe).await
    }

    /// [`Connected::send`] with a gas limit other than the default.
    pub(crate) async fn send_with_gas<C: SolCall, E: SolInterface>(
        &self,
        call: C,
        value: Balance,
        gas: u64,
        describe: impl Fn(E) -> String,
    ) -> anyhow::Result<C::Return> {
        let receipt =
            self.session.send(&self.signer, self.at, call.abi_encode(), value, gas).await?;
        match receipt_outcome(&receipt) {
            Outcome::Success(data) => decoded::<C>(&data),
            Outcome::Revert(data) => bail!("{}", refusal(&data, describe)),
            Outcome::Halt(reason) => bail!("the transaction halted: {reason}"),
        }
    }

    /// A private, read-only call signed by the signer.
    pub(crate) async fn call<C: SolCall, E: SolInterface>(
        &self,
        query: C,
        describe: impl Fn(E) -> String,
    ) -> anyhow::Result<C::Return> {
        match self.session.call(&self.signer, self.at, query.abi_encode(), DEFAULT_GAS).await? {
            Outcome::Success(data) => decoded::<C>(&data),
            Outcome::Revert(data) => bail!("{}", refusal(&data, describe)),
            Outcome::Halt(reason) => bail!("the call halted: {reason}"),
        }
    }
}

/// The one line for a revert: the application's own wording for its custom errors, otherwise
/// the generic decoding (`Error(string)`, `Panic`).
pub(crate) fn refusal<E: SolInterface>(data: &[u8], describe: impl Fn(E) -> String) -> String {
    match E::abi_decode(data, true) {
        Ok(e) => describe(e),
        Err(_) => decode_revert(data, None).to_string(),
    }
}

fn decoded<C: SolCall>(data: &[u8]) -> anyhow::Result<C::Return> {
    C::abi_decode_returns(data, true)
        .map_err(|e| anyhow!("malformed answer from {}: {e}", C::SIGNATURE))
}

/// Parses a decimal id (a vault, a collection, a box, an asset).
pub(crate) fn parse_id(text: &str, what: &str) -> anyhow::Result<u64> {
    text.trim().parse::<u64>().map_err(|_| anyhow!("invalid {what} `{text}`: a whole number"))
}

/// Parses an amount of UMB (12 decimals) for `what`, refusing zero.
pub(crate) fn parse_umb(text: &str, what: &str) -> anyhow::Result<Balance> {
    let v = umbra_primitives::parse_amount(text).map_err(|e| anyhow!("invalid {what}: {e}"))?;
    if v == 0 {
        bail!("invalid {what}: must be more than 0");
    }
    Ok(v)
}
