//! The write transaction of one block.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use redb::{Database, Durability, ReadableTable, WriteTransaction};

use crate::error::{Result, StorageError};
use crate::hashing::Hash;
use crate::smt::{self, CacheUpdates, ChunkCache};
use crate::tables::{
    access, encode_head, open_write, read_head, BLOCKS, BLOCK_HASHES, BLOCK_NUMBERS, CHAIN,
    END_KEY, EVENTS, HEAD_KEY, META, STATE, STATE_CHANGES, TREE_CHUNKS,
};

/// Everything one block writes, in one redb write transaction: state changes, the state tree,
/// the block, its events and state-change set, the hash index and the new head.
///
/// Nothing is visible to readers until [`BlockWriter::commit`] returns; dropping the writer (or
/// a crash at any point before `commit` returns) discards all of it. Commits are durable
/// ([`Durability::Immediate`]): once `commit` returns, the block survives a crash.
///
/// After any method returns an error the writer is poisoned and `commit` refuses: drop it.
pub struct BlockWriter<'a> {
    txn: WriteTransaction,
    /// The store's cache of top chunks; updated only once this writer's commit succeeded.
    cache: &'a Mutex<ChunkCache>,
    /// What the commit must change in `cache`.
    cache_updates: CacheUpdates,
    state_applied: bool,
    block_inserted: bool,
    poisoned: bool,
}

impl fmt::Debug for BlockWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockWriter")
            .field("state_applied", &self.state_applied)
            .field("block_inserted", &self.block_inserted)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl<'a> BlockWriter<'a> {
    /// Starts the write transaction (waits for any other writer to finish).
    pub(crate) fn begin(db: &'a Database, cache: &'a Mutex<ChunkCache>) -> Result<BlockWriter<'a>> {
        let mut txn = db.begin_write().map_err(|source| StorageError::Transaction {
            kind: "write",
            source: Box::new(source),
        })?;
        txn.set_durability(Durability::Immediate);
        Ok(BlockWriter {
            txn,
            cache,
            cache_updates: Vec::new(),
            state_applied: false,
            block_inserted: false,
            poisoned: false,
        })
    }
}

impl BlockWriter<'_> {
    /// Applies a block's state changes (None = delete) to the state table and the tree; returns
    /// the new state root. May be called once per block.
    ///
    /// Within `changes` the last change of a key wins. Deleting an absent key is a no-op.
    pub fn apply_state_changes(&mut self, changes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<Hash> {
        if self.state_applied {
            return Err(StorageError::StateChangesAlreadyApplied);
        }
        self.state_applied = true;
        let result = self.apply_inner(changes);
        self.poisoned |= result.is_err();
        result
    }

    fn apply_inner(&mut self, changes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<Hash> {
        let prepared = smt::prepare_changes(changes)?;
        {
            let mut state = open_write(&self.txn, STATE)?;
            for change in &prepared {
                match change.value {
                    Some(value) => {
                        state.insert(change.key, value).map_err(access("insert", STATE))?;
                    }
                    None => {
                        state.remove(change.key).map_err(access("remove", STATE))?;
                    }
                }
            }
        }
        let mut chunks = open_write(&self.txn, TREE_CHUNKS)?;
        // Only one write transaction exists at a time, and the cache changes only when one
        // commits, so the cache matches the committed table this transaction started from.
        let cache = lock(self.cache);
        let (root, _stats, updates) = smt::apply_changes(&mut chunks, &cache, &prepared)?;
        self.cache_updates = updates;
        Ok(root)
    }

    /// Stores the block and makes it the new head. `number` must be head+1 (or 0 on an empty
    /// store) else error. May be called once per writer; `hash` must not name a stored block.
    pub fn insert_block(
        &mut self,
        number: u64,
        hash: Hash,
        block: &[u8],
        events: &[u8],
        state_changes: &[u8],
    ) -> Result<()> {
        if self.block_inserted {
            return Err(StorageError::BlockAlreadyInserted);
        }
        // Validation errors leave the transaction untouched, so they do not poison the writer.
        self.check_block(number, &hash)?;
        self.block_inserted = true;
        let result = self.insert_inner(number, hash, block, events, state_changes);
        self.poisoned |= result.is_err();
        result
    }

    fn check_block(&self, number: u64, hash: &Hash) -> Result<()> {
        let head = read_head(&open_write(&self.txn, CHAIN)?)?;
        let expected = match head {
            None => 0,
            Some((head, _)) => head
                .checked_add(1)
                .filter(|next| *next != END_KEY)
                .ok_or(StorageError::BlockNumberOverflow)?,
        };
        if number != expected {
            return Err(StorageError::NonConsecutiveBlock { expected, got: number });
        }
        let numbers = open_write(&self.txn, BLOCK_NUMBERS)?;
        if let Some(existing) = numbers.get(&hash[..]).map_err(access("get", BLOCK_NUMBERS))? {
            return Err(StorageError::DuplicateBlockHash { hash: *hash, number: existing.value() });
        }
        Ok(())
    }

    fn insert_inner(
        &mut self,
        number: u64,
        hash: Hash,
        block: &[u8],
        events: &[u8],
        state_changes: &[u8],
    ) -> Result<()> {
        for (def, bytes) in [(BLOCKS, block), (EVENTS, events), (STATE_CHANGES, state_changes)] {
            let mut table = open_write(&self.txn, def)?;
            if table.get(END_KEY).map_err(access("get", def))?.is_none() {
                table.insert(END_KEY, &[][..]).map_err(access("insert", def))?;
            }
            table.insert(number, bytes).map_err(access("insert", def))?;
        }
        open_write(&self.txn, BLOCK_HASHES)?
            .insert(number, &hash[..])
            .map_err(access("insert", BLOCK_HASHES))?;
        open_write(&self.txn, BLOCK_NUMBERS)?
            .insert(&hash[..], number)
            .map_err(access("insert", BLOCK_NUMBERS))?;
        open_write(&self.txn, CHAIN)?
            .insert(HEAD_KEY, &encode_head(number, &hash)[..])
            .map_err(access("insert", CHAIN))?;
        Ok(())
    }

    /// Stores small metadata (genesis hash, chain spec) under `key`, replacing any old value.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let result = open_write(&self.txn, META).and_then(|mut meta| {
            meta.insert(key, value).map(|_| ()).map_err(access("insert", META))
        });
        self.poisoned |= result.is_err();
        result
    }

    /// Commits everything atomically and durably. Dropping without commit aborts: nothing of it
    /// is visible.
    ///
    /// Refuses (and aborts) if an earlier call failed, or if state changes were applied without
    /// a block, which would leave a state that no head commits to.
    pub fn commit(self) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::WriterPoisoned);
        }
        if self.state_applied && !self.block_inserted {
            return Err(StorageError::StateWithoutBlock);
        }
        // Hold the cache across the commit, so that the next writer (which can start as soon as
        // the commit is done) sees the cache of the state it starts from.
        let mut cache = lock(self.cache);
        match self.txn.commit() {
            Ok(()) => {
                cache.apply(self.cache_updates);
                Ok(())
            }
            Err(source) => {
                // Whether the table changed is unknown: start the cache afresh.
                cache.clear();
                Err(StorageError::Commit { source: Box::new(source) })
            }
        }
    }
}

/// Locks the chunk cache. A panic while it was held may have left it half-updated: then it is
/// emptied.
fn lock(cache: &Mutex<ChunkCache>) -> MutexGuard<'_, ChunkCache> {
    cache.lock().unwrap_or_else(|poisoned| {
        cache.clear_poison();
        let mut guard = poisoned.into_inner();
        guard.clear();
        guard
    })
}
