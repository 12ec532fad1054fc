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

/// A context at block 5, time NOW, with the dev policy and the simulated measurement allowed.
pub(crate) fn ext() -> Ext<'static> {
    let mut ext = Ext::with_genesis(Overlay::new(&EmptyState), genesis());
    governance::KEY.put(&mut ext.state, &operator().public());
    system::NUMBER.put(&mut ext.state, &5);
    system::TIMESTAMP.put(&mut ext.state, &NOW);
    POLICY.put(
        &mut ext.state,
        &AttestationPolicy {
            allow_simulated: true,
            simulated_roots: vec![Authority(dev_vendor_root().public())],
            allow_dcap: true,
            max_quote_age_ms: 600_000,
        },
    );
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

fn registration(
    identity: &Pair,
    platform: &SimulatedPlatform,
    quote_time: u64,
    genesis: H256,
) -> Reg {
    let ecdh = EcdhSecret::from_bytes([3u8; 32]);
    let rd = expected_report_data(&identity.public(), &ecdh.public(), &genesis);
    let attestation = platform.quote(&rd, quote_time).unwrap();
    let benchmark = BenchmarkReport { iterations: 5000, elapsed_ms: 100 };
    let benchmark_signature =
        identity.sign(&benchmark.signing_payload(&genesis, &identity.public()));
    let call = Call::RegisterWorker {
        identity: identity.public(),
        ecdh: ecdh.public(),
        attestation,
        operator: operator().public(),
        benchmark,
        benchmark_signature,
    };
    Reg { identity: identity.clone(), ecdh, call }
}

fn submit(ext: &mut Ext<'_>, call: Call) -> Result<(), String> {
    ext.transactional(|ext| dispatch(ext, operator().public(), call)).map_err(|e| e.variant())
}

/// Registers `identity` as a worker in `ext` (used by other modules' tests).
pub(crate) fn registered_worker(ext: &mut Ext<'_>, identity: &Pair) {
    let genesis = ext.genesis_hash();
    system::TIMESTAMP.put(&mut ext.state, &NOW);
    POLICY.put(
        &mut ext.state,
        &AttestationPolicy {
            allow_simulated: true,
            simulated_roots: vec![Authority(dev_vendor_root().public())],
            allow_dcap: false,
            max_quote_age_ms: 600_000,
        },
    );
    MEASUREMENTS.insert(&mut ext.state, &simulated_enclave_measurement(), &0);
    let reg = registration(identity, &platform(simulated_enclave_measurement()), NOW, genesis);
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
    assert_eq!(w.benchmark_score, 500);
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
        ("BadBenchmarkSignature", {
            let mut c = registration(&id, &good, NOW, genesis()).call;
            if let Call::RegisterWorker { benchmark, .. } = &mut c {
                benchmark.iterations *= 10;
            }
            c
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
