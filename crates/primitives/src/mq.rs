//! Message-queue types shared by the chain's `mq` module and the enclave runtime.
//!
//! Messages *to* enclaves are chain events (`mq::Event::OutboundMessage`), read by topic from
//! verified blocks. Messages *from* enclaves are [`SignedMessage`]s: the sender's identity key
//! signs `(genesis, sender, topic, sequence, payload)`, and the chain accepts sequence numbers
//! strictly in order per sender, so a relayer can neither forge, replay nor skip one.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_crypto::{Pair, Public, Signature};

use crate::{serde_helpers::account_ss58, AccountId, H256};

/// Who sent a message.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode, Serialize)]
pub enum MessageOrigin {
    /// A runtime module, by name.
    #[codec(index = 0)]
    Module(Vec<u8>),
    /// A signed account (through `mq::push_message`).
    #[codec(index = 1)]
    Account(#[serde(with = "account_ss58")] AccountId),
    /// A registered worker's enclave, by identity key.
    #[codec(index = 2)]
    Worker(#[serde(with = "account_ss58")] Public),
}

/// Well-known topics.
pub mod topics {
    /// The registry announces a (re-)registered worker; payload: SCALE `Public` identity.
    pub const WORKER_REGISTERED: &[u8] = b"umbra/registry/worker_registered";
    /// Ping to one worker; topic suffix is the worker's identity in hex, payload: opaque bytes.
    pub const PING_PREFIX: &[u8] = b"umbra/system/ping/";
    /// A worker's answer to a ping; payload: SCALE [`super::Pong`].
    pub const PONG: &[u8] = b"umbra/system/pong";

    /// The chain challenges a computing worker; payload: SCALE [`super::Challenge`].
    pub const CHALLENGE: &[u8] = b"umbra/computation/challenge";
    /// A worker's answer to a challenge; payload: SCALE [`super::Heartbeat`].
    pub const HEARTBEAT: &[u8] = b"umbra/computation/heartbeat";

    /// Chain → gatekeepers: the first gatekeeper must create the master key; payload: its identity.
    pub const GK_LAUNCH: &[u8] = b"umbra/gk/launch";
    /// Chain → gatekeeper leader: share the master keys with a newly elected gatekeeper; payload:
    /// (identity, ECDH key).
    pub const GK_SHARE_REQUEST: &[u8] = b"umbra/gk/share_request";
    /// Chain → gatekeeper leader: create the next master key; payload: rotation number (u32).
    pub const GK_ROTATE: &[u8] = b"umbra/gk/rotate";
    /// Chain → one gatekeeper: master keys sealed to its ECDH key.
    pub const GK_MASTER_KEYS: &[u8] = b"umbra/gk/master_keys";
    /// Chain → gatekeeper leader: derive and publish a contract's key; payload: (id, rotation).
    pub const GK_DERIVE_CONTRACT_KEY: &[u8] = b"umbra/gk/derive_contract_key";
    /// Chain → everyone: a contract's assigned workers for an epoch.
    pub const CONTRACT_ASSIGNED: &[u8] = b"umbra/contracts/assigned";
    /// Chain → one worker: a contract key sealed to its ECDH key.
    pub const CONTRACT_KEY: &[u8] = b"umbra/contracts/key";
    /// Enclave → chain (gatekeeper): a master public key.
    pub const EG_MASTER_PUBKEY: &[u8] = b"umbra/gk/eg/master_pubkey";
    /// Enclave → chain (gatekeeper): master keys for another gatekeeper.
    pub const EG_MASTER_KEYS: &[u8] = b"umbra/gk/eg/master_keys";
    /// Enclave → chain (gatekeeper): a contract's public key.
    pub const EG_CONTRACT_PUBKEY: &[u8] = b"umbra/gk/eg/contract_pubkey";
    /// Enclave → chain (gatekeeper): a contract key for an assigned worker.
    pub const EG_CONTRACT_KEY: &[u8] = b"umbra/gk/eg/contract_key";
    /// Enclave → chain (assigned worker): the result of one command (version 2: with the gas
    /// used; version 1 results, without it, are not accepted since they cannot settle fees).
    pub const EG_COMMAND_RESULT: &[u8] = b"umbra/contracts/eg/result/v2";
    /// Enclave → chain (assigned worker): an encrypted state checkpoint.
    pub const EG_CHECKPOINT: &[u8] = b"umbra/contracts/eg/checkpoint";

    /// The ping topic of the worker `identity`.
    pub fn ping_topic(identity: &crate::AccountId) -> Vec<u8> {
        let mut t = PING_PREFIX.to_vec();
        t.extend_from_slice(hex::encode(identity.as_bytes()).as_bytes());
        t
    }
}

/// A worker's answer to a ping: proves its enclave saw the ping in a verified block.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Pong {
    /// Block that carried the ping.
    pub block: u64,
    /// blake2-256 of the ping payload.
    pub ping_hash: H256,
}

/// A heartbeat challenge to one worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Challenge {
    /// The challenged worker's identity.
    pub worker: Public,
    /// The block that issued the challenge.
    pub block: u64,
}

