//! Deterministic EVM workloads for `umbra bench evm`, and the same transfers in bare revm for
//! comparison.

use std::time::{Duration, Instant};

use parity_scale_codec::Encode;
use revm::db::{CacheDB, EmptyDB};
use revm::primitives::{Address, ExecutionResult, SpecId, TxKind, U256};
use revm::Evm;
use umbra_primitives::AccountId;

use super::{evm_address, EvmCommand};
use crate::bench::bench_account;
use crate::contract::{CommandContext, ContractKind};
use crate::keys::contract_id;

/// Tokens the deployer of [`token_init_code`] starts with.
pub const TOKEN_SUPPLY: u64 = 1_000_000_000_000;
/// Holders the benchmark transfers between.
pub const TOKEN_HOLDERS: u64 = 64;
/// Gas limit of every benchmark transfer.
pub const TRANSFER_GAS: u64 = 100_000;

/// Runtime code of a minimal token (hand-assembled, no Solidity): calldata `to ‖ amount`
/// (two 32-byte words) moves `amount` from slot `msg.sender` to slot `to`, reverting if the
/// sender's balance is too low. Same storage pattern as an ERC-20 `transfer` (two balance
/// slots read and written), without the ABI selector dispatch and event.
pub const TOKEN_RUNTIME: &[u8] = &[
    0x60, 0x20, 0x35, // amount
    0x33, 0x54, // sload(caller)
    0x81, 0x81, 0x10, 0x60, 0x1a, 0x57, // if bal < amount goto revert
    0x03, 0x33, 0x55, // sstore(caller, bal - amount)
    0x60, 0x00, 0x35, 0x80, 0x54, // to, sload(to)
    0x60, 0x20, 0x35, 0x01, // + amount
    0x90, 0x55, 0x00, // sstore(to, ...); stop
    0x5b, 0x60, 0x00, 0x60, 0x00, 0xfd, // revert
];

/// Init code of the token: credits [`TOKEN_SUPPLY`] to `msg.sender`, returns
/// [`TOKEN_RUNTIME`].
pub fn token_init_code() -> Vec<u8> {
    let mut c = vec![0x67];
    c.extend_from_slice(&TOKEN_SUPPLY.to_be_bytes());
    c.extend_from_slice(&[0x33, 0x55]); // sstore(caller, supply): 11 bytes so far
    let len = u8::try_from(TOKEN_RUNTIME.len()).unwrap_or(u8::MAX);
    // codecopy(0, 11 + 12, len); return(0, len)
    c.extend_from_slice(&[0x60, len, 0x60, 23, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3]);
    c.extend_from_slice(TOKEN_RUNTIME);
    c
}

/// The address the first deployment by `deployer` (nonce 0) creates.
pub fn first_created(deployer: &AccountId) -> [u8; 20] {
    Address::from(evm_address(deployer)).create(0).0 .0
}

/// Calldata of a token transfer.
pub fn transfer_data(to: &[u8; 20], amount: u64) -> Vec<u8> {
    let mut d = vec![0u8; 64];
    d[12..32].copy_from_slice(to);
    d[56..64].copy_from_slice(&amount.to_be_bytes());
    d
}

/// Gas limit of a benchmark token's deployment.
pub const DEPLOY_GAS: u64 = 5_000_000;

/// A token a workload transfers: its deployment code, which gives the deployer a supply of at
/// least 10 per transfer, and how a transfer's calldata is made.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// The deployment code (constructor arguments appended).
    pub init_code: Vec<u8>,
    /// The calldata that moves `amount` from the caller to `to`.
    pub transfer: fn(&[u8; 20], u64) -> Vec<u8>,
}

impl TokenSpec {
    /// The minimal hand-assembled token ([`TOKEN_RUNTIME`]).
    pub fn minimal() -> TokenSpec {
        TokenSpec { init_code: token_init_code(), transfer: transfer_data }
    }
}

/// [`token_commands_of`] the minimal token.
pub fn token_commands(n: usize) -> Vec<(CommandContext, Vec<u8>)> {
    token_commands_of(&TokenSpec::minimal(), n)
}

/// A token workload as a cluster command log: the deployment by `bench_account(0)`, `n`
/// transfers from it to [`TOKEN_HOLDERS`] rotating holders, then `n` transfers from the
/// holders back (so `2n + 1` commands); 50 commands per block, `seq` from 0.
pub fn token_commands_of(spec: &TokenSpec, n: usize) -> Vec<(CommandContext, Vec<u8>)> {
    let owner = bench_account(0);
    let contract = contract_id(&owner, ContractKind::Evm, b"umbra/bench");
    let token = first_created(&owner);
    let ctx = |seq: u64, origin: AccountId| CommandContext {
        contract,
        origin,
        block: (seq / 50).saturating_add(1),
        seq,
        value: 0,
        gas_limit: crate::gas::MAX_GAS_CAP,
    };
    let mut out = Vec::with_capacity(n.saturating_mul(2).saturating_add(1));
    let deploy =
        EvmCommand::Deploy { code: spec.init_code.clone(), value: 0, gas_limit: DEPLOY_GAS };
    out.push((ctx(0, owner), deploy.encode()));
    let holder = |i: u64| bench_account((i % TOKEN_HOLDERS).saturating_add(1));
    let mut seq = 1u64;
    for i in 0..n as u64 {
        let to = evm_address(&holder(i));
        let cmd = EvmCommand::Call {
            to: token,
            data: (spec.transfer)(&to, 10),
            value: 0,
            gas_limit: TRANSFER_GAS,
        };
        out.push((ctx(seq, owner), cmd.encode()));
        seq = seq.saturating_add(1);
    }
    for i in 0..n as u64 {
        let cmd = EvmCommand::Call {
            to: token,
            data: (spec.transfer)(&evm_address(&owner), 1),
            value: 0,
            gas_limit: TRANSFER_GAS,
        };
        out.push((ctx(seq, holder(i)), cmd.encode()));
        seq = seq.saturating_add(1);
    }
    out
}

