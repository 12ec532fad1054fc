//! The relayer: feeds blocks into the enclave, registers the worker, and submits its egress.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use umbra_client::{cli::failure_reason, sdk::UmbraApiClient, Client};
use umbra_enclave::{Enclave, EnclaveError};
use umbra_primitives::Pair;
use umbra_runtime::{mq, registry, Call};

use crate::files::{WorkerFiles, CHECKPOINT_FILE};

/// Seal a checkpoint at least every this many blocks.
pub const CHECKPOINT_EVERY: u64 = 10;
/// Resubmit an egress message not accepted after this many blocks.
pub const RESUBMIT_AFTER: u64 = 10;
/// Retry a failed registration after this many blocks.
pub const REGISTER_RETRY: u64 = 20;
/// Attempts (one per relay round) to store a checkpoint blob before giving up on it (the chain
/// records its hash only once a quorum of the contract's workers reported it).
pub const BLOB_ATTEMPTS: u32 = 60;
/// Show a progress bar when this far behind.
const PROGRESS_THRESHOLD: u64 = 20;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Where the worker's registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Not looked at yet.
    Unknown,
    /// On chain with this enclave's keys and measurement.
    Done,
    /// The last attempt failed; retry at this block.
    RetryAt(u64),
}

/// The relayer.
#[derive(Debug)]
pub struct Relayer {
    client: Client,
    enclave: Arc<Mutex<Enclave>>,
    files: WorkerFiles,
    operator: Pair,
    submitted: HashMap<u64, u64>,
    last_checkpoint: u64,
    /// The enclave's count of recorded query nonces at the last checkpoint.
    queries_at_checkpoint: u64,
    registration: Registration,
    blobs: Vec<(umbra_enclave::confidential::CheckpointBlob, u32)>,
}

impl Relayer {
    /// A relayer for `enclave`.
    pub fn new(
        client: Client,
        enclave: Arc<Mutex<Enclave>>,
        files: WorkerFiles,
        operator: Pair,
    ) -> Self {
        let (last_checkpoint, queries_at_checkpoint) = {
            let e = enclave.lock().expect("enclave lock");
            (e.synced_number(), e.queries_recorded())
        };
        Relayer {
            client,
            enclave,
            files,
            operator,
            submitted: HashMap::new(),
            last_checkpoint,
            queries_at_checkpoint,
            registration: Registration::Unknown,
            blobs: Vec::new(),
        }
    }

    /// The registration state.
    pub fn registration(&self) -> Registration {
        self.registration
    }

    fn synced(&self) -> u64 {
        self.enclave.lock().expect("enclave lock").synced_number()
    }

