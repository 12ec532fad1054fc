//! Substrate secret URIs ("SURIs") and derivation junctions.
//!
//! Grammar (identical to `sp_core::crypto::SecretUri`):
//!
//! ```text
//! [phrase | 0x<64 hex seed>][//hard | /soft]...[///password]
//! ```
//!
//! An empty phrase means [`DEV_PHRASE`], so `"//Alice"` is the well-known development key.
//! The password, if present, is the BIP-39 passphrase of the phrase; as in Substrate it is
//! ignored for hex seeds.

use core::fmt;
use core::str::FromStr;

use parity_scale_codec::Encode;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::hashing::blake2_256;

/// The Substrate development mnemonic; every `//Name` dev account derives from it.
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// Length of a junction's chain code.
pub const JUNCTION_ID_LEN: usize = 32;

/// One step of a derivation path, holding its 32-byte chain code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DeriveJunction {
    /// Soft (non-hardened) derivation: `/name`. The child public key can be derived from
    /// the parent public key.
    Soft([u8; JUNCTION_ID_LEN]),
    /// Hard derivation: `//name`. Requires the parent secret.
    Hard([u8; JUNCTION_ID_LEN]),
}

impl DeriveJunction {
    /// A soft junction whose chain code is the SCALE encoding of `index`, zero-padded to 32
    /// bytes, or its BLAKE2b-256 hash if the encoding is longer than 32 bytes.
    pub fn soft<T: Encode>(index: T) -> Self {
        let mut cc = [0u8; JUNCTION_ID_LEN];
        index.using_encoded(|data| {
            if data.len() > JUNCTION_ID_LEN {
                cc = blake2_256(data);
            } else {
                cc[..data.len()].copy_from_slice(data);
            }
        });
        DeriveJunction::Soft(cc)
    }

    /// A hard junction with the same chain code rules as [`DeriveJunction::soft`].
    pub fn hard<T: Encode>(index: T) -> Self {
        Self::soft(index).harden()
    }

    /// Turns this junction into a hard one with the same chain code.
    pub fn harden(self) -> Self {
        DeriveJunction::Hard(self.chain_code())
    }

    /// Turns this junction into a soft one with the same chain code.
    pub fn soften(self) -> Self {
        DeriveJunction::Soft(self.chain_code())
    }

    /// The 32-byte chain code.
    pub fn chain_code(&self) -> [u8; JUNCTION_ID_LEN] {
        match self {
            DeriveJunction::Soft(cc) | DeriveJunction::Hard(cc) => *cc,
        }
    }

    /// Whether this is a hard junction.
    pub fn is_hard(&self) -> bool {
        matches!(self, DeriveJunction::Hard(_))
    }

    /// Builds a junction from path text without its leading `/`: `"/name"` is hard,
    /// `"name"` is soft. Text that parses as a `u64` is encoded as that integer, otherwise
    /// as a SCALE string.
    pub fn from_path_text(text: &str) -> Self {
        let (code, hard) = match text.strip_prefix('/') {
            Some(stripped) => (stripped, true),
            None => (text, false),
        };
        let junction = match code.parse::<u64>() {
            Ok(n) => DeriveJunction::soft(n),
            Err(_) => DeriveJunction::soft(code),
        };
        if hard {
            junction.harden()
        } else {
            junction
        }
    }
}

/// Where the root key of a secret URI comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A BIP-39 mnemonic phrase (not yet validated against the word list).
    Phrase(Zeroizing<String>),
    /// A raw 32-byte mini secret key given as `0x` hex.
    Seed(Zeroizing<[u8; 32]>),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Phrase(_) => f.write_str("Phrase(<redacted>)"),
            SecretSource::Seed(_) => f.write_str("Seed(<redacted>)"),
        }
    }
}

/// A parsed secret URI. Its `Debug` output never shows the phrase, seed or password.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUri {
    /// The root secret.
    pub source: SecretSource,
    /// The derivation path, applied in order.
    pub junctions: Vec<DeriveJunction>,
    /// The BIP-39 passphrase given after `///`, if any.
    pub password: Option<Zeroizing<String>>,
}

impl fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretUri")
            .field("source", &self.source)
            .field("junctions", &self.junctions)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Characters allowed in the phrase part: Substrate's `[\d\w ]`.
fn is_phrase_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ' '
}

/// Parses the path part (everything between the phrase and `///password`).
fn parse_path(mut path: &str) -> Result<Vec<DeriveJunction>, CryptoError> {
    let mut junctions = Vec::new();
    while !path.is_empty() {
        let rest = path
            .strip_prefix('/')
            .ok_or(CryptoError::InvalidSuri("derivation path must start with '/'"))?;
        let (hard, rest) = match rest.strip_prefix('/') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let end = rest.find('/').unwrap_or(rest.len());
        let code = &rest[..end];
        if code.is_empty() {
            return Err(CryptoError::InvalidSuri("empty derivation junction"));
        }
        let junction = DeriveJunction::from_path_text(code);
        junctions.push(if hard { junction.harden() } else { junction });
        path = &rest[end..];
    }
    Ok(junctions)
}

