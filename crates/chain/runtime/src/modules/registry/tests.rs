use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::{simulated_enclave_measurement, simulated_enclave_signer, UNITS};
use umbra_tee::{dev_vendor_root, Platform, SimulatedPlatform};

use super::*;
use crate::{genesis::Authority, state::EmptyState};

const NOW: u64 = 1_700_000_000_000;

fn genesis() -> H256 {
    H256::hash(b"registry test genesis")
}

fn operator() -> Pair {
    Pair::from_suri("//Alice").unwrap()
}

/// The hash the test chain gives block `n`.
fn block_hash(n: BlockNumber) -> H256 {
    H256::hash_of(&(b"registry test block", n))
}

/// Makes `number` the current block, with the hashes of the blocks before it in the history.
fn set_block(ext: &mut Ext<'_>, number: BlockNumber) {
    system::NUMBER.put(&mut ext.state, &number);
    let first = number.saturating_sub(system::BLOCK_HASH_COUNT);
    for n in first..number {
        system::BLOCK_HASHES.insert(&mut ext.state, &n, &block_hash(n));
    }
}

/// The dev policy (simulated allowed) with a 20-block anchor age and a score cap of 10,000.
fn dev_policy() -> AttestationPolicy {
    crate::genesis::RegistryGenesis::dev().policy
}

/// A dev-chain context at block 5, time NOW, with the dev policy and the simulated measurement
/// allowed.
pub(crate) fn ext() -> Ext<'static> {
    let mut ext = Ext::with_genesis(Overlay::new(&EmptyState), genesis());
    governance::KEY.put(&mut ext.state, &operator().public());
    set_block(&mut ext, 5);
    system::TIMESTAMP.put(&mut ext.state, &NOW);
    INSECURE_ALLOWED.put(&mut ext.state, &true);
    POLICY.put(&mut ext.state, &dev_policy());
    MEASUREMENTS.insert(&mut ext.state, &simulated_enclave_measurement(), &0);
    let _ = UNITS;
    ext
}

fn platform(measurement: Measurement) -> SimulatedPlatform {
    SimulatedPlatform::new([7u8; 32], &dev_vendor_root(), measurement, simulated_enclave_signer())
}

struct Reg {
    identity: Pair,
    ecdh: EcdhSecret,
    call: Call,
}

/// A benchmark of `work` units from block `start` to block `end` of the test chain.
fn bench(work: u64, start: BlockNumber, end: BlockNumber) -> BenchmarkReport {
    BenchmarkReport {
        work,
        start_number: start,
        start_hash: block_hash(start),
        end_number: end,
        end_hash: block_hash(end),
    }
}

/// What an honest enclave with `identity` produces for `op`: a quote over the report data
/// binding its keys, `op` and `benchmark`, and its signature over `op` and `benchmark`.
fn registration_for(
    identity: &Pair,
    platform: &SimulatedPlatform,
    quote_time: u64,
    genesis: H256,
    op: AccountId,
    benchmark: BenchmarkReport,
) -> Reg {
    let ecdh = EcdhSecret::from_bytes([3u8; 32]);
    let rd = expected_report_data(&identity.public(), &ecdh.public(), &genesis, &op, &benchmark);
    let attestation = platform.quote(&rd, quote_time).unwrap();
    let benchmark_signature =
        identity.sign(&benchmark.signing_payload(&genesis, &identity.public(), &op));
    let call = Call::RegisterWorker {
        identity: identity.public(),
        ecdh: ecdh.public(),
        attestation,
        operator: op,
        benchmark,
        benchmark_signature,
    };
    Reg { identity: identity.clone(), ecdh, call }
}

/// An honest registration operated by `//Alice`, benchmarked over blocks 1..4 (20,000 work
/// units over the 4 blocks to block 5: score 50).
fn registration(
    identity: &Pair,
    platform: &SimulatedPlatform,
    quote_time: u64,
    genesis: H256,
) -> Reg {
    registration_for(
        identity,
        platform,
        quote_time,
        genesis,
        operator().public(),
        bench(20_000, 1, 4),
    )
}

fn submit(ext: &mut Ext<'_>, call: Call) -> Result<(), String> {
    ext.transactional(|ext| dispatch(ext, operator().public(), call)).map_err(|e| e.variant())
}

