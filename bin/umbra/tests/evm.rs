//! `umbra evm` end to end, with real processes on loopback: a gatekeeper creates the master key,
//! an EVM cluster is created, the ERC-20 of `solidity/` is deployed from its committed artifact,
//! a transfer runs as an encrypted transaction, the owner-only `balanceOf` answers the owner's
//! private call and refuses a stranger's, a revert reason is decoded, the logs are decrypted
//! for their sender, a contract calls another in the same cluster, revert reasons, panics, custom
//! errors and running out of gas are decoded, the public-event and randomness system addresses
//! work through the Solidity `Umbra` library, and malformed input exits non-zero with one line
//! and pushes nothing. With three workers and K = 2: a transfer's recipient, amount and a
//! constructor string are in no file of the node or of any worker, a worker that is not
//! assigned refuses private calls, and after an assigned worker is killed the cluster moves, the
//! newcomer rebuilds the state hash the chain recorded and the cluster goes on.

mod common;

use std::time::Duration;

use common::{worker::*, *};
use serde_json::json;
use umbra_client::Client;
use umbra_contracts::evm::evm_address;
use umbra_primitives::{AccountId, UNITS};

fn node_for_evm() -> TestNode {
    let mut spec = dev_spec_json();
    spec["genesis"]["computation"]["meanChallengeInterval"] = json!(6);
    spec["genesis"]["computation"]["heartbeatWindow"] = json!(16);
    spec["genesis"]["computation"]["coolDownBlocks"] = json!(8);
    spec["genesis"]["contracts"]["assignmentSize"] = json!(1);
    spec["genesis"]["contracts"]["reshufflePeriod"] = json!(10_000);
    TestNode::start_with_spec(&spec)
}

