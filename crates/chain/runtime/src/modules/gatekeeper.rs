//! `gatekeeper`: the workers that hold the master key.
//!
//! Governance elects registered (so attested) workers. The first one is told through the mq to
//! create the master key inside its enclave; it publishes the master public key. Each later one
//! gets the master keys from the leader (the first gatekeeper in the list), sealed to the ECDH key
//! the chain registered for it after checking its attestation. Rotation creates a new master key
//! for new contracts; old keys are kept for old data. The leader also derives and publishes each
//! contract's public key and hands contract keys to the workers the chain assigns.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_crypto::{Public, SealedBox};
#[allow(unused_imports)] // the module's tests use them through `super::*`
use umbra_primitives::{
    mq::{topics, MessageOrigin},
    serde_helpers::{account_ss58, bytes_hex},
    AccountId, BlockNumber,
};

use crate::{
    ext::{DispatchError, Ext},
    modules::{governance, mq, registry, system},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "gatekeeper";

/// A master public key on chain.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MasterKeyInfo {
    /// Its x25519 public key.
    #[serde(with = "bytes_hex")]
    pub pubkey: [u8; 32],
    /// When it was published.
    pub published_at: BlockNumber,
    /// The gatekeeper that published it.
    #[serde(with = "account_ss58")]
    pub by: Public,
}

/// Master keys for one gatekeeper (defined with every boundary message in `umbra-protocol`).
pub use umbra_protocol::MasterKeys;
use umbra_protocol::{FromGatekeeper, MasterPubkey, ToEnclave, ToGatekeeper};

// ---- storage ----

/// Elected gatekeepers, in election order; the first is the leader.
pub const GATEKEEPERS: StorageValue<Vec<Public>> = StorageValue::new(b"gatekeeper/list");
/// Master public keys by rotation.
pub const MASTER_KEYS: StorageMap<u32, MasterKeyInfo> = StorageMap::new(b"gatekeeper/master/");
/// The newest published rotation.
pub const CURRENT_ROTATION: StorageValue<u32> = StorageValue::new(b"gatekeeper/rotation");
/// A rotation asked for but not published yet.
pub const PENDING_ROTATION: StorageValue<u32> = StorageValue::new(b"gatekeeper/pending_rotation");
/// The newest rotation each gatekeeper holds.
pub const HOLDS: StorageMap<Public, u32> = StorageMap::new(b"gatekeeper/holds/");

// ---- calls ----

/// Calls of the gatekeeper module (all council-only).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Elects a registered worker as gatekeeper.
    #[codec(index = 0)]
    Elect {
        /// The worker.
        worker: Public,
    },
    /// Removes a gatekeeper (at least one that holds the current key must remain).
    #[codec(index = 1)]
    Remove {
        /// The gatekeeper.
        worker: Public,
    },
    /// Asks the leader for a new master key (new contracts use it; old keys stay).
    #[codec(index = 2)]
    RotateMasterKey,
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1, 2];

// ---- events ----

/// Events of the gatekeeper module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A worker was elected gatekeeper.
    Elected {
        /// It.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// A gatekeeper was removed.
    Removed {
        /// It.
        #[serde(with = "account_ss58")]
        worker: Public,
    },
    /// A master public key was published.
    MasterKeyPublished {
        /// Rotation number.
        rotation: u32,
        /// The key.
        #[serde(with = "bytes_hex")]
        pubkey: [u8; 32],
    },
    /// Master keys were handed to a gatekeeper.
    MasterKeysShared {
        /// The receiving gatekeeper.
        #[serde(with = "account_ss58")]
        to: Public,
        /// Newest rotation it now holds.
        rotation: u32,
    },
    /// A rotation was requested.
    RotationRequested {
        /// The new rotation number.
        rotation: u32,
    },
}

// ---- errors ----

/// Errors of the gatekeeper module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The caller is not the council key.
    #[error("the caller is not the council key")]
    RequireCouncil,
    /// The worker is not registered.
    #[error("worker not registered")]
    NotRegistered,
    /// Already a gatekeeper.
    #[error("already a gatekeeper")]
    AlreadyGatekeeper,
    /// Not a gatekeeper.
    #[error("not a gatekeeper")]
    NotGatekeeper,
    /// Removing it would leave no gatekeeper holding the current key.
    #[error("the last key-holding gatekeeper cannot be removed")]
    LastKeyHolder,
    /// There is no master key yet, or a rotation is already pending.
    #[error("no master key yet, or a rotation is pending")]
    RotationNotPossible,
    /// The worker runs on an insecure (simulated) platform and this chain no longer accepts them.
    #[error("the worker is on an insecure platform this chain does not accept")]
    InsecureWorker,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// The elected gatekeepers.
pub fn gatekeepers(st: &Overlay<'_>) -> Vec<Public> {
    GATEKEEPERS.get_or_default(st)
}

/// The leader (first gatekeeper).
pub fn leader(st: &Overlay<'_>) -> Option<Public> {
    gatekeepers(st).first().copied()
}

/// The newest master key rotation, if a master key exists.
pub fn current_rotation(st: &Overlay<'_>) -> Option<u32> {
    CURRENT_ROTATION.get(st)
}