/// Registers `identity` as a worker in `ext` (used by other modules' tests). The benchmark
/// spans the block before the current one, with the hashes the current block's history holds
/// (set here if missing).
pub(crate) fn registered_worker(ext: &mut Ext<'_>, identity: &Pair) {
    let genesis = ext.genesis_hash();
    system::TIMESTAMP.put(&mut ext.state, &NOW);
    INSECURE_ALLOWED.put(&mut ext.state, &true);
    POLICY.put(&mut ext.state, &dev_policy());
    MEASUREMENTS.insert(&mut ext.state, &simulated_enclave_measurement(), &0);
    let now = system::NUMBER.get_or_default(&ext.state);
    let end = now.saturating_sub(1);
    let end_hash = match system::BLOCK_HASHES.get(&ext.state, &end) {
        Some(h) => h,
        None => {
            system::BLOCK_HASHES.insert(&mut ext.state, &end, &block_hash(end));
            block_hash(end)
        }
    };
    // 50,000 units over one block: score 500.
    let benchmark = BenchmarkReport {
        work: 50_000,
        start_number: end,
        start_hash: end_hash,
        end_number: end,
        end_hash,
    };
    let reg = registration_for(
        identity,
        &platform(simulated_enclave_measurement()),
        NOW,
        genesis,
        operator().public(),
        benchmark,
    );
    submit(ext, reg.call).unwrap();
}

#[test]
fn register_worker_basics_emits_events_correctly() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    let reg = registration(&id, &platform(simulated_enclave_measurement()), NOW - 1000, genesis());
    submit(&mut ext, reg.call).unwrap();
    let w = worker(&ext.state, &id.public()).unwrap();
    assert_eq!(w.ecdh, reg.ecdh.public().0);
    assert_eq!(w.operator, operator().public());
    assert_eq!(w.platform, AttestationType::Simulated);
    assert!(w.insecure, "simulated workers are marked insecure on chain");
    assert_eq!(w.benchmark_score, 50);
    assert_eq!(w.registered_at, 5);
    assert_eq!(WORKER_COUNT.get(&ext.state), Some(1));
    let evs: Vec<_> = ext.events().iter().map(|r| r.event.clone()).collect();
    assert!(evs.iter().any(|e| matches!(
        e,
        crate::Event::Registry(Event::WorkerRegistered { insecure: true, .. })
    )));
    assert!(evs
        .iter()
        .any(|e| matches!(e, crate::Event::Mq(mq::Event::OutboundMessage { topic, payload, .. })
        if topic == topics::WORKER_REGISTERED && payload == &id.public().encode())));
    let _ = reg.identity;
}

#[test]
fn each_forged_attestation_is_refused_and_changes_nothing() {
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    let cases: Vec<(&str, Call)> = vec![
        (
            "UnknownVendorRoot",
            registration(
                &id,
                &SimulatedPlatform::new(
                    [7u8; 32],
                    &Pair::from_suri("//EvilVendor").unwrap(),
                    simulated_enclave_measurement(),
                    simulated_enclave_signer(),
                ),
                NOW,
                genesis(),
            )
            .call,
        ),
        ("MeasurementNotAllowed", registration(&id, &platform([9u8; 32]), NOW, genesis()).call),
        ("ReportDataMismatch", registration(&id, &good, NOW, H256::hash(b"another chain")).call),
        ("StaleAttestation", registration(&id, &good, NOW - 600_001, genesis()).call),
        ("AttestationFromFuture", registration(&id, &good, NOW + 3_600_000, genesis()).call),
        ("NotOperator", {
            let mut c = registration(&id, &good, NOW, genesis()).call;
            if let Call::RegisterWorker { operator, .. } = &mut c {
                *operator = Pair::from_suri("//Bob").unwrap().public();
            }
            c
        }),
        ("ReportDataMismatch", {
            let mut c = registration(&id, &good, NOW, genesis()).call;
            if let Call::RegisterWorker { benchmark, .. } = &mut c {
                benchmark.work = benchmark.work.saturating_mul(10);
            }
            c
        }),
        ("UnknownAnchorBlock", {
            let mut b = bench(20_000, 1, 4);
            b.end_hash = H256::hash(b"a block of another chain");
            registration_for(&id, &good, NOW, genesis(), operator().public(), b).call
        }),
        ("UnknownAnchorBlock", {
            // A block that does not exist yet.
            registration_for(&id, &good, NOW, genesis(), operator().public(), bench(1, 1, 5)).call
        }),
        ("BadBenchmarkSpan", {
            registration_for(&id, &good, NOW, genesis(), operator().public(), bench(1, 4, 3)).call
        }),
        ("BadBenchmarkSpan", {
            let mut b = bench(20_000, 1, 4);
            b.start_hash = H256::hash(b"x");
            registration_for(&id, &good, NOW, genesis(), operator().public(), b).call
        }),
        ("ReportDataMismatch", {
            // Someone else's keys with this quote.
            let mut c = registration(&id, &good, NOW, genesis()).call;
            if let Call::RegisterWorker { ecdh, .. } = &mut c {
                *ecdh = EcdhSecret::from_bytes([4u8; 32]).public();
            }
            c
        }),
    ];
    for (expected, call) in cases {
        let mut ext = ext();
        let before = ext.state.change_count();
        assert_eq!(submit(&mut ext, call).unwrap_err(), expected);
        assert_eq!(ext.state.change_count(), before, "{expected} changed state");
        assert!(worker(&ext.state, &id.public()).is_none());
    }
}

