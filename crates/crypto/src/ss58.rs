//! SS58 address encoding, as specified by Substrate for 32-byte account ids.
//!
//! Layout: `base58(prefix_bytes ++ account ++ checksum)` where `checksum` is the first two
//! bytes of `blake2b-512("SS58PRE" ++ prefix_bytes ++ account)`. Prefixes `0..=63` take one
//! byte; prefixes `64..=16383` take two bytes in Substrate's packed form.

use crate::error::CryptoError;
use crate::hashing::blake2_512;

/// The generic Substrate prefix (42), used by Umbra addresses.
pub const DEFAULT_PREFIX: u16 = 42;

/// The largest prefix that SS58 can represent (14 bits).
pub const MAX_PREFIX: u16 = 0b0011_1111_1111_1111;

const CHECKSUM_LEN: usize = 2;
const ACCOUNT_LEN: usize = 32;
const CHECKSUM_PREFIX: &[u8] = b"SS58PRE";

fn checksum(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut preimage = Vec::with_capacity(CHECKSUM_PREFIX.len() + data.len());
    preimage.extend_from_slice(CHECKSUM_PREFIX);
    preimage.extend_from_slice(data);
    let hash = blake2_512(&preimage);
    [hash[0], hash[1]]
}

/// Returns true for prefixes that SS58 reserves and that are rejected on decode (46 and 47).
pub fn is_reserved(prefix: u16) -> bool {
    matches!(prefix, 46 | 47)
}

/// Encodes a 32-byte account id as an SS58 address with the given prefix.
///
/// As in Substrate, the prefix is masked to 14 bits (`prefix & MAX_PREFIX`), so values
/// above [`MAX_PREFIX`] wrap around; callers should pass a valid prefix.
pub fn encode(prefix: u16, account: &[u8; 32]) -> String {
    let ident = prefix & MAX_PREFIX;
    let mut data = Vec::with_capacity(2 + ACCOUNT_LEN + CHECKSUM_LEN);
    match ident {
        0..=63 => data.push(ident as u8),
        _ => {
            // Substrate's two-byte form: lower six bits of the low byte's upper part go first,
            // marked with 0b01 in the top bits; the second byte carries the high bits.
            let first = ((ident & 0b0000_0000_1111_1100) >> 2) as u8 | 0b0100_0000;
            let second = (ident >> 8) as u8 | ((ident & 0b0000_0000_0000_0011) << 6) as u8;
            data.push(first);
            data.push(second);
        }
    }
    data.extend_from_slice(account);
    let check = checksum(&data);
    data.extend_from_slice(&check);
    bs58::encode(data).into_string()
}

