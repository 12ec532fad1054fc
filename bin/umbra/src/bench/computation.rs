//! `umbra bench computation`: block import time with many registered computing workers under a
//! heartbeat load, and the memory it takes.
//!
//! Setup seeds a genesis state with N registered, computing workers (their sessions and the dense
//! index challenges are drawn from, exactly as `computation::start_computing` writes them),
//! commits it once, and copies
//! the database so an authoring node and an importing node start from the same state. Then each
//! block: the workers challenged in the previous block answer with heartbeats (mq messages signed
//! by their identity keys, relayed in extrinsics signed by relayer accounts), the author builds
//! the block from its pool, and the importer verifies, re-executes and commits it — timed.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use parity_scale_codec::Encode;
use umbra_crypto::{blake2_256, EcdhSecret, Pair, Public};
use umbra_node::{consensus::DevAuthority, ChainSpec, Node};
use umbra_primitives::{
    mq::{topics, Heartbeat, SignedMessage},
    Block, Header, H256, UNITS,
};
use umbra_runtime::{
    computation::{self, ComputationParams},
    mq, registry, stake_pools,
    state::Overlay,
    Call, Event, Extrinsic,
};
use umbra_tee::AttestationType;

use super::{bar, ms, percentile, Row};

/// Options of `umbra bench computation`.
#[derive(Debug, clap::Args)]
pub(crate) struct ComputationBenchArgs {
    /// Registered computing workers.
    #[arg(long, default_value_t = 100_000)]
    workers: usize,
    /// Sets the mean challenge interval to workers / this: each block challenges this many
    /// workers on average (drawn from the block's randomness), and they answer in the next block.
    /// The default 20 is Phala's expected heartbeat count per block (see
    /// shared/reference/phala.md); raise it to stress the chain.
    #[arg(long, default_value_t = 20)]
    challenges_per_block: usize,
    /// Blocks to time.
    #[arg(long, default_value_t = 40)]
    blocks: usize,
}

impl Default for ComputationBenchArgs {
    fn default() -> Self {
        ComputationBenchArgs { workers: 100_000, challenges_per_block: 20, blocks: 40 }
    }
}

const RELAYERS: usize = 512;

fn worker_pair(i: usize) -> Pair {
    Pair::from_seed(&blake2_256(&(b"umbra/bench/worker", i as u64).encode()))
}

fn relayer_pair(i: usize) -> Pair {
    Pair::from_seed(&blake2_256(&(b"umbra/bench/relayer", i as u64).encode()))
}

/// Derives the workers' identities on all cores.
fn identities(n: usize) -> Vec<Public> {
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    (start..(start + chunk).min(n))
                        .map(|i| worker_pair(i).public())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("key derivation thread")).collect()
    })
}

