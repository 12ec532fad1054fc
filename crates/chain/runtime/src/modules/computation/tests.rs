use std::collections::BTreeMap;

use proptest::prelude::*;
use umbra_crypto::Pair;
use umbra_primitives::{mq::Heartbeat, H256};

use super::*;
use crate::{
    modules::{governance::Parameters, registry::tests::registered_worker, stake_pools},
    state::EmptyState,
    system::BlockInit,
    Runtime,
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
        let randomness = blake2_256(&self.number.saturating_add(1).to_le_bytes());
        self.block_with(randomness, f)
    }

    /// Like [`Sim::block`], with the block's VRF randomness given.
    fn block_with<T>(
        &mut self,
        randomness: [u8; 32],
        f: impl FnOnce(&mut Ext<'_>) -> T,
    ) -> (T, Vec<crate::EventRecord>) {
        self.number = self.number.saturating_add(1);
        let n = self.number;
        let snapshot = self.state.clone();
        let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
        system::initialize(
            &mut ext,
            &BlockInit {
                number: n,
                parent_hash: H256::hash(&n.saturating_sub(1).to_le_bytes()),
                timestamp: n.saturating_mul(1000).saturating_add(1_700_000_000_000),
                author: Pair::from_suri("//Alice").unwrap().public(),
                randomness,
            },
        );
        on_initialize::<Runtime>(&mut ext);
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
    on_heartbeat::<Runtime>(
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
    let mut sim = Sim::new(std::slice::from_ref(&w));
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
    let mut sim = Sim::new(std::slice::from_ref(&w));
    start_all(&mut sim, std::slice::from_ref(&w));
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
    let mut sim = Sim::new(std::slice::from_ref(&w));
    start_all(&mut sim, std::slice::from_ref(&w));
    while sim.session(&w).pending.is_none() {
        sim.block(|_| {});
    }
    let c = sim.session(&w).pending.unwrap();
    let (_, events) = sim.block(|ext| {
        on_heartbeat::<Runtime>(
            ext,
            &w.public(),
            &Heartbeat { challenge_block: c.block, challenge_block_hash: H256::hash(b"x") }
                .encode(),
        );
        on_heartbeat::<Runtime>(
            ext,
            &w.public(),
            &Heartbeat { challenge_block: c.block + 1, challenge_block_hash: H256::ZERO }.encode(),
        );
        on_heartbeat::<Runtime>(ext, &w.public(), &[1, 2]);
        on_heartbeat::<Runtime>(ext, &worker(5).public(), &[]);
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
    let mut sim = Sim::new(std::slice::from_ref(&w));
    start_all(&mut sim, std::slice::from_ref(&w));
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

/// Workers challenged in a block's events.
fn challenged(events: &[crate::EventRecord]) -> std::collections::BTreeSet<Public> {
    events
        .iter()
        .filter_map(|r| match r.event {
            crate::Event::Computation(Event::Challenged { worker, .. }) => Some(worker),
            _ => None,
        })
        .collect()
}

#[test]
fn block_cost_does_not_grow_with_the_number_of_workers() {
    // State changes of a block in which nobody is challenged and no deadline is due: the same
    // with 2 or 40 workers (a rare challenge rate makes such blocks common).
    let changes_with = |count: u32| {
        let workers: Vec<Pair> = (0..count).map(worker).collect();
        let mut sim = Sim::new(&workers);
        sim.with(|ext| {
            PARAMS.put(
                &mut ext.state,
                &ComputationParams { mean_challenge_interval: 100_000, ..ComputationParams::dev() },
            )
        });
        start_all(&mut sim, &workers);
        loop {
            let next = sim.number + 1;
            let mut trial = Sim { state: sim.state.clone(), number: sim.number };
            let (_, events) = trial.block(|_| {});
            if challenged(&events).is_empty() && sim.read(|st| DEADLINE_AT.is_empty(st, next)) {
                let snapshot = sim.state.clone();
                let mut ext = Ext::with_genesis(Overlay::new(&snapshot), H256::hash(b"genesis"));
                system::NUMBER.put(&mut ext.state, &next);
                system::RANDOMNESS.put(&mut ext.state, &blake2_256(&next.to_le_bytes()));
                let before = ext.state.change_count();
                on_initialize::<Runtime>(&mut ext);
                return ext.state.change_count() - before;
            }
            sim.block(|_| {});
        }
    };
    assert_eq!(changes_with(2), changes_with(40));
}

#[test]
fn each_block_challenges_computing_count_over_the_mean_interval() {
    // 45 workers, mean interval 20: every block challenges 2 or 3 distinct workers (2.25 on
    // average), whoever has no open challenge.
    let workers: Vec<Pair> = (0..45).map(worker).collect();
    let mut sim = Sim::new(&workers);
    start_all(&mut sim, &workers);
    let mut total = 0;
    let blocks = 400;
    for _ in 0..blocks {
        let (_, events) = sim.block(|ext| {
            for w in &workers {
                answer(ext, w);
            }
        });
        let c = challenged(&events).len();
        assert!(c <= 3, "{c} challenges in one block");
        total += c;
    }
    // Expected 2.25 per block less the rare repeated pick; a loose bound that an off-by-a-factor
    // rate would break.
    assert!((blocks * 2..=blocks * 9 / 4).contains(&total), "{total} challenges");
    assert!(workers.iter().all(|w| sim.session(w).state == WorkerState::Computing));
}

/// The attack: a worker reads the state before block n to learn whether it will be challenged at
/// n, and is online only then. The challenged set is a function of block n's own randomness: two
/// chains identical up to n-1 that differ only in block n's randomness challenge different
/// workers, every computing worker can be picked at n whatever the state at n-1 is, and that
/// state holds no schedule.
#[test]
fn who_is_challenged_at_a_block_is_unknown_before_that_block() {
    let workers: Vec<Pair> = (0..16).map(worker).collect();
    let mut sim = Sim::new(&workers);
    sim.with(|ext| {
        PARAMS.put(
            &mut ext.state,
            &ComputationParams { mean_challenge_interval: 4, ..ComputationParams::dev() },
        )
    });
    start_all(&mut sim, &workers);
    for _ in 0..30 {
        sim.block(|ext| {
            for w in &workers {
                answer(ext, w);
            }
        });
    }
    // Block n-1 is committed. Those challenged in it (answerable only from the next block on)
    // hold an open challenge and are skipped at n; every other worker is free to be picked.
    let free: std::collections::BTreeSet<Public> = workers
        .iter()
        .filter(|w| sim.session(w).pending.is_none_or(|c| c.deadline <= sim.number + 1))
        .map(|w| w.public())
        .collect();
    assert!(free.len() >= 10);
    // No record of a future challenge anywhere in state.
    assert!(sim.state.keys().all(|k| !k.starts_with(b"computation/challenge")));
    let mut sets = Vec::new();
    for r in 0u8..64 {
        let mut fork = Sim { state: sim.state.clone(), number: sim.number };
        let (_, events) = fork.block_with([r; 32], |_| {});
        let set = challenged(&events);
        assert!(set.len() <= 4, "16 workers, mean interval 4: 4 picks");
        sets.push(set);
    }
    assert_ne!(sets[0], sets[1], "block n's randomness alone changes who is challenged");
    let union: std::collections::BTreeSet<Public> = sets.iter().flatten().copied().collect();
    assert_eq!(union, free, "every free worker may be challenged at n, whatever state n-1 holds");
}

#[test]
fn unresponsive_workers_keep_being_challenged_and_late_answers_do_not_count() {
    let w = worker(0);
    let mut sim = Sim::new(std::slice::from_ref(&w));
    start_all(&mut sim, std::slice::from_ref(&w));
    // Never answer until unresponsive.
    while sim.session(&w).state != WorkerState::Unresponsive {
        sim.block(|_| {});
    }
    let missed = sim.session(&w).pending.unwrap();
    // Answering the expired challenge is refused.
    let (_, events) = sim.block(|ext| {
        let hash = system::BLOCK_HASHES.get(&ext.state, &missed.block).unwrap();
        on_heartbeat::<Runtime>(
            ext,
            &w.public(),
            &Heartbeat { challenge_block: missed.block, challenge_block_hash: hash }.encode(),
        );
    });
    assert!(events.iter().any(|r| matches!(
        &r.event,
        crate::Event::Computation(Event::HeartbeatRejected { reason, .. }) if reason == "challenge expired"
    )));
    assert_eq!(sim.session(&w).state, WorkerState::Unresponsive);
    assert_eq!(sim.read(|st| UNRESPONSIVE_AT.get(st, &0)), Some(w.public()));
    // It is challenged again from the unresponsive index and can come back.
    for _ in 0..200 {
        sim.block(|ext| answer(ext, &w));
        if sim.session(&w).state == WorkerState::Computing {
            break;
        }
    }
    assert_eq!(sim.session(&w).state, WorkerState::Computing);
    assert_eq!(sim.read(|st| UNRESPONSIVE_AT.get(st, &0)), None);
    assert_eq!(sim.read(|st| COUNTS.get_or_default(st)), (1, 0, 0));
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
        prop_assert_eq!(issuance, issuance0.checked_add(e.total_emitted).unwrap());
        prop_assert_eq!(issuance, sum_of_balances(&sim));
        let pot = sim.read(|st| balances::account(st, &pot_account()).free);
        prop_assert_eq!(e.paid_to_workers.checked_add(e.forfeited).and_then(|x| x.checked_add(pot)), Some(e.to_workers));
        // Blocks with nobody online send everything to the treasury, so workers get at most 70%.
        prop_assert!(e.to_workers <= e.total_emitted.checked_mul(7).unwrap().checked_div(10).unwrap());
    }

    /// When every worker always answers, workers receive exactly 70% of emission: once all are
    /// stopped, what the pools got, plus what stopping forfeited (the time since each one's last
    /// heartbeat), plus the pot's rounding dust is exactly the workers' part, and the dust is
    /// below one planck per settlement.
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
        let emitted = e.total_emitted.checked_sub(emitted_before).unwrap();
        prop_assert_eq!(Some(e.to_workers), emitted.checked_mul(7).and_then(|x| x.checked_div(10)));
        let pools: Balance = (0..3).map(|i| sim.read(|st| balances::account(st, &stake_pools::pool_account(i)).free)).sum();
        prop_assert_eq!(pools, e.paid_to_workers);
        // Stopping forfeits only the tail since each worker's last heartbeat.
        let pot = sim.read(|st| balances::account(st, &pot_account()).free);
        prop_assert_eq!(e.paid_to_workers.checked_add(e.forfeited).and_then(|x| x.checked_add(pot)), Some(e.to_workers));
        let dust = pot;
        prop_assert!(dust <= (blocks as u128).saturating_add(2).saturating_mul(3), "dust {} too large", dust);
    }
}

/// The attack: a council call sets a parameter out of range (an endless cool-down would lock
/// every stopped worker's stake forever; others overflow or stop the chain's economics). Each is
/// refused with the parameter's name, and nothing changes.
#[test]
fn out_of_range_params_are_refused_through_the_council_call() {
    let alice = Pair::from_suri("//Alice").unwrap().public();
    let mut sim = Sim::new(&[]);
    sim.with(|ext| governance::KEY.put(&mut ext.state, &alice));
    let p = ComputationParams::dev();
    let cases: Vec<(&str, ComputationParams)> = vec![
        ("coolDownBlocks", ComputationParams { cool_down_blocks: u64::MAX, ..p.clone() }),
        (
            "coolDownBlocks",
            ComputationParams { cool_down_blocks: MAX_COOL_DOWN_BLOCKS + 1, ..p.clone() },
        ),
        ("coolDownBlocks", ComputationParams { cool_down_blocks: 0, ..p.clone() }),
        ("meanChallengeInterval", ComputationParams { mean_challenge_interval: 0, ..p.clone() }),
        (
            "meanChallengeInterval",
            ComputationParams { mean_challenge_interval: u64::MAX, ..p.clone() },
        ),
        ("heartbeatWindow", ComputationParams { heartbeat_window: 1_000, ..p.clone() }),
        (
            "minStakePerSqrtScore",
            ComputationParams { min_stake_per_sqrt_score: u128::MAX, ..p.clone() },
        ),
        ("budgetPerBlock", ComputationParams { budget_per_block: u128::MAX, ..p.clone() }),
        ("decayPpm", ComputationParams { decay_ppm: 1_000_001, ..p.clone() }),
        ("decayPeriod", ComputationParams { decay_period: u64::MAX, ..p.clone() }),
        ("workerSharePpm", ComputationParams { worker_share_ppm: u32::MAX, ..p.clone() }),
        ("uptimeRampBlocks", ComputationParams { uptime_ramp_blocks: u64::MAX, ..p.clone() }),
        ("unresponsiveDecay", ComputationParams { unresponsive_decay: u64::MAX, ..p.clone() }),
    ];
    for (name, bad) in cases {
        // The dispatch error commits only the variant; the validator names the parameter.
        assert_eq!(bad.validate(), Err(Error::InvalidParameters(name)));
        let before = sim.state.clone();
        let err = sim.with(|ext| {
            crate::dispatch(ext, alice, crate::Call::Computation(Call::SetParams { params: bad }))
                .unwrap_err()
        });
        assert_eq!(err.variant(), "InvalidParameters");
        assert_eq!(sim.state, before, "a refused {name} changed state");
    }
    // The bounds themselves are accepted.
    let edge = ComputationParams { cool_down_blocks: MAX_COOL_DOWN_BLOCKS, ..p };
    sim.with(|ext| dispatch(ext, alice, Call::SetParams { params: edge.clone() }).unwrap());
    assert_eq!(sim.read(params), edge);
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
