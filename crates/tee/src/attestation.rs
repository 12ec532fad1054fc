//! Attestations, the verification policy and the deterministic verifier.
//!
//! [`verify`] does no I/O and reads no clock: the caller supplies the time in the
//! [`VerifyPolicy`], so the same call gives the same answer inside the chain runtime and
//! inside an enclave.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::dcap::{self, QuoteCollateralV3};
use crate::error::AttestationError;
use crate::platform::{AttestationType, Measurement};
use crate::simulated::{self, SimulatedQuote};

/// How far in the future a simulated quote's timestamp may lie before it is rejected as
/// [`AttestationError::FromFuture`], tolerating clock skew between host and verifier.
pub const MAX_CLOCK_SKEW_MS: u64 = 30_000;

/// Maximum quote age used by [`VerifyPolicy::development`]: ten minutes.
pub const DEFAULT_MAX_QUOTE_AGE_MS: u64 = 10 * 60 * 1000;

/// Evidence that some report data was produced by an enclave with a given identity.
// Attestations are few (one per registration or key hand-over) and short-lived; boxing
// the simulated quote would only add an allocation and an indirection to pattern matches.
#[allow(clippy::large_enum_variant)]
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug)]
pub enum Attestation {
    /// A quote of the (insecure) simulated platform.
    Simulated(SimulatedQuote),
    /// An Intel SGX DCAP quote with the collateral needed to verify it offline.
    SgxDcap {
        /// The raw quote as produced by the quoting enclave (version 3, SGX).
        quote: Vec<u8>,
        /// The SCALE encoding of `dcap_qvl::QuoteCollateralV3` (PCK CRL and its issuer
        /// chain, root CA CRL, TCB info and QE identity with their signatures and issuer
        /// chains). PCCS JSON collateral converts with
        /// [`collateral_from_json`](crate::collateral_from_json).
        collateral: Vec<u8>,
    },
    /// An Intel TDX DCAP quote (version 4 or 5) with the collateral needed to verify it
    /// offline (same collateral encoding as [`Attestation::SgxDcap`]).
    TdxDcap {
        /// The raw quote as produced by the TD quoting enclave.
        quote: Vec<u8>,
        /// The SCALE encoding of `dcap_qvl::QuoteCollateralV3`.
        collateral: Vec<u8>,
    },
}

impl Attestation {
    /// Builds an SGX DCAP attestation from a raw quote and its collateral.
    pub fn sgx_dcap(quote: Vec<u8>, collateral: &QuoteCollateralV3) -> Attestation {
        Attestation::SgxDcap { quote, collateral: collateral.encode() }
    }

    /// The kind of TEE this attestation claims to come from.
    pub fn kind(&self) -> AttestationType {
        match self {
            Attestation::Simulated(_) => AttestationType::Simulated,
            Attestation::SgxDcap { .. } => AttestationType::SgxDcap,
            Attestation::TdxDcap { .. } => AttestationType::TdxDcap,
        }
    }

    /// The key under which a verifier remembers this attestation as used: BLAKE2b-256 of
    /// SCALE(`"umbra/attestation-reuse/v1"`, kind, quote). It covers the quote alone, never
    /// the collateral: the same DCAP quote presented with other (also valid) collateral has
    /// the same key, so it cannot be used twice. A simulated quote is signed whole (its
    /// platform certificate included), so its key covers all of it.
    pub fn reuse_key(&self) -> [u8; 32] {
        const DOMAIN: &[u8] = b"umbra/attestation-reuse/v1";
        match self {
            // The platform key's signature covers the whole simulated quote, certificate
            // included: there is no separate collateral.
            Attestation::Simulated(q) => {
                umbra_crypto::blake2_256(&(DOMAIN, AttestationType::Simulated, q).encode())
            }
            Attestation::SgxDcap { quote, .. } => {
                umbra_crypto::blake2_256(&(DOMAIN, AttestationType::SgxDcap, quote).encode())
            }
            Attestation::TdxDcap { quote, .. } => {
                umbra_crypto::blake2_256(&(DOMAIN, AttestationType::TdxDcap, quote).encode())
            }
        }
    }
}

/// A TCB status other than `UpToDate` that a verifier accepts, and the security advisories
/// under which it accepts it.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcbAllowance {
    /// The status as `dcap-qvl` names it (`SWHardeningNeeded`, `ConfigurationNeeded`,
    /// `ConfigurationAndSWHardeningNeeded`, `TDRelaunchAdvised`, ...). `OutOfDate`,
    /// `OutOfDateConfigurationNeeded` and `Revoked` are never accepted.
    pub status: String,
    /// Intel advisory ids (`INTEL-SA-00615`, ...) accepted with this status: a quote is
    /// accepted only if every advisory it reports is listed here.
    pub advisory_ids: Vec<String>,
}

