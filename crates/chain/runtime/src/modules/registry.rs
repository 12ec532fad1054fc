//! `registry`: workers join by remote attestation.
//!
//! `register_worker` checks, in order: that the signer is the operator named in the call; that
//! the quote was never used before (keyed on the quote alone, never its collateral); the quote
//! against the allowed attestation types, vendor roots, TCB policy and freshness (at the block's
//! timestamp); the enclave measurement against an allow-list that only governance changes; that
//! the report data is [`expected_report_data`] — a hash of identity, ECDH key, genesis, operator
//! and the benchmark (whose end block is a recent block hash) — so the quote vouches for exactly
//! these keys, this operator, on exactly this chain, made after that block; the identity key's
//! signature over operator and benchmark (so only the identity decides its operator); and that
//! both benchmark blocks are among the chain's last blocks, the end one at most
//! `max_anchor_age_blocks` old. The score is the benchmark's work per chain block, counted up to
//! the registering block, capped by `max_benchmark_score`. It then records the worker and tells
//! enclaves through the mq (topic [`topics::WORKER_REGISTERED`]). Registering again (for example
//! after a runtime upgrade with a new measurement) keeps the worker's identity and its first
//! registration block.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::{blake2_256, EcdhPublic, Public, Signature};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, MessageOrigin},
    serde_helpers::{account_ss58, bytes_hex},
    AccountId, BlockNumber, H256,
};
use umbra_tee::{
    Attestation, AttestationError, AttestationType, DcapPolicy, Measurement, TcbAllowance,
    VerifyPolicy, NEVER_ACCEPTED_TCB,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{governance, mq, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "registry";
/// Highest value governance may give `max_benchmark_score`.
pub const MAX_SCORE: u64 = 100_000;
/// Work units (1 KiB BLAKE2b hashes inside the enclave) per score point and chain block.
pub const WORK_UNITS_PER_POINT: u64 = 100;
/// Longest simulated quote age governance may allow: one day.
pub const MAX_QUOTE_AGE_LIMIT_MS: u64 = 24 * 3600 * 1000;
/// Longest DCAP collateral age governance may allow: 90 days.
pub const MAX_COLLATERAL_AGE_LIMIT_MS: u64 = 90 * 24 * 3600 * 1000;
/// Most vendor roots, TCB allowances, or advisories per allowance, a policy may list.
pub const MAX_POLICY_LIST: usize = 16;
/// Longest advisory id or TCB status name.
pub const MAX_POLICY_NAME: usize = 64;
/// TCB statuses other than `UpToDate` that governance may list.
pub const LISTABLE_TCB: [&str; 5] = [
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
];

/// Which attestations the chain accepts. Part of genesis; governance may change it (bounded by
/// [`AttestationPolicy::validate`]).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationPolicy {
    /// Accept the simulated (insecure) platform. Never on a chain whose genesis forbids
    /// insecure platforms.
    pub allow_simulated: bool,
    /// Vendor roots trusted to certify simulated platforms.
    pub simulated_roots: Vec<crate::genesis::Authority>,
    /// Accept SGX DCAP quotes.
    pub allow_dcap: bool,
    /// Accept TDX DCAP quotes.
    pub allow_tdx: bool,
    /// Largest age of a simulated quote at registration, in ms.
    pub max_quote_age_ms: u64,
    /// DCAP TCB statuses accepted besides `UpToDate`, each with the advisories accepted.
    pub accepted_tcb: Vec<TcbAllowance>,
    /// Largest age of DCAP collateral (since its TCB info / QE identity issue), in ms.
    pub max_collateral_age_ms: u64,
    /// How many blocks old the block hash bound into a registration may be (the quote's
    /// freshness; at most the chain's block-hash history).
    pub max_anchor_age_blocks: BlockNumber,
    /// Cap on the benchmark score (work units per chain block / 100).
    pub max_benchmark_score: u64,
}

impl Default for AttestationPolicy {
    /// Refuses everything until genesis or governance says otherwise.
    fn default() -> Self {
        AttestationPolicy {
            allow_simulated: false,
            simulated_roots: Vec::new(),
            allow_dcap: false,
            allow_tdx: false,
            max_quote_age_ms: 0,
            accepted_tcb: Vec::new(),
            max_collateral_age_ms: 0,
            max_anchor_age_blocks: 0,
            max_benchmark_score: 0,
        }
    }
}

/// Why an attestation policy is out of bounds.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PolicyError {
    /// `max_anchor_age_blocks` is outside `1..=BLOCK_HASH_COUNT`.
    #[error("maxAnchorAgeBlocks must be between 1 and {max}, got {got}")]
    AnchorAge {
        /// The value given.
        got: BlockNumber,
        /// The chain's block-hash history.
        max: BlockNumber,
    },
    /// `max_benchmark_score` is outside `1..=MAX_SCORE`.
    #[error("maxBenchmarkScore must be between 1 and {MAX_SCORE}, got {0}")]
    ScoreCap(u64),
    /// `max_quote_age_ms` is out of range.
    #[error("maxQuoteAgeMs must be between 1000 and {MAX_QUOTE_AGE_LIMIT_MS} when simulated quotes are allowed (and at most that otherwise), got {0}")]
    QuoteAge(u64),
    /// `max_collateral_age_ms` is out of range.
    #[error("maxCollateralAgeMs must be between 3600000 and {MAX_COLLATERAL_AGE_LIMIT_MS} when DCAP quotes are allowed (and at most that otherwise), got {0}")]
    CollateralAge(u64),
    /// Simulated quotes are allowed but no vendor root is trusted, or a list is too long or
    /// repeats an entry.
    #[error("simulatedRoots must list 1 to {MAX_POLICY_LIST} distinct roots when simulated quotes are allowed")]
    Roots,
    /// A TCB allowance names a status that cannot be listed or is malformed.
    #[error("acceptedTcb: status {0:?} cannot be accepted (allowed: SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, TDRelaunchAdvised, TDRelaunchAdvisedConfigurationNeeded; each once, with at most {MAX_POLICY_LIST} advisory ids of at most {MAX_POLICY_NAME} characters)")]
    Tcb(String),
    /// Too many TCB allowances.
    #[error("acceptedTcb lists more than {MAX_POLICY_LIST} statuses")]
    TcbList,
}

