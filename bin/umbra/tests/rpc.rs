//! The node's JSON-RPC, raw (hand-rolled HTTP/1.1) and through the SDK: refused transactions and
//! their codes, nonces and the pool, response shapes, and header subscriptions.

mod common;

use std::time::Duration;

use common::*;
use jsonrpsee::rpc_params;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use umbra_client::{Client, ClientError};
use umbra_primitives::{
    json::{to_hex, HeaderJson},
    AccountId, Balance, Header, Nonce, Pair, H256, UNITS,
};
use umbra_runtime::{balances, system, Call, Extrinsic};

fn transfer(dest: AccountId, amount: Balance) -> Call {
    Call::Balances(balances::Call::Transfer { dest, amount })
}

fn signed(signer: &Pair, call: Call, nonce: Nonce, genesis: H256) -> Vec<u8> {
    Extrinsic::new_signed(signer, call, nonce, 0, genesis).encode()
}

fn genesis_of(node: &TestNode) -> H256 {
    node.genesis_hash().parse().expect("genesis hash parses")
}

fn submit(node: &TestNode, bytes: &[u8]) -> Value {
    node.rpc_raw("author_submitExtrinsic", json!([to_hex(bytes)]))
}

fn fee_params(node: &TestNode) -> (Balance, Balance) {
    let p = node.rpc("umbra_parameters", json!([]));
    (
        p["baseFee"].as_str().unwrap().parse().unwrap(),
        p["byteFee"].as_str().unwrap().parse().unwrap(),
    )
}

fn ss58(uri: &str) -> String {
    pair(uri).public().to_ss58()
}

/// (block number, index) of the extrinsic with `hash`, scanning blocks 1..=head.
fn find_extrinsic(node: &TestNode, hash: &H256) -> Option<(u64, usize)> {
    let head = node.head_number();
    (1..=head).find_map(|n| {
        let block_hash = node.block_hash(n)?;
        let block = node.rpc("chain_getBlock", json!([block_hash]));
        block["block"]["extrinsics"]
            .as_array()?
            .iter()
            .position(|x| {
                let bytes = umbra_primitives::json::from_hex(x.as_str().unwrap()).unwrap();
                H256::hash(&bytes) == *hash
            })
            .map(|i| (n, i))
    })
}

