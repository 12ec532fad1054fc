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
    let head = node.head();
    tracing::info!(
        chain = %node.spec().name,
        genesis = %node.genesis_hash(),
        head = head.number,
        consensus = node.consensus_name(),
        "node started"
    );
    let insecure = node.with_state(umbra_runtime::registry::accepts_insecure)?;
    if insecure {
        print_insecure_banner();
    }
    let (addr, handle) = rpc::start(node.clone(), config.rpc_addr).await?;
    tracing::info!(%addr, "JSON-RPC (HTTP and WebSocket) listening");
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