impl AttestationPolicy {
    /// Checks every parameter is within its bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let history = system::BLOCK_HASH_COUNT;
        if !(1..=history).contains(&self.max_anchor_age_blocks) {
            return Err(PolicyError::AnchorAge { got: self.max_anchor_age_blocks, max: history });
        }
        if !(1..=MAX_SCORE).contains(&self.max_benchmark_score) {
            return Err(PolicyError::ScoreCap(self.max_benchmark_score));
        }
        let min_quote_age = if self.allow_simulated { 1000 } else { 0 };
        if !(min_quote_age..=MAX_QUOTE_AGE_LIMIT_MS).contains(&self.max_quote_age_ms) {
            return Err(PolicyError::QuoteAge(self.max_quote_age_ms));
        }
        let min_collateral_age = if self.allow_dcap || self.allow_tdx { 3_600_000 } else { 0 };
        if !(min_collateral_age..=MAX_COLLATERAL_AGE_LIMIT_MS).contains(&self.max_collateral_age_ms)
        {
            return Err(PolicyError::CollateralAge(self.max_collateral_age_ms));
        }
        let roots = &self.simulated_roots;
        let distinct = roots.iter().enumerate().all(|(i, r)| !roots[..i].contains(r));
        if roots.len() > MAX_POLICY_LIST || !distinct || (self.allow_simulated && roots.is_empty())
        {
            return Err(PolicyError::Roots);
        }
        if self.accepted_tcb.len() > MAX_POLICY_LIST {
            return Err(PolicyError::TcbList);
        }
        for (i, a) in self.accepted_tcb.iter().enumerate() {
            let ok = LISTABLE_TCB.contains(&a.status.as_str())
                && !NEVER_ACCEPTED_TCB.contains(&a.status.as_str())
                && !self.accepted_tcb[..i].iter().any(|b| b.status == a.status)
                && a.advisory_ids.len() <= MAX_POLICY_LIST
                && a.advisory_ids.iter().all(|id| !id.is_empty() && id.len() <= MAX_POLICY_NAME);
            if !ok {
                return Err(PolicyError::Tcb(a.status.chars().take(MAX_POLICY_NAME).collect()));
            }
        }
        Ok(())
    }
}

