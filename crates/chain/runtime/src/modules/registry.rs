//! `registry`: workers join by remote attestation.
//!
//! `register_worker` checks, in order: the quote against the allowed attestation types and
//! vendor roots and its freshness (at the block's timestamp); the enclave measurement against an
//! allow-list that only governance changes; that the report data is
//! `blake2_256(identity ‖ ecdh ‖ genesis_hash)`, so the quote vouches for exactly these keys on
//! exactly this chain; that the quote was never used before; and the benchmark report's
//! signature by the attested identity. It then records the worker and tells enclaves through the
//! mq (topic [`topics::WORKER_REGISTERED`]). Registering again (for example after a runtime
//! upgrade with a new measurement) keeps the worker's identity and its first registration block.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::{blake2_256, EcdhPublic, Public, Signature};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, MessageOrigin},
    serde_helpers::{account_ss58, bytes_hex},
    AccountId, BlockNumber, H256,
};
use umbra_tee::{Attestation, AttestationError, AttestationType, Measurement, VerifyPolicy};

use crate::{
    ext::{DispatchError, Ext},
    modules::{governance, mq, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "registry";
/// Highest benchmark score recorded.
pub const MAX_SCORE: u64 = 100_000;

/// Which attestations the chain accepts. Part of genesis; governance may change it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationPolicy {
    /// Accept the simulated (insecure) platform.
    pub allow_simulated: bool,
    /// Vendor roots trusted to certify simulated platforms.
    pub simulated_roots: Vec<crate::genesis::Authority>,
    /// Accept SGX DCAP quotes.
    pub allow_dcap: bool,
    /// Largest age of a quote at registration, in ms.
    pub max_quote_age_ms: u64,
}

impl Default for AttestationPolicy {
    /// Refuses everything until genesis or governance says otherwise.
    fn default() -> Self {
        AttestationPolicy {
            allow_simulated: false,
            simulated_roots: Vec::new(),
            allow_dcap: false,
            max_quote_age_ms: 0,
        }
    }
}

/// A benchmark run inside the enclave at start, signed by its identity key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct BenchmarkReport {
    /// Work units done.
    pub iterations: u64,
    /// Time they took, in ms.
    pub elapsed_ms: u64,
}

impl BenchmarkReport {
    /// What the identity key signs.
    pub fn signing_payload(&self, genesis: &H256, identity: &Public) -> Vec<u8> {
        (b"umbra/benchmark/v1", genesis, identity, self).encode()
    }

    /// Hundreds of work units (1 KiB blake2 hashes) per second, capped at [`MAX_SCORE`].
    pub fn score(&self) -> u64 {
        (self.iterations.saturating_mul(10) / self.elapsed_ms.max(1)).min(MAX_SCORE)
    }
}

/// A registered worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInfo {
    /// Identity key (sr25519): signs egress and query replies.
    #[serde(with = "account_ss58")]
    pub identity: Public,
    /// ECDH key (x25519): clients and gatekeepers encrypt to it.
    #[serde(with = "bytes_hex")]
    pub ecdh: [u8; 32],
    /// Account allowed to operate it (bind it to pools).
    #[serde(with = "account_ss58")]
    pub operator: AccountId,
    /// Enclave measurement at its latest registration.
    #[serde(with = "bytes_hex")]
    pub measurement: Measurement,
    /// Attestation platform.
    pub platform: AttestationType,
    /// Whether the platform is insecure (simulated).
    pub insecure: bool,
    /// Stable platform identity.
    #[serde(with = "bytes_hex")]
    pub platform_id: [u8; 32],
    /// TCB status the quote reported.
    pub tcb_status: String,
    /// Benchmark score (work units per second).
    pub benchmark_score: u64,
    /// Block of first registration.
    pub registered_at: BlockNumber,
    /// Block of latest registration.
    pub updated_at: BlockNumber,
}

impl WorkerInfo {
    /// The ECDH key.
    pub fn ecdh_public(&self) -> EcdhPublic {
        EcdhPublic(self.ecdh)
    }
}

// ---- storage ----

/// Registered workers by identity.
pub const WORKERS: StorageMap<Public, WorkerInfo> = StorageMap::new(b"registry/worker/");
/// Enclave measurements allowed to register (value: block added).
pub const MEASUREMENTS: StorageMap<Measurement, BlockNumber> =
    StorageMap::new(b"registry/measurement/");
/// Attestation policy.
pub const POLICY: StorageValue<AttestationPolicy> = StorageValue::new(b"registry/policy");
/// Hashes of attestations already used (value: block used).
pub const USED_QUOTES: StorageMap<H256, BlockNumber> = StorageMap::new(b"registry/used_quote/");
/// Number of registered workers.
pub const WORKER_COUNT: StorageValue<u64> = StorageValue::new(b"registry/worker_count");

// ---- calls ----

