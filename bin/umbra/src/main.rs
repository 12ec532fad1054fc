//! `umbra`: the single binary of the Umbra network — node, client commands and benchmarks.
//! This file only parses the command line and hands off to the library crates.

mod analytics;
mod bench;
mod dashboard;
mod dev;
mod dev_bft;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use umbra_client::cli::{self, ChainCommand, KeyCommand, RpcArgs, TransferArgs, WorkerCommand};
use umbra_node::{run::NodeConfig, ChainSpec};

/// Umbra: a confidential compute cloud.
#[derive(Debug, Parser)]
#[command(name = "umbra", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a chain node.
    Node(NodeArgs),
    /// Prints a chain spec as JSON (edit it, then `umbra node --chain FILE`).
    BuildSpec {
        /// The built-in development chain (same as `--chain dev`).
        #[arg(long, conflicts_with = "chain")]
        dev: bool,
        /// A built-in chain: `dev` (accepts the insecure simulated platform) or `local`
        /// (production-like: simulated workers can never register).
        #[arg(long)]
        chain: Option<String>,
        /// Run the chain by N BFT validators (the first N dev accounts, malachite consensus;
        /// docs/CONSENSUS.md).
        #[arg(long)]
        validators: Option<usize>,
    },
    /// Key management.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Transfers UMB and waits until a block includes the transfer.
    Transfer(TransferArgs),
    /// Shows an account's balances and nonce.
    Account {
        /// SS58 address.
        address: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Chain queries.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Runs a worker (`umbra worker --rpc URL --base-path DIR --operator URI ...`), or talks to
    /// one (`umbra worker info|query|ping`).
    Worker(WorkerArgs),
    /// Lists the workers registered on chain.
    Workers {
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Stake pools: create, add workers, contribute, withdraw, start/stop workers, claim rewards.
    #[command(subcommand)]
    Pool(cli::PoolCommand),
    /// The lending vault: deposit, withdraw, borrow stake for a pool, repay.
    #[command(subcommand)]
    Vault(cli::VaultCommand),
    /// Confidential contracts: deploy, encrypted commands, queries through assigned workers.
    #[command(subcommand)]
    Contract(umbra_client::contracts_cli::ContractCommand),
    /// EVM clusters: create, deploy Solidity artifacts, encrypted transactions, private calls,
    /// logs decrypted for the asker.
    #[command(subcommand)]
    Evm(umbra_client::evm_cli::EvmCommand),
    /// Privacy-first web analytics: register a site, run its collector, read its report.
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommandLine),
    /// Secret vault: keep a secret in a cluster, release it only under your policy (allowed
    /// accounts, M-of-N guardians, time lock, once), rotate, revoke, recover, read the log.
    #[command(subcommand)]
    Secret(umbra_client::apps::secret::SecretCommand),
    /// Mystery boxes: mint secret-box NFTs, trade them unopened for UMB, open and verify.
    #[command(subcommand)]
    Box(umbra_client::apps::boxes::BoxCommand),
    /// Private assets: deposit UMB privately, issue tokens, private transfers and balances.
    #[command(subcommand)]
    Asset(umbra_client::apps::asset::AssetCommand),
    /// BFT validators: the set in force, an operator's validator entry, a new set (council).
    #[command(subcommand)]
    Validators(umbra_client::validators_cli::ValidatorsCommand),
    /// Gatekeepers: elect, rotate the master key, list.
    #[command(subcommand)]
    Gatekeeper(umbra_client::contracts_cli::GatekeeperCommand),
    /// Starts a whole local network: a dev node, N simulated workers and the dashboard. A worker
    /// that dies can be restarted (`restart N`); Ctrl-C stops the network.
    Dev(dev::DevArgs),
    /// Serves a live web dashboard of a node's network (`--rpc URL --addr 127.0.0.1:PORT`).
    Dashboard(dashboard::DashboardArgs),
    /// Runs the benchmarks and prints a table.
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct WorkerArgs {
    #[command(subcommand)]
    command: Option<WorkerCommand>,
    #[command(flatten)]
    run: WorkerRunArgs,
}

#[derive(Debug, clap::Args)]
struct WorkerRunArgs {
    /// Node RPC URL.
    #[arg(long, env = "UMBRA_RPC", default_value = cli::DEFAULT_RPC)]
    rpc: String,
    /// Directory for the worker's sealed blobs.
    #[arg(long)]
    base_path: Option<PathBuf>,
    /// TEE platform: simulated (insecure, development) or sgx-dcap.
    #[arg(long, default_value = "simulated")]
    platform: umbra_worker::run::PlatformChoice,
    /// Address of the query endpoint (GET /info, POST /query).
    #[arg(long, default_value = "127.0.0.1:8100")]
    query_addr: SocketAddr,
    /// Secret URI of the operator account (pays registration and egress).
    #[arg(long)]
    operator: Option<String>,
    /// Secret URI of the vendor root certifying the simulated platform.
    #[arg(long, default_value = umbra_tee::DEV_VENDOR_ROOT_URI)]
    vendor_root: String,
}

async fn worker(args: WorkerRunArgs) -> anyhow::Result<()> {
    let base_path = args.base_path.context("--base-path is required to run a worker")?;
    let operator =
        cli::pair_from_uri(&args.operator.context("--operator URI is required to run a worker")?)
            .context("invalid --operator")?;
    let vendor_root = cli::pair_from_uri(&args.vendor_root).context("invalid --vendor-root")?;
    let config = umbra_worker::WorkerConfig {
        rpc: args.rpc,
        base_path,
        platform: args.platform,
        query_addr: args.query_addr,
        operator,
        vendor_root,
    };
    umbra_worker::run(config, shutdown_signal()).await
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// Run the built-in development chain (authority and council //Alice).
    #[arg(long, conflicts_with = "chain")]
    dev: bool,
    /// Chain spec JSON file.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// Directory for the chain database.
    #[arg(long)]
    base_path: PathBuf,
    /// JSON-RPC (HTTP + WebSocket) listen address.
    #[arg(long, default_value = "127.0.0.1:9944")]
    rpc_addr: SocketAddr,
    /// Secret URI of the authority key this node seals blocks with (default //Alice with --dev).
    #[arg(long)]
    authority: Option<String>,
    /// Block time in milliseconds for this node (default: the chain's parameter).
    #[arg(long)]
    block_time_ms: Option<u64>,
    /// BFT (malachite) node: the libp2p listen address (`host:port`). The chain spec must list
    /// validators; without `--validator-key` the node is a full node (follows, never votes).
    #[arg(long)]
    p2p_addr: Option<SocketAddr>,
    /// BFT: secret URI of this validator's account key (its ed25519 consensus key is derived
    /// from it: docs/CONSENSUS.md).
    #[arg(long, requires = "p2p_addr", conflicts_with = "authority")]
    validator_key: Option<String>,
    /// BFT: peers to connect to, `host:port,host:port`.
    #[arg(long, value_delimiter = ',', requires = "p2p_addr")]
    bootnodes: Vec<SocketAddr>,
}

fn init_logs(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn node(args: NodeArgs) -> anyhow::Result<()> {
    let spec = match (&args.chain, args.dev) {
        (Some(path), _) => ChainSpec::load(path)?,
        (None, true) => ChainSpec::dev(),
        (None, false) => anyhow::bail!("choose a chain: --dev or --chain FILE"),
    };
    #[cfg(not(feature = "bft"))]
    if args.p2p_addr.is_some() {
        let _ = (&args.validator_key, &args.bootnodes);
        anyhow::bail!(
            "this umbra was built without BFT consensus: cargo build -p umbra --features bft"
        );
    }
    #[cfg(feature = "bft")]
    if let Some(p2p_addr) = args.p2p_addr {
        let validator = match &args.validator_key {
            Some(uri) => Some(cli::pair_from_uri(uri).context("invalid --validator-key")?),
            None => None,
        };
        let config = umbra_node::run::BftNodeConfig {
            base_path: args.base_path,
            spec,
            validator,
            rpc_addr: args.rpc_addr,
            p2p_addr,
            bootnodes: args.bootnodes,
            block_time_ms: args.block_time_ms,
        };
        return umbra_node::run::run_bft(config, shutdown_signal()).await;
    }
    let uri = match (&args.authority, args.dev) {
        (Some(u), _) => u.clone(),
        (None, true) => "//Alice".to_string(),
        (None, false) => anyhow::bail!("--authority URI is required with --chain"),
    };
    let authority = cli::pair_from_uri(&uri).context("invalid --authority")?;
    if let Some(t) = args.block_time_ms {
        anyhow::ensure!(
            (10..=600_000).contains(&t),
            "--block-time-ms must be between 10 and 600000"
        );
    }
    let config = NodeConfig {
        base_path: args.base_path,
        spec,
        authority,
        rpc_addr: args.rpc_addr,
        block_time_ms: args.block_time_ms,
    };
    umbra_node::run::run(config, shutdown_signal()).await
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Node(args) => node(args).await,
        Command::BuildSpec { dev, chain, validators } => {
            let name = match (dev, chain.as_deref()) {
                (true, _) => "dev",
                (false, Some(name)) => name,
                (false, None) => anyhow::bail!("choose a chain: --dev or --chain dev|local"),
            };
            let mut spec = ChainSpec::by_name(name)?;
            if let Some(n) = validators {
                spec = spec.with_dev_validators(n)?;
            }
            println!("{}", spec.to_json());
            Ok(())
        }
        Command::Key(cmd) => cli::key(cmd),
        Command::Transfer(args) => cli::transfer(args).await,
        Command::Account { address, rpc } => cli::account(&address, &rpc).await,
        Command::Chain(cmd) => cli::chain(cmd).await,
        Command::Worker(WorkerArgs { command: Some(cmd), .. }) => cli::worker(cmd).await,
        Command::Worker(WorkerArgs { command: None, run }) => worker(run).await,
        Command::Workers { rpc } => cli::workers(&rpc).await,
        Command::Pool(cmd) => cli::pool(cmd).await,
        Command::Vault(cmd) => cli::vault(cmd).await,
        Command::Dev(args) => dev::run(args, shutdown_signal()).await,
        Command::Dashboard(args) => dashboard::run(args, shutdown_signal()).await,
        Command::Contract(cmd) => umbra_client::contracts_cli::contract(cmd).await,
        Command::Evm(cmd) => umbra_client::evm_cli::evm(cmd).await,
        Command::Validators(cmd) => umbra_client::validators_cli::run(cmd).await,
        Command::Gatekeeper(cmd) => umbra_client::contracts_cli::gatekeeper_cmd(cmd).await,
        Command::Secret(cmd) => umbra_client::apps::secret::secret(cmd).await,
        Command::Box(cmd) => umbra_client::apps::boxes::boxes(cmd).await,
        Command::Asset(cmd) => umbra_client::apps::asset::asset(cmd).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Analytics(cmd) => analytics::run(cmd, shutdown_signal()).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Benchmarks print a table; per-block logs would drown it.
    init_logs(if matches!(cli.command, Command::Bench(_)) { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
