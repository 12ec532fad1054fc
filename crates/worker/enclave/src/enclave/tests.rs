use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::Pair;
use umbra_node::{consensus::DevAuthority, ChainSpec, Node};
use umbra_primitives::{
    mq::topics,
    query::{
        EncryptedQuery, QueryRequest, QueryResponse, WorkerQuery, WorkerStatus, QUERY_MAX_SKEW_MS,
    },
    simulated_enclave_measurement, simulated_enclave_signer, Block,
};
use umbra_runtime::{Call, Extrinsic};
use umbra_tee::{dev_vendor_root, SimulatedPlatform};

use super::*;

struct Chain {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
}

impl Chain {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open(
            dir.path(),
            ChainSpec::dev(),
            Arc::new(DevAuthority::new(Pair::from_suri("//Alice").unwrap())),
        )
        .unwrap();
        Chain { _dir: dir, node }
    }

    fn genesis(&self) -> GenesisInfo {
        GenesisInfo {
            header: self.node.block(0).unwrap().unwrap().header,
            config: ChainSpec::dev().genesis,
        }
    }

    fn submit(&self, who: &str, call: Call) {
        let pair = Pair::from_suri(who).unwrap();
        let nonce = self.node.next_nonce(&pair.public()).unwrap();
        let xt = Extrinsic::new_signed(&pair, call, nonce, 0, self.node.genesis_hash());
        self.node.submit(xt.encode()).unwrap();
    }

    fn author(&self) -> u64 {
        self.node.author_block().unwrap().0.header.number
    }

    fn raw(&self, n: u64) -> (Vec<u8>, Vec<u8>) {
        self.node.raw_block_with_events(n).unwrap().unwrap()
    }
}

fn platform(seed: u8) -> Arc<dyn Platform> {
    Arc::new(SimulatedPlatform::new(
        [seed; 32],
        &dev_vendor_root(),
        simulated_enclave_measurement(),
        simulated_enclave_signer(),
    ))
}

fn feed(enclave: &mut Enclave, chain: &Chain, n: u64) -> Result<BlockNumber> {
    let (b, e) = chain.raw(n);
    enclave.sync_block(&b, &e)
}

/// A chain with one block and a fresh enclave (platform 1) synced to it, with its sealed identity.
fn synced_at_block_one() -> (Chain, Enclave, Vec<u8>) {
    let chain = Chain::new();
    chain.author();
    let (mut enclave, out) = Enclave::init(platform(1), &chain.genesis(), None, None).unwrap();
    let sealed = out.new_sealed_identity.expect("a new enclave seals its identity");
    feed(&mut enclave, &chain, 1).unwrap();
    (chain, enclave, sealed)
}

#[test]
fn syncs_real_blocks_and_refuses_forged_reordered_and_skipped_ones() {
    let chain = Chain::new();
    chain.author();
    // Block 2 carries a transaction, so it has events to withhold.
    chain.submit(
        "//Bob",
        Call::System(umbra_runtime::system::Call::Remark { data: b"hi".to_vec() }),
    );
    chain.author();
    chain.author();
    let (mut enclave, out) = Enclave::init(platform(1), &chain.genesis(), None, None).unwrap();
    assert!(out.new_sealed_identity.is_some());
    assert_eq!(feed(&mut enclave, &chain, 1).unwrap(), 1);

    // Skipped: block 3 right after 1.
    assert!(matches!(feed(&mut enclave, &chain, 3), Err(EnclaveError::BlockRejected(_))));
    // Reordered / replayed: block 1 again.
    assert!(matches!(feed(&mut enclave, &chain, 1), Err(EnclaveError::BlockRejected(_))));
    // Forged: block 2 with a changed state root (the seal no longer matches).
    let (b2, e2) = chain.raw(2);
    let genuine = Block::decode(&mut &b2[..]).unwrap();
    let mut forged = genuine.clone();
    forged.header.state_root = H256::hash(b"forged");
    assert!(matches!(
        enclave.sync_block(&forged.encode(), &e2),
        Err(EnclaveError::BlockRejected(_))
    ));
    // Forged and re-sealed by a key that is not an authority.
    let mut resealed = forged;
    resealed.header.seal_with(&Pair::from_suri("//Mallory").unwrap());
    assert!(enclave.sync_block(&resealed.encode(), &e2).is_err());
    // Body with an extra extrinsic.
    let mut stuffed = genuine;
    stuffed.extrinsics.push(vec![1, 2, 3]);
    assert!(enclave.sync_block(&stuffed.encode(), &e2).is_err());
    // Events withheld or garbled.
    assert!(matches!(
        enclave.sync_block(&b2, &Vec::<EventRecord>::new().encode()),
        Err(EnclaveError::EventsMismatch(2))
    ));
    assert!(matches!(enclave.sync_block(&b2, &[1, 2, 3]), Err(EnclaveError::Decode { .. })));
    assert_eq!(enclave.synced_number(), 1, "refused blocks change nothing");

    assert_eq!(feed(&mut enclave, &chain, 2).unwrap(), 2);
    assert_eq!(feed(&mut enclave, &chain, 3).unwrap(), 3);
}

