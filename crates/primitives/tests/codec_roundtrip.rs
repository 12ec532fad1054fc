//! SCALE round trips of every primitive type that is signed, hashed or stored.

use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use umbra_crypto::{Public, Signature, VrfSignature};
use umbra_primitives::{
    extrinsic::ExtrinsicHead,
    mq::{Challenge, Heartbeat, MessageOrigin, Pong, SignedMessage},
    query::{QueryRequest, QueryResponse, WorkerQuery, WorkerStatus},
    Block, Header, UncheckedExtrinsic, H256,
};

fn h256() -> impl Strategy<Value = H256> {
    any::<[u8; 32]>().prop_map(H256)
}

fn public() -> impl Strategy<Value = Public> {
    any::<[u8; 32]>().prop_map(Public)
}

fn signature() -> impl Strategy<Value = Signature> {
    prop::collection::vec(any::<u8>(), 64).prop_map(|v| Signature(v.try_into().unwrap()))
}

fn header() -> impl Strategy<Value = Header> {
    (
        h256(),
        any::<u64>(),
        h256(),
        h256(),
        h256(),
        any::<u64>(),
        public(),
        any::<[u8; 32]>(),
        signature(),
        signature(),
    )
        .prop_map(
            |(
                parent_hash,
                number,
                state_root,
                extrinsics_root,
                events_root,
                timestamp,
                author,
                pre,
                proof,
                seal,
            )| Header {
                parent_hash,
                number,
                state_root,
                extrinsics_root,
                events_root,
                timestamp,
                author,
                vrf: VrfSignature { pre_output: pre, proof: proof.0 },
                seal,
            },
        )
}

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(
    v: &T,
) -> Result<(), TestCaseError> {
    let bytes = v.encode();
    let mut input = &bytes[..];
    prop_assert_eq!(&T::decode(&mut input).unwrap(), v);
    prop_assert!(input.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn headers_and_blocks(h in header(), xts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
        round_trip(&h)?;
        prop_assert_eq!(Header::decode(&mut &h.encode()[..]).unwrap().hash(), h.hash());
        round_trip(&Block { header: h, extrinsics: xts })?;
    }

    #[test]
    fn extrinsics(signer in public(), sig in signature(), nonce in any::<u64>(), tip in any::<u128>(), g in h256(), call in prop::collection::vec(any::<u8>(), 0..32)) {
        let xt = UncheckedExtrinsic {
            head: ExtrinsicHead { version: 1, signer, signature: sig, nonce: nonce.into(), tip: tip.into(), genesis_hash: g },
            call,
        };
        round_trip(&xt)?;
    }

    #[test]
    fn mq_types(who in public(), sig in signature(), seq in any::<u64>(), topic in prop::collection::vec(any::<u8>(), 0..40), payload in prop::collection::vec(any::<u8>(), 0..80), block in any::<u64>(), hash in h256()) {
        for origin in [MessageOrigin::Worker(who), MessageOrigin::Account(who), MessageOrigin::Module(topic.clone())] {
            round_trip(&SignedMessage { sender: origin, topic: topic.clone(), sequence: seq, payload: payload.clone(), signature: sig })?;
        }
        round_trip(&Challenge { worker: who, block })?;
        round_trip(&Heartbeat { challenge_block: block, challenge_block_hash: hash })?;
        round_trip(&Pong { block, ping_hash: hash })?;
    }

    #[test]
    fn query_types(who in public(), sig in signature(), nonce in any::<[u8; 16]>(), ts in any::<u64>(), body in prop::collection::vec(any::<u8>(), 0..64), n12 in any::<[u8; 12]>(), hash in h256(), n in any::<u64>()) {
        round_trip(&QueryRequest { origin: who, worker: who, nonce, timestamp_ms: ts, body: body.clone(), signature: sig })?;
        round_trip(&QueryResponse { nonce: n12, ciphertext: body.clone(), signature: sig })?;
        for q in [WorkerQuery::Status, WorkerQuery::Echo(body.clone()), WorkerQuery::Contract { id: hash, query: body.clone() }, WorkerQuery::EventKey { id: hash }, WorkerQuery::ContractState { id: hash }] {
            round_trip(&q)?;
        }
        round_trip(&WorkerStatus { identity: who, synced_number: n, synced_hash: hash, registered: n % 2 == 0, asked_by: who })?;
    }
}
