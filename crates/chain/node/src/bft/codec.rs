//! The SCALE codec of every consensus message malachite puts on the wire or in its WAL: typed
//! SCALE structs mirroring malachite's types, never untyped bytes.

use bytes::Bytes;
use malachitebft_app_channel::app::{
    consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg},
    streaming::{StreamContent, StreamId, StreamMessage},
    types::{
        codec::Codec,
        core::{
            CommitCertificate, CommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
            RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, Validity,
            VoteType,
        },
        sync, PeerId,
    },
};
use malachitebft_signing_ed25519::Signature;
use parity_scale_codec::{Decode, Encode};
use umbra_primitives::{finality, H256};

use super::context::{Address, BlockValue, Height, Proposal, ProposalPart, UmbraContext, Vote};

/// The SCALE codec for malachite's messages. With an evidence book, every vote it decodes is
/// shown to the book (equivocation detection).
#[derive(Clone, Debug, Default)]
pub struct ScaleCodec {
    /// Where decoded votes are recorded.
    pub evidence: Option<std::sync::Arc<super::evidence::Book>>,
}

/// A message that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("consensus message does not decode: {0}")]
pub struct CodecError(String);

impl From<parity_scale_codec::Error> for CodecError {
    fn from(e: parity_scale_codec::Error) -> Self {
        CodecError(e.to_string())
    }
}

fn sig(s: &Signature) -> [u8; 64] {
    s.to_bytes()
}

fn unsig(b: [u8; 64]) -> Signature {
    Signature::from_bytes(b)
}

#[derive(Encode, Decode)]
struct WireVote {
    precommit: bool,
    height: u64,
    round: Option<u32>,
    value: Option<H256>,
    validator: Address,
}

impl From<&Vote> for WireVote {
    fn from(v: &Vote) -> Self {
        WireVote {
            precommit: v.typ == VoteType::Precommit,
            height: v.height.0,
            round: v.round.as_u32(),
            value: match v.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(h) => Some(h),
            },
            validator: v.validator,
        }
    }
}

impl From<WireVote> for Vote {
    fn from(w: WireVote) -> Self {
        Vote {
            typ: if w.precommit { VoteType::Precommit } else { VoteType::Prevote },
            height: Height(w.height),
            round: Round::from(w.round),
            value: w.value.map_or(NilOrVal::Nil, NilOrVal::Val),
            validator: w.validator,
        }
    }
}

#[derive(Encode, Decode)]
struct WireProposal {
    height: u64,
    round: Option<u32>,
    value: H256,
    pol_round: Option<u32>,
    proposer: Address,
}

#[derive(Encode, Decode)]
enum WireConsensusMsg {
    Vote(WireVote, [u8; 64]),
    Proposal(WireProposal, [u8; 64]),
}

#[derive(Encode, Decode)]
enum WireLiveness {
    Vote(WireVote, [u8; 64]),
    Polka { height: u64, round: Option<u32>, value: H256, signatures: Vec<(Address, [u8; 64])> },
    SkipRound { height: u64, round: Option<u32>, precommit: bool, signatures: Vec<WireRoundSig> },
}

#[derive(Encode, Decode)]
struct WireRoundSig {
    precommit: bool,
    value: Option<H256>,
    address: Address,
    signature: [u8; 64],
}

#[derive(Encode, Decode)]
struct WireStream {
    stream_id: Vec<u8>,
    sequence: u64,
    /// `None` ends the stream.
    content: Option<ProposalPart>,
}

#[derive(Encode, Decode)]
struct WireProposedValue {
    height: u64,
    round: Option<u32>,
    valid_round: Option<u32>,
    proposer: Address,
    value: H256,
    valid: bool,
}

/// A commit certificate on the wire: the same as Umbra's stored [`finality::CommitCertificate`].
pub fn to_umbra_certificate(c: &CommitCertificate<UmbraContext>) -> finality::CommitCertificate {
    finality::CommitCertificate {
        height: c.height.0,
        round: c.round.as_u32().unwrap_or(u32::MAX),
        block_hash: c.value_id,
        signatures: c
            .commit_signatures
            .iter()
            .map(|s| finality::CommitSignature {
                validator: s.address.0,
                signature: sig(&s.signature),
            })
            .collect(),
    }
}

/// Malachite's form of a stored certificate.
pub fn from_umbra_certificate(c: &finality::CommitCertificate) -> CommitCertificate<UmbraContext> {
    CommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: c.block_hash,
        commit_signatures: c
            .signatures
            .iter()
            .map(|s| CommitSignature::new(Address(s.validator), unsig(s.signature)))
            .collect(),
    }
}

