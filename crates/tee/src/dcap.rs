//! Intel SGX DCAP quote verification, offline, with the `dcap-qvl` crate.
//!
//! `dcap-qvl` checks, at the given time and against Intel's production SGX root CA
//! (compiled into it): the root CA and PCK CRLs, the TCB info and QE identity signatures,
//! issuer chains and validity windows (`issueDate`..`nextUpdate`), the PCK certificate
//! chain carried in the quote, the quoting enclave's report and identity, the quote's
//! ECDSA signature over header and enclave report, the platform TCB level, and that the
//! enclave is not in debug mode. A revoked TCB is always rejected. The freshness of a DCAP
//! attestation is therefore the validity of its collateral at the verification time.
//!
//! The pure-Rust RustCrypto backend is called explicitly
//! ([`dcap_qvl::verify::rustcrypto::verify`]), so the result does not depend on which
//! `dcap-qvl` features other crates in the build enable.

use parity_scale_codec::{DecodeAll, Encode};
use umbra_crypto::blake2_256;

pub use dcap_qvl::QuoteCollateralV3;

use crate::attestation::VerifiedReport;
use crate::error::AttestationError;
use crate::platform::AttestationType;

/// Domain prefix of the hash that turns a PPID into a platform id.
const PLATFORM_ID_DOMAIN: &[u8] = b"umbra/sgx-platform-id/v1";

/// Parses collateral in the JSON form used by PCCS clients and `dcap-qvl`
/// (`QuoteCollateralV3` with hex-encoded binary fields) and returns its SCALE encoding,
/// the form carried in [`Attestation::SgxDcap`](crate::Attestation::SgxDcap).
pub fn collateral_from_json(json: &[u8]) -> Result<Vec<u8>, AttestationError> {
    let collateral: QuoteCollateralV3 = serde_json::from_slice(json)
        .map_err(|e| AttestationError::Malformed(format!("collateral JSON: {e}")))?;
    Ok(collateral.encode())
}

/// The platform id of an SGX platform: BLAKE2b-256 of SCALE(`"umbra/sgx-platform-id/v1"`,
/// PPID). The PPID (Platform Provisioning ID) is read from the PCK certificate that Intel's
/// chain vouches for; it identifies the physical CPU package and stays the same across
/// TCB recoveries and enclave upgrades.
pub fn sgx_platform_id(ppid: &[u8]) -> [u8; 32] {
    blake2_256(&(PLATFORM_ID_DOMAIN, ppid).encode())
}

/// Verifies an SGX DCAP quote with its SCALE-encoded collateral at `now_ms` (the policy's
/// `allow_dcap` is checked by the caller).
pub(crate) fn verify_quote(
    quote: &[u8],
    collateral: &[u8],
    now_ms: u64,
) -> Result<VerifiedReport, AttestationError> {
    let collateral = QuoteCollateralV3::decode_all(&mut &collateral[..])
        .map_err(|e| AttestationError::Malformed(format!("DCAP collateral: {e}")))?;
    let parsed = dcap_qvl::quote::Quote::parse(quote)
        .map_err(|e| AttestationError::Malformed(format!("DCAP quote: {e}")))?;
    // Refuse TDX (and any other TEE) before spending time on certificate chains.
    if !parsed.header.is_sgx() {
        return Err(AttestationError::NotSgx("the quote header names a TDX trust domain"));
    }
    let report = dcap_qvl::verify::rustcrypto::verify(quote, &collateral, now_ms / 1000)
        .map_err(|e| AttestationError::Dcap(format!("{e:#}")))?;
    let enclave = report
        .report
        .as_sgx()
        .ok_or(AttestationError::NotSgx("the verified report is a TDX report"))?;
    if report.ppid.is_empty() {
        return Err(AttestationError::Dcap("the PCK certificate carries no PPID".into()));
    }
    Ok(VerifiedReport {
        kind: AttestationType::SgxDcap,
        measurement: enclave.mr_enclave,
        signer: enclave.mr_signer,
        report_data: enclave.report_data,
        timestamp_ms: now_ms,
        platform_id: sgx_platform_id(&report.ppid),
        tcb_status: report.status,
        insecure: false,
    })
}

