use super::*;
use crate::{
    modules::{
        computation::{self, ComputationParams, WorkerState},
        stake_pools::{
            self,
            tests::{
                acc, check_pool, council, create_pool, owner, pool_events, vault_events, Sim, U,
            },
        },
    },
    Event as RuntimeEvent,
};

/// Checks the vault's bookkeeping against its loans, lenders (`lenders` must be all of them)
/// and account.
pub(crate) fn check_vault(sim: &Sim, lenders: &[AccountId]) {
    let v = sim.read(|st| STATE.get_or_default(st));
    assert!(v.cash <= sim.free(&vault_account()), "cash exceeds the vault account");
    let prefix = LOANS.prefix();
    let loans: Vec<Loan> = sim
        .state
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| Loan::decode(&mut &v[..]).unwrap())
        .collect();
    assert_eq!(loans.len() as u32, v.loans);
    assert_eq!(loans.iter().map(|l| l.principal).sum::<Balance>(), v.principal);
    assert!(loans.iter().all(|l| l.principal > 0));
    let accruing: Vec<&Loan> = loans.iter().filter(|l| !l.defaulting).collect();
    assert_eq!(accruing.iter().map(|l| l.principal).sum::<Balance>(), v.accruing_principal);
    assert_eq!(loans.iter().map(|l| l.interest_due).sum::<Balance>(), v.interest_due);
    assert!(loans.iter().filter(|l| l.defaulting).all(|l| l.interest_due == 0));
    let weighted = accruing
        .iter()
        .fold(U256::ZERO, |w, l| w.checked_add(U256::mul(l.principal, l.index_snapshot)).unwrap());
    assert_eq!(weighted, v.weighted);
    for l in &loans {
        let owed: Balance =
            loans.iter().filter(|m| m.borrower == l.borrower).map(|m| m.principal).sum();
        assert_eq!(sim.read(|st| BORROWED.get_or_default(st, &l.borrower)), owed);
    }
    assert_eq!(
        lenders.iter().map(|w| sim.read(|st| shares(st, w))).sum::<Balance>(),
        v.total_shares
    );
}

fn set_params(sim: &mut Sim, interest_per_block_ppb: u64, default_after_blocks: u64) {
    let params = VaultParams {
        interest_per_block_ppb,
        max_loan_per_borrower: 10_000 * U,
        default_after_blocks,
    };
    sim.vault(&council(), Call::SetParams { params }).unwrap();
}

fn info(sim: &Sim) -> VaultInfo {
    sim.read(vault_info)
}

