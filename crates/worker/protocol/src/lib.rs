//! The chain ↔ enclave boundary in one place: every message as a typed SCALE enum.
//!
//! - [`ToEnclave`]: what runtime modules tell enclaves (carried by `mq::Event::OutboundMessage`
//!   in verified blocks). The enclave routes it with one `match` (`Enclave::process`).
//! - [`FromEnclave`]: what enclaves tell the chain (carried by signed, sequenced
//!   [`umbra_primitives::mq::SignedMessage`]s). The runtime root routes it with one `match`
//!   (`mq::Config::on_message` for `umbra_runtime::Runtime`) to each module's handler.
//!
//! Both enums are grouped by module (outer variant: who handles it; inner enum: the message),
//! so a module's handler matches only its own messages. Payloads are named structs; those that
//! existed before ([`Challenge`], [`Heartbeat`], [`Pong`], [`MasterKeys`], [`Assignment`],
//! [`ContractKeyShare`], [`CommandResult`]) are wrapped unchanged.
//!
//! # Wire form and versions
//! On the wire a message is `(topic, payload)`: [`ToEnclave::to_wire`] / [`FromEnclave::to_wire`]
//! give the variant's topic (its name, from [`topics`]) and the SCALE encoding of its struct;
//! `from_wire` is the only place that maps a topic back to a type. Every topic is version 1 of
//! its message ([`PROTOCOL_VERSION`]) except the command result, version 2 (`…/result/v2`,
//! with the gas used); a message whose layout changes gets a new topic, and the old one is
//! decoded while old enclaves remain — unless, as for results without gas (which cannot settle
//! fees), accepting it would be unsafe. A named struct encodes exactly as
//! the tuple it replaced, so the bytes on chain did not change with this crate.

use parity_scale_codec::{Decode, Encode};
use umbra_contracts::ContractId;
/// A command output as the chain sees it (private events already encrypted): the contracts
/// crate's type, so the enclave reports what the executor sealed without converting it.
pub use umbra_contracts::SealedOutput;
use umbra_crypto::{Public, SealedBox};
pub use umbra_primitives::mq::{topics, Challenge, Heartbeat, Pong};
use umbra_primitives::{mq::MessageOrigin, H256};

/// The version of the message set in this crate (every topic in [`topics`] is version 1).
pub const PROTOCOL_VERSION: u8 = 1;

/// Module names that send [`ToEnclave`] messages (their `MODULE` constants in the runtime).
pub mod modules {
    /// The registry.
    pub const REGISTRY: &str = "registry";
    /// Computation (heartbeat challenges).
    pub const COMPUTATION: &str = "computation";
    /// Gatekeepers.
    pub const GATEKEEPER: &str = "gatekeeper";
    /// Contracts.
    pub const CONTRACTS: &str = "contracts";
}

/// A message that is not one of this protocol's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// No message has this topic.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The payload does not decode as the topic's message.
    #[error("malformed {topic} payload: {reason}")]
    Malformed {
        /// The topic.
        topic: String,
        /// The decoding error.
        reason: String,
    },
}

fn topic_name(topic: &[u8]) -> String {
    String::from_utf8_lossy(topic).into_owned()
}

fn decode<T: Decode>(topic: &[u8], payload: &[u8]) -> Result<T, ProtocolError> {
    T::decode(&mut &payload[..])
        .map_err(|e| ProtocolError::Malformed { topic: topic_name(topic), reason: e.to_string() })
}

// ---- payloads, chain → enclave ----

/// The registry announces a (re-)registered worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct WorkerRegistered {
    /// Its identity.
    pub identity: Public,
}

/// A ping to one worker (sent by any account with `mq::push_message`).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Ping {
    /// The pinged worker.
    pub worker: Public,
    /// Opaque data; the pong carries its hash.
    pub data: Vec<u8>,
}

/// The first gatekeeper must create the master key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Launch {
    /// The first gatekeeper.
    pub first: Public,
}

/// The leader must share the master keys with a newly elected gatekeeper.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ShareRequest {
    /// The new gatekeeper.
    pub gatekeeper: Public,
    /// Its ECDH key, as the registry holds it.
    pub ecdh: [u8; 32],
}

/// The leader must create the next master key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Rotate {
    /// The new rotation number.
    pub rotation: u32,
}

/// The leader must derive and publish a contract's key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DeriveContractKey {
    /// The contract.
    pub contract: ContractId,
    /// The master key rotation it derives from.
    pub rotation: u32,
}

