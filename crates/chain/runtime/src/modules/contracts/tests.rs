use std::collections::BTreeMap;

use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::UNITS;

use super::*;
use crate::{
    modules::gatekeeper::tests::{alice, launched, worker},
    Event as RuntimeEvent,
};

/// Gas limit of the tests' pushes, and the gas their reported results used.
const GAS: u64 = 100_000;
const GAS_USED: u64 = 40_000;

fn computing(ext: &mut Ext<'_>, n: u32) {
    for i in 0..n {
        computation::start_computing(ext, &worker(i).public(), 0, 10_000 * UNITS).unwrap();
    }
}

fn dave() -> AccountId {
    Pair::from_suri("//Dave").unwrap().public()
}

fn eve() -> AccountId {
    Pair::from_suri("//Eve").unwrap().public()
}

fn deploy(kind: ContractKind, salt: &[u8], quorum: Option<u32>) -> Call {
    Call::Deploy { kind, salt: salt.to_vec(), quorum }
}

/// Four computing workers, a guestbook deployed by Dave (K = 3, default quorum 2).
fn deployed() -> (Ext<'static>, ContractId) {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    dispatch(&mut ext, dave(), deploy(ContractKind::Guestbook, b"s", None)).unwrap();
    let id = umbra_contracts::contract_id(&dave(), ContractKind::Guestbook, b"s");
    crate::balances::mint(&mut ext, &eve(), 100 * UNITS).unwrap();
    (ext, id)
}

fn publish_key(ext: &mut Ext<'_>, id: ContractId) {
    on_message(
        ext,
        &worker(0).public(),
        topics::EG_CONTRACT_PUBKEY,
        &(id, 0u32, [5u8; 32]).encode(),
    )
    .unwrap();
}

fn sealed() -> SealedBox {
    SealedBox::seal(&EcdhSecret::from_bytes([2u8; 32]).public(), b"a", b"cmd").unwrap().0
}

fn push(ext: &mut Ext<'_>, id: ContractId) {
    dispatch(
        ext,
        eve(),
        Call::PushCommand { contract: id, command: sealed(), value: 0, gas_limit: GAS },
    )
    .unwrap();
}

fn result(
    id: ContractId,
    seq: u64,
    hash: u8,
    outcome: Result<Vec<SealedOutput>, String>,
) -> Vec<u8> {
    CommandResult {
        contract: id,
        seq,
        state_hash: H256([hash; 32]),
        outcome,
        checkpoint: None,
        gas_used: GAS_USED,
    }
    .encode()
}

fn report(ext: &mut Ext<'_>, w: &Public, payload: &[u8]) -> Result<(), String> {
    on_message(ext, w, topics::EG_COMMAND_RESULT, payload)
}

fn free(ext: &Ext<'_>, who: &AccountId) -> Balance {
    crate::balances::account(&ext.state, who).free
}

