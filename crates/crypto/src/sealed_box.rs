//! Sealed boxes: anonymous public-key encryption to an X25519 key.
//!
//! The sender makes an ephemeral X25519 key, agrees a shared secret with the recipient's
//! static key and derives the symmetric key
//! `HKDF-SHA256(ikm = shared, salt = ephemeral_pub ‖ recipient_pub, info = "umbra-sealed-box-v1")`.
//! The plaintext is encrypted with ChaCha20-Poly1305 under a fresh random nonce. Both sides
//! learn the symmetric key, so a reply can be encrypted back to the sender with
//! [`crate::aead`] without a second key exchange.

use parity_scale_codec::{Decode, Encode};
use zeroize::Zeroizing;

use crate::aead;
use crate::ecdh::{EcdhPublic, EcdhSecret};
use crate::error::CryptoError;
use crate::kdf::hkdf_sha256;

/// HKDF `info` string binding keys to this construction and version.
pub const SEALED_BOX_INFO: &[u8] = b"umbra-sealed-box-v1";

/// A message encrypted to an X25519 public key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SealedBox {
    /// The sender's one-time X25519 public key.
    pub ephemeral: EcdhPublic,
    /// The ChaCha20-Poly1305 nonce.
    pub nonce: [u8; 12],
    /// `ciphertext ‖ tag`.
    pub ciphertext: Vec<u8>,
}

fn derive_key(shared: &[u8; 32], ephemeral: &EcdhPublic, recipient: &EcdhPublic) -> [u8; 32] {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(&ephemeral.0);
    salt[32..].copy_from_slice(&recipient.0);
    hkdf_sha256(shared, &salt, SEALED_BOX_INFO)
}

