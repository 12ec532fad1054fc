//! The applications of docs/APPS.md end to end, on a real `umbra dev` network (node, one
//! simulated worker, the demo apps it deploys), driven only through the commands it prints
//! (`umbra asset|secret|box` with the exported environment): every user story, every refusal
//! as one line, a mystery-box reveal that verifies and a forged one that does not, and a byte
//! search showing that the node's and the worker's files hold no plaintext of the secrets, the
//! items or the private balances.

mod common;
mod devnet;

use std::{process::Command, time::Duration};

use common::{bin, files_under, run_with_timeout, wait_for, Run};
use devnet::DevNet;
use serde_json::json;

/// A secret whose 32 bytes appear nowhere else (the vault's "private key").
const VAULT_KEY: [u8; 32] = *b"\x5e\xc7\x3e\x7c\x4a\x11\x5e\xc7\x3e\x7c\x4a\x11\xfe\xed\xfa\xce\
\x01\x23\x45\x67\x89\xab\xcd\xef\xde\xad\xbe\xef\xca\xfe\xba\xbe";
/// An item of a collection minted here (it stays unopened).
const HIDDEN_ITEM: &str = "hidden-item-7f3a9c21-never-opened";
/// The supply of an issued asset and a private transfer of it: eight distinctive bytes each.
const SUPPLY: u64 = 0x5ec7_e7a1_1c0f_fee1;
const SENT: u64 = 0x1a2b_3c4d_5e6f_7081;

struct Env {
    rpc: String,
    vars: Vec<(String, String)>,
}

impl Env {
    /// Runs `umbra ARGS` with the environment `umbra dev` printed.
    fn umbra(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin());
        cmd.args(args).args(["--rpc", &self.rpc]);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        run_with_timeout(cmd, Duration::from_secs(180))
    }

    fn ok(&self, args: &[&str]) -> String {
        self.umbra(args).ok().to_string()
    }

    /// The one-line error of a refused action (it must contain `expect`).
    fn refused(&self, args: &[&str], expect: &str) {
        let run = self.umbra(args);
        let line = run.one_line_error();
        assert!(line.contains(expect), "`umbra {}`: {line}", args.join(" "));
    }
}