#[test]
fn replayed_attestation_is_refused() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    let reg = registration(&id, &platform(simulated_enclave_measurement()), NOW, genesis());
    submit(&mut ext, reg.call.clone()).unwrap();
    assert_eq!(submit(&mut ext, reg.call).unwrap_err(), "AttestationReused");
}

#[test]
fn simulated_platform_refused_when_policy_disallows_it() {
    let mut ext = ext();
    let mut p = policy(&ext.state);
    p.allow_simulated = false;
    submit(&mut ext, Call::SetAttestationPolicy { policy: p }).unwrap();
    let id = Pair::from_suri("//W1").unwrap();
    let reg = registration(&id, &platform(simulated_enclave_measurement()), NOW, genesis());
    assert_eq!(submit(&mut ext, reg.call).unwrap_err(), "AttestationTypeNotAllowed");
}

#[test]
fn re_registration_after_upgrade_keeps_identity() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    submit(
        &mut ext,
        registration(&id, &platform(simulated_enclave_measurement()), NOW, genesis()).call,
    )
    .unwrap();
    // Governance allows the new build; the upgraded enclave re-registers with the same identity.
    let upgraded = [42u8; 32];
    submit(&mut ext, Call::AddMeasurement { measurement: upgraded }).unwrap();
    system::NUMBER.put(&mut ext.state, &9);
    submit(&mut ext, registration(&id, &platform(upgraded), NOW + 1, genesis()).call).unwrap();
    let w = worker(&ext.state, &id.public()).unwrap();
    assert_eq!(w.measurement, upgraded);
    assert_eq!((w.registered_at, w.updated_at), (5, 9));
    assert_eq!(WORKER_COUNT.get(&ext.state), Some(1));
    assert!(ext
        .events()
        .iter()
        .any(|r| matches!(r.event, crate::Event::Registry(Event::WorkerUpdated { .. }))));
}

#[test]
fn only_council_changes_the_allow_list() {
    let mut ext = ext();
    let bob = Pair::from_suri("//Bob").unwrap().public();
    let err = ext
        .transactional(|ext| dispatch(ext, bob, Call::AddMeasurement { measurement: [1; 32] }))
        .unwrap_err();
    assert_eq!(err.variant(), "RequireCouncil");
    assert!(!is_allowed(&ext.state, &[1; 32]));
    submit(&mut ext, Call::RemoveMeasurement { measurement: simulated_enclave_measurement() })
        .unwrap();
    assert!(!is_allowed(&ext.state, &simulated_enclave_measurement()));
    assert_eq!(
        submit(&mut ext, Call::RemoveMeasurement { measurement: [1; 32] }).unwrap_err(),
        "UnknownMeasurement"
    );
}

