//! `umbra bench apps`: how many private transfers of the private-assets app
//! (`solidity/contracts/PrivateAssets.sol`, the compiled artifact) one worker executes through
//! the whole confidential path: open the sealed command, run the Solidity contract in revm,
//! update the state commitment, seal the outputs (the sender's encrypted receipt). The
//! accounts first deposit UMB (value carried by the command), then send each other private
//! transfers round robin.

use std::time::{Duration, Instant};

use parity_scale_codec::Encode;
use umbra_contracts::{
    self as uc,
    evm::{EvmCommand, EvmReceipt, EvmStatus},
    ContractKind, Instance, Output,
};
use umbra_crypto::blake2_256;
use umbra_evm_abi::{
    alloy_sol_types::SolCall,
    apps::{PrivateAssets as Pa, PRIVATE_ASSETS_ARTIFACT},
    Address, Artifact, U256,
};
use umbra_primitives::AccountId;

use super::{bar, Row};

/// Options of `umbra bench apps`.
#[derive(Debug, clap::Args)]
pub(crate) struct AppsBenchArgs {
    /// Private transfers timed.
    #[arg(long, default_value_t = 5_000)]
    transfers: usize,
    /// Accounts sending each other transfers (each deposits first).
    #[arg(long, default_value_t = 100)]
    accounts: usize,
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Runs the benchmark.
pub(crate) fn run(args: &AppsBenchArgs) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(args.accounts >= 2, "--accounts must be at least 2");
    anyhow::ensure!(args.transfers >= 1, "--transfers must be at least 1");
    let master = blake2_256(b"umbra/bench/master");
    let deployer: AccountId = umbra_primitives::Public(blake2_256(b"umbra/bench/apps-deployer"));
    let id = uc::contract_id(&deployer, ContractKind::Evm, b"bench-apps");
    let secret = uc::contract_secret(&master, 0, &id);
    let public = secret.public();
    let accounts: Vec<AccountId> = (0..args.accounts)
        .map(|i| umbra_primitives::Public(blake2_256(&(i as u64).to_le_bytes())))
        .collect();
    let mut seq = 0u64;
    let mut next_ctx = |origin: AccountId, value: u128| {
        let gas_limit = uc::gas::MAX_GAS_CAP;
        let ctx = uc::CommandContext {
            contract: id,
            origin,
            block: seq / 100 + 1,
            seq,
            value,
            gas_limit,
        };
        seq += 1;
        ctx
    };

    // Deploy the contract and let every account deposit 1,000 UMB (untimed).
    let mut inst = Instance::new(ContractKind::Evm);
    let code = Artifact::from_json(PRIVATE_ASSETS_ARTIFACT)?.bytecode.to_vec();
    let deploy = EvmCommand::Deploy { code, value: 0, gas_limit: 10_000_000 };
    let out = inst.execute(&next_ctx(deployer, 0), &deploy.encode())?;
    let deployed = receipt(&out)?;
    let at = deployed.created.ok_or_else(|| anyhow::anyhow!("PrivateAssets not deployed"))?;
    let deposit = 1_000 * umbra_primitives::UNITS;
    for a in &accounts {
        let ctx = next_ctx(*a, deposit);
        inst.receive_value(&ctx)?;
        let data = Pa::depositCall {}.abi_encode();
        let cmd = EvmCommand::Call { to: at, data, value: deposit, gas_limit: 200_000 };
        check(&inst.execute(&ctx, &cmd.encode())?)?;
    }

    // The transfers, sealed as a client seals them (untimed).
    let pb = bar(args.transfers, "sealing transfers");
    let mut sealed = Vec::with_capacity(args.transfers);
    for i in 0..args.transfers {
        let from = accounts[i % accounts.len()];
        let to = accounts[(i + 1) % accounts.len()];
        let data = Pa::transferCall {
            asset: U256::ZERO,
            to: Address::from(uc::evm::evm_address(&to)),
            amount: U256::from(1 + (i as u64 % 1_000)),
        }
        .abi_encode();
        let cmd = EvmCommand::Call { to: at, data, value: 0, gas_limit: 200_000 };
        let ctx = next_ctx(from, 0);
        sealed.push((ctx, uc::seal_command(&public, &id, &from, &cmd.encode())?));
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    let snapshot = inst.snapshot();

    // Timed: the confidential path, as a worker runs each command.
    let start = Instant::now();
    for (ctx, s) in &sealed {
        let plain = uc::open_command(&secret, &id, &ctx.origin, s)?;
        inst.receive_value(ctx)?;
        let outputs = inst.execute(ctx, &plain)?;
        std::hint::black_box(inst.state_hash());
        std::hint::black_box(uc::seal_outputs(&secret, &id, ctx.seq, outputs));
    }
    let live = per_second(sealed.len(), start.elapsed());
    // Every transfer went through (positive control: an accepted private transfer).
    let last = uc::open_command(&secret, &id, &sealed[0].0.origin, &sealed[0].1)?;
    let mut check_inst = Instance::restore(ContractKind::Evm, &snapshot)?;
    let out = check_inst.execute(&sealed[0].0, &last)?;
    let r = receipt(&out)?;
    let ok = Pa::transferCall::abi_decode_returns(&r.output, true)?;
    anyhow::ensure!(ok.ok, "the benchmark's transfers must be accepted");

    // The same commands split: opening alone, then the Solidity contract + commitment alone.
    let start = Instant::now();
    let mut plains = Vec::with_capacity(sealed.len());
    for (ctx, s) in &sealed {
        plains.push((*ctx, uc::open_command(&secret, &id, &ctx.origin, s)?));
    }
    let open = per_second(sealed.len(), start.elapsed());
    let mut inst = Instance::restore(ContractKind::Evm, &snapshot)?;
    let start = Instant::now();
    for (ctx, plain) in &plains {
        inst.execute(ctx, plain)?;
        std::hint::black_box(inst.state_hash());
    }
    let exec = per_second(plains.len(), start.elapsed());

    Ok(vec![
        Row(
            format!(
                "private transfers/s one worker executes (PrivateAssets.sol; open + revm + \
                 state hash + seal receipt; {} transfers among {} accounts)",
                sealed.len(),
                accounts.len()
            ),
            format!("{live:.0}"),
        ),
        Row("  of which: opening the sealed commands alone, /s".into(), format!("{open:.0}")),
        Row(
            "  of which: Solidity contract in revm + state hash alone, /s".into(),
            format!("{exec:.0}"),
        ),
        Row("gas per private transfer (PrivateAssets.transfer)".into(), r.gas_used.to_string()),
    ])
}

fn receipt(out: &[Output]) -> anyhow::Result<EvmReceipt> {
    match out.first() {
        Some(Output::PrivateEvent { payload, .. }) => {
            Ok(<EvmReceipt as parity_scale_codec::Decode>::decode(&mut &payload[..])?)
        }
        _ => anyhow::bail!("no receipt"),
    }
}

fn check(out: &[Output]) -> anyhow::Result<()> {
    let r = receipt(out)?;
    anyhow::ensure!(r.status == EvmStatus::Success, "a setup command failed: {r:?}");
    Ok(())
}
