//! Blocks and headers, and the checks anyone (a node, an enclave's light client) can run on them.

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::{Pair, Public, Signature, VrfSignature};

use crate::{merkle::merkle_root, AccountId, BlockNumber, Moment, H256};

/// A block header.
///
/// The authority signs [`Header::pre_hash`] (everything but the seal); the block's identity is
/// [`Header::hash`] (everything including the seal). `vrf` is the author's VRF signature over
/// [`vrf_input`]`(parent_hash, number)`: its output is the block's randomness, verifiable by
/// anyone who knows the author's public key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Header {
    /// Hash of the parent header (zero for genesis).
    pub parent_hash: H256,
    /// Height of this block; genesis is 0.
    #[codec(compact)]
    pub number: BlockNumber,
    /// Root of the state after this block (sparse Merkle commitment).
    pub state_root: H256,
    /// Merkle root of the encoded extrinsics in the body.
    pub extrinsics_root: H256,
    /// Merkle root of the encoded event records this block emitted.
    pub events_root: H256,
    /// When the block was authored, in milliseconds since the Unix epoch.
    pub timestamp: Moment,
    /// The authority that authored and sealed the block.
    pub author: AccountId,
    /// The author's VRF signature over [`vrf_input`]; its output is the block's randomness.
    pub vrf: VrfSignature,
    /// The author's sr25519 signature over [`Header::pre_hash`].
    pub seal: Signature,
}

/// Ways a header can fail verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The header does not extend the expected parent.
    #[error("block #{number} does not link to its parent: parent hash {got}, expected {expected}")]
    BadParent {
        /// The block number.
        number: BlockNumber,
        /// The parent hash in the header.
        got: H256,
        /// The hash of the block it should extend.
        expected: H256,
    },
    /// The block number is not parent + 1.
    #[error("block number {got} does not follow parent #{parent}")]
    BadNumber {
        /// The number in the header.
        got: BlockNumber,
        /// The parent's number.
        parent: BlockNumber,
    },
    /// The author is not the authority.
    #[error("block #{number} authored by {author}, which is not an authority")]
    UnknownAuthor {
        /// The block number.
        number: BlockNumber,
        /// The claimed author.
        author: AccountId,
    },
    /// The seal does not verify against the author's key.
    #[error("block #{number} has an invalid authority seal")]
    BadSeal {
        /// The block number.
        number: BlockNumber,
    },
    /// The VRF proof does not verify.
    #[error("block #{number} has an invalid VRF proof")]
    BadVrf {
        /// The block number.
        number: BlockNumber,
    },
    /// The timestamp does not move forward.
    #[error("block #{number} timestamp {got} is not after its parent's {parent}")]
    BadTimestamp {
        /// The block number.
        number: BlockNumber,
        /// The header's timestamp.
        got: Moment,
        /// The parent's timestamp.
        parent: Moment,
    },
    /// The body does not match the extrinsics root.
    #[error("block #{number} body does not match its extrinsics root")]
    BadExtrinsicsRoot {
        /// The block number.
        number: BlockNumber,
    },
}

/// The VRF input of the block at `number` on top of `parent_hash`: fixed before the block's
/// content, so the author cannot grind it by choosing transactions.
pub fn vrf_input(parent_hash: &H256, number: BlockNumber) -> Vec<u8> {
    (b"umbra/block-randomness/v1", parent_hash, number).encode()
}

impl Header {
    /// The unsealed genesis header committing to `state_root`.
    pub fn genesis(state_root: H256, timestamp: Moment) -> Header {
        Header {
            parent_hash: H256::ZERO,
            number: 0,
            state_root,
            extrinsics_root: H256::ZERO,
            events_root: H256::ZERO,
            timestamp,
            author: Public([0u8; 32]),
            vrf: VrfSignature { pre_output: [0u8; 32], proof: [0u8; 64] },
            seal: Signature([0u8; 64]),
        }
    }

    /// blake2-256 of the header without its seal: what the author signs.
    pub fn pre_hash(&self) -> H256 {
        H256::hash_of(&(
            &self.parent_hash,
            parity_scale_codec::Compact(self.number),
            &self.state_root,
            &self.extrinsics_root,
            &self.events_root,
            self.timestamp,
            &self.author,
            &self.vrf,
        ))
    }

    /// blake2-256 of the whole header: the block hash.
    pub fn hash(&self) -> H256 {
        H256::hash_of(self)
    }

    /// Signs the header with the author's key (sets `author` and `seal`).
    pub fn seal_with(&mut self, pair: &Pair) {
        self.author = pair.public();
        self.seal = pair.sign(self.pre_hash().as_bytes());
    }

    /// Checks that this header extends `parent`, is authored by one of `authorities`, carries a
    /// valid VRF proof and seal, and moves time forward. Returns the block's randomness.
    pub fn verify_against(
        &self,
        parent: &Header,
        authorities: &[Public],
    ) -> Result<[u8; 32], HeaderError> {
        let number = self.number;
        if self.number != parent.number.wrapping_add(1) {
            return Err(HeaderError::BadNumber { got: self.number, parent: parent.number });
        }
        let expected = parent.hash();
        if self.parent_hash != expected {
            return Err(HeaderError::BadParent { number, got: self.parent_hash, expected });
        }
        if self.timestamp <= parent.timestamp {
            return Err(HeaderError::BadTimestamp {
                number,
                got: self.timestamp,
                parent: parent.timestamp,
            });
        }
        self.verify_seal(authorities)
    }