fn submit_as(ext: &mut Ext<'_>, origin: &Pair, call: Call) -> Result<(), String> {
    ext.transactional(|ext| dispatch(ext, origin.public(), call)).map_err(|e| e.variant())
}

#[test]
fn copied_registration_under_another_operator_is_refused() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    let honest = registration(&id, &good, NOW, genesis()).call;
    let mallory = Pair::from_suri("//Mallory").unwrap();
    // Mallory copies the pending registration and names herself.
    let mut copied = honest.clone();
    if let Call::RegisterWorker { operator, .. } = &mut copied {
        *operator = mallory.public();
    }
    let before = ext.state.change_count();
    assert_eq!(submit_as(&mut ext, &mallory, copied).unwrap_err(), "ReportDataMismatch");
    // She can even re-quote on the public dev vendor root over report data naming her, but
    // the identity's signature does not cover her.
    let mut requoted = honest.clone();
    if let Call::RegisterWorker { identity, ecdh, attestation, operator, benchmark, .. } =
        &mut requoted
    {
        *operator = mallory.public();
        let rd = expected_report_data(identity, ecdh, &genesis(), operator, benchmark);
        *attestation = SimulatedPlatform::new(
            [66u8; 32],
            &dev_vendor_root(),
            simulated_enclave_measurement(),
            simulated_enclave_signer(),
        )
        .quote(&rd, NOW)
        .unwrap();
    }
    assert_eq!(submit_as(&mut ext, &mallory, requoted).unwrap_err(), "BadBenchmarkSignature");
    assert_eq!(ext.state.change_count(), before);
    assert!(worker(&ext.state, &id.public()).is_none());
    // The honest one still goes through.
    submit(&mut ext, honest).unwrap();
    assert_eq!(worker(&ext.state, &id.public()).unwrap().operator, operator().public());
}

#[test]
fn re_registration_by_a_non_identity_cannot_change_the_operator() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    let first = registration(&id, &good, NOW, genesis()).call;
    submit(&mut ext, first.clone()).unwrap();
    set_block(&mut ext, 7);
    let mallory = Pair::from_suri("//Mallory").unwrap();
    // Mallory builds a fresh, valid quote for the worker's keys naming herself, and signs the
    // benchmark with her own key (she does not hold the identity key).
    let Call::RegisterWorker { identity, ecdh, .. } = first else { unreachable!() };
    let b = bench(10_000, 5, 6);
    let rd = expected_report_data(&identity, &ecdh, &genesis(), &mallory.public(), &b);
    let attestation = good.quote(&rd, NOW + 5).unwrap();
    let benchmark_signature =
        mallory.sign(&b.signing_payload(&genesis(), &identity, &mallory.public()));
    let hijack = Call::RegisterWorker {
        identity,
        ecdh,
        attestation,
        operator: mallory.public(),
        benchmark: b.clone(),
        benchmark_signature,
    };
    assert_eq!(submit_as(&mut ext, &mallory, hijack).unwrap_err(), "BadBenchmarkSignature");
    assert_eq!(worker(&ext.state, &id.public()).unwrap().operator, operator().public());
    // The identity itself may move to another operator: its signature covers the new one.
    let bob = Pair::from_suri("//Bob").unwrap();
    let moved = registration_for(&id, &good, NOW + 6, genesis(), bob.public(), b);
    submit_as(&mut ext, &bob, moved.call).unwrap();
    assert_eq!(worker(&ext.state, &id.public()).unwrap().operator, bob.public());
}

#[test]
fn quote_binding_a_block_older_than_the_policy_is_refused() {
    let mut ext = ext();
    set_block(&mut ext, 100);
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    let max_age = policy(&ext.state).max_anchor_age_blocks;
    assert_eq!(max_age, 20);
    let stale = registration_for(&id, &good, NOW, genesis(), operator().public(), bench(1, 70, 79));
    assert_eq!(submit(&mut ext, stale.call).unwrap_err(), "StaleAnchor");
    // Older than the chain's block-hash history: unknown.
    let mut ext = self::ext();
    set_block(&mut ext, 400);
    let ancient =
        registration_for(&id, &good, NOW, genesis(), operator().public(), bench(1, 10, 20));
    assert_eq!(submit(&mut ext, ancient.call).unwrap_err(), "UnknownAnchorBlock");
    let mut ext = self::ext();
    set_block(&mut ext, 100);
    let fresh = registration_for(&id, &good, NOW, genesis(), operator().public(), bench(1, 70, 80));
    submit(&mut ext, fresh.call).unwrap();
}

