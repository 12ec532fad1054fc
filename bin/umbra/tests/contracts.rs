//! Gatekeepers and confidential contracts end to end, with real processes on loopback: a
//! gatekeeper creates the master key, a guestbook is deployed and assigned to random workers,
//! encrypted commands run and queries are answered only by assigned workers, the plaintext never
//! reaches the chain's storage, a tampered command fails without changing state, another
//! account's ciphertext re-pushed as one's own fails without changing state, a forged gatekeeper
//! message is refused, and after the assigned worker is killed, the latest off-chain checkpoint
//! corrupted and the contract reshuffled, the new assignee falls back to an older checkpoint and
//! rebuilds the identical state.

mod common;

use std::time::Duration;

/// Gas limit of the guestbook commands pushed by hand (above the fixed schedule of a short post).
const GUESTBOOK_GAS: u64 = 100_000;

use common::{worker::*, *};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use umbra_client::{worker as wclient, Client};
use umbra_contracts::{
    guestbook::{GuestbookCommand, GuestbookQuery, GuestbookResponse},
    ContractId,
};
use umbra_crypto::{EcdhPublic, EcdhSecret};
use umbra_primitives::{
    mq::{topics, SignedMessage},
    query::WorkerQuery,
    simulated_enclave_measurement, simulated_enclave_signer, AccountId, Pair, H256,
};
use umbra_runtime::{
    contracts, mq,
    registry::{self, expected_report_data, BenchmarkReport},
    Call,
};
use umbra_tee::{dev_vendor_root, Platform, SimulatedPlatform};

const MARKER: &str = "PLAINTEXT-MARKER-7f3a9c";
const TITLE: &str = "guestbook-title-5d1e";

fn node_for_contracts() -> TestNode {
    let mut spec = dev_spec_json();
    spec["genesis"]["computation"]["meanChallengeInterval"] = json!(6);
    spec["genesis"]["computation"]["heartbeatWindow"] = json!(16);
    spec["genesis"]["computation"]["coolDownBlocks"] = json!(8);
    spec["genesis"]["contracts"]["assignmentSize"] = json!(2);
    spec["genesis"]["contracts"]["reshufflePeriod"] = json!(24);
    spec["genesis"]["contracts"]["checkpointInterval"] = json!(3);
    TestNode::start_with_spec(&spec)
}

fn identity_of(w: &TestWorker) -> String {
    try_info(w.port()).expect("worker info")["identity"].as_str().expect("identity").to_string()
}

fn contract_info(node: &TestNode, id: &str) -> Value {
    node.rpc("umbra_contract", json!([id]))
}

fn assigned(node: &TestNode, id: &str) -> Vec<String> {
    serde_json::from_value(contract_info(node, id)["assigned"].clone()).unwrap_or_default()
}

/// Waits until the chain has a result for every command of the contract.
fn wait_executed(node: &TestNode, id: &str) -> Value {
    wait_for(Duration::from_secs(60), "every command executed", || {
        let c = contract_info(node, id);
        (c["executed"] == c["commands"]).then_some(c)
    })
}

async fn query(
    w: &TestWorker,
    node: &TestNode,
    signer: &Pair,
    body: WorkerQuery,
) -> Result<Vec<u8>, String> {
    let chain = Client::connect(&node.url()).await.unwrap();
    let identity: AccountId = identity_of(w).parse().unwrap();
    let keys = wclient::registered_keys(&chain, &identity).await.map_err(|e| e.to_string())?;
    wclient::query(&w.url(), &keys, signer, body.encode()).await.map_err(|e| e.to_string())
}

async fn posts(w: &TestWorker, node: &TestNode, id: ContractId) -> Result<Vec<String>, String> {
    let q =
        WorkerQuery::Contract { id, query: GuestbookQuery::Posts { from: 0, limit: 100 }.encode() };
    let bytes = query(w, node, &pair("//Alice"), q).await?;
    match GuestbookResponse::decode(&mut &bytes[..]).map_err(|e| e.to_string())? {
        GuestbookResponse::Posts(p) => Ok(p.into_iter().map(|p| p.text).collect()),
        other => Err(format!("unexpected {other:?}")),
    }
}