fn contract_events(ext: &Ext<'_>) -> Vec<Event> {
    ext.events()
        .iter()
        .filter_map(|r| match &r.event {
            RuntimeEvent::Contracts(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn deploy_needs_a_master_key_and_assigns_k_distinct_computing_workers() {
    let mut ext = crate::modules::gatekeeper::tests::ext_with_workers(1);
    let err = dispatch(&mut ext, alice(), deploy(ContractKind::Guestbook, b"", None)).unwrap_err();
    assert_eq!(err.variant(), "NoMasterKey");
    let (ext, id) = deployed();
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!(info.assigned.len(), 3);
    let distinct: std::collections::BTreeSet<_> = info.assigned.iter().collect();
    assert_eq!(distinct.len(), 3);
    assert!(info.assigned.iter().all(|w| computation::COMPUTING_POS.get(&ext.state, w).is_some()));
    assert_eq!(info.epoch, 1);
    assert_eq!(info.pubkey, None);
    assert_eq!(info.quorum, 2, "default quorum: a majority of K = 3");
}

/// The attack: simulated workers, whose hosts can read every enclave secret, are picked to run a
/// contract (and receive its key) on a chain that no longer accepts simulated platforms. None is
/// assigned.
#[test]
fn insecure_workers_are_not_assigned_where_the_chain_refuses_insecure_platforms() {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    crate::modules::gatekeeper::tests::refuse_simulated_from_now_on(&mut ext);
    dispatch(&mut ext, dave(), deploy(ContractKind::Guestbook, b"s", None)).unwrap();
    let id = umbra_contracts::contract_id(&dave(), ContractKind::Guestbook, b"s");
    let info = contract(&ext.state, &id).unwrap();
    assert!(info.assigned.is_empty(), "assigned {:?}", info.assigned);
    // The same chain accepting simulated platforms assigns K of them (see `deployed`).
    let (ext, id) = deployed();
    assert_eq!(contract(&ext.state, &id).unwrap().assigned.len(), 3);
}

#[test]
fn quorum_and_parameters_are_bounded_with_clear_errors() {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    for bad in [0, 4] {
        let err = dispatch(&mut ext, dave(), deploy(ContractKind::Guestbook, b"q", Some(bad)))
            .unwrap_err();
        assert_eq!(err.variant(), "InvalidQuorum", "quorum {bad}");
    }
    assert_eq!(contract_count(&ext.state), 0, "a refused deploy changes nothing");
    dispatch(&mut ext, dave(), deploy(ContractKind::Guestbook, b"q", Some(3))).unwrap();
    let id = umbra_contracts::contract_id(&dave(), ContractKind::Guestbook, b"q");
    assert_eq!(contract(&ext.state, &id).unwrap().quorum, 3);

    let base = ContractsParams::dev();
    let cases = [
        (ContractsParams { assignment_size: 0, ..base.clone() }, "InvalidAssignmentSize"),
        (ContractsParams { assignment_size: 65, ..base.clone() }, "InvalidAssignmentSize"),
        (ContractsParams { reshuffle_period: 1, ..base.clone() }, "InvalidReshufflePeriod"),
        (
            ContractsParams { reshuffle_period: MAX_RESHUFFLE_PERIOD + 1, ..base.clone() },
            "InvalidReshufflePeriod",
        ),
        (ContractsParams { checkpoint_interval: 0, ..base.clone() }, "InvalidCheckpointInterval"),
        (
            ContractsParams { checkpoint_interval: MAX_CHECKPOINT_INTERVAL + 1, ..base.clone() },
            "InvalidCheckpointInterval",
        ),
        (ContractsParams { max_checkpoint_bytes: 10, ..base.clone() }, "InvalidCheckpointSize"),
        (
            ContractsParams { max_checkpoint_bytes: (4 << 20) + 1, ..base.clone() },
            "InvalidCheckpointSize",
        ),
        (ContractsParams { gas_price: 0, ..base.clone() }, "InvalidGasPrice"),
        (ContractsParams { gas_price: UNITS + 1, ..base.clone() }, "InvalidGasPrice"),
        (ContractsParams { max_gas_per_command: 20_999, ..base.clone() }, "InvalidMaxGas"),
        (
            ContractsParams {
                max_gas_per_command: umbra_contracts::gas::MAX_GAS_CAP + 1,
                ..base.clone()
            },
            "InvalidMaxGas",
        ),
    ];
    for (params, want) in cases {
        let err = dispatch(&mut ext, alice(), Call::SetParams { params }).unwrap_err();
        assert_eq!(err.variant(), want);
    }
    assert_eq!(
        dispatch(&mut ext, dave(), Call::SetParams { params: base.clone() }).unwrap_err().variant(),
        "RequireCouncil"
    );
    dispatch(&mut ext, alice(), Call::SetParams { params: base }).unwrap();
}

#[test]
fn commands_wait_for_the_key_and_the_log_hash_covers_the_whole_context() {
    let (mut ext, id) = deployed();
    assert_eq!(
        dispatch(
            &mut ext,
            eve(),
            Call::PushCommand { contract: id, command: sealed(), value: 0, gas_limit: GAS }
        )
        .unwrap_err()
        .variant(),
        "KeyNotReady"
    );
    // Only the leader may publish the key.
    assert!(on_message(
        &mut ext,
        &worker(1).public(),
        topics::EG_CONTRACT_PUBKEY,
        &(id, 0u32, [9u8; 32]).encode()
    )
    .is_err());
    publish_key(&mut ext, id);
    assert!(
        on_message(
            &mut ext,
            &worker(0).public(),
            topics::EG_CONTRACT_PUBKEY,
            &(id, 0u32, [9u8; 32]).encode()
        )
        .is_err(),
        "published once"
    );
    let mut expected = H256::ZERO;
    for seq in 0..3u64 {
        let block = 10 + seq;
        system::NUMBER.put(&mut ext.state, &block);
        let s = sealed();
        dispatch(
            &mut ext,
            eve(),
            Call::PushCommand { contract: id, command: s.clone(), value: 0, gas_limit: GAS },
        )
        .unwrap();
        let ctx =
            CommandContext { contract: id, origin: eve(), block, seq, value: 0, gas_limit: GAS };
        let other_block = CommandContext { block: block + 1, ..ctx };
        assert_ne!(next_log_hash(&expected, &ctx, &s), next_log_hash(&expected, &other_block, &s));
        expected = next_log_hash(&expected, &ctx, &s);
        let record = COMMANDS.get(&ext.state, &(id, seq)).unwrap();
        assert_eq!((record.log_hash, record.block), (expected, block));
    }
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.commands, info.log_hash, info.pubkey), (3, expected, Some([5u8; 32])));
}

/// Issue 8 item 6: three assigned workers, quorum 2; one of them lies with a result that moves
/// the contract's funds to an accomplice.
#[test]
fn one_lying_worker_among_three_cannot_move_funds() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    push(&mut ext, id);
    let info = contract(&ext.state, &id).unwrap();
    let (liar, honest_a, honest_b) = (info.assigned[0], info.assigned[1], info.assigned[2]);
    let account = umbra_contracts::contract_account(&id);
    crate::balances::mint(&mut ext, &account, 100 * UNITS).unwrap();
    let mallory = Pair::from_suri("//Mallory").unwrap().public();
    let lie =
        result(id, 0, 66, Ok(vec![SealedOutput::Transfer { to: mallory, amount: 100 * UNITS }]));
    let truth =
        result(id, 0, 1, Ok(vec![SealedOutput::Transfer { to: eve(), amount: 10 * UNITS }]));
    let eve_before = free(&ext, &eve());

    // The liar reports first: nothing moves, nothing is decided.
    report(&mut ext, &liar, &lie).unwrap();
    assert_eq!(free(&ext, &account), 100 * UNITS);
    assert_eq!(free(&ext, &mallory), 0);
    assert_eq!(contract(&ext.state, &id).unwrap().executed, 0);
    // A second report from the same worker does not count twice.
    assert!(report(&mut ext, &liar, &lie).unwrap_err().contains("already reported"));
    assert_eq!(contract(&ext.state, &id).unwrap().executed, 0);

    // One honest report disagrees: flagged, still undecided (a quorum is still possible).
    report(&mut ext, &honest_a, &truth).unwrap();
    assert!(contract_events(&ext).contains(&Event::StateDiverged { id, seq: 0, worker: honest_a }));
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.executed, info.paused.clone()), (0, None));
    assert_eq!(free(&ext, &account), 100 * UNITS);

    // The second honest report makes the quorum: the honest result applies, the lie never.
    report(&mut ext, &honest_b, &truth).unwrap();
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.executed, info.state_hash), (1, H256([1; 32])));
    assert_eq!(free(&ext, &account), 90 * UNITS);
    let refund = Balance::from(GAS - GAS_USED) * params(&ext.state).gas_price;
    assert_eq!(free(&ext, &eve()), eve_before + 10 * UNITS + refund);
    assert_eq!(free(&ext, &mallory), 0, "the lying result is never applied");
    assert!(contract_events(&ext).contains(&Event::StateDiverged { id, seq: 0, worker: liar }));
    assert_eq!(VOTES.get(&ext.state, &(id, 0)), None, "votes are cleared once decided");
    // Late reports change nothing (a different one is flagged again).
    report(&mut ext, &liar, &lie).unwrap();
    assert_eq!(free(&ext, &mallory), 0);
    assert_eq!(free(&ext, &account), 90 * UNITS);
}

