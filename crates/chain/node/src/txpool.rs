//! The transaction pool: validated transactions waiting for a block, ordered by nonce per sender.
//!
//! A transaction is *ready* when its nonce is the sender's next nonce or directly follows another
//! ready transaction of the same sender; otherwise it waits (up to
//! [`umbra_runtime::executive::MAX_FUTURE_NONCES`] ahead). Across senders, ready transactions are
//! taken by tip, then by arrival order, without ever reordering one sender's nonces.

use std::{
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::Arc,
};

use umbra_primitives::{AccountId, Balance, Nonce, H256};
use umbra_runtime::ValidTransaction;

/// Why the pool refuses a valid transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The very same transaction is already in the pool.
    #[error("transaction {0} is already in the pool")]
    AlreadyImported(H256),
    /// Another transaction of the sender with this nonce is in the pool with a tip at least as high.
    #[error("a transaction with nonce {nonce} from this sender is already pooled; raise the tip to replace it")]
    PriorityTooLow {
        /// The contested nonce.
        nonce: Nonce,
    },
    /// The pool is full.
    #[error("transaction pool is full ({0} transactions)")]
    Full(usize),
}

impl PoolError {
    /// Stable JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            PoolError::AlreadyImported(_) => 1011,
            PoolError::PriorityTooLow { .. } => 1012,
            PoolError::Full(_) => 1013,
        }
    }
}

/// A pooled transaction.
#[derive(Debug, Clone)]
pub struct PoolTx {
    /// Its hash.
    pub hash: H256,
    /// Its encoding.
    pub bytes: Arc<Vec<u8>>,
    /// Its tip.
    pub tip: Balance,
    arrival: u64,
}

/// The pool.
#[derive(Debug)]
pub struct TxPool {
    by_sender: HashMap<AccountId, BTreeMap<Nonce, PoolTx>>,
    by_hash: HashMap<H256, (AccountId, Nonce)>,
    capacity: usize,
    arrivals: u64,
    /// Transactions replaced by a higher tip since the last block, so their watchers learn of it.
    replaced: Vec<H256>,
}

