//! Computation economics end to end, with real processes on loopback: two simulated workers
//! register, a stake pool starts them computing, their enclaves answer the chain's challenges and
//! earn; one worker is killed (SIGKILL) and goes Unresponsive within the window while the other
//! keeps earning; restarted, it answers again and is back to Computing.

mod common;

use std::time::Duration;

use common::{worker::*, *};
use serde_json::{json, Value};
use umbra_client::{cli::failure_reason, Client};
use umbra_primitives::{AccountId, UNITS};
use umbra_runtime::{stake_pools, Call};

const MEAN_INTERVAL: u64 = 6;
const WINDOW: u64 = 16;

fn node_with_fast_challenges() -> TestNode {
    let mut spec = dev_spec_json();
    spec["genesis"]["computation"]["meanChallengeInterval"] = json!(MEAN_INTERVAL);
    spec["genesis"]["computation"]["heartbeatWindow"] = json!(WINDOW);
    spec["genesis"]["computation"]["coolDownBlocks"] = json!(8);
    TestNode::start_with_spec(&spec)
}

fn session(node: &TestNode, identity: &str) -> Value {
    node.rpc("umbra_workerSession", json!([identity]))
}

fn state(node: &TestNode, identity: &str) -> String {
    session(node, identity)["state"].as_str().unwrap_or("none").to_string()
}

fn total_reward(node: &TestNode, identity: &str) -> u128 {
    session(node, identity)["totalReward"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn identity_of(w: &TestWorker) -> String {
    try_info(w.port()).expect("worker info")["identity"].as_str().expect("identity").to_string()
}

async fn submit(client: &Client, who: &str, call: Call) -> umbra_client::Inclusion {
    let desc = format!("{call:?}");
    let inc = client.sign_and_watch(&pair(who), call, 0).await.expect("submit");
    assert!(inc.success, "{desc} failed: {:?}", failure_reason(&inc));
    inc
}

#[test]
fn workers_heartbeat_earn_go_unresponsive_when_killed_and_recover_when_restarted() {
    let node = node_with_fast_challenges();
    let w1 = TestWorker::start(&node, "w1", "//Bob");
    let mut w2 = TestWorker::start(&node, "w2", "//Bob");
    let (id1, id2) = (identity_of(&w1), identity_of(&w2));
    wait_for(Duration::from_secs(60), "both workers registered", || {
        (node.rpc("umbra_workers", json!([])).as_array()?.len() == 2).then_some(())
    });

    // Bob's pool stakes for both workers and starts them.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Client::connect(&node.url()).await.expect("connect");
        let inc = submit(
            &client,
            "//Bob",
            Call::StakePools(stake_pools::Call::Create { commission: 100_000 }),
        )
        .await;
        let pool = inc
            .events
            .iter()
            .find_map(|e| e["StakePools"]["PoolCreated"]["pool"].as_u64())
            .expect("pool id");
        submit(
            &client,
            "//Bob",
            Call::StakePools(stake_pools::Call::Contribute { pool, amount: 4_000 * UNITS }),
        )
        .await;
        for id in [&id1, &id2] {
            let worker: AccountId = id.parse().unwrap();
            submit(
                &client,
                "//Bob",
                Call::StakePools(stake_pools::Call::AddWorker { pool, worker }),
            )
            .await;
            submit(
                &client,
                "//Bob",
                Call::StakePools(stake_pools::Call::StartComputing {
                    pool,
                    worker,
                    stake: 1_500 * UNITS,
                }),
            )
            .await;
        }
    });
    assert_eq!(state(&node, &id1), "Computing");
    assert_eq!(state(&node, &id2), "Computing");

    // Both answer challenges and earn.
    let earn_timeout = Duration::from_millis((4 * MEAN_INTERVAL + WINDOW + 20) * BLOCK_TIME_MS);
    wait_for(earn_timeout, "both workers paid for heartbeats", || {
        (total_reward(&node, &id1) > 0 && total_reward(&node, &id2) > 0).then_some(())
    });

    // Kill w2: it misses its next challenge and becomes Unresponsive within a few challenge
    // intervals plus the window (challenges are drawn per block, so the gap is geometric with
    // mean MEAN_INTERVAL; 4 means bound it except with probability (5/6)^24 ≈ 1%, and the
    // extra 20 blocks take that to (5/6)^44 ≈ 0.03%).
    w2.kill();
    let miss_timeout = Duration::from_millis((4 * MEAN_INTERVAL + WINDOW + 20) * BLOCK_TIME_MS);
    wait_for(miss_timeout, "killed worker unresponsive", || {
        (state(&node, &id2) == "Unresponsive").then_some(())
    });
    let frozen = total_reward(&node, &id2);
    let w1_before = total_reward(&node, &id1);
    node.wait_blocks(3 * MEAN_INTERVAL);
    assert_eq!(total_reward(&node, &id2), frozen, "an unresponsive worker earns nothing");
    assert_eq!(state(&node, &id1), "Computing", "the live worker is unaffected");
    wait_for(earn_timeout, "live worker keeps earning", || {
        (total_reward(&node, &id1) > w1_before).then_some(())
    });

    // Restart w2 (same identity from its sealed blob): it answers a later challenge and is back.
    w2.restart();
    assert_eq!(identity_of(&w2), id2);
    wait_for(earn_timeout, "restarted worker computing again", || {
        (state(&node, &id2) == "Computing").then_some(())
    });
    wait_for(earn_timeout, "restarted worker earning again", || {
        (total_reward(&node, &id2) > frozen).then_some(())
    });

    // The books balance: every planck meant for workers is paid, forfeited or in the pot.
    let c = node.rpc("umbra_computation", json!([]));
    let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    let e = &c["emission"];
    assert_eq!(n(&e["paidToWorkers"]) + n(&e["forfeited"]) + n(&c["pot"]), n(&e["toWorkers"]));
    assert!(
        n(&e["forfeited"]) > 0,
        "the killed worker's accrual since its last heartbeat was forfeited"
    );
    assert_eq!(c["computing"], json!(2));
}
