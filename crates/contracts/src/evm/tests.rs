//! Tests of the EVM cluster with small hand-assembled contracts.

use super::*;
use crate::contract::ContractKind;
use crate::instance::Instance;
use parity_scale_codec::DecodeAll;
use proptest::prelude::*;
use umbra_primitives::H256;

fn acct(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

fn ctx(who: u8, seq: u64) -> CommandContext {
    CommandContext {
        contract: H256([9; 32]),
        origin: acct(who),
        block: seq.saturating_add(1),
        seq,
        value: 0,
        gas_limit: crate::gas::MAX_GAS_CAP,
    }
}

/// Init code that returns `runtime` as the deployed code.
fn init_code(runtime: &[u8]) -> Vec<u8> {
    let len = u8::try_from(runtime.len()).unwrap();
    let mut c = vec![0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3];
    c.extend_from_slice(runtime);
    c
}

/// "Ledger": 64 bytes of calldata `(key, value)` store `value` at slot `key` and log
/// `LOG1(topic = key, data = value)`; 32 bytes of calldata `addr` return slot `addr` — but only
/// to `msg.sender == addr` (anyone else gets a revert): an owner-only `balanceOf`.
const LEDGER: &[u8] = &[
    0x60, 0x20, 0x36, 0x11, 0x60, 0x1f, 0x57, // if calldatasize > 32 goto write
    0x60, 0x00, 0x35, 0x80, 0x33, 0x14, 0x60, 0x15, 0x57, // addr; if addr == caller goto ok
    0x60, 0x00, 0x60, 0x00, 0xfd, // revert
    0x5b, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3, // ok: return sload(addr)
    0x5b, 0x60, 0x20, 0x35, 0x80, 0x60, 0x00, 0x35, 0x55, // write: sstore(key, value)
    0x60, 0x00, 0x52, 0x60, 0x00, 0x35, 0x60, 0x20, 0x60, 0x00, 0xa1, 0x00, // log1; stop
];

/// Stores 1 at slot 0, then reverts with the 4 bytes "nope".
const REVERTER: &[u8] = &[
    0x60, 0x01, 0x60, 0x00, 0x55, 0x63, b'n', b'o', b'p', b'e', 0x60, 0x00, 0x52, 0x60, 0x04, 0x60,
    0x1c, 0xfd,
];

/// Stores 1 at slot 0, then loops forever (runs out of gas).
const LOOPER: &[u8] = &[0x60, 0x01, 0x60, 0x00, 0x55, 0x5b, 0x60, 0x05, 0x56];

/// "Forwarder": calls the address in calldata[0..32] with calldata[32..]; fails if that fails.
const FORWARDER: &[u8] = &[
    0x60, 0x00, 0x60, 0x00, 0x60, 0x20, 0x36, 0x03, 0x80, 0x60, 0x20, 0x60, 0x00, 0x37, 0x60, 0x00,
    0x60, 0x00, 0x60, 0x00, 0x35, 0x5a, 0xf1, 0x60, 0x1b, 0x57, 0xfe, 0x5b, 0x00,
];

/// "Payer": pays CALLVALUE out of its own balance through the payout address to the account
/// in calldata[0..32] (`abi.encode(account, callvalue)`); fails if the payout fails.
fn payer() -> Vec<u8> {
    let mut c = vec![0x60, 0x20, 0x60, 0x00, 0x60, 0x00, 0x37]; // calldatacopy(0, 0, 32)
    c.extend_from_slice(&[0x34, 0x60, 0x20, 0x52]); // mstore(32, callvalue)
    c.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0x60, 0x40, 0x60, 0x00, 0x60, 0x00, 0x73]);
    c.extend_from_slice(&PAYOUT_ADDRESS);
    c.extend_from_slice(&[0x5a, 0xf1, 0x60, 0x30, 0x57, 0xfe, 0x5b, 0x00]);
    c
}

