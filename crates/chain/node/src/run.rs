//! Running a node: open the database, serve RPC, author a block every block time until asked to
//! stop.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use umbra_primitives::Pair;

use crate::{chain_spec::ChainSpec, consensus::DevAuthority, rpc, service::Node};

/// What `umbra node` needs.
#[derive(Debug)]
pub struct NodeConfig {
    /// Directory holding `chain.redb`.
    pub base_path: PathBuf,
    /// The chain spec.
    pub spec: ChainSpec,
    /// The authority key this node seals with.
    pub authority: Pair,
    /// Where to serve JSON-RPC.
    pub rpc_addr: SocketAddr,
    /// Block time for this node's authoring, overriding the on-chain parameter.
    pub block_time_ms: Option<u64>,
}

/// Printed (warn level, one log line each) at start-up when the chain accepts simulated workers.
pub const INSECURE_CHAIN_BANNER: &str = "\
################################################################################
##  INSECURE CHAIN: this chain accepts SIMULATED TEE workers.                 ##
##  Simulated attestations are certified by a vendor root anyone can derive:  ##
##  any host can forge them and read every secret its worker holds.          ##
##  Use this chain for development and tests only, never for real value.     ##
##  Production-like chains: `umbra build-spec --chain local`.                ##
################################################################################";

/// Runs the node until `shutdown` resolves. Each block is committed before the next starts, so
/// stopping (or being killed) between blocks loses nothing committed.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let authority = config.authority.public();
    let engine = Arc::new(DevAuthority::new(config.authority));
    let node = Node::open(&config.base_path, config.spec, engine)?;
    let authorities = node.with_state(umbra_runtime::system::authorities)?;
    anyhow::ensure!(
        authorities.contains(&authority),
        "the --authority key {authority} is not an authority of this chain (authorities: {})",
        authorities.iter().map(|a| a.to_ss58()).collect::<Vec<_>>().join(", ")
    );
    let (insecure, handle) = start_serving(&node, "authority", config.rpc_addr).await?;
    let producer = tokio::spawn(produce_blocks(node.clone(), config.block_time_ms, insecure));
    shutdown.await;
    tracing::info!("shutting down");
    producer.abort();
    let _ = producer.await;
    let _ = handle.stop();
    handle.stopped().await;
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What every kind of node does once its database is open: logs the start (with its `role`),
/// warns when the chain accepts simulated workers, starts JSON-RPC. Returns whether the chain
/// accepts simulated workers, and the RPC server.
async fn start_serving(
    node: &Arc<Node>,
    role: &str,
    rpc_addr: SocketAddr,
) -> anyhow::Result<(bool, jsonrpsee::server::ServerHandle)> {
    tracing::info!(
        chain = %node.spec().name,
        genesis = %node.genesis_hash(),
        head = node.head().number,
        consensus = node.consensus_name(),
        role,
        "node started"
    );
    let insecure = node.with_state(umbra_runtime::registry::accepts_insecure)?;
    if insecure {
        print_insecure_banner();
    }
    let (addr, handle) = rpc::start(node.clone(), rpc_addr).await?;
    tracing::info!(%addr, "JSON-RPC (HTTP and WebSocket) listening");
    Ok((insecure, handle))
}

fn print_insecure_banner() {
    for line in INSECURE_CHAIN_BANNER.lines() {
        tracing::warn!("{line}");
    }
}

/// Authors blocks forever. `insecure` says whether the chain accepted simulated workers at the
/// last check: when governance starts accepting them, the banner is printed again at once.
async fn produce_blocks(node: Arc<Node>, block_time_override: Option<u64>, mut insecure: bool) {
    loop {
        let block_time = match block_time_override {
            Some(t) => t,
            None => node.parameters().map(|p| p.block_time_ms).unwrap_or(1000),
        };
        let due = node.head().timestamp.saturating_add(block_time);
        let now = now_ms();
        if due > now {
            tokio::time::sleep(Duration::from_millis(due.saturating_sub(now))).await;
        }
        let n = node.clone();
        match tokio::task::spawn_blocking(move || n.author_block()).await {
            Ok(Ok(_)) => {
                let now = node.with_state(umbra_runtime::registry::accepts_insecure);
                if let Ok(now) = now {
                    if now && !insecure {
                        print_insecure_banner();
                    }
                    insecure = now;
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "block authoring failed");
                tokio::time::sleep(Duration::from_millis(block_time)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "block authoring task panicked");
                return;
            }
        }
    }
}

/// What `umbra node --p2p-addr …` (a BFT validator or full node) needs.
#[cfg(feature = "bft")]
#[derive(Debug)]
pub struct BftNodeConfig {
    /// Directory holding `chain.redb` and malachite's write-ahead log (`bft/`).
    pub base_path: PathBuf,
    /// The chain spec (it must list validators).
    pub spec: ChainSpec,
    /// The validator's account key (its consensus key is derived from it); `None`: a full node
    /// that follows and verifies the chain but never votes.
    pub validator: Option<Pair>,
    /// Where to serve JSON-RPC.
    pub rpc_addr: SocketAddr,
    /// The libp2p listen address.
    pub p2p_addr: SocketAddr,
    /// Peers to connect to.
    pub bootnodes: Vec<SocketAddr>,
    /// Minimum block time (default: the chain's parameter).
    pub block_time_ms: Option<u64>,
}

/// Runs a BFT node (validator or full node) until `shutdown` resolves. Blocks are committed only
/// with a commit certificate of ≥ 2/3 of the voting power, so stopping or being killed at any
/// instant loses nothing final, and a restarted node catches up from its peers.
#[cfg(feature = "bft")]
pub async fn run_bft(
    config: BftNodeConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let set = config.spec.genesis.validator_set().ok_or_else(|| {
        anyhow::anyhow!(
            "chain spec `{}` has no validators; BFT nodes need one (umbra build-spec --chain dev --validators 4)",
            config.spec.id
        )
    })?;
    let seed = match &config.validator {
        Some(pair) => crate::bft::consensus_seed_of(pair),
        // A full node's consensus key only names it on the network: a fresh one each start.
        None => umbra_crypto::blake2_256(&parity_scale_codec::Encode::encode(&(
            b"umbra/full-node-key",
            now_ms(),
            std::process::id(),
            config.p2p_addr.to_string(),
        ))),
    };
    let engine = Arc::new(crate::consensus::BftEngine::new(config.validator.clone()));
    let node = Node::open(&config.base_path, config.spec, engine)?;
    let key = umbra_primitives::finality::consensus_public(&seed);
    if let Some(pair) = &config.validator {
        let current = node.validator_set()?.unwrap_or(set);
        anyhow::ensure!(
            current.get(&key).is_some(),
            "the --validator-key {} (consensus key 0x{}) is not a validator of this chain",
            pair.public(),
            hex::encode(key)
        );
    }
    let role = if config.validator.is_some() { "validator" } else { "full node" };
    let (_, handle) = start_serving(&node, role, config.rpc_addr).await?;
    let bft = crate::bft::BftConfig {
        home: config.base_path.join("bft"),
        consensus_seed: seed,
        p2p_addr: config.p2p_addr,
        bootnodes: config.bootnodes,
        moniker: format!("umbra-{}", config.p2p_addr.port()),
        block_time_ms: config.block_time_ms,
        account: config.validator.clone(),
    };
    let result = crate::bft::run(node, bft, shutdown).await;
    tracing::info!("shutting down");
    let _ = handle.stop();
    handle.stopped().await;
    result
}
