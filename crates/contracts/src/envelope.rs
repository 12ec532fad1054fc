//! Encrypted envelopes around contract data: commands (client → enclave, through the
//! chain), private events (enclave → one account, through the chain) and state checkpoints
//! (enclave → storage).
//!
//! Commands are sealed with a fresh ephemeral key and nonce ([`SealedBox`]). Events and
//! checkpoints are encrypted *deterministically* (nonces derived from the contract id and the
//! command's sequence number), so every worker assigned to a contract emits byte-identical
//! egress and the chain can compare their copies.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::kdf::hkdf_sha256;
use umbra_crypto::{aead, blake2_256, EcdhPublic, EcdhSecret, SealedBox};
use umbra_primitives::serde_helpers::{account_ss58, balance_str, bytes_hex};
use umbra_primitives::{AccountId, Balance};
use zeroize::Zeroizing;

use crate::contract::{ContractId, Output};
use crate::error::ContractError;
use crate::keys::event_key;

/// Associated-data prefix of sealed commands (followed by the contract id and the origin).
pub const COMMAND_AAD: &[u8] = b"umbra/contract-command/v2";
/// HKDF salt of checkpoint keys.
pub const CHECKPOINT_SALT: &[u8] = b"umbra/contract-checkpoint/v1";

/// `"umbra/contract-command/v2" ‖ id ‖ origin`.
pub(crate) fn command_aad(id: &ContractId, origin: &AccountId) -> Vec<u8> {
    [COMMAND_AAD, id.as_bytes(), &origin.0].concat()
}

/// Seals a command to the contract's public key, with
/// `aad = "umbra/contract-command/v2" ‖ contract id ‖ origin` so a ciphertext cannot be moved
/// to another contract, nor re-pushed by another account as its own command: the enclave opens
/// it only with the origin the chain recorded for it (the extrinsic's signer).
///
/// Fails with [`ContractError::Crypto`] if `contract_pub` is a low-order point.
pub fn seal_command(
    contract_pub: &EcdhPublic,
    id: &ContractId,
    origin: &AccountId,
    command: &[u8],
) -> Result<SealedBox, ContractError> {
    let (sealed, key) = SealedBox::seal(contract_pub, &command_aad(id, origin), command)?;
    let _key = Zeroizing::new(key);
    Ok(sealed)
}

/// Opens a command sealed by [`seal_command`] with the contract's secret, for the origin the
/// chain recorded.
///
/// Fails with [`ContractError::Crypto`] for another contract's id, another origin, another key
/// or any tampering.
pub fn open_command(
    secret: &EcdhSecret,
    id: &ContractId,
    origin: &AccountId,
    sealed: &SealedBox,
) -> Result<Vec<u8>, ContractError> {
    let (plain, key) = sealed.open(secret, &command_aad(id, origin))?;
    let _key = Zeroizing::new(key);
    Ok(plain)
}

/// A private event, encrypted to its recipient's event key. The JSON form (for RPC) shows
/// both fields as `0x`-hex.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct EncryptedEvent {
    /// The ChaCha20-Poly1305 nonce (derived, see [`seal_event`]).
    #[serde(with = "bytes_hex")]
    pub nonce: [u8; 12],
    /// `ciphertext ‖ tag`.
    #[serde(with = "bytes_hex")]
    pub ciphertext: Vec<u8>,
}

/// `id ‖ seq` (the SCALE encoding of `(id, seq)`: 32 bytes then 8 bytes little-endian).
fn id_seq(id: &ContractId, seq: u64) -> Vec<u8> {
    (id, seq).encode()
}

/// The first 12 bytes of `blake2_256(data)`.
fn derived_nonce(data: &[u8]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&blake2_256(data)[..12]);
    nonce
}

/// Encrypts a private event deterministically (so replays produce equal bytes).
///
/// `key` is the recipient's [`event_key`]; `seq` is the command's sequence number and
/// `index` the event's position among the command's outputs. The nonce is the first 12 bytes
/// of `blake2_256(id ‖ seq LE ‖ index LE)`: unique per event, because the key is already
/// specific to (contract, recipient, key rotation) and (seq, index) never repeats within a
/// contract. AEAD is ChaCha20-Poly1305 with `aad = id ‖ seq LE`.
pub fn seal_event(
    key: &[u8; 32],
    id: &ContractId,
    seq: u64,
    index: u32,
    payload: &[u8],
) -> EncryptedEvent {
    let nonce = derived_nonce(&(id, seq, index).encode());
    let ciphertext = aead::encrypt(key, &nonce, &id_seq(id, seq), payload);
    EncryptedEvent { nonce, ciphertext }
}