#[test]
fn reports_outside_the_assignment_or_the_log_are_refused_and_later_ones_wait_their_turn() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    push(&mut ext, id);
    push(&mut ext, id);
    let info = contract(&ext.state, &id).unwrap();
    let (a, b) = (info.assigned[0], info.assigned[1]);
    let outsider = (0..4).map(|i| worker(i).public()).find(|w| !info.assigned.contains(w)).unwrap();
    assert!(report(&mut ext, &outsider, &result(id, 0, 1, Ok(vec![]))).is_err());
    assert!(report(&mut ext, &a, &result(id, 5, 1, Ok(vec![]))).is_err(), "no such command");
    // Reports for #1 arrive before #0 is decided: kept, and applied right after #0.
    report(&mut ext, &a, &result(id, 1, 2, Err("cannot open command".into()))).unwrap();
    report(&mut ext, &b, &result(id, 1, 2, Err("cannot open command".into()))).unwrap();
    assert_eq!(contract(&ext.state, &id).unwrap().executed, 0);
    report(&mut ext, &a, &result(id, 0, 1, Ok(vec![SealedOutput::PublicEvent(b"hi".to_vec())])))
        .unwrap();
    report(&mut ext, &b, &result(id, 0, 1, Ok(vec![SealedOutput::PublicEvent(b"hi".to_vec())])))
        .unwrap();
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.executed, info.state_hash), (2, H256([2; 32])));
    let events = contract_events(&ext);
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::CommandExecuted { seq, .. } | Event::CommandFailed { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![0, 1], "applied in log order");
    assert!(events.contains(&Event::ContractEvent { id, seq: 0, data: b"hi".to_vec() }));
}

#[test]
fn divergence_without_a_possible_quorum_pauses_until_the_council_resumes() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    push(&mut ext, id);
    let account = umbra_contracts::contract_account(&id);
    crate::balances::mint(&mut ext, &account, 100 * UNITS).unwrap();
    let assigned = contract(&ext.state, &id).unwrap().assigned;
    for (i, w) in assigned.iter().enumerate() {
        let pay = SealedOutput::Transfer { to: *w, amount: 50 * UNITS };
        report(&mut ext, w, &result(id, 0, i as u8 + 1, Ok(vec![pay]))).unwrap();
    }
    let info = contract(&ext.state, &id).unwrap();
    let pause = info.paused.clone().expect("paused");
    assert_eq!(pause.seq, 0);
    assert!(pause.reason.contains("diverged"), "{}", pause.reason);
    assert!(contract_events(&ext).iter().any(|e| matches!(e, Event::Paused { seq: 0, .. })));
    assert_eq!(info.executed, 0);
    assert_eq!(free(&ext, &account), 100 * UNITS, "nothing moved");
    // Paused: no new commands, no reports.
    assert_eq!(
        dispatch(
            &mut ext,
            eve(),
            Call::PushCommand { contract: id, command: sealed(), value: 0, gas_limit: GAS }
        )
        .unwrap_err()
        .variant(),
        "Paused"
    );
    assert!(report(&mut ext, &assigned[0], &result(id, 0, 9, Ok(vec![])))
        .unwrap_err()
        .contains("paused"));
    // The JSON form shows it.
    let json = serde_json::to_value(contract(&ext.state, &id).unwrap()).unwrap();
    assert_eq!(json["paused"]["seq"], 0);

    // Only the council resumes; resuming drops the reports and reassigns.
    assert_eq!(
        dispatch(&mut ext, eve(), Call::Resume { contract: id }).unwrap_err().variant(),
        "RequireCouncil"
    );
    dispatch(&mut ext, alice(), Call::Resume { contract: id }).unwrap();
    assert_eq!(
        dispatch(&mut ext, alice(), Call::Resume { contract: id }).unwrap_err().variant(),
        "NotPaused"
    );
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.paused.clone(), info.epoch), (None, 2));
    assert!(contract_events(&ext).contains(&Event::Resumed { id }));
    assert_eq!(VOTES.get(&ext.state, &(id, 0)), None);
    for w in info.assigned.iter().take(2) {
        report(&mut ext, w, &result(id, 0, 7, Ok(vec![]))).unwrap();
    }
    assert_eq!(contract(&ext.state, &id).unwrap().executed, 1);
    push(&mut ext, id);
}