fn repaid(events: &[RuntimeEvent]) -> Vec<(RepaymentSource, Balance, Balance)> {
    vault_events(events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Repaid { source, interest, principal, .. } => {
                Some((source, interest, principal))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn call_indices_match_the_call_enum() {
    let calls = [
        Call::Deposit { amount: 1 },
        Call::Withdraw { shares: 1 },
        Call::Borrow { pool: 0, amount: 1 },
        Call::Repay { pool: 0, amount: 1 },
        Call::SetParams { params: VaultParams::default() },
    ];
    assert_eq!(calls.len(), CALL_INDICES.len());
    for (c, i) in calls.iter().zip(CALL_INDICES) {
        let full = crate::Call::Vault(c.clone()).encode();
        assert_eq!((full[0], full[1]), (7, *i), "{c:?}");
        assert!(crate::is_known_call(full[0], full[1]));
        assert_eq!(crate::Call::decode(&mut &full[..]).unwrap(), crate::Call::Vault(c.clone()));
    }
}

#[test]
fn params_default_validate_and_serde() {
    let p = VaultParams::default();
    p.validate().unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["maxLoanPerBorrower"], (10_000 * U).to_string());
    assert_eq!(serde_json::from_value::<VaultParams>(json).unwrap(), p);
    assert!(VaultParams { default_after_blocks: 0, ..p.clone() }.validate().is_err());
    assert!(VaultParams { interest_per_block_ppb: MAX_INTEREST_PER_BLOCK_PPB + 1, ..p }
        .validate()
        .is_err());
}

#[test]
fn deposit_and_withdraw_at_par_without_loans() {
    let mut sim = Sim::new(&[]);
    let eve = acc("//Eve");
    let e0 = sim.free(&eve);
    assert_eq!(sim.vault(&eve, Call::Deposit { amount: U - 1 }), Err("DepositTooSmall".into()));
    assert_eq!(
        sim.vault(&eve, Call::Deposit { amount: 2_000_000 * U }),
        Err("InsufficientBalance".into())
    );
    let events = sim.vault(&eve, Call::Deposit { amount: 1000 * U }).unwrap();
    assert_eq!(
        vault_events(&events),
        vec![Event::Deposited { who: eve, amount: 1000 * U, shares: 1000 * U }]
    );
    sim.vault(&acc("//Bob"), Call::Deposit { amount: 500 * U }).unwrap();
    let i = info(&sim);
    assert_eq!(
        (i.cash, i.value, i.total_shares, i.share_price.as_str()),
        (1500 * U, 1500 * U, 1500 * U, "1.000000000000")
    );
    assert_eq!(sim.free(&vault_account()), 1500 * U);
    assert_eq!(sim.vault(&eve, Call::Withdraw { shares: 0 }), Err("ZeroAmount".into()));
    assert_eq!(
        sim.vault(&eve, Call::Withdraw { shares: 1001 * U }),
        Err("InsufficientShares".into())
    );
    let events = sim.vault(&eve, Call::Withdraw { shares: 1000 * U }).unwrap();
    assert!(vault_events(&events).contains(&Event::Withdrawn {
        who: eve,
        shares: 1000 * U,
        amount: 1000 * U
    }));
    assert_eq!(sim.free(&eve), e0);
    assert_eq!(sim.read(|st| position(st, &eve)).shares, 0);
    check_vault(&sim, &[eve, acc("//Bob")]);
}

#[test]
fn borrow_rules_and_borrowed_money_is_free_stake_without_shares() {
    let mut sim = Sim::new(&[]);
    let eve = acc("//Eve");
    let id = create_pool(&mut sim, 0);
    let borrow = |amount| Call::Borrow { pool: id, amount };
    assert_eq!(sim.vault(&owner(), borrow(100 * U)), Err("InsufficientLiquidity".into()));
    sim.vault(&eve, Call::Deposit { amount: 20_000 * U }).unwrap();
    assert_eq!(sim.vault(&acc("//Bob"), borrow(100 * U)), Err("NotPoolOwner".into()));
    assert_eq!(
        sim.vault(&owner(), Call::Borrow { pool: 9, amount: 100 * U }),
        Err("PoolNotFound".into())
    );
    assert_eq!(sim.vault(&owner(), borrow(U - 1)), Err("BorrowTooSmall".into()));
    assert_eq!(sim.vault(&owner(), borrow(10_001 * U)), Err("LoanLimitExceeded".into()));
    let events = sim.vault(&owner(), borrow(6_000 * U)).unwrap();
    assert!(vault_events(&events).contains(&Event::Borrowed {
        pool: id,
        borrower: owner(),
        amount: 6_000 * U
    }));
    // The limit is per borrower, over all their pools.
    let other = create_pool(&mut sim, 0);
    assert_eq!(
        sim.vault(&owner(), Call::Borrow { pool: other, amount: 4_001 * U }),
        Err("LoanLimitExceeded".into())
    );
    sim.vault(&owner(), Call::Borrow { pool: other, amount: 4_000 * U }).unwrap();
    assert_eq!(sim.read(|st| position(st, &owner())).borrowed, 10_000 * U);

    let p = sim.pool(id);
    assert_eq!((p.free_stake, p.total_shares), (6_000 * U, 0));
    assert_eq!(sim.free(&stake_pools::pool_account(id)), 6_000 * U);
    let i = info(&sim);
    assert_eq!((i.cash, i.principal, i.value, i.loans), (10_000 * U, 10_000 * U, 20_000 * U, 2));
    // Lent money cannot be withdrawn.
    assert_eq!(
        sim.vault(&eve, Call::Withdraw { shares: 10_001 * U }),
        Err("InsufficientLiquidity".into())
    );
    check_pool(&sim, id, &[owner()]);
    check_vault(&sim, &[eve]);
}

#[test]
fn rewards_repay_interest_then_principal_and_lenders_profit() {
    let mut sim = Sim::new(&[]);
    set_params(&mut sim, 1000, 1_000_000);
    let eve = acc("//Eve");
    let e0 = sim.free(&eve);
    sim.vault(&eve, Call::Deposit { amount: 10_000 * U }).unwrap();
    let id = create_pool(&mut sim, 100_000);
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 1000 * U }).unwrap();
    assert_eq!(
        sim.vault(&eve, Call::Withdraw { shares: 10_000 * U }),
        Err("InsufficientLiquidity".into())
    );

    // 10 blocks at 1000 ppb per block on 1000 UMB: 0.01 UMB of interest.
    sim.blocks(10);
    let l = sim.read(|st| loan_info(st, id)).unwrap();
    assert_eq!((l.principal, l.interest_due), (1000 * U, U / 100));
    let i = info(&sim);
    assert_eq!((i.interest_owed, i.value), (U / 100, 10_000 * U + U / 100));
    assert_eq!(i.share_price, "1.000001000000");

    // No contributor: the whole reward is the borrowed stake's; interest first, then principal,
    // and the repaid principal becomes the owner's stake.
    let events = sim.reward(id, "//W1", 5 * U);
    assert_eq!(repaid(&events), vec![(RepaymentSource::Rewards, U / 100, 5 * U - U / 100)]);
    assert!(pool_events(&events).contains(&stake_pools::Event::RewardDistributed {
        pool: id,
        worker: acc("//W1"),
        amount: 5 * U,
        to_vault: 5 * U,
        to_owner: 0,
        to_contributors: 0,
    }));
    assert_eq!(sim.stake(id, &owner()).shares, 5 * U - U / 100);
    assert_eq!(sim.read(|st| loan(st, id)).unwrap().principal, 995 * U + U / 100);
    check_pool(&sim, id, &[owner()]);
    check_vault(&sim, &[eve]);

    // The owner repays the rest from their balance; the loan closes.
    let a0 = sim.free(&owner());
    let events = sim.vault(&owner(), Call::Repay { pool: id, amount: 2000 * U }).unwrap();
    assert_eq!(repaid(&events), vec![(RepaymentSource::Owner, 0, 995 * U + U / 100)]);
    assert!(vault_events(&events).contains(&Event::LoanClosed { pool: id }));
    assert_eq!(sim.free(&owner()), a0 - (995 * U + U / 100));
    assert_eq!(sim.stake(id, &owner()).shares, 1000 * U);
    assert_eq!(sim.read(|st| loan(st, id)), None);
    assert_eq!(sim.read(|st| position(st, &owner())).borrowed, 0);
    assert_eq!(sim.vault(&owner(), Call::Repay { pool: id, amount: U }), Err("NoLoan".into()));

    // Without a loan, rewards go to commission and contributors again.
    let events = sim.reward(id, "//W1", 10 * U);
    assert!(repaid(&events).is_empty());
    assert_eq!(sim.pending(id, &owner()), 9 * U);
    check_pool(&sim, id, &[owner()]);

    // The lender takes everything back with the interest.
    let events = sim.vault(&eve, Call::Withdraw { shares: 10_000 * U }).unwrap();
    assert!(vault_events(&events).contains(&Event::Withdrawn {
        who: eve,
        shares: 10_000 * U,
        amount: 10_000 * U + U / 100
    }));
    assert_eq!(sim.free(&eve), e0 + U / 100);
    let i = info(&sim);
    assert_eq!((i.cash, i.total_shares, i.interest_paid), (0, 0, U / 100));
    check_vault(&sim, &[eve]);
}

