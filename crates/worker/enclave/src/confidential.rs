//! Gatekeeper duties and confidential contracts inside the enclave.
//!
//! Every enclave follows, from verified events, the gatekeeper list and every contract's
//! metadata (kind, key, command count, running log hash, assignment, checkpoint) — a few dozen
//! bytes per contract. The gatekeeper leader additionally holds the master keys, derives contract
//! keys and seals them to the workers the chain assigns. An assigned worker holds its contracts'
//! keys and states, executes their commands in log order, reports results, and rebuilds a newly
//! assigned contract from its last on-chain checkpoint plus the command log, checking the log the
//! host hands it against the log hash it followed itself.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use rand::RngCore;
use umbra_contracts::{self as uc, CommandContext, ContractId, ContractKind, Instance, Output};
use umbra_crypto::{EcdhPublic, EcdhSecret, Pair, Public, SealedBox};
use umbra_primitives::{AccountId, H256};
use umbra_protocol::{
    Checkpoint, ContractPubkey, DeriveContractKey, FromEnclave, FromGatekeeper, FromWorker, Launch,
    MasterPubkey, Rotate, ShareRequest, ToGatekeeper, ToWorker,
};
use umbra_runtime::{
    contracts::{self, ChainOutput, CommandResult, ContractKeyShare},
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
    /// Results the chain recorded (`0..results`).
    pub results: u64,
    /// Latest checkpoint: (seq, state hash, log hash at seq, blob hash).
    pub checkpoint: Option<(u64, H256, H256, H256)>,
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
}

#[derive(Encode, Decode)]
struct HostedSnapshot {
    secret: [u8; 32],
    state: Option<(ContractKind, Vec<u8>)>,
    executed: u64,
    log_hash: H256,
}

/// A request to the host: bring the checkpoint and commands of a contract to rebuild it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayRequest {
    /// Contract.
    pub contract: ContractId,
    /// The checkpoint to start from, if any: its sequence number.
    pub checkpoint_seq: Option<u64>,
    /// Commands needed: `from..to`.
    pub from: u64,
    /// End (exclusive).
    pub to: u64,
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
}