/// Parses a secret URI.
///
/// Errors: [`CryptoError::InvalidSuri`] for malformed syntax and [`CryptoError::InvalidSeed`]
/// for a `0x` root that is not 32 bytes of hex. The phrase itself is validated later, when
/// a key is made from it.
pub fn parse(suri: &str) -> Result<SecretUri, CryptoError> {
    let phrase_end = suri.find('/').unwrap_or(suri.len());
    let phrase = &suri[..phrase_end];
    if !phrase.chars().all(is_phrase_char) {
        return Err(CryptoError::InvalidSuri("phrase may only contain letters, digits and spaces"));
    }
    let rest = &suri[phrase_end..];
    // A path segment never contains "///", so the first one starts the password.
    let (path, password) = match rest.find("///") {
        Some(i) => (&rest[..i], Some(Zeroizing::new(rest[i + 3..].to_string()))),
        None => (rest, None),
    };
    let junctions = parse_path(path)?;

    let source = if phrase.is_empty() {
        SecretSource::Phrase(Zeroizing::new(DEV_PHRASE.to_string()))
    } else if let Some(hex_seed) = phrase.strip_prefix("0x") {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed, seed.as_mut()).map_err(|_| CryptoError::InvalidSeed)?;
        SecretSource::Seed(seed)
    } else {
        SecretSource::Phrase(Zeroizing::new(phrase.to_string()))
    };
    Ok(SecretUri { source, junctions, password })
}

impl FromStr for SecretUri {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(bytes: &[u8]) -> [u8; 32] {
        let mut c = [0u8; 32];
        c[..bytes.len()].copy_from_slice(bytes);
        c
    }

    #[test]
    fn junction_chain_codes_match_substrate() {
        // "Alice" encodes as compact(5) = 0x14 followed by the bytes.
        assert_eq!(
            DeriveJunction::from_path_text("/Alice"),
            DeriveJunction::Hard(cc(b"\x14Alice"))
        );
        assert_eq!(DeriveJunction::from_path_text("soft"), DeriveJunction::Soft(cc(b"\x10soft")));
        // Numbers are encoded as little-endian u64.
        assert_eq!(
            DeriveJunction::from_path_text("/1"),
            DeriveJunction::Hard(cc(&1u64.to_le_bytes()))
        );
        assert_eq!(
            DeriveJunction::from_path_text("258"),
            DeriveJunction::Soft(cc(&[2, 1, 0, 0, 0, 0, 0, 0]))
        );
    }

    #[test]
    fn long_junction_is_hashed() {
        // 31 chars + 1 byte compact prefix = 32 bytes: padded, not hashed.
        let s31 = "a".repeat(31);
        let mut expect = vec![31u8 << 2];
        expect.extend_from_slice(s31.as_bytes());
        assert_eq!(DeriveJunction::from_path_text(&s31).chain_code().to_vec(), expect);
        // 32 chars + prefix = 33 bytes: hashed.
        let s32 = "a".repeat(32);
        let mut enc = vec![32u8 << 2];
        enc.extend_from_slice(s32.as_bytes());
        assert_eq!(DeriveJunction::from_path_text(&s32).chain_code(), blake2_256(&enc));
    }

    #[test]
    fn parses_dev_paths() {
        let uri = parse("//Alice//stash").expect("valid suri");
        assert_eq!(uri.source, SecretSource::Phrase(Zeroizing::new(DEV_PHRASE.into())));
        assert_eq!(
            uri.junctions,
            vec![DeriveJunction::hard("Alice"), DeriveJunction::hard("stash")]
        );
        assert!(uri.password.is_none());

        let uri = parse("//Alice/soft/0").expect("valid suri");
        assert_eq!(
            uri.junctions,
            vec![
                DeriveJunction::hard("Alice"),
                DeriveJunction::soft("soft"),
                DeriveJunction::soft(0u64)
            ]
        );
    }

    #[test]
    fn parses_phrase_and_password() {
        let uri = parse(&format!("{DEV_PHRASE}//a///my/pass//word")).expect("valid suri");
        assert_eq!(uri.source, SecretSource::Phrase(Zeroizing::new(DEV_PHRASE.into())));
        assert_eq!(uri.junctions, vec![DeriveJunction::hard("a")]);
        assert_eq!(uri.password.as_deref().map(String::as_str), Some("my/pass//word"));

        let uri = parse("///pw").expect("valid suri");
        assert!(uri.junctions.is_empty());
        assert_eq!(uri.password.as_deref().map(String::as_str), Some("pw"));

        let uri = parse("").expect("empty suri is the dev phrase");
        assert_eq!(uri.source, SecretSource::Phrase(Zeroizing::new(DEV_PHRASE.into())));
    }

    #[test]
    fn parses_hex_seed() {
        let seed = [7u8; 32];
        let uri = parse(&format!("0x{}//x", hex::encode(seed))).expect("valid suri");
        assert_eq!(uri.source, SecretSource::Seed(Zeroizing::new(seed)));
        assert_eq!(parse("0x1234"), Err(CryptoError::InvalidSeed));
        assert_eq!(parse(&format!("0x{}", "zz".repeat(32))), Err(CryptoError::InvalidSeed));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(parse("//Alice/"), Err(CryptoError::InvalidSuri(_))));
        assert!(matches!(parse("phrase-with-dash//a"), Err(CryptoError::InvalidSuri(_))));
        assert!(matches!(parse("//"), Err(CryptoError::InvalidSuri(_))));
    }

    #[test]
    fn debug_redacts_secrets() {
        let uri =
            parse("0x0101010101010101010101010101010101010101010101010101010101010101///hunter2")
                .expect("valid suri");
        let dbg = format!("{uri:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("0101"), "{dbg}");
        let dbg = format!("{:?}", parse(DEV_PHRASE).expect("valid suri"));
        assert!(!dbg.contains("bottom"), "{dbg}");
    }
}
