//! `umbra evm` end to end, with real processes on loopback: a gatekeeper creates the master key,
//! an EVM cluster is created, the ERC-20 of `solidity/` is deployed from its committed artifact,
//! a transfer runs as an encrypted transaction, the owner-only `balanceOf` answers the owner's
//! private call and refuses a stranger's, a revert reason is decoded, the logs are decrypted
//! for their sender, a contract calls another in the same cluster, revert reasons, panics, custom
//! errors and running out of gas are decoded, the public-event and randomness system addresses
//! work through the Solidity `Umbra` library, and malformed input exits non-zero with one line
//! and pushes nothing.

mod common;

use std::time::Duration;

use common::{worker::*, *};
use serde_json::json;
use umbra_client::{cli::failure_reason, Client};
use umbra_contracts::evm::evm_address;
use umbra_primitives::{AccountId, Pair, UNITS};
use umbra_runtime::{stake_pools, Call};

fn node_for_evm() -> TestNode {
    let mut spec = dev_spec_json();
    spec["genesis"]["computation"]["meanChallengeInterval"] = json!(6);
    spec["genesis"]["computation"]["heartbeatWindow"] = json!(16);
    spec["genesis"]["computation"]["coolDownBlocks"] = json!(8);
    spec["genesis"]["contracts"]["assignmentSize"] = json!(1);
    spec["genesis"]["contracts"]["reshufflePeriod"] = json!(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("spec.json");
    std::fs::write(&file, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    let node = TestNode::start(Chain::Spec { file, authority: "//Alice".into() });
    std::mem::forget(dir);
    node
}

async fn ok(client: &Client, who: &Pair, call: Call) -> umbra_client::Inclusion {
    let inc = client.sign_and_watch(who, call, 0).await.expect("included");
    assert!(inc.success, "{:?}", failure_reason(&inc));
    inc
}

fn artifact(name: &str) -> String {
    format!("{}/../../solidity/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

fn evm_addr(uri: &str) -> String {
    format!("0x{}", hex::encode(evm_address(&pair(uri).public())))
}

#[tokio::test(flavor = "multi_thread")]
async fn erc20_in_a_cluster_through_the_cli() {
    let node = node_for_evm();
    let worker = TestWorker::start(&node, "w0", "//Bob");
    let identity =
        try_info(worker.port()).expect("worker info")["identity"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(60), "worker registered", || {
        (node.rpc("umbra_workers", json!([])).as_array()?.len() == 1).then_some(())
    });
    let client = Client::connect(&node.url()).await.unwrap();
    let bob = pair("//Bob");
    let inc =
        ok(&client, &bob, Call::StakePools(stake_pools::Call::Create { commission: 0 })).await;
    let pool =
        inc.events.iter().find_map(|e| e["StakePools"]["PoolCreated"]["pool"].as_u64()).unwrap();
    ok(
        &client,
        &bob,
        Call::StakePools(stake_pools::Call::Contribute { pool, amount: 3_000 * UNITS }),
    )
    .await;
    let w: AccountId = identity.parse().unwrap();
    ok(&client, &bob, Call::StakePools(stake_pools::Call::AddWorker { pool, worker: w })).await;
    ok(
        &client,
        &bob,
        Call::StakePools(stake_pools::Call::StartComputing {
            pool,
            worker: w,
            stake: 1_500 * UNITS,
        }),
    )
    .await;
    node.cli(&["gatekeeper", "elect", &identity]).ok();
    wait_for(Duration::from_secs(30), "master key published", || {
        let g = node.rpc("umbra_gatekeepers", json!([]));
        (g["currentRotation"] == json!(0)).then_some(())
    });
    let worker_url = format!("http://127.0.0.1:{}", worker.port());
    let w = worker_url.as_str();

    // A cluster.
    let out = node.cli(&["evm", "cluster", "create", "--from", "//Dave"]).ok().to_string();
    let cluster = out
        .lines()
        .find_map(|l| l.strip_prefix("cluster "))
        .expect("cluster id printed")
        .trim()
        .to_string();
    let c = cluster.as_str();

    // Deploy the ERC-20 from its committed artifact, constructor arguments from the command line.
    let token = artifact("Token");
    let run = node.cli(&[
        "evm",
        "deploy",
        "--cluster",
        c,
        &token,
        "Umbra Token",
        "UMB",
        "1000000",
        "--from",
        "//Dave",
        "--worker",
        w,
    ]);
    let out = run.ok();
    let addr = out
        .lines()
        .find_map(|l| l.strip_prefix("deployed at "))
        .expect("address printed")
        .trim()
        .to_string();
    let dave = evm_addr("//Dave");
    let eve = evm_addr("//Eve");
    assert!(out.contains("Transfer(from: 0x0000000000000000000000000000000000000000"), "{out}");

    // Malformed input: one line, non-zero, and the sender's nonce does not move.
    let nonce_before = node.account(&pair("//Dave").public().to_ss58()).nonce;
    for args in [
        vec!["transfer(address,uint256)", "0x12", "5"],
        vec!["transfer(address,uint256)", eve.as_str()],
        vec!["mint", eve.as_str(), "5", "--abi", token.as_str()],
    ] {
        let mut argv = vec!["evm", "send", "--cluster", c, "--to", &addr, "--from", "//Dave"];
        argv.extend(["--worker", w]);
        argv.extend(args);
        node.cli(&argv).one_line_error();
    }
    assert_eq!(node.account(&pair("//Dave").public().to_ss58()).nonce, nonce_before);

    // An encrypted transfer; the receipt is decrypted and decoded for the sender.
    let run = node.cli(&[
        "evm",
        "send",
        "--cluster",
        c,
        "--to",
        &addr,
        "transfer(address,uint256)",
        &eve,
        "250",
        "--abi",
        &token,
        "--from",
        "//Dave",
        "--worker",
        w,
    ]);
    let out = run.ok();
    assert!(out.contains("value: 250)"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "true"), "{out}");

    // balanceOf answers only to the account itself.
    let call = |who: &str, account: &str| {
        node.cli(&[
            "evm",
            "call",
            "--cluster",
            c,
            "--to",
            &addr,
            "balanceOf",
            account,
            "--abi",
            &token,
            "--as",
            who,
            "--worker",
            w,
        ])
    };
    assert_eq!(call("//Eve", &eve).ok().trim(), "250");
    assert_eq!(call("//Dave", &dave).ok().trim(), "999750");
    let refused = call("//Dave", &eve);
    let line = refused.one_line_error();
    assert!(line.contains("NotOwner("), "{line}");

    // A failing transaction: the decoded custom error, non-zero exit.
    let run = node.cli(&[
        "evm",
        "send",
        "--cluster",
        c,
        "--to",
        &addr,
        "transfer",
        &eve,
        "5000000",
        "--abi",
        &token,
        "--from",
        "//Dave",
        "--worker",
        w,
    ]);
    assert!(!run.success());
    assert!(run.stderr.contains("InsufficientBalance("), "{}", run.stderr);

    // Other contracts of the same cluster: a contract calling another, revert reasons, panics,
    // running out of gas.
    let deploy = |name: &str, args: &[&str]| {
        let path = artifact(name);
        let mut argv = vec!["evm", "deploy", "--cluster", c, path.as_str()];
        argv.extend_from_slice(args);
        argv.extend(["--from", "//Dave", "--worker", w]);
        let run = node.cli(&argv);
        run.ok()
            .lines()
            .find_map(|l| l.strip_prefix("deployed at "))
            .expect("address printed")
            .trim()
            .to_string()
    };
    let send = |to: &str, abi: &str, args: &[&str]| {
        let path = artifact(abi);
        let mut argv = vec!["evm", "send", "--cluster", c, "--to", to, "--abi", path.as_str()];
        argv.extend_from_slice(args);
        argv.extend(["--from", "//Dave", "--worker", w]);
        node.cli(&argv)
    };
    let counter = deploy("Counter", &[]);
    let caller = deploy("CounterCaller", &[&counter]);
    let out = send(&caller, "CounterCaller", &["incrementTwice", "3"]).ok().to_string();
    assert_eq!(out.lines().last().map(str::trim), Some("6"), "{out}");
    // The callee's two logs come raw (the caller's ABI does not know them), the caller's decoded.
    assert_eq!(out.matches(&format!("log {counter} topics [")).count(), 2, "{out}");
    assert!(out.contains(&format!("Forwarded(counter: {counter}, count: 6)")), "{out}");
    let read = node
        .cli(&["evm", "call", "--cluster", c, "--to", &caller, "read()(uint256)", "--worker", w])
        .ok()
        .trim()
        .to_string();
    assert_eq!(read, "6");

    let reverter = deploy("Reverter", &[]);
    let run = send(&reverter, "Reverter", &["fail", "no entry, sorry"]);
    assert!(run.one_line_error().ends_with("reverted: no entry, sorry"), "{}", run.stderr);
    let run = send(&reverter, "Reverter", &["divide", "1", "0"]);
    assert!(run.one_line_error().contains("panic 0x12: division or modulo by zero"));
    let run = send(&reverter, "Reverter", &["restricted"]);
    assert!(run.one_line_error().contains("Unauthorized(caller: "), "{}", run.stderr);
    let burner = deploy("GasBurner", &[]);
    let run = send(&burner, "GasBurner", &["spin", "--gas", "100000"]);
    let line = run.one_line_error();
    assert!(line.contains("halted:"), "{line}");
    assert!(
        run.stdout.contains("gas used 100000"),
        "out of gas uses the whole limit: {}",
        run.stdout
    );

    // The system addresses through the Solidity `Umbra` library: a public event, randomness.
    let raffle = deploy("Raffle", &[]);
    send(&raffle, "Raffle", &["announce", "hello, world"]).ok();
    let random = |run: Run| run.ok().lines().last().unwrap_or_default().trim().to_string();
    let r1 = random(send(&raffle, "Raffle", &["random"]));
    let r2 = random(send(&raffle, "Raffle", &["random"]));
    assert!(r1.starts_with("0x") && r1.len() == 66 && r1 != r2, "{r1} {r2}");
    // Read-only calls have no log position to bind randomness to: the precompile refuses.
    let raffle_abi = artifact("Raffle");
    let run = node.cli(&[
        "evm",
        "call",
        "--cluster",
        c,
        "--to",
        &raffle,
        "random",
        "--abi",
        &raffle_abi,
        "--worker",
        w,
    ]);
    assert!(run.one_line_error().contains("PrecompileFailed("), "{}", run.stderr);

    // The logs, decrypted for Dave (the sender of every command) and decoded with the ABIs
    // given; the one no given ABI knows (CounterCaller's Forwarded) stays raw.
    let counter_abi = artifact("Counter");
    let out = node
        .cli(&[
            "evm",
            "logs",
            "--cluster",
            c,
            "--abi",
            &token,
            "--abi",
            &counter_abi,
            "--as",
            "//Dave",
            "--worker",
            w,
        ])
        .ok()
        .to_string();
    let transfers: Vec<&str> = out.lines().filter(|l| l.contains("Transfer(")).collect();
    assert_eq!(transfers.len(), 2, "mint and transfer: {out}");
    assert_eq!(out.matches(&format!("{counter} Incremented(")).count(), 2, "{out}");
    let raw: Vec<&str> = out.lines().filter(|l| l.contains(" topics [")).collect();
    assert!(raw.len() == 1 && raw[0].contains(&caller), "{out}");
    // --address keeps one contract's logs.
    let out = node
        .cli(&[
            "evm",
            "logs",
            "--cluster",
            c,
            "--address",
            &counter,
            "--abi",
            &counter_abi,
            "--as",
            "//Dave",
            "--worker",
            w,
        ])
        .ok()
        .to_string();
    assert_eq!(out.lines().count(), 2, "{out}");
    // Eve sent nothing: no receipt of Dave's is readable with her key.
    let out = node
        .cli(&["evm", "logs", "--cluster", c, "--abi", &token, "--as", "//Eve", "--worker", w])
        .ok()
        .to_string();
    assert!(!out.contains("Transfer("), "{out}");
    // The public event is everyone's.
    let hello = format!("public event 0x{}", hex::encode("hello, world"));
    assert_eq!(out.lines().filter(|l| l.ends_with(&hello)).count(), 1, "{out}");
}