/// Decrypts an event made by [`seal_event`].
///
/// Fails with [`ContractError::Crypto`] for another key, contract or sequence number, or
/// any tampering.
pub fn open_event(
    key: &[u8; 32],
    id: &ContractId,
    seq: u64,
    ev: &EncryptedEvent,
) -> Result<Vec<u8>, ContractError> {
    Ok(aead::decrypt(key, &ev.nonce, &id_seq(id, seq), &ev.ciphertext)?)
}

/// An [`Output`] as it leaves the enclave: private events encrypted. The one output type of
/// the boundary: the enclave reports it in `umbra_protocol::CommandResult` and the chain applies
/// it as is.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum SealedOutput {
    /// An event everyone may read.
    #[codec(index = 0)]
    PublicEvent(#[serde(with = "bytes_hex")] Vec<u8>),
    /// An event only `to` can read, with its [`event_key`].
    #[codec(index = 1)]
    PrivateEvent {
        /// The recipient.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// The encrypted payload.
        #[serde(skip)]
        event: EncryptedEvent,
    },
    /// A transfer out of the contract's account, for the chain to execute.
    #[codec(index = 2)]
    Transfer {
        /// The receiving account.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// The amount in the smallest unit.
        #[serde(with = "balance_str")]
        amount: Balance,
    },
}

/// Encrypts the private events among the outputs of command `seq`, each with its
/// recipient's [`event_key`] and its position in `outputs` as the `index` of [`seal_event`].
///
/// Deterministic: every worker turns the same outputs into the same bytes. (A command cannot
/// produce 2^32 outputs, so every position fits the `u32` index.)
pub fn seal_outputs(
    secret: &EcdhSecret,
    id: &ContractId,
    seq: u64,
    outputs: Vec<Output>,
) -> Vec<SealedOutput> {
    seal_outputs_with(outputs, |to, index, payload| {
        let key = Zeroizing::new(event_key(secret, id, to));
        seal_event(&key, id, seq, index, payload)
    })
}

/// The outputs of one command in their sealed form: public events and transfers as they are,
/// each private event sealed by `seal(recipient, index, payload)` (`index`: its position among
/// the outputs). [`seal_outputs`] and the enclave's cached `ContractKeys::seal_outputs` differ
/// only in where the recipient's event key comes from.
pub(crate) fn seal_outputs_with(
    outputs: Vec<Output>,
    mut seal: impl FnMut(&AccountId, u32, &[u8]) -> EncryptedEvent,
) -> Vec<SealedOutput> {
    outputs
        .into_iter()
        .zip(0u32..)
        .map(|(output, index)| match output {
            Output::PublicEvent(bytes) => SealedOutput::PublicEvent(bytes),
            Output::PrivateEvent { to, payload } => {
                let event = seal(&to, index, &payload);
                SealedOutput::PrivateEvent { to, event }
            }
            Output::Transfer { to, amount } => SealedOutput::Transfer { to, amount },
        })
        .collect()
}

/// The checkpoint key: `HKDF(ikm = contract secret bytes, salt = "umbra/contract-checkpoint/v1", info = id)`.
fn checkpoint_key(secret: &EcdhSecret, id: &ContractId) -> Zeroizing<[u8; 32]> {
    let ikm = Zeroizing::new(secret.to_bytes());
    Zeroizing::new(hkdf_sha256(ikm.as_slice(), CHECKPOINT_SALT, id.as_bytes()))
}

/// Encrypts a state snapshot taken after command `seq`.
///
/// Deterministic given (secret, id, seq, snapshot), so every assigned worker produces the
/// same bytes: nonce = `blake2_256(id ‖ seq LE)[..12]`, `aad = id ‖ seq LE`. Since contracts
/// are deterministic, the same (key, seq) never encrypts two different snapshots. The blob is
/// `ciphertext ‖ tag` (the nonce is recomputed on open).
pub fn seal_checkpoint(secret: &EcdhSecret, id: &ContractId, seq: u64, snapshot: &[u8]) -> Vec<u8> {
    let aad = id_seq(id, seq);
    aead::encrypt(&checkpoint_key(secret, id), &derived_nonce(&aad), &aad, snapshot)
}