/// Master keys for one gatekeeper, each sealed to its ECDH key (leader → chain → gatekeeper).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct MasterKeys {
    /// The receiving gatekeeper.
    pub to: Public,
    /// `(rotation, sealed 32-byte master secret)` for every rotation so far.
    pub keys: Vec<(u32, SealedBox)>,
}

/// Who runs a contract in an epoch, with the ECDH keys the registry holds for them (the
/// gatekeeper seals the contract key to those).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Assignment {
    /// Contract.
    pub contract: ContractId,
    /// Epoch.
    pub epoch: u64,
    /// Workers and their ECDH keys.
    pub workers: Vec<(Public, [u8; 32])>,
}

/// A contract key sealed to an assigned worker (leader → chain → worker).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ContractKeyShare {
    /// Contract.
    pub contract: ContractId,
    /// Receiving worker.
    pub worker: Public,
    /// Assignment epoch it is for.
    pub epoch: u64,
    /// The contract secret sealed to the worker's ECDH key.
    pub sealed: SealedBox,
}

// ---- payloads, enclave → chain ----

/// A master public key (gatekeeper leader).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct MasterPubkey {
    /// Rotation number.
    pub rotation: u32,
    /// The x25519 public key.
    pub pubkey: [u8; 32],
}

/// A contract's public key (gatekeeper leader).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ContractPubkey {
    /// Contract.
    pub contract: ContractId,
    /// Rotation it derives from.
    pub rotation: u32,
    /// The x25519 public key.
    pub pubkey: [u8; 32],
}

/// What an assigned worker reports for one command.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommandResult {
    /// Contract.
    pub contract: ContractId,
    /// Command sequence number.
    pub seq: u64,
    /// State hash after it (unchanged on failure).
    pub state_hash: H256,
    /// Outputs, or why the command failed.
    pub outcome: Result<Vec<SealedOutput>, String>,
    /// At checkpoint boundaries: blake2 of the encrypted checkpoint taken after this command
    /// (the blob goes to the node's off-chain blob store).
    pub checkpoint: Option<H256>,
    /// Gas the command used (deterministic, at most its gas limit; see
    /// `umbra_contracts::gas`): the chain charges `gas_used × price` and refunds the rest of the
    /// prepaid limit once a quorum agrees on it.
    pub gas_used: u64,
}

impl CommandResult {
    /// What workers vote on: `blake2("umbra/contract-vote/v2" ‖ state hash ‖ outcome ‖
    /// checkpoint ‖ gas used)`, so a worker reporting other gas does not count toward the
    /// quorum of the honest result.
    pub fn vote_key(&self) -> H256 {
        H256(umbra_crypto::blake2_256(
            &(
                b"umbra/contract-vote/v2",
                &self.state_hash,
                &self.outcome,
                &self.checkpoint,
                self.gas_used,
            )
                .encode(),
        ))
    }
}

// ---- chain → enclave ----

/// Gatekeeper duties the chain hands to gatekeepers.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ToGatekeeper {
    /// Create the first master key (`gatekeeper` module).
    #[codec(index = 0)]
    Launch(Launch),
    /// Share the master keys with a new gatekeeper (`gatekeeper`).
    #[codec(index = 1)]
    ShareRequest(ShareRequest),
    /// Create the next master key (`gatekeeper`).
    #[codec(index = 2)]
    Rotate(Rotate),
    /// Master keys for one gatekeeper (`gatekeeper`).
    #[codec(index = 3)]
    MasterKeys(MasterKeys),
    /// Derive and publish a contract's key (`contracts`).
    #[codec(index = 4)]
    DeriveContractKey(DeriveContractKey),
}

/// Contract duties the chain hands to workers.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ToWorker {
    /// A contract's assigned workers for an epoch.
    #[codec(index = 0)]
    Assigned(Assignment),
    /// A contract key sealed to one worker.
    #[codec(index = 1)]
    ContractKey(ContractKeyShare),
}

/// Every message from the chain to enclaves, by the handler that takes it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ToEnclave {
    /// `registry`: a worker (re-)registered.
    #[codec(index = 0)]
    WorkerRegistered(WorkerRegistered),
    /// `computation`: a heartbeat challenge.
    #[codec(index = 1)]
    Challenge(Challenge),
    /// Any account: a ping.
    #[codec(index = 2)]
    Ping(Ping),
    /// `gatekeeper` (and `contracts` for key derivation): gatekeeper duties.
    #[codec(index = 3)]
    Gatekeeper(ToGatekeeper),
    /// `contracts`: contract assignment and keys.
    #[codec(index = 4)]
    Contracts(ToWorker),
}

