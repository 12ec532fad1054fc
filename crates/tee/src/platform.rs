//! The [`Platform`] trait: the one interface through which the enclave runtime uses its TEE.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::attestation::Attestation;
use crate::error::TeeError;

/// The code identity of an enclave: MRENCLAVE on SGX, the hash of MRTD and the RTMRs on TDX
/// ([`tdx_measurement`](crate::tdx_measurement)), a configured 32-byte value on the simulated
/// platform.
pub type Measurement = [u8; 32];

/// The kind of TEE that produced an attestation.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum AttestationType {
    /// The software-only simulated platform. Offers no hardware protection: development
    /// and tests only.
    Simulated,
    /// An Intel SGX enclave attested with a DCAP (ECDSA) quote.
    SgxDcap,
    /// An Intel TDX trust domain attested with a DCAP (ECDSA) quote; its measurement is
    /// [`tdx_measurement`](crate::tdx_measurement) of MRTD and the four RTMRs.
    TdxDcap,
}

/// The TEE services the enclave runtime needs: identity, attestation and sealing.
///
/// Implementations must be usable from any thread. Nothing here does I/O on behalf of the
/// caller beyond what the TEE itself requires.
pub trait Platform: Send + Sync {
    /// The kind of attestation [`Platform::quote`] produces.
    fn kind(&self) -> AttestationType;

    /// The code identity of the running enclave (MRENCLAVE on SGX).
    fn measurement(&self) -> Measurement;

    /// The identity of the enclave's signer (MRSIGNER on SGX).
    fn signer(&self) -> [u8; 32];

    /// A stable identifier of the physical (or simulated) platform the enclave runs on.
    fn platform_id(&self) -> [u8; 32];

    /// Produces an attestation binding `report_data` to this enclave's identity.
    ///
    /// `now_ms` is the caller's wall-clock time (Unix milliseconds); platforms whose
    /// quotes carry a timestamp use it.
    fn quote(&self, report_data: &[u8; 64], now_ms: u64) -> Result<Attestation, TeeError>;

    /// Encrypts `plaintext` so that only an enclave of the same signer on the same
    /// platform can recover it. `label` is authenticated (AEAD associated data) and must be
    /// given again to [`Platform::unseal`].
    ///
    /// The policy is signer-bound (like SGX MRSIGNER sealing): an upgraded enclave with a
    /// new measurement but the same signer can unseal what its predecessor sealed.
    fn seal(&self, label: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, TeeError>;

    /// Recovers the plaintext of a blob produced by [`Platform::seal`] with the same label.
    ///
    /// Fails for a modified blob, a different label, another platform or another signer.
    fn unseal(&self, label: &[u8], blob: &[u8]) -> Result<Vec<u8>, TeeError>;

    /// Whether the platform gives real hardware protection. False for the simulated
    /// platform.
    fn is_secure(&self) -> bool;
}
