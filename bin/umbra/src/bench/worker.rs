//! `umbra bench worker`: attestation verification (simulated and SGX DCAP), enclave block sync,
//! and the encrypted query round trip over loopback HTTP to a real worker endpoint.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use parity_scale_codec::Encode;
use umbra_client::worker::RegisteredKeys;
use umbra_crypto::Pair;
use umbra_enclave::{Enclave, GenesisInfo};
use umbra_node::{consensus::DevAuthority, ChainSpec, Node};
use umbra_primitives::{
    query::WorkerQuery, simulated_enclave_measurement, simulated_enclave_signer, UNITS,
};
use umbra_runtime::{balances, genesis::GenesisAccount, Call, Extrinsic};
use umbra_tee::{dev_vendor_root, Attestation, Platform, SimulatedPlatform, VerifyPolicy};
use umbra_worker::server::{self, ServerState};

use super::{bar, ms, percentile, Row};

/// Genuine SGX DCAP sample quote and collateral (from the dcap-qvl project), valid in July 2025.
const DCAP_QUOTE: &[u8] = include_bytes!("../../../../crates/tee/testdata/sgx_quote.bin");
const DCAP_COLLATERAL: &[u8] =
    include_bytes!("../../../../crates/tee/testdata/sgx_quote_collateral.json");
/// 2025-07-01T00:00:00Z, inside the sample collateral's validity window.
const DCAP_TIME_MS: u64 = 1_751_328_000_000;

/// Options of `umbra bench worker`.
#[derive(Debug, clap::Args)]
pub(crate) struct WorkerBenchArgs {
    /// Attestation verifications to time.
    #[arg(long, default_value_t = 200)]
    verifications: usize,
    /// Blocks the enclave syncs.
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// Transfers in each synced block.
    #[arg(long, default_value_t = 200)]
    txs_per_block: usize,
    /// Encrypted queries to time.
    #[arg(long, default_value_t = 500)]
    queries: usize,
}

impl Default for WorkerBenchArgs {
    fn default() -> Self {
        WorkerBenchArgs { verifications: 200, blocks: 200, txs_per_block: 200, queries: 500 }
    }
}

fn platform(seed: u8) -> SimulatedPlatform {
    SimulatedPlatform::new(
        [seed; 32],
        &dev_vendor_root(),
        simulated_enclave_measurement(),
        simulated_enclave_signer(),
    )
}

fn time_verify(att: &Attestation, policy: &VerifyPolicy, n: usize) -> anyhow::Result<Duration> {
    umbra_tee::verify(att, policy).context("sample attestation must verify")?;
    let start = Instant::now();
    for _ in 0..n {
        umbra_tee::verify(att, policy).context("attestation verification")?;
    }
    Ok(start.elapsed() / n.max(1) as u32)
}

fn bench_attestation(n: usize) -> anyhow::Result<Vec<Row>> {
    let now = 1_800_000_000_000;
    let sim = platform(1).quote(&[7u8; 64], now)?;
    let sim_time = time_verify(&sim, &VerifyPolicy::development(now), n)?;
    let collateral = umbra_tee::dcap::collateral_from_json(DCAP_COLLATERAL)?;
    let dcap = Attestation::SgxDcap { quote: DCAP_QUOTE.to_vec(), collateral };
    // The sample's TCB level needs governance's listing (with its advisories) to pass.
    let mut dcap_policy = VerifyPolicy::development(DCAP_TIME_MS);
    dcap_policy.dcap.accepted_tcb = vec![umbra_tee::TcbAllowance {
        status: "ConfigurationAndSWHardeningNeeded".into(),
        advisory_ids: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
    }];
    let dcap_time = time_verify(&dcap, &dcap_policy, n)?;
    Ok(vec![
        Row("attestation verification, simulated".into(), ms(sim_time)),
        Row("attestation verification, SGX DCAP (genuine sample)".into(), ms(dcap_time)),
    ])
}

