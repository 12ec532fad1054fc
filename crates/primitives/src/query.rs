//! The encrypted query protocol between a client and a worker's enclave.
//!
//! 1. The client signs a [`QueryRequest`] with its sr25519 key (origin, target worker, fresh
//!    nonce, timestamp, body) and seals it to the worker's registered ECDH key
//!    ([`umbra_crypto::SealedBox`]: ephemeral x25519 + HKDF + ChaCha20-Poly1305, fresh nonce).
//! 2. The enclave opens it, checks the signature, the target, the time window and that the nonce
//!    was not seen before, answers, encrypts the answer with the same symmetric key under a fresh
//!    nonce, and signs it with its identity key, bound to the request ([`QueryResponse`]).
//! 3. The client checks the signature against the identity the chain's registry holds for that
//!    worker before trusting the answer, then decrypts it.

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::{aead, CryptoError, EcdhPublic, Pair, Public, SealedBox, Signature};

use crate::{AccountId, BlockNumber, H256};

/// Associated data of a sealed query.
pub const QUERY_AAD: &[u8] = b"umbra/query/v1";
/// How far a query's timestamp may be from the enclave's chain time.
pub const QUERY_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// A signed query, before encryption.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct QueryRequest {
    /// Who asks.
    pub origin: AccountId,
    /// Which worker it is for (its identity key).
    pub worker: Public,
    /// Fresh random nonce; a worker refuses a nonce it has seen.
    pub nonce: [u8; 16],
    /// When it was made (ms since epoch).
    pub timestamp_ms: u64,
    /// SCALE-encoded query body.
    pub body: Vec<u8>,
    /// The origin's signature over the other fields.
    pub signature: Signature,
}

impl QueryRequest {
    fn payload(
        origin: &AccountId,
        worker: &Public,
        nonce: &[u8; 16],
        ts: u64,
        body: &[u8],
    ) -> Vec<u8> {
        (b"umbra/query/v1", origin, worker, nonce, ts, body).encode()
    }

    /// Builds and signs a request.
    pub fn new_signed(
        signer: &Pair,
        worker: Public,
        nonce: [u8; 16],
        timestamp_ms: u64,
        body: Vec<u8>,
    ) -> Self {
        let origin = signer.public();
        let signature = signer.sign(&Self::payload(&origin, &worker, &nonce, timestamp_ms, &body));
        QueryRequest { origin, worker, nonce, timestamp_ms, body, signature }
    }

    /// Whether the origin's signature verifies.
    pub fn verify(&self) -> bool {
        self.origin.verify(
            &Self::payload(&self.origin, &self.worker, &self.nonce, self.timestamp_ms, &self.body),
            &self.signature,
        )
    }
}

/// What goes over the wire to the worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EncryptedQuery {
    /// The sealed [`QueryRequest`].
    pub sealed: SealedBox,
}

impl EncryptedQuery {
    /// Seals `request` to the worker's ECDH key; returns the query and the key for the reply.
    pub fn seal(
        request: &QueryRequest,
        worker_ecdh: &EcdhPublic,
    ) -> Result<(Self, [u8; 32]), CryptoError> {
        let (sealed, key) = SealedBox::seal(worker_ecdh, QUERY_AAD, &request.encode())?;
        Ok((EncryptedQuery { sealed }, key))
    }

    /// Hash binding a reply to this query.
    pub fn hash(&self) -> H256 {
        H256::hash_of(self)
    }
}

/// The worker's encrypted, signed answer.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct QueryResponse {
    /// AEAD nonce of the answer.
    pub nonce: [u8; 12],
    /// The encrypted SCALE `Result<Vec<u8>, String>`.
    pub ciphertext: Vec<u8>,
    /// The worker identity's signature over (query hash, nonce, ciphertext).
    pub signature: Signature,
}

impl QueryResponse {
    fn payload(query_hash: &H256, nonce: &[u8; 12], ciphertext: &[u8]) -> Vec<u8> {
        (b"umbra/query-reply/v1", query_hash, nonce, ciphertext).encode()
    }