impl ToEnclave {
    /// The topic and payload this message travels as.
    pub fn to_wire(&self) -> (Vec<u8>, Vec<u8>) {
        use ToGatekeeper as G;
        use ToWorker as W;
        match self {
            ToEnclave::WorkerRegistered(m) => (topics::WORKER_REGISTERED.to_vec(), m.encode()),
            ToEnclave::Challenge(m) => (topics::CHALLENGE.to_vec(), m.encode()),
            ToEnclave::Ping(m) => (topics::ping_topic(&m.worker), m.data.clone()),
            ToEnclave::Gatekeeper(G::Launch(m)) => (topics::GK_LAUNCH.to_vec(), m.encode()),
            ToEnclave::Gatekeeper(G::ShareRequest(m)) => {
                (topics::GK_SHARE_REQUEST.to_vec(), m.encode())
            }
            ToEnclave::Gatekeeper(G::Rotate(m)) => (topics::GK_ROTATE.to_vec(), m.encode()),
            ToEnclave::Gatekeeper(G::MasterKeys(m)) => {
                (topics::GK_MASTER_KEYS.to_vec(), m.encode())
            }
            ToEnclave::Gatekeeper(G::DeriveContractKey(m)) => {
                (topics::GK_DERIVE_CONTRACT_KEY.to_vec(), m.encode())
            }
            ToEnclave::Contracts(W::Assigned(m)) => {
                (topics::CONTRACT_ASSIGNED.to_vec(), m.encode())
            }
            ToEnclave::Contracts(W::ContractKey(m)) => (topics::CONTRACT_KEY.to_vec(), m.encode()),
        }
    }

    /// The message a `(topic, payload)` pair carries.
    pub fn from_wire(topic: &[u8], payload: &[u8]) -> Result<Self, ProtocolError> {
        use ToGatekeeper as G;
        use ToWorker as W;
        Ok(match topic {
            t if t == topics::WORKER_REGISTERED => {
                ToEnclave::WorkerRegistered(decode(topic, payload)?)
            }
            t if t == topics::CHALLENGE => ToEnclave::Challenge(decode(topic, payload)?),
            t if t == topics::GK_LAUNCH => {
                ToEnclave::Gatekeeper(G::Launch(decode(topic, payload)?))
            }
            t if t == topics::GK_SHARE_REQUEST => {
                ToEnclave::Gatekeeper(G::ShareRequest(decode(topic, payload)?))
            }
            t if t == topics::GK_ROTATE => {
                ToEnclave::Gatekeeper(G::Rotate(decode(topic, payload)?))
            }
            t if t == topics::GK_MASTER_KEYS => {
                ToEnclave::Gatekeeper(G::MasterKeys(decode(topic, payload)?))
            }
            t if t == topics::GK_DERIVE_CONTRACT_KEY => {
                ToEnclave::Gatekeeper(G::DeriveContractKey(decode(topic, payload)?))
            }
            t if t == topics::CONTRACT_ASSIGNED => {
                ToEnclave::Contracts(W::Assigned(decode(topic, payload)?))
            }
            t if t == topics::CONTRACT_KEY => {
                ToEnclave::Contracts(W::ContractKey(decode(topic, payload)?))
            }
            t => match t.strip_prefix(topics::PING_PREFIX) {
                Some(hex_id) => {
                    let bytes: [u8; 32] = hex::decode(hex_id)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| ProtocolError::Malformed {
                            topic: topic_name(topic),
                            reason: "the ping topic does not end in a worker identity".into(),
                        })?;
                    ToEnclave::Ping(Ping { worker: Public(bytes), data: payload.to_vec() })
                }
                None => return Err(ProtocolError::UnknownTopic(topic_name(topic))),
            },
        })
    }

    /// Whether `origin` may send this message: each message comes from the module that owns
    /// it; a ping from anyone.
    pub fn allowed_origin(&self, origin: &MessageOrigin) -> bool {
        let module = match self {
            ToEnclave::Ping(_) => return true,
            ToEnclave::WorkerRegistered(_) => modules::REGISTRY,
            ToEnclave::Challenge(_) => modules::COMPUTATION,
            ToEnclave::Gatekeeper(ToGatekeeper::DeriveContractKey(_)) => modules::CONTRACTS,
            ToEnclave::Gatekeeper(_) => modules::GATEKEEPER,
            ToEnclave::Contracts(_) => modules::CONTRACTS,
        };
        *origin == MessageOrigin::Module(module.as_bytes().to_vec())
    }
}

