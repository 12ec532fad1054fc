//! Every module view survives serialize → deserialize unchanged (the node writes it, the client
//! reads it back with the same type), keeps today's wire shape (camelCase, SS58 accounts,
//! decimal-string balances, hex keys), and malformed views are refused with a clear error.

use std::fmt::Debug;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use umbra_primitives::{json::to_hex, Public, H256, UNITS};
use umbra_runtime::{
    computation::{PendingChallenge, WorkerState},
    contracts::{CheckpointRecord, Pause},
    stake_pools::{Pool, WithdrawRequest},
    vault::VaultParams,
};

use super::*;

fn acct(n: u8) -> Public {
    Public([n; 32])
}

/// Serializes `v`, checks both the JSON value and the JSON text deserialize back to `v`, and
/// returns the value for wire-shape checks.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) -> Value {
    let j = serde_json::to_value(v).unwrap();
    assert_eq!(&serde_json::from_value::<T>(j.clone()).unwrap(), v, "from value: {j}");
    let text = serde_json::to_string(v).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), v, "from text: {text}");
    j
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn worker() -> WorkerInfo {
    WorkerInfo {
        identity: acct(1),
        ecdh: [2; 32],
        operator: acct(3),
        measurement: [4; 32],
        platform: umbra_tee::AttestationType::SgxDcap,
        insecure: false,
        platform_id: [5; 32],
        tcb_status: "UpToDate".into(),
        benchmark_score: 1234,
        registered_at: 7,
        updated_at: 9,
    }
}

fn session(pending: bool) -> Session {
    Session {
        state: if pending { WorkerState::Unresponsive } else { WorkerState::Computing },
        pool: 3,
        stake: 5000 * UNITS,
        score: 42,
        uptime: 100,
        share: u128::MAX,
        acc_at_settle: (1 << 100) + 1,
        last_heartbeat: 88,
        pending: pending.then_some(PendingChallenge { block: 90, deadline: 100 }),
        unresponsive_since: pending.then_some(101),
        cool_down_end: None,
        total_reward: 12,
        started_at: 10,
    }
}

fn pool(id: u64) -> Pool {
    Pool {
        id,
        owner: acct(9),
        commission: 100_000,
        workers: vec![acct(1), acct(2)],
        total_shares: 300 * UNITS,
        free_stake: 100 * UNITS,
        locked_stake: 200 * UNITS,
        queued: 40 * UNITS,
        queue_head: 2,
        queue_tail: 3,
        reward_acc: u128::MAX - 1,
        owner_reward: 5,
        reward_held: 6,
        dust: 1,
        dust_frac: 999,
        total_rewards: 77,
        contributors: 4,
        created_at: 11,
    }
}

fn loan(defaulted: bool) -> LoanInfo {
    LoanInfo {
        pool: 0,
        borrower: acct(9),
        principal: 100 * UNITS,
        interest_due: 3,
        borrowed_at: 20,
        defaulting: defaulted,
        defaulted_at: defaulted.then_some(40),
    }
}

fn pool_info(with_queue: bool, with_loan: bool) -> PoolInfo {
    PoolInfo {
        pool: pool(0),
        account: acct(20),
        account_balance: 100 * UNITS,
        available_stake: 60 * UNITS,
        loan: with_loan.then(|| loan(false)),
        withdraw_queue: with_queue
            .then(|| vec![WithdrawRequest { who: acct(7), amount: 40 * UNITS, queued_at: 12 }]),
    }
}

fn contract(published: bool) -> ContractInfo {
    ContractInfo {
        id: H256::hash(b"contract"),
        kind: umbra_contracts::ContractKind::Guestbook,
        deployer: acct(4),
        rotation: 1,
        pubkey: published.then_some([8; 32]),
        deployed_at: 5,
        quorum: 2,
        commands: 10,
        log_hash: H256::hash(b"log"),
        epoch: 3,
        next_reshuffle: 500,
        assigned: vec![acct(1), acct(2), acct(3)],
        executed: 9,
        state_hash: H256::hash(b"state"),
        checkpoint: published.then(|| CheckpointRecord {
            seq: 8,
            state_hash: H256::hash(b"s8"),
            log_hash: H256::hash(b"l8"),
            blob_hash: H256::hash(b"b8"),
        }),
        paused: published.then(|| Pause { seq: 9, reason: "no quorum".into() }),
    }
}

