//! Gatekeeper duties and confidential contracts inside the enclave.
//!
//! Every enclave follows, from verified events, the gatekeeper list and every contract's
//! metadata (kind, key, command count, running log hash, assignment, checkpoint) — a few dozen
//! bytes per contract. The gatekeeper leader additionally holds the master keys, derives contract
//! keys and seals them to the workers the chain assigns. An assigned worker holds its contracts'
//! keys and states, executes their commands in log order, reports results, and rebuilds a newly
//! assigned contract from a checkpoint the chain recorded (the blob itself comes from the node's
//! off-chain store; an older one, or none, when it is missing or bad) plus the command log,
//! checking the log the host hands it against the log hash it followed itself and the rebuilt
//! state against the state hash the chain decided.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use rand::RngCore;
use umbra_contracts::{self as uc, CommandContext, ContractId, ContractKind, Instance};
use umbra_crypto::{EcdhPublic, EcdhSecret, Pair, Public, SealedBox};
use umbra_primitives::{AccountId, Balance, H256};
use umbra_protocol::{
    ContractPubkey, DeriveContractKey, FromEnclave, FromGatekeeper, FromWorker, Launch,
    MasterPubkey, Rotate, ShareRequest, ToEnclave, ToGatekeeper, ToWorker,
};
use umbra_runtime::{
    contracts::{self, CheckpointRecord, CommandResult, ContractKeyShare},
    gatekeeper::MasterKeys,
};

use crate::{
    egress::Egress,
    error::{EnclaveError, Result},
};

/// Purpose bytes of master key shares.
pub const MASTER_SHARE: &[u8] = b"master-key";
/// Purpose bytes of contract key shares.
pub const CONTRACT_SHARE: &[u8] = b"contract-key";
/// Checkpoints each enclave remembers per contract (newest last): a rebuild falls back to an
/// older one, then to the full log, when a newer blob is missing or bad.
pub const KEPT_CHECKPOINTS: usize = 4;
/// Checkpoint blobs kept for the host to store (oldest dropped first).
pub const PENDING_BLOBS: usize = 32;

/// What every enclave knows about a contract.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Tracked {
    /// Kind.
    pub kind: ContractKind,
    /// Master key rotation of its key.
    pub rotation: u32,
    /// Its public key, once published.
    pub pubkey: Option<[u8; 32]>,
    /// Commands in the log.
    pub commands: u64,
    /// Log hash after them.
    pub log_hash: H256,
    /// Assignment epoch.
    pub epoch: u64,
    /// Assigned workers.
    pub assigned: Vec<Public>,
    /// Results the chain decided (`0..results`).
    pub results: u64,
    /// State hash after the last decided result.
    pub result_hash: H256,
    /// Latest checkpoints the chain recorded, oldest first (at most [`KEPT_CHECKPOINTS`]).
    pub checkpoints: Vec<CheckpointRecord>,
    /// Checkpoint interval (commands).
    pub checkpoint_interval: u64,
}

/// A contract this worker runs.
#[derive(Debug)]
pub struct Hosted {
    secret: [u8; 32],
    instance: Option<Instance>,
    executed: u64,
    log_hash: H256,
    /// The contract's keys with their caches (agreed keys of recent sender keys, event keys,
    /// randomness seed); not part of the sealed state, made again when needed.
    keys: Option<uc::ContractKeys>,
}

impl Hosted {
    fn new(secret: [u8; 32], instance: Option<Instance>, executed: u64, log_hash: H256) -> Self {
        Hosted { secret, instance, executed, log_hash, keys: None }
    }

    /// The contract's keys and caches (made on first use, and again for a new secret).
    fn keys(&mut self, id: &ContractId) -> &mut uc::ContractKeys {
        let secret = self.secret;
        if !self.keys.as_ref().is_some_and(|k| k.is_for(&secret)) {
            self.keys = Some(uc::ContractKeys::new(*id, secret));
        }
        self.keys.get_or_insert_with(|| uc::ContractKeys::new(*id, secret))
    }
}

#[derive(Encode, Decode)]
struct HostedSnapshot {
    secret: [u8; 32],
    state: Option<(ContractKind, Vec<u8>)>,
    executed: u64,
    log_hash: H256,
}

/// A request to the host: bring a checkpoint and the commands after it to rebuild a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayRequest {
    /// Contract.
    pub contract: ContractId,
    /// Sequence numbers of the checkpoints the chain recorded, newest first: try each (the blob
    /// and the commands after it), then the full log from command 0.
    pub checkpoints: Vec<u64>,
    /// End of the log (exclusive).
    pub to: u64,
}

/// An encrypted checkpoint blob for the host to store off chain (`umbra_putCheckpoint`); the
/// chain records its hash when a quorum of the contract's workers reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointBlob {
    /// Contract.
    pub contract: ContractId,
    /// Sequence number it covers.
    pub seq: u64,
    /// The encrypted blob.
    pub blob: Vec<u8>,
}

/// One command as the host relays it from the chain's log.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LoggedCommand {
    /// Sequence number.
    pub seq: u64,
    /// Origin.
    pub origin: AccountId,
    /// Block it was pushed in.
    pub block: u64,
    /// The sealed command.
    pub sealed: SealedBox,
    /// Value the chain moved into the contract's account with it (under the log hash).
    pub value: Balance,
    /// The gas limit the sender prepaid (under the log hash; the command runs under it).
    pub gas_limit: u64,
}

impl LoggedCommand {
    /// The context the command runs in (and that the log hash covers).
    pub fn context(&self, contract: &ContractId) -> CommandContext {
        CommandContext {
            contract: *contract,
            origin: self.origin,
            block: self.block,
            seq: self.seq,
            value: self.value,
            gas_limit: self.gas_limit,
        }
    }
}

/// Gatekeeper and contract state of one enclave.
#[derive(Debug)]
pub struct Confidential {
    params: contracts::ContractsParams,
    gatekeepers: Vec<(Public, [u8; 32])>,
    master: BTreeMap<u32, [u8; 32]>,
    contracts: BTreeMap<ContractId, Tracked>,
    hosted: BTreeMap<ContractId, Hosted>,
    blobs: Vec<CheckpointBlob>,
    /// Set when master keys changed and the sealed secrets must be rewritten.
    pub secrets_dirty: bool,
}

#[derive(Encode, Decode)]
struct Snapshot {
    params: contracts::ContractsParams,
    gatekeepers: Vec<(Public, [u8; 32])>,
    contracts: Vec<(ContractId, Tracked)>,
    hosted: Vec<(ContractId, HostedSnapshot)>,
}

/// Context for processing: who we are and where egress goes.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Our identity.
    pub identity: &'a Pair,
    /// Our ECDH secret.
    pub ecdh: &'a EcdhSecret,
    /// Genesis (for signing egress).
    pub genesis: H256,
    /// The egress queue.
    pub egress: &'a mut Egress,
    /// Block being processed.
    pub block: u64,
}