#[test]
fn a_pool_with_contributors_repays_only_from_the_borrowed_stakes_share() {
    let mut sim = Sim::new(&[]);
    sim.vault(&acc("//Eve"), Call::Deposit { amount: 10_000 * U }).unwrap();
    let id = create_pool(&mut sim, 100_000);
    let bob = acc("//Bob");
    sim.pools(&bob, stake_pools::Call::Contribute { pool: id, amount: 3000 * U }).unwrap();
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 1000 * U }).unwrap();
    // Stake 4000 of which 1000 borrowed: a quarter of the reward repays the loan.
    let events = sim.reward(id, "//W1", 40 * U);
    assert!(pool_events(&events).contains(&stake_pools::Event::RewardDistributed {
        pool: id,
        worker: acc("//W1"),
        amount: 40 * U,
        to_vault: 10 * U,
        to_owner: 3 * U,
        to_contributors: 27 * U,
    }));
    assert_eq!(repaid(&events), vec![(RepaymentSource::Rewards, 0, 10 * U)]);
    assert_eq!(sim.pending(id, &bob), 27 * U);
    assert_eq!(sim.stake(id, &owner()).shares, 10 * U);
    assert_eq!(sim.read(|st| loan(st, id)).unwrap().principal, 990 * U);
    check_pool(&sim, id, &[bob, owner()]);
    check_vault(&sim, &[acc("//Eve")]);
}

