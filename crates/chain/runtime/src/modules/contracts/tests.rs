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

fn deployed() -> (Ext<'static>, ContractId) {
    let mut ext = launched(4);
    computing(&mut ext, 4);
    let dave = Pair::from_suri("//Dave").unwrap().public();
    dispatch(&mut ext, dave, Call::Deploy { kind: ContractKind::Guestbook, salt: b"s".to_vec() })
        .unwrap();
    let id = umbra_contracts::contract_id(&dave, ContractKind::Guestbook, b"s");
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

fn result(
    id: ContractId,
    seq: u64,
    hash: u8,
    outcome: Result<Vec<ChainOutput>, String>,
) -> Vec<u8> {
    CommandResult { contract: id, seq, state_hash: H256([hash; 32]), outcome }.encode()
}

#[test]
fn deploy_needs_a_master_key_and_assigns_k_distinct_computing_workers() {
    let mut ext = crate::modules::gatekeeper::tests::ext_with_workers(1);
    let err =
        dispatch(&mut ext, alice(), Call::Deploy { kind: ContractKind::Guestbook, salt: vec![] })
            .unwrap_err();
    assert_eq!(err.variant(), "NoMasterKey");
    let (ext, id) = deployed();
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!(info.assigned.len(), 2);
    assert_ne!(info.assigned[0], info.assigned[1]);
    assert!(info.assigned.iter().all(|w| computation::COMPUTING_POS.get(&ext.state, w).is_some()));
    assert_eq!(info.epoch, 1);
    assert_eq!(info.pubkey, None);
}

#[test]
fn commands_wait_for_the_key_and_build_the_log_hash_chain() {
    let (mut ext, id) = deployed();
    let eve = Pair::from_suri("//Eve").unwrap().public();
    assert_eq!(
        dispatch(&mut ext, eve, Call::PushCommand { contract: id, command: sealed() })
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
    for seq in 0..3 {
        let s = sealed();
        dispatch(&mut ext, eve, Call::PushCommand { contract: id, command: s.clone() }).unwrap();
        expected = next_log_hash(&expected, seq, &eve, &s);
        assert_eq!(COMMANDS.get(&ext.state, &(id, seq)).unwrap().log_hash, expected);
    }
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!((info.commands, info.log_hash, info.pubkey), (3, expected, Some([5u8; 32])));
}

#[test]
fn results_first_wins_divergence_is_flagged_and_outputs_apply() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    let eve = Pair::from_suri("//Eve").unwrap().public();
    for _ in 0..2 {
        dispatch(&mut ext, eve, Call::PushCommand { contract: id, command: sealed() }).unwrap();
    }
    let info = contract(&ext.state, &id).unwrap();
    let (a, b) = (info.assigned[0], info.assigned[1]);
    let outsider = (0..4).map(|i| worker(i).public()).find(|w| !info.assigned.contains(w)).unwrap();
    assert!(on_message(
        &mut ext,
        &outsider,
        topics::EG_COMMAND_RESULT,
        &result(id, 0, 1, Ok(vec![]))
    )
    .is_err());
    assert!(
        on_message(&mut ext, &a, topics::EG_COMMAND_RESULT, &result(id, 1, 1, Ok(vec![]))).is_err(),
        "in order"
    );
    assert!(
        on_message(&mut ext, &a, topics::EG_COMMAND_RESULT, &result(id, 5, 1, Ok(vec![]))).is_err(),
        "exists"
    );

    // The contract account holds funds; a Transfer output pays from it.
    let account = umbra_contracts::contract_account(&id);
    crate::balances::mint(&mut ext, &account, 100 * UNITS).unwrap();
    let outputs = vec![
        ChainOutput::PublicEvent(b"hi".to_vec()),
        ChainOutput::Transfer { to: eve, amount: 40 * UNITS },
    ];
    on_message(&mut ext, &a, topics::EG_COMMAND_RESULT, &result(id, 0, 1, Ok(outputs))).unwrap();
    assert_eq!(crate::balances::account(&ext.state, &account).free, 60 * UNITS);
    // The same report from the other worker agrees: nothing more happens.
    let before = ext.events().len();
    on_message(
        &mut ext,
        &b,
        topics::EG_COMMAND_RESULT,
        &result(id, 0, 1, Ok(vec![ChainOutput::Transfer { to: eve, amount: 40 * UNITS }])),
    )
    .unwrap();
    assert_eq!(ext.events().len(), before);
    assert_eq!(
        crate::balances::account(&ext.state, &account).free,
        60 * UNITS,
        "outputs apply once"
    );
    // A different state hash is flagged.
    on_message(&mut ext, &b, topics::EG_COMMAND_RESULT, &result(id, 0, 2, Ok(vec![]))).unwrap();
    assert!(matches!(
        ext.events().last().unwrap().event,
        RuntimeEvent::Contracts(Event::StateDiverged { seq: 0, .. })
    ));
    // A failed command is recorded as such.
    on_message(
        &mut ext,
        &a,
        topics::EG_COMMAND_RESULT,
        &result(id, 1, 1, Err("cannot open command".into())),
    )
    .unwrap();
    assert!(matches!(
        &ext.events().last().unwrap().event,
        RuntimeEvent::Contracts(Event::CommandFailed { seq: 1, .. })
    ));
    assert_eq!(contract(&ext.state, &id).unwrap().executed, 2);
}

#[test]
fn checkpoints_must_match_a_recorded_result_and_fit() {
    let (mut ext, id) = deployed();
    publish_key(&mut ext, id);
    let eve = Pair::from_suri("//Eve").unwrap().public();
    dispatch(&mut ext, eve, Call::PushCommand { contract: id, command: sealed() }).unwrap();
    let a = contract(&ext.state, &id).unwrap().assigned[0];
    let cp = |hash: u8, len: usize| (id, 0u64, H256([hash; 32]), vec![0u8; len]).encode();
    assert!(on_message(&mut ext, &a, topics::EG_CHECKPOINT, &cp(1, 10)).is_err(), "no result yet");
    on_message(&mut ext, &a, topics::EG_COMMAND_RESULT, &result(id, 0, 1, Ok(vec![]))).unwrap();
    assert!(
        on_message(&mut ext, &a, topics::EG_CHECKPOINT, &cp(2, 10)).is_err(),
        "wrong state hash"
    );
    assert!(
        on_message(&mut ext, &a, topics::EG_CHECKPOINT, &cp(1, 60 * 1024)).is_err(),
        "too large"
    );
    on_message(&mut ext, &a, topics::EG_CHECKPOINT, &cp(1, 10)).unwrap();
    let info = contract(&ext.state, &id).unwrap();
    assert_eq!(info.checkpoint.map(|c| c.0), Some(0));
    assert_eq!(CHECKPOINTS.get(&ext.state, &id), Some(vec![0u8; 10]));
}

#[test]
fn reshuffle_reassigns_every_contract_each_period() {
    let (mut ext, id) = deployed();
    let period = params(&ext.state).reshuffle_period;
    let mut epochs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for n in 1..=(4 * period) {
        system::NUMBER.put(&mut ext.state, &n);
        system::RANDOMNESS.put(&mut ext.state, &blake2_256(&n.to_le_bytes()));
        on_initialize(&mut ext);
        let info = contract(&ext.state, &id).unwrap();
        epochs.push(info.epoch);
        seen.extend(info.assigned);
    }
    assert_eq!(*epochs.last().unwrap(), 5, "one epoch per period after the first");
    assert!(seen.len() > 2, "different workers over time: {seen:?}");
}
