//! Umbra cryptography.
//!
//! Everything here wraps audited implementations; nothing is hand-rolled:
//!
//! * [`sr25519`]: account keys, signatures (Substrate-compatible, context `b"substrate"`),
//!   VRF and hierarchical derivation from mnemonics and secret URIs, via `schnorrkel`.
//! * [`ss58`]: Substrate SS58 address encoding.
//! * [`suri`]: parsing of Substrate secret URIs such as `//Alice` or `<phrase>//hard/soft///pw`.
//! * [`ecdh`]: X25519 key agreement, via `x25519-dalek`.
//! * [`aead`]: ChaCha20-Poly1305, via `ring`.
//! * [`kdf`]: HKDF-SHA256, via `hkdf`.
//! * [`sealed_box`]: ephemeral-static ECDH + AEAD for encrypting to a worker or contract key.
//! * [`hashing`]: BLAKE2b (128/256/512) and SHA-256.
//!
//! All fallible operations return [`CryptoError`].

pub mod aead;
pub mod ecdh;
pub mod error;
pub mod hashing;
pub mod kdf;
pub mod sealed_box;
pub mod sr25519;
pub mod ss58;
pub mod suri;

pub use ecdh::{EcdhPublic, EcdhSecret};
pub use error::CryptoError;
pub use hashing::{blake2_128, blake2_256, blake2_512, sha256};
pub use sealed_box::SealedBox;
pub use sr25519::{verify_batch, Pair, Public, Signature, VrfSignature};