#[test]
fn forged_benchmark_above_the_cap_is_clamped() {
    let mut ext = ext();
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    // A host claiming absurd work (as a 100x fast clock would have produced under the old
    // time-based score) gets the cap and no more.
    let forged =
        registration_for(&id, &good, NOW, genesis(), operator().public(), bench(u64::MAX, 4, 4));
    submit(&mut ext, forged.call).unwrap();
    let cap = policy(&ext.state).max_benchmark_score;
    assert_eq!(worker(&ext.state, &id.public()).unwrap().benchmark_score, cap);
    assert_eq!(cap, 10_000);
}

#[test]
fn score_counts_chain_blocks_up_to_the_registering_block() {
    // 20,000 units after block 1: at block 5 that is 5,000 a block (score 50); a host that
    // withholds blocks from the enclave to stretch its time and registers at block 21 gets
    // 1,000 a block (score 10).
    let b = bench(20_000, 1, 4);
    assert_eq!(b.score_at(5, 10_000), 50);
    assert_eq!(b.score_at(21, 10_000), 10);
    assert_eq!(b.score_at(5, 7), 7);
    assert_eq!(b.score_at(0, 10_000), 200, "a span of zero blocks counts as one");
    let mut ext = ext();
    set_block(&mut ext, 21);
    let id = Pair::from_suri("//W1").unwrap();
    let good = platform(simulated_enclave_measurement());
    let reg =
        registration_for(&id, &good, NOW, genesis(), operator().public(), bench(20_000, 1, 4));
    submit(&mut ext, reg.call).unwrap();
    assert_eq!(worker(&ext.state, &id.public()).unwrap().benchmark_score, 10);
}

const SGX_QUOTE: &[u8] = include_bytes!("../../../../../tee/testdata/sgx_quote.bin");
const SGX_COLLATERAL_JSON: &[u8] =
    include_bytes!("../../../../../tee/testdata/sgx_quote_collateral.json");
/// 2025-07-01T00:00:00Z, inside the sample collateral's validity window.
const DCAP_NOW: u64 = 1_751_328_000_000;
const SAMPLE_MRENCLAVE: [u8; 32] = [
    0x33, 0xd8, 0x73, 0x6d, 0xb7, 0x56, 0xed, 0x49, 0x97, 0xe0, 0x4b, 0xa3, 0x58, 0xd2, 0x78, 0x33,
    0x18, 0x8f, 0x19, 0x32, 0xff, 0x7b, 0x1d, 0x15, 0x69, 0x04, 0xd3, 0xf5, 0x60, 0x45, 0x2f, 0xbb,
];

fn sample_allowance() -> TcbAllowance {
    TcbAllowance {
        status: "ConfigurationAndSWHardeningNeeded".into(),
        advisory_ids: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
    }
}

/// A production-like context at DCAP_NOW with the sample's MRENCLAVE allowed.
fn dcap_ext() -> Ext<'static> {
    let mut ext = ext();
    INSECURE_ALLOWED.put(&mut ext.state, &false);
    POLICY.put(&mut ext.state, &crate::genesis::RegistryGenesis::secure_policy());
    system::TIMESTAMP.put(&mut ext.state, &DCAP_NOW);
    MEASUREMENTS.insert(&mut ext.state, &SAMPLE_MRENCLAVE, &0);
    ext
}

fn dcap_call(attestation: Attestation) -> Call {
    let id = Pair::from_suri("//W1").unwrap();
    let b = bench(1, 1, 4);
    Call::RegisterWorker {
        identity: id.public(),
        ecdh: EcdhSecret::from_bytes([3u8; 32]).public(),
        attestation,
        operator: operator().public(),
        benchmark_signature: id.sign(&b.signing_payload(
            &genesis(),
            &id.public(),
            &operator().public(),
        )),
        benchmark: b,
    }
}

