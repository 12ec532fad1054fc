//! Running a worker: `umbra worker --rpc URL --base-path DIR --platform simulated
//! --query-addr ADDR --operator URI`.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{anyhow, bail, Context};
use jsonrpsee::rpc_params;
use parity_scale_codec::Decode;
use serde_json::Value;
use umbra_client::Client;
use umbra_enclave::{Enclave, GenesisInfo};
use umbra_primitives::{simulated_enclave_measurement, simulated_enclave_signer, Block, Pair};
use umbra_runtime::GenesisConfig;
use umbra_tee::{Platform, SimulatedPlatform, INSECURE_WARNING};

use crate::{
    files::{WorkerFiles, CHECKPOINT_FILE, IDENTITY_FILE},
    relay::Relayer,
    server::{self, ServerState},
};

/// Which TEE platform the worker runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformChoice {
    /// The simulated platform (insecure; development and tests).
    Simulated,
    /// Intel SGX with DCAP attestation.
    SgxDcap,
}

impl std::str::FromStr for PlatformChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "simulated" => Ok(PlatformChoice::Simulated),
            "sgx" | "sgx-dcap" => Ok(PlatformChoice::SgxDcap),
            other => Err(format!("unknown platform `{other}` (expected simulated or sgx-dcap)")),
        }
    }
}

/// What `umbra worker` needs.
#[derive(Debug)]
pub struct WorkerConfig {
    /// Node RPC URL.
    pub rpc: String,
    /// Directory for sealed blobs.
    pub base_path: PathBuf,
    /// TEE platform.
    pub platform: PlatformChoice,
    /// Where to serve `/info` and `/query`.
    pub query_addr: SocketAddr,
    /// Operator account (pays for registration and egress, may bind the worker to pools).
    pub operator: Pair,
    /// Vendor root certifying the simulated platform (the dev root by default).
    pub vendor_root: Pair,
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let mut last = None;
    for _ in 0..60 {
        match Client::connect(url).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow!("cannot reach the node: {}", last.map(|e| e.to_string()).unwrap_or_default()))
}

async fn genesis(client: &Client) -> anyhow::Result<GenesisInfo> {
    let spec: Value = client.call("umbra_chainSpec", rpc_params![]).await?;
    let config: GenesisConfig = serde_json::from_value(spec["genesis"].clone())
        .context("node returned an unreadable chain spec")?;
    let raw = client.raw_block_with_events(0).await?;
    let raw = raw.ok_or_else(|| anyhow!("node has no genesis block"))?;
    let block = Block::decode(&mut &raw.block.0[..])
        .context("node returned an undecodable genesis block")?;
    Ok(GenesisInfo { header: block.header, config })
}

/// Runs the enclave's registration benchmark: while one is running, calls
/// [`Enclave::benchmark_round`] in a loop (the enclave counts the work per chain block, so the
/// host's pace and clock only lower its own score); otherwise idles.
fn spawn_benchmark(
    enclave: Arc<Mutex<Enclave>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let worked = enclave.lock().map(|mut e| e.benchmark_round()).unwrap_or(false);
            // Leave the lock free for the relay and queries between rounds.
            std::thread::sleep(if worked {
                Duration::from_micros(200)
            } else {
                Duration::from_millis(100)
            });
        }
    })
}

/// Runs the worker until `shutdown` resolves.
pub async fn run(config: WorkerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    if config.platform == PlatformChoice::SgxDcap {
        bail!("this build has no SGX enclave loader: SGX DCAP quotes can be verified (the chain does), but a worker can only run on the simulated platform here");
    }
    let files = WorkerFiles::open(&config.base_path)?;
    let client = connect(&config.rpc).await?;
    let genesis = genesis(&client).await?;
    let platform: Arc<dyn Platform> = Arc::new(SimulatedPlatform::new(
        files.platform_seed()?,
        &config.vendor_root,
        simulated_enclave_measurement(),
        simulated_enclave_signer(),
    ));
    tracing::warn!("{INSECURE_WARNING}");

    let sealed_identity = files.read(IDENTITY_FILE)?;
    let sealed_checkpoint = files.read(CHECKPOINT_FILE)?;
    let (enclave, out) = match Enclave::init(
        platform.clone(),
        &genesis,
        sealed_identity.as_deref(),
        sealed_checkpoint.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) if sealed_checkpoint.is_some() => {
            tracing::warn!(error = %e, "cannot resume from the sealed checkpoint; syncing from genesis");
            Enclave::init(platform, &genesis, sealed_identity.as_deref(), None)?
        }
        Err(e) => return Err(e).context("enclave failed to start"),
    };
    if let Some(blob) = &out.new_sealed_identity {
        files.write(IDENTITY_FILE, blob)?;
    }
    let identity = enclave.identity();
    match out.resumed_at {
        Some(n) => tracing::info!(%identity, block = n, "enclave resumed from sealed checkpoint"),
        None => {
            tracing::info!(%identity, new = out.new_sealed_identity.is_some(), "enclave started from genesis")
        }
    }
    let mut enclave = enclave;
    let journal = files.query_journal();
    let (restored, skipped) = enclave.restore_query_journal(&journal.read()?);
    if restored > 0 || skipped > 0 {
        tracing::info!(restored, skipped, "query replay records restored from the journal");
    }
    let enclave = Arc::new(Mutex::new(enclave));

    let state = Arc::new(ServerState {
        enclave: enclave.clone(),
        operator: config.operator.public(),
        query_journal: Some(journal),
    });
    let (bound, server) = server::spawn(config.query_addr, state).await?;
    tracing::info!(addr = %bound, "query endpoint listening (GET /info, POST /query)");

    let bench_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bench_thread = spawn_benchmark(enclave.clone(), bench_stop.clone());
    let mut relayer = Relayer::new(client, enclave, files, config.operator);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = relayer.step() => {
                if let Err(e) = r {
                    tracing::warn!(error = %format!("{e:#}"), "relay round failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    tracing::info!("worker shutting down");
    bench_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = bench_thread.join();
    relayer.checkpoint()?;
    server.abort();
    Ok(())
}
