//! Consensus behind a trait.
//!
//! Trait hierarchy: [`ConsensusEngine`] claims the right to author a block (returning the VRF
//! pre-digest that fixes the block's randomness before its content), seals a built header, and
//! verifies headers from others. The embedded default is [`DevAuthority`]: one authority key
//! signs every block, and a sealed block is final at once. [`BftEngine`] implements the same
//! trait for a multi-validator chain on malachite: its decided value is the block, and its
//! commit certificate travels with the finalized header as the finality justification.

use umbra_primitives::{
    vrf_input, AccountId, BlockNumber, Header, HeaderError, Pair, VrfSignature, H256,
};

/// The right to author one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Who authors it.
    pub author: AccountId,
    /// The author's VRF signature over the block's VRF input.
    pub vrf: VrfSignature,
    /// The VRF output: the block's randomness.
    pub randomness: [u8; 32],
}

/// A consensus engine.
pub trait ConsensusEngine: Send + Sync + std::fmt::Debug {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// Claims block `number` on top of `parent_hash`, if this node may author it.
    fn claim(
        &self,
        parent_hash: &H256,
        number: BlockNumber,
        authorities: &[AccountId],
    ) -> Option<Claim>;
    /// Signs a fully built header.
    fn seal(&self, header: &mut Header);
    /// Verifies a header from elsewhere against its parent; returns its randomness. Both
    /// engines check the same header rules ([`Header::verify_against`]: linkage, an authority's
    /// seal and VRF); a BFT chain's finality is checked apart, on the commit certificate.
    fn verify(
        &self,
        header: &Header,
        parent: &Header,
        authorities: &[AccountId],
    ) -> Result<[u8; 32], HeaderError> {
        header.verify_against(parent, authorities)
    }
}

/// The claim of `pair` on block `number` above `parent_hash`: `None` unless its public key is
/// one of `authorities`; the VRF over the block's input fixes the block's randomness.
fn claim_with(
    pair: &Pair,
    parent_hash: &H256,
    number: BlockNumber,
    authorities: &[AccountId],
) -> Option<Claim> {
    let author = pair.public();
    if !authorities.contains(&author) {
        return None;
    }
    let input = vrf_input(parent_hash, number);
    let vrf = pair.vrf_sign(&input);
    let randomness = author.vrf_verify(&input, &vrf).ok()?;
    Some(Claim { author, vrf, randomness })
}

/// Single-authority development consensus: the node holding the authority key seals every block.
pub struct DevAuthority {
    pair: Pair,
}

impl std::fmt::Debug for DevAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAuthority").field("authority", &self.pair.public()).finish()
    }
}

impl DevAuthority {
    /// An engine sealing with `pair`.
    pub fn new(pair: Pair) -> Self {
        DevAuthority { pair }
    }

    /// The authority key's public part.
    pub fn public(&self) -> AccountId {
        self.pair.public()
    }
}

impl ConsensusEngine for DevAuthority {
    fn name(&self) -> &'static str {
        "dev-authority"
    }

    fn claim(
        &self,
        parent_hash: &H256,
        number: BlockNumber,
        authorities: &[AccountId],
    ) -> Option<Claim> {
        claim_with(&self.pair, parent_hash, number, authorities)
    }

    fn seal(&self, header: &mut Header) {
        header.seal_with(&self.pair);
    }
}

/// The header rules of a BFT (malachite) chain: the round's proposer claims, builds and seals
/// the block with its sr25519 account key exactly as [`DevAuthority`] does (so the VRF
/// randomness is the proposer's), but a sealed block is only a proposal: it becomes final when
/// ≥ 2/3 of the voting power precommit it, which [`crate::bft`] drives and
/// [`crate::service::Node::import_finalized`] checks. A full node that is not a validator holds
/// no key: it never claims, only verifies.
pub struct BftEngine {
    pair: Option<Pair>,
}

impl std::fmt::Debug for BftEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BftEngine").field("account", &self.pair.as_ref().map(Pair::public)).finish()
    }
}

impl BftEngine {
    /// A validator's engine (`Some(account key)`) or a full node's (`None`).
    pub fn new(pair: Option<Pair>) -> Self {
        BftEngine { pair }
    }
}

impl ConsensusEngine for BftEngine {
    fn name(&self) -> &'static str {
        "malachite-tendermint"
    }

    fn claim(
        &self,
        parent_hash: &H256,
        number: BlockNumber,
        authorities: &[AccountId],
    ) -> Option<Claim> {
        claim_with(self.pair.as_ref()?, parent_hash, number, authorities)
    }

    fn seal(&self, header: &mut Header) {
        if let Some(pair) = &self.pair {
            header.seal_with(pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_authority_can_claim() {
        let alice = DevAuthority::new(Pair::from_suri("//Alice").unwrap());
        let bob = DevAuthority::new(Pair::from_suri("//Bob").unwrap());
        let auths = [alice.public()];
        let claim = alice.claim(&H256::ZERO, 1, &auths).unwrap();
        assert_eq!(claim.author, alice.public());
        assert_eq!(
            alice.public().vrf_verify(&vrf_input(&H256::ZERO, 1), &claim.vrf).unwrap(),
            claim.randomness
        );
        assert!(bob.claim(&H256::ZERO, 1, &auths).is_none());
        // Randomness differs per slot.
        assert_ne!(alice.claim(&H256::ZERO, 2, &auths).unwrap().randomness, claim.randomness);
    }
}