/// `abi.encode(bytes32 account, uint256 amount)`: the payout address's calldata.
fn payout_data(to: &AccountId, amount: u128) -> Vec<u8> {
    [*to.as_bytes(), word(&amount.to_be_bytes())].concat()
}

/// Stores the first 32 bytes a STATICCALL to the randomness address returned (its randomness,
/// or its revert reason) at slot 0.
fn rand_user() -> Vec<u8> {
    let mut c = vec![0x60, 0x20, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73];
    c.extend_from_slice(&RANDOM_ADDRESS);
    c.extend_from_slice(&[0x5a, 0xfa, 0x50, 0x60, 0x00, 0x51, 0x60, 0x00, 0x55, 0x00]);
    c
}

fn word(bytes: &[u8]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[32usize.saturating_sub(bytes.len())..].copy_from_slice(bytes);
    w
}

fn receipt(outputs: &[Output]) -> EvmReceipt {
    match &outputs[0] {
        Output::PrivateEvent { payload, .. } => EvmReceipt::decode_all(&mut &payload[..]).unwrap(),
        other => panic!("first output is not the receipt: {other:?}"),
    }
}

fn deploy(c: &mut EvmCluster, who: u8, seq: u64, runtime: &[u8]) -> [u8; 20] {
    let cmd = EvmCommand::Deploy { code: init_code(runtime), value: 0, gas_limit: 1_000_000 };
    let out = c.handle_command(&ctx(who, seq), cmd).unwrap();
    let r = receipt(&out);
    assert_eq!(r.status, EvmStatus::Success, "{r:?}");
    r.created.unwrap()
}

fn call(c: &mut EvmCluster, who: u8, seq: u64, to: [u8; 20], data: Vec<u8>) -> Vec<Output> {
    let cmd = EvmCommand::Call { to, data, value: 0, gas_limit: 200_000 };
    c.handle_command(&ctx(who, seq), cmd).unwrap()
}

#[test]
fn address_mapping_is_documented_and_stable() {
    let a = acct(1);
    let h = blake2_256(&[b"umbra/evm-address".as_slice(), a.as_bytes()].concat());
    assert_eq!(evm_address(&a), h[12..]);
    assert_ne!(evm_address(&acct(1)), evm_address(&acct(2)));
    assert_eq!(PUBLIC_EVENT_ADDRESS[..18], [0; 18]);
    assert_eq!(PUBLIC_EVENT_ADDRESS[18..], [0x0a, 1]);
    assert_eq!(PAYOUT_ADDRESS[18..], [0x0a, 2]);
    assert_eq!(RANDOM_ADDRESS[18..], [0x0a, 3]);
    assert_eq!(GAS_PAD_ADDRESS[18..], [0x0a, 4]);
}

