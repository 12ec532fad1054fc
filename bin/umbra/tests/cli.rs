//! The `umbra` command line as a user runs it: keys, transfers, accounts, chain head, chain specs.
//! Every test asserts on stdout / stderr and exit codes, and on the chain state over RPC.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use umbra_node::ChainSpec;
use umbra_primitives::{Balance, UNITS};

fn address(uri: &str) -> String {
    pair(uri).public().to_ss58()
}

/// One printed event line `  Module.Name {json}` → (`Module.Name`, fields).
fn printed_events(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let (name, fields) = l.split_once(' ')?;
            Some((name.to_string(), serde_json::from_str(fields).ok()?))
        })
        .collect()
}

/// `included in block #N (0xHASH) at index I` → (N, hash, I).
fn printed_inclusion(stdout: &str) -> (u64, String, u32) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("included in block #"))
        .unwrap_or_else(|| panic!("no inclusion line in:\n{stdout}"));
    let rest = line.strip_prefix("included in block #").unwrap();
    let (number, rest) = rest.split_once(" (").unwrap();
    let (hash, rest) = rest.split_once(") at index ").unwrap();
    (number.parse().unwrap(), hash.to_string(), rest.trim().parse().unwrap())
}

fn fee_params(node: &TestNode) -> (Balance, Balance) {
    let p = node.rpc("umbra_parameters", json!([]));
    (
        p["baseFee"].as_str().unwrap().parse().unwrap(),
        p["byteFee"].as_str().unwrap().parse().unwrap(),
    )
}

/// The fee the chain charged the extrinsic at `index` of block `hash`, recomputed from its length
/// and the chain parameters (tip 0).
fn expected_fee(node: &TestNode, hash: &str, index: u32) -> Balance {
    let block = node.rpc("chain_getBlock", json!([hash]));
    let xt = block["block"]["extrinsics"][index as usize].as_str().expect("extrinsic at index");
    let len = (xt.len() - 2) / 2;
    let (base, byte) = fee_params(node);
    base + byte * len as Balance
}

