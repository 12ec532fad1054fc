use std::collections::BTreeMap;

use proptest::prelude::*;
use umbra_crypto::Pair;
use umbra_primitives::{H256, UNITS};

use super::{math::U256, *};
use crate::{
    modules::{
        computation::{self, ComputationParams},
        governance::{self, Parameters},
        registry::tests::registered_worker,
        vault::{self, VaultParams},
    },
    state::EmptyState,
    system::BlockInit,
    Event as RuntimeEvent,
};

pub(crate) const U: Balance = UNITS;

pub(crate) fn pair(s: &str) -> Pair {
    Pair::from_suri(s).unwrap()
}

pub(crate) fn acc(s: &str) -> AccountId {
    pair(s).public()
}

/// The pool owner: registered workers' operator in the registry's test helper.
pub(crate) fn owner() -> AccountId {
    acc("//Alice")
}

pub(crate) fn council() -> AccountId {
    acc("//Council")
}

/// A test chain: committed state in a map, each call or block run in a fresh context, like the
/// executive does.
pub(crate) struct Sim {
    pub(crate) state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) number: BlockNumber,
}

impl Sim {
    /// Dev parameters, council `//Council`, `workers` registered (operator `//Alice`), and
    /// 1,000,000 UMB for each of Alice, Bob, Charlie, Dave, Eve.
    pub(crate) fn new(workers: &[&str]) -> Self {
        let mut sim = Sim { state: BTreeMap::new(), number: 0 };
        sim.with(|ext| {
            governance::KEY.put(&mut ext.state, &council());
            governance::PARAMETERS.put(&mut ext.state, &Parameters::dev());
            computation::PARAMS.put(&mut ext.state, &ComputationParams::dev());
            vault::PARAMS.put(&mut ext.state, &VaultParams::default());
            for w in workers {
                registered_worker(ext, &pair(w));
            }
            for who in ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve"] {
                balances::mint(ext, &acc(who), 1_000_000 * U).unwrap();
            }
        });
        sim
    }

    /// Runs `f` in a fresh context over the committed state and commits what it wrote.
    pub(crate) fn with<T>(&mut self, f: impl FnOnce(&mut Ext<'_>) -> T) -> (T, Vec<RuntimeEvent>) {
        let snapshot = self.state.clone();
        let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
        let out = f(&mut ext);
        let (st, events) = ext.into_parts();
        assert!(st.take_error().is_none());
        crate::test_utils::apply_changes(&mut self.state, st.into_changes());
        (out, events.into_iter().map(|r| r.event).collect())
    }

    /// Reads the committed state.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Overlay<'_>) -> T) -> T {
        let st = Overlay::new(&self.state);
        f(&st)
    }

    /// Dispatches `call` signed by `who`. A failing call must leave no change and no event.
    pub(crate) fn call(
        &mut self,
        who: &AccountId,
        call: crate::Call,
    ) -> Result<Vec<RuntimeEvent>, String> {
        let snapshot = self.state.clone();
        let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
        let result = crate::dispatch(&mut ext, *who, call);
        let (st, events) = ext.into_parts();
        match result {
            Ok(()) => {
                crate::test_utils::apply_changes(&mut self.state, st.into_changes());
                Ok(events.into_iter().map(|r| r.event).collect())
            }
            Err(e) => {
                assert!(st.into_changes().is_empty(), "failed call {e} left state changes");
                assert!(events.is_empty(), "failed call {e} left events");
                Err(e.variant())
            }
        }
    }

    pub(crate) fn pools(
        &mut self,
        who: &AccountId,
        call: Call,
    ) -> Result<Vec<RuntimeEvent>, String> {
        self.call(who, crate::Call::StakePools(call))
    }

    pub(crate) fn vault(
        &mut self,
        who: &AccountId,
        call: vault::Call,
    ) -> Result<Vec<RuntimeEvent>, String> {
        self.call(who, crate::Call::Vault(call))
    }

    /// Produces the next block (system and computation hooks); returns its events.
    pub(crate) fn block(&mut self) -> Vec<RuntimeEvent> {
        self.number = self.number.saturating_add(1);
        let n = self.number;
        self.with(|ext| {
            system::initialize(
                ext,
                &BlockInit {
                    number: n,
                    parent_hash: H256::hash(&n.saturating_sub(1).to_le_bytes()),
                    timestamp: n.saturating_mul(1000).saturating_add(1_700_000_000_000),
                    author: acc("//Alice"),
                    randomness: blake2_256(&n.to_le_bytes()),
                },
            );
            computation::on_initialize::<crate::Runtime>(ext);
        })
        .1
    }

    pub(crate) fn blocks(&mut self, n: u64) -> Vec<RuntimeEvent> {
        (0..n).flat_map(|_| self.block()).collect()
    }

    /// Mints `amount` into the pool account and hands it to `on_reward`, as computation does.
    pub(crate) fn reward(
        &mut self,
        pool: PoolId,
        worker: &str,
        amount: Balance,
    ) -> Vec<RuntimeEvent> {
        let w = acc(worker);
        self.with(|ext| {
            balances::issue(ext, &pool_account(pool), amount).unwrap();
            on_reward(ext, pool, &w, amount);
        })
        .1
    }

    pub(crate) fn free(&self, who: &AccountId) -> Balance {
        self.read(|st| balances::account(st, who).free)
    }

    pub(crate) fn pool(&self, id: PoolId) -> Pool {
        self.read(|st| pool(st, id).unwrap())
    }

    pub(crate) fn stake(&self, id: PoolId, who: &AccountId) -> Stake {
        self.read(|st| stake(st, id, who))
    }

    pub(crate) fn pending(&self, id: PoolId, who: &AccountId) -> Balance {
        self.read(|st| stake_info(st, id, who).unwrap().pending_rewards)
    }

    /// Σ (free + reserved) over every account in state.
    pub(crate) fn sum_of_balances(&self) -> Balance {
        crate::test_utils::sum_of_balances(&self.state)
    }
}

