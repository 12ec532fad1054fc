//! The [`Enclave`]: the whole trusted runtime behind one narrow interface.

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::{EcdhPublic, Public, Signature};
use umbra_primitives::{
    mq::{Heartbeat, MessageOrigin, Pong},
    query::{WorkerQuery, WorkerStatus},
    AccountId, BlockNumber, Header, H256,
};
use umbra_protocol::{FromEnclave, Ping, ToEnclave, WorkerRegistered};
use umbra_runtime::{
    mq,
    registry::{self, BenchmarkReport},
    Event, EventRecord, GenesisConfig,
};
use umbra_tee::{Attestation, AttestationType, Measurement, Platform};

use crate::{
    benchmark::{Benchmark, BENCHMARK_BLOCKS, BENCHMARK_MAX_AGE},
    confidential::{Confidential, Ctx, LoggedCommand, ReplayRequest},
    egress::Egress,
    error::{decode, EnclaveError, Result},
    keys::WorkerKeys,
    light_client::LightClient,
    query::{self, ReplayGuard},
};

/// Seal label of checkpoints.
pub const CHECKPOINT_LABEL: &[u8] = b"umbra/enclave/checkpoint/v1";
/// Seal label of query journal records.
pub const QUERY_JOURNAL_LABEL: &[u8] = b"umbra/enclave/query-journal/v1";

/// Most sealed query journal records kept for a host that does not take them.
const MAX_UNTAKEN_JOURNAL_RECORDS: usize = 10_000;

/// One accepted query's replay record, sealed so the host can keep it until the next checkpoint.
#[derive(Encode, Decode)]
struct QueryJournalRecord {
    genesis_hash: H256,
    identity: Public,
    origin: Public,
    nonce: [u8; 16],
    timestamp_ms: u64,
}

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
    /// Quote over [`registry::expected_report_data`]: both keys, the genesis, the operator and
    /// the benchmark (whose end block is a recent block this enclave verified).
    pub attestation: Attestation,
    /// The operator the enclave was asked to register under.
    pub operator: AccountId,
    /// Benchmark measured in chain blocks.
    pub benchmark: BenchmarkReport,
    /// Identity's signature over operator and benchmark.
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
    /// Benchmark score so far (work per block since its start block, up to the last verified
    /// block; the chain computes the recorded one).
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
    /// The query replay memory ([`ReplayGuard::snapshot`]), so a restart does not forget which
    /// queries were answered.
    replay: Vec<u8>,
    /// The BFT validator set the light client tracks.
    validators: Option<umbra_primitives::finality::ValidatorSet>,
}

