//! `umbra bench consensus`: finality with N BFT validator processes (malachite) against one
//! validator and against today's single-authority chain, in the same run, on this machine;
//! and the enclave light client's certificate verification.
//!
//! For each network it starts real `umbra node` processes on loopback ports in a temporary
//! directory, then (1) latency: each of 4 senders submits transfers one after another to "its"
//! node and waits for finality (submission → the transfer is in a committed, certified block);
//! (2) throughput: `--senders` accounts (funded by //Alice first) each send `--burst` transfers
//! to the nodes in turn, each keeping up to 60 in flight (a node accepts nonces up to 64 ahead),
//! until all are final, counting blocks and transfers per second.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use clap::Args;
use parity_scale_codec::Encode;
use umbra_client::sdk::Client;
use umbra_primitives::{
    finality::{
        consensus_public, consensus_seed, vote_sign_bytes, CommitCertificate, CommitSignature,
        Validator, ValidatorSet, VoteKind,
    },
    Pair, H256, UNITS,
};
use umbra_runtime::{balances, Call, Extrinsic};

use super::{ms, percentile, Row};

/// Options of `umbra bench consensus`.
#[derive(Debug, Args)]
pub(crate) struct ConsensusBenchArgs {
    /// Validators of the BFT network.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Transfers per sender in the latency run.
    #[arg(long, default_value_t = 15)]
    latency_transfers: usize,
    /// Accounts sending in the throughput run (funded by //Alice first; at most 60).
    #[arg(long, default_value_t = 40)]
    senders: usize,
    /// Transfers per sender in the throughput run.
    #[arg(long, default_value_t = 100)]
    burst: usize,
    /// Block time in milliseconds (minimum time between blocks) for every network.
    #[arg(long, default_value_t = 200)]
    block_time_ms: u64,
}

const SENDERS: [&str; 4] = ["//Alice", "//Bob", "//Charlie", "//Dave"];