/// A benchmark run inside the enclave: the work units (1 KiB BLAKE2b hashes) it did after its
/// light client verified block `start`, reported once it had verified block `end`. The chain
/// checks both blocks against its block-hash history, so the span is measured in chain blocks,
/// which the host cannot speed up; `end` is also the registration's freshness anchor.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct BenchmarkReport {
    /// Work units done since `start_number` was verified.
    pub work: u64,
    /// Number of the block the benchmark started at.
    pub start_number: BlockNumber,
    /// Its hash.
    pub start_hash: H256,
    /// Number of a recent verified block (the registration's anchor).
    pub end_number: BlockNumber,
    /// Its hash.
    pub end_hash: H256,
}

impl BenchmarkReport {
    /// What the identity key signs: the operator and the benchmark, on this chain. It is the
    /// identity's consent to be operated by `operator`.
    pub fn signing_payload(
        &self,
        genesis: &H256,
        identity: &Public,
        operator: &AccountId,
    ) -> Vec<u8> {
        (b"umbra/registration/v2", genesis, identity, operator, self).encode()
    }

    /// Score if registered at block `now`: work units per block from `start_number` to `now`,
    /// divided by [`WORK_UNITS_PER_POINT`], at most `cap`. Counting to the registering block
    /// (not `end_number`) means withholding blocks from the enclave cannot shrink the span.
    pub fn score_at(&self, now: BlockNumber, cap: u64) -> u64 {
        let blocks = now.saturating_sub(self.start_number).max(1);
        self.work
            .checked_div(blocks)
            .unwrap_or(0)
            .checked_div(WORK_UNITS_PER_POINT)
            .unwrap_or(0)
            .min(cap)
    }
}

/// A registered worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
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
/// Whether this chain may ever accept insecure (simulated) platforms: set at genesis, never
/// changed. False on production-like chains.
pub const INSECURE_ALLOWED: StorageValue<bool> = StorageValue::new(b"registry/insecure_allowed");

// ---- calls ----

/// Calls of the registry module.
// A registration carries a quote and a benchmark; calls are decoded once per extrinsic, so
// boxing them would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers (or re-registers) a worker. Origin: the operator.
    #[codec(index = 0)]
    RegisterWorker {
        /// The enclave's identity key.
        identity: Public,
        /// The enclave's ECDH key.
        ecdh: EcdhPublic,
        /// The platform's quote over [`expected_report_data`].
        attestation: Attestation,
        /// The operator account (must be the signer).
        operator: AccountId,
        /// The enclave's benchmark (its end block is the registration's recent block).
        benchmark: BenchmarkReport,
        /// The identity key's signature over operator and benchmark
        /// ([`BenchmarkReport::signing_payload`]).
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
    /// Replaces the attestation policy. Origin: the council key. Refused if out of bounds, or
    /// if it allows simulated quotes on a chain whose genesis forbids insecure platforms.
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
    /// The report data does not bind these keys, this operator and this benchmark to this
    /// chain.
    #[error("report data does not match identity, ECDH key, genesis, operator and benchmark")]
    ReportDataMismatch,
    /// This quote was used before (with whatever collateral).
    #[error("attestation already used")]
    AttestationReused,
    /// The identity did not sign this operator and benchmark.
    #[error("bad registration signature: the identity key must sign operator and benchmark")]
    BadBenchmarkSignature,
    /// The benchmark's end block is not one of the chain's recent blocks.
    #[error("the registration's block hash is not one of the chain's recent blocks")]
    UnknownAnchorBlock,
    /// The benchmark's end block is older than `max_anchor_age_blocks`.
    #[error("the registration's block hash is too old")]
    StaleAnchor,
    /// The benchmark's start block is unknown or after its end block.
    #[error("the benchmark's start block is not a recent chain block before its end block")]
    BadBenchmarkSpan,
    /// The DCAP TCB status is not accepted by the policy.
    #[error("TCB status not accepted")]
    TcbNotAccepted,
    /// The DCAP collateral is older than the policy allows.
    #[error("DCAP collateral too old")]
    CollateralTooOld,
    /// The policy is out of bounds.
    #[error("invalid attestation policy")]
    InvalidPolicy,
    /// This chain forbids insecure (simulated) platforms.
    #[error("this chain forbids simulated (insecure) platforms")]
    InsecurePlatformForbidden,
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
            AttestationError::Dcap(_)
            | AttestationError::NotSgx(_)
            | AttestationError::NotTdx(_) => Error::DcapVerificationFailed,
            AttestationError::TcbNotAccepted { .. } => Error::TcbNotAccepted,
            AttestationError::CollateralTooOld { .. } => Error::CollateralTooOld,
            AttestationError::Malformed(_) => Error::MalformedAttestation,
        }
    }
}

