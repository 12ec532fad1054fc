//! `umbra bench chain`: signature verification, block authoring and block import, on the same
//! `Node` the binary runs, with a real redb database in a temporary directory.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;

use super::{bar, ms, percentile, Row};
use parity_scale_codec::Encode;
use umbra_node::{consensus::DevAuthority, ChainSpec, Node};
use umbra_primitives::{Block, Pair, UNITS};
use umbra_runtime::{balances, genesis::GenesisAccount, Call, Extrinsic};

/// Options of `umbra bench chain`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChainBenchArgs {
    /// Blocks to author and import.
    #[arg(long, default_value_t = 20)]
    blocks: usize,
    /// Transfers per block.
    #[arg(long, default_value_t = 2000)]
    txs_per_block: usize,
    /// Extra idle accounts in genesis, to show that block cost does not grow with state size.
    #[arg(long, default_value_t = 0)]
    idle_accounts: usize,
    /// Signatures for the verification benchmark.
    #[arg(long, default_value_t = 5000)]
    signatures: usize,
}

impl Default for ChainBenchArgs {
    fn default() -> Self {
        ChainBenchArgs { blocks: 20, txs_per_block: 2000, idle_accounts: 0, signatures: 5000 }
    }
}

fn bench_signatures(n: usize) -> Vec<Row> {
    let pair = Pair::from_suri("//Alice").expect("dev key");
    let alice = Pair::from_suri("//Bob").expect("dev key").public();
    let genesis = umbra_primitives::H256::hash(b"bench");
    let xts: Vec<Extrinsic> = (0..n as u64)
        .map(|i| {
            let call = Call::Balances(balances::Call::Transfer { dest: alice, amount: i as u128 });
            Extrinsic::new_signed(&pair, call, i, 0, genesis)
        })
        .collect();
    let start = Instant::now();
    for x in &xts {
        assert!(x.verify_signature());
    }
    let single = start.elapsed();
    let start = Instant::now();
    umbra_node::service::verify_signatures(&xts).expect("valid signatures");
    let batch = start.elapsed();
    vec![
        Row(
            "sr25519 extrinsic verifications/s (one by one)".into(),
            format!("{:.0}", n as f64 / single.as_secs_f64()),
        ),
        Row(
            "sr25519 extrinsic verifications/s (batched)".into(),
            format!("{:.0}", n as f64 / batch.as_secs_f64()),
        ),
    ]
}

/// A dev spec whose genesis funds `senders` (and `idle` extra accounts), with room for large
/// blocks.
pub(super) fn bench_spec(senders: &[Pair], idle: usize) -> ChainSpec {
    let mut spec = ChainSpec::dev();
    spec.genesis.parameters.max_block_extrinsics = 100_000;
    for p in senders {
        spec.genesis.balances.push(GenesisAccount { address: p.public(), balance: 1_000 * UNITS });
    }
    for i in 0..idle {
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&(i as u64).to_le_bytes());
        raw[8..16].copy_from_slice(b"idleacct");
        spec.genesis
            .balances
            .push(GenesisAccount { address: umbra_primitives::Public(raw), balance: UNITS });
    }
    spec
}

fn bench_blocks(args: &ChainBenchArgs) -> anyhow::Result<Vec<Row>> {
    let senders: Vec<Pair> = (0..args.txs_per_block)
        .map(|i| Pair::from_seed(&umbra_crypto::blake2_256(&(i as u64).to_le_bytes())))
        .collect();
    let spec = bench_spec(&senders, args.idle_accounts);
    let dir = tempfile::tempdir().context("temp dir")?;
    let alice = Pair::from_suri("//Alice").expect("dev key");
    let author = Node::open(
        &dir.path().join("author"),
        spec.clone(),
        Arc::new(DevAuthority::new(alice.clone())),
    )?;
    let importer =
        Node::open(&dir.path().join("importer"), spec, Arc::new(DevAuthority::new(alice)))?;
    let dest = Pair::from_suri("//Ferdie").expect("dev key").public();
    let genesis = author.genesis_hash();

    let pb = bar(args.blocks, "authoring blocks");
    let mut blocks = Vec::new();
    let mut author_times = Vec::new();
    for b in 0..args.blocks {
        for s in &senders {
            let call = Call::Balances(balances::Call::Transfer { dest, amount: UNITS / 1000 });
            let xt = Extrinsic::new_signed(s, call, b as u64, 0, genesis).encode();
            author.submit(xt).map_err(|e| anyhow::anyhow!("bench transaction refused: {e}"))?;
        }
        let start = Instant::now();
        let (imported, stats) = author.author_block()?;
        author_times.push(start.elapsed());
        anyhow::ensure!(
            stats.extrinsics == senders.len(),
            "block has {} of {} transfers",
            stats.extrinsics,
            senders.len()
        );
        blocks.push(author.block(imported.header.number)?.context("authored block")?);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let pb = bar(args.blocks, "importing blocks");
    let mut import_times = Vec::new();
    for block in blocks {
        let block: Block = block;
        let start = Instant::now();
        importer.import_block(block)?;
        import_times.push(start.elapsed());
        pb.inc(1);
    }
    pb.finish_and_clear();
    anyhow::ensure!(importer.head() == author.head(), "importer diverged from author");

    let total_tx = (args.blocks * args.txs_per_block) as f64;
    let import_total: Duration = import_times.iter().sum();
    let author_total: Duration = author_times.iter().sum();
    import_times.sort();
    author_times.sort();
    let label =
        format!("{} transfers/block, {} idle accounts", args.txs_per_block, args.idle_accounts);
    Ok(vec![
        Row(
            format!("transfers/s imported ({label})"),
            format!("{:.0}", total_tx / import_total.as_secs_f64()),
        ),
        Row(
            format!("transfers/s authored ({label})"),
            format!("{:.0}", total_tx / author_total.as_secs_f64()),
        ),
        Row("block import latency p50".into(), ms(percentile(&import_times, 0.50))),
        Row("block import latency p99".into(), ms(percentile(&import_times, 0.99))),
        Row("block authoring latency p50".into(), ms(percentile(&author_times, 0.50))),
        Row("block authoring latency p99".into(), ms(percentile(&author_times, 0.99))),
    ])
}

/// Runs the chain benchmarks.
pub(crate) fn run(args: &ChainBenchArgs) -> anyhow::Result<Vec<Row>> {
    let mut rows = bench_signatures(args.signatures);
    rows.extend(bench_blocks(args)?);
    Ok(rows)
}