/// What a DCAP (SGX or TDX) quote must satisfy beyond a valid signature chain.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DcapPolicy {
    /// TCB statuses accepted besides `UpToDate` (which is always accepted).
    pub accepted_tcb: Vec<TcbAllowance>,
    /// Largest age of the collateral at verification, in ms: the time since the older of
    /// the TCB info and QE identity issue dates.
    pub max_collateral_age_ms: u64,
}

impl Default for DcapPolicy {
    /// `UpToDate` only, collateral at most [`DEFAULT_MAX_COLLATERAL_AGE_MS`] old.
    fn default() -> Self {
        DcapPolicy {
            accepted_tcb: Vec::new(),
            max_collateral_age_ms: DEFAULT_MAX_COLLATERAL_AGE_MS,
        }
    }
}

/// Default largest collateral age: 30 days (Intel reissues TCB info and QE identity about
/// monthly).
pub const DEFAULT_MAX_COLLATERAL_AGE_MS: u64 = 30 * 24 * 3600 * 1000;

/// TCB statuses refused whatever the policy lists.
pub const NEVER_ACCEPTED_TCB: [&str; 3] = ["OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"];

impl DcapPolicy {
    /// Decides whether a verified TCB `status` with `advisory_ids` is acceptable: `UpToDate`
    /// always; out-of-date and revoked never; any other status only if an allowance names it
    /// and lists every reported advisory.
    pub fn check_tcb(&self, status: &str, advisory_ids: &[String]) -> Result<(), AttestationError> {
        if status == "UpToDate" {
            return Ok(());
        }
        let refused = || AttestationError::TcbNotAccepted {
            status: status.to_string(),
            advisory_ids: advisory_ids.to_vec(),
        };
        if NEVER_ACCEPTED_TCB.contains(&status) {
            return Err(refused());
        }
        let allowed = self.accepted_tcb.iter().any(|a| {
            a.status == status && advisory_ids.iter().all(|id| a.advisory_ids.contains(id))
        });
        if allowed {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

/// What [`verify`] accepts, and the verifier's notion of the current time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifyPolicy {
    /// Whether quotes of the simulated platform are accepted at all.
    pub allow_simulated: bool,
    /// The vendor roots trusted to certify simulated platforms.
    pub simulated_roots: Vec<umbra_crypto::Public>,
    /// Whether SGX DCAP quotes are accepted.
    pub allow_dcap: bool,
    /// Whether TDX DCAP quotes are accepted.
    pub allow_tdx: bool,
    /// TCB status and collateral age rules for SGX and TDX quotes.
    pub dcap: DcapPolicy,
    /// The verification time, Unix milliseconds.
    pub now_ms: u64,
    /// The maximum age of a simulated quote, in milliseconds. (A DCAP quote carries no
    /// time: its collateral must be valid at `now_ms` and younger than
    /// [`DcapPolicy::max_collateral_age_ms`]; freshness of the quote itself is the caller's,
    /// e.g. a recent block hash in the report data.)
    pub max_age_ms: u64,
}

impl VerifyPolicy {
    /// The development policy: simulated quotes certified by the
    /// [development vendor root](crate::dev_vendor_root) and SGX and TDX DCAP quotes
    /// (`UpToDate` only, default collateral age) are accepted, with a maximum quote age of
    /// [`DEFAULT_MAX_QUOTE_AGE_MS`].
    pub fn development(now_ms: u64) -> VerifyPolicy {
        VerifyPolicy {
            allow_simulated: true,
            simulated_roots: vec![simulated::dev_vendor_root().public()],
            allow_dcap: true,
            allow_tdx: true,
            dcap: DcapPolicy::default(),
            now_ms,
            max_age_ms: DEFAULT_MAX_QUOTE_AGE_MS,
        }
    }
}

/// The enclave identity and data that a verified attestation vouches for.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug)]
pub struct VerifiedReport {
    /// The kind of TEE that produced the attestation.
    pub kind: AttestationType,
    /// The enclave's code identity (MRENCLAVE on SGX, [`tdx_measurement`](crate::tdx_measurement)
    /// on TDX).
    pub measurement: Measurement,
    /// The enclave signer's identity (MRSIGNER on SGX; on TDX BLAKE2b-256 of the domain
    /// `"umbra/tdx-owner/v1"` and MROWNER).
    pub signer: [u8; 32],
    /// The 64 bytes of data the enclave bound into the quote.
    pub report_data: [u8; 64],
    /// When the quote was produced (simulated) or verified (DCAP, where it is the
    /// policy's `now_ms`), Unix milliseconds.
    pub timestamp_ms: u64,
    /// A stable identifier of the platform (see [`Platform::platform_id`](crate::Platform::platform_id)).
    pub platform_id: [u8; 32],
    /// The platform's TCB status: `dcap-qvl`'s status string (e.g. `UpToDate`,
    /// `SWHardeningNeeded`) for DCAP, `Simulated` for the simulated platform. Deciding
    /// which statuses are acceptable is up to the caller.
    pub tcb_status: String,
    /// True when the attestation offers no hardware protection (simulated platform).
    pub insecure: bool,
}

/// Verifies an attestation against a policy.
///
/// Deterministic and free of I/O. The caller must still check that `report_data`,
/// `measurement` and `signer` of the returned report are the ones it expects.
pub fn verify(
    att: &Attestation,
    policy: &VerifyPolicy,
) -> Result<VerifiedReport, AttestationError> {
    match att {
        Attestation::Simulated(quote) => {
            if !policy.allow_simulated {
                return Err(AttestationError::TypeNotAllowed(AttestationType::Simulated));
            }
            simulated::verify_quote(quote, policy)
        }
        Attestation::SgxDcap { quote, collateral } => {
            if !policy.allow_dcap {
                return Err(AttestationError::TypeNotAllowed(AttestationType::SgxDcap));
            }
            dcap::verify_quote(quote, collateral, policy, AttestationType::SgxDcap)
        }
        Attestation::TdxDcap { quote, collateral } => {
            if !policy.allow_tdx {
                return Err(AttestationError::TypeNotAllowed(AttestationType::TdxDcap));
            }
            dcap::verify_quote(quote, collateral, policy, AttestationType::TdxDcap)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::DecodeAll;
    use proptest::prelude::*;

    fn any_kind() -> impl Strategy<Value = AttestationType> {
        prop_oneof![
            Just(AttestationType::Simulated),
            Just(AttestationType::SgxDcap),
            Just(AttestationType::TdxDcap)
        ]
    }

    fn any_report() -> impl Strategy<Value = VerifiedReport> {
        (
            any_kind(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<u8>(), 64),
            any::<u64>(),
            any::<[u8; 32]>(),
            ".{0,24}",
            any::<bool>(),
        )
            .prop_map(
                |(kind, measurement, signer, data, timestamp_ms, platform_id, tcb, insecure)| {
                    let mut report_data = [0u8; 64];
                    report_data.copy_from_slice(&data);
                    VerifiedReport {
                        kind,
                        measurement,
                        signer,
                        report_data,
                        timestamp_ms,
                        platform_id,
                        tcb_status: tcb,
                        insecure,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn attestation_type_scale_round_trip(kind in any_kind()) {
            prop_assert_eq!(AttestationType::decode_all(&mut &kind.encode()[..]).unwrap(), kind);
        }

        #[test]
        fn verified_report_scale_round_trip(report in any_report()) {
            let bytes = report.encode();
            prop_assert_eq!(VerifiedReport::decode_all(&mut &bytes[..]).unwrap(), report);
        }

        #[test]
        fn dcap_attestation_scale_round_trip(
            quote in prop::collection::vec(any::<u8>(), 0..512),
            collateral in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let att = Attestation::SgxDcap { quote, collateral };
            let bytes = att.encode();
            prop_assert_eq!(Attestation::decode_all(&mut &bytes[..]).unwrap(), att);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Attestation::decode_all(&mut &bytes[..]);
        }
    }

    #[test]
    fn attestation_type_serde_uses_variant_names() {
        let json = serde_json::to_string(&AttestationType::SgxDcap).unwrap();
        assert_eq!(json, "\"SgxDcap\"");
        let kind: AttestationType = serde_json::from_str("\"Simulated\"").unwrap();
        assert_eq!(kind, AttestationType::Simulated);
    }

    #[test]
    fn dcap_disallowed_by_policy() {
        let att = Attestation::SgxDcap { quote: vec![], collateral: vec![] };
        let mut policy = VerifyPolicy::development(0);
        policy.allow_dcap = false;
        assert_eq!(
            verify(&att, &policy),
            Err(AttestationError::TypeNotAllowed(AttestationType::SgxDcap))
        );
        assert_eq!(att.kind(), AttestationType::SgxDcap);
    }
}