pub(crate) fn create_pool(sim: &mut Sim, commission: u32) -> PoolId {
    let id = sim.read(|st| NEXT_POOL_ID.get_or_default(st));
    sim.pools(&owner(), Call::Create { commission }).unwrap();
    id
}

pub(crate) fn pool_events(events: &[RuntimeEvent]) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| if let RuntimeEvent::StakePools(e) = e { Some(e.clone()) } else { None })
        .collect()
}

pub(crate) fn vault_events(events: &[RuntimeEvent]) -> Vec<vault::Event> {
    events
        .iter()
        .filter_map(|e| if let RuntimeEvent::Vault(e) = e { Some(e.clone()) } else { None })
        .collect()
}

fn withdrawn(events: &[RuntimeEvent]) -> Vec<(AccountId, Balance)> {
    pool_events(events)
        .into_iter()
        .filter_map(|e| {
            if let Event::Withdrawn { who, amount, .. } = e {
                Some((who, amount))
            } else {
                None
            }
        })
        .collect()
}

/// Checks every bookkeeping invariant of pool `id` against the accounts in `who`.
pub(crate) fn check_pool(sim: &Sim, id: PoolId, who: &[AccountId]) {
    let p = sim.pool(id);
    let principal = sim.read(|st| vault::loan(st, id).map_or(0, |l| l.principal));
    assert_eq!(
        p.free_stake.checked_add(p.locked_stake),
        p.total_shares.checked_add(principal),
        "stake equation"
    );
    let account = sim.free(&pool_account(id));
    assert!(
        p.free_stake.saturating_add(p.locked_stake).saturating_add(p.reward_held) <= account,
        "bookkeeping exceeds the pool account"
    );
    let stakes: Vec<Stake> = who.iter().map(|w| sim.stake(id, w)).collect();
    assert_eq!(stakes.iter().map(|s| s.shares).sum::<Balance>(), p.total_shares);
    assert_eq!(stakes.iter().map(|s| s.queued).sum::<Balance>(), p.queued);
    assert_eq!(stakes.iter().filter(|s| !s.is_empty()).count() as u32, p.contributors);
    let queue: Vec<WithdrawRequest> = sim.read(|st| {
        (p.queue_head..p.queue_tail).map(|i| WITHDRAW_QUEUE.get(st, &(id, i)).unwrap()).collect()
    });
    assert_eq!(queue.iter().map(|r| r.amount).sum::<Balance>(), p.queued);
    assert_eq!(stakes.iter().map(|s| s.requests as u64).sum::<u64>(), p.queue_len());
    let locked: Balance =
        p.workers.iter().map(|w| sim.read(|st| worker_binding(st, w).unwrap().stake)).sum();
    assert_eq!(locked, p.locked_stake);
    assert!(p.queue_len() == 0 || p.free_stake == 0, "free stake while withdrawals wait");
    // Exact reward identity, in REWARD_SCALE units.
    let scaled = |b: Balance| U256::mul(b, REWARD_SCALE);
    let mut rhs = scaled(p.owner_reward).checked_add(scaled(p.dust)).unwrap();
    rhs = rhs.checked_add(U256::from_u128(p.dust_frac)).unwrap();
    for s in &stakes {
        rhs = rhs.checked_add(scaled(s.unclaimed)).unwrap();
        rhs = rhs
            .checked_add(U256::mul(s.shares, p.reward_acc.checked_sub(s.reward_snapshot).unwrap()))
            .unwrap();
    }
    assert_eq!(scaled(p.reward_held), rhs, "reward money == owner + dust + Σ contributors (exact)");
    assert!(p.dust_frac < REWARD_SCALE);
    let promised: Balance = who
        .iter()
        .map(|w| sim.pending(id, w))
        .fold(p.owner_reward.saturating_add(p.dust), Balance::saturating_add);
    assert!(
        promised <= p.reward_held
            && p.reward_held.saturating_sub(promised) <= (who.len() as Balance).saturating_add(1)
    );
}

// ---- unit tests ----

