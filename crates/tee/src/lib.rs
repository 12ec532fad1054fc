//! The Umbra TEE platform layer.
//!
//! The enclave runtime reaches its trusted execution environment only through the
//! [`Platform`] trait: its code identity ([`Platform::measurement`], [`Platform::signer`]),
//! attestation ([`Platform::quote`]) and sealed storage ([`Platform::seal`] /
//! [`Platform::unseal`], bound to the enclave signer and the platform).
//!
//! Two kinds of attestation exist:
//!
//! * [`SimulatedPlatform`]: a software platform whose quotes are signed by a per-host
//!   platform key certified by a configurable vendor root. The default for development and
//!   tests. **It is insecure** ([`Platform::is_secure`] is false, and every
//!   [`VerifiedReport`] from it has `insecure: true`); log [`INSECURE_WARNING`] when using it.
//! * Intel SGX and TDX DCAP quotes, verified offline with the `dcap-qvl` crate against
//!   Intel's root CA and the collateral carried in the [`Attestation`], then held to a
//!   [`DcapPolicy`] (accepted TCB statuses and advisories, maximum collateral age).
//!
//! [`verify`] checks either kind against a [`VerifyPolicy`]. It is deterministic and does
//! no I/O (the time is part of the policy), so the chain runtime and enclaves can both use
//! it and agree.

pub mod attestation;
pub mod dcap;
pub mod error;
pub mod platform;
pub mod simulated;

pub use attestation::{
    verify, Attestation, DcapPolicy, TcbAllowance, VerifiedReport, VerifyPolicy,
    DEFAULT_MAX_COLLATERAL_AGE_MS, DEFAULT_MAX_QUOTE_AGE_MS, MAX_CLOCK_SKEW_MS, NEVER_ACCEPTED_TCB,
};
pub use dcap::{
    collateral_age_ms, collateral_from_json, sgx_platform_id, tdx_measurement, QuoteCollateralV3,
    TDX_MEASUREMENT_DOMAIN,
};
pub use error::{AttestationError, TeeError};
pub use platform::{AttestationType, Measurement, Platform};
pub use simulated::{
    dev_vendor_root, simulated_platform_id, PlatformCertificate, SimulatedPlatform, SimulatedQuote,
    CERT_DOMAIN, DEV_VENDOR_ROOT_URI, INSECURE_WARNING, QUOTE_DOMAIN,
};
