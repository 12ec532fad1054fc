use std::collections::BTreeMap;

use proptest::prelude::*;
use umbra_crypto::Pair;
use umbra_primitives::{mq::Heartbeat, H256};

use super::*;
use crate::{
    modules::{governance::Parameters, registry::tests::registered_worker},
    state::EmptyState,
    system::BlockInit,
};

/// A test chain: state in a map, blocks advanced with the real block hooks.
struct Sim {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    number: BlockNumber,
}

impl Sim {
    fn new(workers: &[Pair]) -> Self {
        let mut sim = Sim { state: BTreeMap::new(), number: 0 };
        sim.with(|ext| {
            governance::PARAMETERS.put(&mut ext.state, &Parameters::dev());
            PARAMS.put(&mut ext.state, &ComputationParams::dev());
            for w in workers {
                registered_worker(ext, w);
            }
        });
        sim
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut Ext<'_>) -> T) -> T {
        let snapshot = self.state.clone();
        let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
        let out = f(&mut ext);
        let (st, _) = ext.into_parts();
        assert!(st.take_error().is_none());
        crate::test_utils::apply_changes(&mut self.state, st.into_changes());
        out
    }

    /// Starts the next block (system + computation hooks), then runs `f` inside it.
    fn block<T>(&mut self, f: impl FnOnce(&mut Ext<'_>) -> T) -> (T, Vec<crate::EventRecord>) {
        self.number += 1;
        let n = self.number;
        let snapshot = self.state.clone();
        let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
        system::initialize(
            &mut ext,
            &BlockInit {
                number: n,
                parent_hash: H256::hash(&(n - 1).to_le_bytes()),
                timestamp: 1_700_000_000_000 + n * 1000,
                author: Pair::from_suri("//Alice").unwrap().public(),
                randomness: blake2_256(&n.to_le_bytes()),
            },
        );
        on_initialize(&mut ext);
        let out = f(&mut ext);
        let (st, events) = ext.into_parts();
        assert!(st.take_error().is_none());
        crate::test_utils::apply_changes(&mut self.state, st.into_changes());
        (out, events)
    }

    fn read<T>(&self, f: impl FnOnce(&Overlay<'_>) -> T) -> T {
        f(&Overlay::new(&self.state))
    }

    fn session(&self, w: &Pair) -> Session {
        self.read(|st| session(st, &w.public())).unwrap()
    }
}

fn worker(i: u32) -> Pair {
    Pair::from_suri(&format!("//Worker{i}")).unwrap()
}

/// Answers the open challenge of `w` inside the current block.
fn answer(ext: &mut Ext<'_>, w: &Pair) {
    let Some(s) = session(&ext.state, &w.public()) else { return };
    let Some(c) = s.pending else { return };
    let hash = system::BLOCK_HASHES.get(&ext.state, &c.block).unwrap_or_default();
    on_heartbeat(
        ext,
        &w.public(),
        &Heartbeat { challenge_block: c.block, challenge_block_hash: hash }.encode(),
    );
}

const STAKE: Balance = 10_000 * UNITS;

fn start_all(sim: &mut Sim, workers: &[Pair]) {
    sim.block(|ext| {
        for (i, w) in workers.iter().enumerate() {
            start_computing(ext, &w.public(), i as PoolId, STAKE).unwrap();
        }
    });
}

#[test]
fn cannot_start_unregistered_or_understaked_workers() {
    let w = worker(0);
    let mut sim = Sim::new(&[w.clone()]);
    sim.block(|ext| {
        let stranger = worker(9).public();
        assert_eq!(
            start_computing(ext, &stranger, 0, STAKE).unwrap_err().variant(),
            "NotRegistered"
        );
        let min = min_stake(
            &ext.state,
            registry::worker(&ext.state, &w.public()).unwrap().benchmark_score,
        );
        assert!(min > 0);
        assert_eq!(
            start_computing(ext, &w.public(), 0, min - 1).unwrap_err().variant(),
            "StakeTooLow"
        );
        start_computing(ext, &w.public(), 0, min).unwrap();
        assert_eq!(start_computing(ext, &w.public(), 0, min).unwrap_err().variant(), "NotReady");
    });
    assert_eq!(sim.session(&w).state, WorkerState::Computing);
    assert_eq!(sim.read(|st| COUNTS.get_or_default(st)), (1, 0, 0));
}

#[test]
fn answered_challenges_pay_missed_ones_make_unresponsive_and_answering_recovers() {
    let w = worker(0);
    let mut sim = Sim::new(&[w.clone()]);
    start_all(&mut sim, &[w.clone()]);
    let pool_account = stake_pools::pool_account(0);
    // Run until challenged, answer promptly.
    let mut paid = 0;
    for _ in 0..200 {
        let (_, events) = sim.block(|ext| answer(ext, &w));
        for r in events {
            if let crate::Event::Computation(Event::HeartbeatAccepted { reward, .. }) = r.event {
                paid += reward;
            }
        }
        if paid > 0 {
            break;
        }
    }
    assert!(paid > 0, "an answered challenge pays");
    assert!(sim.read(|st| balances::account(st, &pool_account).free) >= paid);
    assert_eq!(sim.session(&w).state, WorkerState::Computing);

    // Stop answering: within one challenge interval plus the window it becomes unresponsive.
    let mut became_unresponsive = false;
    for _ in 0..100 {
        let (_, events) = sim.block(|_| {});
        if events
            .iter()
            .any(|r| matches!(r.event, crate::Event::Computation(Event::WorkerUnresponsive { .. })))
        {
            became_unresponsive = true;
            break;
        }
    }
    assert!(became_unresponsive);
    assert_eq!(sim.session(&w).state, WorkerState::Unresponsive);
    assert_eq!(sim.read(|st| ONLINE_SHARES.get_or_default(st)), 0);

    // While unresponsive it earns nothing, however many blocks pass.
    let before = sim.read(|st| balances::account(st, &pool_account).free);
    for _ in 0..5 {
        sim.block(|_| {});
    }
    assert_eq!(sim.read(|st| balances::account(st, &pool_account).free), before);

    // It answers a later challenge and is back.
    let mut recovered = false;
    for _ in 0..100 {
        let (_, events) = sim.block(|ext| answer(ext, &w));
        if events
            .iter()
            .any(|r| matches!(r.event, crate::Event::Computation(Event::WorkerRecovered { .. })))
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered);
    assert_eq!(sim.session(&w).state, WorkerState::Computing);
}

#[test]
fn forged_or_stale_heartbeats_are_rejected() {
    let w = worker(0);
    let mut sim = Sim::new(&[w.clone()]);
    start_all(&mut sim, &[w.clone()]);
    while sim.session(&w).pending.is_none() {
        sim.block(|_| {});
    }
    let c = sim.session(&w).pending.unwrap();
    let (_, events) = sim.block(|ext| {
        on_heartbeat(
            ext,
            &w.public(),
            &Heartbeat { challenge_block: c.block, challenge_block_hash: H256::hash(b"x") }
                .encode(),
        );
        on_heartbeat(
            ext,
            &w.public(),
            &Heartbeat { challenge_block: c.block + 1, challenge_block_hash: H256::ZERO }.encode(),
        );
        on_heartbeat(ext, &w.public(), &[1, 2]);
        on_heartbeat(ext, &worker(5).public(), &[]);
    });
    let rejected = events
        .iter()
        .filter(|r| matches!(r.event, crate::Event::Computation(Event::HeartbeatRejected { .. })))
        .count();
    assert_eq!(rejected, 4);
    assert!(sim.session(&w).pending.is_some(), "the challenge is still open");
}

#[test]
fn stop_cools_down_then_releases() {
    let w = worker(0);
    let mut sim = Sim::new(&[w.clone()]);
    start_all(&mut sim, &[w.clone()]);
    sim.block(|ext| stop_computing(ext, &w.public()).unwrap());
    assert_eq!(sim.session(&w).state, WorkerState::CoolingDown);
    for _ in 0..ComputationParams::dev().cool_down_blocks {
        sim.block(|_| {});
    }
    let s = sim.session(&w);
    assert_eq!(s.state, WorkerState::Ready);
    assert_eq!(s.stake, 0);
    assert_eq!(sim.read(|st| COUNTS.get_or_default(st)), (0, 0, 0));
    assert_eq!(sim.read(|st| computing_at(st, 0)), None);
}

#[test]
fn computing_index_stays_dense_as_workers_come_and_go() {
    let workers: Vec<Pair> = (0..5).map(worker).collect();
    let mut sim = Sim::new(&workers);
    start_all(&mut sim, &workers);
    sim.block(|ext| {
        stop_computing(ext, &workers[1].public()).unwrap();
        stop_computing(ext, &workers[4].public()).unwrap();
    });
    let listed: std::collections::BTreeSet<Public> =
        sim.read(|st| (0..computing_count(st)).map(|i| computing_at(st, i).unwrap()).collect());
    let expected: std::collections::BTreeSet<Public> =
        [0, 2, 3].iter().map(|i| workers[*i].public()).collect();
    assert_eq!(listed, expected);
    assert_eq!(sim.read(|st| computing_at(st, 3)), None);
    for w in &expected {
        let pos = sim.read(|st| COMPUTING_POS.get(st, w)).unwrap();
        assert_eq!(sim.read(|st| computing_at(st, pos)), Some(*w));
    }
}

#[test]
fn block_cost_does_not_grow_with_the_number_of_workers() {
    // State changes of a block in which nobody is challenged: the same with 2 or 40 workers.
    let changes_with = |count: u32| {
        let workers: Vec<Pair> = (0..count).map(worker).collect();
        let mut sim = Sim::new(&workers);
        start_all(&mut sim, &workers);
        // Find a block where no worker has anything due.
        loop {
            let next = sim.number + 1;
            let due =
                sim.read(|st| !CHALLENGE_AT.is_empty(st, next) || !DEADLINE_AT.is_empty(st, next));
            if !due {
                let snapshot = sim.state.clone();
                let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
                system::NUMBER.put(&mut ext.state, &next);
                let before = ext.state.change_count();
                on_initialize(&mut ext);
                return ext.state.change_count() - before;
            }
            sim.block(|_| {});
        }
    };
    assert_eq!(changes_with(2), changes_with(40));
}

#[test]
fn emission_decays_on_schedule() {
    let mut sim = Sim::new(&[]);
    sim.with(|ext| {
        let mut p = ComputationParams::dev();
        p.decay_period = 3;
        p.decay_ppm = 500_000;
        PARAMS.put(&mut ext.state, &p);
    });
    let mut budgets = Vec::new();
    for _ in 0..7 {
        let before = sim.read(|st| EMISSION.get_or_default(st).total_emitted);
        sim.block(|_| {});
        budgets.push(sim.read(|st| EMISSION.get_or_default(st).total_emitted) - before);
    }
    let b = 10 * UNITS;
    assert_eq!(budgets, vec![b, b, b, b / 2, b / 2, b / 2, b / 4]);
    // With no worker online, everything went to the treasury.
    assert_eq!(
        sim.read(|st| balances::account(st, &balances::treasury_account()).free),
        budgets.iter().sum::<u128>()
    );
}

fn sum_of_balances(sim: &Sim) -> Balance {
    crate::test_utils::sum_of_balances(&sim.state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Over a run where each worker answers or ignores each block at random: issuance grows by
    /// exactly the emission and equals the sum of balances; the pot accounts for every planck
    /// meant for workers; while online workers exist, workers' part is exactly 70% (floored per
    /// block); an unresponsive worker's pool never gains.
    #[test]
    fn rewards_conserve_and_workers_get_seventy_percent(
        answers in prop::collection::vec(prop::collection::vec(any::<bool>(), 3), 60..120),
    ) {
        let workers: Vec<Pair> = (0..3).map(worker).collect();
        let mut sim = Sim::new(&workers);
        let issuance0 = sim.read(balances::total_issuance);
        start_all(&mut sim, &workers);
        for row in &answers {
            let unresponsive_before: Vec<(AccountId, Balance)> = workers.iter().enumerate()
                .filter(|(_, w)| sim.session(w).state == WorkerState::Unresponsive)
                .map(|(i, _)| { let a = stake_pools::pool_account(i as PoolId); (a, sim.read(|st| balances::account(st, &a).free)) })
                .collect();
            sim.block(|ext| {
                for (w, yes) in workers.iter().zip(row) {
                    if *yes { answer(ext, w); }
                }
            });
            for (a, before) in unresponsive_before {
                // A heartbeat that recovers pays nothing; only later heartbeats do.
                prop_assert_eq!(sim.read(|st| balances::account(st, &a).free), before);
            }
        }
        let e = sim.read(|st| EMISSION.get_or_default(st));
        let issuance = sim.read(balances::total_issuance);
        prop_assert_eq!(issuance, issuance0 + e.total_emitted);
        prop_assert_eq!(issuance, sum_of_balances(&sim));
        let pot = sim.read(|st| balances::account(st, &pot_account()).free);
        prop_assert_eq!(e.paid_to_workers + e.forfeited + pot, e.to_workers);
        // Blocks with nobody online send everything to the treasury, so workers get at most 70%.
        prop_assert!(e.to_workers <= e.total_emitted * 7 / 10);
    }

    /// When every worker always answers, workers receive exactly 70% of emission: once all are
    /// stopped (settled), what the pools got plus the pot's rounding dust is exactly the workers'
    /// part, and the dust is below one planck per settlement.
    #[test]
    fn always_online_workers_receive_exactly_seventy_percent(blocks in 30usize..90) {
        let workers: Vec<Pair> = (0..3).map(worker).collect();
        let mut sim = Sim::new(&workers);
        start_all(&mut sim, &workers);
        let emitted_before = sim.read(|st| EMISSION.get_or_default(st).total_emitted);
        for _ in 0..blocks {
            sim.block(|ext| for w in &workers { answer(ext, w) });
        }
        sim.block(|ext| for w in &workers { stop_computing(ext, &w.public()).unwrap() });
        let e = sim.read(|st| EMISSION.get_or_default(st));
        // The start block emitted before anyone was online.
        let emitted = e.total_emitted - emitted_before;
        prop_assert_eq!(e.to_workers, emitted * 7 / 10);
        prop_assert_eq!(e.forfeited, 0);
        let pools: Balance = (0..3).map(|i| sim.read(|st| balances::account(st, &stake_pools::pool_account(i)).free)).sum();
        prop_assert_eq!(pools, e.paid_to_workers);
        let dust = e.to_workers - e.paid_to_workers;
        prop_assert!(dust <= (blocks as u128 + 2) * 3, "dust {} too large", dust);
    }
}

#[test]
fn params_only_by_council_and_validated() {
    let mut sim = Sim::new(&[]);
    sim.with(|ext| {
        governance::KEY.put(&mut ext.state, &Pair::from_suri("//Alice").unwrap().public())
    });
    sim.block(|ext| {
        let bob = Pair::from_suri("//Bob").unwrap().public();
        let alice = Pair::from_suri("//Alice").unwrap().public();
        let p = ComputationParams::dev();
        assert_eq!(
            dispatch(ext, bob, Call::SetParams { params: p.clone() }).unwrap_err().variant(),
            "RequireCouncil"
        );
        let mut bad = p.clone();
        bad.heartbeat_window = 0;
        assert_eq!(
            dispatch(ext, alice, Call::SetParams { params: bad }).unwrap_err().variant(),
            "InvalidParameters"
        );
        let mut good = p;
        good.budget_per_block = 5 * UNITS;
        dispatch(ext, alice, Call::SetParams { params: good }).unwrap();
        assert_eq!(EMISSION.get_or_default(&ext.state).budget, 5 * UNITS);
    });
    let _ = EmptyState;
}
