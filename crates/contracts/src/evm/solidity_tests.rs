//! Tests with the real Solidity artifacts of `solidity/artifacts` (compiled by the pinned solc
//! of the `solidity/` toolchain): an ERC-20 and a contract calling another.

use super::*;
use crate::contract::ContractKind;
use crate::instance::Instance;
use parity_scale_codec::DecodeAll;
use revm::primitives::keccak256;
use umbra_primitives::H256;

const TOKEN: &str = include_str!("../../../../solidity/artifacts/Token.json");
const COUNTER: &str = include_str!("../../../../solidity/artifacts/Counter.json");
const COUNTER_CALLER: &str = include_str!("../../../../solidity/artifacts/CounterCaller.json");

fn bytecode(artifact: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(artifact).unwrap();
    let hex = v["bytecode"].as_str().unwrap().trim_start_matches("0x");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i.saturating_add(2)], 16).unwrap())
        .collect()
}

fn acct(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

fn ctx(who: u8, seq: u64) -> CommandContext {
    CommandContext {
        contract: H256([9; 32]),
        origin: acct(who),
        block: 7,
        seq,
        value: 0,
        gas_limit: crate::gas::MAX_GAS_CAP,
    }
}

fn selector(sig: &str) -> Vec<u8> {
    keccak256(sig.as_bytes())[..4].to_vec()
}

fn uint(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes::<32>()
}

fn addr(a: &[u8; 20]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

/// ABI encoding of a dynamic `string` tail: length word, then the bytes padded to 32.
fn string_tail(s: &str) -> Vec<u8> {
    let mut out = uint(s.len() as u64).to_vec();
    out.extend_from_slice(s.as_bytes());
    out.resize(out.len().div_ceil(32).saturating_mul(32), 0);
    out
}

fn calldata(sig: &str, words: &[[u8; 32]]) -> Vec<u8> {
    let mut d = selector(sig);
    for w in words {
        d.extend_from_slice(w);
    }
    d
}

fn run(inst: &mut Instance, who: u8, seq: u64, cmd: EvmCommand) -> (EvmReceipt, Vec<Output>) {
    let out = inst.execute(&ctx(who, seq), &cmd.encode()).unwrap();
    let Output::PrivateEvent { to, payload } = &out[0] else { panic!("no receipt") };
    assert_eq!(*to, acct(who), "the receipt goes to the sender only");
    (EvmReceipt::decode_all(&mut &payload[..]).unwrap(), out)
}

fn eth_call(inst: &Instance, who: u8, to: [u8; 20], data: Vec<u8>) -> (EvmStatus, Vec<u8>) {
    let q = EvmQuery::Call { to, data, gas_limit: 1_000_000 };
    let bytes = inst.query(&acct(who), &q.encode()).unwrap();
    match EvmResponse::decode_all(&mut &bytes[..]).unwrap() {
        EvmResponse::Call { status, output, .. } => (status, output),
        other => panic!("{other:?}"),
    }
}

#[test]
fn erc20_deploy_transfer_and_owner_only_balance() {
    let mut inst = Instance::new(ContractKind::Evm);
    let mut code = bytecode(TOKEN);
    // constructor(string name, string symbol, uint256 supply)
    code.extend_from_slice(&uint(0x60));
    code.extend_from_slice(&uint(0xa0));
    code.extend_from_slice(&uint(1_000_000));
    code.extend(string_tail("Umbra Token"));
    code.extend(string_tail("UMBT"));
    let (r, _) = run(&mut inst, 1, 0, EvmCommand::Deploy { code, value: 0, gas_limit: 3_000_000 });
    assert_eq!(r.status, EvmStatus::Success, "{r:?}");
    let token = r.created.unwrap();
    let transfer_topic = keccak256(b"Transfer(address,address,uint256)").0;
    assert_eq!(r.logs[0].topics[0], transfer_topic, "constructor mints with a Transfer event");

    let (alice, bob) = (evm_address(&acct(1)), evm_address(&acct(2)));
    let data = calldata("transfer(address,uint256)", &[addr(&bob), uint(250)]);
    let (r, out) =
        run(&mut inst, 1, 1, EvmCommand::Call { to: token, data, value: 0, gas_limit: 200_000 });
    assert_eq!(r.status, EvmStatus::Success, "{r:?}");
    assert_eq!(r.output, uint(1).to_vec(), "returns true");
    assert_eq!(out.len(), 1, "nothing public");
    assert_eq!(r.logs.len(), 1);
    assert_eq!(r.logs[0].topics, vec![transfer_topic, addr(&alice), addr(&bob)]);
    assert_eq!(r.logs[0].data, uint(250).to_vec());

    // balanceOf answers only to the owner.
    let balance_of = |who: &[u8; 20]| calldata("balanceOf(address)", &[addr(who)]);
    assert_eq!(
        eth_call(&inst, 2, token, balance_of(&bob)),
        (EvmStatus::Success, uint(250).to_vec())
    );
    assert_eq!(
        eth_call(&inst, 1, token, balance_of(&alice)),
        (EvmStatus::Success, uint(999_750).to_vec())
    );
    let (status, output) = eth_call(&inst, 3, token, balance_of(&bob));
    assert_eq!(status, EvmStatus::Revert);
    assert_eq!(output[..4], selector("NotOwner(address,address)")[..]);
    assert_eq!(output[4..36], addr(&evm_address(&acct(3))));

    // Overspending reverts with the reason, keeps the balances, and still uses gas.
    let before = inst.snapshot();
    let data = calldata("transfer(address,uint256)", &[addr(&alice), uint(251)]);
    let (r, _) =
        run(&mut inst, 2, 2, EvmCommand::Call { to: token, data, value: 0, gas_limit: 200_000 });
    assert_eq!(r.status, EvmStatus::Revert);
    assert_eq!(r.output[..4], selector("InsufficientBalance(address,uint256,uint256)")[..]);
    assert_eq!(r.output[36..68], uint(250));
    assert!(r.gas_used > 21_000 && r.logs.is_empty());
    assert_ne!(inst.snapshot(), before, "the sender's nonce moved");
    assert_eq!(
        eth_call(&inst, 2, token, balance_of(&bob)),
        (EvmStatus::Success, uint(250).to_vec())
    );

    // Out of gas: a transfer with too little gas leaves the balances as they were.
    let data = calldata("transfer(address,uint256)", &[addr(&alice), uint(1)]);
    let (r, _) =
        run(&mut inst, 2, 3, EvmCommand::Call { to: token, data, value: 0, gas_limit: 23_000 });
    assert!(matches!(r.status, EvmStatus::Halt(_)), "{r:?}");
    assert_eq!(r.gas_used, 23_000);
    assert_eq!(
        eth_call(&inst, 2, token, balance_of(&bob)),
        (EvmStatus::Success, uint(250).to_vec())
    );

    // Rebuild by replay from a snapshot gives the same state hash.
    let restored = Instance::restore(ContractKind::Evm, &inst.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), inst.state_hash());
}

#[test]
fn solidity_contract_calls_another_in_the_same_cluster() {
    let mut inst = Instance::new(ContractKind::Evm);
    let deploy = EvmCommand::Deploy { code: bytecode(COUNTER), value: 0, gas_limit: 2_000_000 };
    let (r, _) = run(&mut inst, 1, 0, deploy);
    let counter = r.created.unwrap();
    let mut code = bytecode(COUNTER_CALLER);
    code.extend_from_slice(&addr(&counter));
    let (r, _) = run(&mut inst, 1, 1, EvmCommand::Deploy { code, value: 0, gas_limit: 2_000_000 });
    assert_eq!(r.status, EvmStatus::Success, "{r:?}");
    let caller = r.created.unwrap();

    let data = calldata("incrementTwice(uint256)", &[uint(5)]);
    let (r, _) =
        run(&mut inst, 2, 2, EvmCommand::Call { to: caller, data, value: 0, gas_limit: 300_000 });
    assert_eq!(r.status, EvmStatus::Success, "{r:?}");
    assert_eq!(r.output, uint(10).to_vec());
    assert_eq!(r.logs.len(), 3, "two Incremented, one Forwarded");
    assert_eq!(r.logs[0].address, counter);
    assert_eq!(r.logs[2].address, caller);
    assert_eq!(
        eth_call(&inst, 4, counter, selector("count()")),
        (EvmStatus::Success, uint(10).to_vec())
    );
    assert_eq!(
        eth_call(&inst, 4, counter, selector("lastCaller()")),
        (EvmStatus::Success, addr(&caller).to_vec()),
        "msg.sender inside the callee is the calling contract"
    );
    assert_eq!(
        eth_call(&inst, 4, caller, selector("read()")),
        (EvmStatus::Success, uint(10).to_vec())
    );
}