/// [`bare_revm_transfers_of`] the minimal token.
pub fn bare_revm_transfers(n: usize) -> Result<Duration, String> {
    bare_revm_transfers_of(&TokenSpec::minimal(), n)
}

/// Runs the same deployment and `2n` transfers as [`token_commands_of`] in bare revm (in-memory
/// `CacheDB`, commit after each transaction, no envelopes, no state hash) and returns the time
/// the transfers took.
pub fn bare_revm_transfers_of(spec: &TokenSpec, n: usize) -> Result<Duration, String> {
    let owner = bench_account(0);
    let owner_addr = Address::from(evm_address(&owner));
    let mut evm = Evm::builder()
        .with_db(CacheDB::new(EmptyDB::default()))
        .with_spec_id(SpecId::CANCUN)
        .modify_tx_env(|t| {
            t.gas_price = U256::ZERO;
            t.nonce = None;
        })
        .modify_block_env(|b| b.basefee = U256::ZERO)
        .build();
    let run = |evm: &mut Evm<'_, (), CacheDB<EmptyDB>>,
               caller: Address,
               to: TxKind,
               data: Vec<u8>,
               gas: u64|
     -> Result<(), String> {
        let tx = evm.tx_mut();
        tx.caller = caller;
        tx.transact_to = to;
        tx.data = data.into();
        tx.gas_limit = gas;
        match evm.transact_commit().map_err(|e| format!("{e:?}"))? {
            ExecutionResult::Success { .. } => Ok(()),
            other => Err(format!("{other:?}")),
        }
    };
    run(&mut evm, owner_addr, TxKind::Create, spec.init_code.clone(), DEPLOY_GAS)?;
    let token = TxKind::Call(owner_addr.create(0));
    let holder = |i: u64| bench_account((i % TOKEN_HOLDERS).saturating_add(1));
    let start = Instant::now();
    for i in 0..n as u64 {
        let to = evm_address(&holder(i));
        run(&mut evm, owner_addr, token, (spec.transfer)(&to, 10), TRANSFER_GAS)?;
    }
    for i in 0..n as u64 {
        let from = Address::from(evm_address(&holder(i)));
        run(&mut evm, from, token, (spec.transfer)(&owner_addr.0 .0, 1), TRANSFER_GAS)?;
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evm::{EvmCluster, EvmReceipt, EvmStatus};
    use crate::{Instance, Output};
    use parity_scale_codec::DecodeAll;

    #[test]
    fn token_workload_succeeds_and_moves_balances() {
        let cmds = token_commands(100);
        assert_eq!(cmds.len(), 201);
        let mut inst = Instance::new(ContractKind::Evm);
        for (ctx, cmd) in &cmds {
            let out = inst.execute(ctx, cmd).unwrap();
            let Output::PrivateEvent { payload, .. } = &out[0] else { panic!("no receipt") };
            let r = EvmReceipt::decode_all(&mut &payload[..]).unwrap();
            assert_eq!(r.status, EvmStatus::Success, "{r:?}");
        }
        let state: EvmCluster =
            parity_scale_codec::Decode::decode(&mut &inst.snapshot()[..]).unwrap();
        let token = first_created(&bench_account(0));
        let slot = |a: [u8; 20]| {
            let mut k = [0u8; 32];
            k[12..].copy_from_slice(&a);
            U256::from_be_bytes(state.storage(&token, k))
        };
        // 100 transfers of 10 out, 100 of 1 back.
        assert_eq!(slot(evm_address(&bench_account(0))), U256::from(TOKEN_SUPPLY - 900));
        assert_eq!(slot(evm_address(&bench_account(1))), U256::from(18u64)); // 2 x (10 - 1)
                                                                             // A transfer beyond the balance reverts.
        let (ctx, _) = &cmds[200];
        let ctx = CommandContext { seq: 201, ..*ctx };
        let cmd = EvmCommand::Call {
            to: token,
            data: transfer_data(&[1; 20], 1_000),
            value: 0,
            gas_limit: TRANSFER_GAS,
        };
        let out = inst.execute(&ctx, &cmd.encode()).unwrap();
        let Output::PrivateEvent { payload, .. } = &out[0] else { panic!("no receipt") };
        assert_eq!(EvmReceipt::decode_all(&mut &payload[..]).unwrap().status, EvmStatus::Revert);
        assert!(bare_revm_transfers(50).is_ok());
    }
}
