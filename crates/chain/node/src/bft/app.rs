//! The application side of malachite's channel interface: build, stream, check and commit
//! blocks; serve decided blocks with their certificates to syncing peers.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use malachitebft_app_channel::{
    app::{
        engine::host::Next,
        streaming::{StreamContent, StreamId, StreamMessage},
        types::{
            core::{CommitCertificate, Round, Validity},
            sync::RawDecidedValue,
            LocallyProposedValue, PeerId, ProposedValue,
        },
    },
    AppMsg, Channels, NetworkMsg,
};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey, Signature};
use parity_scale_codec::{Decode, Encode};
use umbra_primitives::{finality::CommitCertificate as UmbraCertificate, Block, H256};

use super::{
    codec::{from_umbra_certificate, to_umbra_certificate},
    context::{
        parts_sign_bytes, Address, BlockValue, Height, ProposalPart, UmbraContext, ValidatorSet,
    },
};
use crate::service::Node;

/// Blocks seen as proposals or synced, kept until their height is committed.
const MAX_PENDING_BLOCKS: usize = 1024;

/// A proposal stream: its sender and stream id.
type StreamKey = (PeerId, Vec<u8>);
/// One message of a stream: its sequence number and part (`None` ends the stream).
type StreamPart = (u64, Option<ProposalPart>);

/// The application's state.
pub struct State {
    node: Arc<Node>,
    ctx: UmbraContext,
    key: PrivateKey,
    address: Address,
    block_time_ms: Option<u64>,
    /// Blocks by hash (proposed or synced, not yet committed).
    blocks: HashMap<H256, Block>,
    /// Proposals this node built, by (height, round).
    built: BTreeMap<(u64, u32), H256>,
    /// Complete proposals received, by (height, round).
    proposals: BTreeMap<(u64, u32), Vec<ProposedValue<UmbraContext>>>,
    /// Proposals for heights this node has not reached yet (unchecked).
    future: BTreeMap<(u64, u32), Vec<ProposedValue<UmbraContext>>>,
    /// Partial proposal streams.
    streams: HashMap<StreamKey, Vec<StreamPart>>,
    /// Where proposed and synced blocks are kept until committed, so a validator restarted
    /// between its vote and the decision (malachite replays its WAL) still has the block.
    pending_dir: std::path::PathBuf,
    /// The validator's account key (reports equivocations).
    account: Option<umbra_primitives::Pair>,
    /// Equivocations seen on the network.
    evidence: Arc<super::evidence::Book>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bft::State").field("address", &self.address).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl State {
    /// State for `node`, signing proposal streams with `key`.
    pub fn new(
        node: Arc<Node>,
        ctx: UmbraContext,
        key: PrivateKey,
        block_time_ms: Option<u64>,
        pending_dir: std::path::PathBuf,
        account: Option<umbra_primitives::Pair>,
        evidence: Arc<super::evidence::Book>,
    ) -> Self {
        let address = Address(*key.public_key().as_bytes());
        let _ = std::fs::create_dir_all(&pending_dir);
        State {
            pending_dir,
            account,
            evidence,
            node,
            ctx,
            key,
            address,
            block_time_ms,
            blocks: HashMap::new(),
            built: BTreeMap::new(),
            proposals: BTreeMap::new(),
            future: BTreeMap::new(),
            streams: HashMap::new(),
        }
    }

    fn validator_set(&self) -> eyre::Result<ValidatorSet> {
        let set = self
            .node
            .validator_set()
            .map_err(|e| eyre::eyre!("{e:#}"))?
            .ok_or_else(|| eyre::eyre!("the chain has no validator set"))?;
        Ok((&set).into())
    }

    fn next_height(&self) -> Height {
        Height(self.node.head().number.saturating_add(1))
    }

    fn pending_path(&self, number: u64, hash: &H256) -> std::path::PathBuf {
        self.pending_dir.join(format!("{number:020}-{}", hex::encode(hash.0)))
    }

    fn remember(&mut self, block: Block) -> H256 {
        let hash = block.hash();
        if self.blocks.len() >= MAX_PENDING_BLOCKS {
            self.prune();
        }
        if !self.blocks.contains_key(&hash) {
            let _ = std::fs::write(self.pending_path(block.header.number, &hash), block.encode());
        }
        self.blocks.insert(hash, block);
        hash
    }