/// Decodes an SS58 address into its prefix and 32-byte account id.
///
/// Rejects invalid base58, wrong lengths, an invalid prefix marker, the reserved prefixes
/// 46 and 47, and a bad checksum.
pub fn decode(address: &str) -> Result<(u16, [u8; 32]), CryptoError> {
    let data = bs58::decode(address).into_vec().map_err(|_| CryptoError::InvalidBase58)?;
    let first = *data.first().ok_or(CryptoError::Ss58BadLength {
        expected: 1 + ACCOUNT_LEN + CHECKSUM_LEN,
        actual: 0,
    })?;
    let (prefix_len, ident) = match first {
        0..=63 => (1usize, u16::from(first)),
        64..=127 => {
            let second = *data.get(1).ok_or(CryptoError::Ss58BadLength {
                expected: 2 + ACCOUNT_LEN + CHECKSUM_LEN,
                actual: data.len(),
            })?;
            let lower = (first << 2) | (second >> 6);
            let upper = second & 0b0011_1111;
            (2usize, u16::from(lower) | (u16::from(upper) << 8))
        }
        _ => return Err(CryptoError::Ss58InvalidPrefix(first)),
    };
    let expected = prefix_len + ACCOUNT_LEN + CHECKSUM_LEN;
    if data.len() != expected {
        return Err(CryptoError::Ss58BadLength { expected, actual: data.len() });
    }
    if is_reserved(ident) {
        return Err(CryptoError::Ss58ReservedPrefix(ident));
    }
    let body_end = prefix_len + ACCOUNT_LEN;
    if checksum(&data[..body_end]) != data[body_end..] {
        return Err(CryptoError::Ss58BadChecksum);
    }
    let mut account = [0u8; ACCOUNT_LEN];
    account.copy_from_slice(&data[prefix_len..body_end]);
    Ok((ident, account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALICE: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

    fn alice() -> [u8; 32] {
        let mut a = [0u8; 32];
        hex::decode_to_slice(ALICE, &mut a).expect("test vector hex");
        a
    }

    #[test]
    fn known_single_byte_prefix_vectors() {
        let a = alice();
        assert_eq!(encode(42, &a), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(encode(0, &a), "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5");
        assert_eq!(encode(2, &a), "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F");
        assert_eq!(decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"), Ok((42, a)));
        assert_eq!(decode("15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"), Ok((0, a)));
    }

    #[test]
    fn known_two_byte_prefix_vectors() {
        // //Alice under two-byte prefixes, cross-checked with polkascan's py-scale-codec.
        let a = alice();
        let vectors = [
            (64, "cEaNSpz4PxFcZ7nT1VEKrKewH67rfx6MfcM6yKojyyPz7qaqp"),
            (255, "yGHXkYLYqxijLKKfd9Q2CB9shRVu8rPNBS53wvwGTutYg4zTg"),
            (1284, "VdvKmYJfD4VXA9fzz1SbmCo2eYHSzUFbaDCZSuaNKJAe8YNg6"),
            (5234, "hmsGT9XUdV5px2o6jwb2LDKHaAYKWgDsf12wkNgbUtkeE3i7a"),
            (16383, "yNa8JpqfFB3q8A29rCwSgxvdU94ufJw2yKKxDgznS5m1PoFvn"),
        ];
        for (prefix, address) in vectors {
            assert_eq!(encode(prefix, &a), address, "prefix {prefix}");
            assert_eq!(decode(address), Ok((prefix, a)), "prefix {prefix}");
        }
    }

    #[test]
    fn two_byte_prefix_layout() {
        let a = alice();
        // Prefix 64 is the first that needs two bytes: 0b01_000000 then 0b00_000000 | 0 << 8.
        let raw = bs58::decode(encode(64, &a)).into_vec().expect("valid base58");
        assert_eq!(raw.len(), 36);
        assert_eq!(&raw[..2], &[0b0101_0000, 0b0000_0000]);
        // Prefix 16383 = all 14 bits set.
        let raw = bs58::decode(encode(16383, &a)).into_vec().expect("valid base58");
        assert_eq!(&raw[..2], &[0b0111_1111, 0b1111_1111]);
        assert_eq!(decode(&encode(16383, &a)), Ok((16383, a)));
        // Prefix 1284 (Moonbeam-style): low = 0x04, high = 0x05.
        let raw = bs58::decode(encode(1284, &a)).into_vec().expect("valid base58");
        assert_eq!(&raw[..2], &[0b0100_0001, 0b0000_0101]);
        assert_eq!(decode(&encode(1284, &a)), Ok((1284, a)));
    }

    #[test]
    fn rejects_bad_checksum() {
        let mut raw = bs58::decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
            .into_vec()
            .expect("valid base58");
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        let tampered = bs58::encode(&raw).into_string();
        assert_eq!(decode(&tampered), Err(CryptoError::Ss58BadChecksum));
        // Flipping an account byte also breaks the checksum.
        raw[last] ^= 0x01;
        raw[5] ^= 0x80;
        assert_eq!(decode(&bs58::encode(&raw).into_string()), Err(CryptoError::Ss58BadChecksum));
    }

    #[test]
    fn rejects_bad_length() {
        let mut raw = bs58::decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
            .into_vec()
            .expect("valid base58");
        raw.pop();
        assert_eq!(
            decode(&bs58::encode(&raw).into_string()),
            Err(CryptoError::Ss58BadLength { expected: 35, actual: 34 })
        );
        raw.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode(&bs58::encode(&raw).into_string()),
            Err(CryptoError::Ss58BadLength { expected: 35, actual: 36 })
        );
        assert_eq!(decode(""), Err(CryptoError::Ss58BadLength { expected: 35, actual: 0 }));
        let msg = decode("5Grw").unwrap_err().to_string();
        assert!(msg.contains("length"), "{msg}");
    }

    #[test]
    fn rejects_invalid_base58_and_prefix_marker() {
        // '0', 'O', 'I', 'l' are not in the base58 alphabet.
        assert_eq!(
            decode("0GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            Err(CryptoError::InvalidBase58)
        );
        let mut raw = vec![0x80u8];
        raw.extend_from_slice(&[0u8; 34]);
        assert_eq!(
            decode(&bs58::encode(&raw).into_string()),
            Err(CryptoError::Ss58InvalidPrefix(0x80))
        );
    }

    #[test]
    fn rejects_reserved_prefixes() {
        let a = alice();
        assert_eq!(decode(&encode(46, &a)), Err(CryptoError::Ss58ReservedPrefix(46)));
        assert_eq!(decode(&encode(47, &a)), Err(CryptoError::Ss58ReservedPrefix(47)));
    }

    proptest! {
        #[test]
        fn round_trip(
            prefix in (0u16..=MAX_PREFIX).prop_filter("reserved", |p| !is_reserved(*p)),
            account in any::<[u8; 32]>(),
        ) {
            let address = encode(prefix, &account);
            prop_assert_eq!(decode(&address), Ok((prefix, account)));
        }
    }
}