async fn state_of(w: &TestWorker, node: &TestNode, id: ContractId) -> Result<(u64, H256), String> {
    let bytes = query(w, node, &pair("//Alice"), WorkerQuery::ContractState { id }).await?;
    <(u64, H256)>::decode(&mut &bytes[..]).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confidential_contract_lifecycle() {
    let node = node_for_contracts();
    let (mut workers, ids) = computing_workers(&node, 3).await;
    let client = Client::connect(&node.url()).await.unwrap();

    // Deploying before any gatekeeper exists is refused.
    let early = node.cli(&["contract", "deploy", "--from", "//Dave"]);
    assert!(early.one_line_error().contains("NoMasterKey"), "{}", early.stderr);

    // The council elects w0; its enclave creates the master key and publishes its public part.
    let gks = elect_gatekeeper(&node, &ids[0]);
    assert_eq!(gks["gatekeepers"], json!([ids[0]]));

    // Deploy with an encrypted init; the gatekeeper publishes the contract key.
    let init = json!({"Init": {"title": TITLE}}).to_string();
    let run = node.cli(&["contract", "deploy", "--from", "//Dave", "--init", &init]);
    let out = run.ok();
    let cid_text = out
        .lines()
        .find_map(|l| l.strip_prefix("contract ")?.split_whitespace().next())
        .expect("contract id")
        .to_string();
    let cid: ContractId = cid_text.parse().unwrap();
    assert!(out.contains("Contracts.CommandExecuted"), "{out}");
    let first = assigned(&node, &cid_text);
    assert_eq!(first.len(), 2, "assigned to K = 2 workers");
    assert!(first.iter().all(|w| ids.contains(w)));

    // Encrypted commands run; assigned workers answer queries; the others cannot.
    for i in 0..4 {
        let post = json!({"Post": {"text": format!("{MARKER} #{i}")}}).to_string();
        let run = node.cli(&["contract", "command", &cid_text, "--from", "//Eve", "--json", &post]);
        assert!(run.ok().contains("Contracts.CommandExecuted"), "{}", run.stdout);
    }
    let record = wait_executed(&node, &cid_text);
    let by_id = |id: &str| ids.iter().position(|w| w == id).unwrap();
    // Reshuffles happen every 24 blocks; check within one epoch (retry if one slips in between).
    let (a0, texts) = loop {
        let epoch = contract_info(&node, &cid_text)["epoch"].clone();
        let chosen = assigned(&node, &cid_text);
        let a0 = by_id(&chosen[0]);
        let texts = posts(&workers[a0], &node, cid).await;
        let outsider = (0..3).find(|i| !chosen.contains(&ids[*i])).unwrap();
        let refused = posts(&workers[outsider], &node, cid).await;
        if contract_info(&node, &cid_text)["epoch"] != epoch {
            continue;
        }
        let texts = texts.expect("an assigned worker answers");
        let refused = refused.expect_err("a worker that is not assigned has no key and no state");
        assert!(refused.contains("does not run that contract"), "{refused}");
        break (a0, texts);
    };
    assert_eq!(texts.len(), 4);
    assert!(texts[0].starts_with(MARKER));
    let (next, hash) = state_of(&workers[a0], &node, cid).await.unwrap();
    assert_eq!(next, record["commands"].as_u64().unwrap());
    assert_eq!(serde_json::to_value(hash).unwrap(), record["stateHash"]);
    assert!(record["checkpoint"].is_object(), "a checkpoint was committed: {record}");

    // A tampered command: an error event and no state change.
    let before = contract_info(&node, &cid_text);
    let key = hex::decode(before["pubkey"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let contract_key = EcdhPublic(key.try_into().unwrap());
    let mut sealed = umbra_contracts::seal_command(
        &contract_key,
        &cid,
        &pair("//Eve").public(),
        &GuestbookCommand::Post { text: "tampered".into() }.encode(),
    )
    .unwrap();
    sealed.ciphertext[0] ^= 1;
    let pushed = included_ok(
        &client,
        &pair("//Eve"),
        Call::Contracts(contracts::Call::PushCommand {
            contract: cid,
            command: sealed,
            value: 0,
            gas_limit: GUESTBOOK_GAS,
        }),
    )
    .await;
    let seq =
        pushed.events.iter().find_map(|e| e["Contracts"]["CommandPushed"]["seq"].as_u64()).unwrap();
    let after = wait_executed(&node, &cid_text);
    assert_eq!(after["stateHash"], before["stateHash"], "a tampered command changes nothing");
    let reason = failure_of(&node, pushed.block_number, seq)
        .expect("a CommandFailed event for the tampered command");
    assert!(reason.contains("cannot open command"), "{reason}");

    // Eve's command runs for Eve; the same ciphertext re-pushed by Ferdie as his own fails and
    // changes nothing (the sealing binds the origin the chain records).
    let eves = umbra_contracts::seal_command(
        &contract_key,
        &cid,
        &pair("//Eve").public(),
        &GuestbookCommand::Post { text: "eve's own words".into() }.encode(),
    )
    .unwrap();
    included_ok(
        &client,
        &pair("//Eve"),
        Call::Contracts(contracts::Call::PushCommand {
            contract: cid,
            command: eves.clone(),
            value: 0,
            gas_limit: GUESTBOOK_GAS,
        }),
    )
    .await;
    let with_eves = wait_executed(&node, &cid_text);
    assert_ne!(with_eves["stateHash"], after["stateHash"], "Eve's own command runs");
    let repushed = included_ok(
        &client,
        &pair("//Ferdie"),
        Call::Contracts(contracts::Call::PushCommand {
            contract: cid,
            command: eves,
            value: 0,
            gas_limit: GUESTBOOK_GAS,
        }),
    )
    .await;
    let seq = repushed
        .events
        .iter()
        .find_map(|e| e["Contracts"]["CommandPushed"]["seq"].as_u64())
        .unwrap();
    let after_repush = wait_executed(&node, &cid_text);
    assert_eq!(
        after_repush["stateHash"], with_eves["stateHash"],
        "a re-pushed ciphertext changes nothing"
    );
    let reason = failure_of(&node, repushed.block_number, seq)
        .expect("a CommandFailed event for the re-pushed command");
    assert!(reason.contains("cannot open command"), "{reason}");

    // The plaintext never reaches blocks or the node's storage.
    let db = std::fs::read(node.base_path().join("chain.redb")).expect("read the database file");
    for secret in [MARKER.as_bytes(), TITLE.as_bytes(), b"tampered", b"eve's own words"] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret),
            "plaintext {:?} found in the chain database",
            String::from_utf8_lossy(secret)
        );
    }

    // A forged gatekeeper message from a registered worker that is not the gatekeeper leader.
    let rogue = Pair::from_seed(&[42u8; 32]);
    let ecdh = EcdhSecret::from_bytes([43u8; 32]).public();
    let genesis: H256 = node.genesis_hash().parse().unwrap();
    let platform = SimulatedPlatform::new(
        [44u8; 32],
        &dev_vendor_root(),
        simulated_enclave_measurement(),
        simulated_enclave_signer(),
    );
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as u64;
    let ferdie = pair("//Ferdie");
    let head = Client::connect(&node.url()).await.expect("connect").head().await.expect("head");
    let benchmark = BenchmarkReport {
        work: 10_000,
        start_number: head.number,
        start_hash: head.hash(),
        end_number: head.number,
        end_hash: head.hash(),
    };
    let attestation = platform
        .quote(
            &expected_report_data(&rogue.public(), &ecdh, &genesis, &ferdie.public(), &benchmark),
            now,
        )
        .unwrap();
    let benchmark_signature =
        rogue.sign(&benchmark.signing_payload(&genesis, &rogue.public(), &ferdie.public()));
    included_ok(
        &client,
        &ferdie,
        Call::Registry(registry::Call::RegisterWorker {
            identity: rogue.public(),
            ecdh,
            attestation,
            operator: ferdie.public(),
            benchmark,
            benchmark_signature,
        }),
    )
    .await;
    let forged = SignedMessage::sign(
        &rogue,
        &genesis,
        topics::EG_CONTRACT_PUBKEY.to_vec(),
        0,
        (cid, 0u32, [9u8; 32]).encode(),
    );
    let inc =
        included_ok(&client, &ferdie, Call::Mq(mq::Call::SyncOffchainMessage { message: forged }))
            .await;
    let rejected = inc
        .events
        .iter()
        .find_map(|e| e["Mq"]["MessageRejected"]["reason"].as_str())
        .expect("MessageRejected");
    assert!(rejected.contains("gatekeeper leader"), "{rejected}");
    assert_eq!(
        contract_info(&node, &cid_text)["pubkey"],
        before["pubkey"],
        "the contract key is unchanged"
    );

    // A second gatekeeper receives the master key from the leader, sealed to its attested ECDH key;
    // a rotation makes a new key for new contracts while old contracts keep theirs.
    node.cli(&["gatekeeper", "elect", &ids[1]]).ok();
    wait_for(Duration::from_secs(60), "second gatekeeper holds master key 0", || {
        (node.rpc("umbra_gatekeepers", json!([]))["holds"][&ids[1]] == json!(0)).then_some(())
    });
    node.cli(&["gatekeeper", "rotate"]).ok();
    wait_for(Duration::from_secs(60), "rotation 1 published and shared", || {
        let g = node.rpc("umbra_gatekeepers", json!([]));
        (g["currentRotation"] == json!(1) && g["holds"][&ids[1]] == json!(1)).then_some(())
    });
    let run = node.cli(&[
        "contract",
        "deploy",
        "--from",
        "//Ferdie",
        "--init",
        &json!({"Init": {"title": "second"}}).to_string(),
    ]);
    let second = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("contract ")?.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(
        contract_info(&node, &second)["rotation"],
        json!(1),
        "new contracts use the new key"
    );
    assert_eq!(contract_info(&node, &cid_text)["rotation"], json!(0), "old contracts keep theirs");
    let run = node.cli(&[
        "contract",
        "command",
        &cid_text,
        "--from",
        "//Eve",
        "--json",
        &json!({"Post": {"text": "old key still works"}}).to_string(),
    ]);
    assert!(run.ok().contains("Contracts.CommandExecuted"), "{}", run.stdout);
    let texts = {
        let c = wait_executed(&node, &cid_text);
        let a = assigned(&node, &cid_text);
        let w = by_id(&a[0]);
        let t = posts(&workers[w], &node, cid).await.unwrap();
        assert_eq!(
            t.len(),
            c["commands"].as_u64().unwrap() as usize - 3,
            "init, the tampered and the re-pushed command add no post"
        );
        t
    };

    // Kill an assigned worker: once it is unresponsive a reshuffle moves the contract, and the
    // new assignee rebuilds the identical state from the checkpoint and the command log.
    // (Not the gatekeeper: it must stay up to hand the key to the new assignee.) The assignment
    // is read again now: regular reshuffles (every 24 blocks) may have moved the contract since
    // the first commands.
    let chosen = assigned(&node, &cid_text);
    let victim = chosen
        .iter()
        .map(|w| by_id(w))
        .find(|i| *i != 0)
        .expect("an assigned worker that is not the gatekeeper");
    workers[victim].kill();
    let victim_id = ids[victim].clone();
    // Corrupt the latest checkpoint in the node's off-chain blob store: the rebuild must refuse
    // it and fall back to the one before.
    let checkpoint = contract_info(&node, &cid_text)["checkpoint"].clone();
    let latest = checkpoint["seq"].as_u64().expect("a checkpoint was recorded");
    assert!(latest >= 5, "at least two checkpoints (interval 3): {checkpoint}");
    let blob_file = node.base_path().join("checkpoints").join(format!("{cid_text}-{latest}.bin"));
    let older_file =
        node.base_path().join("checkpoints").join(format!("{cid_text}-{}.bin", latest - 3));
    // Wait until every live worker that made the latest checkpoint stored it (so no later store
    // repairs the corruption before the rebuild).
    let stored = format!("seq={latest} ");
    wait_for(Duration::from_secs(30), "the workers stored the checkpoints off chain", || {
        let all = chosen.iter().map(|w| by_id(w)).filter(|i| *i != victim).all(|i| {
            workers[i].log().lines().any(|l| l.contains("checkpoint stored") && l.contains(&stored))
        });
        (all && blob_file.exists() && older_file.exists()).then_some(())
    });
    let mut blob = std::fs::read(&blob_file).unwrap();
    blob[10] ^= 1;
    std::fs::write(&blob_file, &blob).unwrap();
    let moved = wait_for(
        Duration::from_secs(90),
        "contract reassigned away from the killed worker",
        || {
            let now = assigned(&node, &cid_text);
            (!now.contains(&victim_id) && now.len() == 2).then_some(now)
        },
    );
    let newcomer = moved
        .iter()
        .map(|w| by_id(w))
        .find(|i| !chosen.contains(&ids[*i]))
        .expect("a newly assigned worker");
    let want = contract_info(&node, &cid_text);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let rebuilt = loop {
        let now = contract_info(&node, &cid_text);
        if let Ok(s) = state_of(&workers[newcomer], &node, cid).await {
            if s.0 == now["commands"].as_u64().unwrap() {
                break s;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new assignee did not rebuild the state within 120 s; contract {now}\nworker log:\n{}",
            workers[newcomer].log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(rebuilt.0, want["commands"].as_u64().unwrap());
    assert_eq!(
        serde_json::to_value(rebuilt.1).unwrap(),
        want["stateHash"],
        "rebuilt state is identical"
    );
    assert_eq!(posts(&workers[newcomer], &node, cid).await.unwrap(), texts);
    let log = workers[newcomer].log();
    assert!(log.contains("contract state rebuilt"), "{log}");
    assert!(
        log.contains("contract rebuild refused")
            && log.contains("does not match the on-chain hash"),
        "the corrupted checkpoint is refused: {log}"
    );
    assert!(
        log.contains(&format!("from_checkpoint=Some({})", latest - 3)),
        "rebuilt from the older checkpoint: {log}"
    );

    // And the contract keeps working with its new workers.
    let post = json!({"Post": {"text": "after the reshuffle"}}).to_string();
    node.cli(&["contract", "command", &cid_text, "--from", "//Eve", "--json", &post]).ok();
    wait_executed(&node, &cid_text);
    assert_eq!(posts(&workers[newcomer], &node, cid).await.unwrap().len(), texts.len() + 1);
}

/// The reason of the `CommandFailed` event for command `seq`, searched from block `from` to the
/// head.
fn failure_of(node: &TestNode, from: u64, seq: u64) -> Option<String> {
    (from..=node.head_number())
        .flat_map(|n| {
            node.rpc("umbra_events", json!([node.block_hash(n)]))
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find_map(|r| {
            let f = &r["event"]["Contracts"]["CommandFailed"];
            (f["seq"].as_u64() == Some(seq))
                .then(|| f["reason"].as_str().unwrap_or_default().to_string())
        })
}