#[test]
fn worker_view_round_trips_with_hex_keys_and_ss58_accounts() {
    let w = worker();
    let j = round_trip(&w);
    assert_eq!(j["identity"], json!(acct(1).to_ss58()));
    assert_eq!(j["operator"], json!(acct(3).to_ss58()));
    assert_eq!(j["ecdh"], json!(to_hex(&[2; 32])));
    assert_eq!(j["measurement"], json!(to_hex(&[4; 32])));
    assert_eq!(j["platformId"], json!(to_hex(&[5; 32])));
    assert_eq!(j["platform"], json!("SgxDcap"));
    assert_eq!(j["benchmarkScore"], json!(1234));
    assert_eq!(j["registeredAt"], json!(7));
}

#[test]
fn session_views_round_trip_with_string_balances() {
    for pending in [false, true] {
        let j = round_trip(&session(pending));
        assert_eq!(j["share"], json!(u128::MAX.to_string()));
        assert_eq!(j["stake"], json!((5000 * UNITS).to_string()));
        assert_eq!(j["state"], json!(if pending { "Unresponsive" } else { "Computing" }));
        assert_eq!(j["coolDownEnd"], Value::Null);
    }
    assert_eq!(round_trip(&session(true))["pending"], json!({ "block": 90, "deadline": 100 }));
}

#[test]
fn computation_view_keeps_its_wire_shape() {
    let v = ComputationView {
        params: ComputationParams::dev(),
        emission: EmissionState {
            budget: 10 * UNITS,
            next_decay: 100_000,
            total_emitted: u128::MAX,
            to_workers: 7,
            paid_to_workers: 6,
            forfeited: 1,
        },
        online_shares: (1 << 90) + 3,
        pot: 1,
        treasury: 2,
        computing: 3,
        unresponsive: 4,
        cooling_down: 5,
    };
    let j = round_trip(&v);
    assert_eq!(
        keys(&j),
        [
            "computing",
            "coolingDown",
            "emission",
            "onlineShares",
            "params",
            "pot",
            "treasury",
            "unresponsive"
        ]
    );
    assert_eq!(j["onlineShares"], json!(((1u128 << 90) + 3).to_string()));
    assert_eq!(j["emission"]["totalEmitted"], json!(u128::MAX.to_string()));
    assert_eq!(
        j["params"]["budgetPerBlock"],
        json!(ComputationParams::dev().budget_per_block.to_string())
    );
    assert_eq!(j["coolingDown"], json!(5));
}

#[test]
fn pool_views_round_trip_flattened_with_and_without_queue_and_loan() {
    for (q, l) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = pool_info(q, l);
        let j = round_trip(&p);
        // The pool's own fields sit at the top level, next to the account and loan.
        assert_eq!(j["id"], json!(0));
        assert_eq!(j["owner"], json!(acct(9).to_ss58()));
        assert_eq!(j["workers"], json!([acct(1).to_ss58(), acct(2).to_ss58()]));
        assert_eq!(j["rewardAcc"], json!((u128::MAX - 1).to_string()));
        assert_eq!(j["account"], json!(acct(20).to_ss58()));
        assert_eq!(j["accountBalance"], json!((100 * UNITS).to_string()));
        // `withdrawQueue` is absent (not null) when the view has none.
        assert_eq!(j.get("withdrawQueue").is_some(), q);
        assert_eq!(j["loan"].is_null(), !l);
    }
    let j = round_trip(&pool_info(true, true));
    assert_eq!(
        j["withdrawQueue"],
        json!([{ "who": acct(7).to_ss58(), "amount": (40 * UNITS).to_string(), "queuedAt": 12 }])
    );
    assert_eq!(j["loan"]["interestDue"], json!("3"));
    let list = vec![pool_info(false, false), pool_info(false, true)];
    round_trip(&list);
}