/// Decodes a gatekeeper message from its wire form and handles it (for tests and tools; `mq`
/// routes decoded messages to [`handle`]). Errors are reported by `mq` as a rejected message;
/// nothing changes.
pub fn on_message(
    ext: &mut Ext<'_>,
    sender: &Public,
    topic: &[u8],
    payload: &[u8],
) -> Result<(), String> {
    match umbra_protocol::FromEnclave::from_wire(topic, payload).map_err(|e| e.to_string())? {
        umbra_protocol::FromEnclave::Gatekeeper(m) => handle(ext, sender, m),
        _ => Err("unknown gatekeeper topic".into()),
    }
}

/// Handles a gatekeeper message from an enclave (routed by `mq`). Errors are reported by `mq`
/// as a rejected message; nothing changes.
pub fn handle(ext: &mut Ext<'_>, sender: &Public, message: FromGatekeeper) -> Result<(), String> {
    let st = &ext.state;
    let gks = gatekeepers(st);
    if !gks.contains(sender) {
        return Err("sender is not a gatekeeper".into());
    }
    let is_leader = gks.first() == Some(sender);
    match message {
        FromGatekeeper::MasterPubkey(MasterPubkey { rotation, pubkey }) => {
            if !is_leader {
                return Err("only the leader publishes master keys".into());
            }
            let expected = match current_rotation(st) {
                None => 0,
                Some(_) => PENDING_ROTATION.get(st).ok_or("no rotation pending")?,
            };
            if rotation != expected {
                return Err(format!("unexpected rotation {rotation}, expected {expected}"));
            }
            let now = system::NUMBER.get_or_default(st);
            MASTER_KEYS.insert(
                &mut ext.state,
                &rotation,
                &MasterKeyInfo { pubkey, published_at: now, by: *sender },
            );
            CURRENT_ROTATION.put(&mut ext.state, &rotation);
            ext.state.set(PENDING_ROTATION.key().to_vec(), None);
            HOLDS.insert(&mut ext.state, sender, &rotation);
            ext.deposit_event(Event::MasterKeyPublished { rotation, pubkey });
            Ok(())
        }
        FromGatekeeper::MasterKeys(keys) => {
            if !is_leader {
                return Err("only the leader shares master keys".into());
            }
            if !gks.contains(&keys.to) {
                return Err("recipient is not a gatekeeper".into());
            }
            let newest = keys.keys.iter().map(|(r, _)| *r).max().ok_or("no keys")?;
            HOLDS.insert(&mut ext.state, &keys.to, &newest);
            ext.deposit_event(Event::MasterKeysShared { to: keys.to, rotation: newest });
            mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::MasterKeys(keys)));
            Ok(())
        }
    }
}

fn ensure_council(st: &Overlay<'_>, who: &AccountId) -> Result<(), Error> {
    governance::is_council(st, who).then_some(()).ok_or(Error::RequireCouncil)
}

/// Dispatches a gatekeeper call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, who: AccountId, call: Call) -> Result<(), DispatchError> {
    ensure_council(&ext.state, &who)?;
    let mut gks = gatekeepers(&ext.state);
    match call {
        Call::Elect { worker } => {
            let info = registry::worker(&ext.state, &worker).ok_or(Error::NotRegistered)?;
            // The master key never goes to a platform whose secrets the host can read, unless
            // the chain explicitly accepts such platforms (dev chains).
            if info.insecure && !registry::accepts_insecure(&ext.state) {
                return Err(Error::InsecureWorker.into());
            }
            if gks.contains(&worker) {
                return Err(Error::AlreadyGatekeeper.into());
            }
            gks.push(worker);
            GATEKEEPERS.put(&mut ext.state, &gks);
            ext.deposit_event(Event::Elected { worker });
            if gks.len() == 1 && current_rotation(&ext.state).is_none() {
                let launch = umbra_protocol::Launch { first: worker };
                mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::Launch(launch)));
            } else {
                let request = umbra_protocol::ShareRequest { gatekeeper: worker, ecdh: info.ecdh };
                mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::ShareRequest(request)));
            }
        }
        Call::Remove { worker } => {
            let pos = gks.iter().position(|g| *g == worker).ok_or(Error::NotGatekeeper)?;
            gks.remove(pos);
            let current = current_rotation(&ext.state);
            let new_leader_ok = match (gks.first(), current) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(l), Some(r)) => HOLDS.get(&ext.state, l).is_some_and(|h| h >= r),
            };
            if !new_leader_ok {
                return Err(Error::LastKeyHolder.into());
            }
            GATEKEEPERS.put(&mut ext.state, &gks);
            HOLDS.remove(&mut ext.state, &worker);
            ext.deposit_event(Event::Removed { worker });
        }
        Call::RotateMasterKey => {
            let current = current_rotation(&ext.state).ok_or(Error::RotationNotPossible)?;
            if PENDING_ROTATION.get(&ext.state).is_some() {
                return Err(Error::RotationNotPossible.into());
            }
            let rotation = current.checked_add(1).ok_or(Error::RotationNotPossible)?;
            PENDING_ROTATION.put(&mut ext.state, &rotation);
            ext.deposit_event(Event::RotationRequested { rotation });
            let rotate = umbra_protocol::Rotate { rotation };
            mq::send(ext, MODULE, ToEnclave::Gatekeeper(ToGatekeeper::Rotate(rotate)));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