// ---- enclave → chain ----

/// Gatekeeper messages to the `gatekeeper` module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum FromGatekeeper {
    /// A master public key.
    #[codec(index = 0)]
    MasterPubkey(MasterPubkey),
    /// Master keys for another gatekeeper.
    #[codec(index = 1)]
    MasterKeys(MasterKeys),
}

/// Messages to the `contracts` module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum FromWorker {
    /// A contract's public key (gatekeeper leader).
    #[codec(index = 0)]
    ContractPubkey(ContractPubkey),
    /// A contract key for an assigned worker (gatekeeper leader).
    #[codec(index = 1)]
    ContractKey(ContractKeyShare),
    /// The result of one command, with its checkpoint hash at checkpoint boundaries (assigned
    /// worker; the checkpoint blob itself goes to the node's off-chain store).
    #[codec(index = 2)]
    CommandResult(CommandResult),
}

/// Every message from enclaves to the chain, by the module that handles it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum FromEnclave {
    /// `computation`: an answer to a challenge.
    #[codec(index = 0)]
    Heartbeat(Heartbeat),
    /// An answer to a ping (the chain only records it as an `InboundMessage`).
    #[codec(index = 1)]
    Pong(Pong),
    /// `gatekeeper`.
    #[codec(index = 2)]
    Gatekeeper(FromGatekeeper),
    /// `contracts`.
    #[codec(index = 3)]
    Contracts(FromWorker),
}

impl FromEnclave {
    /// The topic and payload this message travels as.
    pub fn to_wire(&self) -> (Vec<u8>, Vec<u8>) {
        use FromGatekeeper as G;
        use FromWorker as W;
        match self {
            FromEnclave::Heartbeat(m) => (topics::HEARTBEAT.to_vec(), m.encode()),
            FromEnclave::Pong(m) => (topics::PONG.to_vec(), m.encode()),
            FromEnclave::Gatekeeper(G::MasterPubkey(m)) => {
                (topics::EG_MASTER_PUBKEY.to_vec(), m.encode())
            }
            FromEnclave::Gatekeeper(G::MasterKeys(m)) => {
                (topics::EG_MASTER_KEYS.to_vec(), m.encode())
            }
            FromEnclave::Contracts(W::ContractPubkey(m)) => {
                (topics::EG_CONTRACT_PUBKEY.to_vec(), m.encode())
            }
            FromEnclave::Contracts(W::ContractKey(m)) => {
                (topics::EG_CONTRACT_KEY.to_vec(), m.encode())
            }
            FromEnclave::Contracts(W::CommandResult(m)) => {
                (topics::EG_COMMAND_RESULT.to_vec(), m.encode())
            }
        }
    }