/// Calls of the registry module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers (or re-registers) a worker. Origin: the operator.
    #[codec(index = 0)]
    RegisterWorker {
        /// The enclave's identity key.
        identity: Public,
        /// The enclave's ECDH key.
        ecdh: EcdhPublic,
        /// The platform's quote over `blake2_256(identity ‖ ecdh ‖ genesis_hash)`.
        attestation: Attestation,
        /// The operator account (must be the signer).
        operator: AccountId,
        /// The enclave's start-up benchmark.
        benchmark: BenchmarkReport,
        /// The identity key's signature over the benchmark.
        benchmark_signature: Signature,
    },
    /// Allows a measurement. Origin: the council key.
    #[codec(index = 1)]
    AddMeasurement {
        /// The measurement.
        measurement: Measurement,
    },
    /// Disallows a measurement for new registrations. Origin: the council key.
    #[codec(index = 2)]
    RemoveMeasurement {
        /// The measurement.
        measurement: Measurement,
    },
    /// Replaces the attestation policy. Origin: the council key.
    #[codec(index = 3)]
    SetAttestationPolicy {
        /// The new policy.
        policy: AttestationPolicy,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2, 3];

// ---- events ----

/// Events of the registry module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A worker registered for the first time.
    WorkerRegistered {
        /// Its identity.
        #[serde(with = "account_ss58")]
        identity: Public,
        /// Its operator.
        #[serde(with = "account_ss58")]
        operator: AccountId,
        /// Its measurement.
        #[serde(with = "bytes_hex")]
        measurement: Measurement,
        /// Its platform.
        platform: AttestationType,
        /// Whether the platform is insecure.
        insecure: bool,
        /// Its benchmark score.
        score: u64,
    },
    /// A registered worker registered again (e.g. after an upgrade), keeping its identity.
    WorkerUpdated {
        /// Its identity.
        #[serde(with = "account_ss58")]
        identity: Public,
        /// Its new measurement.
        #[serde(with = "bytes_hex")]
        measurement: Measurement,
    },
    /// A measurement was allowed.
    MeasurementAdded {
        /// The measurement.
        #[serde(with = "bytes_hex")]
        measurement: Measurement,
    },
    /// A measurement was disallowed.
    MeasurementRemoved {
        /// The measurement.
        #[serde(with = "bytes_hex")]
        measurement: Measurement,
    },
    /// The attestation policy changed.
    AttestationPolicyChanged {
        /// The new policy.
        policy: AttestationPolicy,
    },
}

// ---- errors ----

/// Errors of the registry module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The signer is not the operator named in the call.
    #[error("the signer must be the operator")]
    NotOperator,
    /// This attestation type is not allowed.
    #[error("attestation type not allowed")]
    AttestationTypeNotAllowed,
    /// The simulated platform's certificate is from an unknown vendor root.
    #[error("unknown vendor root")]
    UnknownVendorRoot,
    /// The platform certificate does not verify.
    #[error("bad platform certificate")]
    BadPlatformCertificate,
    /// The quote signature does not verify.
    #[error("bad quote signature")]
    BadQuoteSignature,
    /// The quote is too old.
    #[error("stale attestation")]
    StaleAttestation,
    /// The quote is dated in the future.
    #[error("attestation from the future")]
    AttestationFromFuture,
    /// SGX DCAP verification failed.
    #[error("DCAP quote verification failed")]
    DcapVerificationFailed,
    /// The attestation is malformed.
    #[error("malformed attestation")]
    MalformedAttestation,
    /// The enclave measurement is not on the allow-list.
    #[error("measurement not allowed")]
    MeasurementNotAllowed,
    /// The report data does not bind these keys to this chain.
    #[error("report data does not match identity, ECDH key and genesis")]
    ReportDataMismatch,
    /// This attestation was used before.
    #[error("attestation already used")]
    AttestationReused,
    /// The benchmark report is not signed by the identity.
    #[error("bad benchmark signature")]
    BadBenchmarkSignature,
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
    /// The measurement is not on the allow-list.
    #[error("unknown measurement")]
    UnknownMeasurement,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

impl From<&AttestationError> for Error {
    fn from(e: &AttestationError) -> Self {
        match e {
            AttestationError::TypeNotAllowed(_) => Error::AttestationTypeNotAllowed,
            AttestationError::UnknownRoot(_) => Error::UnknownVendorRoot,
            AttestationError::BadCertificate => Error::BadPlatformCertificate,
            AttestationError::BadQuoteSignature => Error::BadQuoteSignature,
            AttestationError::Stale { .. } => Error::StaleAttestation,
            AttestationError::FromFuture { .. } => Error::AttestationFromFuture,
            AttestationError::Dcap(_) | AttestationError::NotSgx(_) => {
                Error::DcapVerificationFailed
            }
            AttestationError::Malformed(_) => Error::MalformedAttestation,
        }
    }
}

// ---- logic ----

/// The report data a worker's quote must carry: `blake2_256(identity ‖ ecdh ‖ genesis)` in
/// the first 32 bytes, zeros after.
pub fn expected_report_data(identity: &Public, ecdh: &EcdhPublic, genesis: &H256) -> [u8; 64] {
    let mut pre = Vec::with_capacity(96);
    pre.extend_from_slice(identity.as_bytes());
    pre.extend_from_slice(&ecdh.0);
    pre.extend_from_slice(genesis.as_bytes());
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&blake2_256(&pre));
    out
}