#[test]
fn stake_vault_position_and_loan_views_round_trip() {
    let s = StakeInfo {
        pool: 1,
        who: acct(2),
        shares: 100 * UNITS,
        queued: 40 * UNITS,
        requests: 1,
        pending_rewards: 3,
        owner_reward: 0,
        claimable: 3,
    };
    let j = round_trip(&s);
    assert_eq!(j["pendingRewards"], json!("3"));
    assert_eq!(j["ownerReward"], json!("0"));
    let v = VaultInfo {
        account: acct(30),
        total_shares: 1000 * UNITS,
        cash: 900 * UNITS,
        principal: 100 * UNITS,
        interest_owed: 7,
        value: 1000 * UNITS + 7,
        share_price: "1.000000000007".into(),
        loans: 1,
        interest_paid: 2,
        interest_written_off: 0,
        principal_written_off: 0,
        params: VaultParams::default(),
    };
    let j = round_trip(&v);
    assert_eq!(j["sharePrice"], json!("1.000000000007"));
    assert_eq!(j["params"]["maxLoanPerBorrower"], json!((10_000 * UNITS).to_string()));
    let p = Position { who: acct(5), shares: 1, value: 2, borrowed: 3 };
    assert_eq!(
        round_trip(&p),
        json!({ "who": acct(5).to_ss58(), "shares": "1", "value": "2", "borrowed": "3" })
    );
    for d in [false, true] {
        let j = round_trip(&loan(d));
        assert_eq!(j["defaultedAt"], if d { json!(40) } else { Value::Null });
        assert_eq!(j["borrower"], json!(acct(9).to_ss58()));
    }
}

#[test]
fn contract_views_round_trip_with_optional_key_checkpoint_and_pause() {
    for published in [false, true] {
        let c = contract(published);
        let j = round_trip(&c);
        assert_eq!(j["kind"], json!("guestbook"));
        assert_eq!(j["deployer"], json!(acct(4).to_ss58()));
        assert_eq!(j["assigned"][2], json!(acct(3).to_ss58()));
        assert_eq!(j["pubkey"], if published { json!(to_hex(&[8; 32])) } else { Value::Null });
        assert_eq!(j["checkpoint"].is_null(), !published);
    }
    assert_eq!(round_trip(&contract(true))["paused"], json!({ "seq": 9, "reason": "no quorum" }));
    round_trip(&vec![contract(false), contract(true)]);
}

#[test]
fn gatekeepers_view_keeps_its_wire_shape() {
    let v = GatekeepersView {
        gatekeepers: vec![Address(acct(2)), Address(acct(1))],
        holds: [(Address(acct(2)), Some(1)), (Address(acct(1)), None)].into_iter().collect(),
        current_rotation: Some(1),
        master_keys: vec![
            MasterKeyEntry {
                rotation: 0,
                key: MasterKeyInfo { pubkey: [1; 32], published_at: 3, by: acct(2) },
            },
            MasterKeyEntry {
                rotation: 1,
                key: MasterKeyInfo { pubkey: [2; 32], published_at: 9, by: acct(2) },
            },
        ],
    };
    let j = round_trip(&v);
    assert_eq!(keys(&j), ["currentRotation", "gatekeepers", "holds", "masterKeys"]);
    // Election order is kept.
    assert_eq!(j["gatekeepers"], json!([acct(2).to_ss58(), acct(1).to_ss58()]));
    assert_eq!(j["holds"][acct(2).to_ss58()], json!(1));
    assert_eq!(j["holds"][acct(1).to_ss58()], Value::Null);
    assert_eq!(
        j["masterKeys"][1],
        json!({ "rotation": 1, "key": { "pubkey": to_hex(&[2; 32]), "publishedAt": 9, "by": acct(2).to_ss58() } })
    );
    let empty = GatekeepersView {
        gatekeepers: vec![],
        holds: BTreeMap::new(),
        current_rotation: None,
        master_keys: vec![],
    };
    assert_eq!(
        round_trip(&empty),
        json!({ "gatekeepers": [], "holds": {}, "currentRotation": null, "masterKeys": [] })
    );
}