#[test]
fn call_indices_match_the_call_enum() {
    let w = acc("//W");
    let calls = [
        Call::Create { commission: 0 },
        Call::SetCommission { pool: 0, commission: 0 },
        Call::AddWorker { pool: 0, worker: w },
        Call::RemoveWorker { pool: 0, worker: w },
        Call::Contribute { pool: 0, amount: 1 },
        Call::Withdraw { pool: 0, amount: 1 },
        Call::StartComputing { pool: 0, worker: w, stake: 1 },
        Call::StopComputing { pool: 0, worker: w },
        Call::ClaimRewards { pool: 0 },
    ];
    assert_eq!(calls.len(), CALL_INDICES.len());
    for (c, i) in calls.iter().zip(CALL_INDICES) {
        assert_eq!(c.encode()[0], *i, "{c:?}");
        let full = crate::Call::StakePools(c.clone()).encode();
        assert_eq!(full[0], 6);
        assert!(crate::is_known_call(full[0], full[1]));
        assert_eq!(
            crate::Call::decode(&mut &full[..]).unwrap(),
            crate::Call::StakePools(c.clone())
        );
    }
}

#[test]
fn pool_account_is_keyless_and_distinct() {
    assert_ne!(pool_account(0), pool_account(1));
    assert_eq!(pool_account(7), Public(blake2_256(&(b"umbra/pool", 7u64).encode())));
}

#[test]
fn create_and_set_commission_basics_emit_events() {
    let mut sim = Sim::new(&[]);
    let events = sim.pools(&owner(), Call::Create { commission: 50_000 }).unwrap();
    assert_eq!(
        pool_events(&events),
        vec![Event::PoolCreated { pool: 0, owner: owner(), commission: 50_000 }]
    );
    assert_eq!(create_pool(&mut sim, 0), 1);
    let p = sim.pool(0);
    assert_eq!((p.owner, p.commission, p.total_shares), (owner(), 50_000, 0));
    assert_eq!(
        sim.pools(&owner(), Call::Create { commission: PPM + 1 }),
        Err("InvalidCommission".into())
    );
    assert_eq!(
        sim.pools(&acc("//Bob"), Call::SetCommission { pool: 0, commission: 1 }),
        Err("NotPoolOwner".into())
    );
    assert_eq!(
        sim.pools(&owner(), Call::SetCommission { pool: 9, commission: 1 }),
        Err("PoolNotFound".into())
    );
    assert_eq!(
        sim.pools(&owner(), Call::SetCommission { pool: 0, commission: PPM + 1 }),
        Err("InvalidCommission".into())
    );
    let events = sim.pools(&owner(), Call::SetCommission { pool: 0, commission: PPM }).unwrap();
    assert_eq!(pool_events(&events), vec![Event::CommissionChanged { pool: 0, commission: PPM }]);
    assert_eq!(sim.pool(0).commission, PPM);
}

#[test]
fn add_and_remove_worker_rules() {
    let mut sim = Sim::new(&["//W1", "//W2"]);
    let id = create_pool(&mut sim, 0);
    let w1 = acc("//W1");
    let bob = acc("//Bob");
    sim.pools(&bob, Call::Create { commission: 0 }).unwrap(); // pool 1, owned by Bob
    assert_eq!(
        sim.pools(&bob, Call::AddWorker { pool: id, worker: w1 }),
        Err("NotPoolOwner".into())
    );
    assert_eq!(
        sim.pools(&bob, Call::AddWorker { pool: 1, worker: w1 }),
        Err("NotWorkerOperator".into())
    );
    assert_eq!(
        sim.pools(&owner(), Call::AddWorker { pool: id, worker: acc("//Nobody") }),
        Err("WorkerNotRegistered".into())
    );
    let events = sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    assert_eq!(pool_events(&events), vec![Event::WorkerAdded { pool: id, worker: w1 }]);
    assert_eq!(sim.read(|st| worker_binding(st, &w1)), Some(WorkerBinding { pool: id, stake: 0 }));
    let other = create_pool(&mut sim, 0);
    assert_eq!(
        sim.pools(&owner(), Call::AddWorker { pool: other, worker: w1 }),
        Err("WorkerAlreadyBound".into())
    );
    assert_eq!(
        sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }),
        Err("WorkerAlreadyBound".into())
    );

    // Bounded: a full pool refuses more.
    sim.with(|ext| {
        let mut p = pool(&ext.state, other).unwrap();
        p.workers = (0..MAX_POOL_WORKERS as u8).map(|i| Public([i; 32])).collect();
        POOLS.insert(&mut ext.state, &other, &p);
    });
    assert_eq!(
        sim.pools(&owner(), Call::AddWorker { pool: other, worker: acc("//W2") }),
        Err("TooManyWorkers".into())
    );

    // Not while computing or cooling down.
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 500 * U }).unwrap();
    assert_eq!(
        sim.pools(&owner(), Call::RemoveWorker { pool: id, worker: w1 }),
        Err("WorkerBusy".into())
    );
    sim.pools(&owner(), Call::StopComputing { pool: id, worker: w1 }).unwrap();
    assert_eq!(
        sim.pools(&owner(), Call::RemoveWorker { pool: id, worker: w1 }),
        Err("WorkerBusy".into())
    );
    sim.blocks(ComputationParams::dev().cool_down_blocks);
    assert_eq!(sim.read(|st| computation::session(st, &w1).unwrap().state), WorkerState::Ready);
    assert_eq!(
        sim.pools(&owner(), Call::RemoveWorker { pool: other, worker: w1 }),
        Err("WorkerNotInPool".into())
    );
    let events = sim.pools(&owner(), Call::RemoveWorker { pool: id, worker: w1 }).unwrap();
    assert_eq!(pool_events(&events), vec![Event::WorkerRemoved { pool: id, worker: w1 }]);
    assert!(sim.pool(id).workers.is_empty());
    assert_eq!(sim.read(|st| worker_binding(st, &w1)), None);
    // Free again: it can join another pool.
    let third = create_pool(&mut sim, 0);
    sim.pools(&owner(), Call::AddWorker { pool: third, worker: w1 }).unwrap();
}

