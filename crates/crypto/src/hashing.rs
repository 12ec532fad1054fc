//! Hash functions: BLAKE2b at several output sizes (as used by Substrate) and SHA-256.
//!
//! The BLAKE2b variants are parameterised by output length (BLAKE2b-256 is *not* a
//! truncated BLAKE2b-512), matching `sp_crypto_hashing`.

use blake2::digest::consts::{U16, U32, U64};
use blake2::{Blake2b, Digest};
use sha2::Sha256;

/// BLAKE2b with a 32-byte output (Substrate's `blake2_256`).
pub fn blake2_256(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

/// BLAKE2b with a 16-byte output (Substrate's `blake2_128`).
pub fn blake2_128(data: &[u8]) -> [u8; 16] {
    Blake2b::<U16>::digest(data).into()
}

/// BLAKE2b with a 64-byte output (Substrate's `blake2_512`).
pub fn blake2_512(data: &[u8]) -> [u8; 64] {
    Blake2b::<U64>::digest(data).into()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    #[test]
    fn blake2_256_vectors() {
        assert_eq!(
            blake2_256(b"").to_vec(),
            h("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        );
        assert_eq!(
            blake2_256(b"abc").to_vec(),
            h("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        );
    }

    #[test]
    fn blake2_128_vectors() {
        assert_eq!(blake2_128(b"").to_vec(), h("cae66941d9efbd404e4d88758ea67670"));
        assert_eq!(blake2_128(b"abc").to_vec(), h("cf4ab791c62b8d2b2109c90275287816"));
    }

    #[test]
    fn blake2_512_vectors() {
        // RFC 7693 Appendix A.
        assert_eq!(
            blake2_512(b"abc").to_vec(),
            h("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
               7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        );
    }

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            sha256(b"").to_vec(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            sha256(b"abc").to_vec(),
            h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn blake2_256_is_not_truncated_512() {
        assert_ne!(blake2_256(b"umbra")[..], blake2_512(b"umbra")[..32]);
    }
}