#[test]
fn checkpoint_hashes_are_recorded_from_decided_results() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    push(&mut ext, id);
    let assigned = contract(&ext.state, &id).unwrap().assigned;
    let with_cp = |blob: u8| {
        CommandResult {
            contract: id,
            seq: 0,
            state_hash: H256([1; 32]),
            outcome: Ok(vec![]),
            checkpoint: Some(H256([blob; 32])),
            gas_used: GAS_USED,
        }
        .encode()
    };
    // A checkpoint hash reported by one worker only is not recorded.
    report(&mut ext, &assigned[0], &with_cp(9)).unwrap();
    assert_eq!(CHECKPOINTS.get(&ext.state, &(id, 0)), None);
    report(&mut ext, &assigned[1], &with_cp(3)).unwrap();
    assert_eq!(CHECKPOINTS.get(&ext.state, &(id, 0)), None, "reports differ: no quorum yet");
    report(&mut ext, &assigned[2], &with_cp(3)).unwrap();
    let record = CHECKPOINTS.get(&ext.state, &(id, 0)).expect("recorded");
    let log_hash = COMMANDS.get(&ext.state, &(id, 0)).unwrap().log_hash;
    assert_eq!(
        record,
        CheckpointRecord { seq: 0, state_hash: H256([1; 32]), log_hash, blob_hash: H256([3; 32]) }
    );
    assert_eq!(contract(&ext.state, &id).unwrap().checkpoint, Some(record));
}

/// Deploys `n` guestbooks with distinct salts.
fn deploy_many(ext: &mut Ext<'_>, n: u32) -> Vec<ContractId> {
    (0..n)
        .map(|i| {
            let salt = format!("c{i}");
            dispatch(ext, dave(), deploy(ContractKind::Guestbook, salt.as_bytes(), None)).unwrap();
            umbra_contracts::contract_id(&dave(), ContractKind::Guestbook, salt.as_bytes())
        })
        .collect()
}

#[test]
fn reshuffles_are_spread_and_a_block_touches_only_the_contracts_due_in_it() {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    let period = params(&ext.state).reshuffle_period;
    let ids = deploy_many(&mut ext, 20);
    let due: BTreeMap<ContractId, u64> =
        ids.iter().map(|id| (*id, contract(&ext.state, id).unwrap().next_reshuffle)).collect();
    let offsets: std::collections::BTreeSet<u64> = due.values().copied().collect();
    assert!(offsets.len() > 5, "spread over the period: {offsets:?}");
    assert!(due.values().all(|at| (1..=period).contains(at)));
    let mut seen: BTreeMap<ContractId, std::collections::BTreeSet<Public>> = BTreeMap::new();
    for n in 1..=(3 * period) {
        system::NUMBER.put(&mut ext.state, &n);
        system::RANDOMNESS.put(&mut ext.state, &blake2_256(&n.to_le_bytes()));
        let before: BTreeMap<ContractId, ContractInfo> =
            ids.iter().map(|id| (*id, contract(&ext.state, id).unwrap())).collect();
        on_initialize(&mut ext);
        for id in &ids {
            let (was, now) = (&before[id], contract(&ext.state, id).unwrap());
            if was.next_reshuffle == n {
                assert_eq!(now.epoch, was.epoch + 1, "due at #{n}: reshuffled");
                assert_eq!(now.next_reshuffle, n + period);
            } else {
                assert_eq!(&now, was, "not due at #{n}: untouched");
            }
            seen.entry(*id).or_default().extend(now.assigned);
        }
        assert_eq!(RESHUFFLE_N.get(&ext.state, &n), None, "the block's list is consumed");
    }
    for id in &ids {
        assert_eq!(contract(&ext.state, id).unwrap().epoch, 4, "one reshuffle per period");
    }
    assert!(seen.values().any(|s| s.len() > 3), "different workers over time");
}