#[test]
fn contribute_and_immediate_withdraw() {
    let mut sim = Sim::new(&[]);
    let id = create_pool(&mut sim, 0);
    let bob = acc("//Bob");
    let before = sim.free(&bob);
    assert_eq!(
        sim.pools(&bob, Call::Contribute { pool: id, amount: U - 1 }),
        Err("ContributionTooLow".into())
    );
    assert_eq!(
        sim.pools(&bob, Call::Contribute { pool: 5, amount: U }),
        Err("PoolNotFound".into())
    );
    assert_eq!(
        sim.pools(&bob, Call::Contribute { pool: id, amount: 2_000_000 * U }),
        Err("InsufficientBalance".into())
    );
    let events = sim.pools(&bob, Call::Contribute { pool: id, amount: 100 * U }).unwrap();
    assert!(pool_events(&events).contains(&Event::Contributed {
        pool: id,
        who: bob,
        amount: 100 * U
    }));
    assert_eq!(sim.free(&bob), before - 100 * U);
    assert_eq!(sim.free(&pool_account(id)), 100 * U);
    let p = sim.pool(id);
    assert_eq!((p.total_shares, p.free_stake, p.contributors), (100 * U, 100 * U, 1));

    assert_eq!(sim.pools(&bob, Call::Withdraw { pool: id, amount: 0 }), Err("ZeroAmount".into()));
    assert_eq!(
        sim.pools(&bob, Call::Withdraw { pool: id, amount: 101 * U }),
        Err("InsufficientStake".into())
    );
    assert_eq!(
        sim.pools(&acc("//Dave"), Call::Withdraw { pool: id, amount: U }),
        Err("InsufficientStake".into())
    );
    let events = sim.pools(&bob, Call::Withdraw { pool: id, amount: 40 * U }).unwrap();
    assert_eq!(withdrawn(&events), vec![(bob, 40 * U)]);
    assert_eq!(sim.stake(id, &bob).shares, 60 * U);
    // A remainder below the minimum contribution goes too.
    let events = sim.pools(&bob, Call::Withdraw { pool: id, amount: 60 * U - U / 2 }).unwrap();
    assert_eq!(withdrawn(&events), vec![(bob, 60 * U)]);
    assert_eq!(sim.free(&bob), before);
    let p = sim.pool(id);
    assert_eq!((p.total_shares, p.free_stake, p.contributors), (0, 0, 0));
    assert_eq!(sim.read(|st| STAKES.get(st, &(id, bob))), None, "empty stake records are removed");
    check_pool(&sim, id, &[bob, owner()]);
}

#[test]
fn rewards_pay_commission_then_contributors_pro_rata() {
    let mut sim = Sim::new(&[]);
    let id = create_pool(&mut sim, 100_000); // 10%
    let (bob, charlie) = (acc("//Bob"), acc("//Charlie"));
    sim.pools(&bob, Call::Contribute { pool: id, amount: 300 * U }).unwrap();
    sim.pools(&charlie, Call::Contribute { pool: id, amount: 100 * U }).unwrap();
    let events = sim.reward(id, "//W1", 40 * U);
    assert_eq!(
        pool_events(&events),
        vec![Event::RewardDistributed {
            pool: id,
            worker: acc("//W1"),
            amount: 40 * U,
            to_vault: 0,
            to_owner: 4 * U,
            to_contributors: 36 * U
        }]
    );
    assert_eq!(sim.pending(id, &bob), 27 * U);
    assert_eq!(sim.pending(id, &charlie), 9 * U);
    assert_eq!(sim.read(|st| stake_info(st, id, &owner()).unwrap().claimable), 4 * U);
    check_pool(&sim, id, &[bob, charlie, owner()]);

    // Claims pay exactly what is pending; a second claim has nothing.
    let b0 = sim.free(&bob);
    let events = sim.pools(&bob, Call::ClaimRewards { pool: id }).unwrap();
    assert!(pool_events(&events).contains(&Event::RewardsClaimed {
        pool: id,
        who: bob,
        amount: 27 * U
    }));
    assert_eq!(sim.free(&bob), b0 + 27 * U);
    assert_eq!(sim.pools(&bob, Call::ClaimRewards { pool: id }), Err("NothingToClaim".into()));
    let a0 = sim.free(&owner());
    sim.pools(&owner(), Call::ClaimRewards { pool: id }).unwrap();
    assert_eq!(sim.free(&owner()), a0 + 4 * U);
    check_pool(&sim, id, &[bob, charlie, owner()]);

    // A later contributor does not share earlier rewards.
    sim.pools(&acc("//Dave"), Call::Contribute { pool: id, amount: 400 * U }).unwrap();
    assert_eq!(sim.pending(id, &acc("//Dave")), 0);
    // Rounding: 1 planck over 800 UMB of shares is dust, kept and distributed later.
    sim.reward(id, "//W1", 1);
    check_pool(&sim, id, &[bob, charlie, acc("//Dave"), owner()]);
    assert_eq!(sim.pending(id, &bob), 0);
    sim.reward(id, "//W1", 80 * U - 1);
    let p = sim.pool(id);
    assert_eq!(p.owner_reward, 8 * U - 1);
    assert_eq!(sim.pending(id, &acc("//Dave")), 36 * U);
    check_pool(&sim, id, &[bob, charlie, acc("//Dave"), owner()]);
    assert_eq!(sim.pool(id).total_rewards, 120 * U);
}

