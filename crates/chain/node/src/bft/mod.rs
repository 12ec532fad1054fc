//! BFT consensus on malachite (Tendermint), through its `app-channel` interface.
//!
//! Each validator is its own process with its own database. Malachite runs the Tendermint
//! rounds, the libp2p networking (gossipsub for votes and proposal parts, request-response for
//! value sync) and its write-ahead log; this module is the application side
//! ([`app::run`]): the round's proposer builds and seals a block ([`Node::build_block`]) and
//! streams it, the other validators re-execute it before voting for it
//! ([`Node::check_block`]), and the decided block is committed with its commit certificate
//! ([`Node::import_finalized`]). A node that starts late or restarts fetches decided blocks
//! with their certificates from its peers (malachite's value sync). A full node that is not a
//! validator runs the same engine with a key outside the set: it follows votes and syncs but
//! never votes.

pub mod app;
pub mod codec;
pub mod context;
pub mod evidence;

use std::{path::PathBuf, sync::Arc};

use malachitebft_app_channel::app::{
    config::{ConsensusConfig, P2pConfig, TimeoutConfig, ValuePayload, ValueSyncConfig},
    events::{RxEvent, TxEvent},
    node::{EngineHandle, Node as MalachiteNode, NodeConfig, NodeHandle},
    types::Keypair,
};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use umbra_primitives::{finality, Pair};

use self::context::{Address, UmbraContext, UmbraSigner};
use crate::service::Node;

/// How a BFT node joins the network.
#[derive(Debug, Clone)]
pub struct BftConfig {
    /// Where malachite keeps its write-ahead log.
    pub home: PathBuf,
    /// The ed25519 consensus key's seed.
    pub consensus_seed: [u8; 32],
    /// The libp2p listen address (`host:port`, TCP).
    pub p2p_addr: std::net::SocketAddr,
    /// Peers to connect to (`host:port`).
    pub bootnodes: Vec<std::net::SocketAddr>,
    /// A name for logs.
    pub moniker: String,
    /// Minimum time between blocks (the proposer waits until the parent is this old).
    pub block_time_ms: Option<u64>,
    /// A validator's account key: reports the equivocations it sees on chain.
    pub account: Option<Pair>,
}

/// The consensus key of the validator whose account key is `pair` (see
/// [`finality::consensus_seed`]).
pub fn consensus_seed_of(pair: &Pair) -> [u8; 32] {
    finality::consensus_seed(&pair.to_secret_bytes())
}

/// Malachite's node configuration (what `NodeConfig` asks for).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

fn multiaddr(addr: &std::net::SocketAddr) -> anyhow::Result<String> {
    Ok(match addr {
        std::net::SocketAddr::V4(a) => format!("/ip4/{}/tcp/{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("/ip6/{}/tcp/{}", a.ip(), a.port()),
    })
}

impl EngineConfig {
    fn new(cfg: &BftConfig) -> anyhow::Result<Self> {
        let parse = |a: &std::net::SocketAddr| -> anyhow::Result<_> {
            multiaddr(a)?.parse().map_err(|e| anyhow::anyhow!("bad p2p address {a}: {e}"))
        };
        let p2p = P2pConfig {
            listen_addr: parse(&cfg.p2p_addr)?,
            persistent_peers: cfg.bootnodes.iter().map(parse).collect::<Result<_, _>>()?,
            ..Default::default()
        };
        // Short timeouts: validators on one machine or one region. The proposer paces blocks
        // itself (block time), so the propose timeout must cover it.
        let timeouts = TimeoutConfig {
            timeout_propose: std::time::Duration::from_millis(3000),
            timeout_prevote: std::time::Duration::from_millis(1000),
            timeout_precommit: std::time::Duration::from_millis(1000),
            ..Default::default()
        };
        let value_sync = ValueSyncConfig {
            status_update_interval: std::time::Duration::from_secs(1),
            request_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        };
        Ok(EngineConfig {
            moniker: cfg.moniker.clone(),
            consensus: ConsensusConfig {
                timeouts,
                p2p,
                value_payload: ValuePayload::ProposalAndParts,
                queue_capacity: 100,
            },
            value_sync,
        })
    }
}

/// The malachite `Node` of an Umbra process.
#[derive(Clone)]
struct Engine {
    home: PathBuf,
    seed: [u8; 32],
    /// The node's libp2p identity (its peer id), kept apart from the consensus key.
    network_key: Keypair,
    config: EngineConfig,
    genesis: umbra_primitives::H256,
}

/// Handle of a running engine.
struct Handle {
    engine: EngineHandle,
    events: TxEvent<UmbraContext>,
}

#[async_trait::async_trait]
impl NodeHandle<UmbraContext> for Handle {
    fn subscribe(&self) -> RxEvent<UmbraContext> {
        self.events.subscribe()
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        let _ = self.engine.actor.kill_and_wait(None).await;
        self.engine.handle.abort();
        Ok(())
    }
}

#[async_trait::async_trait]
impl MalachiteNode for Engine {
    type Context = UmbraContext;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = [u8; 32];
    type SigningProvider = UmbraSigner;
    type NodeHandle = Handle;

    async fn start(&self) -> eyre::Result<Handle> {
        eyre::bail!("started through bft::run")
    }

    async fn run(self) -> eyre::Result<()> {
        eyre::bail!("started through bft::run")
    }

    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }

    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }

    fn get_address(&self, pk: &PublicKey) -> Address {
        Address(*pk.as_bytes())
    }

    fn get_public_key(&self, sk: &PrivateKey) -> PublicKey {
        sk.public_key()
    }

    /// The network identity is the node's own key (`BASE/bft/node-key`), not the consensus key:
    /// a peer id names a machine, a consensus key a validator (two machines running one
    /// validator's key are two peers, and their conflicting votes reach everyone as evidence).
    fn get_keypair(&self, _: PrivateKey) -> Keypair {
        self.network_key.clone()
    }

    fn load_private_key(&self, file: [u8; 32]) -> PrivateKey {
        PrivateKey::from(file)
    }

    fn load_private_key_file(&self) -> eyre::Result<[u8; 32]> {
        Ok(self.seed)
    }

    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }

    fn get_signing_provider(&self, sk: PrivateKey) -> UmbraSigner {
        UmbraSigner::new(sk, self.genesis)
    }
}

