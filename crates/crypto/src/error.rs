//! The single error type of this crate.

/// Every failure reported by `umbra-crypto`.
///
/// Variants carry only public, non-secret context so they can be logged safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text is not valid base58 (Bitcoin alphabet).
    #[error("invalid base58 encoding")]
    InvalidBase58,
    /// The decoded SS58 payload does not have the length of a 32-byte account address.
    #[error("invalid SS58 length: decoded {actual} bytes, expected {expected}")]
    Ss58BadLength {
        /// The number of bytes an address with this prefix must decode to.
        expected: usize,
        /// The number of bytes actually decoded.
        actual: usize,
    },
    /// The first byte of the SS58 payload is not a valid prefix marker (must be below 128).
    #[error("invalid SS58 prefix byte {0:#04x}")]
    Ss58InvalidPrefix(u8),
    /// The SS58 prefix is reserved (46 and 47) and must not be used for addresses.
    #[error("SS58 prefix {0} is reserved")]
    Ss58ReservedPrefix(u16),
    /// The SS58 checksum does not match the payload.
    #[error("SS58 checksum mismatch")]
    Ss58BadChecksum,
    /// The text is not valid hex of the expected length.
    #[error("invalid hex: {0}")]
    InvalidHex(String),
    /// The bytes are not a valid (canonical Ristretto) sr25519 public key.
    #[error("invalid sr25519 public key")]
    InvalidPublicKey,
    /// The bytes are not a valid sr25519 secret key.
    #[error("invalid sr25519 secret key")]
    InvalidSecretKey,
    /// The mnemonic phrase is not a valid English BIP-39 phrase (word, count or checksum).
    #[error("invalid BIP-39 mnemonic phrase")]
    InvalidPhrase,
    /// The hex seed of a secret URI is not exactly 32 bytes of hex.
    #[error("invalid seed: expected 0x followed by 64 hex characters")]
    InvalidSeed,
    /// The secret URI does not match `[phrase|0xseed][//hard|/soft...][///password]`.
    #[error("invalid secret URI: {0}")]
    InvalidSuri(&'static str),
    /// The VRF pre-output or proof is malformed or does not verify.
    #[error("VRF verification failed")]
    VrfVerificationFailed,
    /// The Diffie-Hellman result is all zeros: the peer sent a low-order point.
    #[error("non-contributory (low-order) x25519 public key")]
    LowOrderPoint,
    /// Authenticated decryption failed: wrong key, nonce or associated data, or tampered ciphertext.
    #[error("AEAD decryption failed")]
    DecryptionFailed,
    /// The requested HKDF output length is zero or exceeds 255 * 32 bytes.
    #[error("invalid HKDF output length {0}")]
    InvalidKdfLength(usize),
}