/// The `FeePaid` fee of the extrinsic at `index` in `umbra_events(hash)`.
fn fee_paid_event(node: &TestNode, hash: &str, index: u32, who: &str) -> Balance {
    let events = node.rpc("umbra_events", json!([hash]));
    let fees: Vec<Balance> = events
        .as_array()
        .expect("events list")
        .iter()
        .filter(|r| r["phase"]["ApplyExtrinsic"] == json!(index))
        .filter_map(|r| r["event"]["Balances"].get("FeePaid"))
        .inspect(|f| assert_eq!(f["who"], json!(who)))
        .map(|f| f["fee"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(fees.len(), 1, "exactly one FeePaid for extrinsic {index}: {events}");
    fees[0]
}

// ---------------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------------

#[test]
fn key_inspect_shows_the_well_known_dev_addresses() {
    for (uri, expected) in [("//Alice", ALICE), ("//Bob", BOB)] {
        let run = umbra(&["key", "inspect", uri]);
        run.ok();
        assert_eq!(run.field("SS58 Address").as_deref(), Some(expected), "{}", run.stdout);
        let public_hex = format!("0x{}", hex::encode(pair(uri).public().as_bytes()));
        assert_eq!(run.field("Public key (hex)"), Some(public_hex));
        assert!(run.stderr.trim().is_empty(), "nothing on stderr: {}", run.stderr);
    }
    // An address inspects as its public key.
    let run = umbra(&["key", "inspect", BOB]);
    run.ok();
    assert_eq!(run.field("SS58 Address").as_deref(), Some(BOB));
}

#[test]
fn key_generate_prints_a_phrase_that_inspects_to_the_same_account() {
    let gen = umbra(&["key", "generate"]);
    gen.ok();
    let phrase = gen.field("Secret phrase").expect("secret phrase line");
    assert_eq!(phrase.split_whitespace().count(), 12, "12-word phrase: {phrase}");
    let generated = gen.field("SS58 Address").expect("address line");
    assert!(generated.starts_with('5') && generated.len() >= 47, "SS58 address: {generated}");
    let inspect = umbra(&["key", "inspect", &phrase]);
    inspect.ok();
    assert_eq!(inspect.field("SS58 Address"), Some(generated.clone()));
    assert_eq!(inspect.field("Public key (hex)"), gen.field("Public key (hex)"));
    // Two generations give two different keys.
    let again = umbra(&["key", "generate"]);
    assert_ne!(again.field("SS58 Address"), Some(generated));
}

#[test]
fn key_inspect_of_an_invalid_uri_fails_with_one_line() {
    // A bad mnemonic, a short seed, an empty junction, an address with a bad checksum.
    for bad in [
        "not a valid phrase at all",
        "0x1234",
        "//Alice//",
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ",
    ] {
        let run = umbra(&["key", "inspect", bad]);
        let line = run.one_line_error();
        assert!(line.contains("invalid secret URI or address"), "{line}");
        assert!(run.stdout.is_empty(), "nothing on stdout for `{bad}`: {}", run.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// transfers and accounts
// ---------------------------------------------------------------------------------------------

#[test]
fn transfer_is_included_and_balances_add_up_exactly() {
    let node = TestNode::dev();
    assert_eq!(node.account(ALICE), Account { free: DEV_BALANCE, reserved: 0, nonce: 0 });

    let run = node.cli(&["transfer", "--from", "//Alice", "--to", BOB, "--amount", "1.5"]);
    let out = run.ok();
    assert!(out.contains(&format!("transfer 1.5 UMB from {ALICE} to {BOB}")), "{out}");
    let (number, hash, index) = printed_inclusion(out);
    assert!(number >= 1);
    assert_eq!(
        node.block_hash(number).as_deref(),
        Some(hash.as_str()),
        "printed block is on chain"
    );

    let events = printed_events(out);
    let transfer =
        events.iter().find(|(n, _)| n == "Balances.Transfer").expect("Transfer event printed");
    assert_eq!(transfer.1, json!({"from": ALICE, "to": BOB, "amount": "1500000000000"}));
    assert!(events
        .iter()
        .any(|(n, f)| n == "System.ExtrinsicSuccess" && f["index"] == json!(index)));
    let printed_fee: Balance = events
        .iter()
        .find(|(n, _)| n == "Balances.FeePaid")
        .map(|(_, f)| f["fee"].as_str().unwrap().parse().unwrap())
        .expect("FeePaid event printed");
    assert_eq!(
        printed_fee,
        fee_paid_event(&node, &hash, index, ALICE),
        "printed fee is the on-chain fee"
    );
    assert_eq!(printed_fee, expected_fee(&node, &hash, index), "fee = base + byte fee × length");

    let bob = node.cli(&["account", BOB]);
    bob.ok();
    assert_eq!(bob.field("address").as_deref(), Some(BOB));
    assert_eq!(bob.field("free").as_deref(), Some("1000001.5 UMB"));
    assert_eq!(bob.field("nonce").as_deref(), Some("0"));

    let alice = node.cli(&["account", ALICE]);
    alice.ok();
    assert_eq!(alice.field("nonce").as_deref(), Some("1"));
    let alice_free = parse_umb(&alice.field("free").unwrap());
    assert_eq!(alice_free, DEV_BALANCE - 1_500_000_000_000 - printed_fee);
    assert_eq!(node.account(ALICE), Account { free: alice_free, reserved: 0, nonce: 1 });
}

#[test]
fn transfer_beyond_the_balance_fails_but_pays_the_fee() {
    let node = TestNode::dev();
    let charlie = address("//Charlie");
    let bob_before = node.account(BOB);
    let charlie_before = node.account(&charlie);

    let run = node.cli(&["transfer", "--from", "//Bob", "--to", &charlie, "--amount", "2000000"]);
    let line = run.one_line_error();
    // A clear message mapped back from the committed (module, error) indices, and its name.
    assert!(
        line.contains(
            "transfer failed: balances::InsufficientBalance (balances: insufficient free balance)"
        ),
        "{line}"
    );
    // It was included (fee paid, nonce used) and says so.
    let (number, hash, index) = printed_inclusion(&run.stdout);
    assert_eq!(node.block_hash(number).as_deref(), Some(hash.as_str()));
    let events = printed_events(&run.stdout);
    assert!(events.iter().any(|(n, f)| n == "System.ExtrinsicFailed"
        && f["error"]["module"] == json!(1)
        && f["error"]["name"] == json!("balances::InsufficientBalance")));
    assert!(
        !events.iter().any(|(n, _)| n == "Balances.Transfer"),
        "no Transfer event: {}",
        run.stdout
    );

    let fee = fee_paid_event(&node, &hash, index, BOB);
    assert_eq!(fee, expected_fee(&node, &hash, index));
    assert_eq!(node.account(BOB), Account { free: bob_before.free - fee, reserved: 0, nonce: 1 });
    assert_eq!(node.account(&charlie), charlie_before, "recipient unchanged");

    // Too little to create a new account: also included, fee paid, nothing moved.
    let fresh = address("//NeverSeenBefore");
    let run = node.cli(&["transfer", "--from", "//Charlie", "--to", &fresh, "--amount", "0.001"]);
    let line = run.one_line_error();
    assert!(line.contains("transfer failed: balances::ExistentialDeposit"), "{line}");
    let (_, hash, index) = printed_inclusion(&run.stdout);
    let fee = fee_paid_event(&node, &hash, index, &charlie);
    assert_eq!(
        node.account(&charlie),
        Account { free: charlie_before.free - fee, reserved: 0, nonce: 1 }
    );
    assert_eq!(node.account(&fresh), Account { free: 0, reserved: 0, nonce: 0 });
}

#[test]
fn transfer_with_bad_input_fails_before_submitting_anything() {
    let node = TestNode::dev();
    let before = node.account(ALICE);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--from", "//Alice", "--to", BOB, "--amount", "abc"],
            "invalid --amount: invalid amount `abc`",
        ),
        (&["--from", "//Alice", "--to", BOB, "--amount", "1.0000000000001"], "at most 12 decimals"),
        (&["--from", "//Alice", "--to", BOB, "--amount", "1e3"], "invalid --amount"),
        (
            &["--from", "//Alice", "--to", BOB, "--amount", "99999999999999999999999999999"],
            "too large",
        ),
        (&["--from", "//Alice", "--to", "5FHneW", "--amount", "1"], "invalid address `5FHneW`"),
        (
            &[
                "--from",
                "//Alice",
                "--to",
                "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694tz",
                "--amount",
                "1",
            ],
            "invalid address",
        ),
        (&["--from", "not a valid phrase", "--to", BOB, "--amount", "1"], "invalid secret URI"),
        (&["--from", "//Alice", "--to", BOB, "--amount", "1", "--tip", "x"], "invalid --tip"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["transfer"];
        full.extend_from_slice(args);
        let run = node.cli(&full);
        let line = run.one_line_error();
        assert!(line.contains(expected), "{args:?}: expected `{expected}` in `{line}`");
        assert!(
            !run.stdout.contains("included in block"),
            "{args:?} was submitted: {}",
            run.stdout
        );
    }
    assert!(node.pending().is_empty(), "nothing pooled");
    // Anything that had been submitted would be included within two blocks.
    node.wait_blocks(2);
    assert_eq!(node.account(ALICE), before, "sender unchanged (nonce and balance)");
    assert_eq!(node.account(BOB).free, DEV_BALANCE, "recipient unchanged");
    assert!(node.pending().is_empty());
}

#[test]
fn account_and_chain_head_refuse_bad_input_and_missing_nodes() {
    let node = TestNode::dev();
    let line = node.cli(&["account", "nope"]).one_line_error().to_string();
    assert!(line.contains("invalid address `nope`"), "{line}");
    // Nothing listens on a freshly released port.
    let dead = format!("ws://127.0.0.1:{}", free_port());
    for args in [
        vec!["chain", "head", "--rpc", &dead],
        vec!["account", ALICE, "--rpc", &dead],
        vec!["transfer", "--from", "//Alice", "--to", BOB, "--amount", "1", "--rpc", &dead],
    ] {
        let run = umbra(&args);
        let line = run.one_line_error();
        assert!(line.contains("cannot connect"), "{line}");
    }
}

#[test]
fn chain_head_prints_a_verified_header() {
    let node = TestNode::dev();
    node.wait_for_block(2);
    let run = node.cli(&["chain", "head"]);
    run.ok();
    assert_eq!(run.field("chain").as_deref(), Some("Umbra Development"));
    let number: u64 = run.field("number").expect("number line").parse().expect("number");
    assert!(number >= 2, "{}", run.stdout);
    let hash = run.field("hash").expect("hash line");
    assert_eq!(node.block_hash(number), Some(hash), "printed hash is the hash of block #{number}");
    let parent = run.field("parent").expect("parent line");
    assert_eq!(node.block_hash(number - 1), Some(parent));
    assert_eq!(run.field("author").as_deref(), Some(ALICE));
    let randomness =
        run.stdout.lines().find(|l| l.starts_with("randomness:")).expect("randomness line");
    assert!(randomness.ends_with("(VRF and seal verified)"), "{randomness}");
    let hex_part = randomness.split_whitespace().nth(1).unwrap();
    assert_eq!(hex_part.len(), 66, "32-byte randomness: {hex_part}");
}

// ---------------------------------------------------------------------------------------------
// chain specs
// ---------------------------------------------------------------------------------------------

fn write_spec(dir: &std::path::Path, name: &str, spec: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(spec).unwrap()).unwrap();
    path
}

#[test]
fn build_spec_output_runs_the_same_chain_as_dev() {
    let specs = tempfile::tempdir().unwrap();
    let run = umbra(&["build-spec", "--dev"]);
    let spec: Value = serde_json::from_str(run.ok()).expect("build-spec prints JSON");
    assert_eq!(spec["name"], json!("Umbra Development"));
    let file = specs.path().join("spec.json");
    std::fs::write(&file, &run.stdout).unwrap();

    let dev = TestNode::dev();
    let from_file = TestNode::start(Chain::Spec { file, authority: "//Alice".into() });
    let genesis = dev.genesis_hash();
    assert_eq!(from_file.genesis_hash(), genesis, "same genesis from the exported spec");
    assert_eq!(genesis, ChainSpec::dev().genesis_hash().unwrap().to_string());
    assert_eq!(from_file.rpc("system_chain", json!([])), json!("Umbra Development"));
    from_file.wait_for_block(2);
    assert_eq!(from_file.account(ALICE), dev.account(ALICE));
    // A transaction signed against one node's genesis is valid on the other.
    from_file.cli(&["transfer", "--from", "//Alice", "--to", BOB, "--amount", "1"]).ok();
}

/// The first line of the insecure-chain banner the node prints.
const BANNER: &str = "INSECURE CHAIN: this chain accepts SIMULATED TEE workers";

#[test]
fn dev_node_prints_the_insecure_banner_and_the_local_chain_forbids_simulated_workers() {
    // The dev chain accepts simulated workers: the node says so, loudly, at warn level.
    let dev = TestNode::dev();
    let log = dev.log();
    let banner: Vec<&str> =
        log.lines().filter(|l| l.contains("WARN") && l.contains("##")).collect();
    assert!(banner.len() >= 5, "multi-line banner expected:\n{log}");
    assert!(banner.iter().any(|l| l.contains(BANNER)), "{log}");

    // `build-spec --chain local` is production-like.
    let specs = tempfile::tempdir().unwrap();
    let run = umbra(&["build-spec", "--chain", "local"]);
    let spec: Value = serde_json::from_str(run.ok()).expect("build-spec prints JSON");
    assert_eq!(spec["id"], json!("umbra_local"));
    assert_eq!(spec["genesis"]["registry"]["allowInsecurePlatforms"], json!(false));
    assert_eq!(spec["genesis"]["registry"]["policy"]["allowSimulated"], json!(false));
    let file = write_spec(specs.path(), "local.json", &spec);
    let local = TestNode::start(Chain::Spec { file, authority: "//Alice".into() });
    assert_eq!(local.rpc("system_chain", json!([])), json!("Umbra Local Testnet"));
    local.wait_for_block(1);
    let log = local.log();
    assert!(!log.contains(BANNER), "no banner on a chain that forbids simulated workers:\n{log}");
    assert!(log.contains("node started"), "{log}");

    // The council cannot enable the simulated platform on it.
    let mut policy = umbra_runtime::genesis::RegistryGenesis::local().policy;
    policy.allow_simulated = true;
    policy.simulated_roots =
        vec![umbra_runtime::genesis::Authority(umbra_tee::dev_vendor_root().public())];
    let call = umbra_runtime::Call::Registry(umbra_runtime::registry::Call::SetAttestationPolicy {
        policy,
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let inc = rt.block_on(async {
        let client = umbra_client::Client::connect(&local.url()).await.expect("connect");
        client.sign_and_watch(&pair("//Alice"), call, 0).await.expect("included")
    });
    assert!(!inc.success, "{:?}", inc.events);
    assert_eq!(
        umbra_client::cli::failure_reason(&inc).as_deref(),
        Some("registry::InsecurePlatformForbidden")
    );

    // A local spec edited to allow the simulated platform is refused at start-up.
    let mut bad = spec.clone();
    bad["genesis"]["registry"]["policy"] = dev_spec_json()["genesis"]["registry"]["policy"].clone();
    let bad_file = write_spec(specs.path(), "bad.json", &bad);
    let bad_path = bad_file.display().to_string();
    let run = umbra(&[
        "node",
        "--chain",
        &bad_path,
        "--authority",
        "//Alice",
        "--base-path",
        &specs.path().join("db").display().to_string(),
    ]);
    assert!(!run.success());
    assert!(run.stderr.contains("forbids insecure platforms"), "{}", run.stderr);
    assert!(umbra(&["build-spec", "--chain", "mainnet"]).stderr.contains("unknown chain"));
}

/// Governance turning simulated workers back on at run time is announced as loudly as at start.
#[test]
fn the_banner_returns_when_governance_starts_accepting_simulated_workers_again() {
    let dev = TestNode::dev();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = |allow: bool| {
        let mut policy = umbra_runtime::genesis::RegistryGenesis::dev().policy;
        policy.allow_simulated = allow;
        let call =
            umbra_runtime::Call::Registry(umbra_runtime::registry::Call::SetAttestationPolicy {
                policy,
            });
        let inc = rt.block_on(async {
            let client = umbra_client::Client::connect(&dev.url()).await.expect("connect");
            client.sign_and_watch(&pair("//Alice"), call, 0).await.expect("included")
        });
        assert!(inc.success, "{:?}", inc.events);
    };
    let banners = || dev.log().matches(BANNER).count();
    assert_eq!(banners(), 1, "printed at start-up");
    set(false);
    dev.wait_for_block(dev.head_number() + 2);
    assert_eq!(banners(), 1, "nothing new while simulated workers are refused");
    set(true);
    dev.wait_for_block(dev.head_number() + 2);
    assert_eq!(banners(), 2, "printed again once they are accepted:\n{}", dev.log());
}

#[test]
fn edited_spec_gives_another_genesis_with_the_new_account() {
    let specs = tempfile::tempdir().unwrap();
    let zed = address("//Zed");
    let mut spec = dev_spec_json();
    spec["genesis"]["balances"]
        .as_array_mut()
        .unwrap()
        .push(json!({"address": zed, "balance": "42000000000000"}));
    let file = write_spec(specs.path(), "edited.json", &spec);

    let node = TestNode::start(Chain::Spec { file, authority: "//Alice".into() });
    let dev_genesis = ChainSpec::dev().genesis_hash().unwrap().to_string();
    assert_ne!(node.genesis_hash(), dev_genesis, "an edited genesis is another chain");
    assert_eq!(node.account(&zed), Account { free: 42 * UNITS, reserved: 0, nonce: 0 });
    let shown = node.cli(&["account", &zed]);
    assert_eq!(shown.field("free").as_deref(), Some("42 UMB"), "{}", shown.stdout);
    // The new account can spend on its chain.
    node.cli(&["transfer", "--from", "//Zed", "--to", BOB, "--amount", "2"]).ok();
    let after = node.account(&zed);
    assert_eq!(after.nonce, 1);
    assert!(after.free < 40 * UNITS && after.free > 39 * UNITS, "{after:?}");
}

#[test]
fn node_refuses_malformed_specs_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let good = dev_spec_json();
    let mut unknown_field = good.clone();
    unknown_field["extra"] = json!(1);
    let mut no_authority = good.clone();
    no_authority["genesis"]["authorities"] = json!([]);
    let mut bad_balance = good.clone();
    bad_balance["genesis"]["balances"][0]["balance"] = json!("lots");
    let mut bad_address = good.clone();
    bad_address["genesis"]["council"] = json!("5Grw");
    let mut duplicate = good.clone();
    let first = duplicate["genesis"]["balances"][0].clone();
    duplicate["genesis"]["balances"].as_array_mut().unwrap().push(first);

    std::fs::write(dir.path().join("garbage.json"), "{ this is not json").unwrap();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (dir.path().join("garbage.json"), "invalid chain spec"),
        (write_spec(dir.path(), "unknown.json", &unknown_field), "unknown field"),
        (write_spec(dir.path(), "noauth.json", &no_authority), "authority"),
        (write_spec(dir.path(), "balance.json", &bad_balance), "invalid chain spec"),
        (write_spec(dir.path(), "address.json", &bad_address), "invalid chain spec"),
        (write_spec(dir.path(), "duplicate.json", &duplicate), "funded twice"),
        (dir.path().join("missing.json"), "cannot read chain spec"),
    ];
    for (i, (file, expected)) in cases.iter().enumerate() {
        let base = dir.path().join(format!("db-{i}"));
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("node")
            .arg("--chain")
            .arg(file)
            .args(["--authority", "//Alice", "--base-path"])
            .arg(&base);
        cmd.args(["--rpc-addr", "127.0.0.1:0", "--block-time-ms", "250"]);
        let run = run_with_timeout(cmd, Duration::from_secs(30));
        let line = run.one_line_error();
        assert!(line.contains(expected), "{}: expected `{expected}` in `{line}`", file.display());
        assert!(!base.join("chain.redb").exists(), "no database created for a refused spec");
    }

    let spec = write_spec(dir.path(), "good.json", &good);
    let base = dir.path().join("db-args");
    let base = base.to_str().unwrap();
    let spec = spec.to_str().unwrap();
    let arg_cases: &[(&[&str], &str)] = &[
        (
            &["node", "--chain", spec, "--base-path", base, "--rpc-addr", "127.0.0.1:0"],
            "--authority URI is required",
        ),
        (
            &["node", "--chain", spec, "--authority", "no such key", "--base-path", base],
            "invalid --authority",
        ),
        (&["node", "--base-path", base], "choose a chain"),
        (
            &["node", "--dev", "--base-path", base, "--block-time-ms", "5"],
            "--block-time-ms must be between",
        ),
    ];
    for (args, expected) in arg_cases {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(*args);
        let run = run_with_timeout(cmd, Duration::from_secs(30));
        let line = run.one_line_error();
        assert!(line.contains(expected), "{args:?}: expected `{expected}` in `{line}`");
    }
}