#[test]
fn dcap_tcb_status_must_be_listed_by_governance() {
    let collateral = umbra_tee::collateral_from_json(SGX_COLLATERAL_JSON).unwrap();
    let att = Attestation::SgxDcap { quote: SGX_QUOTE.to_vec(), collateral };
    // Default policy: UpToDate only.
    let mut ext = dcap_ext();
    assert_eq!(submit(&mut ext, dcap_call(att.clone())).unwrap_err(), "TcbNotAccepted");
    // Listed with its advisories: the quote passes every platform check and reaches the report
    // data check (the sample's report data is "Hello, world!", not a registration's).
    let mut p = policy(&ext.state);
    p.accepted_tcb = vec![sample_allowance()];
    submit(&mut ext, Call::SetAttestationPolicy { policy: p.clone() }).unwrap();
    assert_eq!(submit(&mut ext, dcap_call(att.clone())).unwrap_err(), "ReportDataMismatch");
    // Collateral older than governance's maximum.
    p.max_collateral_age_ms = 3_600_000;
    submit(&mut ext, Call::SetAttestationPolicy { policy: p }).unwrap();
    assert_eq!(submit(&mut ext, dcap_call(att)).unwrap_err(), "CollateralTooOld");
}

#[test]
fn same_dcap_quote_with_other_collateral_is_refused() {
    let mut ext = dcap_ext();
    let first = Attestation::SgxDcap {
        quote: SGX_QUOTE.to_vec(),
        collateral: umbra_tee::collateral_from_json(SGX_COLLATERAL_JSON).unwrap(),
    };
    // Other collateral that still verifies: the PCK CRL issuer chain with a trailing newline.
    let mut other = umbra_tee::QuoteCollateralV3::decode(
        &mut &umbra_tee::collateral_from_json(SGX_COLLATERAL_JSON).unwrap()[..],
    )
    .unwrap();
    other.pck_crl_issuer_chain.push('\n');
    let second = Attestation::sgx_dcap(SGX_QUOTE.to_vec(), &other);
    assert_ne!(first, second);
    // The chain remembers a used quote by its reuse key (as `register` stores it).
    USED_QUOTES.insert(&mut ext.state, &H256(first.reuse_key()), &3);
    let before = ext.state.change_count();
    assert_eq!(submit(&mut ext, dcap_call(second.clone())).unwrap_err(), "AttestationReused");
    assert_eq!(ext.state.change_count(), before);
    // The old key (hash of quote and collateral) would not have caught it.
    assert_ne!(H256::hash_of(&first), H256::hash_of(&second));
}

#[test]
fn simulated_cannot_be_enabled_on_a_production_like_chain() {
    let mut ext = dcap_ext();
    let mut p = policy(&ext.state);
    p.allow_simulated = true;
    p.simulated_roots = vec![Authority(dev_vendor_root().public())];
    let before = ext.state.change_count();
    assert_eq!(
        submit(&mut ext, Call::SetAttestationPolicy { policy: p.clone() }).unwrap_err(),
        "InsecurePlatformForbidden"
    );
    assert_eq!(ext.state.change_count(), before);
    assert!(!accepts_insecure(&ext.state));
    // Even a stored policy allowing it (which no call can make) lets no simulated worker in.
    POLICY.put(&mut ext.state, &p);
    system::TIMESTAMP.put(&mut ext.state, &NOW);
    let id = Pair::from_suri("//W1").unwrap();
    let reg = registration(&id, &platform(simulated_enclave_measurement()), NOW, genesis());
    assert_eq!(submit(&mut ext, reg.call).unwrap_err(), "AttestationTypeNotAllowed");
    // On the dev chain it is allowed, and workers are flagged.
    let mut dev = self::ext();
    submit(&mut dev, Call::SetAttestationPolicy { policy: p }).unwrap();
    assert!(accepts_insecure(&dev.state));
    registered_worker(&mut dev, &id);
    assert!(is_insecure_worker(&dev.state, &id.public()));
    assert!(!is_insecure_worker(&dev.state, &Pair::from_suri("//W2").unwrap().public()));
}