/// Gatekeeper and contract state of one enclave.
#[derive(Debug)]
pub struct Confidential {
    params: contracts::ContractsParams,
    gatekeepers: Vec<(Public, [u8; 32])>,
    master: BTreeMap<u32, [u8; 32]>,
    contracts: BTreeMap<ContractId, Tracked>,
    hosted: BTreeMap<ContractId, Hosted>,
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
            secrets_dirty: false,
        }
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

    /// Handles a gatekeeper duty from the chain.
    pub fn on_gatekeeper_message(&mut self, ctx: &mut Ctx<'_>, message: ToGatekeeper) {
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

    /// Handles a contract assignment or key from the chain.
    pub fn on_contracts_message(&mut self, ctx: &mut Ctx<'_>, message: ToWorker) {
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
                self.hosted.insert(
                    share.contract,
                    Hosted { secret, instance: None, executed: 0, log_hash: H256::ZERO },
                );
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
                        checkpoint: None,
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
            E::CommandPushed { id, seq, origin, sealed, log_hash } => {
                let Some(t) = self.contracts.get_mut(&id) else { return };
                t.commands = seq + 1;
                t.log_hash = log_hash;
                let (kind_interval, max_bytes) =
                    (t.checkpoint_interval, self.params.max_checkpoint_bytes);
                if let Some(h) = self.hosted.get_mut(&id) {
                    if h.instance.is_some() && h.executed == seq {
                        let cmd = LoggedCommand { seq, origin, block: ctx.block, sealed };
                        run_command(ctx, &id, h, &cmd, true, kind_interval, max_bytes);
                        h.log_hash = log_hash;
                    }
                }
            }
            E::CommandExecuted { id, seq, .. } | E::CommandFailed { id, seq, .. } => {
                if let Some(t) = self.contracts.get_mut(&id) {
                    t.results = t.results.max(seq + 1);
                }
            }
            E::Checkpointed { id, seq, state_hash, log_hash, blob_hash } => {
                if let Some(t) = self.contracts.get_mut(&id) {
                    t.checkpoint = Some((seq, state_hash, log_hash, blob_hash));
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
                let (checkpoint_seq, from) = match t.checkpoint {
                    Some((s, ..)) => (Some(s), s + 1),
                    None => (None, 0),
                };
                Some(ReplayRequest { contract: *id, checkpoint_seq, from, to: t.commands })
            })
            .collect()
    }

    /// Rebuilds a contract from its checkpoint (if any) and the commands after it, checking
    /// everything against what the enclave followed on chain. On error nothing changes.
    pub fn replay(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: &ContractId,
        checkpoint: Option<&[u8]>,
        commands: &[LoggedCommand],
    ) -> Result<()> {
        let reject =
            |m: &str| Err(EnclaveError::QueryRejected(format!("replay of {id} refused: {m}")));
        let Some(t) = self.contracts.get(id).cloned() else { return reject("unknown contract") };
        let Some(h) = self.hosted.get(id) else { return reject("not hosted") };
        let secret = EcdhSecret::from_bytes(h.secret);
        let (instance, mut next, mut log_hash) = match (t.checkpoint, checkpoint) {
            (Some((seq, state_hash, cp_log, blob_hash)), Some(blob)) => {
                if H256::hash(blob) != blob_hash {
                    return reject("checkpoint blob does not match the on-chain hash");
                }
                let snapshot = uc::open_checkpoint(&secret, id, seq, blob)
                    .map_err(|e| EnclaveError::QueryRejected(e.to_string()))?;
                let inst = Instance::restore(t.kind, &snapshot)
                    .map_err(|e| EnclaveError::QueryRejected(e.to_string()))?;
                if inst.state_hash() != state_hash {
                    return reject("checkpoint state hash mismatch");
                }
                (inst, seq + 1, cp_log)
            }
            (Some(_), None) => return reject("checkpoint missing"),
            (None, _) => (Instance::new(t.kind), 0, H256::ZERO),
        };
        let mut staged = Hosted { secret: h.secret, instance: None, executed: next, log_hash };
        for cmd in commands {
            if cmd.seq != next {
                return reject("commands are not contiguous");
            }
            log_hash = contracts::next_log_hash(&log_hash, cmd.seq, &cmd.origin, &cmd.sealed);
            next += 1;
        }
        if next != t.commands || log_hash != t.log_hash {
            return reject("the command log does not match the chain's log hash");
        }
        // Verified: execute (results go out only for commands the chain has none for yet).
        staged.instance = Some(instance);
        for cmd in commands {
            run_command(
                ctx,
                id,
                &mut staged,
                cmd,
                cmd.seq >= t.results,
                t.checkpoint_interval,
                self.params.max_checkpoint_bytes,
            );
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
                Ok((
                    id,
                    Hosted {
                        secret: h.secret,
                        instance,
                        executed: h.executed,
                        log_hash: h.log_hash,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(())
    }
}

/// Executes one command on a hosted contract and, if `report`, sends its result (and a
/// checkpoint at interval boundaries).
fn run_command(
    ctx: &mut Ctx<'_>,
    id: &ContractId,
    h: &mut Hosted,
    cmd: &LoggedCommand,
    report: bool,
    interval: u64,
    max_bytes: u32,
) {
    let Some(inst) = h.instance.as_mut() else { return };
    let secret = EcdhSecret::from_bytes(h.secret);
    let cctx = CommandContext { contract: *id, origin: cmd.origin, block: cmd.block, seq: cmd.seq };
    let outcome = uc::open_command(&secret, id, &cmd.sealed)
        .map_err(|e| format!("cannot open command: {e}"))
        .and_then(|plain| inst.execute(&cctx, &plain).map_err(|e| e.to_string()));
    h.executed = cmd.seq + 1;
    if !report {
        return;
    }
    let outcome = outcome.map(|outputs| {
        outputs
            .into_iter()
            .enumerate()
            .map(|(i, o)| match o {
                Output::PublicEvent(d) => ChainOutput::PublicEvent(d),
                Output::PrivateEvent { to, payload } => {
                    let key = uc::event_key(&secret, id, &to);
                    ChainOutput::PrivateEvent {
                        to,
                        event: uc::seal_event(&key, id, cmd.seq, i as u32, &payload),
                    }
                }
                Output::Transfer { to, amount } => ChainOutput::Transfer { to, amount },
            })
            .collect()
    });
    let state_hash = inst.state_hash();
    let result = CommandResult { contract: *id, seq: cmd.seq, state_hash, outcome };
    ctx.send(FromEnclave::Contracts(FromWorker::CommandResult(result)));
    if interval > 0 && (cmd.seq + 1).is_multiple_of(interval) {
        let blob = uc::seal_checkpoint(&secret, id, cmd.seq, &inst.snapshot());
        if blob.len() <= max_bytes as usize {
            let checkpoint = Checkpoint { contract: *id, seq: cmd.seq, state_hash, blob };
            ctx.send(FromEnclave::Contracts(FromWorker::Checkpoint(checkpoint)));
        }
    }
}