struct Net {
    children: Vec<Child>,
    rpcs: Vec<String>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first of `n` consecutive free ports on 127.0.0.1 (the layout `umbra dev --validators`
/// uses), not overlapping the `n` ports from `avoid`.
fn free_ports(n: usize, avoid: Option<u16>) -> anyhow::Result<u16> {
    let n = u16::try_from(n)?;
    for _ in 0..100 {
        let first = port()?;
        let Some(last) = first.checked_add(n) else { continue };
        let overlaps = avoid.is_some_and(|a| first < a.saturating_add(n) && a < last);
        let free = (first..last).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free && !overlaps {
            return Ok(first);
        }
    }
    anyhow::bail!("no {n} consecutive free ports on 127.0.0.1")
}

fn start(dir: &Path, validators: Option<usize>, block_time: u64) -> anyhow::Result<Net> {
    let exe = std::env::current_exe()?;
    let mut net = Net { children: Vec::new(), rpcs: Vec::new() };
    let spawn = |args: Vec<String>, log: &Path| -> anyhow::Result<Child> {
        let log = std::fs::File::create(log)?;
        Ok(Command::new(&exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?)
    };
    match validators {
        None => {
            let rpc = port()?;
            let args = vec![
                "node".into(),
                "--dev".into(),
                "--base-path".into(),
                dir.join("dev").display().to_string(),
                "--rpc-addr".into(),
                format!("127.0.0.1:{rpc}"),
                "--block-time-ms".into(),
                block_time.to_string(),
            ];
            net.children.push(spawn(args, &dir.join("dev.log"))?);
            net.rpcs.push(format!("ws://127.0.0.1:{rpc}"));
        }
        Some(n) => {
            let home = dir.join(format!("bft{n}"));
            std::fs::create_dir_all(&home)?;
            let spec = crate::dev_bft::write_spec(&home, n)?;
            let rpc = free_ports(n, None)?;
            let p2p = free_ports(n, Some(rpc))?;
            for i in 0..n {
                let args =
                    crate::dev_bft::validator_args(&spec, &home, i, n, rpc, p2p, Some(block_time));
                net.children.push(spawn(args, &dir.join(format!("bft{n}-{i}.log")))?);
                net.rpcs.push(format!("ws://127.0.0.1:{}", rpc + i as u16));
            }
        }
    }
    Ok(net)
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let start = Instant::now();
    loop {
        match Client::connect(url).await {
            Ok(c) => {
                if c.head().await.map(|h| h.number >= 2).unwrap_or(false) {
                    return Ok(c);
                }
            }
            Err(e) if start.elapsed() > Duration::from_secs(90) => {
                bail!("node {url} did not come up: {e}")
            }
            Err(_) => {}
        }
        if start.elapsed() > Duration::from_secs(90) {
            bail!("node {url} did not finalize block #2 in 90 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    blocks_per_s: f64,
    transfers_per_s: f64,
}

async fn measure(net: &Net, args: &ConsensusBenchArgs) -> anyhow::Result<Figures> {
    let mut clients = Vec::new();
    for url in &net.rpcs {
        clients.push(connect(url).await?);
    }
    let bob = Pair::from_suri("//Ferdie")?.public();
    // Latency: each sender, one transfer after another, to its own node.
    let mut tasks = Vec::new();
    for (s, uri) in SENDERS.iter().enumerate() {
        let url = net.rpcs[s % net.rpcs.len()].clone();
        let n = args.latency_transfers;
        let pair = Pair::from_suri(uri)?;
        tasks.push(tokio::spawn(async move {
            let client = Client::connect(&url).await?;
            let mut lat = Vec::new();
            for _ in 0..n {
                let call = Call::Balances(balances::Call::Transfer { dest: bob, amount: UNITS });
                let bytes = client.sign(&pair, call, 0).await?;
                let t = Instant::now();
                let inc = client.submit_and_watch(&bytes).await?;
                anyhow::ensure!(inc.success, "transfer failed");
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort();
    // Throughput: bursts from every sender at once, until all are final.
    let c0 = &clients[0];
    let genesis = c0.genesis_hash();
    // Fund the throughput senders (//Alice//bench/i) from //Alice, and wait until final.
    let alice = Pair::from_suri("//Alice")?;
    let first = c0.next_nonce(&alice.public()).await?;
    let mut pairs = Vec::new();
    for i in 0..args.senders as u64 {
        let pair = Pair::from_suri(&format!("//Alice//bench/{i}"))?;
        let amount = (args.burst as u128 + 10) * UNITS;
        let call = Call::Balances(balances::Call::Transfer { dest: pair.public(), amount });
        let xt = Extrinsic::new_signed(&alice, call, first + i, 0, genesis).encode();
        c0.submit(&xt).await.context("funding the senders")?;
        pairs.push(pair);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while c0.account(&alice.public()).await?.nonce < first + args.senders as u64 {
        if Instant::now() > deadline {
            bail!("funding the senders was not finalized within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let head0 = c0.head().await?.number;
    let t = Instant::now();
    // Each sender keeps at most MAX_AHEAD transfers in flight (a node accepts nonces up to 64
    // ahead of the account's), topping up as blocks finalize, until it has sent `burst`.
    const MAX_AHEAD: u64 = 60;
    struct Sender {
        pair: Pair,
        client: usize,
        next: u64,
        target: u64,
    }
    let mut senders = Vec::new();
    for (s, pair) in pairs.into_iter().enumerate() {
        let client = s % clients.len();
        let next = clients[client].next_nonce(&pair.public()).await?;
        senders.push(Sender { pair, client, next, target: next + args.burst as u64 });
    }
    loop {
        let mut done = true;
        for s in &mut senders {
            let client = &clients[s.client];
            let finalized = client.account(&s.pair.public()).await?.nonce;
            while s.next < s.target && s.next < finalized + MAX_AHEAD {
                let call = Call::Balances(balances::Call::Transfer { dest: bob, amount: UNITS });
                let xt = Extrinsic::new_signed(&s.pair, call, s.next, 0, genesis).encode();
                client.submit(&xt).await.context("burst submission")?;
                s.next += 1;
            }
            if finalized < s.target {
                done = false;
            }
        }
        if done {
            break;
        }
        if t.elapsed() > Duration::from_secs(300) {
            bail!("burst not finalized within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let blocks = c0.head().await?.number.saturating_sub(head0);
    Ok(Figures {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        blocks_per_s: blocks as f64 / secs,
        transfers_per_s: (args.senders * args.burst) as f64 / secs,
    })
}

/// The light client's check of one certificate of `n` validators (all signing).
fn certificate_verification(n: usize) -> anyhow::Result<Duration> {
    let genesis = H256::hash(b"bench");
    let hash = H256::hash(b"block");
    let keys: Vec<_> = (0..n)
        .map(|i| {
            let pair = Pair::from_suri(&format!("//Validator{i}")).expect("uri");
            (pair.public(), consensus_seed(&pair.to_secret_bytes()))
        })
        .collect();
    let set = ValidatorSet {
        set_id: 0,
        validators: keys
            .iter()
            .map(|(a, s)| Validator { account: *a, consensus_key: consensus_public(s), power: 1 })
            .collect(),
    };
    let signatures = keys
        .iter()
        .map(|(_, s)| {
            let sk = ed25519_consensus::SigningKey::from(*s);
            let key = sk.verification_key().to_bytes();
            let msg = vote_sign_bytes(&genesis, VoteKind::Precommit, 9, 0, Some(&hash), &key);
            CommitSignature { validator: key, signature: sk.sign(&msg).to_bytes() }
        })
        .collect();
    let cert = CommitCertificate { height: 9, round: 0, block_hash: hash, signatures };
    let runs = 2000u32;
    let t = Instant::now();
    for _ in 0..runs {
        cert.verify(&genesis, 9, &hash, &set).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(t.elapsed() / runs)
}

/// Runs the consensus benchmark.
pub(crate) async fn run(args: &ConsensusBenchArgs) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!((1..=60).contains(&args.senders), "--senders must be 1..=60");
    anyhow::ensure!(args.burst >= 1, "--burst must be at least 1");
    let dir = tempfile::Builder::new().prefix("umbra-bench-consensus-").tempdir()?;
    let mut rows = Vec::new();
    let nets: [(String, Option<usize>); 3] = [
        (format!("{} validators", args.validators), Some(args.validators)),
        ("1 validator".into(), Some(1)),
        ("single authority (--dev)".into(), None),
    ];
    for (name, validators) in nets {
        let net = start(dir.path(), validators, args.block_time_ms)?;
        let f = measure(&net, args)
            .await
            .with_context(|| format!("{name} (logs in {})", dir.path().display()))?;
        drop(net);
        rows.push(Row(format!("{name}: submit→final p50"), ms(f.p50)));
        rows.push(Row(format!("{name}: submit→final p99"), ms(f.p99)));
        rows.push(Row(format!("{name}: blocks/s finalized"), format!("{:.1}", f.blocks_per_s)));
        rows.push(Row(
            format!("{name}: transfers/s finalized"),
            format!("{:.0}", f.transfers_per_s),
        ));
    }
    for n in [4usize, 32] {
        let d = certificate_verification(n)?;
        rows.push(Row(format!("light client: verify certificate of {n} signatures"), ms(d)));
    }
    Ok(rows)
}