impl Ctx<'_> {
    fn send(&mut self, message: FromEnclave) {
        self.egress.send(self.identity, &self.genesis, &message);
    }
    /// Signs and queues `message` for the chain.
    pub fn send_message(&mut self, message: FromEnclave) {
        self.send(message)
    }
    fn me(&self) -> Public {
        self.identity.public()
    }
}

fn master_pubkey(rotation: u32, master: &[u8; 32]) -> FromEnclave {
    let pubkey = uc::master_public(master).0;
    FromEnclave::Gatekeeper(FromGatekeeper::MasterPubkey(MasterPubkey { rotation, pubkey }))
}

impl Confidential {
    /// Empty state under the chain's contract parameters (from genesis).
    pub fn new(params: contracts::ContractsParams) -> Self {
        Confidential {
            params,
            gatekeepers: Vec::new(),
            master: BTreeMap::new(),
            contracts: BTreeMap::new(),
            hosted: BTreeMap::new(),
            blobs: Vec::new(),
            secrets_dirty: false,
        }
    }

    /// Takes the checkpoint blobs made since the last call, for the host to store off chain.
    pub fn take_checkpoint_blobs(&mut self) -> Vec<CheckpointBlob> {
        std::mem::take(&mut self.blobs)
    }

    fn keep_blob(&mut self, blob: CheckpointBlob) {
        if self.blobs.len() >= PENDING_BLOBS {
            self.blobs.remove(0);
        }
        self.blobs.push(blob);
    }

    /// Master keys (sealed with the identity).
    pub fn master_keys(&self) -> &BTreeMap<u32, [u8; 32]> {
        &self.master
    }

    /// Restores master keys from the sealed identity.
    pub fn set_master_keys(&mut self, keys: BTreeMap<u32, [u8; 32]>) {
        self.master = keys;
    }

    /// Contract metadata.
    pub fn tracked(&self, id: &ContractId) -> Option<&Tracked> {
        self.contracts.get(id)
    }

    /// Whether this enclave runs `id` with its state rebuilt.
    pub fn is_live(&self, id: &ContractId) -> bool {
        self.hosted.get(id).is_some_and(|h| h.instance.is_some())
    }

    fn is_leader(&self, me: &Public) -> bool {
        self.gatekeepers.first().map(|g| &g.0) == Some(me)
    }

    fn new_master(&mut self, rotation: u32) -> [u8; 32] {
        if let Some(k) = self.master.get(&rotation) {
            return *k;
        }
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        self.master.insert(rotation, k);
        self.secrets_dirty = true;
        k
    }

    fn share_master(&self, ctx: &mut Ctx<'_>, to: &Public, ecdh: &[u8; 32]) {
        let keys: Vec<(u32, SealedBox)> = self
            .master
            .iter()
            .filter_map(|(r, k)| {
                uc::seal_key_share(&EcdhPublic(*ecdh), MASTER_SHARE, k).ok().map(|s| (*r, s))
            })
            .collect();
        if !keys.is_empty() {
            let keys = MasterKeys { to: *to, keys };
            ctx.send(FromEnclave::Gatekeeper(FromGatekeeper::MasterKeys(keys)));
        }
    }

    /// Handles a gatekeeper message in its wire form (for tests and tools; the enclave routes
    /// decoded messages to [`Confidential::handle_gatekeeper`]).
    pub fn on_gatekeeper_message(&mut self, ctx: &mut Ctx<'_>, topic: &[u8], payload: &[u8]) {
        if let Ok(ToEnclave::Gatekeeper(m)) = ToEnclave::from_wire(topic, payload) {
            self.handle_gatekeeper(ctx, m)
        }
    }

    /// Handles a gatekeeper duty from the chain.
    pub fn handle_gatekeeper(&mut self, ctx: &mut Ctx<'_>, message: ToGatekeeper) {
        let me = ctx.me();
        match message {
            ToGatekeeper::Launch(Launch { first }) => {
                if !self.gatekeepers.iter().any(|g| g.0 == first) {
                    self.gatekeepers.push((first, [0u8; 32]));
                }
                if first == me {
                    let k = self.new_master(0);
                    ctx.send(master_pubkey(0, &k));
                }
            }
            ToGatekeeper::ShareRequest(ShareRequest { gatekeeper: gk, ecdh }) => {
                match self.gatekeepers.iter_mut().find(|g| g.0 == gk) {
                    Some(g) => g.1 = ecdh,
                    None => self.gatekeepers.push((gk, ecdh)),
                }
                if self.is_leader(&me) && gk != me {
                    self.share_master(ctx, &gk, &ecdh);
                }
            }
            ToGatekeeper::Rotate(Rotate { rotation }) => {
                if self.is_leader(&me) && !self.master.is_empty() {
                    let k = self.new_master(rotation);
                    ctx.send(master_pubkey(rotation, &k));
                    for (gk, ecdh) in self.gatekeepers.clone() {
                        if gk != me {
                            self.share_master(ctx, &gk, &ecdh);
                        }
                    }
                }
            }
            ToGatekeeper::MasterKeys(keys) => {
                if keys.to == me {
                    for (r, sealed) in keys.keys {
                        if let Ok(k) = uc::open_key_share(ctx.ecdh, MASTER_SHARE, &sealed) {
                            if self.master.insert(r, k) != Some(k) {
                                self.secrets_dirty = true;
                            }
                        }
                    }
                }
            }
            ToGatekeeper::DeriveContractKey(DeriveContractKey { contract: id, rotation }) => {
                if self.is_leader(&me) {
                    if let Some(k) = self.master.get(&rotation) {
                        let pubkey = uc::contract_secret(k, rotation, &id).public().0;
                        let m = ContractPubkey { contract: id, rotation, pubkey };
                        ctx.send(FromEnclave::Contracts(FromWorker::ContractPubkey(m)));
                    }
                }
            }
        }
    }

    /// Handles a gatekeeper-module event (elections and removals).
    pub fn on_gatekeeper_event(&mut self, event: &umbra_runtime::gatekeeper::Event) {
        match event {
            umbra_runtime::gatekeeper::Event::Elected { worker }
                if !self.gatekeepers.iter().any(|g| g.0 == *worker) =>
            {
                self.gatekeepers.push((*worker, [0u8; 32]));
            }
            umbra_runtime::gatekeeper::Event::Removed { worker } => {
                self.gatekeepers.retain(|g| g.0 != *worker)
            }
            _ => {}
        }
    }

    /// Handles a contracts message in its wire form (for tests and tools; the enclave routes
    /// decoded messages to [`Confidential::handle_contracts`]).
    pub fn on_contracts_message(&mut self, ctx: &mut Ctx<'_>, topic: &[u8], payload: &[u8]) {
        if let Ok(ToEnclave::Contracts(m)) = ToEnclave::from_wire(topic, payload) {
            self.handle_contracts(ctx, m)
        }
    }

