//! Equivocation detection: every vote that arrives over the network passes through the codec,
//! which shows it to the [`Book`]. Two validly signed votes of one validator of the same kind,
//! height and round for different values are an [`Equivocation`]; a validator node reports it on
//! chain (`governance::ReportEquivocation`, verified there again and recorded once).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use malachitebft_app_channel::app::types::core::{NilOrVal, VoteType};
use umbra_primitives::{
    finality::{verify_vote, Equivocation, VoteKind},
    H256,
};

use super::context::Vote;

/// How many heights of votes are kept.
const KEEP_HEIGHTS: u64 = 16;

type VoteKey = ([u8; 32], VoteKind, u64, u32);
/// The value a vote was for and its signature.
type SeenVote = (Option<H256>, [u8; 64]);

/// Votes seen and equivocations found.
#[derive(Debug)]
pub struct Book {
    genesis: H256,
    seen: Mutex<BTreeMap<VoteKey, SeenVote>>,
    found: Mutex<Vec<Equivocation>>,
    reported: Mutex<BTreeSet<VoteKey>>,
}

impl Book {
    /// An empty book for the chain `genesis`.
    pub fn new(genesis: H256) -> Self {
        Book {
            genesis,
            seen: Mutex::new(BTreeMap::new()),
            found: Mutex::new(Vec::new()),
            reported: Mutex::new(BTreeSet::new()),
        }
    }

    /// Shows the book one signed vote. Votes with an invalid signature are ignored.
    pub fn observe(&self, vote: &Vote, signature: [u8; 64]) {
        let kind = match vote.typ {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        };
        let Some(round) = vote.round.as_u32() else { return };
        let value = match vote.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(h) => Some(h),
        };
        let key = (vote.validator.0, kind, vote.height.0, round);
        let mut seen = self.seen.lock().expect("evidence lock");
        match seen.get(&key) {
            None => {
                if verify_vote(
                    &self.genesis,
                    kind,
                    key.2,
                    round,
                    value.as_ref(),
                    &key.0,
                    &signature,
                ) {
                    seen.insert(key, (value, signature));
                    let floor = vote.height.0.saturating_sub(KEEP_HEIGHTS);
                    seen.retain(|k, _| k.2 >= floor);
                }
            }
            Some(first) if first.0 != value => {
                let e = Equivocation {
                    validator: key.0,
                    kind,
                    height: key.2,
                    round,
                    first: *first,
                    second: (value, signature),
                };
                if e.verify(&self.genesis)
                    && self.reported.lock().expect("evidence lock").insert(key)
                {
                    tracing::warn!(
                        validator = %hex::encode(key.0),
                        height = key.2,
                        round,
                        ?kind,
                        "equivocation detected: two conflicting signed votes"
                    );
                    self.found.lock().expect("evidence lock").push(e);
                }
            }
            Some(_) => {}
        }
    }

    /// Takes the equivocations found since the last call.
    pub fn take(&self) -> Vec<Equivocation> {
        std::mem::take(&mut *self.found.lock().expect("evidence lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bft::context::{Address, Height, UmbraContext};
    use malachitebft_app_channel::app::types::core::{Context as _, Round};

    fn signed(
        g: &H256,
        sk: &ed25519_consensus::SigningKey,
        value: NilOrVal<H256>,
    ) -> (Vote, [u8; 64]) {
        let ctx = UmbraContext { genesis: *g };
        let addr = Address(sk.verification_key().to_bytes());
        let vote = ctx.new_prevote(Height(4), Round::new(1), value, addr);
        let sig = sk.sign(&vote.sign_bytes(g)).to_bytes();
        (vote, sig)
    }

    #[test]
    fn conflicting_votes_become_evidence_once_and_forgeries_do_not() {
        let g = H256::hash(b"g");
        let sk = ed25519_consensus::SigningKey::from([7u8; 32]);
        let book = Book::new(g);
        let (v1, s1) = signed(&g, &sk, NilOrVal::Val(H256::hash(b"a")));
        let (v2, s2) = signed(&g, &sk, NilOrVal::Nil);
        book.observe(&v1, s1);
        book.observe(&v1, s1);
        // A forged conflicting vote (bad signature) is no evidence.
        let mut bad = s2;
        bad[0] ^= 1;
        book.observe(&v2, bad);
        assert!(book.take().is_empty());
        book.observe(&v2, s2);
        let found = book.take();
        assert_eq!(found.len(), 1);
        assert!(found[0].verify(&g));
        assert_eq!(found[0].height, 4);
        // Reported once.
        book.observe(&v2, s2);
        assert!(book.take().is_empty());
    }
}