    /// A block seen before (this run, or before a restart).
    fn pending_block(&self, number: u64, hash: &H256) -> Option<Block> {
        if let Some(b) = self.blocks.get(hash) {
            return Some(b.clone());
        }
        let bytes = std::fs::read(self.pending_path(number, hash)).ok()?;
        let block = Block::decode(&mut &bytes[..]).ok()?;
        (block.hash() == *hash).then_some(block)
    }

    fn prune(&mut self) {
        let head = self.node.head().number;
        self.blocks.retain(|_, b| b.header.number > head);
        self.built.retain(|(h, _), _| *h > head);
        self.proposals.retain(|(h, _), _| *h > head);
        self.future.retain(|(h, _), _| *h > head);
        if self.streams.len() > MAX_PENDING_BLOCKS {
            self.streams.clear();
        }
        if let Ok(dir) = std::fs::read_dir(&self.pending_dir) {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let number = name.to_str().and_then(|n| n.split('-').next()?.parse::<u64>().ok());
                if number.is_some_and(|n| n <= head) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The parts streaming `hash` at `height`/`round`.
    fn stream(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        hash: &H256,
    ) -> Option<Vec<StreamMessage<ProposalPart>>> {
        let block = self.pending_block(height.0, hash)?;
        let r = round.as_u32()?;
        let stream_id = StreamId::new(Bytes::from((height.0, r, self.address).encode()));
        let sig = self.key.sign(&parts_sign_bytes(&self.ctx.genesis, height.0, r, hash));
        let parts = [
            ProposalPart::Init {
                height: height.0,
                round: r,
                pol_round: pol_round.as_u32(),
                proposer: self.address,
            },
            ProposalPart::Block(block.encode()),
            ProposalPart::Fin(sig.to_bytes()),
        ];
        let mut msgs: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| StreamMessage::new(stream_id.clone(), i as u64, StreamContent::Data(p)))
            .collect();
        msgs.push(StreamMessage::new(stream_id, 3, StreamContent::Fin));
        Some(msgs)
    }

    /// Adds a part; when its stream is complete returns the assembled, checked proposal.
    async fn received_part(
        &mut self,
        from: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<ProposedValue<UmbraContext>> {
        let key = (from, msg.stream_id.to_bytes().to_vec());
        let entry = self.streams.entry(key.clone()).or_default();
        if entry.iter().any(|(s, _)| *s == msg.sequence) || entry.len() > 8 {
            return None;
        }
        entry.push((msg.sequence, msg.content.into_data()));
        if entry.len() < 4 {
            return None;
        }
        let mut parts = self.streams.remove(&key)?;
        parts.sort_by_key(|(s, _)| *s);
        let parts: Vec<ProposalPart> = parts.into_iter().filter_map(|(_, p)| p).collect();
        let [ProposalPart::Init { height, round, pol_round, proposer }, ProposalPart::Block(bytes), ProposalPart::Fin(sig)] =
            &parts[..]
        else {
            tracing::warn!(%from, "malformed proposal stream");
            return None;
        };
        let (height, round) = (Height(*height), *round);
        if height < self.next_height() {
            return None;
        }
        let block = match Block::decode(&mut &bytes[..]) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%from, error = %e, "proposal block does not decode");
                return None;
            }
        };
        let hash = block.hash();
        // The stream must be signed by the validator it names, and the block authored (sealed,
        // with its VRF) by that validator's account.
        let set = self.validator_set().ok()?;
        let Some(v) = set.validators.iter().find(|v| v.address == *proposer) else {
            tracing::warn!(%from, "proposal from a key outside the validator set");
            return None;
        };
        let pk = PublicKey::from_bytes(proposer.0);
        let msg = parts_sign_bytes(&self.ctx.genesis, height.0, round, &hash);
        if pk.verify(&msg, &Signature::from_bytes(*sig)).is_err() {
            tracing::warn!(%from, "proposal stream signature does not verify");
            return None;
        }
        if block.header.number != height.0 || block.header.author != v.account {
            tracing::warn!(%from, "proposal block is for another height or author");
            return None;
        }
        let value = ProposedValue {
            height,
            round: Round::new(round),
            valid_round: Round::from(*pol_round),
            proposer: *proposer,
            value: BlockValue(hash),
            validity: Validity::Invalid,
        };
        self.remember(block);
        if height > self.next_height() {
            // A future height cannot be executed yet: it is checked when its round starts.
            self.future.entry((height.0, round)).or_default().push(value);
            return None;
        }
        let value = self.checked(value).await?;
        self.proposals.entry((height.0, round)).or_default().push(value.clone());
        Some(value)
    }

    /// `value` with its validity: its block re-executed on the head, nothing committed.
    async fn checked(
        &self,
        mut value: ProposedValue<UmbraContext>,
    ) -> Option<ProposedValue<UmbraContext>> {
        let block = self.pending_block(value.height.0, &value.value.0)?;
        let node = self.node.clone();
        value.validity = match tokio::task::spawn_blocking(move || node.check_block(&block)).await {
            Ok(Ok(())) => Validity::Valid,
            Ok(Err(e)) => {
                tracing::warn!(height = value.height.0, error = %format!("{e:#}"), "invalid proposal");
                Validity::Invalid
            }
            Err(_) => return None,
        };
        Some(value)
    }

    /// The proposals seen for `height`/`round`, including those that arrived while this node
    /// was behind (checked now).
    async fn round_values(
        &mut self,
        height: Height,
        round: Round,
    ) -> Vec<ProposedValue<UmbraContext>> {
        let Some(r) = round.as_u32() else { return Vec::new() };
        if height == self.next_height() {
            for v in self.future.remove(&(height.0, r)).unwrap_or_default() {
                if let Some(v) = self.checked(v).await {
                    self.proposals.entry((height.0, r)).or_default().push(v);
                }
            }
        }
        self.proposals.get(&(height.0, r)).cloned().unwrap_or_default()
    }

    async fn build(&mut self, height: Height, timeout: Duration) -> eyre::Result<H256> {
        // Pace blocks: wait until the parent is a block time old (within the timeout).
        let block_time = match self.block_time_ms {
            Some(t) => t,
            None => self.node.parameters().map(|p| p.block_time_ms).unwrap_or(1000),
        };
        let due = self.node.head().timestamp.saturating_add(block_time);
        let wait = due.saturating_sub(now_ms()).min(timeout.as_millis() as u64 / 2);
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        let node = self.node.clone();
        let block = tokio::task::spawn_blocking(move || node.build_block())
            .await?
            .map_err(|e| eyre::eyre!("cannot build block: {e:#}"))?;
        eyre::ensure!(block.header.number == height.0, "head moved while building");
        Ok(self.remember(block))
    }

    async fn commit(&mut self, cert: &CommitCertificate<UmbraContext>) -> eyre::Result<()> {
        let head = self.node.head().number;
        if cert.height.0 <= head {
            return Ok(()); // already committed (restart or sync race)
        }
        let block = self
            .pending_block(cert.height.0, &cert.value_id)
            .ok_or_else(|| eyre::eyre!("decided block {} is unknown here", cert.value_id))?;
        let certificate: UmbraCertificate = to_umbra_certificate(cert);
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.import_finalized(block, &certificate))
            .await?
            .map_err(|e| eyre::eyre!("{e:#}"))?;
        self.prune();
        Ok(())
    }

    /// Submits the equivocations found so far to this node's pool, signed by its account.
    fn report_evidence(&self) {
        let Some(pair) = &self.account else { return };
        for evidence in self.evidence.take() {
            let call = umbra_runtime::Call::Governance(
                umbra_runtime::governance::Call::ReportEquivocation { evidence },
            );
            let result = self.node.next_nonce(&pair.public()).and_then(|nonce| {
                let xt = umbra_runtime::Extrinsic::new_signed(
                    pair,
                    call,
                    nonce,
                    0,
                    self.node.genesis_hash(),
                );
                self.node.submit(xt.encode()).map_err(|e| anyhow::anyhow!("{e}"))
            });
            match result {
                Ok(hash) => tracing::warn!(%hash, "equivocation evidence submitted"),
                Err(e) => tracing::warn!(error = %e, "cannot submit equivocation evidence"),
            }
        }
    }

    fn decided(&self, height: Height) -> Option<RawDecidedValue<UmbraContext>> {
        let block = self.node.block(height.0).ok()??;
        let cert = self.node.justification(height.0).ok()??;
        let cert = UmbraCertificate::decode(&mut &cert[..]).ok()?;
        Some(RawDecidedValue {
            value_bytes: Bytes::from(block.encode()),
            certificate: from_umbra_certificate(&cert),
        })
    }
}