    /// Handles a contract assignment or key from the chain.
    pub fn handle_contracts(&mut self, ctx: &mut Ctx<'_>, message: ToWorker) {
        let me = ctx.me();
        match message {
            ToWorker::Assigned(a) => {
                let Some(t) = self.contracts.get_mut(&a.contract) else { return };
                t.epoch = a.epoch;
                t.assigned = a.workers.iter().map(|w| w.0).collect();
                let rotation = t.rotation;
                if !t.assigned.contains(&me) {
                    // Lost (or never had) the assignment: drop key and state.
                    self.hosted.remove(&a.contract);
                }
                if self.is_leader(&me) {
                    if let Some(k) = self.master.get(&rotation) {
                        let secret = uc::contract_secret(k, rotation, &a.contract);
                        for (w, ecdh) in &a.workers {
                            if let Ok(sealed) = uc::seal_key_share(
                                &EcdhPublic(*ecdh),
                                CONTRACT_SHARE,
                                &secret.to_bytes(),
                            ) {
                                let share = ContractKeyShare {
                                    contract: a.contract,
                                    worker: *w,
                                    epoch: a.epoch,
                                    sealed,
                                };
                                ctx.send(FromEnclave::Contracts(FromWorker::ContractKey(share)));
                            }
                        }
                    }
                }
            }
            ToWorker::ContractKey(share) => {
                if share.worker != me || self.hosted.contains_key(&share.contract) {
                    return;
                }
                let Some(t) = self.contracts.get(&share.contract) else { return };
                if !t.assigned.contains(&me) {
                    return;
                }
                let Ok(secret) = uc::open_key_share(ctx.ecdh, CONTRACT_SHARE, &share.sealed) else {
                    return;
                };
                // Only accept the key the chain published for this contract.
                if t.pubkey != Some(EcdhSecret::from_bytes(secret).public().0) {
                    return;
                }
                self.hosted.insert(share.contract, Hosted::new(secret, None, 0, H256::ZERO));
            }
        }
    }

    /// Handles a contracts-module event.
    pub fn on_contracts_event(&mut self, ctx: &mut Ctx<'_>, event: contracts::Event) {
        use contracts::Event as E;
        match event {
            E::Deployed { id, kind, rotation, .. } => {
                self.contracts.insert(
                    id,
                    Tracked {
                        kind,
                        rotation,
                        pubkey: None,
                        commands: 0,
                        log_hash: H256::ZERO,
                        epoch: 0,
                        assigned: Vec::new(),
                        results: 0,
                        result_hash: H256::ZERO,
                        checkpoints: Vec::new(),
                        checkpoint_interval: self.params.checkpoint_interval,
                    },
                );
            }
            E::KeyPublished { id, pubkey } => {
                if let Some(t) = self.contracts.get_mut(&id) {
                    t.pubkey = Some(pubkey);
                }
            }
            E::ParamsChanged { params } => {
                for t in self.contracts.values_mut() {
                    t.checkpoint_interval = params.checkpoint_interval;
                }
                self.params = params;
            }
            E::CommandPushed { id, seq, origin, sealed, value, gas_limit, log_hash, .. } => {
                let Some(t) = self.contracts.get_mut(&id) else { return };
                t.commands = seq.saturating_add(1);
                t.log_hash = log_hash;
                let interval = t.checkpoint_interval;
                let max_bytes = self.params.max_checkpoint_bytes;
                let mut blob = None;
                if let Some(h) = self.hosted.get_mut(&id) {
                    if h.instance.is_some() && h.executed == seq {
                        let block = ctx.block;
                        let cmd = LoggedCommand { seq, origin, block, sealed, value, gas_limit };
                        if let Some((result, b)) =
                            run_command(&id, h, &cmd, None, true, interval, max_bytes)
                        {
                            ctx.send(FromEnclave::Contracts(FromWorker::CommandResult(result)));
                            blob = b;
                        }
                        h.log_hash = log_hash;
                    }
                }
                if let Some(b) = blob {
                    self.keep_blob(b);
                }
            }
            E::CommandExecuted { id, seq, state_hash }
            | E::CommandFailed { id, seq, state_hash, .. } => {
                if let Some(t) = self.contracts.get_mut(&id) {
                    let next = seq.saturating_add(1);
                    if next >= t.results {
                        t.results = next;
                        t.result_hash = state_hash;
                    }
                }
            }
            E::Checkpointed { id, seq, state_hash, log_hash, blob_hash } => {
                if let Some(t) = self.contracts.get_mut(&id) {
                    t.checkpoints.push(CheckpointRecord { seq, state_hash, log_hash, blob_hash });
                    if t.checkpoints.len() > KEPT_CHECKPOINTS {
                        t.checkpoints.remove(0);
                    }
                }
            }
            E::Resumed { id } => {
                // The undecided reports were dropped: rebuild from the chain's record and report
                // again.
                if let Some(h) = self.hosted.get_mut(&id) {
                    h.instance = None;
                }
            }
            _ => {}
        }
    }

    /// Contracts this worker holds a key for but has not rebuilt yet.
    pub fn replay_requests(&self) -> Vec<ReplayRequest> {
        self.hosted
            .iter()
            .filter(|(_, h)| h.instance.is_none())
            .filter_map(|(id, _)| {
                let t = self.contracts.get(id)?;
                let checkpoints = t.checkpoints.iter().rev().map(|c| c.seq).collect();
                Some(ReplayRequest { contract: *id, checkpoints, to: t.commands })
            })
            .collect()
    }