    /// Encrypts `result` with `key` and signs it with the worker's identity.
    pub fn seal(
        identity: &Pair,
        query_hash: &H256,
        key: &[u8; 32],
        result: &Result<Vec<u8>, String>,
    ) -> Self {
        let nonce = aead::random_nonce();
        let ciphertext = aead::encrypt(key, &nonce, query_hash.as_bytes(), &result.encode());
        let signature = identity.sign(&Self::payload(query_hash, &nonce, &ciphertext));
        QueryResponse { nonce, ciphertext, signature }
    }

    /// Checks the worker's signature, then decrypts.
    pub fn open(
        &self,
        worker_identity: &Public,
        query_hash: &H256,
        key: &[u8; 32],
    ) -> Result<Result<Vec<u8>, String>, String> {
        if !worker_identity
            .verify(&Self::payload(query_hash, &self.nonce, &self.ciphertext), &self.signature)
        {
            return Err("reply is not signed by the worker's registered identity".into());
        }
        let plain = aead::decrypt(key, &self.nonce, query_hash.as_bytes(), &self.ciphertext)
            .map_err(|e| format!("cannot decrypt reply: {e}"))?;
        Result::<Vec<u8>, String>::decode(&mut &plain[..])
            .map_err(|e| format!("malformed reply: {e}"))
    }
}

/// Queries every worker answers (contract queries come with the contracts).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum WorkerQuery {
    /// The enclave's view of itself and the chain.
    #[codec(index = 0)]
    Status,
    /// Echoes the bytes back (end-to-end check of the encrypted channel).
    #[codec(index = 1)]
    Echo(Vec<u8>),
    /// A query to a contract this worker runs (SCALE query of the contract's kind).
    #[codec(index = 2)]
    Contract {
        /// Contract id.
        id: H256,
        /// The contract's query.
        query: Vec<u8>,
    },
    /// The key of the asker's private events in a contract.
    #[codec(index = 3)]
    EventKey {
        /// Contract id.
        id: H256,
    },
    /// The state hash and position of a contract this worker runs: (next sequence, state hash).
    #[codec(index = 4)]
    ContractState {
        /// Contract id.
        id: H256,
    },
}

/// Answer to [`WorkerQuery::Status`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct WorkerStatus {
    /// The enclave's identity key.
    pub identity: Public,
    /// Last block its light client accepted.
    pub synced_number: BlockNumber,
    /// That block's hash.
    pub synced_hash: H256,
    /// Whether it has seen its own registration on chain.
    pub registered: bool,
    /// Who asked (as the enclave authenticated it).
    pub asked_by: AccountId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use umbra_crypto::EcdhSecret;

    #[test]
    fn query_round_trip_and_tamper_detection() {
        let client = Pair::from_suri("//Alice").unwrap();
        let worker = Pair::from_suri("//Worker").unwrap();
        let ecdh = EcdhSecret::generate();
        let req = QueryRequest::new_signed(
            &client,
            worker.public(),
            [1; 16],
            5,
            WorkerQuery::Status.encode(),
        );
        assert!(req.verify());
        let (q, key) = EncryptedQuery::seal(&req, &ecdh.public()).unwrap();
        let (plain, wkey) = q.sealed.open(&ecdh, QUERY_AAD).unwrap();
        assert_eq!(wkey, key);
        assert_eq!(QueryRequest::decode(&mut &plain[..]).unwrap(), req);

        let resp = QueryResponse::seal(&worker, &q.hash(), &wkey, &Ok(b"hi".to_vec()));
        assert_eq!(resp.open(&worker.public(), &q.hash(), &key).unwrap(), Ok(b"hi".to_vec()));
        // Another identity's signature, another query, or a flipped byte are refused.
        assert!(resp.open(&client.public(), &q.hash(), &key).is_err());
        assert!(resp.open(&worker.public(), &H256::hash(b"x"), &key).is_err());
        let mut t = resp.clone();
        t.ciphertext[0] ^= 1;
        assert!(t.open(&worker.public(), &q.hash(), &key).is_err());

        let mut forged = req;
        forged.body = WorkerQuery::Echo(vec![1]).encode();
        assert!(!forged.verify());
    }
}
