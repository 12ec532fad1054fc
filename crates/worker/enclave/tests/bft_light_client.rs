//! The enclave light client on a BFT chain: it accepts a block only with a commit certificate of
//! more than 2/3 of the voting power of the validator set it tracks, follows a validator-set
//! change made by governance, and refuses forged certificates, certificates below 2/3 and
//! certificates signed by a past set. The chain is a real node (blocks built, executed and
//! committed by `umbra-node` with the certificates it checks); the precommits are signed with
//! the validators' real consensus keys, as malachite signs them.

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::Pair;
use umbra_enclave::{light_client::LightClient, EnclaveError};
use umbra_node::{consensus::BftEngine, ChainSpec, Node};
use umbra_primitives::{
    finality::{
        consensus_seed, vote_sign_bytes, CommitCertificate, CommitSignature, FinalityError,
        Validator, VoteKind,
    },
    Block, H256,
};
use umbra_runtime::{governance, Call, Extrinsic};

fn consensus_key(uri: &str) -> ed25519_consensus::SigningKey {
    ed25519_consensus::SigningKey::from(consensus_seed(
        &Pair::from_suri(uri).unwrap().to_secret_bytes(),
    ))
}

fn validator(uri: &str) -> Validator {
    Validator {
        account: Pair::from_suri(uri).unwrap().public(),
        consensus_key: consensus_key(uri).verification_key().to_bytes(),
        power: 1,
    }
}

fn certify(genesis: &H256, block: &Block, round: u32, signers: &[&str]) -> CommitCertificate {
    let hash = block.hash();
    let number = block.header.number;
    CommitCertificate {
        height: number,
        round,
        block_hash: hash,
        signatures: signers
            .iter()
            .map(|uri| {
                let sk = consensus_key(uri);
                let key = sk.verification_key().to_bytes();
                let msg =
                    vote_sign_bytes(genesis, VoteKind::Precommit, number, round, Some(&hash), &key);
                CommitSignature { validator: key, signature: sk.sign(&msg).to_bytes() }
            })
            .collect(),
    }
}

struct Chain {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    spec: ChainSpec,
}

impl Chain {
    /// A 4-validator chain (Alice, Bob, Charlie, Dave) whose blocks Charlie proposes.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec::dev().with_dev_validators(4).unwrap();
        let engine = BftEngine::new(Some(Pair::from_suri("//Charlie").unwrap()));
        let node = Node::open(dir.path(), spec.clone(), Arc::new(engine)).unwrap();
        Chain { _dir: dir, node, spec }
    }

    /// Builds the next block and finalizes it with `signers`' precommits.
    fn finalize(&self, signers: &[&str]) -> Block {
        let block = self.node.build_block().unwrap();
        let cert = certify(&self.node.genesis_hash(), &block, 0, signers);
        self.node.import_finalized(block.clone(), &cert).unwrap();
        block
    }

    fn raw(&self, n: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (b, e) = self.node.raw_block_with_events(n).unwrap().unwrap();
        (b, e, self.node.justification(n).unwrap().expect("stored certificate"))
    }

    fn light_client(&self) -> LightClient {
        let header = self.node.block(0).unwrap().unwrap().header;
        LightClient::from_genesis(&header, &self.spec.genesis).unwrap().0
    }
}

#[test]
fn the_node_refuses_to_commit_without_a_quorum_certificate() {
    let chain = Chain::new();
    let g = chain.node.genesis_hash();
    let block = chain.node.build_block().unwrap();
    // Two of four validators are not enough; a certificate for another block neither.
    let weak = certify(&g, &block, 0, &["//Alice", "//Bob"]);
    let err = chain.node.import_finalized(block.clone(), &weak).unwrap_err();
    assert!(format!("{err:#}").contains("voting power"), "{err:#}");
    let mut other = block.clone();
    other.header.timestamp += 1;
    let wrong = certify(&g, &other, 0, &["//Alice", "//Bob", "//Dave"]);
    assert!(chain.node.import_finalized(block.clone(), &wrong).is_err());
    assert_eq!(chain.node.head().number, 0, "nothing committed");
    let good = certify(&g, &block, 0, &["//Alice", "//Bob", "//Dave"]);
    chain.node.import_finalized(block, &good).unwrap();
    assert_eq!(chain.node.head().number, 1);
    let stored = chain.node.justification(1).unwrap().unwrap();
    assert_eq!(CommitCertificate::decode(&mut &stored[..]).unwrap(), good);
}