    /// Rebuilds a contract from a checkpoint `(seq, blob)` the chain recorded (or from nothing)
    /// and the commands after it, checking everything against what the enclave followed on
    /// chain: the blob against the recorded hash and state hash, the commands — with their whole
    /// context (origin, block, sequence number) — against the log hash, and the rebuilt state
    /// against the state hash the chain decided for the last executed command. On error nothing
    /// changes and nothing is sent.
    pub fn replay(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: &ContractId,
        checkpoint: Option<(u64, &[u8])>,
        commands: &[LoggedCommand],
    ) -> Result<()> {
        let reject =
            |m: &str| Err(EnclaveError::QueryRejected(format!("replay of {id} refused: {m}")));
        let Some(t) = self.contracts.get(id).cloned() else { return reject("unknown contract") };
        let Some(h) = self.hosted.get(id) else { return reject("not hosted") };
        let secret = EcdhSecret::from_bytes(h.secret);
        let (instance, mut next, mut log_hash) = match checkpoint {
            Some((seq, blob)) => {
                let Some(record) = t.checkpoints.iter().find(|c| c.seq == seq) else {
                    return reject("not a checkpoint the chain recorded");
                };
                if H256::hash(blob) != record.blob_hash {
                    return reject("checkpoint blob does not match the on-chain hash");
                }
                let snapshot = uc::open_checkpoint(&secret, id, seq, blob)
                    .map_err(|e| EnclaveError::QueryRejected(e.to_string()))?;
                let inst = Instance::restore(t.kind, &snapshot)
                    .map_err(|e| EnclaveError::QueryRejected(e.to_string()))?;
                if inst.state_hash() != record.state_hash {
                    return reject("checkpoint state hash mismatch");
                }
                (inst, seq.saturating_add(1), record.log_hash)
            }
            None => (Instance::new(t.kind), 0, H256::ZERO),
        };
        if next > t.results {
            return reject("checkpoint after the last decided result");
        }
        let mut staged = Hosted::new(h.secret, None, next, log_hash);
        staged.keys = h.keys.clone();
        for cmd in commands {
            if cmd.seq != next {
                return reject("commands are not contiguous");
            }
            log_hash = contracts::next_log_hash(&log_hash, &cmd.context(id), &cmd.sealed);
            next = next.saturating_add(1);
        }
        if next != t.commands || log_hash != t.log_hash {
            return reject("the command log does not match the chain's log hash");
        }
        // Verified: execute. Results go out only for commands the chain has none for yet, and
        // only once the rebuilt state matched the chain's decided state hash.
        let differs = |inst: &Instance| inst.state_hash() != t.result_hash;
        let mut matched = t.results == 0;
        if !matched && staged.executed == t.results && differs(&instance) {
            return reject("the rebuilt state differs from the chain's state hash");
        }
        matched |= staged.executed == t.results;
        staged.instance = Some(instance);
        // Opening does not depend on the state: open every command first (the key agreements
        // of sender keys not cached yet on all cores), then execute in log order.
        let sealed: Vec<_> = commands.iter().map(|c| (c.origin, &c.sealed)).collect();
        let opened = staged.keys(id).open_commands(&sealed);
        let mut out = Vec::new();
        for (cmd, plain) in commands.iter().zip(opened) {
            let report = cmd.seq >= t.results;
            out.extend(run_command(
                id,
                &mut staged,
                cmd,
                Some(plain),
                report,
                t.checkpoint_interval,
                self.params.max_checkpoint_bytes,
            ));
            if !matched && staged.executed == t.results {
                if staged.instance.as_ref().is_none_or(differs) {
                    return reject("the rebuilt state differs from the chain's state hash");
                }
                matched = true;
            }
        }
        if !matched {
            return reject("the log ends before the chain's last result");
        }
        for (result, blob) in out {
            ctx.send(FromEnclave::Contracts(FromWorker::CommandResult(result)));
            if let Some(b) = blob {
                self.keep_blob(b);
            }
        }
        staged.log_hash = log_hash;
        self.hosted.insert(*id, staged);
        Ok(())
    }

    /// Answers a query to a contract this worker runs.
    pub fn query(&self, origin: &AccountId, id: &ContractId, query: &[u8]) -> Result<Vec<u8>> {
        let inst = self.live(id)?;
        inst.query(origin, query).map_err(|e| EnclaveError::QueryRejected(e.to_string()))
    }

    /// The key of `origin`'s private events in `id`.
    pub fn event_key(&self, origin: &AccountId, id: &ContractId) -> Result<[u8; 32]> {
        self.live(id)?;
        let h = self.hosted.get(id).expect("live implies hosted");
        Ok(uc::event_key(&EcdhSecret::from_bytes(h.secret), id, origin))
    }

    /// `(next sequence, state hash)` of a contract this worker runs.
    pub fn contract_state(&self, id: &ContractId) -> Result<(u64, H256)> {
        let inst = self.live(id)?;
        Ok((self.hosted[id].executed, inst.state_hash()))
    }

    fn live(&self, id: &ContractId) -> Result<&Instance> {
        self.hosted.get(id).and_then(|h| h.instance.as_ref()).ok_or_else(|| {
            EnclaveError::QueryRejected(
                "this worker does not run that contract (not assigned, or still rebuilding)".into(),
            )
        })
    }

    /// Sealable snapshot (everything but master keys, which travel with the identity).
    pub fn snapshot(&self) -> Vec<u8> {
        Snapshot {
            params: self.params.clone(),
            gatekeepers: self.gatekeepers.clone(),
            contracts: self.contracts.iter().map(|(k, v)| (*k, v.clone())).collect(),
            hosted: self
                .hosted
                .iter()
                .map(|(id, h)| {
                    (
                        *id,
                        HostedSnapshot {
                            secret: h.secret,
                            state: h.instance.as_ref().map(|i| (i.kind(), i.snapshot())),
                            executed: h.executed,
                            log_hash: h.log_hash,
                        },
                    )
                })
                .collect(),
        }
        .encode()
    }

    /// Restores from [`Confidential::snapshot`].
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        let s: Snapshot = crate::error::decode("confidential snapshot", bytes)?;
        self.params = s.params;
        self.gatekeepers = s.gatekeepers;
        self.contracts = s.contracts.into_iter().collect();
        self.hosted = s
            .hosted
            .into_iter()
            .map(|(id, h)| {
                let instance = match h.state {
                    Some((kind, snap)) => Some(Instance::restore(kind, &snap).map_err(|e| {
                        EnclaveError::Decode { what: "contract state", reason: e.to_string() }
                    })?),
                    None => None,
                };
                Ok((id, Hosted::new(h.secret, instance, h.executed, h.log_hash)))
            })
            .collect::<Result<_>>()?;
        Ok(())
    }
}

/// Executes one command on a hosted contract and, if `report`, returns its result (and, at
/// checkpoint boundaries, the encrypted checkpoint whose hash the result carries). `opened` is
/// the command already opened (a replay opens its commands first), `None` to open it here.
fn run_command(
    id: &ContractId,
    h: &mut Hosted,
    cmd: &LoggedCommand,
    opened: Option<std::result::Result<Vec<u8>, uc::ContractError>>,
    report: bool,
    interval: u64,
    max_bytes: u32,
) -> Option<(CommandResult, Option<CheckpointBlob>)> {
    h.instance.as_ref()?;
    let secret = h.secret;
    let keys = h.keys(id);
    let seed = keys.random_seed();
    let opened = opened.unwrap_or_else(|| keys.open_command(&cmd.origin, &cmd.sealed));
    let keys = h.keys.as_mut()?;
    let inst = h.instance.as_mut()?;
    let cctx = cmd.context(id);
    inst.set_random_seed(seed);
    inst.set_contract_key(id, &EcdhSecret::from_bytes(secret));
    // The value the chain moved into the contract's account is credited to the sender first,
    // whatever becomes of the command (it stays credited inside the contract if the command
    // fails; the way back out is a payout). Then the command opens only with the origin the
    // chain recorded for it, and runs under the gas limit the chain recorded (what the sender
    // prepaid). A command that does not open uses the failure charge.
    let failed = uc::gas::FAILED_COMMAND_GAS.min(cmd.gas_limit);
    let (outcome, gas_used) = match inst
        .receive_value(&cctx)
        .map_err(|e| format!("cannot receive value: {e}"))
        .and_then(|()| opened.map_err(|e| format!("cannot open command: {e}")))
    {
        Ok(plain) => {
            let ran = inst.execute_metered(&cctx, &plain);
            (ran.outcome.map_err(|e| e.to_string()), ran.gas_used)
        }
        Err(e) => (Err(e), failed),
    };
    h.executed = cmd.seq.saturating_add(1);
    if !report {
        return None;
    }
    let outcome = outcome.map(|outputs| keys.seal_outputs(cmd.seq, outputs));
    let state_hash = inst.state_hash();
    let mut blob = None;
    if interval > 0 && h.executed.is_multiple_of(interval) {
        let sealed = uc::seal_checkpoint(keys.secret(), id, cmd.seq, &inst.snapshot());
        if sealed.len() <= usize::try_from(max_bytes).unwrap_or(usize::MAX) {
            blob = Some(CheckpointBlob { contract: *id, seq: cmd.seq, blob: sealed });
        }
    }
    let checkpoint = blob.as_ref().map(|b| H256::hash(&b.blob));
    let result =
        CommandResult { contract: *id, seq: cmd.seq, state_hash, outcome, checkpoint, gas_used };
    Some((result, blob))
}