/// `Codec<$t>` from an encoding expression over `$m: &$t` and a decoding expression over
/// `$b: &mut &[u8]` with the codec as `$c` (returning `Result<$t, CodecError>`).
macro_rules! scale_codec {
    ($t:ty, |$m:ident| $enc:expr, |$c:ident, $b:ident| $dec:expr) => {
        impl Codec<$t> for ScaleCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                #[allow(unused_variables)]
                let $c: &ScaleCodec = self;
                let mut input: &[u8] = &bytes[..];
                let $b: &mut &[u8] = &mut input;
                $dec
            }

            fn encode(&self, $m: &$t) -> Result<Bytes, CodecError> {
                Ok(Bytes::from($enc))
            }
        }
    };
}

scale_codec!(ProposalPart, |m| m.encode(), |codec, b| Ok(ProposalPart::decode(b)?));

scale_codec!(
    SignedConsensusMsg<UmbraContext>,
    |m| match m {
        SignedConsensusMsg::Vote(v) =>
            WireConsensusMsg::Vote((&v.message).into(), sig(&v.signature)).encode(),
        SignedConsensusMsg::Proposal(p) => {
            let m = &p.message;
            WireConsensusMsg::Proposal(
                WireProposal {
                    height: m.height.0,
                    round: m.round.as_u32(),
                    value: m.value.0,
                    pol_round: m.pol_round.as_u32(),
                    proposer: m.proposer,
                },
                sig(&p.signature),
            )
            .encode()
        }
    },
    |codec, b| Ok(match WireConsensusMsg::decode(b)? {
        WireConsensusMsg::Vote(v, s) => {
            let vote: Vote = v.into();
            if let Some(book) = &codec.evidence {
                book.observe(&vote, s);
            }
            SignedConsensusMsg::Vote(SignedMessage::new(vote, unsig(s)))
        }
        WireConsensusMsg::Proposal(p, s) => SignedConsensusMsg::Proposal(SignedMessage::new(
            Proposal {
                height: Height(p.height),
                round: Round::from(p.round),
                value: BlockValue(p.value),
                pol_round: Round::from(p.pol_round),
                proposer: p.proposer,
            },
            unsig(s),
        )),
    })
);

scale_codec!(
    LivenessMsg<UmbraContext>,
    |m| match m {
        LivenessMsg::Vote(v) => WireLiveness::Vote((&v.message).into(), sig(&v.signature)).encode(),
        LivenessMsg::PolkaCertificate(c) => WireLiveness::Polka {
            height: c.height.0,
            round: c.round.as_u32(),
            value: c.value_id,
            signatures: c.polka_signatures.iter().map(|s| (s.address, sig(&s.signature))).collect(),
        }
        .encode(),
        LivenessMsg::SkipRoundCertificate(c) => WireLiveness::SkipRound {
            height: c.height.0,
            round: c.round.as_u32(),
            precommit: matches!(c.cert_type, RoundCertificateType::Precommit),
            signatures: c
                .round_signatures
                .iter()
                .map(|s| WireRoundSig {
                    precommit: s.vote_type == VoteType::Precommit,
                    value: match s.value_id {
                        NilOrVal::Nil => None,
                        NilOrVal::Val(h) => Some(h),
                    },
                    address: s.address,
                    signature: sig(&s.signature),
                })
                .collect(),
        }
        .encode(),
    },
    |codec, b| Ok(match WireLiveness::decode(b)? {
        WireLiveness::Vote(v, s) => {
            let vote: Vote = v.into();
            if let Some(book) = &codec.evidence {
                book.observe(&vote, s);
            }
            LivenessMsg::Vote(SignedMessage::new(vote, unsig(s)))
        }
        WireLiveness::Polka { height, round, value, signatures } =>
            LivenessMsg::PolkaCertificate(PolkaCertificate {
                height: Height(height),
                round: Round::from(round),
                value_id: value,
                polka_signatures: signatures
                    .into_iter()
                    .map(|(a, s)| PolkaSignature::new(a, unsig(s)))
                    .collect(),
            }),
        WireLiveness::SkipRound { height, round, precommit, signatures } =>
            LivenessMsg::SkipRoundCertificate(RoundCertificate {
                height: Height(height),
                round: Round::from(round),
                cert_type: if precommit {
                    RoundCertificateType::Precommit
                } else {
                    RoundCertificateType::Skip
                },
                round_signatures: signatures
                    .into_iter()
                    .map(|s| RoundSignature::new(
                        if s.precommit { VoteType::Precommit } else { VoteType::Prevote },
                        s.value.map_or(NilOrVal::Nil, NilOrVal::Val),
                        s.address,
                        unsig(s.signature),
                    ))
                    .collect(),
            }),
    })
);