#[test]
fn store_log_and_owner_only_read() {
    let mut c = EvmCluster::default();
    let ledger = deploy(&mut c, 1, 0, LEDGER);
    let alice = evm_address(&acct(2));
    let key = word(&alice);
    let value = word(&[0x12, 0x34]);
    let out = call(&mut c, 2, 1, ledger, [key, value].concat());
    assert_eq!(out.len(), 1, "only the private receipt");
    assert!(matches!(&out[0], Output::PrivateEvent { to, .. } if *to == acct(2)));
    let r = receipt(&out);
    assert_eq!(r.status, EvmStatus::Success);
    assert_eq!(r.logs, vec![EvmLog { address: ledger, topics: vec![key], data: value.to_vec() }]);
    assert!(r.gas_used > 21_000);
    assert_eq!(c.storage(&ledger, key), value);

    // The owner reads its own slot through an eth_call query.
    let q = EvmQuery::Call { to: ledger, data: key.to_vec(), gas_limit: 100_000 };
    let before = c.clone();
    match c.handle_query(&acct(2), q.clone()).unwrap() {
        EvmResponse::Call { status, output, .. } => {
            assert_eq!(status, EvmStatus::Success);
            assert_eq!(output, value.to_vec());
        }
        other => panic!("{other:?}"),
    }
    // Anyone else asking for it is refused by the contract (msg.sender is authenticated).
    match c.handle_query(&acct(3), q).unwrap() {
        EvmResponse::Call { status, output, .. } => {
            assert_eq!(status, EvmStatus::Revert);
            assert!(output.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c, before, "queries change nothing");
    assert_eq!(
        c.handle_query(&acct(9), EvmQuery::Account(alice)).unwrap(),
        EvmResponse::Account(Some(acct(2)))
    );
    assert_eq!(
        c.handle_query(&acct(9), EvmQuery::Account([7; 20])).unwrap(),
        EvmResponse::Account(None)
    );
}

#[test]
fn contract_calls_contract_in_the_same_cluster() {
    let mut c = EvmCluster::default();
    let ledger = deploy(&mut c, 1, 0, LEDGER);
    let fwd = deploy(&mut c, 1, 1, FORWARDER);
    assert_ne!(ledger, fwd);
    let key = word(&[5]);
    let value = word(&[6]);
    let out = call(&mut c, 3, 2, fwd, [word(&ledger), key, value].concat());
    let r = receipt(&out);
    assert_eq!(r.status, EvmStatus::Success);
    assert_eq!(c.storage(&ledger, key), value);
    assert_eq!(r.logs[0].address, ledger, "the log comes from the callee");
}

#[test]
fn revert_and_out_of_gas_roll_back_but_use_gas() {
    let mut c = EvmCluster::default();
    let rev = deploy(&mut c, 1, 0, REVERTER);
    let looper = deploy(&mut c, 1, 1, LOOPER);
    let nonce = |c: &EvmCluster| c.accounts[&evm_address(&acct(4))].nonce;

    let out = call(&mut c, 4, 2, rev, vec![]);
    let r = receipt(&out);
    assert_eq!(r.status, EvmStatus::Revert);
    assert_eq!(r.output, b"nope".to_vec(), "the revert reason is returned");
    assert!(r.gas_used > 21_000);
    assert_eq!(c.storage(&rev, [0; 32]), [0; 32], "the store before the revert is undone");
    assert_eq!(nonce(&c), 1);

    let out = call(&mut c, 4, 3, looper, vec![]);
    let r = receipt(&out);
    assert!(matches!(r.status, EvmStatus::Halt(ref s) if s.contains("OutOfGas")), "{r:?}");
    assert_eq!(r.gas_used, 200_000, "out of gas uses the whole limit");
    assert_eq!(c.storage(&looper, [0; 32]), [0; 32]);
    assert_eq!(nonce(&c), 2);
}

/// Issue 9 item 4: the cluster runs under the gas limit prepaid on chain (the context's) when
/// it is lower than the sealed one, reports revm's gas as the metered figure (the receipt's),
/// and a command refused before execution uses the failure charge.
#[test]
fn commands_run_under_the_prepaid_limit_and_report_the_receipts_gas() {
    let mut inst = Instance::new(ContractKind::Evm);
    let deploy_cmd = EvmCommand::Deploy { code: init_code(LOOPER), value: 0, gas_limit: 200_000 };
    let ran = inst.execute_metered(&ctx(1, 0), &deploy_cmd.encode());
    let deployed = receipt(ran.outcome.as_ref().unwrap());
    assert_eq!(ran.gas_used, deployed.gas_used);
    let looper = deployed.created.unwrap();
    let spin = EvmCommand::Call { to: looper, data: vec![], value: 0, gas_limit: 200_000 };
    let prepaid = CommandContext { gas_limit: 50_000, ..ctx(1, 1) };
    let ran = inst.execute_metered(&prepaid, &spin.encode());
    let r = receipt(ran.outcome.as_ref().unwrap());
    assert!(matches!(r.status, EvmStatus::Halt(ref s) if s.contains("OutOfGas")), "{r:?}");
    assert_eq!((r.gas_used, ran.gas_used), (50_000, 50_000), "the prepaid limit bounds it");
    // Value the sender does not have: refused before execution, the failure charge.
    let rich = EvmCommand::Call { to: looper, data: vec![], value: 5, gas_limit: 100_000 };
    let ran = inst.execute_metered(&ctx(1, 2), &rich.encode());
    assert!(matches!(ran.outcome, Err(ContractError::Rejected(_))));
    assert_eq!(ran.gas_used, crate::gas::FAILED_COMMAND_GAS);
}

#[test]
fn gas_limit_bounds_and_invalid_transactions_change_nothing() {
    let mut c = EvmCluster::default();
    let ledger = deploy(&mut c, 1, 0, LEDGER);
    let before = c.clone();
    for gas_limit in [0, MIN_GAS_PER_COMMAND - 1] {
        let cmd = EvmCommand::Call { to: ledger, data: vec![], value: 0, gas_limit };
        assert_eq!(
            c.handle_command(&ctx(2, 1), cmd),
            Err(ContractError::InvalidArgument("gas limit out of bounds"))
        );
    }
    // The prepaid limit bounds the sealed one too.
    let cmd = EvmCommand::Call { to: ledger, data: vec![], value: 0, gas_limit: 100_000 };
    let low = CommandContext { gas_limit: MIN_GAS_PER_COMMAND - 1, ..ctx(2, 1) };
    assert_eq!(
        c.handle_command(&low, cmd),
        Err(ContractError::InvalidArgument("gas limit out of bounds"))
    );
    let query = EvmQuery::Call { to: ledger, data: vec![], gas_limit: MAX_GAS_PER_QUERY + 1 };
    assert_eq!(
        c.handle_query(&acct(2), query),
        Err(ContractError::InvalidArgument("gas limit out of bounds"))
    );
    // Sending value the sender does not have is refused before execution.
    let cmd = EvmCommand::Call { to: ledger, data: vec![], value: 1, gas_limit: 100_000 };
    assert!(matches!(c.handle_command(&ctx(2, 1), cmd), Err(ContractError::Rejected(_))));
    assert_eq!(c.encode(), before.encode(), "the state is unchanged");
}

#[test]
fn payout_and_public_event_only_when_the_call_succeeds() {
    let mut c = EvmCluster::default();
    c.credit(evm_address(&acct(2)), 1_000).unwrap();
    let payer = deploy(&mut c, 1, 0, &payer());
    let to = acct(7);
    let cmd = EvmCommand::Call {
        to: payer,
        data: to.as_bytes().to_vec(),
        value: 300,
        gas_limit: 200_000,
    };
    let out = c.handle_command(&ctx(2, 1), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Success);
    assert_eq!(out[1..], [Output::Transfer { to, amount: 300 }]);
    assert_eq!(c.total_balance(), U256::from(700u64), "paid-out value left the cluster");
    assert_eq!(c.balance(&PAYOUT_ADDRESS), U256::ZERO);

    // An account pays out of its own EVM balance by calling the payout address directly.
    let cmd = EvmCommand::Call {
        to: PAYOUT_ADDRESS,
        data: payout_data(&acct(8), 50),
        value: 0,
        gas_limit: 100_000,
    };
    let out = c.handle_command(&ctx(2, 5), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Success);
    assert_eq!(out[1..], [Output::Transfer { to: acct(8), amount: 50 }]);
    assert_eq!(c.balance(&evm_address(&acct(2))), U256::from(650u64));
    // More than the balance: refused, nothing paid.
    let cmd = EvmCommand::Call {
        to: PAYOUT_ADDRESS,
        data: payout_data(&acct(8), 651),
        value: 0,
        gas_limit: 100_000,
    };
    let out = c.handle_command(&ctx(2, 6), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Revert);
    assert_eq!(out.len(), 1);
    assert_eq!(c.total_balance(), U256::from(650u64));

    // Bad calldata to the payout address reverts and pays nothing.
    let cmd =
        EvmCommand::Call { to: PAYOUT_ADDRESS, data: vec![1, 2, 3], value: 10, gas_limit: 100_000 };
    let out = c.handle_command(&ctx(2, 2), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Revert);
    assert_eq!(out.len(), 1);
    assert_eq!(c.total_balance(), U256::from(650u64));

    // A public event: calldata to the event address, published as is.
    let cmd = EvmCommand::Call {
        to: PUBLIC_EVENT_ADDRESS,
        data: b"hello".to_vec(),
        value: 0,
        gas_limit: 100_000,
    };
    let out = c.handle_command(&ctx(2, 3), cmd).unwrap();
    assert_eq!(out[1..], [Output::PublicEvent(b"hello".to_vec())]);
    // With value attached it is refused (the value would otherwise be stuck there).
    let cmd = EvmCommand::Call {
        to: PUBLIC_EVENT_ADDRESS,
        data: b"x".to_vec(),
        value: 1,
        gas_limit: 100_000,
    };
    let out = c.handle_command(&ctx(2, 4), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Revert);
    assert_eq!(out.len(), 1);
}

/// Calls `target` with CALLVALUE and calldata[0..32], ignores its result, then ends with
/// `tail` (STOP or REVERT).
fn call_then(target: [u8; 20], tail: &[u8]) -> Vec<u8> {
    let mut c = vec![0x60, 0x20, 0x60, 0x00, 0x60, 0x00, 0x37];
    c.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0x60, 0x20, 0x60, 0x00, 0x34, 0x73]);
    c.extend_from_slice(&target);
    c.extend_from_slice(&[0x5a, 0xf1, 0x50]);
    c.extend_from_slice(tail);
    c
}

