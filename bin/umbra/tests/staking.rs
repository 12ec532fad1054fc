//! Stake pools and the lending vault through the `umbra` command line and the node's RPC, as a
//! user runs them: every command signs, waits for its block, prints the events, and fails with
//! a single line naming the runtime error.

mod common;

use common::*;
use serde_json::{json, Value};
use umbra_primitives::{Balance, UNITS};

fn address(uri: &str) -> String {
    pair(uri).public().to_ss58()
}

/// The names of the `  Module.Name {json}` event lines a command printed.
fn printed(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, fields) = l.strip_prefix("  ")?.split_once(' ')?;
            Some((name.to_string(), serde_json::from_str(fields).ok()?))
        })
        .collect()
}

fn event<'a>(events: &'a [(String, Value)], name: &str) -> &'a Value {
    &events
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
        .1
}

fn balance(v: &Value) -> Balance {
    v.as_str().unwrap_or_else(|| panic!("balance string: {v}")).parse().unwrap()
}

#[test]
fn pool_and_vault_commands_end_to_end() {
    let node = TestNode::dev();
    let (alice, bob, eve) = (address("//Alice"), address("//Bob"), address("//Eve"));

    // Bad input fails before anything is submitted.
    for (args, msg) in [
        (&["pool", "create", "--from", "//Alice", "--commission", "200%"][..], "at most 100%"),
        (&["pool", "create", "--from", "//Alice", "--commission", "ten"][..], "invalid commission"),
        (
            &["pool", "contribute", "--from", "//Bob", "--pool", "0", "--amount", "x"][..],
            "invalid --amount",
        ),
        (
            &["pool", "add-worker", "--from", "//Alice", "--pool", "0", "--worker", "5Grw"][..],
            "invalid address",
        ),
    ] {
        let run = node.cli(args);
        assert!(run.one_line_error().contains(msg), "{args:?}: {}", run.stderr);
    }
    assert_eq!(node.account(&alice).nonce, 0, "nothing was submitted");

    // Create a pool.
    let run = node.cli(&["pool", "create", "--from", "//Alice", "--commission", "10%"]);
    run.ok();
    assert_eq!(run.field("pool id").as_deref(), Some("0"));
    let events = printed(&run.stdout);
    assert_eq!(
        event(&events, "StakePools.PoolCreated"),
        &json!({"pool": 0, "owner": alice, "commission": 100_000})
    );

    // Contribute, withdraw part at once.
    node.cli(&["pool", "contribute", "--from", "//Bob", "--pool", "0", "--amount", "100"]).ok();
    let run = node.cli(&["pool", "withdraw", "--from", "//Bob", "--pool", "0", "--amount", "40"]);
    let events = printed(run.ok());
    assert_eq!(
        event(&events, "StakePools.Withdrawn"),
        &json!({"pool": 0, "who": bob, "amount": (40 * UNITS).to_string()})
    );
    // Someone without stake: included, fails with the runtime error, one line.
    let run =
        node.cli(&["pool", "withdraw", "--from", "//Charlie", "--pool", "0", "--amount", "1"]);
    assert!(
        run.one_line_error().contains("pool withdraw failed: stake_pools::InsufficientStake"),
        "{}",
        run.stderr
    );
    let run = node.cli(&["pool", "claim", "--from", "//Bob", "--pool", "0"]);
    assert!(
        run.one_line_error().contains("pool claim failed: stake_pools::NothingToClaim"),
        "{}",
        run.stderr
    );

    // RPC views of the pool.
    let pools = node.rpc("umbra_pools", json!([]));
    assert_eq!(pools.as_array().unwrap().len(), 1);
    let pool = node.rpc("umbra_pool", json!([0]));
    assert_eq!(balance(&pool["totalShares"]), 60 * UNITS);
    assert_eq!(balance(&pool["freeStake"]), 60 * UNITS);
    assert_eq!(balance(&pool["accountBalance"]), 60 * UNITS);
    assert_eq!(pool["withdrawQueue"], json!([]));
    assert_eq!(node.rpc("umbra_pool", json!([7])), Value::Null);
    let stake = node.rpc("umbra_poolStake", json!([0, bob]));
    assert_eq!(balance(&stake["shares"]), 60 * UNITS);
    assert_eq!(balance(&stake["pendingRewards"]), 0);
    let run = node.cli(&["pool", "info", "0", "--address", &bob]);
    run.ok();
    assert_eq!(run.field("commission").as_deref(), Some("10%"));
    assert_eq!(run.field("shares (stake)").as_deref(), Some("60 UMB"));
    assert!(node.cli(&["pool", "list"]).ok().contains("#0  owner"));

    // Lend, borrow for the pool, repay everything, take the deposit back.
    let run = node.cli(&["vault", "deposit", "--from", "//Eve", "--amount", "1000"]);
    assert_eq!(run.field("shares minted").as_deref(), Some("1000"));
    let run = node.cli(&["vault", "borrow", "--from", "//Bob", "--pool", "0", "--amount", "100"]);
    assert!(
        run.one_line_error().contains("vault borrow failed: vault::NotPoolOwner"),
        "{}",
        run.stderr
    );
    node.cli(&["vault", "borrow", "--from", "//Alice", "--pool", "0", "--amount", "100"]).ok();
    let loan = node.rpc("umbra_loan", json!([0]));
    assert_eq!(balance(&loan["principal"]), 100 * UNITS);
    assert_eq!(loan["borrower"], json!(alice));
    let vault = node.rpc("umbra_vault", json!([]));
    assert_eq!(balance(&vault["cash"]), 900 * UNITS);
    assert_eq!(balance(&vault["principal"]), 100 * UNITS);
    assert_eq!(
        node.rpc("umbra_pool", json!([0]))["loan"]["principal"],
        json!((100 * UNITS).to_string())
    );
    let run = node.cli(&["vault", "withdraw", "--from", "//Eve", "--shares", "all"]);
    assert!(run.one_line_error().contains("vault::InsufficientLiquidity"), "{}", run.stderr);
    let run = node.cli(&["vault", "info", "--address", &eve, "--pool", "0"]);
    run.ok();
    assert!(run.stdout.contains("loan:             principal 100 UMB"), "{}", run.stdout);

    let run = node.cli(&["vault", "repay", "--from", "//Alice", "--pool", "0", "--amount", "all"]);
    let events = printed(run.ok());
    let repaid = event(&events, "Vault.Repaid");
    assert_eq!(repaid["source"], json!("Owner"));
    assert_eq!(balance(&repaid["principal"]), 100 * UNITS);
    let interest = balance(&repaid["interest"]);
    assert!(event(&events, "Vault.LoanClosed") == &json!({"pool": 0}));
    assert_eq!(node.rpc("umbra_loan", json!([0])), Value::Null);
    // The repaid stake is now the owner's.
    assert_eq!(balance(&node.rpc("umbra_poolStake", json!([0, alice]))["shares"]), 100 * UNITS);

    let eve_before = node.account(&eve).free;
    let run = node.cli(&["vault", "withdraw", "--from", "//Eve", "--shares", "all"]);
    let events = printed(run.ok());
    let paid = balance(&event(&events, "Vault.Withdrawn")["amount"]);
    assert_eq!(paid, 1000 * UNITS + interest, "the lender gets the deposit and the interest");
    let fee = balance(&event(&events, "Balances.FeePaid")["fee"]);
    assert_eq!(node.account(&eve).free, eve_before + paid - fee);
    let position = node.rpc("umbra_vaultPosition", json!([eve]));
    assert_eq!(balance(&position["shares"]), 0);
}
