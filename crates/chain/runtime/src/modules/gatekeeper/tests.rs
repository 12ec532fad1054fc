use umbra_crypto::{EcdhSecret, Pair};

use super::*;
use crate::{
    modules::registry::tests::registered_worker, state::EmptyState, Event as RuntimeEvent,
};

pub(crate) fn alice() -> AccountId {
    Pair::from_suri("//Alice").unwrap().public()
}

pub(crate) fn worker(i: u32) -> Pair {
    Pair::from_suri(&format!("//Gk{i}")).unwrap()
}

pub(crate) fn ext_with_workers(n: u32) -> Ext<'static> {
    let mut ext =
        Ext::with_genesis(Overlay::new(&EmptyState), umbra_primitives::H256::hash(b"genesis"));
    governance::KEY.put(&mut ext.state, &alice());
    for i in 0..n {
        registered_worker(&mut ext, &worker(i));
    }
    ext
}

fn outbound_topics(ext: &Ext<'_>) -> Vec<Vec<u8>> {
    ext.events()
        .iter()
        .filter_map(|r| match &r.event {
            RuntimeEvent::Mq(mq::Event::OutboundMessage { topic, .. }) => Some(topic.clone()),
            _ => None,
        })
        .collect()
}

/// Elects `worker(0)` and has it publish master key 0.
pub(crate) fn launched(n: u32) -> Ext<'static> {
    let mut ext = ext_with_workers(n);
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(0).public() }).unwrap();
    on_message(
        &mut ext,
        &worker(0).public(),
        topics::EG_MASTER_PUBKEY,
        &(0u32, [7u8; 32]).encode(),
    )
    .unwrap();
    ext
}

#[test]
fn first_election_launches_later_ones_request_shares() {
    let mut ext = ext_with_workers(2);
    let bob = Pair::from_suri("//Bob").unwrap().public();
    assert_eq!(
        dispatch(&mut ext, bob, Call::Elect { worker: worker(0).public() }).unwrap_err().variant(),
        "RequireCouncil"
    );
    let stranger = Pair::from_suri("//Stranger").unwrap().public();
    assert_eq!(
        dispatch(&mut ext, alice(), Call::Elect { worker: stranger }).unwrap_err().variant(),
        "NotRegistered"
    );
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(0).public() }).unwrap();
    assert_eq!(outbound_topics(&ext).last().unwrap(), topics::GK_LAUNCH);
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(1).public() }).unwrap();
    assert_eq!(outbound_topics(&ext).last().unwrap(), topics::GK_SHARE_REQUEST);
    assert_eq!(
        dispatch(&mut ext, alice(), Call::Elect { worker: worker(1).public() })
            .unwrap_err()
            .variant(),
        "AlreadyGatekeeper"
    );
    assert_eq!(leader(&ext.state), Some(worker(0).public()));
}

#[test]
fn only_the_leader_publishes_the_expected_rotation() {
    let mut ext = ext_with_workers(3);
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(0).public() }).unwrap();
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(1).public() }).unwrap();
    let key = (0u32, [7u8; 32]).encode();
    assert!(on_message(&mut ext, &worker(1).public(), topics::EG_MASTER_PUBKEY, &key)
        .unwrap_err()
        .contains("leader"));
    assert!(on_message(&mut ext, &worker(2).public(), topics::EG_MASTER_PUBKEY, &key)
        .unwrap_err()
        .contains("not a gatekeeper"));
    assert!(on_message(
        &mut ext,
        &worker(0).public(),
        topics::EG_MASTER_PUBKEY,
        &(3u32, [7u8; 32]).encode()
    )
    .is_err());
    assert_eq!(current_rotation(&ext.state), None);
    on_message(&mut ext, &worker(0).public(), topics::EG_MASTER_PUBKEY, &key).unwrap();
    assert_eq!(current_rotation(&ext.state), Some(0));
    // Without a pending rotation a second publication is refused.
    assert!(on_message(
        &mut ext,
        &worker(0).public(),
        topics::EG_MASTER_PUBKEY,
        &(1u32, [8u8; 32]).encode()
    )
    .is_err());
    dispatch(&mut ext, alice(), Call::RotateMasterKey).unwrap();
    assert_eq!(
        dispatch(&mut ext, alice(), Call::RotateMasterKey).unwrap_err().variant(),
        "RotationNotPossible"
    );
    on_message(
        &mut ext,
        &worker(0).public(),
        topics::EG_MASTER_PUBKEY,
        &(1u32, [8u8; 32]).encode(),
    )
    .unwrap();
    assert_eq!(current_rotation(&ext.state), Some(1));
    // Old keys stay for old data.
    assert_eq!(MASTER_KEYS.get(&ext.state, &0).unwrap().pubkey, [7u8; 32]);
}

