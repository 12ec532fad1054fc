//! The [`Enclave`]: the whole trusted runtime behind one narrow interface.

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::{EcdhPublic, Public, Signature};
use umbra_primitives::{
    mq::{Heartbeat, MessageOrigin, Pong},
    query::{WorkerQuery, WorkerStatus},
    BlockNumber, Header, H256,
};
use umbra_protocol::{FromEnclave, Ping, ToEnclave, WorkerRegistered};
use umbra_runtime::{
    mq,
    registry::{self, BenchmarkReport},
    Event, EventRecord, GenesisConfig,
};
use umbra_tee::{Attestation, AttestationType, Measurement, Platform};

use crate::{
    benchmark,
    confidential::{Confidential, Ctx, LoggedCommand, ReplayRequest},
    egress::Egress,
    error::{decode, EnclaveError, Result},
    keys::WorkerKeys,
    light_client::LightClient,
    query::{self, ReplayGuard},
};

/// Seal label of checkpoints.
pub const CHECKPOINT_LABEL: &[u8] = b"umbra/enclave/checkpoint/v1";
/// How long the start-up benchmark runs.
pub const BENCHMARK_MS: u64 = 200;

/// The genesis the host supplies (checked by the light client).
#[derive(Clone, Debug)]
pub struct GenesisInfo {
    /// The genesis header.
    pub header: Header,
    /// The genesis configuration of the chain spec.
    pub config: GenesisConfig,
}

/// What `init` hands back to the host.
#[derive(Debug)]
pub struct InitOutput {
    /// Newly sealed identity to store, when keys were generated now.
    pub new_sealed_identity: Option<Vec<u8>>,
    /// Whether the light client resumed from a checkpoint.
    pub resumed_at: Option<BlockNumber>,
}

/// Everything `registry::register_worker` needs from the enclave.
#[derive(Clone, Debug)]
pub struct RegistrationPayload {
    /// Identity key.
    pub identity: Public,
    /// ECDH key.
    pub ecdh: EcdhPublic,
    /// Quote binding both keys and the genesis.
    pub attestation: Attestation,
    /// Start-up benchmark.
    pub benchmark: BenchmarkReport,
    /// Identity's signature over the benchmark.
    pub benchmark_signature: Signature,
}

/// Public facts about the enclave (served by the host's info endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveInfo {
    /// Identity key.
    pub identity: Public,
    /// ECDH key.
    pub ecdh: EcdhPublic,
    /// Measurement.
    pub measurement: Measurement,
    /// Platform.
    pub platform: AttestationType,
    /// Whether the platform is insecure.
    pub insecure: bool,
    /// Last accepted block.
    pub synced_number: BlockNumber,
    /// Its hash.
    pub synced_hash: H256,
    /// Whether it has seen its registration.
    pub registered: bool,
    /// Egress messages waiting for the chain.
    pub pending_egress: usize,
    /// Benchmark score.
    pub benchmark_score: u64,
}

#[derive(Encode, Decode)]
struct Checkpoint {
    genesis_hash: H256,
    identity: Public,
    last: Header,
    authorities: Vec<Public>,
    registered: bool,
    egress: Egress,
    confidential: Vec<u8>,
}

/// The trusted runtime.
pub struct Enclave {
    platform: Arc<dyn Platform>,
    keys: WorkerKeys,
    light: LightClient,
    egress: Egress,
    registered: bool,
    replay: ReplayGuard,
    benchmark: BenchmarkReport,
    conf: Confidential,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("identity", &self.keys.identity.public())
            .field("synced", &self.light.last().number)
            .finish()
    }
}

impl Enclave {
    /// Starts the enclave: checks the genesis, unseals (or generates and seals) its keys, resumes
    /// from a sealed checkpoint if one is given and valid, and runs the start-up benchmark.
    pub fn init(
        platform: Arc<dyn Platform>,
        genesis: &GenesisInfo,
        sealed_identity: Option<&[u8]>,
        sealed_checkpoint: Option<&[u8]>,
    ) -> Result<(Enclave, InitOutput)> {
        let (light, genesis_hash) = LightClient::from_genesis(&genesis.header, &genesis.config)?;
        let mut conf = Confidential::new(genesis.config.contracts.clone());
        let (keys, new_sealed_identity) = match sealed_identity {
            Some(blob) => {
                let (keys, master) = WorkerKeys::unseal(platform.as_ref(), blob, genesis_hash)?;
                conf.set_master_keys(master);
                (keys, None)
            }
            None => {
                let keys = WorkerKeys::generate(genesis_hash);
                let sealed = keys.seal(platform.as_ref(), conf.master_keys())?;
                (keys, Some(sealed))
            }
        };
        let mut enclave = Enclave {
            platform,
            keys,
            light,
            egress: Egress::default(),
            registered: false,
            replay: ReplayGuard::default(),
            benchmark: benchmark::run(BENCHMARK_MS),
            conf,
        };
        let mut resumed_at = None;
        if let Some(blob) = sealed_checkpoint {
            enclave.restore(blob)?;
            resumed_at = Some(enclave.light.last().number);
        }
        Ok((enclave, InitOutput { new_sealed_identity, resumed_at }))
    }