#[cfg(test)]
mod tests {
    //! The fixture is a genuine SGX DCAP quote and its collateral, copied unchanged from
    //! the `dcap-qvl` 0.7.1 repository (Phala-Network/dcap-qvl, `sample/sgx_quote` and
    //! `sample/sgx_quote_collateral.json`). The quote is signed by an Intel-issued PCK
    //! certificate chaining to Intel's SGX root CA. Its collateral is valid from
    //! 2025-06-19T10:56:11Z (TCB info issue date) to 2025-07-19T10:01:18Z (QE identity
    //! next update). `sample/tdx_quote` is a genuine TDX quote from the same repository.

    use super::*;
    use crate::attestation::{verify, Attestation, VerifyPolicy};
    use proptest::prelude::*;

    const SGX_QUOTE: &[u8] = include_bytes!("../testdata/sgx_quote.bin");
    const SGX_COLLATERAL_JSON: &[u8] = include_bytes!("../testdata/sgx_quote_collateral.json");
    const TDX_QUOTE: &[u8] = include_bytes!("../testdata/tdx_quote.bin");

    /// 2025-07-01T00:00:00Z, inside the collateral's validity window.
    const INSIDE_WINDOW_MS: u64 = 1_751_328_000_000;
    /// 2025-06-19T10:56:11Z, the start of the window (TCB info issue date).
    const WINDOW_START_MS: u64 = 1_750_330_571_000;
    /// 2025-07-19T10:01:18Z, the end of the window (QE identity next update).
    const WINDOW_END_MS: u64 = 1_752_919_278_000;

    const MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
    const MRSIGNER: &str = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";

    /// Offsets in a version 3 quote: 48-byte header, 384-byte enclave report, 4-byte
    /// signature length, then the 64-byte ECDSA signature over header and report.
    const REPORT_DATA_OFFSET: usize = 48 + 320;
    const MRENCLAVE_OFFSET: usize = 48 + 64;
    const SIGNATURE_OFFSET: usize = 48 + 384 + 4;

    fn attestation(quote: &[u8]) -> Attestation {
        Attestation::SgxDcap {
            quote: quote.to_vec(),
            collateral: collateral_from_json(SGX_COLLATERAL_JSON).unwrap(),
        }
    }

    fn policy(now_ms: u64) -> VerifyPolicy {
        VerifyPolicy {
            allow_simulated: false,
            simulated_roots: vec![],
            allow_dcap: true,
            now_ms,
            max_age_ms: 0,
        }
    }

    fn dcap_error(result: Result<VerifiedReport, AttestationError>) -> String {
        match result {
            Err(AttestationError::Dcap(reason)) => reason,
            other => panic!("expected a DCAP verification error, got {other:?}"),
        }
    }

    #[test]
    fn genuine_quote_verifies() {
        let report = verify(&attestation(SGX_QUOTE), &policy(INSIDE_WINDOW_MS)).unwrap();
        assert_eq!(report.kind, AttestationType::SgxDcap);
        assert_eq!(hex::encode(report.measurement), MRENCLAVE);
        assert_eq!(hex::encode(report.signer), MRSIGNER);
        let mut expected_data = [0u8; 64];
        expected_data[..13].copy_from_slice(b"Hello, world!");
        assert_eq!(report.report_data, expected_data);
        assert_eq!(report.tcb_status, "ConfigurationAndSWHardeningNeeded");
        assert_eq!(report.timestamp_ms, INSIDE_WINDOW_MS);
        assert!(!report.insecure);
        assert_ne!(report.platform_id, [0u8; 32]);
        // The platform id is stable: the same at any time in the window.
        let later = verify(&attestation(SGX_QUOTE), &policy(WINDOW_END_MS)).unwrap();
        assert_eq!(later.platform_id, report.platform_id);
    }

    #[test]
    fn verifies_at_both_window_edges() {
        assert!(verify(&attestation(SGX_QUOTE), &policy(WINDOW_START_MS)).is_ok());
        assert!(verify(&attestation(SGX_QUOTE), &policy(WINDOW_END_MS)).is_ok());
    }