    /// The message a `(topic, payload)` pair carries.
    pub fn from_wire(topic: &[u8], payload: &[u8]) -> Result<Self, ProtocolError> {
        use FromGatekeeper as G;
        use FromWorker as W;
        Ok(match topic {
            t if t == topics::HEARTBEAT => FromEnclave::Heartbeat(decode(topic, payload)?),
            t if t == topics::PONG => FromEnclave::Pong(decode(topic, payload)?),
            t if t == topics::EG_MASTER_PUBKEY => {
                FromEnclave::Gatekeeper(G::MasterPubkey(decode(topic, payload)?))
            }
            t if t == topics::EG_MASTER_KEYS => {
                FromEnclave::Gatekeeper(G::MasterKeys(decode(topic, payload)?))
            }
            t if t == topics::EG_CONTRACT_PUBKEY => {
                FromEnclave::Contracts(W::ContractPubkey(decode(topic, payload)?))
            }
            t if t == topics::EG_CONTRACT_KEY => {
                FromEnclave::Contracts(W::ContractKey(decode(topic, payload)?))
            }
            t if t == topics::EG_COMMAND_RESULT => {
                FromEnclave::Contracts(W::CommandResult(decode(topic, payload)?))
            }
            t => return Err(ProtocolError::UnknownTopic(topic_name(t))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use umbra_crypto::Pair;

    fn key(s: &str) -> Public {
        Pair::from_suri(s).unwrap().public()
    }

    #[test]
    fn every_message_round_trips_through_its_wire_form() {
        let id = H256::hash(b"contract");
        let to_enclave = [
            ToEnclave::WorkerRegistered(WorkerRegistered { identity: key("//W") }),
            ToEnclave::Challenge(Challenge { worker: key("//W"), block: 7 }),
            ToEnclave::Ping(Ping { worker: key("//W"), data: b"hi".to_vec() }),
            ToEnclave::Gatekeeper(ToGatekeeper::Launch(Launch { first: key("//G") })),
            ToEnclave::Gatekeeper(ToGatekeeper::ShareRequest(ShareRequest {
                gatekeeper: key("//G"),
                ecdh: [3; 32],
            })),
            ToEnclave::Gatekeeper(ToGatekeeper::Rotate(Rotate { rotation: 2 })),
            ToEnclave::Gatekeeper(ToGatekeeper::MasterKeys(MasterKeys {
                to: key("//G"),
                keys: vec![],
            })),
            ToEnclave::Gatekeeper(ToGatekeeper::DeriveContractKey(DeriveContractKey {
                contract: id,
                rotation: 1,
            })),
            ToEnclave::Contracts(ToWorker::Assigned(Assignment {
                contract: id,
                epoch: 3,
                workers: vec![(key("//W"), [1; 32])],
            })),
        ];
        for m in to_enclave {
            let (topic, payload) = m.to_wire();
            assert_eq!(ToEnclave::from_wire(&topic, &payload).unwrap(), m);
            assert_eq!(ToEnclave::decode(&mut &m.encode()[..]).unwrap(), m);
        }
        let from_enclave = [
            FromEnclave::Heartbeat(Heartbeat {
                challenge_block: 4,
                challenge_block_hash: H256::hash(b"b"),
            }),
            FromEnclave::Pong(Pong { block: 1, ping_hash: H256::hash(b"p") }),
            FromEnclave::Gatekeeper(FromGatekeeper::MasterPubkey(MasterPubkey {
                rotation: 0,
                pubkey: [9; 32],
            })),
            FromEnclave::Contracts(FromWorker::ContractPubkey(ContractPubkey {
                contract: id,
                rotation: 0,
                pubkey: [8; 32],
            })),
            FromEnclave::Contracts(FromWorker::CommandResult(CommandResult {
                contract: id,
                seq: 0,
                state_hash: H256::ZERO,
                outcome: Err("no".into()),
                checkpoint: Some(H256::hash(b"blob")),
                gas_used: 21_000,
            })),
        ];
        for m in from_enclave {
            let (topic, payload) = m.to_wire();
            assert_eq!(FromEnclave::from_wire(&topic, &payload).unwrap(), m);
            assert_eq!(FromEnclave::decode(&mut &m.encode()[..]).unwrap(), m);
        }
    }

    #[test]
    fn named_structs_keep_the_bytes_of_the_tuples_they_replace() {
        let id = H256::hash(b"c");
        assert_eq!(
            MasterPubkey { rotation: 3, pubkey: [1; 32] }.encode(),
            (3u32, [1u8; 32]).encode()
        );
        assert_eq!(
            ContractPubkey { contract: id, rotation: 1, pubkey: [2; 32] }.encode(),
            (id, 1u32, [2u8; 32]).encode()
        );
        assert_eq!(DeriveContractKey { contract: id, rotation: 2 }.encode(), (id, 2u32).encode());
        assert_eq!(Rotate { rotation: 2 }.encode(), 2u32.encode());
        assert_eq!(Launch { first: key("//G") }.encode(), key("//G").encode());
    }

    #[test]
    fn unknown_topics_malformed_payloads_and_wrong_origins_are_refused() {
        assert!(matches!(
            FromEnclave::from_wire(b"umbra/nope", &[]),
            Err(ProtocolError::UnknownTopic(_))
        ));
        assert!(matches!(
            FromEnclave::from_wire(topics::EG_MASTER_PUBKEY, &[1, 2, 3]),
            Err(ProtocolError::Malformed { .. })
        ));
        assert!(matches!(
            ToEnclave::from_wire(b"umbra/system/ping/zz", b""),
            Err(ProtocolError::Malformed { .. })
        ));
        let launch = ToEnclave::Gatekeeper(ToGatekeeper::Launch(Launch { first: key("//G") }));
        assert!(launch.allowed_origin(&MessageOrigin::Module(b"gatekeeper".to_vec())));
        assert!(!launch.allowed_origin(&MessageOrigin::Module(b"contracts".to_vec())));
        assert!(!launch.allowed_origin(&MessageOrigin::Account(key("//Eve"))));
        let ping = ToEnclave::Ping(Ping { worker: key("//W"), data: vec![] });
        assert!(ping.allowed_origin(&MessageOrigin::Account(key("//Eve"))));
    }
}
