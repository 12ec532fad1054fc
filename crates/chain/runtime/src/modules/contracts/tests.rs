use std::collections::BTreeMap;

use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::UNITS;

use super::*;
use crate::{
    modules::gatekeeper::tests::{alice, launched, worker},
    Event as RuntimeEvent,
};

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
    dispatch(ext, eve(), Call::PushCommand { contract: id, command: sealed(), value: 0 }).unwrap();
}

fn result(
    id: ContractId,
    seq: u64,
    hash: u8,
    outcome: Result<Vec<SealedOutput>, String>,
) -> Vec<u8> {
    CommandResult { contract: id, seq, state_hash: H256([hash; 32]), outcome, checkpoint: None }
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
        dispatch(&mut ext, eve(), Call::PushCommand { contract: id, command: sealed(), value: 0 })
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
        dispatch(&mut ext, eve(), Call::PushCommand { contract: id, command: s.clone(), value: 0 })
            .unwrap();
        let ctx = CommandContext { contract: id, origin: eve(), block, seq, value: 0 };
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
    assert_eq!(free(&ext, &eve()), eve_before + 10 * UNITS);
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
        dispatch(&mut ext, eve(), Call::PushCommand { contract: id, command: sealed(), value: 0 })
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
    dispatch(ext, eve(), Call::PushCommand { contract: id, command: sealed(), value })
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
        Call::PushCommand { contract: id, command: s.clone(), value: 7 * UNITS },
    )
    .unwrap();
    assert_eq!(free(&ext, &eve()), 93 * UNITS);
    assert_eq!(free(&ext, &account), 7 * UNITS);
    let record = COMMANDS.get(&ext.state, &(id, 0)).unwrap();
    assert_eq!(record.value, 7 * UNITS);
    let ctx = CommandContext { contract: id, origin: eve(), block: 12, seq: 0, value: 7 * UNITS };
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
    crate::balances::mint(&mut ext, &eve(), 100 * UNITS).unwrap();
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
    /// Issue 9 item 3: whatever the pushes (paid or refused) and the decided payouts (applied
    /// or failing for lack of funds), the sender's balance plus the value the cluster holds
    /// (its chain account) plus what it paid out stays what it was.
    #[test]
    fn value_is_conserved_over_pushes_and_payouts(
        steps in proptest::collection::vec(
            (proptest::bool::ANY, 0u128..(60 * UNITS)), 1..12)
    ) {
        let (mut ext, id) = evm_deployed();
        let account = umbra_contracts::contract_account(&id);
        let mallory = Pair::from_suri("//Mallory").unwrap().public();
        let total = |ext: &Ext<'_>| {
            free(ext, &eve()).saturating_add(free(ext, &account)).saturating_add(free(ext, &mallory))
        };
        let start = total(&ext);
        for (is_push, amount) in steps {
            let before = (free(&ext, &eve()), free(&ext, &account));
            // A push carrying `amount` (refused if Eve cannot pay) or a payout of `amount`
            // decided by a quorum of the assigned workers (failing if the cluster cannot pay).
            let value = if is_push { amount } else { 0 };
            match push_value(&mut ext, id, value) {
                Ok(()) => proptest::prop_assert_eq!(
                    (free(&ext, &eve()), free(&ext, &account)),
                    (before.0.saturating_sub(value), before.1.saturating_add(value))
                ),
                Err(_) => {
                    proptest::prop_assert_eq!((free(&ext, &eve()), free(&ext, &account)), before);
                    continue;
                }
            }
            let info = contract(&ext.state, &id).unwrap();
            let seq = info.commands.saturating_sub(1);
            let out = if is_push { vec![] } else { vec![SealedOutput::Transfer { to: mallory, amount }] };
            let payload = result(id, seq, 1, Ok(out));
            for w in info.assigned.iter().take(info.quorum as usize) {
                report(&mut ext, w, &payload).unwrap();
            }
            proptest::prop_assert_eq!(contract(&ext.state, &id).unwrap().executed, seq.saturating_add(1));
            proptest::prop_assert_eq!(total(&ext), start);
        }
    }
}