#[test]
fn malformed_views_are_refused_with_a_clear_error() {
    let good = serde_json::to_value(worker()).unwrap();
    // A 31-byte ECDH key.
    let mut bad = good.clone();
    bad["ecdh"] = json!(to_hex(&[2; 31]));
    let e = serde_json::from_value::<WorkerInfo>(bad).unwrap_err().to_string();
    assert!(e.contains("wrong number of bytes"), "{e}");
    // An operator that is no address.
    let mut bad = good.clone();
    bad["operator"] = json!("5Grw");
    assert!(serde_json::from_value::<WorkerInfo>(bad).is_err());
    // A balance past u128.
    let mut bad = serde_json::to_value(session(false)).unwrap();
    bad["stake"] = json!(format!("{}0", u128::MAX));
    assert!(serde_json::from_value::<Session>(bad).is_err());
    // A pool listing a worker that is no address: the error names it.
    let mut bad = serde_json::to_value(pool_info(false, false)).unwrap();
    bad["workers"] = json!([acct(1).to_ss58(), "not-an-address"]);
    let e = serde_json::from_value::<PoolInfo>(bad).unwrap_err().to_string();
    assert!(e.contains("invalid address `not-an-address`"), "{e}");
    // Holds keyed by something that is no address.
    let e = serde_json::from_value::<GatekeepersView>(json!({
        "gatekeepers": [], "holds": { "x": 1 }, "currentRotation": null, "masterKeys": []
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("invalid address `x`"), "{e}");
    // A missing field.
    let mut bad = serde_json::to_value(contract(true)).unwrap();
    bad.as_object_mut().unwrap().remove("logHash");
    let e = serde_json::from_value::<ContractInfo>(bad).unwrap_err().to_string();
    assert!(e.contains("logHash"), "{e}");
}

fn any_account() -> impl Strategy<Value = Public> {
    any::<[u8; 32]>().prop_map(Public)
}

proptest! {
    #[test]
    fn stake_views_round_trip_any_balance(
        pool in any::<u64>(),
        who in any_account(),
        shares in any::<u128>(),
        queued in any::<u128>(),
        requests in any::<u32>(),
        pending in any::<u128>(),
        owner_reward in any::<u128>(),
        claimable in any::<u128>(),
    ) {
        let s = StakeInfo {
            pool, who, shares, queued, requests,
            pending_rewards: pending, owner_reward, claimable,
        };
        let j = round_trip(&s);
        prop_assert_eq!(&j["shares"], &json!(shares.to_string()));
        prop_assert_eq!(&j["who"], &json!(who.to_ss58()));
    }

    #[test]
    fn pool_views_round_trip_any_contents(
        id in any::<u64>(),
        owner in any_account(),
        workers in proptest::collection::vec(any_account(), 0..5),
        balances in any::<[u128; 6]>(),
        loan_at in proptest::option::of(any::<(u64, bool)>()),
        queue in proptest::option::of(proptest::collection::vec(
            (any_account(), any::<u128>(), any::<u64>()), 0..4)),
    ) {
        let mut p = pool(id);
        p.owner = owner;
        p.workers = workers;
        p.total_shares = balances[0];
        p.reward_acc = balances[1];
        p.dust_frac = balances[2];
        let info = PoolInfo {
            pool: p,
            account: owner,
            account_balance: balances[3],
            available_stake: balances[4],
            loan: loan_at.map(|(at, defaulting)| LoanInfo {
                pool: id,
                borrower: owner,
                principal: balances[5],
                interest_due: balances[0],
                borrowed_at: at,
                defaulting,
                defaulted_at: defaulting.then_some(at),
            }),
            withdraw_queue: queue.map(|q| {
                q.into_iter()
                    .map(|(who, amount, queued_at)| WithdrawRequest { who, amount, queued_at })
                    .collect()
            }),
        };
        round_trip(&info);
    }
}