#[test]
fn master_keys_go_only_to_gatekeepers_and_the_last_holder_stays() {
    let mut ext = launched(3);
    dispatch(&mut ext, alice(), Call::Elect { worker: worker(1).public() }).unwrap();
    let sealed =
        umbra_crypto::SealedBox::seal(&EcdhSecret::from_bytes([1u8; 32]).public(), b"x", b"k")
            .unwrap()
            .0;
    let to_outsider = MasterKeys { to: worker(2).public(), keys: vec![(0, sealed.clone())] };
    assert!(on_message(
        &mut ext,
        &worker(0).public(),
        topics::EG_MASTER_KEYS,
        &to_outsider.encode()
    )
    .is_err());
    let to_gk = MasterKeys { to: worker(1).public(), keys: vec![(0, sealed)] };
    assert!(
        on_message(&mut ext, &worker(1).public(), topics::EG_MASTER_KEYS, &to_gk.encode()).is_err(),
        "not from the leader"
    );
    on_message(&mut ext, &worker(0).public(), topics::EG_MASTER_KEYS, &to_gk.encode()).unwrap();
    assert_eq!(HOLDS.get(&ext.state, &worker(1).public()), Some(0));
    assert_eq!(outbound_topics(&ext).last().unwrap(), topics::GK_MASTER_KEYS);
    // The leader may go: worker 1 holds the key and leads.
    dispatch(&mut ext, alice(), Call::Remove { worker: worker(0).public() }).unwrap();
    assert_eq!(leader(&ext.state), Some(worker(1).public()));
    assert_eq!(
        dispatch(&mut ext, alice(), Call::Remove { worker: worker(1).public() })
            .unwrap_err()
            .variant(),
        "LastKeyHolder"
    );
}

/// Turns simulated attestation off on a chain whose workers registered while it was on.
pub(crate) fn refuse_simulated_from_now_on(ext: &mut Ext<'_>) {
    let mut policy = registry::policy(&ext.state);
    policy.allow_simulated = false;
    registry::POLICY.put(&mut ext.state, &policy);
    assert!(!registry::accepts_insecure(&ext.state));
}

/// The attack: a simulated worker (whose host can read every enclave secret) is elected
/// gatekeeper on a chain that no longer accepts simulated platforms, and would receive the master
/// key. The election is refused.
#[test]
fn an_insecure_worker_is_not_elected_where_the_chain_refuses_insecure_platforms() {
    let mut ext = ext_with_workers(1);
    assert!(registry::is_insecure_worker(&ext.state, &worker(0).public()));
    refuse_simulated_from_now_on(&mut ext);
    let err = dispatch(&mut ext, alice(), Call::Elect { worker: worker(0).public() }).unwrap_err();
    assert_eq!(err.variant(), "InsecureWorker");
    assert!(gatekeepers(&ext.state).is_empty());
    assert!(
        !outbound_topics(&ext).iter().any(|t| t == topics::GK_LAUNCH),
        "no launch message left for the enclave"
    );
}