const STOP: &[u8] = &[0x00];
const REVERT: &[u8] = &[0x60, 0x00, 0x60, 0x00, 0xfd];

#[test]
fn payout_inside_a_reverted_frame_is_dropped() {
    let mut c = EvmCluster::default();
    c.credit(evm_address(&acct(2)), 1_000).unwrap();
    let payer = deploy(&mut c, 1, 0, &payer());
    // outer (succeeds) -> middle (reverts after) -> payer -> payout address.
    let middle = deploy(&mut c, 1, 1, &call_then(payer, REVERT));
    let outer = deploy(&mut c, 1, 2, &call_then(middle, STOP));
    let cmd = EvmCommand::Call {
        to: outer,
        data: acct(7).as_bytes().to_vec(),
        value: 400,
        gas_limit: 300_000,
    };
    let out = c.handle_command(&ctx(2, 3), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Success);
    assert_eq!(out.len(), 1, "the inner payout was rolled back with its caller");
    assert_eq!(c.balance(&outer), U256::from(400u64));
    assert_eq!(c.balance(&evm_address(&acct(2))), U256::from(600u64));
    assert_eq!(c.total_balance(), U256::from(1_000u64));
}

#[test]
fn randomness_is_keyed_identical_on_every_worker_and_varies_by_position() {
    let seed = random_seed(&umbra_crypto::EcdhSecret::from_bytes([3; 32]), &H256([9; 32]));
    let other_seed = random_seed(&umbra_crypto::EcdhSecret::from_bytes([4; 32]), &H256([9; 32]));
    let run = |seed: Option<[u8; 32]>, seq: u64| {
        let mut c = EvmCluster::default();
        if let Some(seed) = seed {
            c.set_random_seed(seed);
        }
        let user = deploy(&mut c, 1, 0, &rand_user());
        let out = call(&mut c, 2, seq, user, vec![]);
        assert_eq!(receipt(&out).status, EvmStatus::Success);
        (c.storage(&user, [0; 32]), c)
    };
    let (a, ca) = run(Some(seed), 5);
    let (b, cb) = run(Some(seed), 5);
    assert_ne!(a, [0; 32]);
    assert_eq!(a, b, "two workers with the cluster key agree");
    assert_eq!(ca, cb);
    assert_ne!(run(Some(seed), 6).0, a, "another log position gives other bytes");
    assert_ne!(run(Some(other_seed), 5).0, a, "another key gives other bytes");
    // Without the seed the call reverts; its revert reason lands in the return buffer.
    assert_eq!(run(None, 5).0[..30], b"randomness: not available here"[..]);
    // The seed is not part of the state: same snapshot with or without it.
    let (_, no_seed) = run(None, 5);
    assert_eq!(ca.encode().len(), no_seed.encode().len());
}