/// Handles consensus messages until the channel closes, and gossips the transactions clients
/// submit to this node.
pub async fn run(state: &mut State, channels: &mut Channels<UmbraContext>) -> eyre::Result<()> {
    let mut submitted = state.node.subscribe_submitted();
    let mut gossiped: u64 = 0;
    loop {
        tokio::select! {
            msg = channels.consensus.recv() => {
                let Some(msg) = msg else { break };
                handle(state, channels, msg).await?;
            }
            tx = submitted.recv() => {
                let tx = match tx {
                    Ok(tx) => tx,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                gossiped = gossiped.wrapping_add(1);
                let stream_id =
                    StreamId::new(Bytes::from((b"tx", state.address, gossiped).encode()));
                let part = ProposalPart::Transactions(vec![(*tx).clone()]);
                let msg = StreamMessage::new(stream_id, 0, StreamContent::Data(part));
                channels.network.send(NetworkMsg::PublishProposalPart(msg)).await?;
            }
        }
    }
    Err(eyre::eyre!("the consensus channel closed"))
}

async fn handle(
    state: &mut State,
    channels: &mut Channels<UmbraContext>,
    msg: AppMsg<UmbraContext>,
) -> eyre::Result<()> {
    {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let h = state.next_height();
                tracing::info!(height = h.0, "consensus ready");
                let _ = reply.send((h, state.validator_set()?));
            }
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                tracing::debug!(height = height.0, %round, %proposer, ?role, "round started");
                let seen = state.round_values(height, round).await;
                let _ = reply_value.send(seen);
            }
            AppMsg::GetValue { height, round, timeout, reply } => {
                let r = round.as_u32().unwrap_or(0);
                let hash = match state.built.get(&(height.0, r)) {
                    Some(h) => *h,
                    None => match state.build(height, timeout).await {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(height = height.0, error = %e, "no proposal");
                            return Ok(());
                        }
                    },
                };
                state.built.insert((height.0, r), hash);
                let _ = reply.send(LocallyProposedValue::new(height, round, BlockValue(hash)));
                for part in state.stream(height, round, Round::Nil, &hash).unwrap_or_default() {
                    channels.network.send(NetworkMsg::PublishProposalPart(part)).await?;
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtension { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            AppMsg::ReceivedProposalPart { from, part, reply } => {
                if let StreamContent::Data(ProposalPart::Transactions(txs)) = &part.content {
                    for tx in txs.iter().take(64) {
                        // Validated like any submission; duplicates and invalid ones are refused.
                        let _ = state.node.submit_quiet(tx.clone());
                    }
                    let _ = reply.send(None);
                    return Ok(());
                }
                let value = state.received_part(from, part).await;
                let _ = reply.send(value);
            }
            AppMsg::GetValidatorSet { height: _, reply } => {
                let _ = reply.send(state.validator_set().ok());
            }
            AppMsg::Decided { certificate, extensions: _, reply } => {
                let height = certificate.height;
                match state.commit(&certificate).await {
                    Ok(()) => {
                        tracing::info!(
                            height = height.0,
                            round = %certificate.round,
                            block = %certificate.value_id,
                            signatures = certificate.commit_signatures.len(),
                            "finalized"
                        );
                        state.report_evidence();
                        let _ =
                            reply.send(Next::Start(state.next_height(), state.validator_set()?));
                    }
                    Err(e) => {
                        tracing::error!(height = height.0, error = %e, "cannot commit decided block");
                        let h = state.next_height();
                        let _ = reply.send(Next::Restart(h, state.validator_set()?));
                    }
                }
            }
            AppMsg::GetDecidedValue { height, reply } => {
                let _ = reply.send(state.decided(height));
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let value = match Block::decode(&mut &value_bytes[..]) {
                    Ok(block) if block.header.number == height.0 => {
                        let hash = state.remember(block);
                        Some(ProposedValue {
                            height,
                            round,
                            valid_round: Round::Nil,
                            proposer,
                            value: BlockValue(hash),
                            // Checked in full (certificate, execution) when committed.
                            validity: Validity::Valid,
                        })
                    }
                    _ => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::RestreamProposal { height, round, valid_round, address: _, value_id } => {
                for part in state.stream(height, round, valid_round, &value_id).unwrap_or_default()
                {
                    channels.network.send(NetworkMsg::PublishProposalPart(part)).await?;
                }
            }
        }
    }
    Ok(())
}