    #[test]
    fn one_byte_change_in_report_body_fails() {
        for offset in [REPORT_DATA_OFFSET, MRENCLAVE_OFFSET] {
            let mut quote = SGX_QUOTE.to_vec();
            quote[offset] ^= 0x01;
            let reason = dcap_error(verify(&attestation(&quote), &policy(INSIDE_WINDOW_MS)));
            assert!(reason.to_lowercase().contains("signature"), "{reason}");
        }
    }

    #[test]
    fn one_byte_change_in_signature_fails() {
        let mut quote = SGX_QUOTE.to_vec();
        quote[SIGNATURE_OFFSET + 7] ^= 0x01;
        let reason = dcap_error(verify(&attestation(&quote), &policy(INSIDE_WINDOW_MS)));
        assert!(reason.to_lowercase().contains("signature"), "{reason}");
    }

    #[test]
    fn expired_collateral_fails() {
        let reason = dcap_error(verify(&attestation(SGX_QUOTE), &policy(WINDOW_END_MS + 1000)));
        assert!(reason.contains("expired"), "{reason}");
        // Years later the CRLs have expired too; still a clean rejection.
        assert!(verify(&attestation(SGX_QUOTE), &policy(2_000_000_000_000)).is_err());
    }

    #[test]
    fn collateral_not_yet_valid_fails() {
        let reason = dcap_error(verify(&attestation(SGX_QUOTE), &policy(WINDOW_START_MS - 1000)));
        assert!(reason.contains("future"), "{reason}");
    }

    #[test]
    fn tdx_quote_is_refused() {
        assert_eq!(
            verify(&attestation(TDX_QUOTE), &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::NotSgx("the quote header names a TDX trust domain"))
        );
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        let good_collateral = collateral_from_json(SGX_COLLATERAL_JSON).unwrap();
        let truncated = Attestation::SgxDcap {
            quote: SGX_QUOTE[..100].to_vec(),
            collateral: good_collateral.clone(),
        };
        assert!(matches!(
            verify(&truncated, &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::Malformed(_))
        ));
        let bad_collateral = Attestation::SgxDcap {
            quote: SGX_QUOTE.to_vec(),
            collateral: good_collateral[..good_collateral.len() - 1].to_vec(),
        };
        assert!(matches!(
            verify(&bad_collateral, &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::Malformed(_))
        ));
        let mut trailing = good_collateral;
        trailing.push(0);
        let trailing = Attestation::SgxDcap { quote: SGX_QUOTE.to_vec(), collateral: trailing };
        assert!(matches!(
            verify(&trailing, &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::Malformed(_))
        ));
        assert!(matches!(collateral_from_json(b"{}"), Err(AttestationError::Malformed(_))));
    }

    #[test]
    fn collateral_scale_encoding_round_trips() {
        let json: QuoteCollateralV3 = serde_json::from_slice(SGX_COLLATERAL_JSON).unwrap();
        let bytes = collateral_from_json(SGX_COLLATERAL_JSON).unwrap();
        assert_eq!(QuoteCollateralV3::decode_all(&mut &bytes[..]).unwrap(), json);
        assert_eq!(Attestation::sgx_dcap(SGX_QUOTE.to_vec(), &json), attestation(SGX_QUOTE));
    }

    #[test]
    fn platform_id_is_domain_separated() {
        assert_ne!(sgx_platform_id(&[1u8; 16]), sgx_platform_id(&[2u8; 16]));
        assert_ne!(sgx_platform_id(&[1u8; 16]), blake2_256(&[1u8; 16]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_quote_bytes_fail_cleanly(quote in prop::collection::vec(any::<u8>(), 0..1200)) {
            prop_assert!(verify(&attestation(&quote), &policy(INSIDE_WINDOW_MS)).is_err());
        }

        #[test]
        fn any_single_byte_flip_in_signed_region_fails(offset in 0usize..432, bit in 0u8..8) {
            let mut quote = SGX_QUOTE.to_vec();
            quote[offset] ^= 1 << bit;
            prop_assert!(verify(&attestation(&quote), &policy(INSIDE_WINDOW_MS)).is_err());
        }
    }
}
