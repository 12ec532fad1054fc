//! `mq`: the message queue between the chain and enclaves.
//!
//! - To enclaves: modules and accounts emit [`Event::OutboundMessage`]; enclaves read them by
//!   topic from blocks their light client verified (events are committed by the header's events
//!   root).
//! - From enclaves: a relayer submits [`SignedMessage`]s with `sync_offchain_message`. The chain
//!   accepts one only if its sender is a registered worker, its signature (which binds the
//!   genesis hash) verifies, and its sequence number is exactly the next one expected from that
//!   sender: replays and gaps are refused.
//!
//! `mq` imports no other module: who counts as a worker and which module handles a decoded
//! [`FromEnclave`] message are the runtime root's [`Config`] (FRAME-style), so the modules that
//! send through `mq` do not form an import cycle with it.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_crypto::Public;
use umbra_primitives::{
    mq::{MessageOrigin, SignedMessage},
    serde_helpers::bytes_hex,
    AccountId,
};
use umbra_protocol::{FromEnclave, ProtocolError, ToEnclave};

use crate::{
    ext::{DispatchError, Ext},
    state::{Overlay, StorageMap},
};

/// What `mq` needs from the rest of the runtime, implemented by the runtime root
/// ([`crate::Runtime`]).
pub trait Config {
    /// Whether `identity` is a registered worker (only those may send messages).
    fn is_worker(st: &Overlay<'_>, identity: &Public) -> bool;
    /// Handles an accepted, decoded message from the worker `sender`: the one `match` on
    /// [`FromEnclave`], routing it to the module that handles it. An error rejects the message
    /// (its changes are rolled back by the handler's transaction).
    fn on_message(ext: &mut Ext<'_>, sender: &Public, message: FromEnclave) -> Result<(), String>;
}

/// Module name used in errors.
pub const MODULE: &str = "mq";
/// Longest topic accepted.
pub const MAX_TOPIC_LEN: usize = 256;

// ---- storage ----

/// Next sequence number expected from each off-chain sender.
pub const INGRESS_SEQ: StorageMap<MessageOrigin, u64> = StorageMap::new(b"mq/ingress_seq/");

// ---- calls ----

/// Calls of the mq module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Relays a message signed by an enclave. Origin: any signed account (the relayer pays).
    #[codec(index = 0)]
    SyncOffchainMessage {
        /// The signed message.
        message: SignedMessage,
    },
    /// Sends a message to enclaves on `topic`. Origin: signed (the message's origin).
    #[codec(index = 1)]
    PushMessage {
        /// Topic.
        topic: Vec<u8>,
        /// Payload.
        payload: Vec<u8>,
    },
}

/// Stable call indices of this module.
pub const CALL_INDICES: &[u8] = &[0, 1];

// ---- events ----

/// Events of the mq module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A message to enclaves.
    OutboundMessage {
        /// Who sent it.
        origin: MessageOrigin,
        /// Topic.
        #[serde(with = "bytes_hex")]
        topic: Vec<u8>,
        /// Payload.
        #[serde(with = "bytes_hex")]
        payload: Vec<u8>,
    },
    /// An accepted message's handler refused it (e.g. a gatekeeper message from a worker that is
    /// not the leader); it changed nothing.
    MessageRejected {
        /// The enclave that signed it.
        sender: MessageOrigin,
        /// Topic.
        #[serde(with = "bytes_hex")]
        topic: Vec<u8>,
        /// Its sequence number.
        sequence: u64,
        /// Why.
        reason: String,
    },
    /// A message from an enclave was accepted.
    InboundMessage {
        /// The enclave that signed it.
        sender: MessageOrigin,
        /// Topic.
        #[serde(with = "bytes_hex")]
        topic: Vec<u8>,
        /// Its sequence number.
        sequence: u64,
        /// Payload.
        #[serde(with = "bytes_hex")]
        payload: Vec<u8>,
    },
}

// ---- errors ----

/// Errors of the mq module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The sender is not a registered worker.
    #[error("sender is not a registered worker")]
    UnknownSender,
    /// The signature does not verify.
    #[error("bad message signature")]
    BadSignature,
    /// The sequence number was already used (replay).
    #[error("message sequence already processed")]
    Replayed,
    /// The sequence number skips ahead of the next expected one.
    #[error("message sequence skips ahead")]
    SequenceGap,
    /// The topic is empty or too long.
    #[error("invalid topic")]
    BadTopic,
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        DispatchError::new(MODULE, &e)
    }
}

