//! The key hierarchy of confidential contracts, and key shares between enclaves.
//!
//! ```text
//! master secret (32 bytes, held by gatekeepers)
//!  ├─ master ECDH key   = HKDF(master, salt "umbra/master-ecdh/v1", info "")      → public on chain
//!  └─ contract secret   = HKDF(master, salt "umbra/contract-key/v1", id ‖ rotation LE)
//!      ├─ command key   (x25519; clients seal commands to its public key)
//!      ├─ event keys    = HKDF(contract secret, salt "umbra/contract-event-key/v1", id ‖ to)
//!      └─ checkpoint key= HKDF(contract secret, salt "umbra/contract-checkpoint/v1", id)
//! ```
//!
//! A new gatekeeper receives the master secret, and an assigned worker receives a contract
//! secret, as a key share ([`seal_key_share`]) sealed to its registered ECDH key. Every
//! derivation is HKDF-SHA256 with its own salt, so no two keys can coincide by construction.
//! Old rotations stay derivable (same master, older `rotation`), so old data stays readable.

use parity_scale_codec::Encode;
use umbra_crypto::kdf::hkdf_sha256;
use umbra_crypto::{blake2_256, EcdhPublic, EcdhSecret, SealedBox};
use umbra_primitives::AccountId;
use zeroize::Zeroizing;

use crate::contract::{ContractId, ContractKind};
use crate::error::ContractError;

/// HKDF salt of contract secrets.
pub const CONTRACT_KEY_SALT: &[u8] = b"umbra/contract-key/v1";
/// HKDF salt of the master ECDH key.
pub const MASTER_ECDH_SALT: &[u8] = b"umbra/master-ecdh/v1";
/// HKDF salt of private-event keys.
pub const EVENT_KEY_SALT: &[u8] = b"umbra/contract-event-key/v1";
/// Associated-data prefix of key shares (followed by the purpose bytes).
pub const KEY_SHARE_AAD: &[u8] = b"umbra/key-share/v1";
/// Domain tag of contract ids.
pub const CONTRACT_ID_DOMAIN: &str = "umbra/contract-id/v1";
/// Domain tag of contract accounts.
pub const CONTRACT_ACCOUNT_DOMAIN: &str = "umbra/contract-account";

/// `id ‖ rest` as one buffer.
fn concat(id: &ContractId, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len().saturating_add(32));
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(rest);
    out
}

/// The contract's ECDH secret for key `rotation`:
/// `HKDF(ikm = master, salt = "umbra/contract-key/v1", info = id ‖ rotation as u32 LE)`.
///
/// Stable for the same inputs, different for every contract and every rotation.
pub fn contract_secret(master: &[u8; 32], rotation: u32, id: &ContractId) -> EcdhSecret {
    let bytes = Zeroizing::new(hkdf_sha256(
        master,
        CONTRACT_KEY_SALT,
        &concat(id, &rotation.to_le_bytes()),
    ));
    EcdhSecret::from_bytes(*bytes)
}

/// The master key's ECDH secret: `HKDF(master, salt "umbra/master-ecdh/v1", info "")`.
///
/// Gatekeepers use it to open what clients or the chain seal to [`master_public`].
pub fn master_ecdh(master: &[u8; 32]) -> EcdhSecret {
    let bytes = Zeroizing::new(hkdf_sha256(master, MASTER_ECDH_SALT, b""));
    EcdhSecret::from_bytes(*bytes)
}

/// The master key's public ECDH key (what the chain publishes); see [`master_ecdh`].
pub fn master_public(master: &[u8; 32]) -> EcdhPublic {
    master_ecdh(master).public()
}

/// Key for the private events of `to` in contract `id`:
/// `HKDF(ikm = contract secret bytes, salt = "umbra/contract-event-key/v1", info = id ‖ to)`.
///
/// The recipient obtains it with an authenticated query, then decrypts its events with
/// [`crate::open_event`]. Treat the result as secret.
pub fn event_key(secret: &EcdhSecret, id: &ContractId, to: &AccountId) -> [u8; 32] {
    let ikm = Zeroizing::new(secret.to_bytes());
    hkdf_sha256(ikm.as_slice(), EVENT_KEY_SALT, &concat(id, to.as_bytes()))
}

