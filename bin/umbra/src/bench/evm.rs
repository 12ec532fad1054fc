//! `umbra bench evm`: how fast one worker executes token transfers in a confidential EVM cluster
//! through the whole confidential path (open the sealed command, run revm, state hash, seal the
//! outputs), side by side with the same transfers in bare revm, and how fast a newly assigned
//! worker replays a cluster's log.
//!
//! The token is the minimal hand-assembled token of `umbra_contracts::evm::bench` (two balance
//! slots read and written per transfer, like an ERC-20 `transfer`).

use std::time::{Duration, Instant};

use umbra_contracts::evm::bench as eb;
use umbra_contracts::{self as uc, ContractKind, Instance};
use umbra_crypto::blake2_256;
use umbra_primitives::{AccountId, H256};
use umbra_runtime::contracts::next_log_hash;

use super::{bar, Row};

/// Options of `umbra bench evm`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvmBenchArgs {
    /// Transfers out and back (2 x this many commands) on the live path.
    #[arg(long, default_value_t = 2_500)]
    live: usize,
    /// Transfers out and back (2 x this many commands) in the replayed log.
    #[arg(long, default_value_t = 25_000)]
    replay: usize,
}

impl Default for EvmBenchArgs {
    fn default() -> Self {
        EvmBenchArgs { live: 2_500, replay: 25_000 }
    }
}

struct Prepared {
    id: H256,
    secret: umbra_crypto::EcdhSecret,
    commands: Vec<(uc::CommandContext, umbra_crypto::SealedBox)>,
}

fn prepare(n: usize) -> anyhow::Result<Prepared> {
    let master = blake2_256(b"umbra/bench/master");
    let deployer: AccountId = umbra_primitives::Public(blake2_256(b"umbra/bench/deployer"));
    let id = uc::contract_id(&deployer, ContractKind::Evm, b"bench");
    let secret = uc::contract_secret(&master, 0, &id);
    let public = secret.public();
    let cmds = eb::token_commands(n);
    let pb = bar(cmds.len(), "sealing commands");
    let mut commands = Vec::with_capacity(cmds.len());
    for (i, (ctx, plain)) in cmds.into_iter().enumerate() {
        commands.push((ctx, uc::seal_command(&public, &id, &ctx.origin, &plain)?));
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    Ok(Prepared { id, secret, commands })
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Runs the benchmark.
pub(crate) fn run(args: &EvmBenchArgs) -> anyhow::Result<Vec<Row>> {
    // Live path: open, execute, state hash, seal outputs (what a worker does per result).
    let live = prepare(args.live)?;
    let mut inst = Instance::new(ContractKind::Evm);
    let (deploy_ctx, deploy) = &live.commands[0];
    let plain = uc::open_command(&live.secret, &live.id, &deploy_ctx.origin, deploy)?;
    inst.execute(deploy_ctx, &plain)?;
    let transfers = &live.commands[1..];
    let start = Instant::now();
    for (ctx, sealed) in transfers {
        let plain = uc::open_command(&live.secret, &live.id, &ctx.origin, sealed)?;
        let outputs = inst.execute(ctx, &plain)?;
        std::hint::black_box(inst.state_hash());
        std::hint::black_box(uc::seal_outputs(&live.secret, &live.id, ctx.seq, outputs));
    }
    let live_rate = per_second(transfers.len(), start.elapsed());

    // The same path split in two: opening the envelopes alone, then revm + state hash on a
    // fresh cluster with the plaintexts already opened.
    let start = Instant::now();
    let mut plains = Vec::with_capacity(transfers.len());
    for (ctx, sealed) in transfers {
        plains.push((*ctx, uc::open_command(&live.secret, &live.id, &ctx.origin, sealed)?));
    }
    let open_rate = per_second(transfers.len(), start.elapsed());
    let mut inst = Instance::new(ContractKind::Evm);
    inst.execute(deploy_ctx, &plain)?;
    let start = Instant::now();
    for (ctx, plain) in &plains {
        inst.execute(ctx, plain)?;
        std::hint::black_box(inst.state_hash());
    }
    let exec_rate = per_second(plains.len(), start.elapsed());

    let bare = eb::bare_revm_transfers(args.live).map_err(|e| anyhow::anyhow!(e))?;
    let bare_rate = per_second(args.live * 2, bare);

    // Replay path: verify the log hash chain, open, execute; one state hash at the end.
    let replay = prepare(args.replay)?;
    let start = Instant::now();
    let mut inst = Instance::new(ContractKind::Evm);
    let mut log = H256::ZERO;
    for (ctx, sealed) in &replay.commands {
        log = next_log_hash(&log, ctx, sealed);
        let plain = uc::open_command(&replay.secret, &replay.id, &ctx.origin, sealed)?;
        inst.execute(ctx, &plain)?;
    }
    std::hint::black_box((log, inst.state_hash()));
    let replay_time = start.elapsed();

    Ok(vec![
        Row(
            format!(
                "token transfers/s, confidential path (open + revm + state hash + seal, {})",
                transfers.len()
            ),
            format!("{live_rate:.0}"),
        ),
        Row("  of which: opening the sealed commands alone, /s".into(), format!("{open_rate:.0}")),
        Row("  of which: revm + state hash alone, /s".into(), format!("{exec_rate:.0}")),
        Row(format!("token transfers/s, bare revm ({})", args.live * 2), format!("{bare_rate:.0}")),
        Row(
            "slowdown of the confidential path vs bare revm".into(),
            format!("{:.2}x", bare_rate / live_rate),
        ),
        Row(
            format!("replay transfers/s ({} cmds, log hash + open + revm)", replay.commands.len()),
            format!("{:.0}", per_second(replay.commands.len(), replay_time)),
        ),
    ])
}