    /// Checks author, seal and VRF only (no linkage). Returns the block's randomness.
    pub fn verify_seal(&self, authorities: &[Public]) -> Result<[u8; 32], HeaderError> {
        let number = self.number;
        if !authorities.contains(&self.author) {
            return Err(HeaderError::UnknownAuthor { number, author: self.author });
        }
        if !self.author.verify(self.pre_hash().as_bytes(), &self.seal) {
            return Err(HeaderError::BadSeal { number });
        }
        self.author
            .vrf_verify(&vrf_input(&self.parent_hash, number), &self.vrf)
            .map_err(|_| HeaderError::BadVrf { number })
    }
}

/// A block: header and body (the SCALE-encoded extrinsics, in execution order).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The encoded extrinsics.
    pub extrinsics: Vec<Vec<u8>>,
}

impl Block {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> H256 {
        self.header.hash()
    }

    /// Merkle root of a body.
    pub fn extrinsics_root_of(extrinsics: &[Vec<u8>]) -> H256 {
        merkle_root(extrinsics)
    }

    /// Checks the body against the header's extrinsics root.
    pub fn verify_body(&self) -> Result<(), HeaderError> {
        if Self::extrinsics_root_of(&self.extrinsics) == self.header.extrinsics_root {
            Ok(())
        } else {
            Err(HeaderError::BadExtrinsicsRoot { number: self.header.number })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn signed_child(parent: &Header, pair: &Pair, body: &[Vec<u8>]) -> Header {
        let number = parent.number + 1;
        let parent_hash = parent.hash();
        let mut h = Header {
            parent_hash,
            number,
            state_root: H256::hash(b"state"),
            extrinsics_root: Block::extrinsics_root_of(body),
            events_root: H256::ZERO,
            timestamp: parent.timestamp + 1000,
            author: pair.public(),
            vrf: pair.vrf_sign(&vrf_input(&parent_hash, number)),
            seal: Signature([0u8; 64]),
        };
        h.seal_with(pair);
        h
    }

    pub(crate) fn genesis() -> Header {
        Header::genesis(H256::ZERO, 0)
    }

    #[test]
    fn sealed_child_verifies_and_yields_randomness() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let g = genesis();
        let h1 = signed_child(&g, &alice, &[]);
        let r1 = h1.verify_against(&g, &[alice.public()]).unwrap();
        let h2 = signed_child(&h1, &alice, &[]);
        let r2 = h2.verify_against(&h1, &[alice.public()]).unwrap();
        assert_ne!(r1, r2);
        // Randomness is a function of the header, so anyone re-deriving it gets the same value.
        assert_eq!(h1.verify_seal(&[alice.public()]).unwrap(), r1);
    }

    #[test]
    fn cannot_verify_forged_or_unlinked_headers() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let bob = Pair::from_suri("//Bob").unwrap();
        let g = genesis();
        let h1 = signed_child(&g, &alice, &[]);

        let by_bob = signed_child(&g, &bob, &[]);
        assert!(matches!(
            by_bob.verify_against(&g, &[alice.public()]),
            Err(HeaderError::UnknownAuthor { .. })
        ));

        let mut tampered = h1.clone();
        tampered.state_root = H256::hash(b"other");
        assert!(matches!(
            tampered.verify_against(&g, &[alice.public()]),
            Err(HeaderError::BadSeal { .. })
        ));

        let h2 = signed_child(&h1, &alice, &[]);
        assert!(matches!(
            h2.verify_against(&g, &[alice.public()]),
            Err(HeaderError::BadNumber { .. })
        ));

        let mut relinked = signed_child(&h1, &alice, &[]);
        relinked.parent_hash = H256::hash(b"elsewhere");
        relinked.seal_with(&alice);
        assert!(matches!(
            relinked.verify_against(&h1, &[alice.public()]),
            Err(HeaderError::BadParent { .. })
        ));

        // A VRF proof for another slot is refused even if the seal is re-signed.
        let mut wrong_vrf = signed_child(&h1, &alice, &[]);
        wrong_vrf.vrf = h1.vrf;
        wrong_vrf.seal_with(&alice);
        assert!(matches!(
            wrong_vrf.verify_against(&h1, &[alice.public()]),
            Err(HeaderError::BadVrf { .. })
        ));
    }

    #[test]
    fn body_must_match_extrinsics_root() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let body = vec![vec![1u8, 2, 3], vec![4u8]];
        let header = signed_child(&genesis(), &alice, &body);
        let block = Block { header, extrinsics: body };
        assert!(block.verify_body().is_ok());
        let mut swapped = block.clone();
        swapped.extrinsics.reverse();
        assert!(swapped.verify_body().is_err());
        let mut dropped = block;
        dropped.extrinsics.pop();
        assert!(dropped.verify_body().is_err());
    }
}