fn seeded_genesis(
    args: &ComputationBenchArgs,
    spec: &mut ChainSpec,
) -> anyhow::Result<(umbra_runtime::genesis::GenesisState, Block)> {
    spec.genesis.parameters.max_block_extrinsics = 100_000;
    spec.genesis.computation = ComputationParams {
        mean_challenge_interval: (args.workers / args.challenges_per_block.max(1)).max(1) as u64,
        heartbeat_window: 10,
        ..ComputationParams::dev()
    };
    for i in 0..RELAYERS {
        spec.genesis.balances.push(umbra_runtime::genesis::GenesisAccount {
            address: relayer_pair(i).public(),
            balance: 10_000_000 * UNITS,
        });
    }
    let base: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        spec.genesis.build()?.into_iter().collect();
    let ids = identities(args.workers);
    let mut ext = umbra_runtime::Ext::with_genesis(Overlay::new(&base), H256::ZERO);
    umbra_runtime::system::RANDOMNESS.put(&mut ext.state, &blake2_256(b"bench genesis randomness"));
    let ecdh = EcdhSecret::from_bytes([5u8; 32]).public();
    let pb = bar(args.workers, "seeding workers");
    // Real stake pools: each relayer account owns pools of up to 64 workers it operates, contributes
    // their stake and starts them, through the same calls a user makes.
    const STAKE: u128 = 400 * UNITS;
    let pools = args.workers.div_ceil(stake_pools::MAX_POOL_WORKERS);
    for p in 0..pools {
        let owner = relayer_pair(p % RELAYERS).public();
        let run = |ext: &mut umbra_runtime::Ext<'_>, call: stake_pools::Call| {
            stake_pools::dispatch(ext, owner, call)
                .map_err(|e| anyhow::anyhow!("seeding pool {p}: {e}"))
        };
        run(&mut ext, stake_pools::Call::Create { commission: 100_000 })?;
        let members = (p * stake_pools::MAX_POOL_WORKERS)
            ..((p + 1) * stake_pools::MAX_POOL_WORKERS).min(args.workers);
        run(
            &mut ext,
            stake_pools::Call::Contribute { pool: p as u64, amount: STAKE * members.len() as u128 },
        )?;
        for i in members {
            let id = ids[i];
            let info = registry::WorkerInfo {
                identity: id,
                ecdh: ecdh.0,
                operator: owner,
                measurement: umbra_primitives::simulated_enclave_measurement(),
                platform: AttestationType::Simulated,
                insecure: true,
                platform_id: [0u8; 32],
                tcb_status: "Simulated".into(),
                benchmark_score: 1000,
                registered_at: 0,
                updated_at: 0,
            };
            registry::WORKERS.insert(&mut ext.state, &id, &info);
            run(&mut ext, stake_pools::Call::AddWorker { pool: p as u64, worker: id })?;
            run(
                &mut ext,
                stake_pools::Call::StartComputing { pool: p as u64, worker: id, stake: STAKE },
            )?;
            if i % 10_000 == 0 {
                pb.set_position(i as u64);
            }
        }
    }
    pb.finish_and_clear();
    let (state, _) = ext.into_parts();
    if let Some(e) = state.take_error() {
        anyhow::bail!(e);
    }
    let mut merged = base.clone();
    for (k, v) in state.into_changes() {
        match v {
            Some(v) => merged.insert(k, v),
            None => merged.remove(&k),
        };
    }
    let entries: Vec<(Vec<u8>, Vec<u8>)> = merged.into_iter().collect();
    let header =
        Header::genesis(H256(umbra_chain_storage::compute_root(entries.iter().cloned())), 0);
    Ok((entries, Block { header, extrinsics: Vec::new() }))
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the benchmark.
pub(crate) fn run(args: &ComputationBenchArgs) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let mut spec = ChainSpec::dev();
    let setup = Instant::now();
    let (state, genesis) = seeded_genesis(args, &mut spec)?;
    let keys = state.len();
    let alice = Pair::from_suri("//Alice")?;
    let author_path = dir.path().join("author");
    {
        let _seed = Node::open_with_genesis(
            &author_path,
            spec.clone(),
            Arc::new(DevAuthority::new(alice.clone())),
            state,
            genesis.clone(),
        )?;
    }
    let importer_path = dir.path().join("importer");
    std::fs::create_dir_all(&importer_path)?;
    std::fs::copy(author_path.join("chain.redb"), importer_path.join("chain.redb"))
        .context("copy database")?;
    let author = Node::open_with_genesis(
        &author_path,
        spec.clone(),
        Arc::new(DevAuthority::new(alice.clone())),
        Vec::new(),
        genesis.clone(),
    )?;
    let importer = Node::open_with_genesis(
        &importer_path,
        spec,
        Arc::new(DevAuthority::new(alice)),
        Vec::new(),
        genesis,
    )?;
    let setup_time = setup.elapsed();
    let db_bytes = std::fs::metadata(author_path.join("chain.redb"))?.len();

    let genesis_hash = author.genesis_hash();
    let mut relayer_nonce = vec![0u64; RELAYERS];
    let mut mq_seq: HashMap<Public, u64> = HashMap::new();
    let mut to_answer: Vec<(Public, u64, H256)> = Vec::new();
    let mut pairs: HashMap<Public, Pair> = HashMap::new();
    let index: HashMap<Public, usize> =
        identities(args.workers).into_iter().enumerate().map(|(i, p)| (p, i)).collect();
    let mut times = Vec::new();
    let mut parts: Vec<umbra_node::service::BlockStats> = Vec::new();
    let mut heartbeats = 0usize;
    let mut accepted = 0usize;
    let pb = bar(args.blocks, "timing blocks");
    for _ in 0..args.blocks {
        for (k, (worker, block, hash)) in to_answer.drain(..).enumerate() {
            let pair = pairs.entry(worker).or_insert_with(|| worker_pair(index[&worker])).clone();
            let seq = mq_seq.entry(worker).or_insert(0);
            let hb = Heartbeat { challenge_block: block, challenge_block_hash: hash };
            let message = SignedMessage::sign(
                &pair,
                &genesis_hash,
                topics::HEARTBEAT.to_vec(),
                *seq,
                hb.encode(),
            );
            *seq += 1;
            let r = k % RELAYERS;
            let xt = Extrinsic::new_signed(
                &relayer_pair(r),
                Call::Mq(mq::Call::SyncOffchainMessage { message }),
                relayer_nonce[r],
                0,
                genesis_hash,
            );
            relayer_nonce[r] += 1;
            author.submit(xt.encode()).map_err(|e| anyhow::anyhow!("heartbeat refused: {e}"))?;
            heartbeats += 1;
        }
        let (imported, _) = author.author_block()?;
        let number = imported.header.number;
        let block = author.block(number)?.context("authored block")?;
        let start = Instant::now();
        let stats = importer.import_block(block)?;
        times.push(start.elapsed());
        parts.push(stats);
        for r in author.events(number)?.unwrap_or_default() {
            match r.event {
                Event::Computation(computation::Event::Challenged { worker, .. }) => {
                    to_answer.push((worker, number, imported.header.hash()))
                }
                Event::Computation(computation::Event::HeartbeatAccepted { .. }) => accepted += 1,
                _ => {}
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    anyhow::ensure!(importer.head() == author.head(), "importer diverged");
    times.sort();
    let label = format!("{} workers", args.workers);
    let median = |f: fn(&umbra_node::service::BlockStats) -> Duration| {
        let mut v: Vec<Duration> = parts.iter().map(f).collect();
        v.sort();
        percentile(&v, 0.5)
    };
    let keys_changed = parts.iter().map(|p| p.changed_keys).sum::<usize>() / parts.len().max(1);
    Ok(vec![
        Row(
            format!("setup: genesis of {label} ({keys} keys)"),
            format!("{:.1} s", setup_time.as_secs_f64()),
        ),
        Row(
            format!("heartbeats per block / accepted ({label})"),
            format!("{:.0} / {}", heartbeats as f64 / args.blocks as f64, accepted),
        ),
        Row(format!("block import p50 ({label})"), ms(percentile(&times, 0.50))),
        Row(format!("block import p99 ({label})"), ms(percentile(&times, 0.99))),
        Row(format!("block import max ({label})"), ms(*times.last().unwrap_or(&Duration::ZERO))),
        Row(
            "  of which: verify / execute / state root / commit (p50)".into(),
            format!(
                "{:.1}/{:.1}/{:.1}/{:.1} ms",
                median(|p| p.verify).as_secs_f64() * 1e3,
                median(|p| p.execute).as_secs_f64() * 1e3,
                median(|p| p.state_root).as_secs_f64() * 1e3,
                median(|p| p.commit).as_secs_f64() * 1e3,
            ),
        ),
        Row("  state keys changed per block (mean)".into(), keys_changed.to_string()),
        Row(format!("database size ({label})"), format!("{:.0} MiB", db_bytes as f64 / 1048576.0)),
        Row(
            "peak resident memory of the bench process".into(),
            format!("{:.0} MiB", rss_kib("VmHWM:") as f64 / 1024.0),
        ),
    ])
}