#[test]
fn queued_stake_keeps_earning_until_paid() {
    let mut sim = Sim::new(&["//W1"]);
    let id = create_pool(&mut sim, 0);
    let bob = acc("//Bob");
    let w1 = acc("//W1");
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 1000 * U }).unwrap();
    let events = sim.pools(&bob, Call::Withdraw { pool: id, amount: 400 * U }).unwrap();
    assert_eq!(
        pool_events(&events),
        vec![Event::WithdrawQueued { pool: id, who: bob, amount: 400 * U, request: 0 }]
    );
    sim.reward(id, "//W1", 10 * U);
    assert_eq!(sim.pending(id, &bob), 10 * U);
    check_pool(&sim, id, &[bob, owner()]);
}

#[test]
fn withdraw_queue_is_served_in_fifo_order_exactly_as_stake_frees() {
    let mut sim = Sim::new(&["//W1", "//W2"]);
    let id = create_pool(&mut sim, 0);
    let (bob, charlie, dave) = (acc("//Bob"), acc("//Charlie"), acc("//Dave"));
    let (w1, w2) = (acc("//W1"), acc("//W2"));
    let all = [bob, charlie, dave, owner()];
    for w in [w1, w2] {
        sim.pools(&owner(), Call::AddWorker { pool: id, worker: w }).unwrap();
    }
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&charlie, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 500 * U }).unwrap();
    assert_eq!(
        sim.pools(&owner(), Call::StartComputing { pool: id, worker: w2, stake: 1501 * U }),
        Err("InsufficientFreeStake".into())
    );
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w2, stake: 1500 * U }).unwrap();
    let (b0, c0) = (sim.free(&bob), sim.free(&charlie));

    sim.pools(&bob, Call::Withdraw { pool: id, amount: 800 * U }).unwrap();
    sim.pools(&charlie, Call::Withdraw { pool: id, amount: 400 * U }).unwrap();
    let p = sim.pool(id);
    assert_eq!((p.queued, p.queue_len(), p.free_stake), (1200 * U, 2, 0));
    check_pool(&sim, id, &all);

    // W1's 500 frees: all of it goes to the head of the queue (Bob), nothing to Charlie.
    sim.pools(&owner(), Call::StopComputing { pool: id, worker: w1 }).unwrap();
    let events = sim.blocks(ComputationParams::dev().cool_down_blocks);
    assert!(pool_events(&events).contains(&Event::StakeReleased {
        pool: id,
        worker: w1,
        stake: 500 * U
    }));
    assert_eq!(withdrawn(&events), vec![(bob, 500 * U)]);
    check_pool(&sim, id, &all);

    // A new contribution pays the queue first.
    let events = sim.pools(&dave, Call::Contribute { pool: id, amount: 200 * U }).unwrap();
    assert_eq!(withdrawn(&events), vec![(bob, 200 * U)]);
    assert_eq!(sim.pool(id).queued, 500 * U);
    // Nothing free to start with: the queue is owed first.
    assert_eq!(
        sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 220 * U }),
        Err("InsufficientFreeStake".into())
    );
    check_pool(&sim, id, &all);

    // W2's 1500 frees: Bob's last 100, then Charlie's 400, in that order; 1000 stays free.
    sim.pools(&owner(), Call::StopComputing { pool: id, worker: w2 }).unwrap();
    let events = sim.blocks(ComputationParams::dev().cool_down_blocks);
    assert_eq!(withdrawn(&events), vec![(bob, 100 * U), (charlie, 400 * U)]);
    let p = sim.pool(id);
    assert_eq!((p.queued, p.queue_len(), p.free_stake, p.locked_stake), (0, 0, 1000 * U, 0));
    assert_eq!(sim.free(&bob), b0 + 800 * U);
    assert_eq!(sim.free(&charlie), c0 + 400 * U);
    assert_eq!(sim.stake(id, &bob).shares, 200 * U);
    assert_eq!(sim.stake(id, &charlie).shares, 600 * U);
    assert_eq!(sim.stake(id, &dave).shares, 200 * U);
    check_pool(&sim, id, &all);
    // Empty queue: paid at once.
    let events = sim.pools(&charlie, Call::Withdraw { pool: id, amount: 600 * U }).unwrap();
    assert_eq!(withdrawn(&events), vec![(charlie, 600 * U)]);
    check_pool(&sim, id, &all);
}