#[test]
fn refuses_a_genesis_that_does_not_match_its_config() {
    let chain = Chain::new();
    let mut g = chain.genesis();
    g.config.balances.pop();
    assert!(matches!(Enclave::init(platform(1), &g, None, None), Err(EnclaveError::BadGenesis(_))));
}

#[test]
fn identity_survives_restart_and_checkpoint_resumes() {
    let chain = Chain::new();
    for _ in 0..3 {
        chain.author();
    }
    let (mut enclave, out) = Enclave::init(platform(1), &chain.genesis(), None, None).unwrap();
    let sealed = out.new_sealed_identity.unwrap();
    for n in 1..=3 {
        feed(&mut enclave, &chain, n).unwrap();
    }
    let cp = enclave.checkpoint().unwrap();
    let (again, out) =
        Enclave::init(platform(1), &chain.genesis(), Some(&sealed), Some(&cp)).unwrap();
    assert_eq!(again.identity(), enclave.identity());
    assert_eq!(out.resumed_at, Some(3));
    assert_eq!(again.synced_number(), 3);
    assert!(out.new_sealed_identity.is_none());

    // Another host's platform cannot unseal it; tampered blobs are refused.
    assert!(matches!(
        Enclave::init(platform(2), &chain.genesis(), Some(&sealed), None),
        Err(EnclaveError::Unseal { .. })
    ));
    let mut bad = sealed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(Enclave::init(platform(1), &chain.genesis(), Some(&bad), None).is_err());
    let mut bad_cp = cp;
    bad_cp[10] ^= 1;
    assert!(Enclave::init(platform(1), &chain.genesis(), Some(&sealed), Some(&bad_cp)).is_err());
}

#[test]
fn answers_a_ping_from_a_verified_block_with_signed_egress() {
    let chain = Chain::new();
    let (mut enclave, _) = Enclave::init(platform(1), &chain.genesis(), None, None).unwrap();
    let topic = topics::ping_topic(&enclave.identity());
    chain.submit(
        "//Bob",
        Call::Mq(mq::Call::PushMessage { topic, payload: b"are you there".to_vec() }),
    );
    chain.submit(
        "//Bob",
        Call::Mq(mq::Call::PushMessage { topic: b"someone/else".to_vec(), payload: vec![] }),
    );
    let n = chain.author();
    feed(&mut enclave, &chain, n).unwrap();
    let egress = enclave.pending_egress();
    assert_eq!(egress.len(), 1);
    let m = &egress[0];
    assert_eq!(m.topic, topics::PONG);
    assert_eq!(m.sequence, 0);
    assert!(m.verify(&enclave.genesis_hash(), &enclave.identity()));
    let pong = Pong::decode(&mut &m.payload[..]).unwrap();
    assert_eq!(pong, Pong { block: n, ping_hash: H256::hash(b"are you there") });
}

fn query(
    enclave: &Enclave,
    who: &Pair,
    ts: u64,
    nonce: [u8; 16],
    body: WorkerQuery,
) -> (Vec<u8>, EncryptedQuery, [u8; 32]) {
    let info = enclave.info();
    let req = QueryRequest::new_signed(who, info.identity, nonce, ts, body.encode());
    let (q, key) = EncryptedQuery::seal(&req, &info.ecdh).unwrap();
    (q.encode(), q, key)
}

#[test]
fn encrypted_queries_are_answered_and_tampering_or_replay_refused() {
    let (chain, mut enclave, _) = synced_at_block_one();
    let now = chain.node.head().timestamp;
    let alice = Pair::from_suri("//Alice").unwrap();

    let (bytes, q, key) = query(&enclave, &alice, now, [1; 16], WorkerQuery::Status);
    let reply = enclave.handle_query(&bytes).unwrap();
    let resp = QueryResponse::decode(&mut &reply[..]).unwrap();
    let result = resp.open(&enclave.identity(), &q.hash(), &key).unwrap().unwrap();
    let status = WorkerStatus::decode(&mut &result[..]).unwrap();
    assert_eq!(status.synced_number, 1);
    assert_eq!(status.asked_by, alice.public());

    // The same bytes again: a replay.
    assert!(
        matches!(enclave.handle_query(&bytes), Err(EnclaveError::QueryRejected(m)) if m.contains("replayed"))
    );
    // Tampered ciphertext.
    let (bytes, _, _) = query(&enclave, &alice, now, [2; 16], WorkerQuery::Echo(b"x".to_vec()));
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(enclave.handle_query(&tampered), Err(EnclaveError::QueryRejected(_))));
    // The genuine one (same nonce) still works: the tampered copy did not burn its nonce.
    assert!(enclave.handle_query(&bytes).is_ok());
    // Outside the time window.
    let (old, _, _) = query(&enclave, &alice, now - 10 * 60 * 1000, [3; 16], WorkerQuery::Status);
    assert!(matches!(enclave.handle_query(&old), Err(EnclaveError::QueryRejected(_))));
    // Addressed to another worker.
    let info = enclave.info();
    let other = Pair::from_suri("//Other").unwrap().public();
    let req = QueryRequest::new_signed(&alice, other, [4; 16], now, WorkerQuery::Status.encode());
    let (q, _) = EncryptedQuery::seal(&req, &info.ecdh).unwrap();
    assert!(matches!(
        enclave.handle_query(&q.encode()),
        Err(EnclaveError::QueryRejected(m)) if m.contains("another worker")
    ));
}