/// The trusted runtime.
pub struct Enclave {
    platform: Arc<dyn Platform>,
    keys: WorkerKeys,
    light: LightClient,
    egress: Egress,
    registered: bool,
    replay: ReplayGuard,
    query_journal: Vec<Vec<u8>>,
    benchmark: Benchmark,
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
    /// Starts the enclave: checks the genesis, unseals (or generates and seals) its keys and
    /// resumes from a sealed checkpoint if one is given and valid. The benchmark starts with
    /// the first [`Enclave::registration`] request.
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
            query_journal: Vec::new(),
            benchmark: Benchmark::default(),
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
        self.light =
            LightClient::resume(cp.last, cp.authorities, cp.validators, self.keys.genesis_hash);
        self.egress = cp.egress;
        self.registered = cp.registered;
        self.conf.restore(&cp.confidential)?;
        self.replay = ReplayGuard::restore(&cp.replay)?;
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
            replay: self.replay.snapshot(),
            validators: self.light.validators().cloned(),
        };
        self.platform
            .seal(CHECKPOINT_LABEL, &cp.encode())
            .map_err(|e| EnclaveError::Platform(e.to_string()))
    }

    /// Sealed replay records of the queries answered since the last call. The host appends them to
    /// its query journal before releasing the answers, and empties the journal when it writes a
    /// checkpoint (which holds the whole replay memory).
    pub fn take_query_journal(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.query_journal)
    }

    /// Restores replay records from the host's query journal after a restart. Records that do not
    /// unseal to this enclave's identity and chain are skipped; returns how many were accepted
    /// and how many skipped.
    pub fn restore_query_journal(&mut self, records: &[Vec<u8>]) -> (usize, usize) {
        let (mut accepted, mut skipped) = (0usize, 0usize);
        for blob in records {
            let record = self
                .platform
                .unseal(QUERY_JOURNAL_LABEL, blob)
                .ok()
                .and_then(|plain| decode::<QueryJournalRecord>("query journal record", &plain).ok())
                .filter(|r| {
                    r.genesis_hash == self.keys.genesis_hash
                        && r.identity == self.keys.identity.public()
                });
            match record {
                Some(r) => {
                    self.replay.remember(&r.origin, &r.nonce, r.timestamp_ms);
                    accepted = accepted.saturating_add(1);
                }
                None => skipped = skipped.saturating_add(1),
            }
        }
        (accepted, skipped)
    }

    /// How many query nonces the replay memory recorded since start (wrapping): when it changes
    /// the host seals a checkpoint, so that a restart does not forget them.
    pub fn queries_recorded(&self) -> u64 {
        self.replay.recorded()
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
        self.sync_finalized_block(block, events, None)
    }

    /// [`Enclave::sync_block`] with the block's commit certificate, which a BFT chain's light
    /// client requires (`umbra_blockWithEvents` serves it).
    pub fn sync_finalized_block(
        &mut self,
        block: &[u8],
        events: &[u8],
        justification: Option<&[u8]>,
    ) -> Result<BlockNumber> {
        let (block, events) = self.light.accept_finalized(block, events, justification)?;
        let number = block.header.number;
        let hash = block.header.hash();
        for record in events {
            self.process(number, hash, record);
        }
        self.benchmark.on_block(number);
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
                            if self.benchmark.started_at().is_some_and(|s| s <= number) {
                                self.benchmark.finish();
                            }
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
                    ToEnclave::Gatekeeper(m) => self.conf.handle_gatekeeper(&mut ctx, m),
                    ToEnclave::Contracts(m) => self.conf.handle_contracts(&mut ctx, m),
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

    /// Rebuilds a contract from a checkpoint `(seq, blob)` and the commands after it (as the host
    /// fetched them from the node); everything is checked against what this enclave followed on
    /// chain.
    pub fn replay(
        &mut self,
        id: &umbra_contracts::ContractId,
        checkpoint: Option<(u64, &[u8])>,
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

    /// Encrypted contract checkpoints made since the last call, for the host to store in the
    /// node's off-chain blob store (`umbra_putCheckpoint`).
    pub fn take_checkpoint_blobs(&mut self) -> Vec<crate::confidential::CheckpointBlob> {
        self.conf.take_checkpoint_blobs()
    }

    /// Whether this worker runs contract `id` with its state rebuilt.
    pub fn runs_contract(&self, id: &umbra_contracts::ContractId) -> bool {
        self.conf.is_live(id)
    }

    /// Egress messages the chain has not accepted yet, in sequence order.
    pub fn pending_egress(&self) -> Vec<umbra_primitives::mq::SignedMessage> {
        self.egress.pending()
    }

    /// Does one round of benchmark work if a benchmark is running; returns whether it did. The
    /// host calls this in a loop while it waits for blocks; the work counts toward the score
    /// only per chain block (see [`crate::benchmark`]).
    pub fn benchmark_round(&mut self) -> bool {
        self.benchmark.round()
    }

    /// Whether a benchmark is running (the host should keep calling
    /// [`Enclave::benchmark_round`]).
    pub fn benchmark_running(&self) -> bool {
        self.benchmark.is_running()
    }

    /// Builds the registration payload for `operator`: the benchmark over chain blocks, ending at
    /// the last block this enclave's light client verified (a recent block hash, the quote's
    /// freshness), a fresh quote over [`registry::expected_report_data`] (keys, genesis,
    /// operator, benchmark), and the identity's signature over operator and benchmark.
    ///
    /// The first call (or one whose benchmark started more than
    /// [`crate::benchmark::BENCHMARK_MAX_AGE`] blocks ago) starts the benchmark at the last
    /// verified block and returns [`EnclaveError::BenchmarkRunning`]; so does any call before
    /// [`BENCHMARK_BLOCKS`] more blocks were verified.
    pub fn registration(
        &mut self,
        operator: &AccountId,
        now_ms: u64,
    ) -> Result<RegistrationPayload> {
        let last = self.light.last();
        let (end_number, end_hash) = (last.number, last.hash());
        let stale = self
            .benchmark
            .started_at()
            .is_none_or(|s| end_number.saturating_sub(s) > BENCHMARK_MAX_AGE);
        if stale || !self.benchmark.is_running() {
            self.benchmark.start(end_number, end_hash);
        }
        let Some(benchmark) = self.benchmark.report(end_number, end_hash) else {
            let target = self.benchmark.started_at().unwrap_or(end_number);
            return Err(EnclaveError::BenchmarkRunning {
                blocks_left: target.saturating_add(BENCHMARK_BLOCKS).saturating_sub(end_number),
            });
        };
        let identity = self.keys.identity.public();
        let ecdh = self.keys.ecdh.public();
        let genesis = self.keys.genesis_hash;
        let report_data =
            registry::expected_report_data(&identity, &ecdh, &genesis, operator, &benchmark);
        let attestation = self
            .platform
            .quote(&report_data, now_ms)
            .map_err(|e| EnclaveError::Platform(e.to_string()))?;
        let benchmark_signature =
            self.keys.identity.sign(&benchmark.signing_payload(&genesis, &identity, operator));
        self.benchmark.reported(end_number);
        Ok(RegistrationPayload {
            identity,
            ecdh,
            attestation,
            operator: *operator,
            benchmark,
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
            benchmark_score: self
                .benchmark
                .report(self.light.last().number, self.light.last().hash())
                .map_or(0, |r| r.score_at(r.end_number, registry::MAX_SCORE)),
        }
    }

    /// Answers an encrypted query (SCALE `EncryptedQuery`) with a SCALE `QueryResponse`. Time is
    /// the chain's: the timestamp of the last accepted block.
    pub fn handle_query(&mut self, bytes: &[u8]) -> Result<Vec<u8>> {
        let now = self.light.last().timestamp;
        let q = query::open(bytes, &self.keys.ecdh, &self.keys.identity, &mut self.replay, now)?;
        // The host must store this record before it releases the answer (see
        // `take_query_journal`), so that a crash before the next checkpoint forgets nothing.
        let record = QueryJournalRecord {
            genesis_hash: self.keys.genesis_hash,
            identity: self.keys.identity.public(),
            origin: q.request.origin,
            nonce: q.request.nonce,
            timestamp_ms: q.request.timestamp_ms,
        };
        let sealed = self
            .platform
            .seal(QUERY_JOURNAL_LABEL, &record.encode())
            .map_err(|e| EnclaveError::Platform(e.to_string()))?;
        if self.query_journal.len() >= MAX_UNTAKEN_JOURNAL_RECORDS {
            // A host that never takes its records only has checkpoints to protect it; keep the
            // enclave's memory bounded regardless.
            self.query_journal.clear();
        }
        self.query_journal.push(sealed);
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