/// A worker's answer to a challenge, signed inside its enclave (as an mq message).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Heartbeat {
    /// The block that issued the challenge being answered.
    pub challenge_block: u64,
    /// The hash of that block as the enclave's light client verified it.
    pub challenge_block_hash: H256,
}

/// A message from an enclave to the chain.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedMessage {
    /// Sender (a worker identity).
    pub sender: MessageOrigin,
    /// Topic.
    pub topic: Vec<u8>,
    /// Per-sender sequence number, from 0, without gaps.
    pub sequence: u64,
    /// Payload.
    pub payload: Vec<u8>,
    /// The sender's signature over [`SignedMessage::signing_payload`].
    pub signature: Signature,
}

impl SignedMessage {
    /// What the sender signs.
    pub fn signing_payload(
        genesis: &H256,
        sender: &MessageOrigin,
        topic: &[u8],
        sequence: u64,
        payload: &[u8],
    ) -> Vec<u8> {
        (b"umbra/mq/v1", genesis, sender, topic, sequence, payload).encode()
    }

    /// Builds and signs a message from the worker holding `identity`.
    pub fn sign(
        identity: &Pair,
        genesis: &H256,
        topic: Vec<u8>,
        sequence: u64,
        payload: Vec<u8>,
    ) -> Self {
        let sender = MessageOrigin::Worker(identity.public());
        let signature =
            identity.sign(&Self::signing_payload(genesis, &sender, &topic, sequence, &payload));
        SignedMessage { sender, topic, sequence, payload, signature }
    }

    /// Whether the signature verifies against `key`.
    pub fn verify(&self, genesis: &H256, key: &Public) -> bool {
        key.verify(
            &Self::signing_payload(
                genesis,
                &self.sender,
                &self.topic,
                self.sequence,
                &self.payload,
            ),
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_message_binds_every_field_and_the_chain() {
        let w = Pair::from_suri("//Worker").unwrap();
        let g = H256::hash(b"g");
        let m = SignedMessage::sign(&w, &g, b"t".to_vec(), 3, b"p".to_vec());
        assert!(m.verify(&g, &w.public()));
        assert!(!m.verify(&H256::hash(b"other"), &w.public()));
        let mut x = m.clone();
        x.sequence = 4;
        assert!(!x.verify(&g, &w.public()));
        let mut x = m.clone();
        x.payload = b"q".to_vec();
        assert!(!x.verify(&g, &w.public()));
        let mut x = m;
        x.topic = b"u".to_vec();
        assert!(!x.verify(&g, &w.public()));
        assert_eq!(SignedMessage::decode(&mut &x.encode()[..]).unwrap(), x);
    }
}
