//! Replay determinism and the end-to-end pipeline, through the public API only.

use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use umbra_contracts::guestbook::{GuestbookCommand, GuestbookQuery, GuestbookResponse};
use umbra_contracts::{
    contract_id, contract_secret, event_key, open_checkpoint, open_command, open_event,
    open_key_share, seal_checkpoint, seal_command, seal_key_share, seal_outputs, CommandContext,
    ContractError, ContractKind, Instance, Output, SealedOutput,
};
use umbra_crypto::EcdhSecret;
use umbra_primitives::{AccountId, H256};

type Outcome = Result<Vec<Output>, ContractError>;

fn acct(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

/// One step of a random command log: who sends what. Raw bytes model garbage from a client.
#[derive(Clone, Debug)]
enum Step {
    Cmd(u8, GuestbookCommand),
    Raw(u8, Vec<u8>),
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let who = 0u8..4;
    prop_oneof![
        1 => (who.clone(), "[a-z ]{0,12}").prop_map(|(w, title)| Step::Cmd(w, GuestbookCommand::Init { title })),
        6 => (who.clone(), prop_oneof![".{0,40}", "[a-z]{275,285}"])
            .prop_map(|(w, text)| Step::Cmd(w, GuestbookCommand::Post { text })),
        2 => (who.clone(), 0u64..12).prop_map(|(w, id)| Step::Cmd(w, GuestbookCommand::Delete { id })),
        1 => (who.clone(), 0u8..4, 0u128..3)
            .prop_map(|(w, to, amount)| Step::Cmd(w, GuestbookCommand::Payout { to: acct(to), amount })),
        1 => (who, proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(w, b)| Step::Raw(w, b)),
    ]
}

/// Turns steps into the (context, bytes) log the chain would order.
fn log(steps: &[Step]) -> Vec<(CommandContext, Vec<u8>)> {
    let contract = contract_id(&acct(0), ContractKind::Guestbook, b"replay");
    steps
        .iter()
        .zip(0u64..)
        .map(|(step, seq)| {
            let (who, bytes) = match step {
                Step::Cmd(w, c) => (*w, c.encode()),
                Step::Raw(w, b) => (*w, b.clone()),
            };
            (
                CommandContext {
                    contract,
                    origin: acct(who),
                    block: (seq / 4).saturating_add(1),
                    seq,
                    value: 0,
                    gas_limit: umbra_contracts::gas::MAX_GAS_CAP,
                },
                bytes,
            )
        })
        .collect()
}

/// Replays `log` on `inst`; checks that refused commands change nothing.
fn replay(inst: &mut Instance, log: &[(CommandContext, Vec<u8>)]) -> Vec<Outcome> {
    log.iter()
        .map(|(ctx, bytes)| {
            let before = inst.state_hash();
            let outcome = inst.execute(ctx, bytes);
            if outcome.is_err() {
                assert_eq!(inst.state_hash(), before, "refused command {ctx:?} changed the state");
            }
            outcome
        })
        .collect()
}

fn all_queries(inst: &Instance) -> Vec<Result<Vec<u8>, ContractError>> {
    let mut answers = Vec::new();
    for who in 0..4 {
        for q in [
            GuestbookQuery::Info,
            GuestbookQuery::MyPosts,
            GuestbookQuery::Posts { from: 0, limit: 100 },
        ] {
            answers.push(inst.query(&acct(who), &q.encode()));
        }
    }
    answers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Two fresh instances fed the same log give identical outputs, state hashes, snapshots
    /// and query answers.
    #[test]
    fn replay_is_deterministic(steps in proptest::collection::vec(step_strategy(), 0..40)) {
        let log = log(&steps);
        let mut a = Instance::new(ContractKind::Guestbook);
        let mut b = Instance::new(ContractKind::Guestbook);
        let out_a = replay(&mut a, &log);
        let out_b = replay(&mut b, &log);
        prop_assert_eq!(out_a, out_b);
        prop_assert_eq!(a.state_hash(), b.state_hash());
        prop_assert_eq!(a.snapshot(), b.snapshot());
        prop_assert_eq!(all_queries(&a), all_queries(&b));
    }

    /// Restoring the snapshot taken after k commands (through an encrypted checkpoint) and
    /// replaying the rest equals the full replay.
    #[test]
    fn checkpoint_restore_then_replay_equals_full_replay(
        steps in proptest::collection::vec(step_strategy(), 0..40),
        split in any::<proptest::sample::Index>(),
    ) {
        let log = log(&steps);
        let k = split.index(log.len().saturating_add(1));
        let id = log.first().map(|(c, _)| c.contract).unwrap_or(H256::ZERO);
        let secret = contract_secret(&[1u8; 32], 0, &id);

        let mut full = Instance::new(ContractKind::Guestbook);
        let full_out = replay(&mut full, &log);

        let mut first = Instance::new(ContractKind::Guestbook);
        let first_out = replay(&mut first, &log[..k]);
        let seq = k as u64;
        let blob = seal_checkpoint(&secret, &id, seq, &first.snapshot());
        let snapshot = open_checkpoint(&secret, &id, seq, &blob).unwrap();
        let mut resumed = Instance::restore(ContractKind::Guestbook, &snapshot).unwrap();
        prop_assert_eq!(resumed.state_hash(), first.state_hash());
        let rest_out = replay(&mut resumed, &log[k..]);

        prop_assert_eq!(&full_out[..k], &first_out[..]);
        prop_assert_eq!(&full_out[k..], &rest_out[..]);
        prop_assert_eq!(resumed.state_hash(), full.state_hash());
        prop_assert_eq!(all_queries(&resumed), all_queries(&full));
    }
}

/// Client → chain → enclave → chain → client, with every key obtained the way the network
/// obtains it.
#[test]
fn end_to_end_pipeline() {
    let master = [77u8; 32];
    let alice = acct(2);
    let id = contract_id(&acct(1), ContractKind::Guestbook, b"e2e");

    // A gatekeeper hands the contract secret to the assigned worker.
    let worker_ecdh = EcdhSecret::from_bytes([5u8; 32]);
    let purpose = [b"contract-key:".as_slice(), id.as_bytes()].concat();
    let share = seal_key_share(
        &worker_ecdh.public(),
        &purpose,
        &contract_secret(&master, 0, &id).to_bytes(),
    )
    .unwrap();
    let secret = EcdhSecret::from_bytes(open_key_share(&worker_ecdh, &purpose, &share).unwrap());
    let contract_pub = contract_secret(&master, 0, &id).public();
    assert_eq!(secret.public(), contract_pub);

    // Clients seal commands to the contract key; the worker opens and runs them.
    let mut inst = Instance::new(ContractKind::Guestbook);
    let mut egress = Vec::new();
    for (seq, (who, cmd)) in [
        (acct(1), GuestbookCommand::Init { title: "E2E".into() }),
        (alice, GuestbookCommand::Post { text: "secretly hello".into() }),
    ]
    .into_iter()
    .enumerate()
    {
        let sealed = seal_command(&contract_pub, &id, &who, &cmd.encode()).unwrap();
        let plain = open_command(&secret, &id, &who, &sealed).unwrap();
        let ctx = CommandContext {
            contract: id,
            origin: who,
            block: 3,
            seq: seq as u64,
            value: 0,
            gas_limit: umbra_contracts::gas::MAX_GAS_CAP,
        };
        let outputs = inst.execute(&ctx, &plain).unwrap();
        egress.push((seq as u64, seal_outputs(&secret, &id, seq as u64, outputs)));
    }

    // Alice reads her private event with her event key; nobody else's key opens it.
    let (seq, outputs) = &egress[1];
    let SealedOutput::PrivateEvent { to, event } = &outputs[1] else {
        panic!("expected a private event, got {outputs:?}");
    };
    assert_eq!(*to, alice);
    let key = event_key(&secret, &id, &alice);
    assert_eq!(
        open_event(&key, &id, *seq, event).unwrap(),
        b"your post #1 was recorded in block 3".to_vec()
    );
    assert!(open_event(&event_key(&secret, &id, &acct(9)), &id, *seq, event).is_err());

    // A second worker rebuilds the state from the checkpoint alone.
    let blob = seal_checkpoint(&secret, &id, 2, &inst.snapshot());
    let rebuilt = Instance::restore(
        ContractKind::Guestbook,
        &open_checkpoint(&secret, &id, 2, &blob).unwrap(),
    )
    .unwrap();
    assert_eq!(rebuilt.state_hash(), inst.state_hash());
    let answer = rebuilt.query(&alice, &GuestbookQuery::MyPosts.encode()).unwrap();
    let GuestbookResponse::Posts(posts) = GuestbookResponse::decode(&mut &answer[..]).unwrap()
    else {
        panic!("expected posts");
    };
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "secretly hello");
}