#[test]
fn replay_and_restore_give_the_same_state_hash() {
    let run = || {
        let mut inst = Instance::new(ContractKind::Evm);
        let cmd = EvmCommand::Deploy { code: init_code(LEDGER), value: 0, gas_limit: 1_000_000 };
        let out = inst.execute(&ctx(1, 0), &cmd.encode()).unwrap();
        let ledger = receipt(&out).created.unwrap();
        for i in 0..20u8 {
            let data = [word(&[i]), word(&[i, 1])].concat();
            let cmd = EvmCommand::Call { to: ledger, data, value: 0, gas_limit: 100_000 };
            inst.execute(&ctx(i % 3, u64::from(i) + 1), &cmd.encode()).unwrap();
        }
        inst
    };
    let a = run();
    let b = run();
    assert_eq!(a.state_hash(), b.state_hash());
    assert_eq!(a.snapshot(), b.snapshot());
    let restored = Instance::restore(ContractKind::Evm, &a.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), a.state_hash());
    assert_ne!(a.state_hash(), Instance::new(ContractKind::Evm).state_hash());
}

proptest! {
    /// Value is conserved: every unit credited into the cluster is either still in some EVM
    /// balance or was paid out through a `Transfer` output.
    #[test]
    fn value_is_conserved(ops in proptest::collection::vec((0u8..4, 0u8..3, 0u8..3, 0u64..500), 1..25)) {
        let mut c = EvmCluster::default();
        let mut credited = U256::ZERO;
        let mut paid = U256::ZERO;
        let payer = deploy(&mut c, 9, 0, &payer());
        for (i, (op, from, to, amount)) in ops.into_iter().enumerate() {
            let seq = u64::try_from(i).unwrap().saturating_add(1);
            let amount = u128::from(amount);
            let cmd = match op {
                0 => {
                    c.credit(evm_address(&acct(from)), amount).unwrap();
                    credited = credited.checked_add(U256::from(amount)).unwrap();
                    continue;
                }
                1 => EvmCommand::Call { to: evm_address(&acct(to)), data: vec![], value: amount, gas_limit: 50_000 },
                2 => EvmCommand::Call { to: payer, data: acct(to).as_bytes().to_vec(), value: amount, gas_limit: 100_000 },
                _ => EvmCommand::Call { to: PAYOUT_ADDRESS, data: payout_data(&acct(to), amount), value: 0, gas_limit: 100_000 },
            };
            if let Ok(out) = c.handle_command(&ctx(from, seq), cmd) {
                for o in out {
                    if let Output::Transfer { amount, .. } = o {
                        paid = paid.checked_add(U256::from(amount)).unwrap();
                    }
                }
            }
            prop_assert_eq!(c.total_balance().checked_add(paid), Some(credited));
            // The incremental commitment equals the one rebuilt from scratch.
            prop_assert_eq!(c.state_root(), c.build_tree().root());
        }
    }
}

