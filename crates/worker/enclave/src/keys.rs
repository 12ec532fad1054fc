//! The enclave's keys, generated inside and sealed to the platform.

use parity_scale_codec::{Decode, Encode};
use rand::RngCore;
use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::H256;
use umbra_tee::Platform;

use crate::error::{EnclaveError, Result};

/// Seal label of the identity blob.
pub const IDENTITY_LABEL: &[u8] = b"umbra/enclave/identity/v1";

/// The worker's keys.
#[derive(Clone)]
pub struct WorkerKeys {
    /// Identity (sr25519): signs egress, benchmark and query replies; registered on chain.
    pub identity: Pair,
    /// ECDH (x25519): clients and gatekeepers encrypt to it.
    pub ecdh: EcdhSecret,
    /// The chain these keys serve.
    pub genesis_hash: H256,
}

impl std::fmt::Debug for WorkerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerKeys").field("identity", &self.identity.public()).finish()
    }
}

#[derive(Encode, Decode)]
struct SealedKeys {
    genesis_hash: H256,
    identity_secret: [u8; 64],
    ecdh_secret: [u8; 32],
    /// Master keys by rotation (gatekeepers only).
    master: Vec<(u32, [u8; 32])>,
}

/// Master keys by rotation.
pub type MasterKeys = std::collections::BTreeMap<u32, [u8; 32]>;

impl WorkerKeys {
    /// Fresh keys from the platform's randomness.
    pub fn generate(genesis_hash: H256) -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let identity = Pair::from_seed(&seed);
        WorkerKeys { identity, ecdh: EcdhSecret::generate(), genesis_hash }
    }

    /// Seals the keys (and a gatekeeper's master keys) to the platform.
    pub fn seal(&self, platform: &dyn Platform, master: &MasterKeys) -> Result<Vec<u8>> {
        let plain = SealedKeys {
            genesis_hash: self.genesis_hash,
            identity_secret: self.identity.to_secret_bytes(),
            ecdh_secret: self.ecdh.to_bytes(),
            master: master.iter().map(|(r, k)| (*r, *k)).collect(),
        };
        platform
            .seal(IDENTITY_LABEL, &plain.encode())
            .map_err(|e| EnclaveError::Platform(e.to_string()))
    }

    /// Unseals keys (and master keys); refuses keys of another chain.
    pub fn unseal(
        platform: &dyn Platform,
        blob: &[u8],
        genesis_hash: H256,
    ) -> Result<(Self, MasterKeys)> {
        let plain = platform
            .unseal(IDENTITY_LABEL, blob)
            .map_err(|e| EnclaveError::Unseal { what: "identity", reason: e.to_string() })?;
        let sealed: SealedKeys = crate::error::decode("sealed identity", &plain)?;
        if sealed.genesis_hash != genesis_hash {
            return Err(EnclaveError::ForeignSealedData { what: "identity" });
        }
        let identity = Pair::from_secret_bytes(&sealed.identity_secret)
            .map_err(|e| EnclaveError::Unseal { what: "identity", reason: e.to_string() })?;
        let master = sealed.master.into_iter().collect();
        Ok((
            WorkerKeys { identity, ecdh: EcdhSecret::from_bytes(sealed.ecdh_secret), genesis_hash },
            master,
        ))
    }
}