impl TxPool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        TxPool {
            by_sender: HashMap::new(),
            by_hash: HashMap::new(),
            capacity,
            arrivals: 0,
            replaced: Vec::new(),
        }
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &H256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Adds a validated transaction. A transaction with the same sender and nonce is replaced only
    /// by one with a higher tip.
    pub fn insert(&mut self, valid: &ValidTransaction, bytes: Vec<u8>) -> Result<H256, PoolError> {
        if self.by_hash.contains_key(&valid.hash) {
            return Err(PoolError::AlreadyImported(valid.hash));
        }
        let sender = valid.signer();
        let nonce = valid.nonce();
        let tip = valid.extrinsic.tip();
        let existing = self.by_sender.get(&sender).and_then(|q| q.get(&nonce)).cloned();
        match &existing {
            Some(old) if old.tip >= tip => return Err(PoolError::PriorityTooLow { nonce }),
            Some(old) => {
                self.by_hash.remove(&old.hash);
                self.replaced.push(old.hash);
            }
            None if self.by_hash.len() >= self.capacity => {
                return Err(PoolError::Full(self.capacity))
            }
            None => {}
        }
        self.arrivals += 1;
        let tx = PoolTx { hash: valid.hash, bytes: Arc::new(bytes), tip, arrival: self.arrivals };
        self.by_sender.entry(sender).or_default().insert(nonce, tx);
        self.by_hash.insert(valid.hash, (sender, nonce));
        Ok(valid.hash)
    }

    /// Up to `limit` ready transactions in block order, given each sender's next nonce in state.
    pub fn ready(&self, next_nonce: impl Fn(&AccountId) -> Nonce, limit: usize) -> Vec<PoolTx> {
        // One cursor per sender at its next nonce; a heap picks the best head among senders.
        #[derive(PartialEq, Eq)]
        struct Head<'a> {
            tip: Balance,
            arrival: std::cmp::Reverse<u64>,
            sender: &'a AccountId,
            nonce: Nonce,
        }
        impl Ord for Head<'_> {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                (self.tip, self.arrival).cmp(&(o.tip, o.arrival))
            }
        }
        impl PartialOrd for Head<'_> {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &self.by_sender {
            let nonce = next_nonce(sender);
            if let Some(tx) = queue.get(&nonce) {
                heap.push(Head {
                    tip: tx.tip,
                    arrival: std::cmp::Reverse(tx.arrival),
                    sender,
                    nonce,
                });
            }
        }
        let mut out = Vec::new();
        while let Some(head) = heap.pop() {
            if out.len() >= limit {
                break;
            }
            let queue = &self.by_sender[head.sender];
            out.push(queue[&head.nonce].clone());
            let next = head.nonce + 1;
            if let Some(tx) = queue.get(&next) {
                heap.push(Head {
                    tip: tx.tip,
                    arrival: std::cmp::Reverse(tx.arrival),
                    sender: head.sender,
                    nonce: next,
                });
            }
        }
        out
    }

    /// Removes transactions by hash (included in a block, or found invalid).
    pub fn remove(&mut self, hashes: &[H256]) {
        for h in hashes {
            if let Some((sender, nonce)) = self.by_hash.remove(h) {
                if let Some(q) = self.by_sender.get_mut(&sender) {
                    q.remove(&nonce);
                    if q.is_empty() {
                        self.by_sender.remove(&sender);
                    }
                }
            }
        }
    }

    /// Drops every transaction whose nonce is below its sender's next nonce; returns their hashes.
    pub fn prune_stale(&mut self, next_nonce: impl Fn(&AccountId) -> Nonce) -> Vec<H256> {
        let mut stale = Vec::new();
        for (sender, q) in &self.by_sender {
            let next = next_nonce(sender);
            stale.extend(q.range(..next).map(|(_, tx)| tx.hash));
        }
        self.remove(&stale);
        stale
    }

    /// Hashes of the transactions replaced since the last call.
    pub fn take_replaced(&mut self) -> Vec<H256> {
        std::mem::take(&mut self.replaced)
    }

    /// All pooled transactions (for `author_pendingExtrinsics`), by sender and nonce.
    pub fn pending(&self) -> Vec<Arc<Vec<u8>>> {
        let mut senders: Vec<_> = self.by_sender.iter().collect();
        senders.sort_by_key(|(s, _)| **s);
        senders.into_iter().flat_map(|(_, q)| q.values().map(|t| t.bytes.clone())).collect()
    }

    /// The highest pooled nonce + 1 of `sender`, if it has pooled transactions contiguous from
    /// `state_nonce`.
    pub fn next_nonce(&self, sender: &AccountId, state_nonce: Nonce) -> Nonce {
        let mut n = state_nonce;
        if let Some(q) = self.by_sender.get(sender) {
            while q.contains_key(&n) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;
    use umbra_primitives::Pair;
    use umbra_runtime::{balances, Call, Extrinsic};

    fn valid(who: &str, nonce: Nonce, tip: Balance) -> (ValidTransaction, Vec<u8>) {
        let pair = Pair::from_suri(who).unwrap();
        let call =
            Call::Balances(balances::Call::Transfer { dest: pair.public(), amount: nonce as u128 });
        let xt = Extrinsic::new_signed(&pair, call, nonce, tip, H256::ZERO);
        let bytes = xt.encode();
        (
            ValidTransaction {
                hash: H256::hash(&bytes),
                len: bytes.len(),
                fee: 1,
                account_nonce: 0,
                extrinsic: xt,
            },
            bytes,
        )
    }

    fn add(pool: &mut TxPool, who: &str, nonce: Nonce, tip: Balance) -> Result<H256, PoolError> {
        let (v, b) = valid(who, nonce, tip);
        pool.insert(&v, b)
    }

    #[test]
    fn ready_respects_nonce_order_and_gaps() {
        let mut pool = TxPool::new(100);
        add(&mut pool, "//Alice", 1, 0).unwrap();
        add(&mut pool, "//Alice", 0, 0).unwrap();
        add(&mut pool, "//Alice", 3, 0).unwrap(); // gap at 2
        add(&mut pool, "//Bob", 5, 0).unwrap(); // Bob's next is 4
        let ready = pool.ready(|_| 0, 100);
        assert_eq!(ready.len(), 2);
        let alice = Pair::from_suri("//Alice").unwrap().public();
        assert_eq!(pool.next_nonce(&alice, 0), 2);
        let with_bob = pool.ready(|s| if *s == alice { 0 } else { 4 }, 100);
        assert_eq!(with_bob.len(), 2, "Bob's nonce 5 waits for 4");
    }

    #[test]
    fn higher_tip_goes_first_across_senders() {
        let mut pool = TxPool::new(100);
        let low = add(&mut pool, "//Alice", 0, 1).unwrap();
        let high = add(&mut pool, "//Bob", 0, 50).unwrap();
        let ready = pool.ready(|_| 0, 10);
        assert_eq!(ready.iter().map(|t| t.hash).collect::<Vec<_>>(), vec![high, low]);
        assert_eq!(pool.ready(|_| 0, 1).len(), 1);
    }

    #[test]
    fn duplicates_replacement_and_capacity() {
        let mut pool = TxPool::new(2);
        let (v, b) = valid("//Alice", 0, 1);
        let h = pool.insert(&v, b.clone()).unwrap();
        // The very same bytes again (sr25519 signatures are randomized, so re-signing would not
        // reproduce them).
        assert_eq!(pool.insert(&v, b), Err(PoolError::AlreadyImported(h)));
        assert_eq!(add(&mut pool, "//Alice", 0, 0), Err(PoolError::PriorityTooLow { nonce: 0 }));
        let replaced = add(&mut pool, "//Alice", 0, 5).unwrap();
        assert!(!pool.contains(&h) && pool.contains(&replaced));
        add(&mut pool, "//Alice", 1, 0).unwrap();
        assert_eq!(add(&mut pool, "//Bob", 0, 0), Err(PoolError::Full(2)));
    }

    #[test]
    fn prune_and_remove() {
        let mut pool = TxPool::new(10);
        let a0 = add(&mut pool, "//Alice", 0, 0).unwrap();
        let a1 = add(&mut pool, "//Alice", 1, 0).unwrap();
        assert_eq!(pool.prune_stale(|_| 1), vec![a0]);
        pool.remove(&[a1]);
        assert!(pool.is_empty());
        assert!(pool.pending().is_empty());
    }
}
