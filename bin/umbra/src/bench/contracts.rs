//! `umbra bench contracts`: how fast a worker executes confidential commands (open the sealed
//! command, run it, hash the state for the result) and how fast a newly assigned worker rebuilds
//! a contract by replaying its command log (log-hash check, open, run), up to 100,000 commands.

use std::time::{Duration, Instant};

use umbra_contracts::{self as uc, ContractKind, Instance};
use umbra_crypto::blake2_256;
use umbra_primitives::{AccountId, H256};
use umbra_runtime::contracts::next_log_hash;

use super::{bar, Row};

/// Options of `umbra bench contracts`.
#[derive(Debug, clap::Args)]
pub(crate) struct ContractsBenchArgs {
    /// Commands executed one by one with a state hash after each (the live path).
    #[arg(long, default_value_t = 5_000)]
    live: usize,
    /// Commands in the log that is replayed to rebuild the contract.
    #[arg(long, default_value_t = 100_000)]
    replay: usize,
}

impl Default for ContractsBenchArgs {
    fn default() -> Self {
        ContractsBenchArgs { live: 5_000, replay: 100_000 }
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
    let id = uc::contract_id(&deployer, ContractKind::Guestbook, b"bench");
    let secret = uc::contract_secret(&master, 0, &id);
    let public = secret.public();
    let pb = bar(n, "sealing commands");
    let mut commands = Vec::with_capacity(n + 1);
    for (i, (ctx, plain)) in uc::bench::guestbook_commands(n).into_iter().enumerate() {
        commands.push((ctx, uc::seal_command(&public, &id, &ctx.origin, &plain)?));
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    Ok(Prepared { id, secret, commands })
}

fn per_second(n: usize, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64())
}

/// Runs the benchmark.
pub(crate) fn run(args: &ContractsBenchArgs) -> anyhow::Result<Vec<Row>> {
    // Live path: open, execute, state hash (what goes into each result report).
    let live = prepare(args.live)?;
    let mut inst = Instance::new(ContractKind::Guestbook);
    let start = Instant::now();
    for (ctx, sealed) in &live.commands {
        let plain = uc::open_command(&live.secret, &live.id, &ctx.origin, sealed)?;
        inst.execute(ctx, &plain)?;
        std::hint::black_box(inst.state_hash());
    }
    let live_time = start.elapsed();

    // Replay path: verify the log hash chain, open, execute; one state hash at the end.
    let replay = prepare(args.replay)?;
    let start = Instant::now();
    let mut inst = Instance::new(ContractKind::Guestbook);
    let mut log = H256::ZERO;
    for (ctx, sealed) in &replay.commands {
        log = next_log_hash(&log, ctx, sealed);
        let plain = uc::open_command(&replay.secret, &replay.id, &ctx.origin, sealed)?;
        inst.execute(ctx, &plain)?;
    }
    let final_hash = inst.state_hash();
    let replay_time = start.elapsed();
    std::hint::black_box((log, final_hash));
    let snapshot = inst.snapshot().len();

    Ok(vec![
        Row(
            format!(
                "contract commands/s, live (open + run + state hash, {} cmds)",
                live.commands.len()
            ),
            per_second(live.commands.len(), live_time),
        ),
        Row(
            format!("replay commands/s ({} cmds, log hash + open + run)", replay.commands.len()),
            per_second(replay.commands.len(), replay_time),
        ),
        Row(
            format!("rebuild time of a {}-command contract", replay.commands.len()),
            format!("{:.2} s", replay_time.as_secs_f64()),
        ),
        Row("size of its state snapshot".into(), format!("{:.1} MiB", snapshot as f64 / 1048576.0)),
    ])
}