#[test]
fn deploying_the_nth_contract_writes_a_bounded_number_of_keys() {
    // Keys and bytes written by one more deploy on a committed state holding `n` contracts.
    fn cost(n: u32) -> (usize, usize) {
        let mut ext = launched(4);
        computing(&mut ext, 4);
        deploy_many(&mut ext, n);
        let genesis = ext.genesis_hash();
        let (overlay, _) = ext.into_parts();
        let committed: BTreeMap<Vec<u8>, Vec<u8>> =
            overlay.into_changes().into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        let backend: &'static BTreeMap<Vec<u8>, Vec<u8>> = Box::leak(Box::new(committed));
        let mut ext = Ext::with_genesis(Overlay::new(backend), genesis);
        dispatch(&mut ext, dave(), deploy(ContractKind::Guestbook, b"last", None)).unwrap();
        let (overlay, _) = ext.into_parts();
        let changes = overlay.into_changes();
        let bytes = changes.iter().map(|(_, v)| v.as_ref().map_or(0, Vec::len)).max().unwrap();
        (changes.len(), bytes)
    }
    let (keys_1, largest_1) = cost(1);
    let (keys_200, largest_200) = cost(200);
    assert_eq!(keys_1, keys_200, "the same keys whatever the number of contracts");
    assert!(keys_200 <= 16, "{keys_200} keys");
    assert!(largest_200 <= largest_1 + 8, "no value grows with the number of contracts");
}

/// An EVM cluster deployed by Dave with its key published, Eve holding 100 UNITS.
fn evm_deployed() -> (Ext<'static>, ContractId) {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    dispatch(&mut ext, dave(), deploy(ContractKind::Evm, b"v", None)).unwrap();
    let id = umbra_contracts::contract_id(&dave(), ContractKind::Evm, b"v");
    publish_key(&mut ext, id);
    crate::balances::mint(&mut ext, &eve(), 100 * UNITS).unwrap();
    (ext, id)
}

fn push_value(ext: &mut Ext<'_>, id: ContractId, value: Balance) -> Result<(), DispatchError> {
    dispatch(
        ext,
        eve(),
        Call::PushCommand { contract: id, command: sealed(), value, gas_limit: GAS },
    )
}

/// Issue 9 item 3: value moves from the sender into the contract's account at push, and the
/// amount is recorded and covered by the log hash.
#[test]
fn value_moves_into_the_contract_account_and_is_under_the_log_hash() {
    let (mut ext, id) = evm_deployed();
    let account = umbra_contracts::contract_account(&id);
    system::NUMBER.put(&mut ext.state, &12);
    let s = sealed();
    dispatch(
        &mut ext,
        eve(),
        Call::PushCommand { contract: id, command: s.clone(), value: 7 * UNITS, gas_limit: GAS },
    )
    .unwrap();
    let prepaid = Balance::from(GAS) * params(&ext.state).gas_price;
    assert_eq!(free(&ext, &eve()), 93 * UNITS - prepaid);
    assert_eq!(free(&ext, &account), 7 * UNITS);
    let record = COMMANDS.get(&ext.state, &(id, 0)).unwrap();
    assert_eq!(record.value, 7 * UNITS);
    let ctx = CommandContext {
        contract: id,
        origin: eve(),
        block: 12,
        seq: 0,
        value: 7 * UNITS,
        gas_limit: GAS,
    };
    assert_eq!(record.log_hash, next_log_hash(&H256::ZERO, &ctx, &s));
    let other = CommandContext { value: 7 * UNITS + 1, ..ctx };
    assert_ne!(record.log_hash, next_log_hash(&H256::ZERO, &other, &s), "value is hashed");
    assert!(contract_events(&ext).iter().any(|e| matches!(
        e,
        Event::CommandPushed { seq: 0, value, .. } if *value == 7 * UNITS
    )));
}

/// A push whose value the sender cannot pay is refused and changes nothing.
#[test]
fn value_the_sender_cannot_pay_is_refused_and_changes_nothing() {
    let (mut ext, id) = evm_deployed();
    let account = umbra_contracts::contract_account(&id);
    let info = contract(&ext.state, &id).unwrap();
    let err = push_value(&mut ext, id, 100 * UNITS + 1).unwrap_err();
    assert_eq!(err.variant(), "InsufficientBalance");
    assert_eq!(free(&ext, &eve()), 100 * UNITS);
    assert_eq!(free(&ext, &account), 0);
    assert_eq!(contract(&ext.state, &id).unwrap(), info);
    assert_eq!(COMMANDS.get(&ext.state, &(id, 0)), None);
}