#[test]
fn every_invalid_transaction_is_refused_with_its_code_and_changes_nothing() {
    let node = TestNode::dev();
    let genesis = genesis_of(&node);
    let alice = pair("//Alice");
    let bob = pair("//Bob").public();

    // Give Alice a used nonce so that "stale" has something to be stale against.
    let first = signed(&alice, transfer(bob, UNITS), 0, genesis);
    assert!(submit(&node, &first)["result"].is_string());
    wait_for(Duration::from_secs(15), "first transfer", || {
        (node.account(ALICE).nonce == 1).then_some(())
    });
    let before = node.account(ALICE);
    assert!(node.pending().is_empty());

    let valid = signed(&alice, transfer(bob, 2 * UNITS), 1, genesis);
    let head_len =
        Extrinsic::new_signed(&alice, transfer(bob, 2 * UNITS), 1, 0, genesis).head.encode().len();

    let mut truncated = valid.clone();
    truncated.truncate(valid.len() - 3);
    let mut trailing = valid.clone();
    trailing.push(0);
    let mut version = valid.clone();
    version[0] = 2;
    let mut unknown_call = valid.clone();
    unknown_call[head_len + 1] = 9;
    let mut unknown_module = valid.clone();
    unknown_module[head_len] = 42;
    let mut bad_sig = valid.clone();
    bad_sig[1 + 32 + 5] ^= 0x01; // inside the signature
    let mut forged = Extrinsic::new_signed(&alice, transfer(bob, 2 * UNITS), 1, 0, genesis);
    forged.call = transfer(bob, 2000 * UNITS);
    let oversize =
        signed(&alice, Call::System(system::Call::Remark { data: vec![7u8; 70_000] }), 1, genesis);
    let unfunded = pair("//NobodyFundedThis");

    let cases: Vec<(&str, String, i64, &str)> = vec![
        ("not hex", "0xzz".into(), 1001, "malformed extrinsic"),
        ("empty", "0x".into(), 1001, "malformed extrinsic"),
        ("truncated", to_hex(&truncated), 1001, "malformed extrinsic"),
        ("trailing byte", to_hex(&trailing), 1001, "trailing"),
        ("version 2", to_hex(&version), 1002, "unsupported extrinsic version 2"),
        ("unknown call", to_hex(&unknown_call), 1003, "unknown call: module index 1, call index 9"),
        ("unknown module", to_hex(&unknown_module), 1003, "unknown call: module index 42"),
        (
            "other chain",
            to_hex(&signed(&alice, transfer(bob, 3), 1, H256::hash(b"another chain"))),
            1004,
            "another chain",
        ),
        ("flipped signature bit", to_hex(&bad_sig), 1005, "bad signature"),
        ("changed amount", to_hex(&forged.encode()), 1005, "bad signature"),
        (
            "stale nonce",
            to_hex(&signed(&alice, transfer(bob, 5), 0, genesis)),
            1006,
            "stale nonce 0",
        ),
        (
            "far future nonce",
            to_hex(&signed(&alice, transfer(bob, 5), 1 + 65, genesis)),
            1007,
            "too far in the future",
        ),
        (
            "unfunded signer",
            to_hex(&signed(&unfunded, transfer(bob, 5), 0, genesis)),
            1008,
            "insufficient balance to pay the fee",
        ),
        ("oversize", to_hex(&oversize), 1009, "exceeds the maximum of 65536 bytes"),
    ];
    for (name, hex, code, message) in &cases {
        let resp = node.rpc_raw("author_submitExtrinsic", json!([hex]));
        let (got_code, got_message) = rpc_error(&resp);
        assert_eq!(got_code, *code, "{name}: {got_message}");
        assert!(got_message.contains(message), "{name}: expected `{message}` in `{got_message}`");
        assert!(!got_message.contains('\n'), "{name}: one-line message");
        assert!(node.pending().is_empty(), "{name}: nothing pooled");
        assert_eq!(node.account(ALICE), before, "{name}: sender unchanged");
    }
    assert_eq!(
        node.account(&unfunded.public().to_ss58()),
        Account { free: 0, reserved: 0, nonce: 0 }
    );

    // Duplicates and same-nonce replacements: park a transaction behind a nonce gap so it stays.
    let parked = signed(&alice, transfer(bob, 11), 3, genesis);
    let resp = submit(&node, &parked);
    assert_eq!(
        resp["result"],
        json!(H256::hash(&parked).to_string()),
        "returns the transaction hash"
    );
    assert_eq!(node.pending(), vec![to_hex(&parked)]);
    let (code, message) = rpc_error(&submit(&node, &parked));
    assert_eq!(code, 1011, "{message}");
    assert!(message.contains("already in the pool"), "{message}");
    let (code, message) = rpc_error(&submit(&node, &signed(&alice, transfer(bob, 12), 3, genesis)));
    assert_eq!(code, 1012, "{message}");
    assert!(message.contains("raise the tip"), "{message}");
    assert_eq!(node.pending(), vec![to_hex(&parked)], "pool unchanged by refused duplicates");

    // Had anything slipped into the pool, the next blocks would have included it.
    node.wait_blocks(2);
    assert_eq!(node.account(ALICE), before, "sender unchanged after more blocks");
    assert_eq!(node.pending(), vec![to_hex(&parked)]);
    assert_eq!(node.account(BOB).free, DEV_BALANCE + UNITS, "only the first transfer arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_refusals_with_their_codes() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    let alice = pair("//Alice");
    let bob = pair("//Bob").public();
    let wrong_chain = signed(&alice, transfer(bob, 1), 0, H256::hash(b"elsewhere"));
    match client.submit(&wrong_chain).await {
        Err(ClientError::Rpc { code: 1004, message }) => {
            assert!(message.contains("another chain"), "{message}")
        }
        other => panic!("expected a 1004 refusal, got {other:?}"),
    }
    // The watching path refuses the same way, before any subscription is opened.
    match client.submit_and_watch(&wrong_chain).await {
        Err(ClientError::Rpc { code: 1004, .. }) => {}
        other => panic!("expected a 1004 refusal, got {other:?}"),
    }
    match client.submit_and_watch(&[1, 2, 3]).await {
        Err(ClientError::Rpc { code: 1001, .. }) => {}
        other => panic!("expected a 1001 refusal, got {other:?}"),
    }
    let bad_params: Result<Value, _> =
        client.call("umbra_account", rpc_params!["not an address"]).await;
    match bad_params {
        Err(ClientError::Rpc { code: -32602, message }) => {
            assert!(message.contains("invalid address"), "{message}")
        }
        other => panic!("expected invalid params, got {other:?}"),
    }
    assert!(node.pending().is_empty());
    assert_eq!(client.account(&alice.public()).await.unwrap().nonce, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_consecutive_nonces_submitted_at_once_are_all_included() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    let alice = pair("//Alice");
    let bob = pair("//Bob").public();
    let (base_fee, byte_fee) = fee_params(&node);

    let txs: Vec<Vec<u8>> =
        (0..5).map(|n| signed(&alice, transfer(bob, UNITS), n, client.genesis_hash())).collect();
    for tx in &txs {
        assert_eq!(client.submit(tx).await.expect("pooled"), H256::hash(tx));
    }
    assert_eq!(
        client.next_nonce(&alice.public()).await.unwrap(),
        5,
        "the pool counts pending nonces"
    );
    wait_for(Duration::from_secs(20), "all five included", || {
        (node.account(ALICE).nonce == 5).then_some(())
    });
    wait_for(Duration::from_secs(5), "empty pool", || node.pending().is_empty().then_some(()));

    let fees: Balance = txs.iter().map(|t| base_fee + byte_fee * t.len() as Balance).sum();
    assert_eq!(
        node.account(ALICE),
        Account { free: DEV_BALANCE - 5 * UNITS - fees, reserved: 0, nonce: 5 }
    );
    assert_eq!(node.account(BOB).free, DEV_BALANCE + 5 * UNITS);
    // Each is on chain exactly once, in nonce order, and succeeded.
    let mut last = (0, 0);
    for tx in &txs {
        let at = find_extrinsic(&node, &H256::hash(tx)).expect("included");
        assert!(at > last, "nonce order: {at:?} after {last:?}");
        last = at;
        let events = client.events(node.block_hash(at.0).unwrap().parse().unwrap()).await.unwrap();
        assert!(events.iter().any(|r| r["phase"]["ApplyExtrinsic"] == json!(at.1)
            && r["event"]["System"].get("ExtrinsicSuccess").is_some()));
    }
}

#[test]
fn future_nonce_waits_in_the_pool_until_the_gap_is_filled() {
    let node = TestNode::dev();
    let genesis = genesis_of(&node);
    let charlie = pair("//Charlie");
    let dave = pair("//Dave").public();
    let charlie_addr = charlie.public().to_ss58();

    let later = signed(&charlie, transfer(dave, 2 * UNITS), 1, genesis);
    assert!(submit(&node, &later)["result"].is_string());
    node.wait_blocks(3);
    assert_eq!(node.pending(), vec![to_hex(&later)], "still waiting for nonce 0");
    assert_eq!(node.account(&charlie_addr).nonce, 0);
    assert_eq!(
        node.rpc("system_accountNextIndex", json!([charlie_addr])),
        json!(0),
        "the gap is the next nonce"
    );
    assert_eq!(node.account(&dave.to_ss58()).free, DEV_BALANCE);

    let gap = signed(&charlie, transfer(dave, UNITS), 0, genesis);
    assert!(submit(&node, &gap)["result"].is_string());
    wait_for(Duration::from_secs(15), "both included", || {
        (node.account(&charlie_addr).nonce == 2).then_some(())
    });
    assert!(node.pending().is_empty());
    assert_eq!(node.account(&dave.to_ss58()).free, DEV_BALANCE + 3 * UNITS);
    let first = find_extrinsic(&node, &H256::hash(&gap)).unwrap();
    let second = find_extrinsic(&node, &H256::hash(&later)).unwrap();
    assert!(first < second, "nonce 0 ({first:?}) before nonce 1 ({second:?})");
}

fn assert_hash(v: &Value, what: &str) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("{what} should be a hash string: {v}"));
    assert!(
        s.starts_with("0x") && s.len() == 66 && s[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{what}: {s}"
    );
    s.to_string()
}

fn assert_header_shape(h: &Value) -> HeaderJson {
    for key in ["hash", "parentHash", "stateRoot", "extrinsicsRoot", "eventsRoot"] {
        assert_hash(&h[key], key);
    }
    assert!(h["number"].is_u64() && h["timestamp"].is_u64(), "{h}");
    assert_eq!(h["vrfOutput"].as_str().map(str::len), Some(2 + 64), "{h}");
    assert_eq!(h["vrfProof"].as_str().map(str::len), Some(2 + 128), "{h}");
    assert_eq!(h["seal"].as_str().map(str::len), Some(2 + 128), "{h}");
    let j: HeaderJson = serde_json::from_value(h.clone()).expect("header JSON");
    Header::try_from(&j).expect("fields hash to the claimed hash");
    j
}

#[test]
fn rpc_methods_answer_with_the_expected_shapes() {
    let node = TestNode::dev();
    assert_eq!(
        node.rpc("system_health", json!([])),
        json!({"peers": 0, "isSyncing": false, "shouldHavePeers": false})
    );
    assert_eq!(node.rpc("system_chain", json!([])), json!("Umbra Development"));
    let props = node.rpc("system_properties", json!([]));
    assert_eq!(props["tokenSymbol"], json!("UMB"));
    assert_eq!(props["tokenDecimals"], json!(12));
    assert_eq!(node.rpc("system_accountNextIndex", json!([ALICE])), json!(0));

    // A block with a transaction in it.
    let out = node.cli(&["transfer", "--from", "//Alice", "--to", BOB, "--amount", "3"]);
    out.ok();
    let line =
        out.stdout.lines().find(|l| l.starts_with("included in block #")).unwrap().to_string();
    let number: u64 =
        line["included in block #".len()..].split(' ').next().unwrap().parse().unwrap();
    node.wait_for_block(number + 1);

    let genesis = assert_hash(&node.rpc("chain_getBlockHash", json!([0])), "genesis");
    let hash = assert_hash(&node.rpc("chain_getBlockHash", json!([number])), "block hash");
    assert_eq!(
        node.rpc("chain_getBlockHash", json!([1_000_000_000])),
        Value::Null,
        "unknown number"
    );
    assert_hash(&node.rpc("chain_getBlockHash", json!([])), "head hash");

    let header = node.rpc("chain_getHeader", json!([hash]));
    let hj = assert_header_shape(&header);
    assert_eq!((hj.number, hj.hash.to_string()), (number, hash.clone()));
    assert_eq!(header["author"], json!(ALICE));
    assert_eq!(hj.parent_hash.to_string(), node.block_hash(number - 1).unwrap());
    let head = node.rpc("chain_getHeader", json!([]));
    assert!(assert_header_shape(&head).number > number);
    let genesis_header = node.rpc("chain_getHeader", json!([genesis]));
    assert_eq!(genesis_header["number"], json!(0));
    assert_eq!(genesis_header["parentHash"], json!(H256::ZERO.to_string()));
    let unknown = H256::hash(b"no such block").to_string();
    assert_eq!(node.rpc("chain_getHeader", json!([unknown])), Value::Null);
    let (code, _) = rpc_error(&node.rpc_raw("chain_getHeader", json!(["0x1234"])));
    assert_eq!(code, -32602, "a malformed hash is invalid params");

    let block = node.rpc("chain_getBlock", json!([hash]));
    assert_eq!(block["justifications"], Value::Null);
    assert_eq!(block["block"]["header"], header);
    let xts = block["block"]["extrinsics"].as_array().expect("extrinsics list");
    assert_eq!(xts.len(), 1, "{block}");
    assert!(xts[0].as_str().unwrap().starts_with("0x"));
    assert_eq!(node.rpc("chain_getBlock", json!([unknown])), Value::Null);

    let finalized = assert_hash(&node.rpc("chain_getFinalizedHead", json!([])), "finalized head");
    let fin = node.rpc("chain_getHeader", json!([finalized]));
    assert!(fin["number"].as_u64().unwrap() > number, "dev blocks are final at once: {fin}");

    assert_eq!(node.rpc("author_pendingExtrinsics", json!([])), json!([]));

    let alice = node.rpc("umbra_account", json!([ALICE]));
    assert!(
        alice["free"].is_string() && alice["reserved"] == json!("0") && alice["nonce"] == json!(1),
        "{alice}"
    );
    assert_eq!(
        node.rpc("umbra_account", json!([ss58("//Nobody")])),
        json!({"free": "0", "reserved": "0", "nonce": 0})
    );

    let events = node.rpc("umbra_events", json!([hash]));
    let events = events.as_array().expect("events list");
    let names: Vec<String> = events
        .iter()
        .filter(|r| r["phase"] == json!({"ApplyExtrinsic": 0}))
        .map(|r| {
            let (module, inner) = r["event"].as_object().unwrap().iter().next().unwrap();
            format!("{module}.{}", inner.as_object().unwrap().keys().next().unwrap())
        })
        .collect();
    assert_eq!(names, ["Balances.FeePaid", "Balances.Transfer", "System.ExtrinsicSuccess"]);
    let t = events.iter().find_map(|r| r["event"]["Balances"].get("Transfer")).unwrap();
    assert_eq!(t, &json!({"from": ALICE, "to": BOB, "amount": "3000000000000"}));
    assert_eq!(node.rpc("umbra_events", json!([genesis])), json!([]));
    assert_eq!(node.rpc("umbra_events", json!([unknown])), Value::Null);

    let params = node.rpc("umbra_parameters", json!([]));
    for key in [
        "blockTimeMs",
        "baseFee",
        "byteFee",
        "existentialDeposit",
        "maxExtrinsicSize",
        "maxBlockExtrinsics",
    ] {
        assert!(!params[key].is_null(), "{key} in {params}");
    }
    let (code, _) = rpc_error(&node.rpc_raw("no_suchMethod", json!([])));
    assert_eq!(code, -32601);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_subscriptions_deliver_consecutive_linked_headers() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    for finalized in [false, true] {
        let mut sub = if finalized {
            client.subscribe_finalized_heads().await.expect("subscribe")
        } else {
            client.subscribe_heads().await.expect("subscribe")
        };
        let mut prev: Option<HeaderJson> = None;
        for _ in 0..4 {
            let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("a header within 10 s")
                .expect("subscription open")
                .expect("header decodes");
            let header = Header::try_from(&next).expect("header hashes to its claimed hash");
            header.verify_seal(&[pair("//Alice").public()]).expect("sealed by Alice");
            assert_eq!(
                node.block_hash(next.number),
                Some(next.hash.to_string()),
                "announced header is on chain"
            );
            if let Some(p) = &prev {
                assert_eq!(next.number, p.number + 1, "consecutive (finalized: {finalized})");
                assert_eq!(next.parent_hash, p.hash, "linked (finalized: {finalized})");
            }
            prev = Some(next);
        }
        sub.unsubscribe().await.expect("unsubscribe");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_signs_watches_and_reads_back() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    assert_eq!(client.genesis_hash(), genesis_of(&node));
    assert_eq!(client.chain_name().await.unwrap(), "Umbra Development");
    let head = client.head().await.expect("head");
    assert!(head.number <= node.head_number());

    let alice = pair("//Alice");
    let bob = pair("//Bob");
    let inc = client
        .sign_and_watch(&alice, transfer(bob.public(), 7 * UNITS), 0)
        .await
        .expect("included");
    assert!(inc.success);
    assert_eq!(node.block_hash(inc.block_number), Some(inc.block_hash.to_string()));
    assert!(
        inc.events.iter().any(|e| e["Balances"]["Transfer"]["amount"] == json!("7000000000000")),
        "{:?}",
        inc.events
    );
    let block = client.block(inc.block_hash).await.unwrap().expect("block");
    assert_eq!(H256::hash(&block.extrinsics[inc.index as usize]), inc.tx_hash);
    assert_eq!(client.next_nonce(&alice.public()).await.unwrap(), 1);
    let info = client.account(&bob.public()).await.unwrap();
    assert_eq!(info.free, DEV_BALANCE + 7 * UNITS);

    // A call that fails is still included: success is false, and the failure is in the events.
    let inc = client
        .sign_and_watch(&bob, transfer(alice.public(), 5_000_000 * UNITS), 0)
        .await
        .expect("included");
    assert!(!inc.success);
    assert!(inc.events.iter().any(|e| e["System"]["ExtrinsicFailed"]["error"]["name"]
        == json!("balances::InsufficientBalance")));
    assert_eq!(client.account(&bob.public()).await.unwrap().nonce, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_replaced_by_a_higher_tip_ends_its_watch() {
    let node = TestNode::dev();
    let client = Client::connect(&node.url()).await.expect("connect");
    let watching = Client::connect(&node.url()).await.expect("connect");
    let eve = pair("//Eve");
    let bob = pair("//Bob").public();
    let g = client.genesis_hash();
    // Nonce 1 waits behind a gap, so the low-tip transaction is still pooled when replaced.
    let low = Extrinsic::new_signed(&eve, transfer(bob, UNITS), 1, 0, g).encode();
    let high = Extrinsic::new_signed(&eve, transfer(bob, 2 * UNITS), 1, 5, g).encode();
    let gap = Extrinsic::new_signed(&eve, transfer(bob, 3 * UNITS), 0, 0, g).encode();
    let low_hash = H256::hash(&low);
    let watch = tokio::spawn(async move { watching.submit_and_watch(&low).await });
    wait_for(Duration::from_secs(10), "the watched transaction in the pool", || {
        (node.pending().len() == 1).then_some(())
    });
    assert_eq!(client.submit(&high).await.expect("higher tip replaces"), H256::hash(&high));
    assert_eq!(node.pending(), vec![to_hex(&high)]);
    client.submit(&gap).await.expect("gap filled");
    let outcome = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .expect("the watch of a replaced transaction ends")
        .expect("watch task");
    match outcome {
        Err(ClientError::Dropped(h)) => assert_eq!(h, low_hash),
        other => panic!("expected Dropped({low_hash}), got {other:?}"),
    }
    wait_for(Duration::from_secs(10), "both included", || {
        (node.account(&ss58("//Eve")).nonce == 2).then_some(())
    });
    assert_eq!(
        node.account(BOB).free,
        DEV_BALANCE + 5 * UNITS,
        "the replacement moved 2 UMB, not 1"
    );
    assert!(
        find_extrinsic(&node, &low_hash).is_none(),
        "the replaced transaction is never included"
    );
}
