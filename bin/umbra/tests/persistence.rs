//! The chain database across restarts: graceful stop, SIGKILL at random instants, and base paths
//! that belong to another chain or are in use.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use umbra_client::{Client, Inclusion};
use umbra_primitives::{json::HeaderJson, Balance, Header, UNITS};
use umbra_runtime::{balances, Call, Extrinsic};

fn ss58(uri: &str) -> String {
    pair(uri).public().to_ss58()
}

fn transfer_call(to: &str, amount: Balance) -> Call {
    Call::Balances(balances::Call::Transfer { dest: pair(to).public(), amount })
}

/// Checks the head and the `depth` blocks below it: each header is served by hash and by number,
/// hashes to its claimed hash, is sealed by Alice, and links to its parent.
fn check_chain_integrity(node: &TestNode, depth: u64) -> u64 {
    let head = node.rpc("chain_getHeader", json!([]));
    let mut header: HeaderJson = serde_json::from_value(head).expect("head header");
    let head_number = header.number;
    let alice = pair("//Alice").public();
    for _ in 0..depth {
        let h = Header::try_from(&header).expect("header hashes to its claimed hash");
        assert_eq!(
            node.block_hash(header.number),
            Some(header.hash.to_string()),
            "block #{} by number",
            header.number
        );
        if header.number == 0 {
            assert_eq!(header.parent_hash, umbra_primitives::H256::ZERO);
            break;
        }
        h.verify_seal(&[alice]).unwrap_or_else(|e| panic!("block #{} seal: {e}", header.number));
        let parent = node.rpc("chain_getHeader", json!([header.parent_hash.to_string()]));
        assert!(!parent.is_null(), "parent of block #{} is missing", header.number);
        let parent: HeaderJson = serde_json::from_value(parent).unwrap();
        assert_eq!(parent.number + 1, header.number);
        assert_eq!(parent.hash, header.parent_hash);
        header = parent;
    }
    head_number
}