fn chain_free(net: &DevNet, uri: &str) -> u128 {
    let who = common::pair(uri).public().to_ss58();
    let a = net.rpc("umbra_account", json!([who])).expect("account");
    a["free"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn apps_user_stories_through_the_cli_against_umbra_dev() {
    let dir = tempfile::Builder::new().prefix("umbra-it-apps-").tempdir().expect("tempdir");
    let base = dir.path().join("net");
    let mut net = DevNet::start(&base, 1);
    net.wait_all_computing(Duration::from_secs(180));
    let log = wait_for(Duration::from_secs(600), "the demo apps", || {
        net.assert_running();
        let log = net.log();
        log.contains("demo apps (docs/APPS.md)").then_some(log)
    });
    // The exported environment, as printed (two lines).
    let from = log.find("demo apps (docs/APPS.md)").unwrap();
    let printed = &log[from..];
    let mut vars = Vec::new();
    for word in printed.split_whitespace().take_while(|w| !w.starts_with("umbra")) {
        if let Some((k, v)) = word.split_once('=') {
            if k.starts_with("UMBRA_") {
                vars.push((k.to_string(), v.to_string()));
            }
        }
    }
    let var = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let rpc = var("UMBRA_RPC").expect("UMBRA_RPC printed");
    for k in ["UMBRA_WORKER", "UMBRA_APPS_CLUSTER", "UMBRA_ASSETS", "UMBRA_SECRET_VAULT"] {
        assert!(var(k).is_some(), "{k} printed: {printed}");
    }
    let cluster = var("UMBRA_APPS_CLUSTER").unwrap();
    let env = Env { rpc, vars };

    // ---- private assets ----------------------------------------------------------------
    // The demo: //Alice deposited 100 UMB and sent 25 privately to //Bob.
    assert_eq!(env.ok(&["asset", "balance", "--as", "//Bob"]).trim(), "25 UMB");
    assert_eq!(env.ok(&["asset", "balance", "--as", "//Alice"]).trim(), "75 UMB");
    // Deposit, transfer, refused transfer, withdraw to a fresh account.
    env.ok(&["asset", "deposit", "10", "--from", "//Charlie"]);
    let out = env.ok(&["asset", "transfer", "//Dave", "4", "--from", "//Charlie"]);
    assert!(out.contains("your balance 6 UMB"), "{out}");
    env.refused(
        &["asset", "transfer", "//Dave", "100", "--from", "//Charlie"],
        "insufficient private balance: you hold 6 UMB of asset 0, the transfer needs 100 UMB",
    );
    assert_eq!(env.ok(&["asset", "balance", "--as", "//Dave"]).trim(), "4 UMB");
    assert_eq!(chain_free(&net, "//AppsWithdrawal"), 0);
    env.ok(&["asset", "withdraw", "3", "--to", "//AppsWithdrawal", "--from", "//Dave"]);
    let paid = wait_for(Duration::from_secs(60), "the withdrawal's payout", || {
        let v = chain_free(&net, "//AppsWithdrawal");
        (v > 0).then_some(v)
    });
    assert_eq!(paid, 3 * umbra_primitives::UNITS);
    env.refused(
        &["asset", "withdraw", "2", "--from", "//Dave"],
        "insufficient private balance: you hold 1 UMB, this needs 2 UMB",
    );
    assert_eq!(env.ok(&["asset", "balance", "--as", "//Dave"]).trim(), "1 UMB");
    // Issue a token and move it privately.
    let supply = SUPPLY.to_string();
    let out = env.ok(&[
        "asset", "issue", "--name", "Test", "--symbol", "TST", "--supply", &supply, "--from",
        "//Eve",
    ]);
    let asset = out.split_whitespace().nth(2).expect("asset id").to_string();
    env.ok(&[
        "asset",
        "transfer",
        "//Ferdie",
        &SENT.to_string(),
        "--asset",
        &asset,
        "--from",
        "//Eve",
    ]);
    let ferdie = env.ok(&["asset", "balance", "--asset", &asset, "--as", "//Ferdie"]);
    assert_eq!(ferdie.trim(), SENT.to_string());
    let info = env.ok(&["asset", "info", &asset]);
    assert!(info.contains(&format!("supply {supply}")), "{info}");
    // Bad input: one line, nothing sent.
    env.refused(&["asset", "transfer", "//Dave", "0", "--from", "//Charlie"], "more than 0");
    env.refused(&["asset", "transfer", "nobody", "1", "--from", "//Charlie"], "nobody");

    // ---- secret vault ------------------------------------------------------------------
    // Demo vault 0 of //Alice: //Bob allowed, 2 of //Charlie //Dave //Eve, 3 blocks, once.
    env.refused(&["secret", "claim", "0", "--from", "//Ferdie"], "policy not met");
    env.refused(&["secret", "read", "0", "--as", "//Bob"], "not the owner");
    env.refused(&["secret", "log", "0", "--as", "//Bob"], "not the owner");
    env.refused(&["secret", "revoke", "0", "--from", "//Bob"], "not the owner");
    env.refused(&["secret", "claim", "0", "--from", "//Bob"], "must first request");
    assert!(env.ok(&["secret", "request", "0", "--from", "//Bob"]).contains("claim from block"));
    env.refused(&["secret", "claim", "0", "--from", "//Bob"], "policy not met");
    env.refused(&["secret", "approve", "0", "//Bob", "--from", "//Ferdie"], "not a guardian");
    env.ok(&["secret", "approve", "0", "//Bob", "--from", "//Charlie"]);
    env.refused(&["secret", "approve", "0", "//Bob", "--from", "//Charlie"], "already approved");
    env.refused(&["secret", "claim", "0", "--from", "//Bob"], "1 of 2 guardian approvals");
    env.ok(&["secret", "approve", "0", "//Bob", "--from", "//Dave"]);
    let secret = env.ok(&["secret", "claim", "0", "--from", "//Bob"]);
    assert!(secret.trim().starts_with("demo private key 0x"), "{secret}");
    env.refused(&["secret", "claim", "0", "--from", "//Bob"], "already released");
    let bob = umbra_evm_abi::Address::from(umbra_contracts::evm::evm_address(
        &common::pair("//Bob").public(),
    ));
    let released = env.ok(&["secret", "log", "0", "--as", "//Alice"]);
    assert!(released.contains(&format!("released to {bob}")), "{released}");

    // A vault of //Eve with the secret in a file; she loses her key and recovers it with a new
    // account (funded for its fees).
    let eve_new = common::pair("//EveNew").public().to_ss58();
    env.ok(&["transfer", "--from", "//Ferdie", "--to", &eve_new, "--amount", "100"]);
    let key_file = dir.path().join("key.bin");
    std::fs::write(&key_file, VAULT_KEY).unwrap();
    let key_path = key_file.display().to_string();
    let out = env.ok(&[
        "secret",
        "create",
        "--secret-file",
        &key_path,
        "--guardian",
        "//Charlie",
        "--guardian",
        "//Dave",
        "--threshold",
        "2",
        "--delay",
        "2",
        "--from",
        "//Eve",
    ]);
    let vault = out.split_whitespace().nth(1).expect("vault id").to_string();
    env.refused(&["secret", "recover", &vault, "--from", "//EveNew"], "must first request");
    env.ok(&["secret", "recover-request", &vault, "--from", "//EveNew"]);
    env.ok(&["secret", "recover-approve", &vault, "//EveNew", "--from", "//Charlie"]);
    env.refused(&["secret", "recover", &vault, "--from", "//EveNew"], "policy not met");
    env.ok(&["secret", "recover-approve", &vault, "//EveNew", "--from", "//Dave"]);
    let out_file = dir.path().join("recovered.bin");
    let out_path = out_file.display().to_string();
    env.ok(&["secret", "recover", &vault, "--out", &out_path, "--from", "//EveNew"]);
    assert_eq!(std::fs::read(&out_file).unwrap(), VAULT_KEY);
    assert!(env.ok(&["secret", "list", "--as", "//EveNew"]).contains(&vault));
    env.refused(&["secret", "read", &vault, "--as", "//Eve"], "not the owner");
    env.ok(&["secret", "rotate", &vault, "--secret", "rotated-secret", "--from", "//EveNew"]);
    assert_eq!(env.ok(&["secret", "read", &vault, "--as", "//EveNew"]).trim(), "rotated-secret");
    env.ok(&["secret", "revoke", &vault, "--from", "//EveNew"]);
    env.refused(&["secret", "read", &vault, "--as", "//EveNew"], "revoked");
    env.refused(
        &[
            "secret",
            "create",
            "--secret",
            "x",
            "--guardian",
            "//Dave",
            "--threshold",
            "2",
            "--from",
            "//Eve",
        ],
        "bad policy",
    );

    // ---- mystery boxes -----------------------------------------------------------------
    // Demo collection 0: six boxes of //Alice, box 0 for sale at 5 UMB.
    let info = env.ok(&["box", "info", "0"]);
    assert_eq!(info.matches(": unopened;").count(), 6, "{info}");
    env.refused(&["box", "open", "0", "0", "--from", "//Bob"], "not the owner");
    env.refused(&["box", "buy", "0", "1", "--from", "//Bob"], "not for sale");
    env.ok(&["box", "buy", "0", "0", "--from", "//Bob"]);
    assert!(env.ok(&["box", "mine", "0", "--as", "//Bob"]).contains("[0]"));
    let opened = env.umbra(&["box", "open", "0", "0", "--from", "//Bob"]);
    let item = opened.field("item").expect("item printed");
    let salt = opened.field("salt").expect("salt printed");
    env.refused(&["box", "open", "0", "0", "--from", "//Bob"], "already opened");
    // Anyone checks the reveal against the public commitments; a forged one does not verify.
    let ok = env.ok(&["box", "verify", "0", "--item", &item, "--salt", &salt, "--as", "//Ferdie"]);
    assert!(ok.starts_with("verified:"), "{ok}");
    let forged_item = if item == "Silver Fox" { "Golden Dragon" } else { "Silver Fox" };
    env.refused(&["box", "verify", "0", "--item", forged_item, "--salt", &salt], "does not verify");
    let mut forged_salt = salt.clone();
    forged_salt.replace_range(65.., if salt.ends_with('0') { "1" } else { "0" });
    env.refused(
        &["box", "verify", "0", "--item", &item, "--salt", &forged_salt],
        "does not verify",
    );
    // The public sees only opened / unopened.
    let info = env.ok(&["box", "info", "0"]);
    assert!(info.contains("box 0: opened;") && info.matches(": unopened;").count() == 5, "{info}");
    assert!(!info.contains(&item), "{info}");
    // A collection whose items are never opened.
    env.ok(&[
        "box",
        "mint",
        "--name",
        "Vault",
        "--item",
        HIDDEN_ITEM,
        "--item",
        "another-hidden-item",
        "--from",
        "//Charlie",
    ]);

    // ---- nothing in plaintext on disk --------------------------------------------------
    net.rpc("umbra_contract", json!([cluster])).expect("the apps cluster");
    std::thread::sleep(Duration::from_secs(5));
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("the vault's key", VAULT_KEY.to_vec()),
        ("the demo vault's secret", b"demo private key 0x8f2a559490b7a0cf".to_vec()),
        ("a rotated secret", b"rotated-secret".to_vec()),
        ("an unopened item", HIDDEN_ITEM.as_bytes().to_vec()),
        ("an issued supply", SUPPLY.to_be_bytes().to_vec()),
        ("a private transfer amount", SENT.to_be_bytes().to_vec()),
        ("a private balance", (SUPPLY - SENT).to_be_bytes().to_vec()),
    ];
    let mut files = files_under(&base.join("node"));
    let db = files.iter().find(|f| f.ends_with("chain.redb")).expect("the chain database");
    // The search sees what is there: the cluster's id (public) is in the database.
    let id = hex::decode(cluster.trim_start_matches("0x")).unwrap();
    assert!(std::fs::read(db).unwrap().windows(32).any(|w| w == id.as_slice()));
    let worker_files = files_under(&base.join("worker-0"));
    assert!(!worker_files.is_empty(), "the worker's files");
    files.extend(worker_files);
    files.extend(files_under(&base.join("logs")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} is in plaintext in {}",
                file.display()
            );
        }
    }
}