#[cfg(test)]
mod tests {
    use umbra_contracts::guestbook::GuestbookCommand;
    use umbra_primitives::mq::topics;
    use umbra_runtime::contracts::Assignment;
    use umbra_runtime::contracts::Event as E;

    use super::*;

    const BLOCK: u64 = 5;
    /// Gas limit of the tests' commands unless they say otherwise.
    const TEST_GAS: u64 = 1_000_000;

    /// One enclave's confidential state with its keys and egress.
    struct Node {
        pair: Pair,
        ecdh: EcdhSecret,
        egress: Egress,
        conf: Confidential,
    }

    fn params(interval: u64) -> contracts::ContractsParams {
        contracts::ContractsParams {
            checkpoint_interval: interval,
            ..contracts::ContractsParams::dev()
        }
    }

    fn account(s: &str) -> AccountId {
        Pair::from_suri(s).unwrap().public()
    }

    impl Node {
        fn new(seed: u8, interval: u64) -> Node {
            Node {
                pair: Pair::from_seed(&[seed; 32]),
                ecdh: EcdhSecret::from_bytes([seed.wrapping_add(100); 32]),
                egress: Egress::default(),
                conf: Confidential::new(params(interval)),
            }
        }

        fn with<T>(
            &mut self,
            block: u64,
            f: impl FnOnce(&mut Confidential, &mut Ctx<'_>) -> T,
        ) -> T {
            let mut ctx = Ctx {
                identity: &self.pair,
                ecdh: &self.ecdh,
                genesis: H256::hash(b"genesis"),
                egress: &mut self.egress,
                block,
            };
            f(&mut self.conf, &mut ctx)
        }

        fn event(&mut self, block: u64, e: E) {
            self.with(block, |c, ctx| c.on_contracts_event(ctx, e));
        }

        /// Results this enclave sent, in order (and clears the egress).
        fn results(&mut self) -> Vec<CommandResult> {
            let out = self
                .egress
                .pending()
                .into_iter()
                .filter(|m| m.topic == topics::EG_COMMAND_RESULT)
                .map(|m| CommandResult::decode(&mut &m.payload[..]).unwrap())
                .collect();
            self.egress = Egress::default();
            out
        }
    }

    /// The chain as the tests see it: one guestbook, its log, its decided results.
    struct Chain {
        id: ContractId,
        master: [u8; 32],
        log_hash: H256,
        log: Vec<LoggedCommand>,
        events: Vec<(u64, E)>,
    }

    impl Chain {
        /// `leader` launches the master key; the guestbook is deployed and its key published.
        fn new(leader: &mut Node) -> Chain {
            Chain::new_of(leader, ContractKind::Guestbook)
        }

        /// As [`Chain::new`], for a contract of `kind`.
        fn new_of(leader: &mut Node, kind: ContractKind) -> Chain {
            let me = leader.pair.public();
            leader.with(1, |c, ctx| c.on_gatekeeper_message(ctx, topics::GK_LAUNCH, &me.encode()));
            let master = leader.conf.master_keys()[&0];
            let id = H256::hash(b"guestbook");
            let pubkey = uc::contract_secret(&master, 0, &id).public().0;
            let events = vec![
                (2, E::Deployed { id, kind, deployer: account("//Dave"), rotation: 0 }),
                (3, E::KeyPublished { id, pubkey }),
            ];
            Chain { id, master, log_hash: H256::ZERO, log: Vec::new(), events }
        }

        fn secret(&self) -> EcdhSecret {
            uc::contract_secret(&self.master, 0, &self.id)
        }

        /// Appends a command as `push_command` would, at `block`.
        fn push(&mut self, block: u64, origin: AccountId, sealed: SealedBox) -> E {
            self.push_value(block, origin, sealed, 0)
        }

        /// As [`Chain::push`], carrying `value` into the contract's account.
        fn push_value(
            &mut self,
            block: u64,
            origin: AccountId,
            sealed: SealedBox,
            value: Balance,
        ) -> E {
            self.push_gas(block, origin, sealed, value, TEST_GAS)
        }

        /// As [`Chain::push_value`], with the gas limit the sender prepaid.
        fn push_gas(
            &mut self,
            block: u64,
            origin: AccountId,
            sealed: SealedBox,
            value: Balance,
            gas_limit: u64,
        ) -> E {
            let seq = self.log.len() as u64;
            let cmd =
                LoggedCommand { seq, origin, block, sealed: sealed.clone(), value, gas_limit };
            self.log_hash =
                contracts::next_log_hash(&self.log_hash, &cmd.context(&self.id), &sealed);
            self.log.push(cmd);
            let e = E::CommandPushed {
                id: self.id,
                seq,
                origin,
                sealed,
                value,
                gas_limit,
                prepaid: 0,
                log_hash: self.log_hash,
            };
            self.events.push((block, e.clone()));
            e
        }

        fn seal(&self, origin: &AccountId, cmd: &GuestbookCommand) -> SealedBox {
            uc::seal_command(&self.secret().public(), &self.id, origin, &cmd.encode()).unwrap()
        }

        /// Records a decided result (and its checkpoint) as the chain would.
        fn decide(&mut self, r: &CommandResult) {
            let e = match &r.outcome {
                Ok(_) => E::CommandExecuted { id: self.id, seq: r.seq, state_hash: r.state_hash },
                Err(reason) => E::CommandFailed {
                    id: self.id,
                    seq: r.seq,
                    reason: reason.clone(),
                    state_hash: r.state_hash,
                },
            };
            self.events.push((BLOCK, e));
            if let Some(blob_hash) = r.checkpoint {
                let log_hash = self.log_hash_at(r.seq);
                self.events.push((
                    BLOCK,
                    E::Checkpointed {
                        id: self.id,
                        seq: r.seq,
                        state_hash: r.state_hash,
                        log_hash,
                        blob_hash,
                    },
                ));
            }
        }