#[test]
fn owner_repayment_pays_interest_first() {
    let mut sim = Sim::new(&[]);
    set_params(&mut sim, 1000, 1_000_000);
    sim.vault(&acc("//Eve"), Call::Deposit { amount: 10_000 * U }).unwrap();
    let id = create_pool(&mut sim, 0);
    let no_loan = create_pool(&mut sim, 0);
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 1000 * U }).unwrap();
    sim.blocks(100); // 0.1 UMB of interest
    assert_eq!(
        sim.vault(&acc("//Bob"), Call::Repay { pool: id, amount: U }),
        Err("NotPoolOwner".into())
    );
    assert_eq!(sim.vault(&owner(), Call::Repay { pool: no_loan, amount: U }), Err("NoLoan".into()));
    assert_eq!(sim.vault(&owner(), Call::Repay { pool: id, amount: 0 }), Err("ZeroAmount".into()));
    let events = sim.vault(&owner(), Call::Repay { pool: id, amount: U / 20 }).unwrap();
    assert_eq!(repaid(&events), vec![(RepaymentSource::Owner, U / 20, 0)]);
    assert_eq!(sim.stake(id, &owner()).shares, 0);
    let events = sim.vault(&owner(), Call::Repay { pool: id, amount: 100 * U }).unwrap();
    assert_eq!(repaid(&events), vec![(RepaymentSource::Owner, U / 20, 100 * U - U / 20)]);
    assert_eq!(sim.stake(id, &owner()).shares, 100 * U - U / 20);
    assert_eq!(info(&sim).interest_paid, U / 10);
    check_pool(&sim, id, &[owner()]);
    check_vault(&sim, &[acc("//Eve")]);
}