    /// Feeds every block up to the chain head into the enclave; returns the head number.
    pub async fn sync_to_head(&mut self) -> anyhow::Result<u64> {
        let head = self.client.head().await?.number;
        let from = self.synced().saturating_add(1);
        if from > head {
            return Ok(head);
        }
        let behind = head.saturating_add(1).saturating_sub(from);
        let bar = (behind >= PROGRESS_THRESHOLD).then(|| {
            let pb = ProgressBar::new(behind);
            pb.set_style(
                ProgressStyle::with_template(
                    "syncing enclave [{bar:40}] {pos}/{len} blocks ({per_sec}, {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            tracing::info!(from, head, "enclave catching up");
            pb
        });
        for n in from..=head {
            let raw = self.client.raw_block_with_events(n).await?;
            let raw = raw.ok_or_else(|| anyhow!("node has no block #{n}"))?;
            self.enclave
                .lock()
                .expect("enclave lock")
                .sync_finalized_block(
                    &raw.block.0,
                    &raw.events.0,
                    raw.justification.as_ref().map(|j| &j.0[..]),
                )
                .with_context(|| format!("enclave refused block #{n}"))?;
            if let Some(pb) = &bar {
                pb.inc(1);
            }
            if n >= self.last_checkpoint.saturating_add(CHECKPOINT_EVERY) {
                self.checkpoint()?;
            }
        }
        if let Some(pb) = bar {
            pb.finish_and_clear();
            tracing::info!(head, "enclave synced");
        }
        Ok(head)
    }

    /// Seals a checkpoint to disk.
    pub fn checkpoint(&mut self) -> anyhow::Result<()> {
        // Under the enclave lock, so that no query is answered between sealing the checkpoint
        // (which holds the whole replay memory) and emptying the query journal.
        let (number, queries) = {
            let e = self.enclave.lock().expect("enclave lock");
            let blob = e.checkpoint()?;
            self.files.write(CHECKPOINT_FILE, &blob)?;
            self.files.query_journal().clear()?;
            (e.synced_number(), e.queries_recorded())
        };
        self.last_checkpoint = number;
        self.queries_at_checkpoint = queries;
        Ok(())
    }

    /// Seals a checkpoint if the enclave answered queries since the last one, so that their
    /// nonces survive a restart (the replay memory is part of the checkpoint).
    pub fn persist_query_nonces(&mut self) -> anyhow::Result<()> {
        let queries = self.enclave.lock().expect("enclave lock").queries_recorded();
        if queries != self.queries_at_checkpoint {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Registers the worker if the chain does not hold this enclave's current keys and
    /// measurement.
    pub async fn ensure_registered(&mut self, head: u64) -> anyhow::Result<()> {
        match self.registration {
            Registration::Done => return Ok(()),
            Registration::RetryAt(at) if head < at => return Ok(()),
            _ => {}
        }
        let info = self.enclave.lock().expect("enclave lock").info();
        let on_chain = self.client.api().umbra_worker(info.identity.into()).await?;
        let current = on_chain
            .as_ref()
            .is_some_and(|w| w.ecdh == info.ecdh.0 && w.measurement == info.measurement);
        if current {
            self.registration = Registration::Done;
            return Ok(());
        }
        let operator = self.operator.public();
        let payload =
            match self.enclave.lock().expect("enclave lock").registration(&operator, now_ms()) {
                Ok(p) => p,
                Err(EnclaveError::BenchmarkRunning { blocks_left }) => {
                    tracing::debug!(blocks_left, "benchmark running before registration");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
        let call = Call::Registry(registry::Call::RegisterWorker {
            identity: payload.identity,
            ecdh: payload.ecdh,
            attestation: payload.attestation,
            operator: payload.operator,
            benchmark: payload.benchmark,
            benchmark_signature: payload.benchmark_signature,
        });
        let inclusion = self.client.sign_and_watch(&self.operator, call, 0).await?;
        if inclusion.success {
            tracing::info!(identity = %info.identity, block = inclusion.block_number, "worker registered on chain");
            self.registration = Registration::Done;
        } else {
            let reason = failure_reason(&inclusion).unwrap_or_else(|| "unknown error".into());
            tracing::error!(%reason, "worker registration refused by the chain");
            self.registration = Registration::RetryAt(head.saturating_add(REGISTER_RETRY));
        }
        Ok(())
    }

    /// Submits egress messages the chain has not accepted yet (each at most once per
    /// [`RESUBMIT_AFTER`] blocks).
    pub async fn submit_egress(&mut self, head: u64) -> anyhow::Result<()> {
        let pending = self.enclave.lock().expect("enclave lock").pending_egress();
        let pending_seqs: Vec<u64> = pending.iter().map(|m| m.sequence).collect();
        self.submitted.retain(|seq, _| pending_seqs.contains(seq));
        for message in pending {
            if self
                .submitted
                .get(&message.sequence)
                .is_some_and(|at| head < at.saturating_add(RESUBMIT_AFTER))
            {
                continue;
            }
            let seq = message.sequence;
            let call = Call::Mq(mq::Call::SyncOffchainMessage { message });
            // Several workers may share one operator account: when another one took the nonce
            // first, sign again with the next free nonce.
            let mut attempts: u64 = 0;
            loop {
                let bytes = self.client.sign(&self.operator, call.clone(), 0).await?;
                match self.client.submit(&bytes).await {
                    Ok(hash) => {
                        tracing::debug!(seq, %hash, "egress submitted");
                        self.submitted.insert(seq, head);
                        break;
                    }
                    Err(umbra_client::ClientError::Rpc { code: 1006 | 1011 | 1012, .. })
                        if attempts < 5 =>
                    {
                        attempts = attempts.saturating_add(1);
                        tokio::time::sleep(std::time::Duration::from_millis(
                            attempts.saturating_mul(20),
                        ))
                        .await;
                    }
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "egress submission refused");
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Stores the sealed identity when the enclave's secrets (gatekeeper master keys) changed —
    /// before any egress that depends on them leaves.
    pub fn persist_secrets(&mut self) -> anyhow::Result<()> {
        let blob = self.enclave.lock().expect("enclave lock").take_sealed_identity_if_changed()?;
        if let Some(blob) = blob {
            self.files.write(crate::files::IDENTITY_FILE, &blob)?;
            tracing::info!("sealed secrets updated");
        }
        Ok(())
    }

    /// Stores the enclave's new encrypted checkpoints in the node's off-chain blob store. The node
    /// accepts a blob once the chain recorded its hash, so a refused one is retried for
    /// [`BLOB_ATTEMPTS`] rounds.
    pub async fn store_checkpoints(&mut self) {
        let new = self.enclave.lock().expect("enclave lock").take_checkpoint_blobs();
        self.blobs.extend(new.into_iter().map(|b| (b, 0)));
        let mut keep = Vec::new();
        for (b, attempts) in std::mem::take(&mut self.blobs) {
            let hex = umbra_primitives::json::to_hex(&b.blob);
            let put = self.client.api().umbra_put_checkpoint(b.contract, b.seq, hex).await;
            match put {
                Ok(_) => {
                    tracing::info!(contract = %b.contract, seq = b.seq, bytes = b.blob.len(), "checkpoint stored")
                }
                Err(e) if attempts.saturating_add(1) < BLOB_ATTEMPTS => {
                    tracing::debug!(contract = %b.contract, seq = b.seq, error = %e, "checkpoint not stored yet");
                    keep.push((b, attempts.saturating_add(1)));
                }
                Err(e) => {
                    tracing::warn!(contract = %b.contract, seq = b.seq, error = %e, "checkpoint dropped")
                }
            }
        }
        self.blobs = keep;
    }

    async fn fetch_commands(
        &self,
        contract: &umbra_primitives::H256,
        mut from: u64,
        to: u64,
    ) -> anyhow::Result<Vec<umbra_enclave::confidential::LoggedCommand>> {
        let mut commands = Vec::new();
        while from < to {
            let end = from.saturating_add(1000).min(to);
            let bytes = self.client.api().umbra_contract_commands(*contract, from, end).await?.0;
            let records: Vec<(u64, umbra_runtime::contracts::CommandRecord)> =
                parity_scale_codec::Decode::decode(&mut &bytes[..])
                    .context("undecodable command log")?;
            if records.is_empty() {
                break;
            }
            from = from.saturating_add(records.len() as u64);
            commands.extend(records.into_iter().map(|(seq, c)| {
                umbra_enclave::confidential::LoggedCommand {
                    seq,
                    origin: c.origin,
                    block: c.block,
                    sealed: c.sealed,
                    value: c.value,
                    gas_limit: c.gas_limit,
                }
            }));
        }
        Ok(commands)
    }

    /// Rebuilds newly assigned contracts: for each, tries the checkpoints the chain recorded,
    /// newest first (the blob from the node's off-chain store plus the commands after it), then
    /// the full command log; the enclave checks each attempt against what it followed on chain,
    /// so a missing or bad checkpoint only costs a longer replay.
    pub async fn rebuild_contracts(&mut self) -> anyhow::Result<()> {
        let requests = self.enclave.lock().expect("enclave lock").replay_requests();
        for r in requests {
            let attempts = r.checkpoints.iter().map(|s| Some(*s)).chain(std::iter::once(None));
            for checkpoint in attempts {
                let blob = match checkpoint {
                    Some(seq) => {
                        match self.client.api().umbra_get_checkpoint(r.contract, seq).await? {
                            Some(b) => Some((seq, b.0)),
                            None => {
                                tracing::warn!(contract = %r.contract, seq, "checkpoint missing from the node's blob store; falling back");
                                continue;
                            }
                        }
                    }
                    None => None,
                };
                let from = blob.as_ref().map_or(0, |(seq, _)| seq.saturating_add(1));
                let commands = self.fetch_commands(&r.contract, from, r.to).await?;
                let started = std::time::Instant::now();
                let n = commands.len();
                let done = self.enclave.lock().expect("enclave lock").replay(
                    &r.contract,
                    blob.as_ref().map(|(seq, b)| (*seq, b.as_slice())),
                    &commands,
                );
                match done {
                    Ok(()) => {
                        tracing::info!(contract = %r.contract, commands = n, from_checkpoint = ?checkpoint, ms = started.elapsed().as_millis() as u64, "contract state rebuilt");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(contract = %r.contract, checkpoint = ?checkpoint, error = %e, "contract rebuild refused")
                    }
                }
            }
        }
        Ok(())
    }

    /// One round: sync, store changed secrets, rebuild contracts, register, submit egress.
    pub async fn step(&mut self) -> anyhow::Result<()> {
        let head = self.sync_to_head().await?;
        self.persist_secrets()?;
        self.persist_query_nonces()?;
        self.rebuild_contracts().await?;
        self.store_checkpoints().await;
        self.ensure_registered(head).await?;
        self.submit_egress(head).await?;
        Ok(())
    }
}