/// A guestbook cannot receive value: a push carrying some is refused and changes nothing;
/// value 0 goes through.
#[test]
fn kinds_that_cannot_receive_value_refuse_it() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    let info = contract(&ext.state, &id).unwrap();
    let err = push_value(&mut ext, id, 1).unwrap_err();
    assert_eq!(err.variant(), "ValueNotAccepted");
    assert_eq!(free(&ext, &eve()), 100 * UNITS);
    assert_eq!(contract(&ext.state, &id).unwrap(), info);
    push_value(&mut ext, id, 0).unwrap();
    assert_eq!(contract(&ext.state, &id).unwrap().commands, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Issue 9 items 3 and 4: whatever the pushes (paid or refused: value, gas limit in or out
    /// of bounds, more than the sender holds) and the decided results (payouts applied or
    /// failing for lack of funds, any gas used, even above the limit), the sender's balance plus
    /// the value the cluster holds (its chain account) plus what it paid out plus the prepaid gas
    /// in escrow plus the fees the treasury took stays what it was, total issuance does not
    /// move, and the escrow holds exactly the prepayment of the undecided command.
    #[test]
    fn value_is_conserved_over_pushes_payouts_and_gas(
        steps in proptest::collection::vec(
            (proptest::bool::ANY, 0u128..(60 * UNITS), 0u64..2_000_000, 0u64..2_000_000), 1..12)
    ) {
        let (mut ext, id) = evm_deployed();
        let account = umbra_contracts::contract_account(&id);
        let mallory = Pair::from_suri("//Mallory").unwrap().public();
        let price = params(&ext.state).gas_price;
        let total = |ext: &Ext<'_>| {
            [eve(), account, mallory, gas_escrow_account(), crate::balances::treasury_account()]
                .iter()
                .fold(0u128, |sum, who| sum.saturating_add(free(ext, who)))
        };
        let (start, issuance) = (total(&ext), crate::balances::total_issuance(&ext.state));
        for (is_push, amount, gas_limit, gas_used) in steps {
            let before = (free(&ext, &eve()), free(&ext, &account));
            // A push carrying `amount` (refused if Eve cannot pay it and the gas) or a payout
            // of `amount` decided by a quorum of the assigned workers (failing if the cluster
            // cannot pay).
            let value = if is_push { amount } else { 0 };
            let prepaid = Balance::from(gas_limit).checked_mul(price).unwrap();
            match push_gas(&mut ext, id, value, gas_limit) {
                Ok(()) => {
                    proptest::prop_assert_eq!(
                        (free(&ext, &eve()), free(&ext, &account)),
                        (
                            before.0.checked_sub(value).and_then(|b| b.checked_sub(prepaid)).unwrap(),
                            before.1.checked_add(value).unwrap(),
                        )
                    );
                    proptest::prop_assert_eq!(escrow(&ext), prepaid);
                }
                Err(_) => {
                    proptest::prop_assert_eq!((free(&ext, &eve()), free(&ext, &account)), before);
                    proptest::prop_assert_eq!(escrow(&ext), 0);
                    continue;
                }
            }
            proptest::prop_assert_eq!(total(&ext), start);
            let info = contract(&ext.state, &id).unwrap();
            let seq = info.commands.saturating_sub(1);
            let out =
                if is_push { vec![] } else { vec![SealedOutput::Transfer { to: mallory, amount }] };
            let eve_before = free(&ext, &eve());
            decide_with(&mut ext, id, &gas_result(id, seq, Ok(out), gas_used));
            proptest::prop_assert_eq!(
                contract(&ext.state, &id).unwrap().executed,
                seq.saturating_add(1)
            );
            let used = gas_used.min(gas_limit);
            proptest::prop_assert_eq!(escrow(&ext), 0);
            let refund = Balance::from(gas_limit.checked_sub(used).unwrap()).checked_mul(price).unwrap();
            proptest::prop_assert_eq!(free(&ext, &eve()), eve_before.checked_add(refund).unwrap());
            proptest::prop_assert_eq!(total(&ext), start);
            proptest::prop_assert_eq!(crate::balances::total_issuance(&ext.state), issuance);
        }
    }
}

// ---- gas (issue 9 item 4) ----

fn escrow(ext: &Ext<'_>) -> Balance {
    free(ext, &gas_escrow_account())
}

fn treasury(ext: &Ext<'_>) -> Balance {
    free(ext, &crate::balances::treasury_account())
}

fn push_gas(
    ext: &mut Ext<'_>,
    id: ContractId,
    value: Balance,
    gas_limit: u64,
) -> Result<(), DispatchError> {
    dispatch(ext, eve(), Call::PushCommand { contract: id, command: sealed(), value, gas_limit })
}

/// Every assigned worker up to the quorum reports the same result for `seq`.
fn decide_with(ext: &mut Ext<'_>, id: ContractId, r: &CommandResult) {
    let info = contract(&ext.state, &id).unwrap();
    for w in info.assigned.iter().take(info.quorum as usize) {
        report(ext, w, &r.encode()).unwrap();
    }
}

fn gas_result(
    id: ContractId,
    seq: u64,
    outcome: Result<Vec<SealedOutput>, String>,
    gas_used: u64,
) -> CommandResult {
    CommandResult {
        contract: id,
        seq,
        state_hash: H256([1; 32]),
        outcome,
        checkpoint: None,
        gas_used,
    }
}

fn settled(ext: &Ext<'_>, seq: u64) -> Option<(u64, Balance, Balance)> {
    contract_events(ext).into_iter().find_map(|e| match e {
        Event::GasSettled { seq: s, gas_used, fee, refund, .. } if s == seq => {
            Some((gas_used, fee, refund))
        }
        _ => None,
    })
}

