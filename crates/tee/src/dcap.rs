//! Intel SGX and TDX DCAP quote verification, offline, with the `dcap-qvl` crate.
//!
//! `dcap-qvl` checks, at the given time and against Intel's production SGX root CA
//! (compiled into it): the root CA and PCK CRLs, the TCB info and QE identity signatures,
//! issuer chains and validity windows (`issueDate`..`nextUpdate`), the PCK certificate
//! chain carried in the quote, the quoting enclave's report and identity, the quote's
//! ECDSA signature over header and enclave report, the platform TCB level, and that the
//! enclave is not in debug mode. A revoked TCB is always rejected. On top of that, this
//! module applies the caller's [`DcapPolicy`](crate::DcapPolicy): TCB status `UpToDate` is
//! accepted, `OutOfDate`/`OutOfDateConfigurationNeeded`/`Revoked` never, any other status only
//! when the policy lists it with every advisory the quote reports; and the collateral must be
//! younger than the policy's maximum age. A DCAP quote carries no timestamp: the freshness of
//! the quote itself must come from its report data (the chain binds a recent block hash).
//!
//! The pure-Rust RustCrypto backend is called explicitly
//! ([`dcap_qvl::verify::rustcrypto::verify`]), so the result does not depend on which
//! `dcap-qvl` features other crates in the build enable.

use parity_scale_codec::{DecodeAll, Encode};
use umbra_crypto::blake2_256;

pub use dcap_qvl::QuoteCollateralV3;

use crate::attestation::{VerifiedReport, VerifyPolicy};
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

/// Domain prefix of the hash that turns MRTD and the RTMRs into a TDX measurement.
pub const TDX_MEASUREMENT_DOMAIN: &[u8] = b"umbra/tdx-measurement/v1";
/// Domain prefix of the hash that turns MROWNER into a TDX signer.
const TDX_OWNER_DOMAIN: &[u8] = b"umbra/tdx-owner/v1";

/// The 32-byte measurement of a TDX trust domain: BLAKE2b-256 of
/// `"umbra/tdx-measurement/v1" ‖ MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3` (the domain's 24 bytes,
/// then the five 48-byte registers in this order, no length prefixes). MRTD measures the
/// initial TD image (firmware), RTMR0 the firmware configuration, RTMR1 the OS loader and
/// kernel, RTMR2 the kernel command line and initrd, RTMR3 what the runtime extends; an
/// allow-listed measurement therefore pins the whole boot chain.
pub fn tdx_measurement(
    mr_td: &[u8; 48],
    rtmr0: &[u8; 48],
    rtmr1: &[u8; 48],
    rtmr2: &[u8; 48],
    rtmr3: &[u8; 48],
) -> [u8; 32] {
    let mut pre = Vec::with_capacity(TDX_MEASUREMENT_DOMAIN.len().saturating_add(5 * 48));
    pre.extend_from_slice(TDX_MEASUREMENT_DOMAIN);
    for r in [mr_td, rtmr0, rtmr1, rtmr2, rtmr3] {
        pre.extend_from_slice(r);
    }
    blake2_256(&pre)
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time of the form `YYYY-MM-DDTHH:MM:SSZ`
/// (optionally with fractional seconds), the form Intel's collateral uses.
fn parse_utc_secs(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || *b.last()? != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), all values non-negative here.
    let (y, m) =
        if m <= 2 { (y.checked_sub(1)?, m.checked_add(9)?) } else { (y, m.checked_sub(3)?) };
    let era = y / 400;
    let yoe = y.checked_sub(era.checked_mul(400)?)?;
    let doy = (153u64.checked_mul(m)?.checked_add(2)? / 5).checked_add(d)?.checked_sub(1)?;
    let doe =
        yoe.checked_mul(365)?.checked_add(yoe / 4)?.checked_sub(yoe / 100)?.checked_add(doy)?;
    let days = era.checked_mul(146_097)?.checked_add(doe)?.checked_sub(719_468)?;
    days.checked_mul(86_400)?
        .checked_add(hh.checked_mul(3600)?)?
        .checked_add(mm.checked_mul(60)?)?
        .checked_add(ss)
}