fn artifact(name: &str) -> String {
    format!("{}/../../solidity/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

fn evm_addr(uri: &str) -> String {
    format!("0x{}", hex::encode(evm_address(&pair(uri).public())))
}

/// What `who` paid in blocks `from..=to`: transaction fees (`Balances.FeePaid`), and the gas
/// settlements of its commands (`Contracts.GasSettled`: gas used, fee, refund).
async fn paid_by(client: &Client, who: &str, from: u64, to: u64) -> (u128, Vec<(u64, u128, u128)>) {
    let amount = |v: &serde_json::Value| v.as_str().unwrap().parse::<u128>().unwrap();
    let (mut tx_fees, mut gas) = (0, Vec::new());
    for n in from..=to {
        let hash = client.block_hash(n).await.unwrap().unwrap();
        for r in client.events(hash).await.unwrap() {
            let fee = &r["event"]["Balances"]["FeePaid"];
            if fee["who"] == json!(who) {
                tx_fees += amount(&fee["fee"]);
            }
            let settled = &r["event"]["Contracts"]["GasSettled"];
            if settled["origin"] == json!(who) {
                let used = settled["gas_used"].as_u64().unwrap();
                gas.push((used, amount(&settled["fee"]), amount(&settled["refund"])));
            }
        }
    }
    (tx_fees, gas)
}

/// The `gas used N` of a receipt the CLI printed.
fn gas_used_printed(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.split_once(" gas used ").map(|(_, g)| g.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no gas used in {out}"))
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
    let workers = [identity.clone()];
    compute_in_one_pool(&client, &pair("//Bob"), &workers, 3_000 * UNITS, 1_500 * UNITS).await;
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
    // The worker may still be receiving the new cluster's key; the CLI asks it for the receipt
    // key before pushing anything, so that refusal is safe to retry.
    let token = artifact("Token");
    let deploy = [
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
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut run = node.cli(&deploy);
    while !run.success()
        && run.stderr.contains("does not run that contract")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(500));
        run = node.cli(&deploy);
    }
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

    // An encrypted transfer; the receipt is decrypted and decoded for the sender, with its fee.
    let dave_ss58 = pair("//Dave").public().to_ss58();
    let price = dev_spec_json()["genesis"]["contracts"]["gasPrice"]
        .as_str()
        .unwrap()
        .parse::<u128>()
        .unwrap();
    let (balance_before, block_before) = (node.account(&dave_ss58).free, node.head_number());
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
    // Dave's chain balance moved by exactly the transaction fee plus gas used × price: the
    // prepaid 5,000,000 gas came back except what the transfer used.
    let used = gas_used_printed(out);
    let (balance_after, block_after) = (node.account(&dave_ss58).free, node.head_number());
    let (tx_fees, gas) = paid_by(&client, &dave_ss58, block_before + 1, block_after).await;
    let fee = u128::from(used) * price;
    assert_eq!(gas, vec![(used, fee, (5_000_000 - u128::from(used)) * price)], "{out}");
    assert!(out.contains(&format!("fee {} paid", umbra_primitives::format_amount(fee))), "{out}");
    assert_eq!(balance_before - balance_after, tx_fees + fee);

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
    let (balance_before, block_before) = (node.account(&dave_ss58).free, node.head_number());
    let run = send(&burner, "GasBurner", &["spin", "--gas", "100000"]);
    let line = run.one_line_error();
    assert!(line.contains("halted:"), "{line}");
    assert!(
        run.stdout.contains("gas used 100000"),
        "out of gas uses the whole limit: {}",
        run.stdout
    );
    // Out of gas still pays, the whole limit, and nothing comes back.
    let (balance_after, block_after) = (node.account(&dave_ss58).free, node.head_number());
    let (tx_fees, gas) = paid_by(&client, &dave_ss58, block_before + 1, block_after).await;
    assert_eq!(gas, vec![(100_000, 100_000 * price, 0)], "{}", run.stdout);
    assert_eq!(balance_before - balance_after, tx_fees + 100_000 * price);
    // Value sent to a function that is not payable: the call reverts, the value stays credited to
    // Dave's EVM balance inside the cluster, and the gas it used is paid.
    let (balance_before, block_before) = (node.account(&dave_ss58).free, node.head_number());
    let run = node.cli(&[
        "evm",
        "send",
        "--cluster",
        c,
        "--to",
        &burner,
        "spin()",
        "--value",
        "2",
        "--gas",
        "60000",
        "--from",
        "//Dave",
        "--worker",
        w,
    ]);
    assert!(run.one_line_error().contains("reverted"), "{}", run.stderr);
    let used = gas_used_printed(&run.stdout);
    let (balance_after, block_after) = (node.account(&dave_ss58).free, node.head_number());
    let (tx_fees, gas) = paid_by(&client, &dave_ss58, block_before + 1, block_after).await;
    let fee = u128::from(used) * price;
    assert_eq!(gas, vec![(used, fee, u128::from(60_000 - used) * price)], "{}", run.stdout);
    assert_eq!(balance_before - balance_after, 2 * UNITS + tx_fees + fee);

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

// ---- three workers, K = 2: confidentiality on disk, outsiders, a killed assignee ----

/// A recipient address with a byte pattern found nowhere else (20 bytes in the calldata).
const SECRET_TO: &str = "0x5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e7a11c";
/// An amount whose eight non-zero bytes (`5e c7 e7 a1 1c 0f fe e1`) are as distinctive.
const SECRET_AMOUNT: &str = "6829682039077207777";
/// A constructor string argument (it also ends up in the token's storage).
const SECRET_NAME: &str = "evm-plaintext-name-9b2d41";

/// A node whose contracts are assigned to K = 2 workers and reshuffled every
/// `reshuffle_period` blocks, with three staked workers and w0 elected gatekeeper; returns the
/// node, the workers and their identities.
async fn k2_network(reshuffle_period: u64) -> (TestNode, Vec<TestWorker>, Vec<String>) {
    let mut spec = dev_spec_json();
    spec["genesis"]["computation"]["meanChallengeInterval"] = json!(6);
    spec["genesis"]["computation"]["heartbeatWindow"] = json!(16);
    spec["genesis"]["computation"]["coolDownBlocks"] = json!(8);
    spec["genesis"]["contracts"]["assignmentSize"] = json!(2);
    spec["genesis"]["contracts"]["reshufflePeriod"] = json!(reshuffle_period);
    spec["genesis"]["contracts"]["checkpointInterval"] = json!(3);
    let node = TestNode::start_with_spec(&spec);
    let (workers, ids) = computing_workers(&node, 3).await;
    elect_gatekeeper(&node, &ids[0]);
    (node, workers, ids)
}

fn assigned_to(node: &TestNode, cluster: &str) -> Vec<String> {
    let info = node.rpc("umbra_contract", json!([cluster]));
    serde_json::from_value(info["assigned"].clone()).unwrap_or_default()
}

/// Runs `umbra evm <args> --worker <an assigned worker>`. A reshuffle between reading the
/// assignment and the CLI's own check makes the CLI refuse before anything is pushed; then the
/// current assignment is read again.
fn evm_cli_assigned(
    node: &TestNode,
    workers: &[TestWorker],
    ids: &[String],
    cluster: &str,
    args: &[&str],
) -> Run {
    // An assigned worker may still be receiving the cluster's key or rebuilding it after a
    // reshuffle; the CLI asks it for the receipt key before pushing anything, so its refusal is
    // safe to retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let now = assigned_to(node, cluster);
        let live =
            (0..ids.len()).find(|i| now.contains(&ids[*i]) && port_accepts(workers[*i].port()));
        let Some(i) = live else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        let url = workers[i].url();
        let mut argv = vec!["evm"];
        argv.extend(args);
        argv.extend(["--worker", url.as_str()]);
        let run = node.cli(&argv);
        if !run.success() && run.stderr.contains("is not assigned to cluster") {
            continue;
        }
        if !run.success() && run.stderr.contains("does not run that contract") {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        return run;
    }
    panic!("no assigned worker of {cluster} accepted `umbra evm {}`", args.join(" "));
}

fn create_cluster(node: &TestNode) -> String {
    let out = node.cli(&["evm", "cluster", "create", "--from", "//Dave"]).ok().to_string();
    out.lines().find_map(|l| l.strip_prefix("cluster ")).expect("cluster id").trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_calldata_never_reaches_disk_and_outsiders_refuse_calls() {
    use parity_scale_codec::{Decode, Encode};
    use umbra_client::worker as wclient;
    use umbra_contracts::evm::{EvmQuery, EvmResponse};
    use umbra_primitives::query::WorkerQuery;

    let (node, workers, ids) = k2_network(10_000).await;
    let cluster = create_cluster(&node);
    let c = cluster.as_str();
    assert_eq!(assigned_to(&node, c).len(), 2, "assigned to K = 2 workers");
    let token = artifact("Token");
    let supply = "1000000000000000000000000";
    let run = evm_cli_assigned(
        &node,
        &workers,
        &ids,
        c,
        &["deploy", "--cluster", c, &token, SECRET_NAME, "SEC", supply, "--from", "//Dave"],
    );
    let addr = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("deployed at "))
        .expect("address printed")
        .trim()
        .to_string();
    let run = evm_cli_assigned(
        &node,
        &workers,
        &ids,
        c,
        &[
            "send",
            "--cluster",
            c,
            "--to",
            &addr,
            "transfer(address,uint256)(bool)",
            SECRET_TO,
            SECRET_AMOUNT,
            "--from",
            "//Dave",
        ],
    );
    assert_eq!(run.ok().lines().last(), Some("true"), "{}", run.stdout);
    // The transfer executed: Dave's balance (which only Dave may read) went down by the amount.
    let dave = evm_addr("//Dave");
    let run = evm_cli_assigned(
        &node,
        &workers,
        &ids,
        c,
        &[
            "call",
            "--cluster",
            c,
            "--to",
            &addr,
            "balanceOf(address)(uint256)",
            &dave,
            "--as",
            "//Dave",
        ],
    );
    let left: u128 = run.ok().trim().parse().expect("a balance");
    assert_eq!(left, supply.parse::<u128>().unwrap() - SECRET_AMOUNT.parse::<u128>().unwrap());
    let info = node.rpc("umbra_contract", json!([c]));
    assert_eq!(info["executed"], info["commands"], "{info}");
    assert_eq!(info["commands"], json!(2), "{info}");
    // Let the workers seal and store what they keep (checkpoints, state) before looking.
    node.wait_blocks(8);

    // The calldata's plaintext is in no file of the node and of any worker.
    let to_bytes = hex::decode(SECRET_TO.trim_start_matches("0x")).unwrap();
    let amount_bytes = 6829682039077207777u64.to_be_bytes();
    let secrets: [(&str, &[u8]); 3] = [
        ("recipient address", &to_bytes),
        ("amount", &amount_bytes),
        ("constructor string", SECRET_NAME.as_bytes()),
    ];
    let mut files = files_under(node.base_path());
    let db = files.iter().find(|f| f.ends_with("chain.redb")).expect("the chain database");
    // The search sees what is there: the cluster's id (public) is in the database.
    let id_bytes = hex::decode(c.trim_start_matches("0x")).unwrap();
    let db_bytes = std::fs::read(db).unwrap();
    assert!(db_bytes.windows(32).any(|w| w == id_bytes.as_slice()), "the cluster id is on chain");
    for w in &workers {
        let mine = files_under(w.base_path());
        assert!(!mine.is_empty(), "worker files under {}", w.base_path().display());
        files.extend(mine);
    }
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for (what, secret) in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == *secret),
                "the {what} of an encrypted command is in plaintext in {}",
                file.display()
            );
        }
    }

    // A worker that is not assigned refuses the private call: the CLI says so before asking,
    // and the worker itself, asked directly, does not run the cluster.
    let epoch = node.rpc("umbra_contract", json!([c]))["epoch"].clone();
    let now = assigned_to(&node, c);
    let outsider = (0..3).find(|i| !now.contains(&ids[*i])).expect("a worker not assigned");
    let run = node.cli(&[
        "evm",
        "call",
        "--cluster",
        c,
        "--to",
        &addr,
        "balanceOf(address)(uint256)",
        &dave,
        "--as",
        "//Dave",
        "--worker",
        &workers[outsider].url(),
    ]);
    let line = run.one_line_error();
    assert!(line.contains("is not assigned to cluster"), "{line}");
    let chain = Client::connect(&node.url()).await.unwrap();
    let identity: AccountId = ids[outsider].parse().unwrap();
    let keys = wclient::registered_keys(&chain, &identity).await.unwrap();
    let mut data = hex::decode("70a08231").unwrap();
    data.extend([0u8; 12]);
    data.extend(evm_address(&pair("//Dave").public()));
    let query = EvmQuery::Call {
        to: hex::decode(addr.trim_start_matches("0x")).unwrap().try_into().unwrap(),
        data,
        gas_limit: 1_000_000,
    };
    let cid = c.parse().unwrap();
    let body = WorkerQuery::Contract { id: cid, query: query.encode() }.encode();
    let answer = wclient::query(&workers[outsider].url(), &keys, &pair("//Dave"), body).await;
    if node.rpc("umbra_contract", json!([c]))["epoch"] == epoch {
        let err = answer.map(|a| EvmResponse::decode(&mut &a[..])).expect_err("refused");
        assert!(err.to_string().contains("does not run that contract"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_cluster_survives_killing_an_assigned_worker() {
    use parity_scale_codec::{Decode, Encode};
    use umbra_client::worker as wclient;
    use umbra_primitives::{query::WorkerQuery, H256};

    let (node, mut workers, ids) = k2_network(24).await;
    let cluster = create_cluster(&node);
    let c = cluster.as_str();
    let token = artifact("Token");
    let run = evm_cli_assigned(
        &node,
        &workers,
        &ids,
        c,
        &["deploy", "--cluster", c, &token, "Umbra Token", "UMB", "1000000", "--from", "//Dave"],
    );
    let addr = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("deployed at "))
        .expect("address printed")
        .trim()
        .to_string();
    let eve = evm_addr("//Eve");
    let send = |workers: &[TestWorker], amount: &str| {
        let transfer = "transfer(address,uint256)(bool)";
        let args =
            ["send", "--cluster", c, "--to", &addr, transfer, &eve, amount, "--from", "//Dave"];
        let run = evm_cli_assigned(&node, workers, &ids, c, &args);
        assert_eq!(run.ok().lines().last(), Some("true"), "{}", run.stdout);
    };
    send(&workers, "250");

    // Kill an assigned worker that is not the gatekeeper (it hands the key to the newcomer).
    let chosen = assigned_to(&node, c);
    let by_id = |id: &str| ids.iter().position(|w| w == id).unwrap();
    let victim = chosen.iter().map(|w| by_id(w)).find(|i| *i != 0).expect("a non-gatekeeper");
    workers[victim].kill();
    let moved = wait_for(Duration::from_secs(90), "cluster moved off the killed worker", || {
        let now = assigned_to(&node, c);
        (!now.contains(&ids[victim]) && now.len() == 2).then_some(now)
    });
    let newcomer =
        moved.iter().map(|w| by_id(w)).find(|i| !chosen.contains(&ids[*i])).expect("a newcomer");

    // The newcomer rebuilds the state the chain recorded.
    let chain = Client::connect(&node.url()).await.unwrap();
    let identity: AccountId = ids[newcomer].parse().unwrap();
    let keys = wclient::registered_keys(&chain, &identity).await.unwrap();
    let cid = c.parse().unwrap();
    let want = node.rpc("umbra_contract", json!([c]));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let rebuilt = loop {
        let body = WorkerQuery::ContractState { id: cid }.encode();
        let got = wclient::query(&workers[newcomer].url(), &keys, &pair("//Dave"), body).await;
        if let Ok(bytes) = got {
            let s = <(u64, H256)>::decode(&mut &bytes[..]).unwrap();
            if s.0 == want["commands"].as_u64().unwrap() {
                break s;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the newcomer did not rebuild the cluster within 60 s\n{}",
            workers[newcomer].log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(serde_json::to_value(rebuilt.1).unwrap(), want["stateHash"], "identical state");
    let log = workers[newcomer].log();
    assert!(log.contains("contract state rebuilt"), "the newcomer rebuilt the cluster: {log}");

    // And the cluster goes on: a later transfer executes and an assigned worker answers
    // balanceOf. (Reshuffles every 24 blocks may move the cluster again meanwhile, and a new
    // assignee needs a moment to rebuild: ask whoever is assigned until one answers.)
    send(&workers, "100");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = assigned_to(&node, c);
        let worker = now.iter().map(|w| by_id(w)).find(|i| *i != victim).expect("assigned");
        let run = node.cli(&[
            "evm",
            "call",
            "--cluster",
            c,
            "--to",
            &addr,
            "balanceOf(address)(uint256)",
            &eve,
            "--as",
            "//Eve",
            "--worker",
            &workers[worker].url(),
        ]);
        if run.success() {
            assert_eq!(run.stdout.trim(), "350");
            break;
        }
        assert!(
            run.stderr.contains("does not run that contract")
                || run.stderr.contains("not assigned"),
            "{}",
            run.stderr
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no assigned worker answered: {}",
            run.stderr
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