/// The gas limit is prepaid at push (into the escrow, with the value into the cluster's
/// account) and is part of the record and the log hash; when the quorum's result lands the gas
/// used goes to the treasury and the rest back to the sender.
#[test]
fn gas_is_prepaid_at_push_and_the_unused_part_refunded_when_the_result_lands() {
    let (mut ext, id) = evm_deployed();
    let price = params(&ext.state).gas_price;
    let account = umbra_contracts::contract_account(&id);
    let (eve0, treasury0) = (free(&ext, &eve()), treasury(&ext));
    let issuance = crate::balances::total_issuance(&ext.state);
    system::NUMBER.put(&mut ext.state, &12);
    push_gas(&mut ext, id, 3 * UNITS, 250_000).unwrap();
    let prepaid = 250_000 * price;
    assert_eq!(free(&ext, &eve()), eve0 - 3 * UNITS - prepaid);
    assert_eq!((free(&ext, &account), escrow(&ext)), (3 * UNITS, prepaid));
    let record = COMMANDS.get(&ext.state, &(id, 0)).unwrap();
    assert_eq!((record.gas_limit, record.gas_price), (250_000, price));
    let ctx = CommandContext {
        contract: id,
        origin: eve(),
        block: 12,
        seq: 0,
        value: 3 * UNITS,
        gas_limit: 250_000,
    };
    assert_eq!(record.log_hash, next_log_hash(&H256::ZERO, &ctx, &record.sealed));
    let other = CommandContext { gas_limit: 250_001, ..ctx };
    assert_ne!(record.log_hash, next_log_hash(&H256::ZERO, &other, &record.sealed), "gas hashed");
    assert!(contract_events(&ext).iter().any(|e| matches!(
        e,
        Event::CommandPushed { seq: 0, gas_limit: 250_000, prepaid: p, .. } if *p == prepaid
    )));
    assert_eq!(settled(&ext, 0), None, "nothing settles before the result");

    decide_with(&mut ext, id, &gas_result(id, 0, Ok(vec![]), 61_234));
    let (fee, refund) = (61_234 * price, (250_000 - 61_234) * price);
    assert_eq!(settled(&ext, 0), Some((61_234, fee, refund)));
    assert_eq!(free(&ext, &eve()), eve0 - 3 * UNITS - fee);
    assert_eq!(treasury(&ext), treasury0 + fee);
    assert_eq!(escrow(&ext), 0);
    assert_eq!(crate::balances::total_issuance(&ext.state), issuance, "nothing minted or burnt");
}

/// A gas limit below the intrinsic minimum or above the governance cap is refused with a
/// clear error and changes nothing; lowering the cap refuses what it used to accept.
#[test]
fn gas_limits_outside_the_bounds_are_refused_and_change_nothing() {
    let (mut ext, id) = evm_deployed();
    let info = contract(&ext.state, &id).unwrap();
    let cap = params(&ext.state).max_gas_per_command;
    for (limit, want) in
        [(0, "GasLimitTooLow"), (20_999, "GasLimitTooLow"), (cap + 1, "GasLimitTooHigh")]
    {
        let err = push_gas(&mut ext, id, UNITS, limit).unwrap_err();
        assert_eq!(err.variant(), want, "limit {limit}");
        assert_eq!(free(&ext, &eve()), 100 * UNITS);
        assert_eq!(escrow(&ext), 0);
        assert_eq!(contract(&ext.state, &id).unwrap(), info);
        assert_eq!(COMMANDS.get(&ext.state, &(id, 0)), None);
    }
    push_gas(&mut ext, id, 0, 21_000).unwrap();
    push_gas(&mut ext, id, 0, cap).unwrap();
    let lower = ContractsParams { max_gas_per_command: 1_000_000, ..params(&ext.state) };
    dispatch(&mut ext, alice(), Call::SetParams { params: lower }).unwrap();
    assert_eq!(push_gas(&mut ext, id, 0, 1_000_001).unwrap_err().variant(), "GasLimitTooHigh");
    push_gas(&mut ext, id, 0, 1_000_000).unwrap();
    assert_eq!(contract(&ext.state, &id).unwrap().commands, 3);
}

/// A sender who can pay the value but not the value plus the prepaid gas is refused, and the
/// value does not move either: the push is all or nothing.
#[test]
fn a_sender_who_cannot_prepay_the_gas_is_refused_and_nothing_changes() {
    let (mut ext, id) = evm_deployed();
    let account = umbra_contracts::contract_account(&id);
    let price = params(&ext.state).gas_price;
    let info = contract(&ext.state, &id).unwrap();
    let events = ext.events().len();
    // 100 UNITS: 99.99 UNITS of value leaves 0.01 UNITS = 10,000 gas at the dev price.
    let value = 100 * UNITS - 10_000 * price;
    let err = push_gas(&mut ext, id, value, 10_001).unwrap_err();
    assert_eq!(err.variant(), "GasLimitTooLow");
    let err = push_gas(&mut ext, id, value, 21_000).unwrap_err();
    assert_eq!(err.variant(), "InsufficientBalance");
    assert_eq!(free(&ext, &eve()), 100 * UNITS);
    assert_eq!((free(&ext, &account), escrow(&ext)), (0, 0));
    assert_eq!(contract(&ext.state, &id).unwrap(), info);
    assert_eq!(COMMANDS.get(&ext.state, &(id, 0)), None);
    assert_eq!(ext.events().len(), events, "no event from the refused push");
    // Exactly enough goes through.
    push_gas(&mut ext, id, 100 * UNITS - 21_000 * price, 21_000).unwrap();
    assert_eq!(free(&ext, &eve()), 0);
}

