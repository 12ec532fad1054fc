//! X25519 Diffie-Hellman with static (long-lived) secrets.

use core::fmt;

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use rand_core::OsRng;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::CryptoError;

/// An X25519 secret key. Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct EcdhSecret(StaticSecret);

/// An X25519 public key (Montgomery u-coordinate).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, MaxEncodedLen, Debug)]
pub struct EcdhPublic(pub [u8; 32]);

impl EcdhSecret {
    /// Generates a secret from OS randomness.
    pub fn generate() -> EcdhSecret {
        EcdhSecret(StaticSecret::random_from_rng(OsRng))
    }

    /// Wraps 32 secret bytes (clamping is applied at use, as in RFC 7748).
    pub fn from_bytes(bytes: [u8; 32]) -> EcdhSecret {
        EcdhSecret(StaticSecret::from(bytes))
    }

    /// The 32 secret bytes, for sealed storage. Treat the result as secret.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> EcdhPublic {
        EcdhPublic(PublicKey::from(&self.0).to_bytes())
    }

    /// Computes the shared secret with `their` public key.
    ///
    /// Fails with [`CryptoError::LowOrderPoint`] if the result is all zeros, which happens
    /// exactly when `their` is a low-order point (an attacker forcing a known key).
    pub fn agree(&self, their: &EcdhPublic) -> Result<[u8; 32], CryptoError> {
        let shared = self.0.diffie_hellman(&PublicKey::from(their.0));
        if !shared.was_contributory() {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(shared.to_bytes())
    }
}

impl fmt::Debug for EcdhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcdhSecret").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl EcdhPublic {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for EcdhPublic {
    fn from(bytes: [u8; 32]) -> Self {
        EcdhPublic(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(s: &str) -> [u8; 32] {
        let mut a = [0u8; 32];
        hex::decode_to_slice(s, &mut a).expect("test vector hex");
        a
    }

    #[test]
    fn rfc7748_section_6_1_vector() {
        let alice = EcdhSecret::from_bytes(arr(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = EcdhSecret::from_bytes(arr(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            alice.public().0,
            arr("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            bob.public().0,
            arr("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = arr("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(alice.agree(&bob.public()), Ok(shared));
        assert_eq!(bob.agree(&alice.public()), Ok(shared));
    }

    #[test]
    fn random_secrets_agree() {
        let a = EcdhSecret::generate();
        let b = EcdhSecret::generate();
        assert_eq!(a.agree(&b.public()).expect("ok"), b.agree(&a.public()).expect("ok"));
        assert_ne!(a.public(), b.public());
    }

    #[test]
    fn rejects_low_order_points() {
        let a = EcdhSecret::generate();
        // The identity (u = 0) and the order-2 point (u = 1).
        assert_eq!(a.agree(&EcdhPublic([0u8; 32])), Err(CryptoError::LowOrderPoint));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(a.agree(&EcdhPublic(one)), Err(CryptoError::LowOrderPoint));
        // An order-8 point (from the curve25519 low-order list).
        let order8 = arr("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
        assert_eq!(a.agree(&EcdhPublic(order8)), Err(CryptoError::LowOrderPoint));
    }

    #[test]
    fn bytes_round_trip_and_debug_hides_secret() {
        let a = EcdhSecret::generate();
        let b = EcdhSecret::from_bytes(a.to_bytes());
        assert_eq!(a.public(), b.public());
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(&format!("{:?}", a.to_bytes())), "{dbg}");
        assert!(dbg.contains("EcdhSecret"), "{dbg}");
    }
}