// ---- logic ----

/// The report data a worker's quote must carry: BLAKE2b-256 of SCALE(`"umbra/report-data/v2"`,
/// identity, ecdh, genesis, operator, benchmark) in the first 32 bytes, zeros after. The
/// operator makes a copied registration useless to anyone else; the benchmark's end block hash
/// (a recent block the enclave verified) dates the quote.
pub fn expected_report_data(
    identity: &Public,
    ecdh: &EcdhPublic,
    genesis: &H256,
    operator: &AccountId,
    benchmark: &BenchmarkReport,
) -> [u8; 64] {
    let pre = (b"umbra/report-data/v2", identity, ecdh.0, genesis, operator, benchmark).encode();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&blake2_256(&pre));
    out
}

/// Whether this chain accepts simulated (insecure) workers now: its genesis allows insecure
/// platforms and the current policy allows simulated quotes. Gatekeeper and contract duties
/// can use [`is_insecure_worker`] to refuse simulated workers where this is false.
pub fn accepts_insecure(st: &Overlay<'_>) -> bool {
    INSECURE_ALLOWED.get_or_default(st) && policy(st).allow_simulated
}

/// Whether `identity` is a registered worker on an insecure (simulated) platform.
pub fn is_insecure_worker(st: &Overlay<'_>, identity: &Public) -> bool {
    worker(st, identity).is_some_and(|w| w.insecure)
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
    let quote_key = H256(attestation.reuse_key());
    if USED_QUOTES.get(st, &quote_key).is_some() {
        return Err(Error::AttestationReused);
    }
    let p = policy(st);
    let verify_policy = VerifyPolicy {
        // Belt and braces: a chain that forbids insecure platforms never accepts simulated
        // quotes, whatever its policy says.
        allow_simulated: p.allow_simulated && INSECURE_ALLOWED.get_or_default(st),
        simulated_roots: p.simulated_roots.iter().map(|a| a.0).collect(),
        allow_dcap: p.allow_dcap,
        allow_tdx: p.allow_tdx,
        dcap: DcapPolicy {
            accepted_tcb: p.accepted_tcb.clone(),
            max_collateral_age_ms: p.max_collateral_age_ms,
        },
        now_ms: system::TIMESTAMP.get_or_default(st),
        max_age_ms: p.max_quote_age_ms,
    };
    let report = umbra_tee::verify(&attestation, &verify_policy).map_err(|e| Error::from(&e))?;
    if !is_allowed(st, &report.measurement) {
        return Err(Error::MeasurementNotAllowed);
    }
    let genesis = ext.genesis_hash();
    if report.report_data != expected_report_data(&identity, &ecdh, &genesis, &operator, &benchmark)
    {
        return Err(Error::ReportDataMismatch);
    }
    if !identity
        .verify(&benchmark.signing_payload(&genesis, &identity, &operator), &benchmark_signature)
    {
        return Err(Error::BadBenchmarkSignature);
    }
    let now = system::NUMBER.get_or_default(st);
    if system::BLOCK_HASHES.get(st, &benchmark.end_number) != Some(benchmark.end_hash) {
        return Err(Error::UnknownAnchorBlock);
    }
    if now.saturating_sub(benchmark.end_number) > p.max_anchor_age_blocks {
        return Err(Error::StaleAnchor);
    }
    if benchmark.start_number > benchmark.end_number
        || system::BLOCK_HASHES.get(st, &benchmark.start_number) != Some(benchmark.start_hash)
    {
        return Err(Error::BadBenchmarkSpan);
    }
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
        benchmark_score: benchmark.score_at(now, p.max_benchmark_score),
        registered_at: previous.as_ref().map_or(now, |w| w.registered_at),
        updated_at: now,
    };
    USED_QUOTES.insert(&mut ext.state, &quote_key, &now);
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
            policy.validate().map_err(|_| Error::InvalidPolicy)?;
            if policy.allow_simulated && !INSECURE_ALLOWED.get_or_default(&ext.state) {
                return Err(Error::InsecurePlatformForbidden.into());
            }
            POLICY.put(&mut ext.state, &policy);
            ext.deposit_event(Event::AttestationPolicyChanged { policy });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