fn treasury() -> String {
    balances::treasury_account().to_ss58()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_blocks_balances_and_nonces_and_continues() {
    let mut node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    let alice = pair("//Alice");
    for i in 1..=3 {
        let inc = client
            .sign_and_watch(&alice, transfer_call("//Bob", i * UNITS), 0)
            .await
            .expect("included");
        assert!(inc.success);
    }
    drop(client);
    let genesis = node.genesis_hash();
    let accounts = |node: &TestNode| -> Vec<Account> {
        [ALICE, BOB, &treasury()].iter().map(|a| node.account(a)).collect()
    };
    let before = accounts(&node);
    assert_eq!(before[0].nonce, 3);
    assert_eq!(before[1].free, DEV_BALANCE + 6 * UNITS);

    // Graceful stop.
    let head_before = node.head_number();
    let hashes_before: Vec<String> =
        (0..=head_before).map(|n| node.block_hash(n).expect("block hash")).collect();
    let status = node.terminate();
    assert!(status.success(), "SIGTERM is a clean exit, got {status}:\n{}", node.log());
    assert!(node.log().contains("shutting down"));

    // Re-open and compare everything the first run committed.
    node.restart();
    assert!(node.head_number() >= head_before, "head went backwards");
    assert_eq!(node.genesis_hash(), genesis, "genesis unchanged");
    assert_eq!(accounts(&node), before, "balances and nonces identical");
    let hashes_after: Vec<String> =
        (0..=head_before).map(|n| node.block_hash(n).expect("block hash")).collect();
    assert_eq!(hashes_after, hashes_before, "every block of the first run is still there");
    check_chain_integrity(&node, 8);
    node.wait_for_block(head_before + 3);

    // The nonce carries on from the first run.
    node.cli(&["transfer", "--from", "//Alice", "--to", BOB, "--amount", "1"]).ok();
    assert_eq!(node.account(ALICE).nonce, 4);

    // And again after SIGKILL.
    let before = accounts(&node);
    let head = node.head_number();
    let hash = node.block_hash(head);
    node.kill();
    node.restart();
    assert!(node.head_number() >= head);
    assert_eq!(node.block_hash(head), hash, "block #{head} survived SIGKILL");
    assert_eq!(node.genesis_hash(), genesis);
    assert_eq!(accounts(&node), before);
    assert_eq!(node.block_hash(1).as_ref(), hashes_before.get(1));
    node.wait_blocks(2);
}

/// What the load generators saw confirmed before a kill.
#[derive(Default)]
struct Confirmed {
    inclusions: Vec<Inclusion>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_instants_loses_nothing_confirmed() {
    const ROUNDS: usize = 5;
    const ALICE_AMOUNT: Balance = UNITS;
    const CHARLIE_AMOUNT: Balance = UNITS / 2;
    let charlie_addr = ss58("//Charlie");
    let dave_addr = ss58("//Dave");
    let watched =
        [ALICE.to_string(), BOB.to_string(), charlie_addr.clone(), dave_addr.clone(), treasury()];

    let mut node = TestNode::dev();
    let genesis = node.genesis_hash();
    let confirmed = Arc::new(Mutex::new(Confirmed::default()));
    let mut delays = Vec::new();

    for round in 0..=ROUNDS {
        if round > 0 {
            node.restart();
        }
        // The restarted node is whole.
        assert_eq!(node.genesis_hash(), genesis, "round {round}");
        let head = check_chain_integrity(&node, 6);
        let alice = node.account(ALICE);
        let charlie = node.account(&charlie_addr);
        {
            let c = confirmed.lock().unwrap();
            assert!(
                alice.nonce as usize >= c.inclusions.len(),
                "round {round}: confirmed transfers lost (delays {delays:?})"
            );
            for inc in &c.inclusions {
                assert!(
                    inc.success,
                    "round {round}: a confirmed transfer failed: {:?}",
                    inc.events
                );
                assert!(
                    inc.block_number <= head,
                    "round {round}: confirmed block #{} beyond head #{head}",
                    inc.block_number
                );
                assert_eq!(
                    node.block_hash(inc.block_number),
                    Some(inc.block_hash.to_string()),
                    "round {round}: confirmed block #{} replaced or lost (delays {delays:?})",
                    inc.block_number
                );
                let block = node.rpc("chain_getBlock", json!([inc.block_hash.to_string()]));
                let xt = block["block"]["extrinsics"][inc.index as usize]
                    .as_str()
                    .expect("confirmed extrinsic");
                let bytes = umbra_primitives::json::from_hex(xt).unwrap();
                assert_eq!(umbra_primitives::H256::hash(&bytes), inc.tx_hash);
            }
        }
        // Every transfer that made it into the chain shows in the balances, exactly.
        assert_eq!(
            node.account(BOB).free,
            DEV_BALANCE + alice.nonce as Balance * ALICE_AMOUNT,
            "round {round}"
        );
        assert_eq!(
            node.account(&dave_addr).free,
            DEV_BALANCE + charlie.nonce as Balance * CHARLIE_AMOUNT,
            "round {round}"
        );
        // One consistent state: the watched accounts (treasury included) hold what they started
        // with plus the emission of every block so far (no worker is online, so all of it goes
        // to the treasury); fees only moved money between them.
        let snap = node.rpc("umbra_accounts", json!([watched.clone()]));
        let at: u64 = snap["block"].as_u64().expect("block number");
        let total: Balance = snap["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a["free"].as_str().expect("free").parse::<Balance>().expect("balance"))
            .sum();
        let budget = umbra_runtime::computation::ComputationParams::dev().budget_per_block;
        assert_eq!(
            total,
            4 * DEV_BALANCE + at as Balance * budget,
            "round {round}: money created or lost"
        );
        if round == ROUNDS {
            break;
        }

        // Load: Alice transfers one at a time and waits for each inclusion; Charlie fires bursts
        // of five without waiting. Then SIGKILL at a random instant.
        let client = Arc::new(Client::connect(&node.url()).await.expect("connect"));
        let watcher = {
            let (client, confirmed) = (client.clone(), confirmed.clone());
            tokio::spawn(async move {
                let alice = pair("//Alice");
                while let Ok(inc) =
                    client.sign_and_watch(&alice, transfer_call("//Bob", ALICE_AMOUNT), 0).await
                {
                    confirmed.lock().unwrap().inclusions.push(inc);
                }
            })
        };
        let burster = {
            let client = client.clone();
            tokio::spawn(async move {
                let charlie = pair("//Charlie");
                loop {
                    let Ok(next) = client.next_nonce(&charlie.public()).await else { return };
                    for n in next..next + 5 {
                        let call = transfer_call("//Dave", CHARLIE_AMOUNT);
                        let bytes =
                            Extrinsic::new_signed(&charlie, call, n, 0, client.genesis_hash())
                                .encode();
                        if client.submit(&bytes).await.is_err() {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            })
        };
        let delay = 50 + random_u64() % 651;
        delays.push(delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        node.kill();
        watcher.abort();
        burster.abort();
        let _ = watcher.await;
        let _ = burster.await;
        drop(client);
    }
    eprintln!(
        "SIGKILL delays (ms): {delays:?}; confirmed: {}; on chain: Alice {} / Charlie {} transfers",
        confirmed.lock().unwrap().inclusions.len(),
        node.account(ALICE).nonce,
        node.account(&charlie_addr).nonce
    );
    node.wait_blocks(2);
    check_chain_integrity(&node, 10);
}

fn edited_spec(dir: &std::path::Path) -> std::path::PathBuf {
    let mut spec: Value = dev_spec_json();
    spec["genesis"]["balances"]
        .as_array_mut()
        .unwrap()
        .push(json!({"address": ss58("//Zed"), "balance": "5000000000000"}));
    let path = dir.join("other.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path
}

fn node_cmd(args: &[&str], base: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("node").args(args).arg("--base-path").arg(base);
    cmd.args(["--rpc-addr", "127.0.0.1:0", "--block-time-ms", "250"]);
    cmd
}

#[test]
fn base_path_of_another_chain_is_refused() {
    let mut node = TestNode::dev();
    node.wait_for_block(2);
    let genesis = node.genesis_hash();
    let head = node.head_number();
    node.kill();

    let spec = edited_spec(node.dir());
    let spec_arg = spec.to_str().unwrap().to_string();
    let cmd = node_cmd(&["--chain", &spec_arg, "--authority", "//Alice"], node.base_path());
    let run = run_with_timeout(cmd, Duration::from_secs(30));
    let line = run.one_line_error();
    assert!(line.contains("belongs to another chain"), "{line}");
    assert!(line.contains(&genesis), "names the database's genesis: {line}");

    // The refusal left the database intact.
    node.restart();
    assert_eq!(node.genesis_hash(), genesis);
    assert!(node.head_number() >= head);
    check_chain_integrity(&node, 3);

    // And the other way round: a database made from the edited spec refuses --dev.
    let mut other = TestNode::start(Chain::Spec { file: spec, authority: "//Alice".into() });
    let other_genesis = other.genesis_hash();
    assert_ne!(other_genesis, genesis);
    other.kill();
    let run = run_with_timeout(node_cmd(&["--dev"], other.base_path()), Duration::from_secs(30));
    let line = run.one_line_error();
    assert!(line.contains("belongs to another chain") && line.contains(&other_genesis), "{line}");
}

#[test]
fn base_path_in_use_by_a_running_node_is_refused() {
    let node = TestNode::dev();
    let run = run_with_timeout(node_cmd(&["--dev"], node.base_path()), Duration::from_secs(30));
    let line = run.one_line_error();
    assert!(line.contains("cannot open") && line.contains("chain.redb"), "{line}");
    // The running node is unaffected.
    node.wait_blocks(1);
}