#[test]
fn withdraw_queue_is_bounded() {
    let mut sim = Sim::new(&["//W1"]);
    let id = create_pool(&mut sim, 0);
    let (bob, charlie) = (acc("//Bob"), acc("//Charlie"));
    let w1 = acc("//W1");
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&charlie, Call::Contribute { pool: id, amount: 100 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 1100 * U }).unwrap();
    for _ in 0..MAX_REQUESTS_PER_ACCOUNT {
        sim.pools(&bob, Call::Withdraw { pool: id, amount: 10 * U }).unwrap();
    }
    assert_eq!(
        sim.pools(&bob, Call::Withdraw { pool: id, amount: 10 * U }),
        Err("TooManyRequests".into())
    );
    check_pool(&sim, id, &[bob, charlie, owner()]);
    // A full queue refuses new requests with a clear error.
    sim.with(|ext| {
        let mut p = pool(&ext.state, id).unwrap();
        p.queue_tail = p.queue_head + MAX_WITHDRAW_QUEUE;
        POOLS.insert(&mut ext.state, &id, &p);
    });
    assert_eq!(
        sim.pools(&charlie, Call::Withdraw { pool: id, amount: 10 * U }),
        Err("WithdrawQueueFull".into())
    );
}

#[test]
fn start_and_stop_rules() {
    let mut sim = Sim::new(&["//W1", "//W2"]);
    let id = create_pool(&mut sim, 0);
    let bob = acc("//Bob");
    let (w1, w2) = (acc("//W1"), acc("//W2"));
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    let start = |worker, stake| Call::StartComputing { pool: id, worker, stake };
    assert_eq!(sim.pools(&bob, start(w1, 500 * U)), Err("NotPoolOwner".into()));
    assert_eq!(sim.pools(&owner(), start(w2, 500 * U)), Err("WorkerNotInPool".into()));
    assert_eq!(sim.pools(&owner(), start(w1, 0)), Err("ZeroAmount".into()));
    assert_eq!(sim.pools(&owner(), start(w1, 10 * U)), Err("StakeTooLow".into()));
    assert_eq!(
        sim.pools(&owner(), Call::StopComputing { pool: id, worker: w1 }),
        Err("NotComputing".into())
    );
    let events = sim.pools(&owner(), start(w1, 500 * U)).unwrap();
    assert!(pool_events(&events).contains(&Event::ComputingStarted {
        pool: id,
        worker: w1,
        stake: 500 * U
    }));
    assert_eq!(sim.read(|st| computation::session(st, &w1).unwrap().state), WorkerState::Computing);
    assert_eq!(sim.pools(&owner(), start(w1, 300 * U)), Err("WorkerBusy".into()));
    let p = sim.pool(id);
    assert_eq!((p.free_stake, p.locked_stake), (500 * U, 500 * U));
    check_pool(&sim, id, &[bob, owner()]);
    // Stopping keeps the stake locked until the cool-down ends.
    sim.pools(&owner(), Call::StopComputing { pool: id, worker: w1 }).unwrap();
    assert_eq!(sim.pool(id).locked_stake, 500 * U);
    sim.blocks(ComputationParams::dev().cool_down_blocks - 1);
    assert_eq!(sim.pool(id).locked_stake, 500 * U);
    sim.block();
    assert_eq!(sim.pool(id).locked_stake, 0);
    assert_eq!(sim.pool(id).free_stake, 1000 * U);
    // Ready again: it can restart.
    sim.pools(&owner(), start(w1, 1000 * U)).unwrap();
    check_pool(&sim, id, &[bob, owner()]);
}

/// The attack: an owner starts a registered worker that is never online (it never answers a
/// challenge), stops it before its first deadline, waits out the cool-down and repeats. Stopping
/// forfeits what no heartbeat covers, so the pool earns exactly 0 and the treasury gets it.
#[test]
fn offline_worker_started_and_stopped_before_its_deadline_earns_nothing() {
    let mut sim = Sim::new(&["//W1", "//W2"]);
    let id = create_pool(&mut sim, 0);
    let bob = acc("//Bob");
    let (w1, w2) = (acc("//W1"), acc("//W2"));
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&bob, Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    // Another pool's worker keeps the chain's online set non-empty either way.
    let other = create_pool(&mut sim, 0);
    sim.pools(&owner(), Call::AddWorker { pool: other, worker: w2 }).unwrap();
    sim.pools(&bob, Call::Contribute { pool: other, amount: 1000 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: other, worker: w2, stake: 500 * U }).unwrap();
    let p = ComputationParams::dev();
    for _round in 0..3 {
        sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 500 * U }).unwrap();
        // Stay computing (accruing) for fewer blocks than the heartbeat window, so whatever
        // challenge came cannot have expired yet: the worker is still Computing when stopped.
        sim.blocks(p.heartbeat_window - 1);
        let s = sim.read(|st| computation::session(st, &w1).unwrap());
        assert_eq!(s.state, WorkerState::Computing);
        let forfeited_before = sim.read(|st| computation::EMISSION.get_or_default(st).forfeited);
        let events = sim.pools(&owner(), Call::StopComputing { pool: id, worker: w1 }).unwrap();
        let forfeited = events
            .iter()
            .find_map(|e| match e {
                RuntimeEvent::Computation(computation::Event::WorkerStopped {
                    forfeited, ..
                }) => Some(*forfeited),
                _ => None,
            })
            .unwrap();
        assert!(forfeited > 0, "it accrued a share while computing");
        assert_eq!(
            sim.read(|st| computation::EMISSION.get_or_default(st).forfeited),
            forfeited_before + forfeited
        );
        sim.blocks(p.cool_down_blocks);
        assert_eq!(sim.read(|st| computation::session(st, &w1).unwrap().state), WorkerState::Ready);
    }
    let s = sim.read(|st| computation::session(st, &w1).unwrap());
    assert_eq!(s.total_reward, 0);
    assert_eq!(sim.pool(id).reward_acc, 0);
    // Nothing but the contributed stake is in the pool's account.
    assert_eq!(sim.free(&pool_account(id)), 1000 * U);
    assert_eq!(sim.pending(id, &bob), 0);
    assert_eq!(sim.sum_of_balances(), sim.read(balances::total_issuance));
}

