//! Workers end to end, as real processes on loopback: a simulated worker registering on a real
//! node, forged attestations refused by the real chain, crash recovery from a sealed checkpoint,
//! encrypted queries over HTTP, a chain → enclave → chain ping, and `umbra dev` as a whole.

mod common;

use std::{
    fs::File,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::{worker::*, *};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use umbra_client::{cli::failure_reason, worker as wclient, Client, Inclusion};
use umbra_crypto::{EcdhPublic, EcdhSecret};
use umbra_primitives::{
    json::to_hex,
    query::{EncryptedQuery, QueryRequest, QueryResponse, WorkerQuery, WorkerStatus},
    simulated_enclave_measurement, simulated_enclave_signer, AccountId, Pair, Public, H256,
};
use umbra_runtime::{
    registry::{self, expected_report_data, BenchmarkReport},
    Call,
};
use umbra_tee::{dev_vendor_root, Attestation, Platform, SimulatedPlatform};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

fn ss58(uri: &str) -> String {
    pair(uri).public().to_ss58()
}

fn account(text: &str) -> AccountId {
    text.parse().unwrap_or_else(|e| panic!("`{text}` is not an address: {e:?}"))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&random_u64().to_le_bytes()[..chunk.len()]);
    }
    out
}

/// The registry entries on chain (`umbra_workers`).
fn workers_on_chain(node: &TestNode) -> Vec<Value> {
    node.rpc("umbra_workers", json!([])).as_array().expect("umbra_workers is a list").clone()
}

/// `umbra_worker(identity)`: the entry, or JSON null.
fn worker_on_chain(node: &TestNode, identity: &str) -> Value {
    node.rpc("umbra_worker", json!([identity]))
}

