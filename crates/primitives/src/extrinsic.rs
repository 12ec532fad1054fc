//! Signed transactions ("extrinsics").
//!
//! Wire format (SCALE): `version: u8 ‖ signer ‖ signature ‖ compact nonce ‖ compact tip ‖
//! genesis_hash ‖ call`. The signature covers [`SignedPayload`]: the call, nonce, tip and genesis
//! hash, so a transaction cannot be replayed on another chain or with another nonce, and a relayer
//! cannot change its tip. The genesis hash is carried in the clear so a node can tell "signed for
//! another chain" apart from "bad signature".

use parity_scale_codec::{Compact, Decode, Encode};
use umbra_crypto::{Pair, Signature};

use crate::{AccountId, Balance, Nonce, H256};

/// The only extrinsic format version this code accepts.
pub const EXTRINSIC_VERSION: u8 = 1;

/// Everything in an extrinsic before its call.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ExtrinsicHead {
    /// Format version, [`EXTRINSIC_VERSION`].
    pub version: u8,
    /// Who signed and pays.
    pub signer: AccountId,
    /// sr25519 signature over the [`SignedPayload`].
    pub signature: Signature,
    /// The signer's nonce this transaction consumes.
    pub nonce: Compact<Nonce>,
    /// Extra fee offered on top of the base and length fee, raising priority.
    pub tip: Compact<Balance>,
    /// Genesis hash of the chain this transaction is meant for.
    pub genesis_hash: H256,
}

/// A signed transaction carrying a runtime call of type `Call`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct UncheckedExtrinsic<Call> {
    /// Signer, signature, nonce, tip, genesis.
    pub head: ExtrinsicHead,
    /// The call to dispatch.
    pub call: Call,
}

/// What the signer signs: blake2-256 of the SCALE encoding of
/// `("umbra/tx/v1", call, nonce, tip, genesis_hash)`.
#[derive(Debug, Encode)]
pub struct SignedPayload<'a, Call: Encode> {
    domain: &'static [u8],
    call: &'a Call,
    nonce: Compact<Nonce>,
    tip: Compact<Balance>,
    genesis_hash: H256,
}

impl<'a, Call: Encode> SignedPayload<'a, Call> {
    /// The payload for these fields.
    pub fn new(call: &'a Call, nonce: Nonce, tip: Balance, genesis_hash: H256) -> Self {
        SignedPayload {
            domain: b"umbra/tx/v1",
            call,
            nonce: Compact(nonce),
            tip: Compact(tip),
            genesis_hash,
        }
    }

    /// The 32 bytes that get signed.
    pub fn signing_hash(&self) -> H256 {
        H256::hash_of(self)
    }
}

impl<Call: Encode> UncheckedExtrinsic<Call> {
    /// Builds and signs an extrinsic.
    pub fn new_signed(
        pair: &Pair,
        call: Call,
        nonce: Nonce,
        tip: Balance,
        genesis_hash: H256,
    ) -> Self {
        let signature = pair
            .sign(SignedPayload::new(&call, nonce, tip, genesis_hash).signing_hash().as_bytes());
        UncheckedExtrinsic {
            head: ExtrinsicHead {
                version: EXTRINSIC_VERSION,
                signer: pair.public(),
                signature,
                nonce: Compact(nonce),
                tip: Compact(tip),
                genesis_hash,
            },
            call,
        }
    }

    /// The signer's nonce.
    pub fn nonce(&self) -> Nonce {
        self.head.nonce.0
    }

    /// The tip.
    pub fn tip(&self) -> Balance {
        self.head.tip.0
    }

    /// Whether the signature verifies over the payload (with the genesis hash it carries).
    pub fn verify_signature(&self) -> bool {
        let payload =
            SignedPayload::new(&self.call, self.nonce(), self.tip(), self.head.genesis_hash);
        self.head.signer.verify(payload.signing_hash().as_bytes(), &self.head.signature)
    }

    /// The transaction hash: blake2-256 of the encoding.
    pub fn hash(&self) -> H256 {
        H256::hash_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
    enum TestCall {
        Ping(u32),
    }

    fn genesis() -> H256 {
        H256::hash(b"genesis")
    }

    #[test]
    fn signed_extrinsic_verifies_and_round_trips() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let xt = UncheckedExtrinsic::new_signed(&alice, TestCall::Ping(7), 3, 10, genesis());
        assert!(xt.verify_signature());
        let bytes = xt.encode();
        assert_eq!(bytes[0], EXTRINSIC_VERSION);
        let decoded = UncheckedExtrinsic::<TestCall>::decode(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, xt);
        // The head decodes alone and the call follows it.
        let mut input = &bytes[..];
        let head = ExtrinsicHead::decode(&mut input).unwrap();
        assert_eq!(head, xt.head);
        assert_eq!(TestCall::decode(&mut input).unwrap(), TestCall::Ping(7));
    }

    #[test]
    fn signature_covers_every_field() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let xt = UncheckedExtrinsic::new_signed(&alice, TestCall::Ping(7), 3, 10, genesis());
        let mut m = xt.clone();
        m.call = TestCall::Ping(8);
        assert!(!m.verify_signature());
        let mut m = xt.clone();
        m.head.nonce = Compact(4);
        assert!(!m.verify_signature());
        let mut m = xt.clone();
        m.head.tip = Compact(0);
        assert!(!m.verify_signature());
        let mut m = xt.clone();
        m.head.genesis_hash = H256::hash(b"other chain");
        assert!(!m.verify_signature());
        let mut m = xt;
        m.head.signer = Pair::from_suri("//Bob").unwrap().public();
        assert!(!m.verify_signature());
    }
}