/// Asks the gas-padding address for a floor of 150,000 gas, then stops (or, with `revert`,
/// reverts: the padding of a failed frame does not count).
fn padder(revert: bool) -> Vec<u8> {
    let mut c = vec![0x62, 0x02, 0x49, 0xf0, 0x60, 0x00, 0x52]; // mstore(0, 150000)
    c.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0x60, 0x20, 0x60, 0x00, 0x60, 0x00, 0x73]);
    c.extend_from_slice(&GAS_PAD_ADDRESS);
    c.extend_from_slice(&[0x5a, 0xf1, 0x50]); // call(gas, pad, 0, 0, 32, 0, 0); pop
    if revert {
        c.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0xfd]);
    } else {
        c.push(0x00);
    }
    c
}

/// Calls the address in calldata[0..32] without data and ignores whether that failed.
const IGNORING_CALLER: &[u8] = &[
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x35, 0x5a, 0xf1, 0x50,
    0x00,
];

fn gas_of(
    c: &mut EvmCluster,
    who: u8,
    seq: u64,
    to: [u8; 20],
    data: Vec<u8>,
    limit: u64,
) -> (EvmStatus, u64, u64) {
    let cmd = EvmCommand::Call { to, data, value: 0, gas_limit: limit };
    let (out, charged) = c.handle_metered(&ctx(who, seq), cmd).unwrap();
    let r = receipt(&out);
    (r.status, r.gas_used, charged)
}