fn bench_sync(args: &WorkerBenchArgs) -> anyhow::Result<Vec<Row>> {
    let senders: Vec<Pair> = (0..args.txs_per_block)
        .map(|i| Pair::from_seed(&umbra_crypto::blake2_256(&(i as u64).to_le_bytes())))
        .collect();
    let mut spec = ChainSpec::dev();
    for p in &senders {
        spec.genesis.balances.push(GenesisAccount { address: p.public(), balance: 1_000 * UNITS });
    }
    let dir = tempfile::tempdir()?;
    let node = Node::open(
        dir.path(),
        spec.clone(),
        Arc::new(DevAuthority::new(Pair::from_suri("//Alice")?)),
    )?;
    let dest = Pair::from_suri("//Ferdie")?.public();
    let pb = bar(args.blocks, "authoring blocks");
    for b in 0..args.blocks {
        for s in &senders {
            let call = Call::Balances(balances::Call::Transfer { dest, amount: UNITS / 1000 });
            let xt = Extrinsic::new_signed(s, call, b as u64, 0, node.genesis_hash()).encode();
            node.submit(xt).map_err(|e| anyhow::anyhow!("bench transaction refused: {e}"))?;
        }
        node.author_block()?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let raw: Vec<(Vec<u8>, Vec<u8>)> = (1..=args.blocks as u64)
        .map(|n| node.raw_block_with_events(n)?.context("block"))
        .collect::<anyhow::Result<_>>()?;
    let genesis =
        GenesisInfo { header: node.block(0)?.context("genesis")?.header, config: spec.genesis };
    let (mut enclave, _) = Enclave::init(Arc::new(platform(2)), &genesis, None, None)?;
    let start = Instant::now();
    for (b, e) in &raw {
        enclave.sync_block(b, e)?;
    }
    let elapsed = start.elapsed();
    Ok(vec![Row(
        format!("enclave sync, blocks/s ({} transfers/block)", args.txs_per_block),
        format!("{:.0}", args.blocks as f64 / elapsed.as_secs_f64()),
    )])
}

async fn bench_queries(n: usize) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let node = Node::open(
        dir.path(),
        ChainSpec::dev(),
        Arc::new(DevAuthority::new(Pair::from_suri("//Alice")?)),
    )?;
    node.author_block()?;
    let genesis = GenesisInfo {
        header: node.block(0)?.context("genesis")?.header,
        config: ChainSpec::dev().genesis,
    };
    let (mut enclave, _) = Enclave::init(Arc::new(platform(3)), &genesis, None, None)?;
    let (b, e) = node.raw_block_with_events(1)?.context("block 1")?;
    enclave.sync_block(&b, &e)?;
    // The enclave's clock is chain time; keep the query timestamps inside its window.
    let info = enclave.info();
    let keys = RegisteredKeys { identity: info.identity, ecdh: info.ecdh };
    let operator = Pair::from_suri("//Bob")?.public();
    let state = Arc::new(ServerState {
        enclave: Arc::new(Mutex::new(enclave)),
        operator,
        query_journal: None,
    });
    let (addr, server) = server::spawn("127.0.0.1:0".parse()?, state).await?;
    let url = format!("http://{addr}");
    let signer = Pair::from_suri("//Alice")?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let start = Instant::now();
        let answer = umbra_client::worker::query(
            &url,
            &keys,
            &signer,
            WorkerQuery::Echo(vec![i as u8; 32]).encode(),
        )
        .await?;
        anyhow::ensure!(answer == vec![i as u8; 32], "echo mismatch");
        if i >= 20 {
            times.push(start.elapsed());
        }
    }
    server.abort();
    times.sort();
    Ok(vec![
        Row("encrypted query round trip p50 (loopback HTTP)".into(), ms(percentile(&times, 0.50))),
        Row("encrypted query round trip p99 (loopback HTTP)".into(), ms(percentile(&times, 0.99))),
    ])
}

/// Runs the worker benchmarks.
pub(crate) async fn run(args: &WorkerBenchArgs) -> anyhow::Result<Vec<Row>> {
    let mut rows = tokio::task::block_in_place(|| -> anyhow::Result<Vec<Row>> {
        let mut rows = bench_attestation(args.verifications)?;
        rows.extend(bench_sync(args)?);
        Ok(rows)
    })?;
    rows.extend(bench_queries(args.queries).await?);
    Ok(rows)
}