/// The attack: a query answered before a worker restart is replayed after it, within the time
/// window. The replay memory is part of the sealed checkpoint, so the restarted enclave refuses
/// it.
#[test]
fn a_query_replayed_after_a_restart_is_refused() {
    let (chain, mut enclave, sealed) = synced_at_block_one();
    let now = chain.node.head().timestamp;
    let alice = Pair::from_suri("//Alice").unwrap();
    let (bytes, _, _) = query(&enclave, &alice, now, [7; 16], WorkerQuery::Status);
    let recorded = enclave.queries_recorded();
    enclave.handle_query(&bytes).unwrap();
    assert_ne!(enclave.queries_recorded(), recorded, "the host sees it must checkpoint");
    let cp = enclave.checkpoint().unwrap();
    drop(enclave);

    let (mut again, _) =
        Enclave::init(platform(1), &chain.genesis(), Some(&sealed), Some(&cp)).unwrap();
    assert!(matches!(
        again.handle_query(&bytes),
        Err(EnclaveError::QueryRejected(m)) if m.contains("replayed")
    ));
    // A fresh query from the same origin is answered.
    let (fresh, _, _) = query(&again, &alice, now, [8; 16], WorkerQuery::Status);
    again.handle_query(&fresh).unwrap();
}

/// The attack: a client-chosen timestamp near `u64::MAX` overflowed the window check and
/// panicked while the host held the enclave lock. It is now a clear error, and the enclave keeps
/// answering.
#[test]
fn a_huge_query_timestamp_is_refused_without_a_panic() {
    let (chain, mut enclave, _) = synced_at_block_one();
    let now = chain.node.head().timestamp;
    let alice = Pair::from_suri("//Alice").unwrap();
    for ts in [u64::MAX, u64::MAX.saturating_sub(QUERY_MAX_SKEW_MS / 2), 9_223_372_036_854_775_807]
    {
        let (bytes, _, _) = query(&enclave, &alice, ts, [9; 16], WorkerQuery::Status);
        match enclave.handle_query(&bytes) {
            Err(EnclaveError::QueryRejected(m)) => assert!(m.contains("query timestamp"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let (bytes, _, _) = query(&enclave, &alice, now, [9; 16], WorkerQuery::Status);
    enclave.handle_query(&bytes).unwrap();
}

/// The attack: the worker crashes right after answering a query, before any checkpoint holds its
/// nonce, and the query is replayed after the restart. The sealed journal record the host stored
/// before the answer left restores the nonce; records of another enclave are skipped.
#[test]
fn a_query_replayed_after_a_crash_before_the_next_checkpoint_is_refused() {
    let (chain, mut enclave, sealed) = synced_at_block_one();
    let cp = enclave.checkpoint().unwrap();
    let now = chain.node.head().timestamp;
    let alice = Pair::from_suri("//Alice").unwrap();
    let (bytes, _, _) = query(&enclave, &alice, now, [5; 16], WorkerQuery::Status);
    enclave.handle_query(&bytes).unwrap();
    let journal = enclave.take_query_journal();
    assert_eq!(journal.len(), 1);
    assert!(enclave.take_query_journal().is_empty());
    drop(enclave);

    // Without the journal, the checkpoint from before the query would forget it.
    let (mut forgetful, _) =
        Enclave::init(platform(1), &chain.genesis(), Some(&sealed), Some(&cp)).unwrap();
    assert!(forgetful.handle_query(&bytes).is_ok(), "the gap the journal closes");

    let (mut again, _) =
        Enclave::init(platform(1), &chain.genesis(), Some(&sealed), Some(&cp)).unwrap();
    // Another enclave's record (another platform seals differently) and garbage are skipped.
    let (mut other, _) = Enclave::init(platform(2), &chain.genesis(), None, None).unwrap();
    feed(&mut other, &chain, 1).unwrap();
    let (foreign, _, _) = query(&other, &alice, now, [6; 16], WorkerQuery::Status);
    other.handle_query(&foreign).unwrap();
    let mut records = journal.clone();
    records.extend(other.take_query_journal());
    records.push(b"garbage".to_vec());
    assert_eq!(again.restore_query_journal(&records), (1, 2));
    assert!(matches!(
        again.handle_query(&bytes),
        Err(EnclaveError::QueryRejected(m)) if m.contains("replayed")
    ));
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Runs `rounds` benchmark rounds.
fn work(enclave: &mut Enclave, rounds: u32) {
    for _ in 0..rounds {
        assert!(enclave.benchmark_round());
    }
}

fn register_call(p: RegistrationPayload) -> Call {
    Call::Registry(registry::Call::RegisterWorker {
        identity: p.identity,
        ecdh: p.ecdh,
        attestation: p.attestation,
        operator: p.operator,
        benchmark: p.benchmark,
        benchmark_signature: p.benchmark_signature,
    })
}

#[test]
fn registers_on_a_real_chain_with_a_benchmark_measured_in_blocks() {
    let (chain, mut enclave, _) = synced_at_block_one();
    let operator = Pair::from_suri("//Dave").unwrap().public();
    assert!(!enclave.benchmark_round(), "no benchmark before a registration is asked for");
    // The first request starts the benchmark at the last verified block.
    assert_eq!(
        enclave.registration(&operator, wall_ms()).unwrap_err(),
        EnclaveError::BenchmarkRunning { blocks_left: 2 }
    );
    assert!(enclave.benchmark_running());
    work(&mut enclave, 4);
    for _ in 0..2 {
        let n = chain.author();
        feed(&mut enclave, &chain, n).unwrap();
        work(&mut enclave, 4);
    }
    let p = enclave.registration(&operator, wall_ms()).unwrap();
    let units = 12 * crate::benchmark::ROUND_UNITS;
    assert_eq!((p.benchmark.work, p.benchmark.start_number, p.benchmark.end_number), (units, 1, 3));
    assert_eq!(p.benchmark.end_hash, chain.node.block_hash(3).unwrap().unwrap());
    assert_eq!(p.operator, operator);
    chain.submit("//Dave", register_call(p));
    let n = chain.author();
    let w = chain.node.worker(&enclave.identity()).unwrap().expect("registered on chain");
    assert_eq!(w.operator, operator);
    // Work per chain block from the start block to the registering block (3 blocks), / 100.
    assert_eq!(w.benchmark_score, units / 3 / registry::WORK_UNITS_PER_POINT);
    feed(&mut enclave, &chain, n).unwrap();
    assert!(enclave.info().registered);
    assert!(!enclave.benchmark_running(), "the benchmark stops once registered");
    assert!(!enclave.benchmark_round());
}

#[test]
fn a_fast_host_clock_gains_nothing() {
    // Two enclaves do the same work between the same verified blocks; one host's clock runs
    // 100x fast. The enclave reads no clock for the benchmark, so both report the same work
    // over the same blocks: the same score. (Under the old design, the score was work divided
    // by time the host measured, and a 100x clock gave a 100x score.)
    let chain = Chain::new();
    chain.author();
    let operator = Pair::from_suri("//Dave").unwrap().public();
    let (mut normal, _) = Enclave::init(platform(1), &chain.genesis(), None, None).unwrap();
    let (mut fast, _) = Enclave::init(platform(2), &chain.genesis(), None, None).unwrap();
    let t0 = wall_ms();
    let fast_clock = |real: u64| t0.saturating_add(real.saturating_sub(t0).saturating_mul(100));
    for e in [&mut normal, &mut fast] {
        feed(e, &chain, 1).unwrap();
        assert!(e.registration(&operator, t0).is_err());
    }
    for _ in 0..2 {
        let n = chain.author();
        for e in [&mut normal, &mut fast] {
            feed(e, &chain, n).unwrap();
            work(e, 3);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let a = normal.registration(&operator, wall_ms()).unwrap();
    let b = fast.registration(&operator, fast_clock(wall_ms())).unwrap();
    assert_eq!(a.benchmark.work, b.benchmark.work);
    assert_eq!((a.benchmark.start_number, a.benchmark.end_number), (1, 3));
    assert_eq!((b.benchmark.start_number, b.benchmark.end_number), (1, 3));
    let cap = ChainSpec::dev().genesis.registry.policy.max_benchmark_score;
    assert_eq!(a.benchmark.score_at(4, cap), b.benchmark.score_at(4, cap));
    assert!(b.benchmark.score_at(4, cap) <= cap);
}
