//! `umbra bench evm`: how fast one worker executes token transfers in a confidential EVM cluster
//! through the whole confidential path (open the sealed command, run revm, state hash, seal the
//! outputs), side by side with the same transfers in bare revm, and how fast a newly assigned
//! worker replays a cluster's log.
//!
//! The token is the minimal hand-assembled token of `umbra_contracts::evm::bench` (two balance
//! slots read and written per transfer, like an ERC-20 `transfer`).
//!
//! It also times the chain side: blocks full of signed `PushCommand` extrinsics carrying sealed
//! transfers to one EVM cluster, imported by a node (signature batch, dispatch, command log,
//! database commit), beside the batched signature verification rate of the same extrinsics.

use std::time::{Duration, Instant};

use umbra_contracts::evm::bench as eb;
use umbra_contracts::{self as uc, ContractKind, Instance};
use umbra_crypto::blake2_256;
use umbra_primitives::{AccountId, H256};
use umbra_runtime::contracts::next_log_hash;

use super::{bar, ms, Row};

/// Options of `umbra bench evm`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvmBenchArgs {
    /// Transfers out and back (2 x this many commands) on the live path.
    #[arg(long, default_value_t = 2_500)]
    live: usize,
    /// Transfers out and back (2 x this many commands) in the replayed log.
    #[arg(long, default_value_t = 25_000)]
    replay: usize,
    /// Transfers out and back in the replayed log of ephemeral (browser-style) envelopes.
    #[arg(long, default_value_t = 2_500)]
    replay_ephemeral: usize,
    /// Blocks of push-command extrinsics a node imports.
    #[arg(long, default_value_t = 10)]
    blocks: usize,
    /// Push-command extrinsics per block (each from its own account).
    #[arg(long, default_value_t = 1_000)]
    pushes_per_block: usize,
}

impl Default for EvmBenchArgs {
    fn default() -> Self {
        EvmBenchArgs {
            live: 2_500,
            replay: 25_000,
            replay_ephemeral: 2_500,
            blocks: 10,
            pushes_per_block: 1_000,
        }
    }
}

/// How a workload's commands are sealed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Envelope {
    /// From each sender's session key (what the CLI does): one key agreement per sender.
    Session,
    /// From a fresh ephemeral key per command (the browser-style envelope).
    Ephemeral,
}

struct Prepared {
    id: H256,
    secret: [u8; 32],
    commands: Vec<(uc::CommandContext, umbra_crypto::SealedBox)>,
}

