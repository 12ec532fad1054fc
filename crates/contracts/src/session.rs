//! Session envelopes for commands, and [`ContractKeys`]: what an enclave keeps per hosted
//! contract so that opening a command and sealing its results cost no key agreement and no key
//! derivation after the first command of a sender.
//!
//! A sealed command ([`SealedBox`]) carries the sender's X25519 public key in its `ephemeral`
//! field. The browser-style envelope ([`crate::seal_command`]) makes a fresh key per command,
//! so the enclave must run one X25519 agreement per command. A *session* envelope
//! ([`seal_session_command`]) seals from a static key the client derives from its account
//! secret for one contract key ([`session_secret`]); the wire format and the opening are the
//! same (`open_command` opens both), but [`ContractKeys`] keeps the agreed symmetric key per
//! sender key in a bounded cache, so the sender's later commands open with one AEAD decryption.
//!
//! What stays as before: the AAD binds `contract id ‖ origin` (the chain-recorded signer), so
//! another account cannot re-push a session command as its own, and every box still carries a
//! fresh random nonce. What changes for the sender: its commands to one contract key share one
//! symmetric key (random 96-bit nonces: at most 2^32 commands per session key, and the session
//! key changes with the contract key), and anyone holding the account secret can re-derive the
//! session key and read that account's past commands (it can already read its private events).

use std::collections::HashMap;
use std::hash::Hash;

use umbra_crypto::kdf::hkdf_sha256;
use umbra_crypto::{EcdhPublic, EcdhSecret, SealedBox};
use umbra_primitives::AccountId;
use zeroize::Zeroizing;

use crate::contract::{ContractId, Output};
use crate::envelope::{command_aad, seal_event, seal_outputs_with, SealedOutput};
use crate::error::ContractError;
use crate::keys::event_key;

/// HKDF salt of session keys ([`session_secret`]).
pub const SESSION_KEY_SALT: &[u8] = b"umbra/command-session/v1";

/// Sender keys whose agreed key [`ContractKeys`] keeps (per contract), and event keys likewise.
pub const KEY_CACHE_CAPACITY: usize = 4096;

/// A client's static X25519 key for commands to contract `id` under the contract key
/// `contract_pub`: `HKDF(ikm = account secret, salt = "umbra/command-session/v1", info = id ‖
/// contract_pub)`. Deterministic, so every process of the account uses the same key (and the
/// enclave's cache stays warm); a new contract key (rotation) gives a new session key.
pub fn session_secret(
    account_secret: &[u8],
    id: &ContractId,
    contract_pub: &EcdhPublic,
) -> EcdhSecret {
    let info = [id.as_bytes().as_slice(), contract_pub.as_bytes()].concat();
    let bytes = Zeroizing::new(hkdf_sha256(account_secret, SESSION_KEY_SALT, &info));
    EcdhSecret::from_bytes(*bytes)
}

/// Seals a command like [`crate::seal_command`] (same AAD: `"umbra/contract-command/v2" ‖ id ‖
/// origin`, same box), but from the sender's session key (see [`session_secret`]) instead of
/// a fresh ephemeral key, so the enclave opens it without a key agreement once it has seen the
/// session key.
///
/// Fails with [`ContractError::Crypto`] if `contract_pub` is a low-order point.
pub fn seal_session_command(
    session: &EcdhSecret,
    contract_pub: &EcdhPublic,
    id: &ContractId,
    origin: &AccountId,
    command: &[u8],
) -> Result<SealedBox, ContractError> {
    let (sealed, key) =
        SealedBox::seal_from(session, contract_pub, &command_aad(id, origin), command)?;
    let _key = Zeroizing::new(key);
    Ok(sealed)
}

