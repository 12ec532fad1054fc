//! The error types of this crate: [`TeeError`] for platform operations (quote, seal,
//! unseal) and [`AttestationError`] for attestation verification.

use crate::platform::AttestationType;

/// A failure of a [`Platform`](crate::Platform) operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeeError {
    /// The sealed blob is too short or not in the sealed-blob format this platform writes.
    #[error("malformed sealed blob: {0}")]
    MalformedSealedBlob(&'static str),
    /// Authenticated decryption of a sealed blob failed: the blob was modified, the label
    /// differs from the one it was sealed with, or it was sealed on another platform or by
    /// an enclave of another signer.
    #[error("unseal failed: blob tampered, wrong label, or sealed by another platform or signer")]
    UnsealFailed,
    /// The platform could not produce a quote (for hardware platforms: the quoting
    /// enclave or driver reported an error).
    #[error("quote generation failed: {0}")]
    QuoteFailed(String),
}

/// Why an [`Attestation`](crate::Attestation) was rejected by [`verify`](crate::verify).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The verification policy does not accept attestations of this type.
    #[error("attestation type {0:?} is not allowed by the verification policy")]
    TypeNotAllowed(AttestationType),
    /// The simulated platform certificate is issued by a root that is not in the policy's
    /// list of trusted simulated vendor roots.
    #[error("simulated platform certificate root {0} is not a trusted vendor root")]
    UnknownRoot(umbra_crypto::Public),
    /// The vendor root's signature over the simulated platform certificate does not verify.
    #[error("simulated platform certificate signature is invalid")]
    BadCertificate,
    /// The platform key's signature over the simulated quote does not verify.
    #[error("simulated quote signature is invalid")]
    BadQuoteSignature,
    /// The quote was produced longer ago than the policy's maximum age.
    #[error("quote is stale: produced {age_ms} ms ago, maximum age is {max_ms} ms")]
    Stale {
        /// How long ago the quote was produced, in milliseconds.
        age_ms: u64,
        /// The policy's maximum accepted age, in milliseconds.
        max_ms: u64,
    },
    /// The quote's timestamp lies further in the future than the allowed clock skew.
    #[error(
        "quote timestamp is {ahead_ms} ms in the future, allowed clock skew is {max_skew_ms} ms"
    )]
    FromFuture {
        /// How far ahead of the verifier's clock the quote's timestamp is, in milliseconds.
        ahead_ms: u64,
        /// The tolerated clock skew, in milliseconds.
        max_skew_ms: u64,
    },
    /// The SGX DCAP quote failed verification in `dcap-qvl` (certificate chain, CRLs,
    /// collateral validity at the verification time, QE identity, TCB level, quote
    /// signature or debug attribute); the text is `dcap-qvl`'s reason.
    #[error("SGX DCAP verification failed: {0}")]
    Dcap(String),
    /// The DCAP quote is a valid quote of another TEE (such as Intel TDX), not an SGX
    /// enclave quote.
    #[error("DCAP quote is not an SGX enclave quote: {0}")]
    NotSgx(&'static str),
    /// The DCAP quote is a valid SGX quote, not the TDX quote it was presented as.
    #[error("DCAP quote is not a TDX quote: {0}")]
    NotTdx(&'static str),
    /// The platform's TCB status is not accepted by the policy (out of date, revoked, or a
    /// status or advisory governance has not listed).
    #[error("TCB status {status} with advisories {advisory_ids:?} is not accepted")]
    TcbNotAccepted {
        /// The verified TCB status.
        status: String,
        /// The advisories the quote reported.
        advisory_ids: Vec<String>,
    },
    /// The DCAP collateral was issued longer ago than the policy allows.
    #[error("DCAP collateral is {age_ms} ms old, maximum is {max_ms} ms")]
    CollateralTooOld {
        /// Time since the older of the TCB info and QE identity issue dates.
        age_ms: u64,
        /// The policy's maximum.
        max_ms: u64,
    },
    /// The attestation or its collateral cannot be decoded, or its fields are inconsistent.
    #[error("malformed attestation: {0}")]
    Malformed(String),
}