        fn log_hash_at(&self, seq: u64) -> H256 {
            let mut h = H256::ZERO;
            for c in &self.log[..=seq as usize] {
                h = contracts::next_log_hash(&h, &c.context(&self.id), &c.sealed);
            }
            h
        }

        /// Gives `node` everything the chain said so far and the contract key (as an assigned
        /// worker that has not rebuilt yet).
        fn follow_and_assign(&self, node: &mut Node) {
            let me = node.pair.public();
            let share = ContractKeyShare {
                contract: self.id,
                worker: me,
                epoch: 1,
                sealed: uc::seal_key_share(
                    &node.ecdh.public(),
                    CONTRACT_SHARE,
                    &self.secret().to_bytes(),
                )
                .unwrap(),
            };
            let assignment = Assignment {
                contract: self.id,
                epoch: 1,
                workers: vec![(me, node.ecdh.public().0)],
            };
            for (block, e) in &self.events {
                node.event(*block, e.clone());
            }
            node.with(BLOCK, |c, ctx| {
                c.on_contracts_message(ctx, topics::CONTRACT_ASSIGNED, &assignment.encode());
                c.on_contracts_message(ctx, topics::CONTRACT_KEY, &share.encode());
            });
            node.results();
        }
    }

    /// A live worker with the guestbook opened by Alice.
    fn live() -> (Node, Chain) {
        live_of(ContractKind::Guestbook)
    }

    /// A live worker running a fresh contract of `kind`.
    fn live_of(kind: ContractKind) -> (Node, Chain) {
        let mut a = Node::new(1, 100);
        let chain = Chain::new_of(&mut a, kind);
        chain.follow_and_assign(&mut a);
        let id = chain.id;
        a.with(BLOCK, |c, ctx| c.replay(ctx, &id, None, &[])).unwrap();
        assert!(a.conf.is_live(&id));
        (a, chain)
    }

    /// Pushes a command to the chain and the live worker; the chain decides its result.
    fn run(
        a: &mut Node,
        chain: &mut Chain,
        block: u64,
        origin: AccountId,
        sealed: SealedBox,
    ) -> CommandResult {
        let e = chain.push(block, origin, sealed);
        a.event(block, e);
        let mut results = a.results();
        assert_eq!(results.len(), 1);
        let r = results.remove(0);
        chain.decide(&r);
        r
    }

    #[test]
    fn session_commands_open_from_the_cache_and_another_account_cannot_re_push_them() {
        let (mut a, mut chain) = live();
        let alice = account("//Alice");
        let mallory = account("//Mallory");
        let public = chain.secret().public();
        let session = uc::session_secret(
            &Pair::from_suri("//Alice").unwrap().to_secret_bytes(),
            &chain.id,
            &public,
        );
        let chain_id = chain.id;
        let seal = |cmd: &GuestbookCommand| {
            uc::seal_session_command(&session, &public, &chain_id, &alice, &cmd.encode()).unwrap()
        };
        let init = seal(&GuestbookCommand::Init { title: "t".into() });
        assert!(run(&mut a, &mut chain, 6, alice, init).outcome.is_ok());
        // The second command from the same session key opens from the cache.
        let post = seal(&GuestbookCommand::Post { text: "alice's secret".into() });
        assert_eq!(post.ephemeral, public_of(&session));
        assert!(run(&mut a, &mut chain, 7, alice, post.clone()).outcome.is_ok());
        let cached = a.conf.hosted[&chain.id].keys.as_ref().map(|k| k.cached_senders());
        assert_eq!(cached, Some(1), "one session key cached");
        let before = a.conf.contract_state(&chain.id).unwrap();
        // Mallory re-pushes Alice's session command as her own: the cached key does not help.
        let stolen = run(&mut a, &mut chain, 8, mallory, post.clone());
        let reason = stolen.outcome.expect_err("refused");
        assert!(reason.contains("cannot open command"), "{reason}");
        assert_eq!(stolen.state_hash, before.1, "no state change");
        // A tampered session command does not open either.
        let mut bad = post.clone();
        bad.ciphertext[0] ^= 1;
        let r = run(&mut a, &mut chain, 9, alice, bad);
        assert!(r.outcome.expect_err("refused").contains("cannot open command"));
        // Mallory cannot forge a command under Alice's session key without its secret.
        let forged = uc::seal_command(&public, &chain.id, &alice, b"x").map(|mut b| {
            b.ephemeral = post.ephemeral;
            b
        });
        let r = run(&mut a, &mut chain, 10, alice, forged.unwrap());
        assert!(r.outcome.expect_err("refused").contains("cannot open command"));
        assert_eq!(a.conf.contract_state(&chain.id).unwrap().1, before.1);
        // Alice's next command still opens (nothing poisoned the cache).
        let next = seal(&GuestbookCommand::Post { text: "second".into() });
        assert!(run(&mut a, &mut chain, 11, alice, next).outcome.is_ok());
    }

    fn public_of(secret: &EcdhSecret) -> EcdhPublic {
        secret.public()
    }

    #[test]
    fn a_command_re_pushed_by_another_account_fails_and_changes_nothing() {
        let (mut a, mut chain) = live();
        let alice = account("//Alice");
        let mallory = account("//Mallory");
        let init = chain.seal(&alice, &GuestbookCommand::Init { title: "t".into() });
        assert!(run(&mut a, &mut chain, 6, alice, init).outcome.is_ok());
        let post = chain.seal(&alice, &GuestbookCommand::Post { text: "alice's secret".into() });
        let r = run(&mut a, &mut chain, 7, alice, post.clone());
        assert!(r.outcome.is_ok());
        let before = a.conf.contract_state(&chain.id).unwrap();
        // Mallory copies Alice's ciphertext from the chain and pushes it as her own.
        let stolen = run(&mut a, &mut chain, 8, mallory, post);
        let reason = stolen.outcome.expect_err("refused");
        assert!(reason.contains("cannot open command"), "{reason}");
        assert_eq!(stolen.state_hash, before.1, "no state change");
        let after = a.conf.contract_state(&chain.id).unwrap();
        assert_eq!(after.1, before.1);
        let posts = a
            .conf
            .query(
                &alice,
                &chain.id,
                &umbra_contracts::guestbook::GuestbookQuery::Posts { from: 0, limit: 10 }.encode(),
            )
            .unwrap();
        let umbra_contracts::guestbook::GuestbookResponse::Posts(posts) =
            umbra_contracts::guestbook::GuestbookResponse::decode(&mut &posts[..]).unwrap()
        else {
            panic!("posts expected")
        };
        assert_eq!(posts.len(), 1, "only Alice's own post");
        assert_eq!(posts[0].author, alice);
    }