// ---------------------------------------------------------------------------------------------
// 1. Registration of a real worker process
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_worker_registers_with_its_attested_facts_and_follows_the_chain() {
    let node = TestNode::dev();
    let worker = TestWorker::start(&node, "bob", "//Bob");
    let identity = worker.identity();

    let entry = wait_for(REGISTRATION_TIMEOUT, "umbra_workers to list the worker", || {
        workers_on_chain(&node).into_iter().find(|w| w["identity"] == json!(identity))
    });
    assert_eq!(workers_on_chain(&node).len(), 1, "exactly one worker registered");
    assert_eq!(entry["platform"], json!("Simulated"), "{entry}");
    assert_eq!(entry["insecure"], json!(true), "{entry}");
    assert_eq!(entry["operator"], json!(ss58("//Bob")), "{entry}");
    assert_eq!(entry["measurement"], json!(to_hex(&simulated_enclave_measurement())), "{entry}");
    assert_eq!(entry["tcbStatus"], json!("Simulated"), "{entry}");
    assert!(entry["registeredAt"].as_u64().is_some_and(|n| n >= 1), "{entry}");
    // The benchmark was measured in chain blocks: some work per block, within the dev cap.
    let cap = umbra_node::ChainSpec::dev().genesis.registry.policy.max_benchmark_score;
    assert!(entry["benchmarkScore"].as_u64().is_some_and(|s| s >= 1 && s <= cap), "{entry}");
    assert_eq!(worker_on_chain(&node, &identity), entry, "umbra_worker agrees with umbra_workers");

    // The enclave sees its own registration in a block its light client verified.
    let deadline = Instant::now() + REGISTRATION_TIMEOUT;
    let info = loop {
        let info = wclient::info(&worker.url())
            .await
            .expect("GET /info through umbra_client::worker::info");
        if info["registered"] == json!(true) {
            break info;
        }
        assert!(Instant::now() < deadline, "/info never said registered: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let head = node.head_number();
    assert_eq!(info["identity"], json!(identity));
    assert_eq!(info["ecdh"], entry["ecdh"], "the chain holds the enclave's ECDH key");
    assert_eq!(info["platform"], json!("Simulated"));
    assert_eq!(info["insecure"], json!(true));
    assert_eq!(info["measurement"], entry["measurement"]);
    assert_eq!(info["operator"], json!(ss58("//Bob")));
    assert_eq!(info["genesisHash"], json!(node.genesis_hash()));
    let synced = info["syncedNumber"].as_u64().expect("syncedNumber");
    assert!(synced <= head, "synced #{synced} is ahead of the head #{head}");
    assert!(
        head - synced <= 12,
        "synced #{synced} lags the head #{head} by more than 12 blocks (3 s)"
    );
    assert!(
        synced >= entry["registeredAt"].as_u64().unwrap(),
        "the enclave saw the registration block"
    );
    assert_eq!(
        info["syncedHash"].as_str(),
        node.block_hash(synced).as_deref(),
        "the enclave follows the node's chain (same hash at #{synced})"
    );
    assert!(worker.log().contains("worker registered on chain"), "{}", worker.log());

    // It keeps following the chain, staying close to the head the whole time.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(400));
        let synced = worker.synced();
        let now = node.head_number();
        assert!(
            now - synced.min(now) <= 12,
            "synced #{synced} lags the head #{now} by more than 12 blocks (3 s)"
        );
    }
    assert!(worker.synced() > head, "the worker kept syncing past #{head}");
}

// ---------------------------------------------------------------------------------------------
// 2. Forged attestations through the real chain
// ---------------------------------------------------------------------------------------------

/// Fresh enclave keys: an identity key pair and an ECDH public key.
fn enclave_keys() -> (Pair, EcdhPublic) {
    (Pair::from_seed(&random_bytes::<32>()), EcdhSecret::generate().public())
}

/// A simulated platform with a fresh host seed.
fn platform(vendor_root: &Pair, measurement: [u8; 32]) -> SimulatedPlatform {
    SimulatedPlatform::new(
        random_bytes::<32>(),
        vendor_root,
        measurement,
        simulated_enclave_signer(),
    )
}

/// A benchmark over the chain's current head block (a recent block hash, as an enclave binds).
async fn recent_benchmark(client: &Client) -> BenchmarkReport {
    let head = client.head().await.expect("head");
    BenchmarkReport {
        work: 10_000,
        start_number: head.number,
        start_hash: head.hash(),
        end_number: head.number,
        end_hash: head.hash(),
    }
}

/// `registry::register_worker` for `identity`/`ecdh` with `attestation`, naming `operator`,
/// signed by the identity over `operator` and `benchmark`.
fn register_call(
    identity: &Pair,
    ecdh: EcdhPublic,
    attestation: Attestation,
    operator: AccountId,
    genesis: H256,
    benchmark: &BenchmarkReport,
) -> Call {
    let benchmark = benchmark.clone();
    let benchmark_signature =
        identity.sign(&benchmark.signing_payload(&genesis, &identity.public(), &operator));
    Call::Registry(registry::Call::RegisterWorker {
        identity: identity.public(),
        ecdh,
        attestation,
        operator,
        benchmark,
        benchmark_signature,
    })
}

async fn submit(client: &Client, signer: &Pair, call: Call) -> Inclusion {
    client.sign_and_watch(signer, call, 0).await.expect("the registration extrinsic is included")
}

fn assert_refused(
    node: &TestNode,
    inclusion: &Inclusion,
    expected: &str,
    identity: &Pair,
    case: &str,
) {
    assert!(!inclusion.success, "{case}: registration should fail, events: {:?}", inclusion.events);
    assert_eq!(
        failure_reason(inclusion).as_deref(),
        Some(expected),
        "{case}: events {:?}",
        inclusion.events
    );
    assert!(
        !inclusion.events.iter().any(|e| e.get("Registry").is_some()),
        "{case}: no registry event on failure: {:?}",
        inclusion.events
    );
    assert!(
        worker_on_chain(node, &identity.public().to_ss58()).is_null(),
        "{case}: nothing registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_attestations_are_refused_by_the_chain_and_register_nothing() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    let genesis = client.genesis_hash();
    let operator = pair("//Dave");
    let good_measurement = simulated_enclave_measurement();
    let dev_root = dev_vendor_root();
    let bench = recent_benchmark(&client).await;

    // Each case quotes fresh enclave keys on a platform certified by `root` with `measurement`,
    // binding `report_genesis`, dated `quoted_at`, and submits the registration for `operator`.
    let refused =
        |root: Pair, measurement, report_genesis: H256, quoted_at: u64, expected, case| {
            let (client, node, operator, bench) = (&client, &node, &operator, &bench);
            async move {
                let (id, ecdh) = enclave_keys();
                let report = expected_report_data(
                    &id.public(),
                    &ecdh,
                    &report_genesis,
                    &operator.public(),
                    bench,
                );
                let att = platform(&root, measurement).quote(&report, quoted_at).unwrap();
                let call = register_call(&id, ecdh, att, operator.public(), genesis, bench);
                let inc = submit(client, operator, call).await;
                assert_refused(node, &inc, expected, &id, case);
            }
        };
    // Unknown vendor root: a platform certified by a root the chain does not trust.
    let rogue_root = pair("//NotTheUmbraVendorRoot");
    refused(
        rogue_root,
        good_measurement,
        genesis,
        now_ms(),
        "registry::UnknownVendorRoot",
        "wrong vendor root",
    )
    .await;
    // A measurement not on the allow-list.
    refused(
        dev_root.clone(),
        [0x42; 32],
        genesis,
        now_ms(),
        "registry::MeasurementNotAllowed",
        "wrong measurement",
    )
    .await;
    // Report data binding the keys to another chain (a real genesis hash of another spec).
    let mut other = umbra_node::ChainSpec::dev();
    other.genesis_timestamp = 1;
    let other_genesis = other.genesis_hash().expect("other genesis");
    assert_ne!(other_genesis, genesis);
    refused(
        dev_root.clone(),
        good_measurement,
        other_genesis,
        now_ms(),
        "registry::ReportDataMismatch",
        "report data of another chain",
    )
    .await;
    // A quote from 11 minutes ago (the dev chain accepts 10).
    refused(
        dev_root.clone(),
        good_measurement,
        genesis,
        now_ms() - 11 * 60 * 1000,
        "registry::StaleAttestation",
        "stale quote",
    )
    .await;

    assert!(workers_on_chain(&node).is_empty(), "no refused registration left a worker behind");

    // The genuine registration, built the same way, succeeds: the harness is right.
    let (id, ecdh) = enclave_keys();
    let att = platform(&dev_root, good_measurement)
        .quote(
            &expected_report_data(&id.public(), &ecdh, &genesis, &operator.public(), &bench),
            now_ms(),
        )
        .unwrap();

    // Front-running: someone copies the pending registration and names themselves. The quote
    // binds the operator, so the copy is refused and the genuine one still goes through.
    let thief = pair("//Eve");
    let mut copied = register_call(&id, ecdh, att.clone(), operator.public(), genesis, &bench);
    if let Call::Registry(registry::Call::RegisterWorker { operator, .. }) = &mut copied {
        *operator = thief.public();
    }
    let inc = submit(&client, &thief, copied).await;
    assert_refused(&node, &inc, "registry::ReportDataMismatch", &id, "copied registration");

    let inc = submit(
        &client,
        &operator,
        register_call(&id, ecdh, att.clone(), operator.public(), genesis, &bench),
    )
    .await;
    assert!(inc.success, "genuine registration: {:?}", inc.events);
    assert!(
        inc.events.iter().any(|e| e["Registry"].get("WorkerRegistered").is_some()),
        "WorkerRegistered event: {:?}",
        inc.events
    );
    let identity = id.public().to_ss58();
    let entry = worker_on_chain(&node, &identity);
    assert_eq!(entry["operator"], json!(operator.public().to_ss58()), "{entry}");
    assert_eq!(entry["ecdh"], json!(to_hex(&ecdh.0)), "{entry}");
    assert_eq!(entry["registeredAt"], json!(inc.block_number), "{entry}");
    assert_eq!(workers_on_chain(&node).len(), 1);

    // Replaying that attestation (someone who saw it on chain tries to take the worker over for
    // their own operator account) is refused, and the entry is untouched.
    let inc =
        submit(&client, &thief, register_call(&id, ecdh, att, thief.public(), genesis, &bench))
            .await;
    assert!(!inc.success, "replayed attestation should fail: {:?}", inc.events);
    assert_eq!(
        failure_reason(&inc).as_deref(),
        Some("registry::AttestationReused"),
        "{:?}",
        inc.events
    );
    assert_eq!(worker_on_chain(&node, &identity), entry, "the replay changed nothing");
    assert_eq!(workers_on_chain(&node).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Crash recovery
// ---------------------------------------------------------------------------------------------

#[test]
fn worker_killed_with_sigkill_resumes_from_its_sealed_checkpoint_without_registering_again() {
    let node = TestNode::dev();
    let mut worker = TestWorker::start(&node, "bob", "//Bob");
    let identity = worker.wait_registered(&node);
    let entry = worker_on_chain(&node, &identity);

    // The relayer seals a checkpoint every CHECKPOINT_EVERY blocks; wait for the first one.
    let checkpoint = worker.base_path().join(umbra_worker::files::CHECKPOINT_FILE);
    wait_for(Duration::from_secs(60), "the first sealed checkpoint", || {
        checkpoint.exists().then_some(())
    });
    let synced_before = worker.synced();
    assert!(synced_before >= umbra_worker::relay::CHECKPOINT_EVERY, "synced #{synced_before}");

    worker.kill();
    let head_at_restart = node.wait_blocks(8);
    worker.restart();

    let info = worker.info();
    assert_eq!(info["identity"], json!(identity), "same identity after the crash");
    assert_eq!(info["registered"], json!(true), "the checkpoint remembers the registration");
    let log = worker.log();
    assert!(log.contains("enclave resumed from sealed checkpoint"), "restart log:\n{log}");
    assert!(!log.contains("enclave started from genesis"), "restart log:\n{log}");

    // It keeps syncing: past the head at restart, and then further (two relay rounds, so the
    // first round's registration check, including any submission, is over).
    let caught_up =
        wait_for(Duration::from_secs(30), "the worker to catch up after the restart", || {
            let s = worker.synced();
            (s >= head_at_restart).then_some(s)
        });
    assert!(caught_up > synced_before);
    node.wait_blocks(3);
    wait_for(Duration::from_secs(30), "the worker to keep syncing", || {
        (worker.synced() > caught_up).then_some(())
    });

    let all = workers_on_chain(&node);
    assert_eq!(all.len(), 1, "one registry entry, no duplicate: {all:?}");
    assert_eq!(all[0]["identity"], json!(identity));
    assert_eq!(all[0]["registeredAt"], entry["registeredAt"], "registered_at unchanged");
    assert_eq!(all[0]["updatedAt"], entry["updatedAt"], "not even re-registered");
    assert!(!worker.log().contains("worker registered on chain"), "{}", worker.log());
}

// ---------------------------------------------------------------------------------------------
// 4. Encrypted queries over HTTP
// ---------------------------------------------------------------------------------------------

fn sealed_query(
    signer: &Pair,
    to: Public,
    ecdh: &EcdhPublic,
    body: WorkerQuery,
) -> (EncryptedQuery, [u8; 32]) {
    let request =
        QueryRequest::new_signed(signer, to, random_bytes::<16>(), now_ms(), body.encode());
    EncryptedQuery::seal(&request, ecdh).expect("seal query")
}

fn post_query(worker: &TestWorker, bytes: &[u8]) -> (u16, Vec<u8>) {
    http_request(worker.port(), "POST", "/query", bytes).expect("POST /query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_queries_are_answered_signed_and_refused_when_tampered_or_replayed() {
    let node = TestNode::dev();
    let alpha = TestWorker::start(&node, "alpha", "//Bob");
    let beta = TestWorker::start(&node, "beta", "//Charlie");
    let alpha_id: Public = account(&alpha.wait_registered(&node));
    let beta_id: Public = account(&beta.wait_registered(&node));
    assert_ne!(alpha_id, beta_id);

    let client = Client::connect(&node.url()).await.expect("connect");
    let keys = wclient::registered_keys(&client, &alpha_id).await.expect("alpha's registered keys");
    let beta_keys =
        wclient::registered_keys(&client, &beta_id).await.expect("beta's registered keys");
    let signer = pair("//Ferdie");

    // Status, through the client library (which checks the reply against the registry).
    let answer = wclient::query(&alpha.url(), &keys, &signer, WorkerQuery::Status.encode())
        .await
        .expect("status query");
    let status = WorkerStatus::decode(&mut &answer[..]).expect("a WorkerStatus");
    assert_eq!(status.asked_by, signer.public(), "the enclave authenticated the signer");
    assert_eq!(status.identity, alpha_id);
    assert!(status.registered);
    assert!(status.synced_number >= 1);

    // Echo round trip.
    let text = format!("hello enclave {}", random_u64());
    let answer = wclient::query(
        &alpha.url(),
        &keys,
        &signer,
        WorkerQuery::Echo(text.clone().into_bytes()).encode(),
    )
    .await
    .expect("echo query");
    assert_eq!(String::from_utf8(answer).unwrap(), text);

    // Raw bytes over HTTP. One flipped ciphertext byte: 400 with a message.
    let (query, key) = sealed_query(&signer, alpha_id, &keys.ecdh, WorkerQuery::Status);
    let mut tampered = query.clone();
    tampered.sealed.ciphertext[5] ^= 0x01;
    let (code, body) = post_query(&alpha, &tampered.encode());
    assert_eq!(code, 400, "the tampered query was answered ({} bytes)", body.len());
    let message = String::from_utf8_lossy(&body);
    assert!(message.contains("cannot decrypt query"), "tampered query message: {message}");

    // The untampered query (same nonce) is still fresh: 200 and a reply signed by alpha.
    let (code, body) = post_query(&alpha, &query.encode());
    assert_eq!(code, 200, "valid query: {}", String::from_utf8_lossy(&body));
    let reply = QueryResponse::decode(&mut &body[..]).expect("a QueryResponse");
    let opened = reply
        .open(&alpha_id, &query.hash(), &key)
        .expect("signed by alpha")
        .expect("no enclave error");
    assert_eq!(WorkerStatus::decode(&mut &opened[..]).unwrap().asked_by, signer.public());

    // Checked against the wrong identity (beta, another registered worker), the reply fails.
    let err = reply
        .open(&beta_keys.identity, &query.hash(), &key)
        .expect_err("beta did not sign alpha's reply");
    assert!(err.contains("not signed"), "{err}");

    // The exact same bytes again: a replay.
    let (code, body) = post_query(&alpha, &query.encode());
    assert_eq!(code, 400, "the replayed query was answered ({} bytes)", body.len());
    let message = String::from_utf8_lossy(&body);
    assert!(message.contains("replayed query nonce"), "replay message: {message}");

    // A query sealed to alpha but addressed to beta is refused by alpha.
    let (misaddressed, _) = sealed_query(&signer, beta_id, &keys.ecdh, WorkerQuery::Status);
    let (code, body) = post_query(&alpha, &misaddressed.encode());
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("addressed to another worker"));

    // A query sealed to beta's key cannot be opened by alpha.
    let (for_beta, _) = sealed_query(&signer, beta_id, &beta_keys.ecdh, WorkerQuery::Status);
    let (code, body) = post_query(&alpha, &for_beta.encode());
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("cannot decrypt query"));

    // Garbage is refused, not crashed on; alpha still answers afterwards.
    let (code, _) = post_query(&alpha, b"not a query");
    assert_eq!(code, 400);
    wclient::query(&alpha.url(), &keys, &signer, WorkerQuery::Status.encode())
        .await
        .expect("alpha still answers");
}

/// The attacks: a captured query is replayed after the worker is killed (SIGKILL) right after
/// answering it and restarted, within the query's time window; and a query with an absurd
/// timestamp tries to overflow the window check (it used to panic while holding the enclave
/// lock). The query's sealed replay record is journaled before the answer leaves (and the replay
/// memory is in every checkpoint), so the restarted worker refuses the replay; the timestamp is
/// a clear 400, and the worker keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_replayed_after_a_worker_restart_is_refused() {
    let node = TestNode::dev();
    let mut worker = TestWorker::start(&node, "gamma", "//Bob");
    let id: Public = account(&worker.wait_registered(&node));
    let client = Client::connect(&node.url()).await.expect("connect");
    let keys = wclient::registered_keys(&client, &id).await.expect("registered keys");
    let signer = pair("//Ferdie");

    // A huge timestamp: refused with a clear message, no panic.
    let request = QueryRequest::new_signed(
        &signer,
        id,
        random_bytes::<16>(),
        u64::MAX,
        WorkerQuery::Status.encode(),
    );
    let (huge, _) = EncryptedQuery::seal(&request, &keys.ecdh).expect("seal query");
    let (code, body) = post_query(&worker, &huge.encode());
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("query timestamp"), "{body:?}");

    let checkpoint = worker.base_path().join(umbra_worker::files::CHECKPOINT_FILE);
    wait_for(Duration::from_secs(60), "the first sealed checkpoint", || {
        checkpoint.exists().then_some(())
    });
    let (query, _) = sealed_query(&signer, id, &keys.ecdh, WorkerQuery::Status);
    let (code, body) = post_query(&worker, &query.encode());
    assert_eq!(code, 200, "fresh query: {}", String::from_utf8_lossy(&body));
    // Killed right after the answer, before any later checkpoint: the journal written before the
    // answer left carries its replay record.
    worker.kill();
    worker.restart();
    assert!(worker.log().contains("enclave resumed from sealed checkpoint"), "{}", worker.log());
    let (code, body) = post_query(&worker, &query.encode());
    let message = String::from_utf8_lossy(&body);
    assert_eq!(code, 400, "the replay after restart was answered: {message}");
    assert!(message.contains("replayed query nonce"), "replay message: {message}");
    wclient::query(&worker.url(), &keys, &signer, WorkerQuery::Status.encode())
        .await
        .expect("a fresh query is still answered");
}

// ---------------------------------------------------------------------------------------------
// 5. Chain → enclave → chain
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_through_the_chain_is_answered_by_the_enclave() {
    let node = TestNode::dev();
    let worker = TestWorker::start(&node, "bob", "//Bob");
    let identity = worker.wait_registered(&node);

    let run = node.cli(&["worker", "ping", &identity, "--from", "//Alice", "--timeout", "45"]);
    let out = run.ok();
    assert!(
        out.contains(&format!("pong from {identity}")),
        "ping output:\n{out}\nstderr:\n{}",
        run.stderr
    );
    assert!(out.contains("ping sent in block #"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 6. `umbra dev`
// ---------------------------------------------------------------------------------------------

/// A running `umbra dev`; SIGKILLed on drop (its children get SIGTERM from the kernel).
struct DevNet {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl DevNet {
    fn start(base: &Path, rpc_port: u16, query_port: u16) -> DevNet {
        let log = base.with_extension("log");
        let file = File::create(&log).expect("create dev log");
        let child = Command::new(bin())
            .args(["dev", "--workers", "2", "--base-path"])
            .arg(base)
            .args(["--rpc-port", &rpc_port.to_string(), "--query-port", &query_port.to_string()])
            .args(["--block-time-ms", "300"])
            .env_remove("RUST_LOG")
            .env_remove("UMBRA_RPC")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone"))
            .stderr(file)
            .spawn()
            .expect("spawn umbra dev");
        DevNet { child: Some(child), log }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("umbra dev exited ({status}):\n{}", self.log());
        }
    }
}

impl Drop for DevNet {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            print_tail(&self.log, 40);
            let logs = self.log.with_extension("").join("logs");
            for name in ["node", "worker-0", "worker-1"] {
                print_tail(&logs.join(format!("{name}.log")), 20);
            }
        }
    }
}

#[test]
fn umbra_dev_runs_a_node_and_two_registered_workers_and_stops_them_all_on_sigterm() {
    let dir = tempfile::Builder::new().prefix("umbra-it-dev-").tempdir().expect("tempdir");
    let base = dir.path().join("net");
    let rpc_port = free_port();
    let query_port = free_port_pair();
    let mut dev = DevNet::start(&base, rpc_port, query_port);

    let workers = wait_for(Duration::from_secs(90), "both dev workers to register", || {
        dev.assert_running();
        let resp = http_rpc(rpc_port, "umbra_workers", json!([])).ok()?;
        let list = resp["result"].as_array()?.clone();
        (list.len() >= 2).then_some(list)
    });
    assert_eq!(workers.len(), 2, "{workers:?}");
    assert_ne!(workers[0]["identity"], workers[1]["identity"], "distinct identities");
    let mut operators: Vec<&str> =
        workers.iter().map(|w| w["operator"].as_str().unwrap()).collect();
    operators.sort();
    let mut expected = vec![BOB.to_string(), ss58("//Charlie")];
    expected.sort();
    assert_eq!(operators, expected, "dev workers are operated by //Bob and //Charlie");

    // Both query endpoints answer, each for one of the registered identities.
    let mut seen = Vec::new();
    for port in [query_port, query_port + 1] {
        let info =
            wait_for(Duration::from_secs(30), &format!("/info on port {port}"), || try_info(port));
        assert!(workers.iter().any(|w| w["identity"] == info["identity"]), "{info} is registered");
        seen.push(info["identity"].clone());
    }
    assert_ne!(seen[0], seen[1]);

    // Its children: one node and two workers, all under the base path.
    let children = children_of(dev.pid());
    let count = |what: &str| children.iter().filter(|(_, c)| c.contains(what)).count();
    assert_eq!((count(" node "), count(" worker ")), (1, 2), "children of umbra dev: {children:?}");
    let needle = base.display().to_string();
    assert_eq!(pids_with_cmdline_containing(&needle).len(), 4, "umbra dev and its three children");

    // SIGTERM: everything stops within 15 s.
    let pid = dev.pid() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "send SIGTERM");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = dev.child.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "umbra dev still running 15 s after SIGTERM:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "umbra dev exit status {status}:\n{}", dev.log());
    let log = dev.log();
    assert!(log.contains("stopping the network"), "{log}");
    for name in ["node", "worker-0", "worker-1"] {
        assert!(log.contains(&format!("{name} stopped")), "{name} stopped gracefully:\n{log}");
    }
    assert!(!log.contains("killed after the grace period"), "{log}");

    let left = pids_with_cmdline_containing(&needle);
    assert!(left.is_empty(), "processes of the dev network left running: {left:?}");
    for (child, cmdline) in &children {
        assert!(
            !Path::new(&format!("/proc/{child}")).exists(),
            "child {child} ({cmdline}) still exists"
        );
    }
    assert!(!port_accepts(rpc_port), "the node's RPC port still accepts connections");
    assert!(
        http_rpc(rpc_port, "chain_getBlockHash", json!([0])).is_err(),
        "the node still answers RPC"
    );
    for port in [query_port, query_port + 1] {
        assert!(!port_accepts(port), "query port {port} still accepts connections");
    }
}