    fn restore(&mut self, blob: &[u8]) -> Result<()> {
        let plain = self
            .platform
            .unseal(CHECKPOINT_LABEL, blob)
            .map_err(|e| EnclaveError::Unseal { what: "checkpoint", reason: e.to_string() })?;
        let cp: Checkpoint = decode("checkpoint", &plain)?;
        if cp.genesis_hash != self.keys.genesis_hash || cp.identity != self.keys.identity.public() {
            return Err(EnclaveError::ForeignSealedData { what: "checkpoint" });
        }
        self.light = LightClient::resume(cp.last, cp.authorities);
        self.egress = cp.egress;
        self.registered = cp.registered;
        self.conf.restore(&cp.confidential)?;
        Ok(())
    }

    /// Seals the current state so a restart resumes here instead of from genesis.
    pub fn checkpoint(&self) -> Result<Vec<u8>> {
        let cp = Checkpoint {
            genesis_hash: self.keys.genesis_hash,
            identity: self.keys.identity.public(),
            last: self.light.last().clone(),
            authorities: self.light.authorities().to_vec(),
            registered: self.registered,
            egress: self.egress.clone(),
            confidential: self.conf.snapshot(),
        };
        self.platform
            .seal(CHECKPOINT_LABEL, &cp.encode())
            .map_err(|e| EnclaveError::Platform(e.to_string()))
    }

    /// The identity key.
    pub fn identity(&self) -> Public {
        self.keys.identity.public()
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.keys.genesis_hash
    }

    /// Last accepted block number.
    pub fn synced_number(&self) -> BlockNumber {
        self.light.last().number
    }

    /// Verifies and processes the next block and its events.
    pub fn sync_block(&mut self, block: &[u8], events: &[u8]) -> Result<BlockNumber> {
        let (block, events) = self.light.accept(block, events)?;
        let number = block.header.number;
        let hash = block.header.hash();
        for record in events {
            self.process(number, hash, record);
        }
        Ok(number)
    }

    fn process(&mut self, number: BlockNumber, block_hash: H256, record: EventRecord) {
        let me = self.keys.identity.public();
        let mut ctx = Ctx {
            identity: &self.keys.identity,
            ecdh: &self.keys.ecdh,
            genesis: self.keys.genesis_hash,
            egress: &mut self.egress,
            block: number,
        };
        match record.event {
            Event::Mq(mq::Event::OutboundMessage { origin, topic, payload }) => {
                // Messages from the chain: decoded by `umbra-protocol`, accepted only from the
                // module that owns each message, routed here by one match.
                let Ok(message) = ToEnclave::from_wire(&topic, &payload) else { return };
                if !message.allowed_origin(&origin) {
                    return;
                }
                match message {
                    ToEnclave::WorkerRegistered(WorkerRegistered { identity }) => {
                        if identity == me {
                            self.registered = true;
                        }
                    }
                    ToEnclave::Challenge(c) => {
                        if c.worker == me {
                            // The challenge block is the one being processed: its hash is known
                            // only now, so a heartbeat cannot be made ahead of time.
                            let hb = Heartbeat {
                                challenge_block: number,
                                challenge_block_hash: block_hash,
                            };
                            ctx.send_message(FromEnclave::Heartbeat(hb));
                        }
                    }
                    ToEnclave::Ping(Ping { worker, data }) => {
                        if worker == me {
                            let pong = Pong { block: number, ping_hash: H256::hash(&data) };
                            ctx.send_message(FromEnclave::Pong(pong));
                        }
                    }
                    ToEnclave::Gatekeeper(m) => self.conf.on_gatekeeper_message(&mut ctx, m),
                    ToEnclave::Contracts(m) => self.conf.on_contracts_message(&mut ctx, m),
                }
            }
            Event::Gatekeeper(e) => self.conf.on_gatekeeper_event(&e),
            Event::Contracts(e) => self.conf.on_contracts_event(&mut ctx, e),
            Event::Mq(mq::Event::InboundMessage {
                sender: MessageOrigin::Worker(w),
                sequence,
                ..
            }) if w == me => {
                self.egress.accepted(sequence);
            }
            _ => {}
        }
    }