    /// An EVM cluster runs in the enclave: a sealed deploy and call execute, the randomness
    /// address answers with bytes keyed by the cluster key and the log position, a second
    /// worker rebuilding from the log reaches the same state hash, and a read-only call over the
    /// query channel runs as the querying account.
    #[test]
    fn an_evm_cluster_runs_in_the_enclave_with_keyed_randomness() {
        use umbra_contracts::evm::{self, EvmCommand, EvmQuery, EvmReceipt, EvmResponse};
        let (mut a, mut chain) = live_of(ContractKind::Evm);
        let alice = account("//Alice");
        // Runtime: staticcall the randomness address, store its 32 bytes at slot 0; with
        // calldata, return slot 0 instead.
        let mut runtime = vec![0x36, 0x60, 0x2b, 0x57];
        runtime.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73]);
        runtime.extend_from_slice(&evm::RANDOM_ADDRESS);
        runtime.extend_from_slice(&[0x5a, 0xfa, 0x50, 0x60, 0x00, 0x51, 0x60, 0x00, 0x55, 0x00]);
        runtime.extend_from_slice(&[0x5b, 0x60, 0x00, 0x54, 0x60, 0x00, 0x52]);
        runtime.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xf3]);
        let len = runtime.len() as u8;
        let mut code = vec![0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3];
        code.extend_from_slice(&runtime);
        let (secret, id) = (chain.secret(), chain.id);
        let seal = |cmd: &EvmCommand| {
            uc::seal_command(&secret.public(), &id, &alice, &cmd.encode()).unwrap()
        };
        let deploy = seal(&EvmCommand::Deploy { code, value: 0, gas_limit: 500_000 });
        let r = run(&mut a, &mut chain, 6, alice, deploy);
        let receipt = |r: &CommandResult| {
            let outputs = r.outcome.as_ref().expect("executed");
            let uc::SealedOutput::PrivateEvent { to, event } = &outputs[0] else {
                panic!("receipt expected")
            };
            assert_eq!(*to, alice);
            let key = uc::event_key(&secret, &id, &alice);
            let plain = uc::open_event(&key, &id, r.seq, event).unwrap();
            EvmReceipt::decode(&mut &plain[..]).unwrap()
        };
        let target = receipt(&r).created.expect("deployed");
        let call = EvmCommand::Call { to: target, data: vec![], value: 0, gas_limit: 100_000 };
        let r = run(&mut a, &mut chain, 7, alice, seal(&call));
        assert_eq!(receipt(&r).status, evm::EvmStatus::Success);

        // What the contract stored is the documented randomness for seq 1, first call.
        let seed = evm::random_seed(&secret, &id);
        let mut buf = b"umbra/evm-random".to_vec();
        buf.extend_from_slice(&seed);
        buf.extend_from_slice(&1u64.to_le_bytes());
        buf.extend_from_slice(&0u64.to_le_bytes());
        let expected = umbra_crypto::blake2_256(&buf);
        let q = EvmQuery::Call { to: target, data: vec![1], gas_limit: 100_000 };
        let answer = a.conf.query(&alice, &id, &q.encode()).unwrap();
        let EvmResponse::Call { output, .. } = EvmResponse::decode(&mut &answer[..]).unwrap()
        else {
            panic!("call answer expected")
        };
        assert_eq!(output, expected.to_vec());

        // Another worker rebuilding from the log gets the same state.
        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        b.with(BLOCK, |c, ctx| c.replay(ctx, &id, None, &chain.log)).unwrap();
        assert_eq!(b.conf.contract_state(&id).unwrap(), a.conf.contract_state(&id).unwrap());
    }

    /// Issue 9 item 3: value a command carries is credited to the sender's mapped EVM address
    /// before it runs, and stays credited when the command itself fails; a host replaying the
    /// log with another value gets a refused rebuild.
    #[test]
    fn value_in_is_credited_to_the_sender_and_bound_by_the_log_hash() {
        use umbra_contracts::evm::{EvmCommand, EvmQuery, EvmResponse};
        let (mut a, mut chain) = live_of(ContractKind::Evm);
        let alice = account("//Alice");
        let (secret, id) = (chain.secret(), chain.id);
        let balance = |n: &Node| {
            let answer = n.conf.query(&alice, &id, &EvmQuery::MyBalance.encode()).unwrap();
            let EvmResponse::Balance(b) = EvmResponse::decode(&mut &answer[..]).unwrap() else {
                panic!("balance expected")
            };
            u128::from_be_bytes(b[16..].try_into().unwrap())
        };
        assert_eq!(balance(&a), 0);
        // A plain call to an empty address carrying 5 units.
        let call = EvmCommand::Call { to: [7; 20], data: vec![], value: 0, gas_limit: 50_000 };
        let sealed = uc::seal_command(&secret.public(), &id, &alice, &call.encode()).unwrap();
        let e = chain.push_value(6, alice, sealed, 5);
        a.event(6, e);
        let r = a.results().remove(0);
        assert!(r.outcome.is_ok(), "{:?}", r.outcome);
        chain.decide(&r);
        assert_eq!(balance(&a), 5);
        // A command that fails (undecodable) still credits its value.
        let bad = uc::seal_command(&secret.public(), &id, &alice, &[0xff, 0xff]).unwrap();
        let e = chain.push_value(7, alice, bad, 3);
        a.event(7, e);
        let r = a.results().remove(0);
        assert!(r.outcome.is_err());
        chain.decide(&r);
        assert_eq!(balance(&a), 8);

        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        // The host feeds another value for a command: refused.
        let mut forged = chain.log.clone();
        forged[0].value = 500;
        let err = b.with(20, |c, ctx| c.replay(ctx, &id, None, &forged)).unwrap_err();
        assert!(err.to_string().contains("log hash"), "{err}");
        assert!(!b.conf.is_live(&id));
        // The real log rebuilds the same state and balance.
        b.with(20, |c, ctx| c.replay(ctx, &id, None, &chain.log)).unwrap();
        assert_eq!(b.conf.contract_state(&id).unwrap(), a.conf.contract_state(&id).unwrap());
        assert_eq!(balance(&b), 8);
    }

    /// Issue 9 item 4: the gas limit the sender prepaid is part of the context under the log
    /// hash. The command runs under it (the gas used is in the reported result), and a host
    /// replaying the log with another limit — to make a command run out of gas, or run longer
    /// than paid for — gets a refused rebuild.
    #[test]
    fn the_prepaid_gas_limit_bounds_the_command_and_a_host_cannot_change_it() {
        use umbra_contracts::evm::{EvmCommand, EvmReceipt, EvmStatus};
        let (mut a, mut chain) = live_of(ContractKind::Evm);
        let alice = account("//Alice");
        let (secret, id) = (chain.secret(), chain.id);
        // Init code that loops forever: it uses exactly the limit it runs under.
        let spin = vec![0x5b, 0x60, 0x00, 0x56];
        let cmd = EvmCommand::Deploy { code: spin, value: 0, gas_limit: 300_000 };
        let sealed = uc::seal_command(&secret.public(), &id, &alice, &cmd.encode()).unwrap();
        let e = chain.push_gas(6, alice, sealed, 0, 60_000);
        a.event(6, e);
        let r = a.results().remove(0);
        assert_eq!(r.gas_used, 60_000, "runs under the prepaid limit, not the sealed one");
        let outputs = r.outcome.clone().unwrap();
        let payload = match &outputs[0] {
            uc::SealedOutput::PrivateEvent { event, .. } => {
                let key = uc::event_key(&secret, &id, &alice);
                uc::open_event(&key, &id, 0, event).unwrap()
            }
            other => panic!("no receipt: {other:?}"),
        };
        let receipt = EvmReceipt::decode(&mut &payload[..]).unwrap();
        assert!(matches!(receipt.status, EvmStatus::Halt(_)), "{receipt:?}");
        assert_eq!(receipt.gas_used, 60_000);
        chain.decide(&r);
        // A command that does not open uses the failure charge.
        let bad = SealedBox::seal(&secret.public(), b"other aad", b"x").unwrap().0;
        let e = chain.push_gas(7, alice, bad, 0, 90_000);
        a.event(7, e);
        let r = a.results().remove(0);
        assert!(r.outcome.is_err());
        assert_eq!(r.gas_used, uc::gas::FAILED_COMMAND_GAS);
        chain.decide(&r);

        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        for forged_limit in [21_000, 300_000] {
            let mut forged = chain.log.clone();
            forged[0].gas_limit = forged_limit;
            let err = b.with(20, |c, ctx| c.replay(ctx, &id, None, &forged)).unwrap_err();
            assert!(err.to_string().contains("log hash"), "{err}");
            assert!(!b.conf.is_live(&id));
            assert!(b.results().is_empty(), "nothing sent");
        }
        b.with(20, |c, ctx| c.replay(ctx, &id, None, &chain.log)).unwrap();
        assert_eq!(b.conf.contract_state(&id).unwrap(), a.conf.contract_state(&id).unwrap());
    }

    fn some_commands(a: &mut Node, chain: &mut Chain) {
        let alice = account("//Alice");
        let init = chain.seal(&alice, &GuestbookCommand::Init { title: "t".into() });
        run(a, chain, 6, alice, init);
        for (i, block) in [7u64, 9, 12].into_iter().enumerate() {
            let p = chain.seal(&alice, &GuestbookCommand::Post { text: format!("post {i}") });
            run(a, chain, block, alice, p);
        }
    }

    #[test]
    fn a_host_feeding_other_block_numbers_gets_a_refused_rebuild() {
        let (mut a, mut chain) = live();
        some_commands(&mut a, &mut chain);
        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        let id = chain.id;
        // The host shifts the block numbers the contract would see.
        let mut forged = chain.log.clone();
        forged[2].block += 1;
        let err = b.with(20, |c, ctx| c.replay(ctx, &id, None, &forged)).unwrap_err();
        assert!(err.to_string().contains("log hash"), "{err}");
        assert!(!b.conf.is_live(&id));
        assert!(b.results().is_empty(), "nothing sent");
        // The same with another origin.
        let mut forged = chain.log.clone();
        forged[1].origin = account("//Mallory");
        assert!(b.with(20, |c, ctx| c.replay(ctx, &id, None, &forged)).is_err());
        // The real log rebuilds the identical state.
        b.with(20, |c, ctx| c.replay(ctx, &id, None, &chain.log)).unwrap();
        assert_eq!(b.conf.contract_state(&id).unwrap(), a.conf.contract_state(&id).unwrap());
        assert!(b.results().is_empty(), "every command has a result already");
    }

    #[test]
    fn a_rebuild_that_differs_from_the_chains_state_hash_is_refused() {
        let (mut a, mut chain) = live();
        some_commands(&mut a, &mut chain);
        // The chain decided another state hash for the last command than this log produces.
        chain
            .events
            .push((BLOCK, E::CommandExecuted { id: chain.id, seq: 3, state_hash: H256([7; 32]) }));
        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        let id = chain.id;
        let err = b.with(20, |c, ctx| c.replay(ctx, &id, None, &chain.log)).unwrap_err();
        assert!(err.to_string().contains("differs from the chain's state hash"), "{err}");
        assert!(!b.conf.is_live(&id));
    }

    #[test]
    fn a_large_checkpoint_is_used_and_a_bad_latest_one_falls_back() {
        let mut a = Node::new(1, 100);
        let mut chain = Chain::new(&mut a);
        chain.follow_and_assign(&mut a);
        let id = chain.id;
        a.with(BLOCK, |c, ctx| c.replay(ctx, &id, None, &[])).unwrap();
        let alice = account("//Alice");
        let init = chain.seal(&alice, &GuestbookCommand::Init { title: "big".into() });
        run(&mut a, &mut chain, 6, alice, init);
        for i in 1..200u64 {
            let text = format!("{i:04}{}", "x".repeat(270));
            let p = chain.seal(&alice, &GuestbookCommand::Post { text });
            run(&mut a, &mut chain, 6 + i, alice, p);
        }
        let blobs = a.conf.take_checkpoint_blobs();
        assert_eq!(blobs.iter().map(|b| b.seq).collect::<Vec<_>>(), vec![99, 199]);
        let (old, latest) = (&blobs[0], &blobs[1]);
        assert!(latest.blob.len() > 48 * 1024, "{} bytes", latest.blob.len());
        let want = a.conf.contract_state(&id).unwrap();

        // A new worker rebuilds from the large latest checkpoint alone.
        let mut b = Node::new(2, 100);
        chain.follow_and_assign(&mut b);
        let req = b.conf.replay_requests();
        assert_eq!(req, vec![ReplayRequest { contract: id, checkpoints: vec![199, 99], to: 200 }]);
        b.with(300, |c, ctx| c.replay(ctx, &id, Some((199, &latest.blob)), &[])).unwrap();
        assert_eq!(b.conf.contract_state(&id).unwrap(), want);

        // Another one gets a corrupted latest blob: refused; the older checkpoint plus the
        // commands after it rebuild the chain's state.
        let mut c = Node::new(3, 100);
        chain.follow_and_assign(&mut c);
        let mut bad = latest.blob.clone();
        bad[100] ^= 1;
        let err = c.with(300, |cf, ctx| cf.replay(ctx, &id, Some((199, &bad)), &[])).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        // An older checkpoint with the wrong blob is refused too.
        assert!(c
            .with(300, |cf, ctx| cf.replay(ctx, &id, Some((99, &latest.blob)), &chain.log[100..]))
            .is_err());
        c.with(300, |cf, ctx| cf.replay(ctx, &id, Some((99, &old.blob)), &chain.log[100..]))
            .unwrap();
        assert_eq!(c.conf.contract_state(&id).unwrap(), want);
        // And with no checkpoint at all, the full log.
        let mut d = Node::new(4, 100);
        chain.follow_and_assign(&mut d);
        d.with(300, |cf, ctx| cf.replay(ctx, &id, None, &chain.log)).unwrap();
        assert_eq!(d.conf.contract_state(&id).unwrap(), want);
    }
}