#[test]
fn release_for_an_unknown_binding_or_twice_changes_nothing() {
    let mut sim = Sim::new(&["//W1"]);
    let id = create_pool(&mut sim, 0);
    let w1 = acc("//W1");
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: w1 }).unwrap();
    sim.pools(&acc("//Bob"), Call::Contribute { pool: id, amount: 1000 * U }).unwrap();
    sim.pools(&owner(), Call::StartComputing { pool: id, worker: w1, stake: 600 * U }).unwrap();
    let before = sim.pool(id);
    sim.with(|ext| on_stake_released(ext, id + 1, &w1, 600 * U));
    sim.with(|ext| on_stake_released(ext, id, &acc("//W9"), 600 * U));
    assert_eq!(sim.pool(id), before);
    // The pool trusts its own record of what it locked, and only once.
    sim.with(|ext| on_stake_released(ext, id, &w1, 10_000 * U));
    assert_eq!(sim.pool(id).free_stake, 1000 * U);
    sim.with(|ext| on_stake_released(ext, id, &w1, 600 * U));
    assert_eq!(sim.pool(id).free_stake, 1000 * U);
    check_pool(&sim, id, &[acc("//Bob"), owner()]);
}

#[test]
fn reward_for_a_missing_pool_is_left_in_its_account() {
    let mut sim = Sim::new(&[]);
    sim.reward(42, "//W1", 5 * U);
    assert_eq!(sim.free(&pool_account(42)), 5 * U);
    assert_eq!(sim.sum_of_balances(), sim.read(balances::total_issuance));
}

#[test]
fn rpc_views_serialize() {
    let mut sim = Sim::new(&["//W1"]);
    let id = create_pool(&mut sim, 250_000);
    sim.pools(&owner(), Call::AddWorker { pool: id, worker: acc("//W1") }).unwrap();
    sim.pools(&acc("//Bob"), Call::Contribute { pool: id, amount: 10 * U }).unwrap();
    let info = sim.read(|st| pool_info(st, id, true)).unwrap();
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["id"], 0);
    assert_eq!(json["owner"], owner().to_ss58());
    assert_eq!(json["commission"], 250_000);
    assert_eq!(json["totalShares"], (10 * U).to_string());
    assert_eq!(json["account"], pool_account(id).to_ss58());
    assert_eq!(json["workers"][0], acc("//W1").to_ss58());
    assert_eq!(json["withdrawQueue"], serde_json::json!([]));
    assert!(json["loan"].is_null());
    let list = sim.read(pools);
    assert_eq!(list.len(), 1);
    assert!(serde_json::to_value(&list[0]).unwrap().get("withdrawQueue").is_none());
    let s =
        serde_json::to_value(sim.read(|st| stake_info(st, id, &acc("//Bob"))).unwrap()).unwrap();
    assert_eq!(s["shares"], (10 * U).to_string());
    assert_eq!(s["pendingRewards"], "0");
    assert!(sim.read(|st| pool_info(st, 9, false)).is_none());
}

// ---- property test: conservation ----

#[derive(Clone, Debug)]
enum Op {
    Contribute(usize, u64),
    Withdraw(usize, u64),
    Start(usize, u64),
    Stop(usize),
    Reward(u128),
    Blocks(u64),
    Claim(usize),
    Deposit(u64),
    LenderWithdraw(u64),
    Borrow(u64),
    Repay(u64),
    Commission(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 1..3000u64).prop_map(|(w, a)| Op::Contribute(w, a)),
        4 => (0..4usize, 1..120u64).prop_map(|(w, pct)| Op::Withdraw(w, pct)),
        4 => (0..2usize, 220..2000u64).prop_map(|(w, s)| Op::Start(w, s)),
        2 => (0..2usize).prop_map(Op::Stop),
        4 => prop_oneof![1..1000u128, 1..(100 * U)].prop_map(Op::Reward),
        3 => (1..80u64).prop_map(Op::Blocks),
        3 => (0..4usize).prop_map(Op::Claim),
        1 => (1..5000u64).prop_map(Op::Deposit),
        1 => (1..5000u64).prop_map(Op::LenderWithdraw),
        1 => (1..3000u64).prop_map(Op::Borrow),
        1 => (1..3000u64).prop_map(Op::Repay),
        1 => (0..=PPM).prop_map(Op::Commission),
    ]
}