/// The issue date (Unix ms) of a TCB info or QE identity JSON body.
fn issue_date_ms(json: &str, what: &str) -> Result<u64, AttestationError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| AttestationError::Malformed(format!("{what} JSON: {e}")))?;
    v.get("issueDate")
        .and_then(serde_json::Value::as_str)
        .and_then(parse_utc_secs)
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| AttestationError::Malformed(format!("{what} has no valid issueDate")))
}

/// How old `collateral` is at `now_ms`: the time since the older of its TCB info and QE
/// identity issue dates (zero if both lie in the future; `dcap-qvl` refuses those).
pub fn collateral_age_ms(
    collateral: &QuoteCollateralV3,
    now_ms: u64,
) -> Result<u64, AttestationError> {
    let tcb = issue_date_ms(&collateral.tcb_info, "TCB info")?;
    let qe = issue_date_ms(&collateral.qe_identity, "QE identity")?;
    Ok(now_ms.saturating_sub(tcb.min(qe)))
}

/// Verifies a DCAP quote of `kind` (SGX or TDX) with its SCALE-encoded collateral against
/// `policy` (whether the kind is allowed is checked by the caller): the signature chain and
/// collateral validity at `now_ms` (`dcap-qvl`), then the TCB status against the policy's
/// allowances and the collateral's age.
pub(crate) fn verify_quote(
    quote: &[u8],
    collateral: &[u8],
    policy: &VerifyPolicy,
    kind: AttestationType,
) -> Result<VerifiedReport, AttestationError> {
    let collateral = QuoteCollateralV3::decode_all(&mut &collateral[..])
        .map_err(|e| AttestationError::Malformed(format!("DCAP collateral: {e}")))?;
    let parsed = dcap_qvl::quote::Quote::parse(quote)
        .map_err(|e| AttestationError::Malformed(format!("DCAP quote: {e}")))?;
    // Refuse a quote of the other TEE before spending time on certificate chains.
    match (kind, parsed.header.is_sgx()) {
        (AttestationType::SgxDcap, false) => {
            return Err(AttestationError::NotSgx("the quote header names a TDX trust domain"))
        }
        (AttestationType::TdxDcap, true) => {
            return Err(AttestationError::NotTdx("the quote header names an SGX enclave"))
        }
        (AttestationType::Simulated, _) => {
            return Err(AttestationError::TypeNotAllowed(AttestationType::Simulated))
        }
        _ => {}
    }
    let now_ms = policy.now_ms;
    let report = dcap_qvl::verify::rustcrypto::verify(quote, &collateral, now_ms / 1000)
        .map_err(|e| AttestationError::Dcap(format!("{e:#}")))?;
    if report.ppid.is_empty() {
        return Err(AttestationError::Dcap("the PCK certificate carries no PPID".into()));
    }
    policy.dcap.check_tcb(&report.status, &report.advisory_ids)?;
    let age_ms = collateral_age_ms(&collateral, now_ms)?;
    if age_ms > policy.dcap.max_collateral_age_ms {
        return Err(AttestationError::CollateralTooOld {
            age_ms,
            max_ms: policy.dcap.max_collateral_age_ms,
        });
    }
    let (measurement, signer, report_data) = match kind {
        AttestationType::SgxDcap => {
            let enclave = report
                .report
                .as_sgx()
                .ok_or(AttestationError::NotSgx("the verified report is a TDX report"))?;
            (enclave.mr_enclave, enclave.mr_signer, enclave.report_data)
        }
        _ => {
            let td = report
                .report
                .as_td10()
                .ok_or(AttestationError::NotTdx("the verified report is an SGX report"))?;
            let owner = blake2_256(&(TDX_OWNER_DOMAIN, &td.mr_owner[..]).encode());
            let m = tdx_measurement(&td.mr_td, &td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3);
            (m, owner, td.report_data)
        }
    };
    Ok(VerifiedReport {
        kind,
        measurement,
        signer,
        report_data,
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
    //! next update). `sample/tdx_quote` with `sample/tdx_quote_collateral.json` is a genuine
    //! TDX quote from the same repository (see `testdata/README.md`).

    use super::*;
    use crate::attestation::{
        verify, Attestation, DcapPolicy, TcbAllowance, VerifyPolicy, DEFAULT_MAX_COLLATERAL_AGE_MS,
    };
    use proptest::prelude::*;

    const SGX_QUOTE: &[u8] = include_bytes!("../testdata/sgx_quote.bin");
    const SGX_COLLATERAL_JSON: &[u8] = include_bytes!("../testdata/sgx_quote_collateral.json");
    const TDX_QUOTE: &[u8] = include_bytes!("../testdata/tdx_quote.bin");
    const TDX_COLLATERAL_JSON: &[u8] = include_bytes!("../testdata/tdx_quote_collateral.json");
    /// 2025-07-01T00:00:00Z, inside the TDX collateral's window (2025-06-19T10:32:27Z to
    /// 2025-07-19T10:16:03Z).
    const TDX_INSIDE_WINDOW_MS: u64 = 1_751_328_000_000;
    /// MRTD and RTMR0..3 of the TDX sample, read from the quote body (v4 header 48 bytes,
    /// then TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8,
    /// XFAM 8: MRTD at 184, MRCONFIGID/MROWNER/MROWNERCONFIG after it, RTMR0 at 376).
    const TDX_MRTD_OFFSET: usize = 48 + 16 + 48 + 48 + 8 + 8 + 8;
    const TDX_RTMR0_OFFSET: usize = TDX_MRTD_OFFSET + 4 * 48;

    fn tdx_attestation(quote: &[u8]) -> Attestation {
        Attestation::TdxDcap {
            quote: quote.to_vec(),
            collateral: collateral_from_json(TDX_COLLATERAL_JSON).unwrap(),
        }
    }

    fn reg48(quote: &[u8], offset: usize) -> [u8; 48] {
        quote[offset..offset.saturating_add(48)].try_into().unwrap()
    }

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

    /// The sample's TCB status and advisories, as governance would list them.
    fn sample_allowance() -> TcbAllowance {
        TcbAllowance {
            status: "ConfigurationAndSWHardeningNeeded".into(),
            advisory_ids: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
        }
    }

    /// A policy accepting the SGX sample's TCB level (with its advisories) and TDX.
    fn policy(now_ms: u64) -> VerifyPolicy {
        VerifyPolicy {
            allow_simulated: false,
            simulated_roots: vec![],
            allow_dcap: true,
            allow_tdx: true,
            dcap: DcapPolicy {
                accepted_tcb: vec![sample_allowance()],
                max_collateral_age_ms: DEFAULT_MAX_COLLATERAL_AGE_MS,
            },
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
    fn tdx_quote_presented_as_sgx_is_refused_and_vice_versa() {
        assert_eq!(
            verify(&attestation(TDX_QUOTE), &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::NotSgx("the quote header names a TDX trust domain"))
        );
        let sgx_as_tdx = Attestation::TdxDcap {
            quote: SGX_QUOTE.to_vec(),
            collateral: collateral_from_json(SGX_COLLATERAL_JSON).unwrap(),
        };
        assert_eq!(
            verify(&sgx_as_tdx, &policy(INSIDE_WINDOW_MS)),
            Err(AttestationError::NotTdx("the quote header names an SGX enclave"))
        );
    }

    #[test]
    fn genuine_tdx_quote_verifies_with_the_documented_measurement() {
        let report = verify(&tdx_attestation(TDX_QUOTE), &policy(TDX_INSIDE_WINDOW_MS)).unwrap();
        assert_eq!(report.kind, AttestationType::TdxDcap);
        assert_eq!(report.tcb_status, "UpToDate");
        assert!(!report.insecure);
        // The documented formula, computed independently from the raw quote bytes.
        let mut pre = b"umbra/tdx-measurement/v1".to_vec();
        pre.extend_from_slice(&TDX_QUOTE[TDX_MRTD_OFFSET..TDX_MRTD_OFFSET + 48]);
        pre.extend_from_slice(&TDX_QUOTE[TDX_RTMR0_OFFSET..TDX_RTMR0_OFFSET + 4 * 48]);
        assert_eq!(report.measurement, blake2_256(&pre));
        assert_eq!(
            report.measurement,
            tdx_measurement(
                &reg48(TDX_QUOTE, TDX_MRTD_OFFSET),
                &reg48(TDX_QUOTE, TDX_RTMR0_OFFSET),
                &reg48(TDX_QUOTE, TDX_RTMR0_OFFSET + 48),
                &reg48(TDX_QUOTE, TDX_RTMR0_OFFSET + 96),
                &reg48(TDX_QUOTE, TDX_RTMR0_OFFSET + 144),
            )
        );
        // The report data is the TD's own 64 bytes (right after RTMR3).
        assert_eq!(&report.report_data[..], &TDX_QUOTE[TDX_RTMR0_OFFSET + 192..][..64]);
        // Each register changes the measurement.
        let zero = [0u8; 48];
        assert_ne!(report.measurement, tdx_measurement(&zero, &zero, &zero, &zero, &zero));
    }

    #[test]
    fn tdx_altered_byte_fails() {
        for offset in [TDX_MRTD_OFFSET + 3, TDX_RTMR0_OFFSET + 100, TDX_RTMR0_OFFSET + 192] {
            let mut quote = TDX_QUOTE.to_vec();
            quote[offset] ^= 0x01;
            let reason =
                dcap_error(verify(&tdx_attestation(&quote), &policy(TDX_INSIDE_WINDOW_MS)));
            assert!(reason.to_lowercase().contains("signature"), "{reason}");
        }
    }

    #[test]
    fn tdx_refused_when_policy_disallows_it() {
        let mut p = policy(TDX_INSIDE_WINDOW_MS);
        p.allow_tdx = false;
        assert_eq!(
            verify(&tdx_attestation(TDX_QUOTE), &p),
            Err(AttestationError::TypeNotAllowed(AttestationType::TdxDcap))
        );
    }

    #[test]
    fn tcb_status_needs_governance_listing_with_its_advisories() {
        // Default policy: UpToDate only; the sample's ConfigurationAndSWHardeningNeeded is refused.
        let mut p = policy(INSIDE_WINDOW_MS);
        p.dcap.accepted_tcb.clear();
        let refused = Err(AttestationError::TcbNotAccepted {
            status: "ConfigurationAndSWHardeningNeeded".into(),
            advisory_ids: vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()],
        });
        assert_eq!(verify(&attestation(SGX_QUOTE), &p), refused);
        // Listed with only one of its two advisories: still refused.
        p.dcap.accepted_tcb = vec![TcbAllowance {
            status: "ConfigurationAndSWHardeningNeeded".into(),
            advisory_ids: vec!["INTEL-SA-00289".into()],
        }];
        assert_eq!(verify(&attestation(SGX_QUOTE), &p), refused);
        // Another status listed with both advisories: refused.
        p.dcap.accepted_tcb = vec![TcbAllowance {
            status: "SWHardeningNeeded".into(),
            advisory_ids: sample_allowance().advisory_ids,
        }];
        assert_eq!(verify(&attestation(SGX_QUOTE), &p), refused);
        // Listed with both: accepted.
        p.dcap.accepted_tcb = vec![sample_allowance()];
        assert!(verify(&attestation(SGX_QUOTE), &p).is_ok());
        // The UpToDate TDX sample passes with an empty list.
        p.dcap.accepted_tcb.clear();
        p.now_ms = TDX_INSIDE_WINDOW_MS;
        assert!(verify(&tdx_attestation(TDX_QUOTE), &p).is_ok());
    }

    #[test]
    fn out_of_date_and_revoked_are_never_accepted() {
        let everything = DcapPolicy {
            accepted_tcb: NEVER_STATUSES
                .iter()
                .map(|s| TcbAllowance { status: (*s).into(), advisory_ids: vec![] })
                .collect(),
            max_collateral_age_ms: DEFAULT_MAX_COLLATERAL_AGE_MS,
        };
        for status in NEVER_STATUSES {
            assert!(matches!(
                everything.check_tcb(status, &[]),
                Err(AttestationError::TcbNotAccepted { .. })
            ));
        }
        assert_eq!(everything.check_tcb("UpToDate", &["INTEL-SA-1".into()]), Ok(()));
        let sw = DcapPolicy {
            accepted_tcb: vec![TcbAllowance {
                status: "SWHardeningNeeded".into(),
                advisory_ids: vec!["INTEL-SA-00615".into()],
            }],
            max_collateral_age_ms: 1,
        };
        assert_eq!(sw.check_tcb("SWHardeningNeeded", &["INTEL-SA-00615".into()]), Ok(()));
        assert!(sw.check_tcb("SWHardeningNeeded", &["INTEL-SA-00999".into()]).is_err());
        assert!(sw.check_tcb("ConfigurationNeeded", &[]).is_err());
    }

    const NEVER_STATUSES: [&str; 3] = crate::NEVER_ACCEPTED_TCB;

    #[test]
    fn collateral_older_than_the_maximum_is_refused() {
        let collateral: QuoteCollateralV3 = serde_json::from_slice(SGX_COLLATERAL_JSON).unwrap();
        // The age counts from the older of the TCB info and QE identity issue dates, which is
        // at or before the TCB info's (WINDOW_START_MS).
        let age = collateral_age_ms(&collateral, INSIDE_WINDOW_MS).unwrap();
        assert!(age >= INSIDE_WINDOW_MS - WINDOW_START_MS, "{age}");
        let mut p = policy(INSIDE_WINDOW_MS);
        p.dcap.max_collateral_age_ms = age;
        assert!(verify(&attestation(SGX_QUOTE), &p).is_ok());
        p.dcap.max_collateral_age_ms = age - 1;
        assert_eq!(
            verify(&attestation(SGX_QUOTE), &p),
            Err(AttestationError::CollateralTooOld { age_ms: age, max_ms: age - 1 })
        );
    }

    #[test]
    fn utc_dates_parse() {
        assert_eq!(parse_utc_secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc_secs("2025-06-19T10:56:11Z"), Some(WINDOW_START_MS / 1000));
        assert_eq!(parse_utc_secs("2025-07-19T10:01:18Z"), Some(WINDOW_END_MS / 1000));
        assert_eq!(parse_utc_secs("2000-02-29T12:00:00.5Z"), Some(951_825_600));
        assert_eq!(parse_utc_secs("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc_secs("garbage"), None);
    }

    #[test]
    fn reuse_key_covers_the_quote_not_the_collateral() {
        // Other valid collateral for the same quote: the PCK CRL issuer chain with a trailing
        // newline (PEM parsing ignores it). It verifies, its encoding differs, and the reuse
        // key is the same.
        let mut other: QuoteCollateralV3 = serde_json::from_slice(SGX_COLLATERAL_JSON).unwrap();
        other.pck_crl_issuer_chain.push('\n');
        let a = attestation(SGX_QUOTE);
        let b = Attestation::sgx_dcap(SGX_QUOTE.to_vec(), &other);
        assert_ne!(a, b);
        assert!(verify(&b, &policy(INSIDE_WINDOW_MS)).is_ok());
        assert_eq!(a.reuse_key(), b.reuse_key());
        let mut quote = SGX_QUOTE.to_vec();
        quote[10] ^= 1;
        assert_ne!(attestation(&quote).reuse_key(), a.reuse_key());
        // The kind is part of the key.
        let as_tdx = Attestation::TdxDcap { quote: SGX_QUOTE.to_vec(), collateral: vec![] };
        assert_ne!(as_tdx.reuse_key(), a.reuse_key());
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
