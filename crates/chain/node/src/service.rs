//! The node service: chain database, head, transaction pool, block authoring and import.
//!
//! Every block — authored here or imported — is executed by the runtime over a snapshot of its
//! parent's state and committed in one database write transaction (state changes, state root,
//! block, events, head). A crash at any instant leaves the last committed block as the head.

use std::{
    path::Path,
    sync::{Arc, Mutex, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{anyhow, bail, Context};
use parity_scale_codec::{Decode, Encode};
use tokio::sync::broadcast;
use umbra_chain_storage::{BlockWriter, Snapshot, Store};
use umbra_primitives::{
    finality::{CommitCertificate, ValidatorSet},
    AccountId, Block, BlockNumber, Header, Nonce, Signature, H256,
};
use umbra_runtime::{
    api::{self, AccountInfo},
    executive::{self, SignatureCheck},
    governance::{self, Parameters},
    registry,
    state::{Overlay, StateRead},
    system::{self, BlockInit},
    BlockExecutor, EventRecord, Extrinsic, InvalidTransaction,
};

use crate::{
    chain_spec::ChainSpec,
    consensus::ConsensusEngine,
    txpool::{PoolError, TxPool},
};

/// Capacity of the transaction pool.
pub const POOL_CAPACITY: usize = 65_536;

/// Makes a storage snapshot usable as the runtime's state backend.
#[derive(Debug)]
pub struct SnapshotState(pub Snapshot);

impl StateRead for SnapshotState {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.0.get(key).map_err(|e| e.to_string())
    }
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The runtime refused it.
    #[error(transparent)]
    Invalid(#[from] InvalidTransaction),
    /// The pool refused it.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The node failed internally.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A block that was committed, as announced to subscribers.
#[derive(Debug, Clone)]
pub struct ImportedBlock {
    /// Its header.
    pub header: Header,
    /// Hashes of the extrinsics it included.
    pub included: Vec<H256>,
    /// Hashes of pooled transactions dropped as invalid while building it.
    pub dropped: Vec<H256>,
}

/// Size and timing of one authored or imported block (for benchmarks and logs).
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockStats {
    /// Block number.
    pub number: BlockNumber,
    /// Extrinsics included.
    pub extrinsics: usize,
    /// State keys changed.
    pub changed_keys: usize,
    /// Header and signature checks (import only).
    pub verify: std::time::Duration,
    /// Runtime execution.
    pub execute: std::time::Duration,
    /// State tree update (new state root).
    pub state_root: std::time::Duration,
    /// Writing and committing the database transaction.
    pub commit: std::time::Duration,
}

/// The node.
#[derive(Debug)]
pub struct Node {
    store: Store,
    spec: ChainSpec,
    genesis_hash: H256,
    consensus: Arc<dyn ConsensusEngine>,
    pool: Mutex<TxPool>,
    head: RwLock<Header>,
    write_lock: Mutex<()>,
    imported: broadcast::Sender<ImportedBlock>,
    submitted: broadcast::Sender<Arc<Vec<u8>>>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

const META_GENESIS: &str = "genesis_hash";
const META_SPEC: &str = "chain_spec";

impl Node {
    /// Opens (or initializes from `spec`) the chain database under `base_path`.
    pub fn open(
        base_path: &Path,
        spec: ChainSpec,
        consensus: Arc<dyn ConsensusEngine>,
    ) -> anyhow::Result<Arc<Node>> {
        let (genesis_state, genesis_block) = spec.genesis()?;
        Self::open_with_genesis(base_path, spec, consensus, genesis_state, genesis_block)
    }

    /// Opens (or initializes) the chain database with an explicit genesis state and block, for
    /// chains whose genesis holds more than the spec describes (pre-seeded benchmark networks).
    /// The block's state root must match the state.
    pub fn open_with_genesis(
        base_path: &Path,
        spec: ChainSpec,
        consensus: Arc<dyn ConsensusEngine>,
        genesis_state: Vec<(Vec<u8>, Vec<u8>)>,
        genesis_block: Block,
    ) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(base_path)
            .with_context(|| format!("cannot create base path {}", base_path.display()))?;
        let db_path = base_path.join("chain.redb");
        let store =
            Store::open(&db_path).with_context(|| format!("cannot open {}", db_path.display()))?;
        let genesis_hash = genesis_block.hash();
        match store.meta(META_GENESIS)? {
            Some(stored) => {
                if stored != genesis_hash.0.to_vec() {
                    bail!(
                        "database at {} belongs to another chain (genesis 0x{}), not to `{}` (genesis {})",
                        db_path.display(),
                        hex::encode(&stored),
                        spec.id,
                        genesis_hash
                    );
                }
            }
            None => {
                let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                    genesis_state.into_iter().map(|(k, v)| (k, Some(v))).collect();
                let mut w = store.begin_block()?;
                let root = w.apply_state_changes(&changes)?;
                if root != genesis_block.header.state_root.0 {
                    bail!("genesis state root mismatch");
                }
                // The genesis state is a function of the spec; storing it again as block 0's change
                // set would only double the database at large genesis states.
                let no_changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
                w.insert_block(
                    0,
                    genesis_hash.0,
                    &genesis_block.encode(),
                    &Vec::<EventRecord>::new().encode(),
                    &no_changes.encode(),
                )?;
                w.set_meta(META_GENESIS, &genesis_hash.0)?;
                w.set_meta(META_SPEC, spec.to_json().as_bytes())?;
                w.commit()?;
                tracing::info!(genesis = %genesis_hash, chain = %spec.name, "initialized chain database");
            }
        }
        let (head_number, _) =
            store.head()?.ok_or_else(|| anyhow!("database has no head block"))?;
        let head = Self::load_block(&store, head_number)?.header;
        let (imported, _) = broadcast::channel(1024);
        let (submitted, _) = broadcast::channel(16_384);
        Ok(Arc::new(Node {
            store,
            spec,
            genesis_hash,
            consensus,
            pool: Mutex::new(TxPool::new(POOL_CAPACITY)),
            head: RwLock::new(head),
            write_lock: Mutex::new(()),
            imported,
            submitted,
        }))
    }

    /// Directory of the off-chain contract checkpoint blobs, next to the chain database. Not
    /// consensus state: the chain records only each blob's hash (`contracts::CHECKPOINTS`).
    pub fn checkpoint_dir(&self) -> std::path::PathBuf {
        self.store.path().with_file_name("checkpoints")
    }

    fn load_block(store: &Store, number: BlockNumber) -> anyhow::Result<Block> {
        let bytes = store.block(number)?.ok_or_else(|| anyhow!("block #{number} missing"))?;
        Block::decode(&mut &bytes[..]).map_err(|e| anyhow!("block #{number} is corrupt: {e}"))
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// The consensus engine's name.
    pub fn consensus_name(&self) -> &'static str {
        self.consensus.name()
    }

    /// The best (and, with the dev engine, finalized) header.
    pub fn head(&self) -> Header {
        self.head.read().expect("head lock").clone()
    }

    /// Subscribes to committed blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<ImportedBlock> {
        self.imported.subscribe()
    }

    /// The block at `number`.
    pub fn block(&self, number: BlockNumber) -> anyhow::Result<Option<Block>> {
        match self.store.block(number)? {
            Some(bytes) => {
                Ok(Some(Block::decode(&mut &bytes[..]).map_err(|e| anyhow!("corrupt block: {e}"))?))
            }
            None => Ok(None),
        }
    }

    /// The number of the block with `hash`.
    pub fn block_number(&self, hash: &H256) -> anyhow::Result<Option<BlockNumber>> {
        Ok(self.store.block_number(&hash.0)?)
    }

    /// The hash of the block at `number`.
    pub fn block_hash(&self, number: BlockNumber) -> anyhow::Result<Option<H256>> {
        Ok(self.store.block_hash(number)?.map(H256))
    }

    /// The events of the block at `number`.
    pub fn events(&self, number: BlockNumber) -> anyhow::Result<Option<Vec<EventRecord>>> {
        match self.store.events(number)? {
            Some(bytes) => Ok(Some(
                Vec::<EventRecord>::decode(&mut &bytes[..])
                    .map_err(|e| anyhow!("corrupt events: {e}"))?,
            )),
            None => Ok(None),
        }
    }

    fn snapshot(&self) -> anyhow::Result<SnapshotState> {
        Ok(SnapshotState(self.store.snapshot()?))
    }

    /// Runs `f` over the latest committed state.
    pub fn with_state<T>(&self, f: impl FnOnce(&Overlay<'_>) -> T) -> anyhow::Result<T> {
        let snap = self.snapshot()?;
        let overlay = Overlay::new(&snap);
        let out = f(&overlay);
        if let Some(e) = overlay.take_error() {
            bail!(e);
        }
        Ok(out)
    }

    /// Balances and nonce of `who`.
    pub fn account(&self, who: &AccountId) -> anyhow::Result<AccountInfo> {
        self.with_state(|st| api::account_info(st, who))
    }

    /// The nonce `who` should use next, counting its pooled transactions.
    pub fn next_nonce(&self, who: &AccountId) -> anyhow::Result<Nonce> {
        let state_nonce = self.with_state(|st| system::nonce(st, who))?;
        Ok(self.pool.lock().expect("pool lock").next_nonce(who, state_nonce))
    }

    /// All registered workers, ordered by identity.
    pub fn workers(&self) -> anyhow::Result<Vec<registry::WorkerInfo>> {
        let snap = self.store.snapshot()?;
        snap.iter_prefix(registry::WORKERS.prefix())?
            .into_iter()
            .map(|(k, v)| {
                registry::WorkerInfo::decode(&mut &v[..])
                    .map_err(|e| anyhow!("corrupt worker record 0x{}: {e}", hex::encode(k)))
            })
            .collect()
    }

    /// The worker registered under `identity`.
    pub fn worker(&self, identity: &AccountId) -> anyhow::Result<Option<registry::WorkerInfo>> {
        self.with_state(|st| registry::worker(st, identity))
    }

    // ---- stake pools and vault ----

    /// Every stake pool, by id (without withdraw queues).
    pub fn pools(&self) -> anyhow::Result<Vec<umbra_runtime::stake_pools::PoolInfo>> {
        self.with_state(umbra_runtime::stake_pools::pools)
    }

    /// Stake pool `id`, with its loan and withdraw queue.
    pub fn pool(&self, id: u64) -> anyhow::Result<Option<umbra_runtime::stake_pools::PoolInfo>> {
        self.with_state(|st| umbra_runtime::stake_pools::pool_info(st, id, true))
    }

    /// `who`'s stake and pending rewards in pool `id` (`None` if there is no such pool).
    pub fn pool_stake(
        &self,
        id: u64,
        who: &AccountId,
    ) -> anyhow::Result<Option<umbra_runtime::stake_pools::StakeInfo>> {
        self.with_state(|st| umbra_runtime::stake_pools::stake_info(st, id, who))
    }

    /// The lending vault: state, parameters, share price.
    pub fn vault(&self) -> anyhow::Result<umbra_runtime::vault::VaultInfo> {
        self.with_state(umbra_runtime::vault::vault_info)
    }

    /// `who`'s vault shares, their value, and what `who` owes as a borrower.
    pub fn vault_position(
        &self,
        who: &AccountId,
    ) -> anyhow::Result<umbra_runtime::vault::Position> {
        self.with_state(|st| umbra_runtime::vault::position(st, who))
    }

    /// Pool `pool`'s loan, with interest up to the head block.
    pub fn loan(&self, pool: u64) -> anyhow::Result<Option<umbra_runtime::vault::LoanInfo>> {
        self.with_state(|st| umbra_runtime::vault::loan_info(st, pool))
    }

    // ---- end stake pools and vault ----

    /// The encoded block and encoded events at `number` (what a worker relays to its enclave).
    pub fn raw_block_with_events(
        &self,
        number: BlockNumber,
    ) -> anyhow::Result<Option<(Vec<u8>, Vec<u8>)>> {
        let snap = self.store.snapshot()?;
        match (snap.block(number)?, snap.events(number)?) {
            (Some(b), Some(e)) => Ok(Some((b, e))),
            _ => Ok(None),
        }
    }

    /// The parameters in force.
    pub fn parameters(&self) -> anyhow::Result<Parameters> {
        self.with_state(governance::parameters)
    }

    /// Validates a transaction against the head state and pools it; announces it to
    /// [`Node::subscribe_submitted`] (a BFT node gossips it to the other nodes).
    pub fn submit(&self, bytes: Vec<u8>) -> Result<H256, SubmitError> {
        if self.submitted.receiver_count() == 0 {
            return self.submit_quiet(bytes);
        }
        let hash = self.submit_quiet(bytes.clone())?;
        let _ = self.submitted.send(Arc::new(bytes));
        Ok(hash)
    }

    /// Subscribes to the transactions clients submit to this node.
    pub fn subscribe_submitted(&self) -> broadcast::Receiver<Arc<Vec<u8>>> {
        self.submitted.subscribe()
    }

    /// [`Node::submit`] without the announcement (for transactions gossiped by other nodes).
    pub fn submit_quiet(&self, bytes: Vec<u8>) -> Result<H256, SubmitError> {
        let snap = self.snapshot().map_err(|e| SubmitError::Internal(e.to_string()))?;
        let st = Overlay::new(&snap);
        let valid = executive::validate_transaction(
            &st,
            &self.genesis_hash,
            &bytes,
            SignatureCheck::Verify,
        )?;
        if let Some(e) = st.take_error() {
            return Err(SubmitError::Internal(e));
        }
        let hash = self.pool.lock().expect("pool lock").insert(&valid, bytes)?;
        tracing::debug!(%hash, signer = %valid.signer(), nonce = valid.nonce(), "transaction pooled");
        Ok(hash)
    }

    /// Pooled transactions.
    pub fn pending(&self) -> Vec<Arc<Vec<u8>>> {
        self.pool.lock().expect("pool lock").pending()
    }

    /// Authors, seals and commits the next block from the pool's ready transactions.
    pub fn author_block(&self) -> anyhow::Result<(ImportedBlock, BlockStats)> {
        let _guard = self.write_lock.lock().expect("write lock");
        let mut w = self.store.begin_block()?;
        let BuiltBlock { block, out, included, dropped, stats } = self.build_inner(&mut w)?;
        let header = block.header.clone();
        insert_executed(&mut w, &block, &out)?;
        w.commit()?;
        self.finish_commit(header, included, dropped, stats)
    }

    /// Builds and seals the next block from the pool's ready transactions without committing it
    /// (a BFT proposal: it is committed once consensus decides it, by [`Node::import_finalized`]).
    pub fn build_block(&self) -> anyhow::Result<Block> {
        let _guard = self.write_lock.lock().expect("write lock");
        // The state root is computed in a write transaction that is dropped, never committed.
        let mut w = self.store.begin_block()?;
        Ok(self.build_inner(&mut w)?.block)
    }

    fn build_inner(&self, w: &mut BlockWriter<'_>) -> anyhow::Result<BuiltBlock> {
        let parent = self.head();
        let number = parent.number + 1;
        let parent_hash = parent.hash();
        let snap = self.snapshot()?;
        let authorities = {
            let st = Overlay::new(&snap);
            system::authorities(&st)
        };
        let claim = self
            .consensus
            .claim(&parent_hash, number, &authorities)
            .ok_or_else(|| anyhow!("this node's key is not an authority of the chain"))?;
        let timestamp = now_ms().max(parent.timestamp + 1);
        let init = BlockInit {
            number,
            parent_hash,
            timestamp,
            author: claim.author,
            randomness: claim.randomness,
        };
        let mut exec = BlockExecutor::new(&snap, self.genesis_hash, &init);
        let limit = exec.parameters().max_block_extrinsics as usize;
        let ready = {
            let pool = self.pool.lock().expect("pool lock");
            let st = Overlay::new(&snap);
            pool.ready(|who| system::nonce(&st, who), limit)
        };
        let mut included = Vec::new();
        let mut dropped = Vec::new();
        for tx in ready {
            match exec.apply(&tx.bytes, SignatureCheck::AlreadyVerified) {
                Ok(_) => included.push(tx.hash),
                Err(InvalidTransaction::ExhaustsResources) => break,
                // Its predecessor was dropped: it waits in the pool.
                Err(InvalidTransaction::FutureNonce { .. }) => {}
                Err(e) => {
                    tracing::debug!(hash = %tx.hash, error = %e, "dropping invalid pooled transaction");
                    dropped.push(tx.hash);
                }
            }
        }
        let out = exec.finish().map_err(|e| anyhow!("block execution failed: {e}"))?;
        let mut header = Header {
            parent_hash,
            number,
            state_root: H256::ZERO,
            extrinsics_root: out.extrinsics_root,
            events_root: out.events_root,
            timestamp,
            author: claim.author,
            vrf: claim.vrf,
            seal: Signature([0u8; 64]),
        };
        let stats = BlockStats {
            number,
            extrinsics: out.extrinsics.len(),
            changed_keys: out.changes.len(),
            ..Default::default()
        };
        header.state_root = H256(w.apply_state_changes(&out.changes)?);
        self.consensus.seal(&mut header);
        let block = Block { header, extrinsics: out.extrinsics.clone() };
        Ok(BuiltBlock { block, out, included, dropped, stats })
    }

    fn finish_commit(
        &self,
        header: Header,
        included: Vec<H256>,
        mut dropped: Vec<H256>,
        stats: BlockStats,
    ) -> anyhow::Result<(ImportedBlock, BlockStats)> {
        *self.head.write().expect("head lock") = header.clone();
        {
            let snap = self.snapshot()?;
            let st = Overlay::new(&snap);
            let mut pool = self.pool.lock().expect("pool lock");
            pool.remove(&included);
            pool.remove(&dropped);
            dropped.extend(pool.prune_stale(|who| system::nonce(&st, who)));
            // Replaced (usurped) transactions are announced as dropped, ending their watches.
            dropped.extend(pool.take_replaced());
        }
        tracing::info!(
            number = header.number,
            hash = %header.hash(),
            extrinsics = stats.extrinsics,
            "committed block"
        );
        let imported = ImportedBlock { header, included, dropped };
        let _ = self.imported.send(imported.clone());
        Ok((imported, stats))
    }

    /// Imports a block authored elsewhere: verifies its header (link, authority seal, VRF), its
    /// body root and every signature (batch-verified), re-executes it, and commits it only if the
    /// resulting state and events roots match the header.
    pub fn import_block(&self, block: Block) -> anyhow::Result<BlockStats> {
        let _guard = self.write_lock.lock().expect("write lock");
        self.import_inner(block, Import::Commit(None))
    }

    /// Runs every check [`Node::import_block`] runs on `block` (the next block) and executes it,
    /// without committing anything: how a validator decides whether a proposal is valid.
    pub fn check_block(&self, block: &Block) -> anyhow::Result<()> {
        let _guard = self.write_lock.lock().expect("write lock");
        self.import_inner(block.clone(), Import::CheckOnly).map(|_| ())
    }

    /// Imports the next block with its commit certificate: the certificate must finalize this
    /// block under the validator set in force (≥ 2/3 of the voting power); it is stored with the
    /// block ([`Node::justification`]).
    pub fn import_finalized(
        &self,
        block: Block,
        certificate: &CommitCertificate,
    ) -> anyhow::Result<BlockStats> {
        let _guard = self.write_lock.lock().expect("write lock");
        let set = self
            .validator_set()?
            .ok_or_else(|| anyhow!("this chain has no validator set: nothing finalizes blocks"))?;
        certificate
            .verify(&self.genesis_hash, block.header.number, &block.hash(), &set)
            .with_context(|| format!("block #{} commit certificate", block.header.number))?;
        self.import_inner(block, Import::Commit(Some(certificate)))
    }

    /// The BFT validator set in force at the head (`None` on a single-authority chain).
    pub fn validator_set(&self) -> anyhow::Result<Option<ValidatorSet>> {
        self.with_state(governance::validators)
    }

    /// The commit certificate stored with block `number` (SCALE `CommitCertificate`).
    pub fn justification(&self, number: BlockNumber) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.store.meta(&justification_key(number))?)
    }

    fn import_inner(&self, block: Block, mode: Import<'_>) -> anyhow::Result<BlockStats> {
        let t0 = std::time::Instant::now();
        let parent = self.head();
        let snap = self.snapshot()?;
        let authorities = system::authorities(&Overlay::new(&snap));
        let randomness = self.consensus.verify(&block.header, &parent, &authorities)?;
        block.verify_body()?;
        let xts: Vec<Extrinsic> = block
            .extrinsics
            .iter()
            .map(|b| Extrinsic::decode(&mut &b[..]))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow!("block contains an undecodable extrinsic: {e}"))?;
        verify_signatures(&xts)?;
        let verify = t0.elapsed();
        let t1 = std::time::Instant::now();
        let header = &block.header;
        let init = BlockInit {
            number: header.number,
            parent_hash: header.parent_hash,
            timestamp: header.timestamp,
            author: header.author,
            randomness,
        };
        let mut exec = BlockExecutor::new(&snap, self.genesis_hash, &init);
        for (i, bytes) in block.extrinsics.iter().enumerate() {
            exec.apply(bytes, SignatureCheck::AlreadyVerified).map_err(|e| {
                anyhow!("extrinsic {i} of block #{} is invalid: {e}", header.number)
            })?;
        }
        let out = exec.finish().map_err(|e| anyhow!("block execution failed: {e}"))?;
        if out.events_root != header.events_root {
            bail!("block #{} events root mismatch", header.number);
        }
        let execute = t1.elapsed();
        let t2 = std::time::Instant::now();
        let mut w = self.store.begin_block()?;
        let root = w.apply_state_changes(&out.changes)?;
        if root != header.state_root.0 {
            bail!(
                "block #{} state root mismatch: computed 0x{}, header has {}",
                header.number,
                hex::encode(root),
                header.state_root
            );
        }
        let state_root = t2.elapsed();
        let stats = BlockStats {
            number: header.number,
            extrinsics: block.extrinsics.len(),
            changed_keys: out.changes.len(),
            verify,
            execute,
            state_root,
            commit: Default::default(),
        };
        let certificate = match mode {
            Import::CheckOnly => return Ok(stats),
            Import::Commit(c) => c,
        };
        let t3 = std::time::Instant::now();
        insert_executed(&mut w, &block, &out)?;
        if let Some(c) = certificate {
            w.set_meta(&justification_key(header.number), &c.encode())?;
        }
        w.commit()?;
        let stats = BlockStats { commit: t3.elapsed(), ..stats };
        let included = block.extrinsics.iter().map(|b| H256::hash(b)).collect();
        self.finish_commit(block.header, included, Vec::new(), stats)?;
        Ok(stats)
    }
}