impl SealedBox {
    /// Encrypts `plaintext` (authenticating `aad`) to `recipient`.
    ///
    /// Returns the box and the symmetric key it was sealed with, so the sender can decrypt
    /// a reply. Fails with [`CryptoError::LowOrderPoint`] if `recipient` is a low-order point.
    pub fn seal(
        recipient: &EcdhPublic,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(SealedBox, [u8; 32]), CryptoError> {
        let ephemeral_secret = EcdhSecret::generate();
        let ephemeral = ephemeral_secret.public();
        let shared = Zeroizing::new(ephemeral_secret.agree(recipient)?);
        let key = derive_key(&shared, &ephemeral, recipient);
        let nonce = aead::random_nonce();
        let ciphertext = aead::encrypt(&key, &nonce, aad, plaintext);
        Ok((SealedBox { ephemeral, nonce, ciphertext }, key))
    }

    /// Encrypts `plaintext` (authenticating `aad`) to `recipient` from the sender's *static*
    /// X25519 key `sender` instead of a fresh ephemeral one: the box is the same
    /// ([`SealedBox::ephemeral`] holds the sender's public key) and opens with
    /// [`SealedBox::open`] as any box, but a recipient that keeps the agreed key per sender key
    /// ([`SealedBox::open_with_key`]) opens the sender's later boxes without a key agreement.
    ///
    /// Every box of one (sender, recipient) pair is encrypted under the same symmetric key with
    /// a fresh random 96-bit nonce, so a sender key must not seal more than 2^32 boxes to one
    /// recipient (the usual bound for random ChaCha20-Poly1305 nonces).
    /// Fails with [`CryptoError::LowOrderPoint`] if `recipient` is a low-order point.
    pub fn seal_from(
        sender: &EcdhSecret,
        recipient: &EcdhPublic,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(SealedBox, [u8; 32]), CryptoError> {
        let ephemeral = sender.public();
        let shared = Zeroizing::new(sender.agree(recipient)?);
        let key = derive_key(&shared, &ephemeral, recipient);
        let nonce = aead::random_nonce();
        let ciphertext = aead::encrypt(&key, &nonce, aad, plaintext);
        Ok((SealedBox { ephemeral, nonce, ciphertext }, key))
    }

    /// The symmetric key of boxes from the sender key `sender` to `recipient` (what
    /// [`SealedBox::open`] derives): `HKDF(X25519(recipient, sender), sender ‖ recipient_pub)`.
    ///
    /// Fails with [`CryptoError::LowOrderPoint`] for a low-order `sender`.
    pub fn agreed_key(
        recipient: &EcdhSecret,
        sender: &EcdhPublic,
    ) -> Result<[u8; 32], CryptoError> {
        let shared = Zeroizing::new(recipient.agree(sender)?);
        Ok(derive_key(&shared, sender, &recipient.public()))
    }

    /// Decrypts the box with its symmetric key (from [`SealedBox::agreed_key`] for
    /// [`SealedBox::ephemeral`]), checking `aad`; no key agreement.
    ///
    /// Fails with [`CryptoError::DecryptionFailed`] for another key, wrong `aad` or any
    /// tampering.
    pub fn open_with_key(&self, key: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::decrypt(key, &self.nonce, aad, &self.ciphertext)
    }

    /// Decrypts the box with the recipient's secret, checking `aad`.
    ///
    /// Returns the plaintext and the symmetric key (to encrypt a reply). Fails with
    /// [`CryptoError::DecryptionFailed`] for the wrong recipient, wrong `aad` or any
    /// tampering, and [`CryptoError::LowOrderPoint`] for a malicious ephemeral key.
    pub fn open(
        &self,
        recipient: &EcdhSecret,
        aad: &[u8],
    ) -> Result<(Vec<u8>, [u8; 32]), CryptoError> {
        let shared = Zeroizing::new(recipient.agree(&self.ephemeral)?);
        let key = derive_key(&shared, &self.ephemeral, &recipient.public());
        let plaintext = aead::decrypt(&key, &self.nonce, aad, &self.ciphertext)?;
        Ok((plaintext, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_shared_key() {
        let worker = EcdhSecret::generate();
        let (sealed, key) = SealedBox::seal(&worker.public(), b"query", b"balance of alice")
            .expect("valid recipient");
        let (plaintext, opened_key) = sealed.open(&worker, b"query").expect("authentic");
        assert_eq!(plaintext, b"balance of alice");
        assert_eq!(opened_key, key);
        // The key is usable for a reply in the other direction.
        let nonce = aead::random_nonce();
        let reply = aead::encrypt(&opened_key, &nonce, b"reply", b"42");
        assert_eq!(aead::decrypt(&key, &nonce, b"reply", &reply), Ok(b"42".to_vec()));
    }

    #[test]
    fn key_derivation_is_as_specified() {
        let worker = EcdhSecret::from_bytes([3u8; 32]);
        let (sealed, key) = SealedBox::seal(&worker.public(), b"", b"x").expect("valid");
        let shared = worker.agree(&sealed.ephemeral).expect("valid");
        let mut salt = sealed.ephemeral.0.to_vec();
        salt.extend_from_slice(&worker.public().0);
        assert_eq!(key, hkdf_sha256(&shared, &salt, b"umbra-sealed-box-v1"));
        assert_eq!(aead::decrypt(&key, &sealed.nonce, b"", &sealed.ciphertext), Ok(b"x".to_vec()));
    }

    #[test]
    fn wrong_recipient_fails() {
        let worker = EcdhSecret::generate();
        let (sealed, _) = SealedBox::seal(&worker.public(), b"", b"secret").expect("valid");
        let other = EcdhSecret::generate();
        assert_eq!(sealed.open(&other, b""), Err(CryptoError::DecryptionFailed));
    }

    #[test]
    fn tampering_fails() {
        let worker = EcdhSecret::generate();
        let (sealed, _) = SealedBox::seal(&worker.public(), b"aad", b"secret").expect("valid");

        let mut bad = sealed.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(bad.open(&worker, b"aad"), Err(CryptoError::DecryptionFailed));

        let mut bad = sealed.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert_eq!(bad.open(&worker, b"aad"), Err(CryptoError::DecryptionFailed));

        let mut bad = sealed.clone();
        bad.nonce[0] ^= 1;
        assert_eq!(bad.open(&worker, b"aad"), Err(CryptoError::DecryptionFailed));

        let mut bad = sealed.clone();
        bad.ephemeral = EcdhSecret::generate().public();
        assert_eq!(bad.open(&worker, b"aad"), Err(CryptoError::DecryptionFailed));

        let mut bad = sealed.clone();
        bad.ciphertext.truncate(3);
        assert_eq!(bad.open(&worker, b"aad"), Err(CryptoError::DecryptionFailed));

        assert_eq!(sealed.open(&worker, b"aaD"), Err(CryptoError::DecryptionFailed));
        assert_eq!(sealed.open(&worker, b""), Err(CryptoError::DecryptionFailed));
        assert!(sealed.open(&worker, b"aad").is_ok());
    }

    #[test]
    fn low_order_keys_rejected() {
        let worker = EcdhSecret::generate();
        assert_eq!(
            SealedBox::seal(&EcdhPublic([0u8; 32]), b"", b"x").map(|_| ()),
            Err(CryptoError::LowOrderPoint)
        );
        let (mut sealed, _) = SealedBox::seal(&worker.public(), b"", b"x").expect("valid");
        sealed.ephemeral = EcdhPublic([0u8; 32]);
        assert_eq!(sealed.open(&worker, b""), Err(CryptoError::LowOrderPoint));
    }

    #[test]
    fn boxes_from_a_static_sender_key_share_one_agreed_key() {
        let worker = EcdhSecret::generate();
        let sender = EcdhSecret::generate();
        let (a, ka) = SealedBox::seal_from(&sender, &worker.public(), b"aad", b"one").unwrap();
        let (b, kb) = SealedBox::seal_from(&sender, &worker.public(), b"aad", b"two").unwrap();
        assert_eq!(a.ephemeral, sender.public());
        assert_eq!(ka, kb);
        assert_ne!(a.nonce, b.nonce);
        // An ordinary open works, and so does the cached key.
        assert_eq!(a.open(&worker, b"aad"), Ok((b"one".to_vec(), ka)));
        let key = SealedBox::agreed_key(&worker, &sender.public()).unwrap();
        assert_eq!(key, ka);
        assert_eq!(b.open_with_key(&key, b"aad"), Ok(b"two".to_vec()));
        // The key of another sender, another aad or a tampered box do not open it.
        let other = SealedBox::agreed_key(&worker, &EcdhSecret::generate().public()).unwrap();
        assert_eq!(b.open_with_key(&other, b"aad"), Err(CryptoError::DecryptionFailed));
        assert_eq!(b.open_with_key(&key, b"aaD"), Err(CryptoError::DecryptionFailed));
        let mut bad = b.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(bad.open_with_key(&key, b"aad"), Err(CryptoError::DecryptionFailed));
        assert_eq!(
            SealedBox::agreed_key(&worker, &EcdhPublic([0u8; 32])),
            Err(CryptoError::LowOrderPoint)
        );
    }

    #[test]
    fn seals_are_randomised() {
        let worker = EcdhSecret::generate();
        let (a, ka) = SealedBox::seal(&worker.public(), b"", b"same").expect("valid");
        let (b, kb) = SealedBox::seal(&worker.public(), b"", b"same").expect("valid");
        assert_ne!(a.ephemeral, b.ephemeral);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(ka, kb);
    }

    proptest! {
        #[test]
        fn scale_round_trip(
            ephemeral in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            ciphertext in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let sealed = SealedBox { ephemeral: EcdhPublic(ephemeral), nonce, ciphertext };
            let encoded = sealed.encode();
            prop_assert_eq!(SealedBox::decode(&mut &encoded[..]), Ok(sealed));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn seal_open_round_trip(
            aad in proptest::collection::vec(any::<u8>(), 0..32),
            msg in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let worker = EcdhSecret::generate();
            let (sealed, key) = SealedBox::seal(&worker.public(), &aad, &msg).expect("valid");
            let decoded = SealedBox::decode(&mut &sealed.encode()[..]).expect("valid encoding");
            prop_assert_eq!(decoded.open(&worker, &aad), Ok((msg, key)));
        }
    }
}