#[test]
fn default_stops_the_worker_writes_off_interest_and_released_stake_repays_principal() {
    let mut sim = Sim::new(&["//W1", "//W2"]);
    set_params(&mut sim, 1000, 5);
    let (eve, bob, w1, w2) = (acc("//Eve"), acc("//Bob"), acc("//W1"), acc("//W2"));
    let e0 = sim.free(&eve);
    sim.vault(&eve, Call::Deposit { amount: 10_000 * U }).unwrap();
    let id = create_pool(&mut sim, 0);
    for w in [w1, w2] {
        sim.pools(&owner(), stake_pools::Call::AddWorker { pool: id, worker: w }).unwrap();
    }
    sim.pools(&bob, stake_pools::Call::Contribute { pool: id, amount: 500 * U }).unwrap();
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(
        &owner(),
        stake_pools::Call::StartComputing { pool: id, worker: w1, stake: 1500 * U },
    )
    .unwrap();

    // The worker never answers its challenges: unresponsive, then default 5 blocks later.
    let mut defaulted = None;
    for _ in 0..200 {
        let events = sim.block();
        if let Some(e) =
            vault_events(&events).into_iter().find(|e| matches!(e, Event::LoanDefaulted { .. }))
        {
            assert!(pool_events(&events)
                .contains(&stake_pools::Event::ComputingStopped { pool: id, worker: w1 }));
            defaulted = Some((sim.number, e));
            break;
        }
    }
    let (at, event) = defaulted.expect("the loan defaulted");
    let Event::LoanDefaulted { principal, interest_written_off, .. } = event else {
        unreachable!()
    };
    // Simple interest of 1000 ppb per block on 1000 UMB for `at` blocks, written off.
    assert_eq!(principal, 1000 * U);
    assert_eq!(interest_written_off, 1000 * U * 1000 * at as u128 / PPB);
    assert!(interest_written_off > 0);
    assert_eq!(
        sim.read(|st| computation::session(st, &w1)).unwrap().state,
        WorkerState::CoolingDown
    );
    let l = sim.read(|st| loan_info(st, id)).unwrap();
    assert!(l.defaulting);
    assert_eq!((l.interest_due, l.defaulted_at), (0, Some(at)));
    // Lenders lost the interest, not the principal: the share price is back at par, and stays.
    sim.blocks(3);
    let i = info(&sim);
    assert_eq!(
        (i.value, i.share_price.as_str(), i.interest_written_off),
        (10_000 * U, "1.000000000000", interest_written_off)
    );
    // While in default: no new loan, no restart.
    assert_eq!(
        sim.vault(&owner(), Call::Borrow { pool: id, amount: U }),
        Err("LoanDefaulting".into())
    );
    assert_eq!(
        sim.pools(
            &owner(),
            stake_pools::Call::StartComputing { pool: id, worker: w2, stake: 500 * U }
        ),
        Err("LoanDefaulting".into())
    );
    sim.pools(&bob, stake_pools::Call::Withdraw { pool: id, amount: 100 * U }).unwrap();
    check_pool(&sim, id, &[bob, owner()]);
    check_vault(&sim, &[eve]);

    // Cool-down over: the released stake repays the vault first, then the queue.
    let events = sim.blocks(ComputationParams::dev().cool_down_blocks);
    assert_eq!(repaid(&events), vec![(RepaymentSource::Stake, 0, 1000 * U)]);
    assert!(vault_events(&events).contains(&Event::LoanClosed { pool: id }));
    let order: Vec<_> = pool_events(&events)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                stake_pools::Event::StakeReleased { .. } | stake_pools::Event::Withdrawn { .. }
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            stake_pools::Event::StakeReleased { pool: id, worker: w1, stake: 1500 * U },
            stake_pools::Event::Withdrawn { pool: id, who: bob, amount: 100 * U },
        ]
    );
    let p = sim.pool(id);
    assert_eq!((p.free_stake, p.locked_stake, p.total_shares), (400 * U, 0, 400 * U));
    check_pool(&sim, id, &[bob, owner()]);
    check_vault(&sim, &[eve]);
    // The lender gets exactly the deposit back.
    sim.vault(&eve, Call::Withdraw { shares: 10_000 * U }).unwrap();
    assert_eq!(sim.free(&eve), e0);
    // The pool works normally again.
    sim.pools(&owner(), stake_pools::Call::StartComputing { pool: id, worker: w1, stake: 400 * U })
        .unwrap();
}