/// Sums of money that crossed the pool's reward bookkeeping, read from events.
#[derive(Default, Debug)]
struct Flows {
    credited: Balance,
    claimed: Balance,
    to_vault_from_rewards: Balance,
}

impl Flows {
    fn add(&mut self, events: &[RuntimeEvent]) {
        for e in pool_events(events) {
            match e {
                Event::RewardDistributed { amount, .. } => {
                    self.credited = self.credited.checked_add(amount).unwrap()
                }
                Event::RewardsClaimed { amount, .. } => {
                    self.claimed = self.claimed.checked_add(amount).unwrap()
                }
                _ => {}
            }
        }
        for e in vault_events(events) {
            if let vault::Event::Repaid {
                source: vault::RepaymentSource::Rewards,
                interest,
                principal,
                ..
            } = e
            {
                self.to_vault_from_rewards =
                    self.to_vault_from_rewards.saturating_add(interest.saturating_add(principal));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn money_is_conserved_and_bookkeeping_holds(ops in prop::collection::vec(op(), 1..50)) {
        let mut sim = Sim::new(&["//W1", "//W2"]);
        sim.with(|ext| {
            vault::PARAMS.put(&mut ext.state, &VaultParams {
                interest_per_block_ppb: 10_000,
                max_loan_per_borrower: 5_000 * U,
                default_after_blocks: 15,
            })
        });
        let id = create_pool(&mut sim, 100_000);
        let workers = [acc("//W1"), acc("//W2")];
        for w in workers {
            sim.pools(&owner(), Call::AddWorker { pool: id, worker: w }).unwrap();
        }
        let people = [owner(), acc("//Bob"), acc("//Charlie"), acc("//Dave")];
        let lender = acc("//Eve");
        sim.vault(&lender, vault::Call::Deposit { amount: 10_000 * U }).unwrap();
        let mut flows = Flows::default();
        for op in ops {
            let result = match op.clone() {
                Op::Contribute(w, a) => sim.pools(&people[w], Call::Contribute { pool: id, amount: (a as u128).saturating_mul(U) }),
                Op::Withdraw(w, pct) => {
                    // A percentage of what a staker may still request (above 100% fails).
                    let stakers: Vec<(AccountId, Balance)> = people
                        .iter()
                        .map(|p| (*p, sim.stake(id, p)))
                        .map(|(p, s)| (p, s.shares.saturating_sub(s.queued)))
                        .filter(|(_, r)| *r > 0)
                        .collect();
                    if stakers.is_empty() {
                        sim.pools(&people[w], Call::Withdraw { pool: id, amount: U })
                    } else {
                        let (who, requestable) = stakers[w.checked_rem(stakers.len()).unwrap()];
                        let amount = requestable.saturating_mul(pct as u128).checked_div(100).unwrap().max(1);
                        sim.pools(&who, Call::Withdraw { pool: id, amount })
                    }
                }
                Op::Start(w, s) => {
                    // Often lock everything available, so withdrawals have to queue.
                    let stake = if s >= 1200 { sim.pool(id).available_stake() } else { (s as u128).saturating_mul(U) };
                    sim.pools(&owner(), Call::StartComputing { pool: id, worker: workers[w], stake })
                }
                Op::Stop(w) => sim.pools(&owner(), Call::StopComputing { pool: id, worker: workers[w] }),
                Op::Reward(a) => Ok(sim.reward(id, "//W1", a)),
                Op::Blocks(n) => Ok(sim.blocks(n)),
                Op::Claim(w) => sim.pools(&people[w], Call::ClaimRewards { pool: id }),
                Op::Deposit(a) => sim.vault(&lender, vault::Call::Deposit { amount: (a as u128).saturating_mul(U) }),
                Op::LenderWithdraw(a) => {
                    let shares = (a as u128).saturating_mul(U).min(sim.read(|st| vault::shares(st, &lender)));
                    sim.vault(&lender, vault::Call::Withdraw { shares })
                }
                Op::Borrow(a) => sim.vault(&owner(), vault::Call::Borrow { pool: id, amount: (a as u128).saturating_mul(U) }),
                Op::Repay(a) => sim.vault(&owner(), vault::Call::Repay { pool: id, amount: (a as u128).saturating_mul(U) }),
                Op::Commission(c) => sim.pools(&owner(), Call::SetCommission { pool: id, commission: c }),
            };
            if let Ok(events) = &result {
                flows.add(events);
            }
            prop_assert_eq!(sim.sum_of_balances(), sim.read(balances::total_issuance));
            check_pool(&sim, id, &people);
            crate::modules::vault::tests::check_vault(&sim, &[lender]);
            let p = sim.pool(id);
            prop_assert_eq!(p.reward_held, flows.credited.checked_sub(flows.claimed).and_then(|x| x.checked_sub(flows.to_vault_from_rewards)).unwrap());
            prop_assert_eq!(p.total_rewards, flows.credited);
        }
    }
}

#[test]
fn empty_state_has_no_pools() {
    let st = Overlay::new(&EmptyState);
    assert!(pools(&st).is_empty());
    assert!(stake_info(&st, 0, &owner()).is_none());
}