/// The worker registered under `identity`.
pub fn worker(st: &Overlay<'_>, identity: &Public) -> Option<WorkerInfo> {
    WORKERS.get(st, identity)
}

/// The attestation policy.
pub fn policy(st: &Overlay<'_>) -> AttestationPolicy {
    POLICY.get_or_default(st)
}

/// Whether `m` is allowed.
pub fn is_allowed(st: &Overlay<'_>, m: &Measurement) -> bool {
    MEASUREMENTS.get(st, m).is_some()
}

#[allow(clippy::too_many_arguments)]
fn register(
    ext: &mut Ext<'_>,
    origin: AccountId,
    identity: Public,
    ecdh: EcdhPublic,
    attestation: Attestation,
    operator: AccountId,
    benchmark: BenchmarkReport,
    benchmark_signature: Signature,
) -> Result<(), Error> {
    if origin != operator {
        return Err(Error::NotOperator);
    }
    let st = &ext.state;
    let p = policy(st);
    let verify_policy = VerifyPolicy {
        allow_simulated: p.allow_simulated,
        simulated_roots: p.simulated_roots.iter().map(|a| a.0).collect(),
        allow_dcap: p.allow_dcap,
        now_ms: system::TIMESTAMP.get_or_default(st),
        max_age_ms: p.max_quote_age_ms,
    };
    let report = umbra_tee::verify(&attestation, &verify_policy).map_err(|e| Error::from(&e))?;
    if !is_allowed(st, &report.measurement) {
        return Err(Error::MeasurementNotAllowed);
    }
    let genesis = ext.genesis_hash();
    if report.report_data != expected_report_data(&identity, &ecdh, &genesis) {
        return Err(Error::ReportDataMismatch);
    }
    let quote_hash = H256::hash_of(&attestation);
    if USED_QUOTES.get(st, &quote_hash).is_some() {
        return Err(Error::AttestationReused);
    }
    if !identity.verify(&benchmark.signing_payload(&genesis, &identity), &benchmark_signature) {
        return Err(Error::BadBenchmarkSignature);
    }
    let now = system::NUMBER.get_or_default(st);
    let previous = worker(st, &identity);
    let info = WorkerInfo {
        identity,
        ecdh: ecdh.0,
        operator,
        measurement: report.measurement,
        platform: report.kind,
        insecure: report.insecure,
        platform_id: report.platform_id,
        tcb_status: report.tcb_status.clone(),
        benchmark_score: benchmark.score(),
        registered_at: previous.as_ref().map_or(now, |w| w.registered_at),
        updated_at: now,
    };
    USED_QUOTES.insert(&mut ext.state, &quote_hash, &now);
    WORKERS.insert(&mut ext.state, &identity, &info);
    if previous.is_none() {
        let count = WORKER_COUNT.get_or_default(&ext.state);
        WORKER_COUNT.put(&mut ext.state, &count.saturating_add(1));
        ext.deposit_event(Event::WorkerRegistered {
            identity,
            operator,
            measurement: info.measurement,
            platform: info.platform,
            insecure: info.insecure,
            score: info.benchmark_score,
        });
    } else {
        ext.deposit_event(Event::WorkerUpdated { identity, measurement: info.measurement });
    }
    mq::send(
        ext,
        MODULE,
        umbra_protocol::ToEnclave::WorkerRegistered(umbra_protocol::WorkerRegistered { identity }),
    );
    Ok(())
}

fn ensure_council(st: &Overlay<'_>, origin: &AccountId) -> Result<(), Error> {
    governance::is_council(st, origin).then_some(()).ok_or(Error::RequireCouncil)
}

/// Dispatches a registry call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::RegisterWorker {
            identity,
            ecdh,
            attestation,
            operator,
            benchmark,
            benchmark_signature,
        } => register(
            ext,
            origin,
            identity,
            ecdh,
            attestation,
            operator,
            benchmark,
            benchmark_signature,
        )?,
        Call::AddMeasurement { measurement } => {
            ensure_council(&ext.state, &origin)?;
            let now = system::NUMBER.get_or_default(&ext.state);
            MEASUREMENTS.insert(&mut ext.state, &measurement, &now);
            ext.deposit_event(Event::MeasurementAdded { measurement });
        }
        Call::RemoveMeasurement { measurement } => {
            ensure_council(&ext.state, &origin)?;
            if !is_allowed(&ext.state, &measurement) {
                return Err(Error::UnknownMeasurement.into());
            }
            MEASUREMENTS.remove(&mut ext.state, &measurement);
            ext.deposit_event(Event::MeasurementRemoved { measurement });
        }
        Call::SetAttestationPolicy { policy } => {
            ensure_council(&ext.state, &origin)?;
            POLICY.put(&mut ext.state, &policy);
            ext.deposit_event(Event::AttestationPolicyChanged { policy });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