fn key_share_aad(purpose: &[u8]) -> Vec<u8> {
    [KEY_SHARE_AAD, purpose].concat()
}

/// Seals a 32-byte secret (the master key for a new gatekeeper, or a contract secret for an
/// assigned worker) to the recipient's registered ECDH key, with
/// `aad = "umbra/key-share/v1" ‖ purpose` so a share cannot be replayed for another purpose.
///
/// Fails with [`ContractError::Crypto`] if `recipient` is a low-order point.
pub fn seal_key_share(
    recipient: &EcdhPublic,
    purpose: &[u8],
    secret: &[u8; 32],
) -> Result<SealedBox, ContractError> {
    let (sealed, key) = SealedBox::seal(recipient, &key_share_aad(purpose), secret)?;
    let _key = Zeroizing::new(key);
    Ok(sealed)
}

/// Opens a key share made by [`seal_key_share`].
///
/// Fails with [`ContractError::Crypto`] for another recipient, another purpose or any
/// tampering, and [`ContractError::InvalidKeyShare`] if the plaintext is not 32 bytes.
pub fn open_key_share(
    recipient: &EcdhSecret,
    purpose: &[u8],
    sealed: &SealedBox,
) -> Result<[u8; 32], ContractError> {
    let (plain, key) = sealed.open(recipient, &key_share_aad(purpose))?;
    let (plain, _key) = (Zeroizing::new(plain), Zeroizing::new(key));
    <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| ContractError::InvalidKeyShare(plain.len()))
}

/// The contract id the chain assigns at deployment:
/// `blake2_256(("umbra/contract-id/v1", deployer, kind, salt).encode())`.
pub fn contract_id(deployer: &AccountId, kind: ContractKind, salt: &[u8]) -> ContractId {
    ContractId::hash_of(&(CONTRACT_ID_DOMAIN, deployer, kind, salt))
}