/// A bounded map that keeps recently used entries: two generations; a hit in the older one
/// moves the entry to the newer one, and when the newer one is full the older one is dropped.
/// At most `2 × half` entries; values are zeroized when dropped (they are keys).
#[derive(Clone)]
struct Recent<K, V> {
    half: usize,
    new: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K: Eq + Hash + Copy, V> Recent<K, V> {
    fn new(capacity: usize) -> Self {
        Recent { half: (capacity / 2).max(1), new: HashMap::new(), old: HashMap::new() }
    }

    fn get(&mut self, key: &K) -> Option<&V> {
        if !self.new.contains_key(key) {
            let v = self.old.remove(key)?;
            self.insert(*key, v);
        }
        self.new.get(key)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.new.len() >= self.half && !self.new.contains_key(&key) {
            self.old = core::mem::take(&mut self.new);
        }
        self.new.insert(key, value);
    }

    fn len(&self) -> usize {
        self.new.len().saturating_add(self.old.len())
    }
}

/// One hosted contract's keys with the per-sender caches the enclave keeps: the agreed key of
/// every recent sender key (commands open with one AEAD decryption), the event key of every
/// recent recipient (results seal without a key derivation), and the EVM randomness seed.
/// Only speed depends on the caches: opening and sealing give the same results without them.
/// `Debug` shows only the contract id.
#[derive(Clone)]
pub struct ContractKeys {
    id: ContractId,
    secret: EcdhSecret,
    secret_bytes: Zeroizing<[u8; 32]>,
    random_seed: Zeroizing<[u8; 32]>,
    senders: Recent<[u8; 32], Zeroizing<[u8; 32]>>,
    events: Recent<AccountId, Zeroizing<[u8; 32]>>,
}

impl core::fmt::Debug for ContractKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContractKeys").field("id", &self.id).finish_non_exhaustive()
    }
}

impl ContractKeys {
    /// The keys of contract `id` with its secret (bytes as the key share carries them).
    pub fn new(id: ContractId, secret: [u8; 32]) -> ContractKeys {
        let secret_bytes = Zeroizing::new(secret);
        let secret = EcdhSecret::from_bytes(secret);
        let random_seed = Zeroizing::new(crate::evm::random_seed(&secret, &id));
        ContractKeys {
            id,
            secret,
            secret_bytes,
            random_seed,
            senders: Recent::new(KEY_CACHE_CAPACITY),
            events: Recent::new(KEY_CACHE_CAPACITY),
        }
    }

    /// Whether these are the keys of `secret` (a rotation replaces them).
    pub fn is_for(&self, secret: &[u8; 32]) -> bool {
        *self.secret_bytes == *secret
    }

    /// The contract secret.
    pub fn secret(&self) -> &EcdhSecret {
        &self.secret
    }

    /// The EVM randomness seed ([`crate::evm::random_seed`]).
    pub fn random_seed(&self) -> [u8; 32] {
        *self.random_seed
    }

    /// How many sender keys the cache holds.
    pub fn cached_senders(&self) -> usize {
        self.senders.len()
    }

    /// Opens a command sealed with [`crate::seal_command`] or [`seal_session_command`] for the
    /// chain-recorded `origin`, exactly as [`crate::open_command`] does; the agreed key of the
    /// box's sender key is kept (only once a box opened with it) for the sender's next ones.
    ///
    /// Fails with [`ContractError::Crypto`] for another contract, another origin, another key
    /// or any tampering (and then caches nothing new).
    pub fn open_command(
        &mut self,
        origin: &AccountId,
        sealed: &SealedBox,
    ) -> Result<Vec<u8>, ContractError> {
        let aad = command_aad(&self.id, origin);
        if let Some(key) = self.senders.get(&sealed.ephemeral.0) {
            return Ok(sealed.open_with_key(key, &aad)?);
        }
        let key = Zeroizing::new(SealedBox::agreed_key(&self.secret, &sealed.ephemeral)?);
        let plain = sealed.open_with_key(&key, &aad)?;
        self.senders.insert(sealed.ephemeral.0, key);
        Ok(plain)
    }

    /// Opens many commands (in log order), running the key agreements of sender keys not yet
    /// cached on all cores first. The same results as [`ContractKeys::open_command`] one by one.
    pub fn open_commands(
        &mut self,
        commands: &[(AccountId, &SealedBox)],
    ) -> Vec<Result<Vec<u8>, ContractError>> {
        let mut missing: Vec<EcdhPublic> = commands
            .iter()
            .map(|(_, s)| s.ephemeral)
            .filter(|k| {
                !self.senders.new.contains_key(&k.0) && !self.senders.old.contains_key(&k.0)
            })
            .collect();
        missing.sort_unstable_by_key(|k| k.0);
        missing.dedup();
        let mut fresh: HashMap<_, _> = agree_parallel(&self.secret, &missing).into_iter().collect();
        commands
            .iter()
            .map(|(origin, sealed)| match fresh.remove(&sealed.ephemeral.0) {
                // First box of an uncached sender key: open with the key just agreed; cache it
                // once a box opened (as `open_command` does).
                Some(key) => {
                    let key = key?;
                    let plain = sealed.open_with_key(&key, &command_aad(&self.id, origin))?;
                    self.senders.insert(sealed.ephemeral.0, key);
                    Ok(plain)
                }
                None => self.open_command(origin, sealed),
            })
            .collect()
    }