/// Out of gas and reverts roll state back inside the contract but still pay: the chain charges
/// whatever gas the quorum reports, for a failed outcome too, and never more than the limit.
#[test]
fn failed_reverted_and_out_of_gas_commands_still_pay_and_never_more_than_the_limit() {
    let (mut ext, id) = evm_deployed();
    let price = params(&ext.state).gas_price;
    let treasury0 = treasury(&ext);
    // #0 out of gas: the EVM's receipt says Halt, the gas used is the whole limit.
    push_gas(&mut ext, id, 0, 80_000).unwrap();
    decide_with(&mut ext, id, &gas_result(id, 0, Ok(vec![]), 80_000));
    assert_eq!(settled(&ext, 0), Some((80_000, 80_000 * price, 0)));
    // #1 refused before it ran (e.g. does not open): CommandFailed, the failure charge.
    push_gas(&mut ext, id, 0, 90_000).unwrap();
    let failed = umbra_contracts::gas::FAILED_COMMAND_GAS;
    decide_with(&mut ext, id, &gas_result(id, 1, Err("cannot open command".into()), failed));
    assert!(contract_events(&ext).iter().any(|e| matches!(e, Event::CommandFailed { seq: 1, .. })));
    let fg = Balance::from(failed);
    assert_eq!(settled(&ext, 1), Some((failed, fg * price, (90_000 - fg) * price)));
    // #2 a quorum reporting more than the limit is charged the limit only.
    push_gas(&mut ext, id, 0, 50_000).unwrap();
    decide_with(&mut ext, id, &gas_result(id, 2, Ok(vec![]), 9_000_000));
    assert_eq!(settled(&ext, 2), Some((50_000, 50_000 * price, 0)));
    assert_eq!(treasury(&ext), treasury0 + (80_000 + fg + 50_000) * price);
    assert_eq!(escrow(&ext), 0);
    assert_eq!(free(&ext, &eve()), 100 * UNITS - (80_000 + fg + 50_000) * price);
}

/// The attack: one assigned worker reports the honest state and outputs but other gas (0, to
/// refund an accomplice sender everything; or the whole limit, to overcharge). Its report does
/// not count toward the honest quorum, is flagged, and the quorum's gas is what settles.
#[test]
fn a_worker_lying_about_gas_cannot_reach_the_quorum_alone() {
    let (mut ext, id) = evm_deployed();
    let price = params(&ext.state).gas_price;
    push_gas(&mut ext, id, 0, 200_000).unwrap();
    push_gas(&mut ext, id, 0, 200_000).unwrap();
    let info = contract(&ext.state, &id).unwrap();
    let (liar, a, b) = (info.assigned[0], info.assigned[1], info.assigned[2]);
    for (seq, lie) in [(0u64, 0u64), (1, 200_000)] {
        let honest = gas_result(id, seq, Ok(vec![]), 45_000);
        let lying = CommandResult { gas_used: lie, ..honest.clone() };
        assert_ne!(honest.vote_key(), lying.vote_key(), "gas is in the vote key");
        report(&mut ext, &liar, &lying.encode()).unwrap();
        assert_eq!(contract(&ext.state, &id).unwrap().executed, seq, "one report decides nothing");
        report(&mut ext, &a, &honest.encode()).unwrap();
        assert!(contract_events(&ext).contains(&Event::StateDiverged { id, seq, worker: a }));
        report(&mut ext, &b, &honest.encode()).unwrap();
        assert_eq!(contract(&ext.state, &id).unwrap().executed, seq + 1);
        assert_eq!(settled(&ext, seq), Some((45_000, 45_000 * price, 155_000 * price)));
        assert!(contract_events(&ext).contains(&Event::StateDiverged { id, seq, worker: liar }));
    }
    assert_eq!(free(&ext, &eve()), 100 * UNITS - 2 * 45_000 * price);
}

/// A paused contract's commands have no result: their prepaid gas stays in the escrow (the
/// sender does not get it back, nor does the treasury take it) until the council resumes the
/// contract and the quorum's results settle it, at the price of the push.
#[test]
fn prepaid_gas_of_a_paused_contract_waits_in_escrow_and_settles_after_the_resume() {
    let (mut ext, id) = evm_deployed();
    let price = params(&ext.state).gas_price;
    push_gas(&mut ext, id, 0, 100_000).unwrap();
    let assigned = contract(&ext.state, &id).unwrap().assigned;
    for (i, w) in assigned.iter().enumerate() {
        report(&mut ext, w, &result(id, 0, i as u8 + 1, Ok(vec![]))).unwrap();
    }
    assert!(contract(&ext.state, &id).unwrap().paused.is_some());
    let eve_paused = free(&ext, &eve());
    assert_eq!(eve_paused, 100 * UNITS - 100_000 * price);
    assert_eq!(escrow(&ext), 100_000 * price, "held while paused");
    assert_eq!(settled(&ext, 0), None);
    // The price changes meanwhile: the settlement uses the price the sender prepaid at.
    let dearer = ContractsParams { gas_price: price * 3, ..params(&ext.state) };
    dispatch(&mut ext, alice(), Call::SetParams { params: dearer }).unwrap();
    dispatch(&mut ext, alice(), Call::Resume { contract: id }).unwrap();
    assert_eq!(escrow(&ext), 100_000 * price, "resuming alone settles nothing");
    decide_with(&mut ext, id, &gas_result(id, 0, Ok(vec![]), 30_000));
    assert_eq!(settled(&ext, 0), Some((30_000, 30_000 * price, 70_000 * price)));
    assert_eq!(escrow(&ext), 0);
    assert_eq!(free(&ext, &eve()), 100 * UNITS - 30_000 * price);
}