/// Decrypts a checkpoint made by [`seal_checkpoint`].
///
/// Fails with [`ContractError::Crypto`] for another key, contract or sequence number, or
/// any tampering.
pub fn open_checkpoint(
    secret: &EcdhSecret,
    id: &ContractId,
    seq: u64,
    blob: &[u8],
) -> Result<Vec<u8>, ContractError> {
    let aad = id_seq(id, seq);
    Ok(aead::decrypt(&checkpoint_key(secret, id), &derived_nonce(&aad), &aad, blob)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::contract_secret;
    use proptest::prelude::*;
    use umbra_crypto::CryptoError;
    use umbra_primitives::H256;

    const MASTER: [u8; 32] = [11u8; 32];
    const FAILED: Result<Vec<u8>, ContractError> =
        Err(ContractError::Crypto(CryptoError::DecryptionFailed));

    fn id(n: u8) -> ContractId {
        H256([n; 32])
    }

    const ALICE: AccountId = umbra_crypto::Public([1u8; 32]);
    const MALLORY: AccountId = umbra_crypto::Public([66u8; 32]);

    #[test]
    fn command_round_trip() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let sealed = seal_command(&secret.public(), &id(1), &ALICE, b"post hello").unwrap();
        assert_eq!(open_command(&secret, &id(1), &ALICE, &sealed), Ok(b"post hello".to_vec()));
        // Survives its SCALE encoding (as it travels in an extrinsic).
        let decoded = SealedBox::decode(&mut &sealed.encode()[..]).unwrap();
        assert_eq!(open_command(&secret, &id(1), &ALICE, &decoded), Ok(b"post hello".to_vec()));
        // The AAD is exactly the documented one.
        assert!(sealed
            .open(
                &secret,
                &[b"umbra/contract-command/v2".as_slice(), &[1u8; 32], &[1u8; 32]].concat()
            )
            .is_ok());
    }

    #[test]
    fn a_command_re_pushed_by_another_account_does_not_open() {
        // Mallory copies Alice's ciphertext from the chain and pushes it as her own command:
        // the enclave opens it with the origin the chain recorded (Mallory) and fails.
        let secret = contract_secret(&MASTER, 0, &id(1));
        let sealed = seal_command(&secret.public(), &id(1), &ALICE, b"withdraw all").unwrap();
        assert_eq!(open_command(&secret, &id(1), &MALLORY, &sealed), FAILED);
        assert_eq!(open_command(&secret, &id(1), &ALICE, &sealed), Ok(b"withdraw all".to_vec()));
    }

    #[test]
    fn open_command_refuses_tampering_other_contract_and_other_key() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let sealed = seal_command(&secret.public(), &id(1), &ALICE, b"cmd").unwrap();

        for i in [0, sealed.ciphertext.len() - 1] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 1;
            assert_eq!(open_command(&secret, &id(1), &ALICE, &bad), FAILED);
        }
        let mut bad = sealed.clone();
        bad.nonce[5] ^= 1;
        assert_eq!(open_command(&secret, &id(1), &ALICE, &bad), FAILED);
        let mut bad = sealed.clone();
        bad.ciphertext.truncate(5);
        assert_eq!(open_command(&secret, &id(1), &ALICE, &bad), FAILED);

        // Moved to another contract, even one holding the same key.
        assert_eq!(open_command(&secret, &id(2), &ALICE, &sealed), FAILED);
        // Another contract's key, another rotation.
        assert_eq!(
            open_command(&contract_secret(&MASTER, 0, &id(2)), &id(1), &ALICE, &sealed),
            FAILED
        );
        assert_eq!(
            open_command(&contract_secret(&MASTER, 1, &id(1)), &id(1), &ALICE, &sealed),
            FAILED
        );
        // Low-order keys are refused on both sides.
        assert_eq!(
            seal_command(&EcdhPublic([0u8; 32]), &id(1), &ALICE, b"x").map(|_| ()),
            Err(ContractError::Crypto(CryptoError::LowOrderPoint))
        );
        let mut bad = sealed;
        bad.ephemeral = EcdhPublic([0u8; 32]);
        assert_eq!(
            open_command(&secret, &id(1), &ALICE, &bad),
            Err(ContractError::Crypto(CryptoError::LowOrderPoint))
        );
    }

    #[test]
    fn event_round_trip_and_determinism() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let alice = AccountId::from([1u8; 32]);
        let key = event_key(&secret, &id(1), &alice);
        let ev = seal_event(&key, &id(1), 7, 1, b"your post #3");
        assert_eq!(ev, seal_event(&key, &id(1), 7, 1, b"your post #3"));
        assert_eq!(
            ev.nonce,
            blake2_256(&[&[1u8; 32][..], &7u64.to_le_bytes(), &1u32.to_le_bytes()].concat())[..12]
        );
        assert_eq!(open_event(&key, &id(1), 7, &ev), Ok(b"your post #3".to_vec()));
        // Distinct (seq, index) give distinct nonces.
        assert_ne!(
            seal_event(&key, &id(1), 7, 2, b"x").nonce,
            seal_event(&key, &id(1), 7, 1, b"x").nonce
        );
        assert_ne!(
            seal_event(&key, &id(1), 8, 1, b"x").nonce,
            seal_event(&key, &id(1), 7, 1, b"x").nonce
        );
        // Survives SCALE.
        let decoded = EncryptedEvent::decode(&mut &ev.encode()[..]).unwrap();
        assert_eq!(open_event(&key, &id(1), 7, &decoded), Ok(b"your post #3".to_vec()));
    }

    #[test]
    fn event_json_form() {
        let ev = EncryptedEvent { nonce: [0xab; 12], ciphertext: vec![1, 2] };
        let json = serde_json::to_string(&ev).unwrap();
        assert_eq!(json, format!(r#"{{"nonce":"0x{}","ciphertext":"0x0102"}}"#, "ab".repeat(12)));
        assert_eq!(serde_json::from_str::<EncryptedEvent>(&json).unwrap(), ev);
        assert!(serde_json::from_str::<EncryptedEvent>(r#"{"nonce":"0xab","ciphertext":"0x"}"#)
            .is_err());
    }

    #[test]
    fn open_event_refuses_wrong_key_seq_contract_or_tampering() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let alice = AccountId::from([1u8; 32]);
        let bob = AccountId::from([2u8; 32]);
        let key = event_key(&secret, &id(1), &alice);
        let ev = seal_event(&key, &id(1), 7, 0, b"private");
        assert_eq!(open_event(&event_key(&secret, &id(1), &bob), &id(1), 7, &ev), FAILED);
        assert_eq!(open_event(&key, &id(1), 8, &ev), FAILED);
        assert_eq!(open_event(&key, &id(2), 7, &ev), FAILED);
        let mut bad = ev.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(open_event(&key, &id(1), 7, &bad), FAILED);
        let mut bad = ev;
        bad.nonce[0] ^= 1;
        assert_eq!(open_event(&key, &id(1), 7, &bad), FAILED);
    }

    #[test]
    fn seal_outputs_encrypts_only_private_events() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let alice = AccountId::from([1u8; 32]);
        let outputs = vec![
            Output::PublicEvent(b"post #1".to_vec()),
            Output::PrivateEvent { to: alice, payload: b"yours: #1".to_vec() },
            Output::Transfer { to: alice, amount: 3 },
            Output::PrivateEvent { to: alice, payload: b"second".to_vec() },
        ];
        let sealed = seal_outputs(&secret, &id(1), 4, outputs.clone());
        assert_eq!(sealed, seal_outputs(&secret, &id(1), 4, outputs));
        assert_eq!(sealed[0], SealedOutput::PublicEvent(b"post #1".to_vec()));
        assert_eq!(sealed[2], SealedOutput::Transfer { to: alice, amount: 3 });
        let key = event_key(&secret, &id(1), &alice);
        let (
            SealedOutput::PrivateEvent { to, event: first },
            SealedOutput::PrivateEvent { event: second, .. },
        ) = (&sealed[1], &sealed[3])
        else {
            panic!("expected private events, got {sealed:?}");
        };
        assert_eq!(*to, alice);
        assert_eq!(*first, seal_event(&key, &id(1), 4, 1, b"yours: #1"));
        assert_eq!(open_event(&key, &id(1), 4, second), Ok(b"second".to_vec()));
        assert_ne!(first.nonce, second.nonce);
        let bytes = sealed.encode();
        assert_eq!(Vec::<SealedOutput>::decode(&mut &bytes[..]), Ok(sealed));
    }

    #[test]
    fn sealed_output_wire_bytes_are_pinned() {
        // The bytes the chain decodes from `CommandResult::outcome` (they were those of the
        // protocol's former `ChainOutput`, which this type replaced): variant index, then fields.
        let to = AccountId::from([9u8; 32]);
        let event = EncryptedEvent { nonce: [5; 12], ciphertext: vec![6, 6] };
        let public = SealedOutput::PublicEvent(vec![7]).encode();
        assert_eq!(public, [0u8, 4, 7]);
        let private = SealedOutput::PrivateEvent { to, event }.encode();
        assert_eq!(private, [&[1u8][..], &[9; 32], &[5; 12], &[8, 6, 6]].concat());
        let transfer = SealedOutput::Transfer { to, amount: 258 }.encode();
        assert_eq!(transfer, [&[2u8][..], &[9; 32], &[2, 1], &[0; 14]].concat());
    }

    #[test]
    fn checkpoint_is_deterministic_and_round_trips() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let blob = seal_checkpoint(&secret, &id(1), 100, b"state bytes");
        assert_eq!(
            blob,
            seal_checkpoint(&contract_secret(&MASTER, 0, &id(1)), &id(1), 100, b"state bytes")
        );
        assert_eq!(blob.len(), b"state bytes".len() + aead::TAG_LEN);
        assert_eq!(open_checkpoint(&secret, &id(1), 100, &blob), Ok(b"state bytes".to_vec()));
        // As specified: key, nonce and aad.
        let key = hkdf_sha256(&secret.to_bytes(), b"umbra/contract-checkpoint/v1", &[1u8; 32]);
        let aad = [&[1u8; 32][..], &100u64.to_le_bytes()].concat();
        let nonce: [u8; 12] = blake2_256(&aad)[..12].try_into().unwrap();
        assert_eq!(aead::decrypt(&key, &nonce, &aad, &blob), Ok(b"state bytes".to_vec()));
        // Different seq, different bytes.
        assert_ne!(blob, seal_checkpoint(&secret, &id(1), 101, b"state bytes"));
    }

    #[test]
    fn open_checkpoint_refuses_tampering_wrong_seq_contract_or_key() {
        let secret = contract_secret(&MASTER, 0, &id(1));
        let blob = seal_checkpoint(&secret, &id(1), 100, b"state bytes");
        assert_eq!(open_checkpoint(&secret, &id(1), 99, &blob), FAILED);
        assert_eq!(open_checkpoint(&secret, &id(1), 101, &blob), FAILED);
        assert_eq!(open_checkpoint(&secret, &id(2), 100, &blob), FAILED);
        assert_eq!(
            open_checkpoint(&contract_secret(&MASTER, 1, &id(1)), &id(1), 100, &blob),
            FAILED
        );
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert_eq!(open_checkpoint(&secret, &id(1), 100, &bad), FAILED);
        }
        assert_eq!(open_checkpoint(&secret, &id(1), 100, &blob[..blob.len() - 1]), FAILED);
        assert_eq!(open_checkpoint(&secret, &id(1), 100, &[]), FAILED);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn envelopes_round_trip(
            master in any::<[u8; 32]>(),
            cid in any::<[u8; 32]>(),
            to in any::<[u8; 32]>(),
            seq in any::<u64>(),
            index in any::<u32>(),
            rotation in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let cid = H256(cid);
            let secret = contract_secret(&master, rotation, &cid);
            let origin = AccountId::from(to);
            let sealed = seal_command(&secret.public(), &cid, &origin, &data).unwrap();
            prop_assert_eq!(open_command(&secret, &cid, &origin, &sealed), Ok(data.clone()));

            let key = event_key(&secret, &cid, &AccountId::from(to));
            let ev = seal_event(&key, &cid, seq, index, &data);
            let ev = EncryptedEvent::decode(&mut &ev.encode()[..]).unwrap();
            prop_assert_eq!(open_event(&key, &cid, seq, &ev), Ok(data.clone()));

            let blob = seal_checkpoint(&secret, &cid, seq, &data);
            prop_assert_eq!(open_checkpoint(&secret, &cid, seq, &blob), Ok(data));
        }
    }
}