    /// [`crate::seal_outputs`] with the event keys of recent recipients cached.
    pub fn seal_outputs(&mut self, seq: u64, outputs: Vec<Output>) -> Vec<SealedOutput> {
        let id = self.id;
        seal_outputs_with(outputs, |to, index, payload| {
            seal_event(self.event_key(to), &id, seq, index, payload)
        })
    }

    /// The [`event_key`] of `to`, cached.
    pub fn event_key(&mut self, to: &AccountId) -> &[u8; 32] {
        if self.events.get(to).is_none() {
            let key = Zeroizing::new(event_key(&self.secret, &self.id, to));
            self.events.insert(*to, key);
        }
        self.events.get(to).expect("just inserted")
    }
}

/// An agreed key per sender key.
type Agreed = ([u8; 32], Result<Zeroizing<[u8; 32]>, ContractError>);

/// The agreed keys of `senders` with `secret`, computed on all available cores. A key missing
/// from the answer (a worker thread that could not finish) is simply agreed again when used.
fn agree_parallel(secret: &EcdhSecret, senders: &[EcdhPublic]) -> Vec<Agreed> {
    let one = |k: &EcdhPublic| {
        let key = SealedBox::agreed_key(secret, k).map(Zeroizing::new).map_err(ContractError::from);
        (k.0, key)
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cores < 2 || senders.len() < 64 {
        return senders.iter().map(one).collect();
    }
    let chunk = senders.len().div_ceil(cores);
    std::thread::scope(|s| {
        let handles: Vec<_> = senders
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{open_command, seal_command, seal_outputs};
    use crate::keys::contract_secret;
    use umbra_crypto::CryptoError;
    use umbra_primitives::H256;

    const ALICE: AccountId = umbra_crypto::Public([1u8; 32]);
    const MALLORY: AccountId = umbra_crypto::Public([66u8; 32]);
    const FAILED: Result<Vec<u8>, ContractError> =
        Err(ContractError::Crypto(CryptoError::DecryptionFailed));

    fn setup() -> (ContractId, EcdhSecret, EcdhSecret) {
        let id = H256([7; 32]);
        let secret = contract_secret(&[9; 32], 0, &id);
        let session = session_secret(b"alice's account secret", &id, &secret.public());
        (id, secret, session)
    }

    #[test]
    fn session_key_is_deterministic_per_account_contract_and_contract_key() {
        let (id, secret, session) = setup();
        let public = secret.public();
        let again = session_secret(b"alice's account secret", &id, &public);
        assert_eq!(session.public(), again.public());
        let other_account = session_secret(b"bob's account secret", &id, &public);
        let other_contract = session_secret(b"alice's account secret", &H256([8; 32]), &public);
        let rotated = contract_secret(&[9; 32], 1, &id).public();
        let other_key = session_secret(b"alice's account secret", &id, &rotated);
        for other in [other_account, other_contract, other_key] {
            assert_ne!(other.public(), session.public());
        }
    }

    #[test]
    fn session_commands_open_with_the_cached_key_and_plain_open() {
        let (id, secret, session) = setup();
        let public = secret.public();
        let mut keys = ContractKeys::new(id, secret.to_bytes());
        for i in 0..5u8 {
            let cmd = [i; 40];
            let sealed = seal_session_command(&session, &public, &id, &ALICE, &cmd).unwrap();
            assert_eq!(sealed.ephemeral, session.public());
            assert_eq!(keys.open_command(&ALICE, &sealed), Ok(cmd.to_vec()));
            // The ordinary opening (one agreement) gives the same.
            assert_eq!(open_command(&secret, &id, &ALICE, &sealed), Ok(cmd.to_vec()));
        }
        assert_eq!(keys.cached_senders(), 1);
        // Ephemeral envelopes open through the same path.
        let eph = seal_command(&public, &id, &ALICE, b"browser").unwrap();
        assert_eq!(keys.open_command(&ALICE, &eph), Ok(b"browser".to_vec()));
    }

    #[test]
    fn a_re_pushed_tampered_or_forged_session_command_does_not_open() {
        let (id, secret, session) = setup();
        let public = secret.public();
        let mut keys = ContractKeys::new(id, secret.to_bytes());
        let sealed = seal_session_command(&session, &public, &id, &ALICE, b"transfer").unwrap();
        assert!(keys.open_command(&ALICE, &sealed).is_ok());
        // Mallory pushes Alice's ciphertext as her own (the chain records Mallory as origin).
        assert_eq!(keys.open_command(&MALLORY, &sealed), FAILED);
        // Any bit of the ciphertext or nonce flipped.
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x10;
            assert_eq!(keys.open_command(&ALICE, &bad), FAILED);
        }
        let mut bad = sealed.clone();
        bad.nonce[3] ^= 1;
        assert_eq!(keys.open_command(&ALICE, &bad), FAILED);
        // Mallory's own box relabelled with Alice's session key.
        let mut forged = seal_command(&public, &id, &ALICE, b"transfer").unwrap();
        forged.ephemeral = session.public();
        assert_eq!(keys.open_command(&ALICE, &forged), FAILED);
        // A low-order sender key.
        let mut low = sealed.clone();
        low.ephemeral = EcdhPublic([0; 32]);
        assert_eq!(
            keys.open_command(&ALICE, &low),
            Err(ContractError::Crypto(CryptoError::LowOrderPoint))
        );
        // Another contract's keys.
        let other = H256([8; 32]);
        let mut other_keys =
            ContractKeys::new(other, contract_secret(&[9; 32], 0, &other).to_bytes());
        assert_eq!(other_keys.open_command(&ALICE, &sealed), FAILED);
        assert_eq!(other_keys.cached_senders(), 0, "nothing cached from a failed open");
        // Nothing was poisoned: Alice's commands still open, one key cached.
        assert_eq!(keys.open_command(&ALICE, &sealed), Ok(b"transfer".to_vec()));
        assert_eq!(keys.cached_senders(), 1);
    }

    #[test]
    fn batch_opening_gives_the_same_results_as_one_by_one() {
        let (id, secret, session) = setup();
        let public = secret.public();
        let bob = session_secret(b"bob", &id, &public);
        let mut boxes = Vec::new();
        for i in 0..80u8 {
            let (origin, sealed) = match i % 5 {
                0 => (ALICE, seal_session_command(&session, &public, &id, &ALICE, &[i]).unwrap()),
                1 => (MALLORY, seal_session_command(&bob, &public, &id, &MALLORY, &[i]).unwrap()),
                2 => (ALICE, seal_command(&public, &id, &ALICE, &[i]).unwrap()),
                // Re-pushed by another account.
                3 => (MALLORY, seal_session_command(&session, &public, &id, &ALICE, &[i]).unwrap()),
                _ => {
                    let mut b = seal_command(&public, &id, &ALICE, &[i]).unwrap();
                    b.ciphertext[0] ^= 1;
                    (ALICE, b)
                }
            };
            boxes.push((origin, sealed));
        }
        let refs: Vec<_> = boxes.iter().map(|(o, b)| (*o, b)).collect();
        let batch = ContractKeys::new(id, secret.to_bytes()).open_commands(&refs);
        let mut keys = ContractKeys::new(id, secret.to_bytes());
        let single: Vec<_> = boxes.iter().map(|(o, b)| keys.open_command(o, b)).collect();
        assert_eq!(batch, single);
        assert_eq!(batch.iter().filter(|r| r.is_ok()).count(), 48);
    }

    #[test]
    fn sealing_with_cached_event_keys_is_the_plain_sealing() {
        let (id, secret, _) = setup();
        let mut keys = ContractKeys::new(id, secret.to_bytes());
        let outputs = vec![
            Output::PrivateEvent { to: ALICE, payload: b"receipt".to_vec() },
            Output::PublicEvent(b"public".to_vec()),
            Output::PrivateEvent { to: MALLORY, payload: b"other".to_vec() },
            Output::Transfer { to: ALICE, amount: 5 },
        ];
        for seq in 0..3 {
            assert_eq!(
                keys.seal_outputs(seq, outputs.clone()),
                seal_outputs(&secret, &id, seq, outputs.clone())
            );
        }
        assert_eq!(keys.random_seed(), crate::evm::random_seed(&secret, &id));
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_recent_entries() {
        let mut cache: Recent<u32, u32> = Recent::new(8);
        for i in 0..100u32 {
            cache.insert(i, i);
            // Entry 0 is used all the time: it is never dropped.
            assert_eq!(cache.get(&0), Some(&0));
            assert!(cache.len() <= 8);
        }
        assert_eq!(cache.get(&99), Some(&99));
        assert_eq!(cache.get(&1), None);
    }
}
