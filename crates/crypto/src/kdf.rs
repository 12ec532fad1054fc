//! HKDF with SHA-256 (RFC 5869).

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::CryptoError;

/// Maximum HKDF-SHA256 output length: 255 blocks of 32 bytes.
pub const MAX_OUTPUT_LEN: usize = 255 * 32;

/// Derives a 32-byte key from input keying material, a salt and a context string.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// Derives `out.len()` bytes (1 to [`MAX_OUTPUT_LEN`]) into `out`.
pub fn hkdf_sha256_into(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if out.is_empty() {
        return Err(CryptoError::InvalidKdfLength(0));
    }
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::InvalidKdfLength(out.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    /// RFC 5869 appendix A.1.
    #[test]
    fn rfc5869_case_1() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = h("000102030405060708090a0b0c");
        let info = h("f0f1f2f3f4f5f6f7f8f9");
        let okm = h(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        );
        let mut out = [0u8; 42];
        hkdf_sha256_into(&ikm, &salt, &info, &mut out).expect("valid length");
        assert_eq!(out.to_vec(), okm);
        assert_eq!(hkdf_sha256(&ikm, &salt, &info).to_vec(), okm[..32].to_vec());
    }

    /// RFC 5869 appendix A.3 (empty salt and info).
    #[test]
    fn rfc5869_case_3() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let okm = h(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        );
        let mut out = [0u8; 42];
        hkdf_sha256_into(&ikm, &[], &[], &mut out).expect("valid length");
        assert_eq!(out.to_vec(), okm);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut empty = [0u8; 0];
        assert_eq!(
            hkdf_sha256_into(b"k", b"s", b"i", &mut empty),
            Err(CryptoError::InvalidKdfLength(0))
        );
        let mut too_long = vec![0u8; MAX_OUTPUT_LEN + 1];
        assert_eq!(
            hkdf_sha256_into(b"k", b"s", b"i", &mut too_long),
            Err(CryptoError::InvalidKdfLength(MAX_OUTPUT_LEN + 1))
        );
        let mut max = vec![0u8; MAX_OUTPUT_LEN];
        assert!(hkdf_sha256_into(b"k", b"s", b"i", &mut max).is_ok());
    }

    #[test]
    fn inputs_separate_outputs() {
        let base = hkdf_sha256(b"ikm", b"salt", b"info");
        assert_ne!(base, hkdf_sha256(b"ikm", b"salt", b"info2"));
        assert_ne!(base, hkdf_sha256(b"ikm", b"salt2", b"info"));
        assert_ne!(base, hkdf_sha256(b"ikm2", b"salt", b"info"));
    }
}