/// Loads the node's libp2p identity from `path`, or creates a new random one there (owner-only
/// permissions) on the first start.
fn node_key(path: &std::path::Path) -> anyhow::Result<Keypair> {
    use anyhow::Context as _;
    if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} is not a node key", path.display()));
    }
    let key = Keypair::generate_ed25519();
    let bytes = key.to_protobuf_encoding().context("encoding the node key")?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(key)
}

/// Starts malachite for `node` and runs the application loop until `shutdown` resolves.
pub async fn run(
    node: Arc<Node>,
    cfg: BftConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let set = node
        .validator_set()?
        .ok_or_else(|| anyhow::anyhow!("the chain spec has no validators: BFT needs a validator set (umbra build-spec --validators N)"))?;
    let genesis = node.genesis_hash();
    let ctx = UmbraContext { genesis };
    let book = Arc::new(evidence::Book::new(genesis));
    std::fs::create_dir_all(&cfg.home)?;
    let engine = Engine {
        home: cfg.home.clone(),
        seed: cfg.consensus_seed,
        network_key: node_key(&cfg.home.join("node-key"))?,
        config: EngineConfig::new(&cfg)?,
        genesis,
    };
    let my_key = finality::consensus_public(&cfg.consensus_seed);
    let is_validator = set.get(&my_key).is_some();
    let start = context::Height(node.head().number.saturating_add(1));
    tracing::info!(
        validator = is_validator,
        consensus_key = %hex::encode(my_key),
        p2p = %cfg.p2p_addr,
        start = start.0,
        "starting malachite BFT consensus"
    );
    let (mut channels, handle) = malachitebft_app_channel::start_engine(
        ctx.clone(),
        engine.clone(),
        engine.config.clone(),
        codec::ScaleCodec::default(),
        codec::ScaleCodec { evidence: Some(book.clone()) },
        Some(start),
        (&set).into(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot start malachite: {e:#}"))?;
    let handle = Handle { engine: handle, events: channels.events.clone() };
    let mut state = app::State::new(
        node,
        ctx,
        PrivateKey::from(cfg.consensus_seed),
        cfg.block_time_ms,
        cfg.home.join("pending-blocks"),
        cfg.account.clone(),
        book,
    );
    let result = tokio::select! {
        r = app::run(&mut state, &mut channels) => {
            r.map_err(|e| anyhow::anyhow!("BFT application loop: {e:#}"))
        }
        _ = shutdown => Ok(()),
    };
    let _ = handle.kill(None).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_key_is_created_once_kept_private_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-key");
        let first = node_key(&path).unwrap();
        let again = node_key(&path).unwrap();
        assert_eq!(first.public(), again.public(), "the same peer id after a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only");
        }
        let other = node_key(&dir.path().join("other-node-key")).unwrap();
        assert_ne!(first.public(), other.public(), "each node has its own identity");
        std::fs::write(&path, b"not a key").unwrap();
        let err = node_key(&path).unwrap_err().to_string();
        assert!(err.contains("is not a node key"), "{err}");
    }
}