scale_codec!(
    StreamMessage<ProposalPart>,
    |m| WireStream {
        stream_id: m.stream_id.to_bytes().to_vec(),
        sequence: m.sequence,
        content: match &m.content {
            StreamContent::Data(p) => Some(p.clone()),
            StreamContent::Fin => None,
        },
    }
    .encode(),
    |codec, b| {
        let w = WireStream::decode(b)?;
        Ok(StreamMessage::new(
            StreamId::new(Bytes::from(w.stream_id)),
            w.sequence,
            w.content.map_or(StreamContent::Fin, StreamContent::Data),
        ))
    }
);

scale_codec!(
    ProposedValue<UmbraContext>,
    |m| WireProposedValue {
        height: m.height.0,
        round: m.round.as_u32(),
        valid_round: m.valid_round.as_u32(),
        proposer: m.proposer,
        value: m.value.0,
        valid: m.validity.is_valid(),
    }
    .encode(),
    |codec, b| {
        let w = WireProposedValue::decode(b)?;
        Ok(ProposedValue {
            height: Height(w.height),
            round: Round::from(w.round),
            valid_round: Round::from(w.valid_round),
            proposer: w.proposer,
            value: BlockValue(w.value),
            validity: Validity::from_bool(w.valid),
        })
    }
);

scale_codec!(
    sync::Status<UmbraContext>,
    |m| (m.peer_id.to_bytes(), m.tip_height.0, m.history_min_height.0).encode(),
    |codec, b| {
        let (peer, tip, min) = <(Vec<u8>, u64, u64)>::decode(b)?;
        Ok(sync::Status {
            peer_id: PeerId::from_bytes(&peer).map_err(|e| CodecError(e.to_string()))?,
            tip_height: Height(tip),
            history_min_height: Height(min),
        })
    }
);

scale_codec!(
    sync::Request<UmbraContext>,
    |m| match m {
        sync::Request::ValueRequest(r) => r.height.0.encode(),
    },
    |codec, b| Ok(sync::Request::ValueRequest(malachitebft_sync::ValueRequest::new(Height(
        u64::decode(b)?
    ))))
);

scale_codec!(
    sync::Response<UmbraContext>,
    |m| match m {
        sync::Response::ValueResponse(r) => (
            r.height.0,
            r.value
                .as_ref()
                .map(|v| (v.value_bytes.to_vec(), to_umbra_certificate(&v.certificate))),
        )
            .encode(),
    },
    |codec, b| {
        let (height, value) = <(u64, Option<(Vec<u8>, finality::CommitCertificate)>)>::decode(b)?;
        Ok(sync::Response::ValueResponse(malachitebft_sync::ValueResponse::new(
            Height(height),
            value.map(|(bytes, cert)| {
                sync::RawDecidedValue::new(Bytes::from(bytes), from_umbra_certificate(&cert))
            }),
        )))
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_app_channel::app::types::core::Context as _;

    #[test]
    fn messages_round_trip() {
        let ctx = UmbraContext { genesis: H256::hash(b"g") };
        let vote = ctx.new_precommit(
            Height(5),
            Round::new(2),
            NilOrVal::Val(H256::hash(b"b")),
            Address([7; 32]),
        );
        let msg = SignedConsensusMsg::Vote(SignedMessage::new(vote, unsig([9; 64])));
        let bytes = ScaleCodec::default().encode(&msg).unwrap();
        let back: SignedConsensusMsg<UmbraContext> = ScaleCodec::default().decode(bytes).unwrap();
        assert_eq!(back, msg);
        let cert = finality::CommitCertificate {
            height: 3,
            round: 1,
            block_hash: H256::hash(b"x"),
            signatures: vec![finality::CommitSignature { validator: [1; 32], signature: [2; 64] }],
        };
        assert_eq!(to_umbra_certificate(&from_umbra_certificate(&cert)), cert);
        // Garbage is refused with an error, not a panic.
        let bad: Result<SignedConsensusMsg<UmbraContext>, _> =
            ScaleCodec::default().decode(Bytes::from_static(&[9, 9, 9]));
        assert!(bad.is_err());
    }
}