/// The gas-padding address sets a floor under a successful command's gas (what its sender is
/// charged and what its receipt says), capped at its limit; a floor asked for in a frame that
/// reverted does not count, a failed command is not padded, and malformed calldata reverts.
#[test]
fn gas_padding_sets_the_floor_of_a_successful_command() {
    let mut c = EvmCluster::default();
    let forwarder = deploy(&mut c, 1, 0, FORWARDER);
    let ignoring = deploy(&mut c, 1, 1, IGNORING_CALLER);
    let pads = deploy(&mut c, 1, 2, &padder(false));
    let pads_then_reverts = deploy(&mut c, 1, 3, &padder(true));
    let pad = |target: &[u8]| [word(&GAS_PAD_ADDRESS).to_vec(), target.to_vec()].concat();

    // Through the forwarder: the floor applies to the whole command.
    let (status, used, charged) =
        gas_of(&mut c, 2, 4, forwarder, pad(&word(&[0x01, 0x86, 0xa0])), 200_000);
    assert_eq!((status, used, charged), (EvmStatus::Success, 100_000, 100_000));
    // A floor below what the command uses changes nothing.
    let (_, low, _) = gas_of(&mut c, 2, 5, forwarder, pad(&word(&[0x03, 0xe8])), 200_000);
    let (_, none, _) = gas_of(&mut c, 2, 6, forwarder, pad(&word(&[0])), 200_000);
    // (The same command but for two non-zero calldata bytes, 12 gas more each.)
    assert_eq!(low, none + 24);
    assert!(none < 40_000, "{none}");
    // A floor above the limit is the limit.
    let (status, used, _) = gas_of(&mut c, 2, 7, forwarder, pad(&[0xff; 32]), 200_000);
    assert_eq!((status, used), (EvmStatus::Success, 200_000));
    // Malformed calldata reverts the padding call (and the forwarder halts).
    let (status, ..) = gas_of(&mut c, 2, 8, forwarder, pad(&[1; 31]), 200_000);
    assert_ne!(status, EvmStatus::Success);

    // Asked for in a frame that then stops: counts; in one that reverts: does not.
    let (status, used, _) = gas_of(&mut c, 2, 9, ignoring, word(&pads).to_vec(), 300_000);
    assert_eq!((status, used), (EvmStatus::Success, 150_000));
    let (status, used, _) =
        gas_of(&mut c, 2, 10, ignoring, word(&pads_then_reverts).to_vec(), 300_000);
    assert_eq!(status, EvmStatus::Success);
    assert!(used < 60_000, "the reverted frame's floor counted: {used}");
    // A command that fails is not padded: a revert pays what it used.
    let cmd =
        EvmCommand::Call { to: pads_then_reverts, data: vec![], value: 0, gas_limit: 300_000 };
    let (out, charged) = c.handle_metered(&ctx(2, 11), cmd).unwrap();
    assert_eq!(receipt(&out).status, EvmStatus::Revert);
    assert!(charged < 60_000, "{charged}");
}