/// The keyless on-chain account of a contract:
/// `Public(blake2_256(("umbra/contract-account", id).encode()))`.
///
/// Nobody holds its private key; only the chain moves funds out of it, on a contract's
/// [`crate::Output::Transfer`].
pub fn contract_account(id: &ContractId) -> AccountId {
    AccountId::from(blake2_256(&(CONTRACT_ACCOUNT_DOMAIN, id).encode()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use umbra_crypto::CryptoError;
    use umbra_primitives::H256;

    const MASTER: [u8; 32] = [42u8; 32];

    fn id(n: u8) -> ContractId {
        H256([n; 32])
    }

    #[test]
    fn contract_secret_is_as_specified_stable_and_separated() {
        let s = contract_secret(&MASTER, 0, &id(1));
        let mut info = id(1).0.to_vec();
        info.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(s.to_bytes(), hkdf_sha256(&MASTER, b"umbra/contract-key/v1", &info));
        // Stable.
        assert_eq!(contract_secret(&MASTER, 0, &id(1)).to_bytes(), s.to_bytes());
        assert_eq!(contract_secret(&MASTER, 0, &id(1)).public(), s.public());
        // Different per id, per rotation, per master.
        assert_ne!(contract_secret(&MASTER, 0, &id(2)).public(), s.public());
        assert_ne!(contract_secret(&MASTER, 1, &id(1)).public(), s.public());
        assert_ne!(contract_secret(&[43u8; 32], 0, &id(1)).public(), s.public());
        // Rotation is little-endian: rotation 1 and rotation 1 << 24 differ.
        assert_ne!(
            contract_secret(&MASTER, 1, &id(1)).to_bytes(),
            contract_secret(&MASTER, 1 << 24, &id(1)).to_bytes()
        );
        let mut info = id(1).0.to_vec();
        info.extend_from_slice(&[7, 0, 0, 0]);
        assert_eq!(
            contract_secret(&MASTER, 7, &id(1)).to_bytes(),
            hkdf_sha256(&MASTER, CONTRACT_KEY_SALT, &info)
        );
    }

    #[test]
    fn master_key_is_as_specified_and_separate_from_contract_keys() {
        let expected = EcdhSecret::from_bytes(hkdf_sha256(&MASTER, b"umbra/master-ecdh/v1", b""));
        assert_eq!(master_public(&MASTER), expected.public());
        assert_eq!(master_ecdh(&MASTER).public(), master_public(&MASTER));
        assert_ne!(master_public(&MASTER), master_public(&[1u8; 32]));
        assert_ne!(master_public(&MASTER), contract_secret(&MASTER, 0, &id(0)).public());
    }

    #[test]
    fn event_key_is_as_specified_and_per_recipient() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let alice = AccountId::from([1u8; 32]);
        let bob = AccountId::from([2u8; 32]);
        let mut info = id(1).0.to_vec();
        info.extend_from_slice(alice.as_bytes());
        let k = event_key(&secret, &id(1), &alice);
        assert_eq!(k, hkdf_sha256(&secret.to_bytes(), b"umbra/contract-event-key/v1", &info));
        assert_ne!(k, event_key(&secret, &id(1), &bob));
        assert_ne!(k, event_key(&secret, &id(2), &alice));
        assert_ne!(k, event_key(&contract_secret(&MASTER, 1, &id(1)), &id(1), &alice));
        assert_ne!(k, secret.to_bytes());
    }

    #[test]
    fn key_share_round_trip() {
        let worker = EcdhSecret::from_bytes([9u8; 32]);
        let secret = contract_secret(&MASTER, 0, &id(1)).to_bytes();
        let share = seal_key_share(&worker.public(), b"contract:01", &secret).unwrap();
        assert_eq!(open_key_share(&worker, b"contract:01", &share), Ok(secret));
        let master_share = seal_key_share(&worker.public(), b"master", &MASTER).unwrap();
        assert_eq!(open_key_share(&worker, b"master", &master_share), Ok(MASTER));
    }

    #[test]
    fn key_share_refuses_wrong_purpose_recipient_or_tampering() {
        let worker = EcdhSecret::from_bytes([9u8; 32]);
        let other = EcdhSecret::from_bytes([10u8; 32]);
        let share = seal_key_share(&worker.public(), b"master", &MASTER).unwrap();
        let failed = Err(ContractError::Crypto(CryptoError::DecryptionFailed));
        assert_eq!(open_key_share(&worker, b"contract", &share), failed);
        assert_eq!(open_key_share(&worker, b"", &share), failed);
        assert_eq!(open_key_share(&other, b"master", &share), failed);
        let mut bad = share.clone();
        bad.ciphertext[3] ^= 0x80;
        assert_eq!(open_key_share(&worker, b"master", &bad), failed);
        assert_eq!(
            seal_key_share(&EcdhPublic([0u8; 32]), b"master", &MASTER).map(|_| ()),
            Err(ContractError::Crypto(CryptoError::LowOrderPoint))
        );
    }

    #[test]
    fn key_share_refuses_wrong_length_plaintext() {
        let worker = EcdhSecret::from_bytes([9u8; 32]);
        let aad = [KEY_SHARE_AAD, b"master"].concat();
        let (short, _) = SealedBox::seal(&worker.public(), &aad, &[1u8; 31]).unwrap();
        assert_eq!(
            open_key_share(&worker, b"master", &short),
            Err(ContractError::InvalidKeyShare(31))
        );
    }

    #[test]
    fn contract_id_and_account_are_as_specified() {
        let deployer = AccountId::from([3u8; 32]);
        let cid = contract_id(&deployer, ContractKind::Guestbook, b"salt");
        let mut pre = Vec::new();
        pre.push(20 << 2); // compact length of the 20-byte domain string
        pre.extend_from_slice(b"umbra/contract-id/v1");
        pre.extend_from_slice(deployer.as_bytes());
        pre.push(0); // ContractKind::Guestbook
        pre.push(4 << 2);
        pre.extend_from_slice(b"salt");
        assert_eq!(cid, H256(blake2_256(&pre)));
        assert_ne!(cid, contract_id(&deployer, ContractKind::Guestbook, b"salt2"));
        assert_ne!(cid, contract_id(&AccountId::from([4u8; 32]), ContractKind::Guestbook, b"salt"));

        let account = contract_account(&cid);
        let mut pre = vec![22 << 2];
        pre.extend_from_slice(b"umbra/contract-account");
        pre.extend_from_slice(cid.as_bytes());
        assert_eq!(account, AccountId::from(blake2_256(&pre)));
        assert_ne!(account, contract_account(&id(0)));
    }
}