// ---- logic ----

/// Sends `message` to enclaves from module `module` (its `MODULE` name), in its wire form.
pub fn send(ext: &mut Ext<'_>, module: &str, message: ToEnclave) {
    let (topic, payload) = message.to_wire();
    push_outbound(ext, MessageOrigin::Module(module.into()), topic, payload);
}

/// Emits a message to enclaves.
pub fn push_outbound(ext: &mut Ext<'_>, origin: MessageOrigin, topic: Vec<u8>, payload: Vec<u8>) {
    ext.deposit_event(Event::OutboundMessage { origin, topic, payload });
}

/// The next sequence number expected from `sender`.
pub fn next_sequence(st: &Overlay<'_>, sender: &MessageOrigin) -> u64 {
    INGRESS_SEQ.get_or_default(st, sender)
}

fn accept<T: Config>(ext: &mut Ext<'_>, message: SignedMessage) -> Result<(), Error> {
    let MessageOrigin::Worker(identity) = &message.sender else { return Err(Error::UnknownSender) };
    if !T::is_worker(&ext.state, identity) {
        return Err(Error::UnknownSender);
    }
    if !message.verify(&ext.genesis_hash(), identity) {
        return Err(Error::BadSignature);
    }
    let expected = next_sequence(&ext.state, &message.sender);
    if message.sequence < expected {
        return Err(Error::Replayed);
    }
    if message.sequence > expected {
        return Err(Error::SequenceGap);
    }
    INGRESS_SEQ.insert(&mut ext.state, &message.sender, &expected.saturating_add(1));
    let identity = *identity;
    let SignedMessage { sender, topic, sequence, payload, .. } = message;
    // A message of no known topic is recorded and ignored; a malformed one, or one its handler
    // refuses, is rejected without changing anything.
    let routed = match FromEnclave::from_wire(&topic, &payload) {
        Err(ProtocolError::UnknownTopic(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(m) => T::on_message(ext, &identity, m),
    };
    // The message itself is accepted (its sequence number is used) even when its handler refuses
    // it, so one refused message cannot block the sender's later ones.
    let rejection = routed.err();
    ext.deposit_event(Event::InboundMessage {
        sender: sender.clone(),
        topic: topic.clone(),
        sequence,
        payload,
    });
    if let Some(reason) = rejection {
        ext.deposit_event(Event::MessageRejected { sender, topic, sequence, reason });
    }
    Ok(())
}

/// Dispatches an mq call from `origin`.
pub fn dispatch<T: Config>(
    ext: &mut Ext<'_>,
    origin: AccountId,
    call: Call,
) -> Result<(), DispatchError> {
    match call {
        Call::SyncOffchainMessage { message } => accept::<T>(ext, message)?,
        Call::PushMessage { topic, payload } => {
            if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
                return Err(Error::BadTopic.into());
            }
            push_outbound(ext, MessageOrigin::Account(origin), topic, payload);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{modules::registry::tests::registered_worker, state::EmptyState};
    use umbra_primitives::{Pair, H256};

    fn setup() -> (Ext<'static>, Pair) {
        let mut ext = Ext::with_genesis(Overlay::new(&EmptyState), H256::hash(b"genesis"));
        let worker = Pair::from_suri("//Worker1").unwrap();
        registered_worker(&mut ext, &worker);
        (ext, worker)
    }

    fn relay(ext: &mut Ext<'_>, m: SignedMessage) -> Result<(), DispatchError> {
        let relayer = Pair::from_suri("//Alice").unwrap().public();
        ext.transactional(|ext| {
            dispatch::<crate::Runtime>(ext, relayer, Call::SyncOffchainMessage { message: m })
        })
    }

    #[test]
    fn in_order_messages_are_accepted_and_announced() {
        let (mut ext, w) = setup();
        let g = ext.genesis_hash();
        for seq in 0..3 {
            relay(&mut ext, SignedMessage::sign(&w, &g, b"t".to_vec(), seq, vec![seq as u8]))
                .unwrap();
        }
        assert_eq!(next_sequence(&ext.state, &MessageOrigin::Worker(w.public())), 3);
        let inbound = ext
            .events()
            .iter()
            .filter(|r| matches!(r.event, crate::Event::Mq(Event::InboundMessage { .. })))
            .count();
        assert_eq!(inbound, 3);
    }

    #[test]
    fn cannot_replay_skip_forge_or_send_as_unknown_worker() {
        let (mut ext, w) = setup();
        let g = ext.genesis_hash();
        let m0 = SignedMessage::sign(&w, &g, b"t".to_vec(), 0, vec![]);
        relay(&mut ext, m0.clone()).unwrap();
        assert_eq!(relay(&mut ext, m0).unwrap_err().variant(), "Replayed");
        let gap = SignedMessage::sign(&w, &g, b"t".to_vec(), 2, vec![]);
        assert_eq!(relay(&mut ext, gap).unwrap_err().variant(), "SequenceGap");
        let mut forged = SignedMessage::sign(&w, &g, b"t".to_vec(), 1, vec![]);
        forged.payload = b"evil".to_vec();
        assert_eq!(relay(&mut ext, forged).unwrap_err().variant(), "BadSignature");
        let other_chain = SignedMessage::sign(&w, &H256::hash(b"x"), b"t".to_vec(), 1, vec![]);
        assert_eq!(relay(&mut ext, other_chain).unwrap_err().variant(), "BadSignature");
        let stranger = Pair::from_suri("//Stranger").unwrap();
        let m = SignedMessage::sign(&stranger, &g, b"t".to_vec(), 0, vec![]);
        assert_eq!(relay(&mut ext, m).unwrap_err().variant(), "UnknownSender");
        assert_eq!(next_sequence(&ext.state, &MessageOrigin::Worker(w.public())), 1);
    }

    #[test]
    fn messages_are_routed_by_the_protocol_and_malformed_ones_rejected() {
        let (mut ext, w) = setup();
        let g = ext.genesis_hash();
        let rejected = |ext: &Ext<'_>| {
            ext.events()
                .iter()
                .filter_map(|r| match &r.event {
                    crate::Event::Mq(Event::MessageRejected { reason, .. }) => Some(reason.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        // A known topic whose payload is not its message: accepted (sequence used), rejected.
        let bad = SignedMessage::sign(
            &w,
            &g,
            umbra_primitives::mq::topics::EG_MASTER_PUBKEY.to_vec(),
            0,
            vec![1, 2, 3],
        );
        relay(&mut ext, bad).unwrap();
        assert_eq!(next_sequence(&ext.state, &MessageOrigin::Worker(w.public())), 1);
        let reasons = rejected(&ext);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("malformed"), "{reasons:?}");
        // A well-formed gatekeeper message from a worker that is no gatekeeper: routed to the
        // gatekeeper module, which refuses it.
        let (topic, payload) =
            FromEnclave::Gatekeeper(umbra_protocol::FromGatekeeper::MasterPubkey(
                umbra_protocol::MasterPubkey { rotation: 0, pubkey: [7; 32] },
            ))
            .to_wire();
        relay(&mut ext, SignedMessage::sign(&w, &g, topic, 1, payload)).unwrap();
        let reasons = rejected(&ext);
        assert_eq!(reasons.len(), 2);
        assert!(reasons[1].contains("not a gatekeeper"), "{reasons:?}");
        assert!(crate::gatekeeper::MASTER_KEYS.get(&ext.state, &0).is_none());
        // An unknown topic is recorded and ignored.
        relay(&mut ext, SignedMessage::sign(&w, &g, b"t".to_vec(), 2, vec![])).unwrap();
        assert_eq!(rejected(&ext).len(), 2);
    }

    #[test]
    fn push_message_emits_outbound_from_the_account() {
        let (mut ext, _) = setup();
        let alice = Pair::from_suri("//Alice").unwrap().public();
        dispatch::<crate::Runtime>(
            &mut ext,
            alice,
            Call::PushMessage { topic: b"x".to_vec(), payload: b"y".to_vec() },
        )
        .unwrap();
        assert!(ext.events().iter().any(|r| r.event
            == crate::Event::Mq(Event::OutboundMessage {
                origin: MessageOrigin::Account(alice),
                topic: b"x".to_vec(),
                payload: b"y".to_vec()
            })));
        assert_eq!(
            dispatch::<crate::Runtime>(
                &mut ext,
                alice,
                Call::PushMessage { topic: vec![], payload: vec![] }
            )
            .unwrap_err()
            .variant(),
            "BadTopic"
        );
    }
}