#[test]
fn policy_parameters_are_bounded() {
    let ok = dev_policy();
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(crate::genesis::RegistryGenesis::local().policy.validate(), Ok(()));
    type Breaker = fn(&mut AttestationPolicy);
    let cases: Vec<(Breaker, &str)> = vec![
        (|p| p.max_anchor_age_blocks = 0, "maxAnchorAgeBlocks"),
        (
            |p| p.max_anchor_age_blocks = system::BLOCK_HASH_COUNT.saturating_add(1),
            "maxAnchorAgeBlocks",
        ),
        (|p| p.max_benchmark_score = 0, "maxBenchmarkScore"),
        (|p| p.max_benchmark_score = MAX_SCORE + 1, "maxBenchmarkScore"),
        (|p| p.max_quote_age_ms = 10, "maxQuoteAgeMs"),
        (|p| p.max_quote_age_ms = MAX_QUOTE_AGE_LIMIT_MS + 1, "maxQuoteAgeMs"),
        (|p| p.max_collateral_age_ms = 1000, "maxCollateralAgeMs"),
        (|p| p.max_collateral_age_ms = MAX_COLLATERAL_AGE_LIMIT_MS + 1, "maxCollateralAgeMs"),
        (|p| p.simulated_roots.clear(), "simulatedRoots"),
        (|p| p.simulated_roots.push(p.simulated_roots[0].clone()), "simulatedRoots"),
        (
            |p| {
                p.accepted_tcb =
                    vec![TcbAllowance { status: "OutOfDate".into(), advisory_ids: vec![] }]
            },
            "acceptedTcb",
        ),
        (
            |p| {
                p.accepted_tcb =
                    vec![TcbAllowance { status: "Revoked".into(), advisory_ids: vec![] }]
            },
            "acceptedTcb",
        ),
        (|p| p.accepted_tcb = vec![sample_allowance(), sample_allowance()], "acceptedTcb"),
        (
            |p| {
                p.accepted_tcb = vec![TcbAllowance {
                    status: "SWHardeningNeeded".into(),
                    advisory_ids: vec![String::new()],
                }]
            },
            "acceptedTcb",
        ),
    ];
    for (break_it, field) in cases {
        let mut p = ok.clone();
        break_it(&mut p);
        let err = p.validate().unwrap_err();
        assert!(err.to_string().contains(field), "{err} should name {field}");
        let mut ext = ext();
        let before = ext.state.change_count();
        assert_eq!(
            submit(&mut ext, Call::SetAttestationPolicy { policy: p }).unwrap_err(),
            "InvalidPolicy"
        );
        assert_eq!(ext.state.change_count(), before);
    }
    // Simulated disallowed: the quote age may be zero and no root is needed.
    let mut p = ok;
    p.allow_simulated = false;
    p.simulated_roots.clear();
    p.max_quote_age_ms = 0;
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn tdx_quote_is_held_to_the_measurement_allow_list() {
    let quote = include_bytes!("../../../../../tee/testdata/tdx_quote.bin").to_vec();
    let collateral = umbra_tee::collateral_from_json(include_bytes!(
        "../../../../../tee/testdata/tdx_quote_collateral.json"
    ))
    .unwrap();
    let att = Attestation::TdxDcap { quote, collateral };
    let mut ext = dcap_ext();
    // Inside the TDX sample collateral's window; the sample is UpToDate.
    system::TIMESTAMP.put(&mut ext.state, &DCAP_NOW);
    assert_eq!(submit(&mut ext, dcap_call(att.clone())).unwrap_err(), "MeasurementNotAllowed");
    let mut vp = umbra_tee::VerifyPolicy::development(DCAP_NOW);
    vp.allow_simulated = false;
    let measurement = umbra_tee::verify(&att, &vp).unwrap().measurement;
    submit(&mut ext, Call::AddMeasurement { measurement }).unwrap();
    assert_eq!(submit(&mut ext, dcap_call(att.clone())).unwrap_err(), "ReportDataMismatch");
    let mut p = policy(&ext.state);
    p.allow_tdx = false;
    submit(&mut ext, Call::SetAttestationPolicy { policy: p }).unwrap();
    assert_eq!(submit(&mut ext, dcap_call(att)).unwrap_err(), "AttestationTypeNotAllowed");
}