#[test]
fn unresponsive_limit_without_a_loan_changes_nothing() {
    let mut sim = Sim::new(&["//W1"]);
    let id = create_pool(&mut sim, 0);
    let w1 = acc("//W1");
    sim.pools(&owner(), stake_pools::Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&acc("//Bob"), stake_pools::Call::Contribute { pool: id, amount: 500 * U }).unwrap();
    sim.pools(&owner(), stake_pools::Call::StartComputing { pool: id, worker: w1, stake: 500 * U })
        .unwrap();
    let (_, events) = sim.with(|ext| stake_pools::on_unresponsive_limit(ext, id, &w1));
    assert!(events.is_empty());
    assert_eq!(sim.read(|st| computation::session(st, &w1)).unwrap().state, WorkerState::Computing);
}

#[test]
fn lost_principal_lowers_the_share_price() {
    let mut sim = Sim::new(&[]);
    let eve = acc("//Eve");
    sim.vault(&eve, Call::Deposit { amount: 1000 * U }).unwrap();
    let id = create_pool(&mut sim, 0);
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 400 * U }).unwrap();
    let (_, events) = sim.with(|ext| write_off(ext, id, 100 * U));
    assert_eq!(vault_events(&events), vec![Event::LossWrittenOff { pool: id, amount: 100 * U }]);
    let i = info(&sim);
    assert_eq!(
        (i.value, i.share_price.as_str(), i.principal_written_off),
        (900 * U, "0.900000000000", 100 * U)
    );
    assert_eq!(sim.read(|st| position(st, &eve)).value, 900 * U);
    let e0 = sim.free(&eve);
    sim.vault(&eve, Call::Withdraw { shares: 600 * U }).unwrap();
    assert_eq!(sim.free(&eve), e0 + 540 * U);
    check_vault(&sim, &[eve]);
    // Writing off everything that is left: no value behind the shares.
    let (_, events) = sim.with(|ext| write_off(ext, id, 1_000 * U));
    assert!(vault_events(&events).contains(&Event::LoanClosed { pool: id }));
    sim.vault(&eve, Call::Withdraw { shares: 100 * U }).unwrap();
    let (_, _) = sim.with(|ext| {
        let mut v = STATE.get_or_default(&ext.state);
        v.cash = 0;
        STATE.put(&mut ext.state, &v);
    });
    assert_eq!(
        sim.vault(&acc("//Bob"), Call::Deposit { amount: 10 * U }),
        Err("VaultInsolvent".into())
    );
}