/// How far [`Node::import_inner`] goes.
enum Import<'a> {
    /// Verify and execute only.
    CheckOnly,
    /// Commit, with the block's certificate if it has one.
    Commit(Option<&'a CommitCertificate>),
}

/// A block built but not committed.
struct BuiltBlock {
    block: Block,
    out: umbra_runtime::executive::BlockOutput,
    included: Vec<H256>,
    dropped: Vec<H256>,
    stats: BlockStats,
}

/// Writes `block` with the events and state changes its execution produced.
fn insert_executed(
    w: &mut BlockWriter<'_>,
    block: &Block,
    out: &umbra_runtime::executive::BlockOutput,
) -> anyhow::Result<()> {
    let header = &block.header;
    w.insert_block(
        header.number,
        header.hash().0,
        &block.encode(),
        &out.events.encode(),
        &out.changes.encode(),
    )?;
    Ok(())
}

/// The metadata key of block `number`'s commit certificate.
fn justification_key(number: BlockNumber) -> String {
    format!("justification/{number:020}")
}

/// Batch-verifies the signatures of `xts`; on failure finds the first bad one.
pub fn verify_signatures(xts: &[Extrinsic]) -> anyhow::Result<()> {
    if xts.is_empty() {
        return Ok(());
    }
    let hashes: Vec<H256> = xts
        .iter()
        .map(|x| {
            umbra_primitives::SignedPayload::new(&x.call, x.nonce(), x.tip(), x.head.genesis_hash)
                .signing_hash()
        })
        .collect();
    let msgs: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
    let sigs: Vec<_> = xts.iter().map(|x| x.head.signature).collect();
    let pubs: Vec<_> = xts.iter().map(|x| x.head.signer).collect();
    if umbra_crypto::verify_batch(&msgs, &sigs, &pubs) {
        return Ok(());
    }
    let bad = xts.iter().position(|x| !x.verify_signature()).unwrap_or(0);
    bail!("extrinsic {bad} has a bad signature")
}