fn prepare(token: &eb::TokenSpec, n: usize, envelope: Envelope) -> anyhow::Result<Prepared> {
    let master = blake2_256(b"umbra/bench/master");
    let deployer: AccountId = umbra_primitives::Public(blake2_256(b"umbra/bench/deployer"));
    let id = uc::contract_id(&deployer, ContractKind::Evm, b"bench");
    let secret = uc::contract_secret(&master, 0, &id);
    let public = secret.public();
    let cmds = eb::token_commands_of(token, n);
    let pb = bar(cmds.len(), "sealing commands");
    let mut sessions = std::collections::HashMap::new();
    let mut commands = Vec::with_capacity(cmds.len());
    for (i, (ctx, plain)) in cmds.into_iter().enumerate() {
        let sealed = match envelope {
            Envelope::Ephemeral => uc::seal_command(&public, &id, &ctx.origin, &plain)?,
            Envelope::Session => {
                // A bench account has no secret key; its session key comes from a seed of
                // its own (the CLI derives it from the account's secret).
                let session = sessions.entry(ctx.origin).or_insert_with(|| {
                    let seed =
                        blake2_256(&[b"umbra/bench/session".as_slice(), &ctx.origin.0].concat());
                    uc::session_secret(&seed, &id, &public)
                });
                uc::seal_session_command(session, &public, &id, &ctx.origin, &plain)?
            }
        };
        commands.push((ctx, sealed));
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    Ok(Prepared { id, secret: secret.to_bytes(), commands })
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn micros(n: usize, d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6 / n.max(1) as f64)
}

/// Time spent per stage of a run.
#[derive(Default)]
struct Stages {
    open: Duration,
    execute: Duration,
    state_hash: Duration,
    seal: Duration,
    log_hash: Duration,
}

/// The live path as a worker runs each command (`run_command` in the enclave): open the
/// sealed command (the agreed key cached per sender key), credit value, execute, state hash,
/// seal the outputs. Returns the time of the transfers (after the deployment) and its stages.
fn live_path(p: &Prepared) -> anyhow::Result<(usize, Duration, Stages)> {
    let mut keys = uc::ContractKeys::new(p.id, p.secret);
    let mut inst = Instance::new(ContractKind::Evm);
    let mut stages = Stages::default();
    let mut total = Duration::ZERO;
    for (i, (ctx, sealed)) in p.commands.iter().enumerate() {
        let t0 = Instant::now();
        inst.set_random_seed(keys.random_seed());
        let plain = keys.open_command(&ctx.origin, sealed)?;
        let t1 = Instant::now();
        inst.receive_value(ctx)?;
        let outputs = inst.execute(ctx, &plain)?;
        let t2 = Instant::now();
        // Every transfer must succeed (a revert would be cheaper than a transfer): checked
        // outside the timed stages.
        succeeded(i, &outputs)?;
        let t2b = Instant::now();
        std::hint::black_box(inst.state_hash());
        let t3 = Instant::now();
        std::hint::black_box(keys.seal_outputs(ctx.seq, outputs));
        let t4 = Instant::now();
        if i == 0 {
            continue; // the deployment
        }
        stages.open += t1 - t0;
        stages.execute += t2 - t1;
        stages.state_hash += t3 - t2b;
        stages.seal += t4 - t3;
        total += (t4 - t0).saturating_sub(t2b - t2);
    }
    Ok((p.commands.len() - 1, total, stages))
}

/// Fails unless `outputs` (of command `i`) start with the receipt of a successful transaction.
fn succeeded(i: usize, outputs: &[uc::Output]) -> anyhow::Result<()> {
    use parity_scale_codec::DecodeAll;
    use uc::evm::{EvmReceipt, EvmStatus};
    let receipt = match outputs.first() {
        Some(uc::Output::PrivateEvent { payload, .. }) => {
            EvmReceipt::decode_all(&mut &payload[..]).ok()
        }
        _ => None,
    };
    match receipt {
        Some(r) if r.status == EvmStatus::Success => Ok(()),
        other => anyhow::bail!("benchmark command {i} did not succeed: {other:?}"),
    }
}

/// A rebuild as the enclave's `replay` runs it: check the log hash chain, open every command
/// (key agreements of new sender keys on all cores), execute in order, one state hash at the
/// end.
fn replay(p: &Prepared) -> anyhow::Result<(Duration, Stages)> {
    let start = Instant::now();
    let mut stages = Stages::default();
    let mut log = H256::ZERO;
    for (ctx, sealed) in &p.commands {
        log = next_log_hash(&log, ctx, sealed);
    }
    std::hint::black_box(log);
    let t1 = Instant::now();
    stages.log_hash = t1 - start;
    let mut keys = uc::ContractKeys::new(p.id, p.secret);
    let sealed: Vec<_> = p.commands.iter().map(|(c, s)| (c.origin, s)).collect();
    let opened = keys.open_commands(&sealed);
    let t2 = Instant::now();
    stages.open = t2 - t1;
    let mut inst = Instance::new(ContractKind::Evm);
    for ((ctx, _), plain) in p.commands.iter().zip(opened) {
        inst.set_random_seed(keys.random_seed());
        inst.receive_value(ctx)?;
        inst.execute(ctx, &plain?)?;
    }
    let t3 = Instant::now();
    stages.execute = t3 - t2;
    std::hint::black_box(inst.state_hash());
    stages.state_hash = t3.elapsed();
    Ok((start.elapsed(), stages))
}

/// Runs the benchmark.
/// The deployment code of `solidity/artifacts/Token.json` (the ERC-20 `umbra dev` deploys)
/// minting a supply to the deployer.
fn erc20() -> anyhow::Result<eb::TokenSpec> {
    let artifact = umbra_evm_abi::Artifact::from_json(crate::dev::TOKEN_ARTIFACT)?;
    let supply = eb::TOKEN_SUPPLY.to_string();
    let init_code = umbra_evm_abi::encode_constructor(&artifact, &["Bench", "BNCH", &supply])?;
    Ok(eb::TokenSpec { init_code, transfer: erc20_transfer })
}

/// `transfer(to, amount)` of the ERC-20.
fn erc20_transfer(to: &[u8; 20], amount: u64) -> Vec<u8> {
    let args = [format!("0x{}", hex::encode(to)), amount.to_string()];
    umbra_evm_abi::encode_call("transfer(address,uint256)", &args)
        .expect("an address and an amount encode")
}

/// The confidential path and bare revm on the same `2 x n` transfers of `token`: the rows of
/// the comparison, labelled `name`.
fn live_vs_bare(name: &str, token: &eb::TokenSpec, n: usize) -> anyhow::Result<Vec<Row>> {
    let live = prepare(token, n, Envelope::Session)?;
    let (done, live_time, st) = live_path(&live)?;
    let live_rate = per_second(done, live_time);
    let bare = eb::bare_revm_transfers_of(token, n).map_err(|e| anyhow::anyhow!(e))?;
    let bare_rate = per_second(n * 2, bare);
    Ok(vec![
        Row(
            format!(
                "{name} transfers/s, confidential path (open + revm + state hash + seal, {done})"
            ),
            format!("{live_rate:.0}"),
        ),
        Row(format!("{name} transfers/s, bare revm ({})", n * 2), format!("{bare_rate:.0}")),
        Row(
            format!("slowdown of the confidential path vs bare revm ({name})"),
            format!("{:.2}x", bare_rate / live_rate),
        ),
        Row("  per transfer: open (session envelope, cached key)".into(), micros(done, st.open)),
        Row(
            "  per transfer: execute (decode + revm + state update)".into(),
            micros(done, st.execute),
        ),
        Row(
            "  per transfer: state hash (commitment update + root)".into(),
            micros(done, st.state_hash),
        ),
        Row("  per transfer: seal the receipt".into(), micros(done, st.seal)),
        Row("  per transfer: bare revm".into(), micros(n * 2, bare)),
    ])
}

/// Runs the benchmark.
pub(crate) fn run(args: &EvmBenchArgs) -> anyhow::Result<Vec<Row>> {
    let minimal = eb::TokenSpec::minimal();
    let mut rows = live_vs_bare("ERC-20 (Token.sol)", &erc20()?, args.live)?;
    rows.extend(live_vs_bare("minimal token", &minimal, args.live)?);

    // Opening browser-style (ephemeral) envelopes: one key agreement each.
    let eph = prepare(&minimal, args.live / 10, Envelope::Ephemeral)?;
    let mut keys = uc::ContractKeys::new(eph.id, eph.secret);
    let start = Instant::now();
    for (ctx, sealed) in &eph.commands {
        std::hint::black_box(keys.open_command(&ctx.origin, sealed)?);
    }
    let eph_open_rate = per_second(eph.commands.len(), start.elapsed());

    let replayed = prepare(&minimal, args.replay, Envelope::Session)?;
    let (replay_time, rst) = replay(&replayed)?;
    let rn = replayed.commands.len();
    drop(replayed);
    let replayed_eph = prepare(&minimal, args.replay_ephemeral, Envelope::Ephemeral)?;
    let (replay_eph_time, _) = replay(&replayed_eph)?;
    let ren = replayed_eph.commands.len();

    let (push_rate, verify_rate) = bench_push_imports(args)?;

    rows.extend([
        Row(
            format!("opening ephemeral (browser) envelopes, /s ({})", eph.commands.len()),
            format!("{eph_open_rate:.0}"),
        ),
        Row(
            format!("replay transfers/s (session envelopes, {rn} cmds)"),
            format!("{:.0}", per_second(rn, replay_time)),
        ),
        Row("  per command: log hash".into(), micros(rn, rst.log_hash)),
        Row("  per command: open".into(), micros(rn, rst.open)),
        Row("  per command: execute".into(), micros(rn, rst.execute)),
        Row("  state hash at the end (whole replay)".into(), ms(rst.state_hash)),
        Row(
            format!("replay transfers/s (ephemeral envelopes, {ren} cmds)"),
            format!("{:.0}", per_second(ren, replay_eph_time)),
        ),
        Row(
            format!(
                "encrypted push-command extrinsics/s a node imports ({} blocks x {})",
                args.blocks, args.pushes_per_block
            ),
            format!("{push_rate:.0}"),
        ),
        Row(
            "  sr25519 verifications/s of the same extrinsics (batched)".into(),
            format!("{verify_rate:.0}"),
        ),
        Row(
            "  push-command imports vs batched signature verification".into(),
            format!("{:.2}", push_rate / verify_rate),
        ),
    ]);
    Ok(rows)
}

/// Blocks of `PushCommand` extrinsics (sealed token transfers) to one EVM cluster, authored by
/// one node and imported by another; returns imported extrinsics/s and the batched signature
/// verification rate of the same extrinsics. The cluster is in the genesis state with its key
/// published (the gatekeeper's part is not what is timed).
fn bench_push_imports(args: &EvmBenchArgs) -> anyhow::Result<(f64, f64)> {
    use std::sync::Arc;

    use anyhow::Context;
    use parity_scale_codec::Encode;
    use umbra_node::{consensus::DevAuthority, Node};
    use umbra_primitives::{Block, Header, Pair};
    use umbra_runtime::{contracts, Call, Extrinsic};

    anyhow::ensure!(args.blocks > 0 && args.pushes_per_block > 0, "nothing to import");
    let senders: Vec<Pair> = (0..args.pushes_per_block)
        .map(|i| Pair::from_seed(&blake2_256(&(i as u64).to_le_bytes())))
        .collect();
    let spec = super::chain::bench_spec(&senders, 0);
    let alice = Pair::from_suri("//Alice").expect("dev key");
    let master = blake2_256(b"umbra/bench/master");
    let id = uc::contract_id(&alice.public(), ContractKind::Evm, b"bench-push");
    let public = uc::contract_secret(&master, 0, &id).public();
    let cluster = contracts::ContractInfo {
        id,
        kind: ContractKind::Evm,
        deployer: alice.public(),
        rotation: 0,
        pubkey: Some(public.0),
        deployed_at: 0,
        quorum: 1,
        commands: 0,
        log_hash: H256::ZERO,
        epoch: 0,
        next_reshuffle: u64::MAX,
        assigned: Vec::new(),
        executed: 0,
        state_hash: H256::ZERO,
        checkpoint: None,
        paused: None,
    };
    let (mut state, _) = spec.genesis()?;
    state.push((contracts::CONTRACTS.key(&id), cluster.encode()));
    state.sort();
    let root = H256(umbra_chain_storage::compute_root(state.iter().cloned()));
    let genesis = Block { header: Header::genesis(root, 0), extrinsics: Vec::new() };
    let dir = tempfile::tempdir().context("temp dir")?;
    let open = |name: &str| {
        Node::open_with_genesis(
            &dir.path().join(name),
            spec.clone(),
            Arc::new(DevAuthority::new(alice.clone())),
            state.clone(),
            genesis.clone(),
        )
    };
    let author = open("author")?;
    let importer = open("importer")?;
    let genesis_hash = author.genesis_hash();
    let token = eb::first_created(&alice.public());

    let pb = bar(args.blocks, "authoring push blocks");
    let mut blocks = Vec::with_capacity(args.blocks);
    let mut all = Vec::new();
    for b in 0..args.blocks {
        for (i, s) in senders.iter().enumerate() {
            // A sealed token transfer: recipient and amount in the calldata.
            let to = uc::evm::evm_address(&senders[(i + 1) % senders.len()].public());
            let data = eb::transfer_data(&to, (b * args.pushes_per_block + i) as u64 + 1);
            let command = uc::evm::EvmCommand::Call {
                to: token,
                data,
                value: 0,
                gas_limit: eb::TRANSFER_GAS,
            };
            let sealed = uc::seal_command(&public, &id, &s.public(), &command.encode())?;
            let call = Call::Contracts(contracts::Call::PushCommand {
                contract: id,
                command: sealed,
                value: 0,
                gas_limit: eb::TRANSFER_GAS,
            });
            let xt = Extrinsic::new_signed(s, call, b as u64, 0, genesis_hash);
            author.submit(xt.encode()).map_err(|e| anyhow::anyhow!("push command refused: {e}"))?;
            all.push(xt);
        }
        let (imported, stats) = author.author_block()?;
        anyhow::ensure!(
            stats.extrinsics == senders.len(),
            "block has {} of {} push commands",
            stats.extrinsics,
            senders.len()
        );
        blocks.push(author.block(imported.header.number)?.context("authored block")?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let pushed = author.with_state(|st| contracts::contract(st, &id).map(|c| c.commands))?;
    anyhow::ensure!(
        pushed == Some((args.blocks * args.pushes_per_block) as u64),
        "the cluster's log holds {pushed:?} commands"
    );

    let pb = bar(args.blocks, "importing push blocks");
    let mut import_time = Duration::ZERO;
    for block in blocks {
        let start = Instant::now();
        importer.import_block(block)?;
        import_time += start.elapsed();
        pb.inc(1);
    }
    pb.finish_and_clear();
    anyhow::ensure!(importer.head() == author.head(), "importer diverged from author");

    let start = Instant::now();
    umbra_node::service::verify_signatures(&all)?;
    let verify_rate = per_second(all.len(), start.elapsed());
    Ok((per_second(all.len(), import_time), verify_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ERC-20 workload deploys Token.sol and every transfer succeeds on both paths (the
    /// bench checks each receipt and each bare revm result).
    #[test]
    fn the_erc20_workload_succeeds_on_both_paths() {
        let rows = live_vs_bare("ERC-20", &erc20().unwrap(), 70).unwrap();
        assert!(rows[0].0.contains("ERC-20") && rows[0].0.contains("140"));
    }

    /// A workload whose transfers revert is refused, not measured.
    #[test]
    fn a_reverting_workload_is_refused() {
        let mut token = eb::TokenSpec::minimal();
        token.transfer = |to, _| eb::transfer_data(to, u64::MAX);
        let e = live_vs_bare("broken", &token, 3).unwrap_err();
        assert!(e.to_string().contains("did not succeed"), "{e}");
    }
}