#[test]
fn only_the_council_sets_params_and_old_rates_apply_until_the_change() {
    let mut sim = Sim::new(&[]);
    let p = VaultParams {
        interest_per_block_ppb: 1000,
        max_loan_per_borrower: 10_000 * U,
        default_after_blocks: 50,
    };
    assert_eq!(
        sim.vault(&owner(), Call::SetParams { params: p.clone() }),
        Err("RequireCouncil".into())
    );
    let bad = VaultParams { default_after_blocks: 0, ..p.clone() };
    assert_eq!(sim.vault(&council(), Call::SetParams { params: bad }), Err("InvalidParams".into()));
    // Every bound is enforced through the council call; `Sim::vault` also checks that a refused
    // call leaves no state change and no event.
    for (name, bad) in [
        ("defaultAfterBlocks", VaultParams { default_after_blocks: u64::MAX, ..p.clone() }),
        ("maxLoanPerBorrower", VaultParams { max_loan_per_borrower: Balance::MAX, ..p.clone() }),
        (
            "interestPerBlockPpb",
            VaultParams { interest_per_block_ppb: MAX_INTEREST_PER_BLOCK_PPB + 1, ..p.clone() },
        ),
    ] {
        // The dispatch error commits only the variant; the validator names the parameter.
        assert_eq!(bad.validate(), Err(Error::InvalidParams(name)));
        assert_eq!(
            sim.vault(&council(), Call::SetParams { params: bad }),
            Err("InvalidParams".to_string())
        );
    }
    assert_eq!(sim.read(params), VaultParams::default());
    let events = sim.vault(&council(), Call::SetParams { params: p.clone() }).unwrap();
    assert_eq!(vault_events(&events), vec![Event::ParamsChanged { params: p.clone() }]);
    assert_eq!(sim.read(params), p);

    sim.vault(&acc("//Eve"), Call::Deposit { amount: 10_000 * U }).unwrap();
    let id = create_pool(&mut sim, 0);
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 1000 * U }).unwrap();
    sim.blocks(10);
    set_params(&mut sim, 0, 50);
    sim.blocks(10);
    assert_eq!(sim.read(|st| loan_info(st, id)).unwrap().interest_due, U / 100);
    set_params(&mut sim, 2000, 50);
    sim.blocks(5);
    assert_eq!(sim.read(|st| loan_info(st, id)).unwrap().interest_due, 2 * U / 100);
    check_vault(&sim, &[acc("//Eve")]);
}

#[test]
fn interest_owed_by_all_loans_is_known_without_visiting_them() {
    let mut sim = Sim::new(&[]);
    set_params(&mut sim, 7, 1_000_000);
    sim.vault(&acc("//Eve"), Call::Deposit { amount: 100_000 * U }).unwrap();
    let a = create_pool(&mut sim, 0);
    let b = create_pool(&mut sim, 0);
    sim.vault(&owner(), Call::Borrow { pool: a, amount: 3_333 * U + 333 }).unwrap();
    sim.blocks(13);
    sim.vault(&owner(), Call::Borrow { pool: b, amount: 5_555 * U + 7 }).unwrap();
    sim.blocks(29);
    sim.vault(&owner(), Call::Repay { pool: a, amount: 12_345_678 }).unwrap();
    sim.blocks(31);
    sim.reward(b, "//W1", 999_999_999);
    sim.blocks(3);
    let owed = info(&sim).interest_owed;
    let sum = sim
        .read(|st| loan_info(st, a).unwrap().interest_due + loan_info(st, b).unwrap().interest_due);
    assert!(owed >= sum && owed - sum < 2, "vault {owed} vs loans {sum}");
    check_vault(&sim, &[acc("//Eve")]);
}

#[test]
fn rpc_views_serialize() {
    let mut sim = Sim::new(&[]);
    sim.vault(&acc("//Eve"), Call::Deposit { amount: 100 * U }).unwrap();
    let id = create_pool(&mut sim, 0);
    sim.vault(&owner(), Call::Borrow { pool: id, amount: 40 * U }).unwrap();
    let v = serde_json::to_value(info(&sim)).unwrap();
    assert_eq!(v["account"], vault_account().to_ss58());
    assert_eq!(v["cash"], (60 * U).to_string());
    assert_eq!(v["sharePrice"], "1.000000000000");
    assert_eq!(v["params"]["defaultAfterBlocks"], 100);
    let p = serde_json::to_value(sim.read(|st| position(st, &acc("//Eve")))).unwrap();
    assert_eq!(p["value"], (100 * U).to_string());
    let l = serde_json::to_value(sim.read(|st| loan_info(st, id))).unwrap();
    assert_eq!(l["principal"], (40 * U).to_string());
    assert_eq!(l["defaulting"], false);
    let pool = serde_json::to_value(sim.read(|st| stake_pools::pool_info(st, id, false))).unwrap();
    assert_eq!(pool["loan"]["borrower"], owner().to_ss58());
    assert_eq!(format_ratio(3, 2), "1.500000000000");
    assert_eq!(format_ratio(5, 0), "1.000000000000");
}