    /// The sealed identity, when the secrets in it (a gatekeeper's master keys) changed since it
    /// was last taken; the host must store it before submitting egress.
    pub fn take_sealed_identity_if_changed(&mut self) -> Result<Option<Vec<u8>>> {
        if !self.conf.secrets_dirty {
            return Ok(None);
        }
        let blob = self.keys.seal(self.platform.as_ref(), self.conf.master_keys())?;
        self.conf.secrets_dirty = false;
        Ok(Some(blob))
    }

    /// Contracts assigned to this worker that need rebuilding, and what to fetch for them.
    pub fn replay_requests(&self) -> Vec<ReplayRequest> {
        self.conf.replay_requests()
    }

    /// Rebuilds a contract from its checkpoint blob and the commands after it (as the host fetched
    /// them from the chain); everything is checked against what this enclave followed on chain.
    pub fn replay(
        &mut self,
        id: &umbra_contracts::ContractId,
        checkpoint: Option<&[u8]>,
        commands: &[LoggedCommand],
    ) -> Result<()> {
        let mut ctx = Ctx {
            identity: &self.keys.identity,
            ecdh: &self.keys.ecdh,
            genesis: self.keys.genesis_hash,
            egress: &mut self.egress,
            block: self.light.last().number,
        };
        self.conf.replay(&mut ctx, id, checkpoint, commands)
    }

    /// Whether this worker runs contract `id` with its state rebuilt.
    pub fn runs_contract(&self, id: &umbra_contracts::ContractId) -> bool {
        self.conf.is_live(id)
    }

    /// Egress messages the chain has not accepted yet, in sequence order.
    pub fn pending_egress(&self) -> Vec<umbra_primitives::mq::SignedMessage> {
        self.egress.pending()
    }

    /// Builds the registration payload: a fresh quote over
    /// `blake2_256(identity ‖ ecdh ‖ genesis)` and the signed benchmark.
    pub fn registration(&self, now_ms: u64) -> Result<RegistrationPayload> {
        let identity = self.keys.identity.public();
        let ecdh = self.keys.ecdh.public();
        let report_data = registry::expected_report_data(&identity, &ecdh, &self.keys.genesis_hash);
        let attestation = self
            .platform
            .quote(&report_data, now_ms)
            .map_err(|e| EnclaveError::Platform(e.to_string()))?;
        let benchmark_signature = self
            .keys
            .identity
            .sign(&self.benchmark.signing_payload(&self.keys.genesis_hash, &identity));
        Ok(RegistrationPayload {
            identity,
            ecdh,
            attestation,
            benchmark: self.benchmark.clone(),
            benchmark_signature,
        })
    }

    /// Public facts.
    pub fn info(&self) -> EnclaveInfo {
        EnclaveInfo {
            identity: self.keys.identity.public(),
            ecdh: self.keys.ecdh.public(),
            measurement: self.platform.measurement(),
            platform: self.platform.kind(),
            insecure: !self.platform.is_secure(),
            synced_number: self.light.last().number,
            synced_hash: self.light.last().hash(),
            registered: self.registered,
            pending_egress: self.egress.pending().len(),
            benchmark_score: self.benchmark.score(),
        }
    }

    /// Answers an encrypted query (SCALE `EncryptedQuery`) with a SCALE `QueryResponse`. Time is
    /// the chain's: the timestamp of the last accepted block.
    pub fn handle_query(&mut self, bytes: &[u8]) -> Result<Vec<u8>> {
        let now = self.light.last().timestamp;
        let q = query::open(bytes, &self.keys.ecdh, &self.keys.identity, &mut self.replay, now)?;
        let result =
            decode::<WorkerQuery>("worker query", &q.request.body).and_then(|body| match body {
                WorkerQuery::Status => Ok(WorkerStatus {
                    identity: self.keys.identity.public(),
                    synced_number: self.light.last().number,
                    synced_hash: self.light.last().hash(),
                    registered: self.registered,
                    asked_by: q.request.origin,
                }
                .encode()),
                WorkerQuery::Echo(bytes) => Ok(bytes),
                WorkerQuery::Contract { id, query } => {
                    self.conf.query(&q.request.origin, &id, &query)
                }
                WorkerQuery::EventKey { id } => {
                    self.conf.event_key(&q.request.origin, &id).map(|k| k.encode())
                }
                WorkerQuery::ContractState { id } => {
                    self.conf.contract_state(&id).map(|s| s.encode())
                }
            });
        Ok(query::answer(&q, &self.keys.identity, result))
    }
}

#[cfg(test)]
mod tests;