#[test]
fn accepts_quorum_certificates_and_refuses_forged_weak_or_missing_ones() {
    let chain = Chain::new();
    let g = chain.node.genesis_hash();
    chain.finalize(&["//Alice", "//Bob", "//Charlie"]);
    chain.finalize(&["//Bob", "//Charlie", "//Dave", "//Alice"]);
    let mut lc = chain.light_client();
    assert_eq!(lc.validators().unwrap().validators.len(), 4);

    let (b1, e1, c1) = chain.raw(1);
    // Without a certificate: refused (the seal alone is not finality on a BFT chain).
    assert!(matches!(
        lc.accept_finalized(&b1, &e1, None),
        Err(EnclaveError::MissingJustification(1))
    ));
    let block1 = Block::decode(&mut &b1[..]).unwrap();
    // Below 2/3: two of four.
    let weak = certify(&g, &block1, 0, &["//Alice", "//Bob"]);
    assert!(matches!(
        lc.accept_finalized(&b1, &e1, Some(&weak.encode())),
        Err(EnclaveError::Finality {
            error: FinalityError::InsufficientPower { signed: 2, total: 4 },
            ..
        })
    ));
    // Forged: a signature altered, or a non-validator's key (Eve) making up the third vote.
    let mut forged = certify(&g, &block1, 0, &["//Alice", "//Bob", "//Dave"]);
    forged.signatures[2].signature[0] ^= 0x80;
    assert!(matches!(
        lc.accept_finalized(&b1, &e1, Some(&forged.encode())),
        Err(EnclaveError::Finality { error: FinalityError::BadSignature(_), .. })
    ));
    let with_eve = certify(&g, &block1, 0, &["//Alice", "//Bob", "//Eve"]);
    assert!(matches!(
        lc.accept_finalized(&b1, &e1, Some(&with_eve.encode())),
        Err(EnclaveError::Finality { error: FinalityError::UnknownSigner(_), .. })
    ));
    // One validator counted twice.
    let mut doubled = certify(&g, &block1, 0, &["//Alice", "//Bob"]);
    doubled.signatures.push(doubled.signatures[0].clone());
    assert!(lc.accept_finalized(&b1, &e1, Some(&doubled.encode())).is_err());
    // A genuine certificate of block 2 does not finalize block 1.
    let (_, _, c2) = chain.raw(2);
    assert!(matches!(
        lc.accept_finalized(&b1, &e1, Some(&c2)),
        Err(EnclaveError::Finality { error: FinalityError::WrongHeight { .. }, .. })
    ));
    // A forged block carrying block 1's genuine certificate.
    let mut forged_block = block1.clone();
    forged_block.header.state_root = H256::hash(b"forged");
    forged_block.header.seal_with(&Pair::from_suri("//Charlie").unwrap());
    assert!(lc.accept_finalized(&forged_block.encode(), &e1, Some(&c1)).is_err());
    // Votes of another chain (another genesis) do not count.
    let foreign = certify(&H256::hash(b"other chain"), &block1, 0, &["//Alice", "//Bob", "//Dave"]);
    assert!(lc.accept_finalized(&b1, &e1, Some(&foreign.encode())).is_err());
    assert_eq!(lc.last().number, 0, "refused blocks change nothing");

    lc.accept_finalized(&b1, &e1, Some(&c1)).unwrap();
    let (b2, e2, c2) = chain.raw(2);
    lc.accept_finalized(&b2, &e2, Some(&c2)).unwrap();
    assert_eq!(lc.last().number, 2);
}

#[test]
fn follows_a_validator_set_change_and_refuses_the_past_set() {
    let chain = Chain::new();
    let g = chain.node.genesis_hash();
    let old = ["//Alice", "//Bob", "//Charlie", "//Dave"];
    let new = ["//Charlie", "//Dave", "//Eve", "//Ferdie"];
    // The council (Alice) schedules the new set; it takes effect at the epoch boundary.
    let alice = Pair::from_suri("//Alice").unwrap();
    let call = Call::Governance(governance::Call::SetValidators {
        validators: new.iter().map(|u| validator(u)).collect(),
    });
    let xt = Extrinsic::new_signed(&alice, call, 0, 0, g);
    chain.node.submit(xt.encode()).unwrap();
    let boundary = governance::EPOCH_BLOCKS;
    for _ in 1..=boundary {
        chain.finalize(&old[..3]);
    }
    let set = chain.node.validator_set().unwrap().unwrap();
    assert_eq!(set.set_id, 1);
    assert_eq!(set.validators, new.iter().map(|u| validator(u)).collect::<Vec<_>>());
    // The next block is finalized by the new set only.
    let next = chain.node.build_block().unwrap();
    let by_old = certify(&g, &next, 0, &["//Alice", "//Bob", "//Charlie"]);
    assert!(chain.node.import_finalized(next.clone(), &by_old).is_err());
    chain.node.import_finalized(next.clone(), &certify(&g, &next, 0, &new[1..])).unwrap();

    let mut lc = chain.light_client();
    for n in 1..=boundary {
        let (b, e, c) = chain.raw(n);
        lc.accept_finalized(&b, &e, Some(&c)).unwrap();
    }
    assert_eq!(lc.validators().unwrap().set_id, 1, "the light client followed the change");
    let (b, e, c) = chain.raw(boundary + 1);
    // The past set's certificate for the new block is refused.
    assert!(matches!(
        lc.accept_finalized(&b, &e, Some(&by_old.encode())),
        Err(EnclaveError::Finality { error: FinalityError::UnknownSigner(_), .. })
    ));
    lc.accept_finalized(&b, &e, Some(&c)).unwrap();
    assert_eq!(lc.last().number, boundary + 1);
}
