//! The store handle and its consistent read views.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadTransaction};

use crate::error::{Result, StorageError};
use crate::hashing::Hash;
use crate::proof::StateProof;
use crate::smt::{self, ChunkCache};
use crate::tables::{
    self, access, decode_hash, decode_version, get_by_bytes, get_by_number, get_by_str, open_read,
    open_write, read_head, BLOCKS, BLOCK_HASHES, BLOCK_NUMBERS, CHAIN, EVENTS, FORMAT_VERSION,
    META, STATE, STATE_CHANGES, TREE_CHUNKS, VERSION_KEY,
};
use crate::writer::BlockWriter;

/// Handle to the node's single redb database: blocks, events, state and state tree.
///
/// Cheap to clone (the database sits behind an [`Arc`]); all clones share one database and one
/// in-memory copy of the top of the state tree, loaded on open and updated by every commit (the
/// file cannot be opened twice, so no other handle writes it). redb allows one write
/// transaction at a time: a second [`Store::begin_block`] waits until the first writer is
/// committed or dropped.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    cache: Arc<Mutex<ChunkCache>>,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`, creating the file and its tables if missing.
    ///
    /// After a crash redb repairs the file on open, so this returns the store exactly as of the
    /// last committed block. Fails if another process (or handle) has the file open.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path).map_err(|source| StorageError::Open {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let txn = db.begin_write().map_err(|source| StorageError::Transaction {
            kind: "write",
            source: Box::new(source),
        })?;
        {
            open_write(&txn, STATE)?;
            open_write(&txn, TREE_CHUNKS)?;
            open_write(&txn, BLOCKS)?;
            open_write(&txn, EVENTS)?;
            open_write(&txn, STATE_CHANGES)?;
            open_write(&txn, BLOCK_HASHES)?;
            open_write(&txn, BLOCK_NUMBERS)?;
            open_write(&txn, META)?;
            let mut chain = open_write(&txn, CHAIN)?;
            match get_by_str(&chain, CHAIN, VERSION_KEY)? {
                Some(bytes) => {
                    let found = decode_version(&bytes)?;
                    if found != FORMAT_VERSION {
                        return Err(StorageError::UnsupportedVersion {
                            found,
                            supported: FORMAT_VERSION,
                        });
                    }
                }
                None => {
                    chain
                        .insert(VERSION_KEY, &FORMAT_VERSION.to_be_bytes()[..])
                        .map_err(access("insert", CHAIN))?;
                }
            }
        }
        txn.commit().map_err(|source| StorageError::Commit { source: Box::new(source) })?;
        // Load the top of the state tree, which every block reads, now rather than in the first
        // block.
        let mut cache = ChunkCache::default();
        let txn = db.begin_read().map_err(|source| StorageError::Transaction {
            kind: "read",
            source: Box::new(source),
        })?;
        smt::warm_cache(&open_read(&txn, TREE_CHUNKS)?, &mut cache);
        drop(txn);
        Ok(Store { db: Arc::new(db), cache: Arc::new(Mutex::new(cache)), path: path.to_owned() })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// State root of the last committed state (`[0; 32]` when empty).
    pub fn state_root(&self) -> Result<Hash> {
        self.snapshot()?.state_root()
    }

    /// Value of `key` in the last committed state.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.snapshot()?.get(key)
    }

    /// A consistent read view of everything committed so far; later commits do not show in it.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.db.begin_read().map_err(|source| StorageError::Transaction {
            kind: "read",
            source: Box::new(source),
        })?;
        Ok(Snapshot { txn })
    }

    /// Proof of `key`'s value (or absence) under [`Store::state_root`]; check it with
    /// [`crate::verify_proof`].
    pub fn prove(&self, key: &[u8]) -> Result<StateProof> {
        self.snapshot()?.prove(key)
    }

    /// Number and hash of the last committed block, `None` before genesis.
    pub fn head(&self) -> Result<Option<(u64, Hash)>> {
        self.snapshot()?.head()
    }

    /// Encoded block `number`.
    pub fn block(&self, number: u64) -> Result<Option<Vec<u8>>> {
        self.snapshot()?.block(number)
    }

    /// Hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Result<Option<Hash>> {
        self.snapshot()?.block_hash(number)
    }

    /// Number of the block with `hash`.
    pub fn block_number(&self, hash: &Hash) -> Result<Option<u64>> {
        self.snapshot()?.block_number(hash)
    }

    /// Encoded events of block `number`.
    pub fn events(&self, number: u64) -> Result<Option<Vec<u8>>> {
        self.snapshot()?.events(number)
    }

    /// Encoded state-change set of block `number`.
    pub fn state_changes(&self, number: u64) -> Result<Option<Vec<u8>>> {
        self.snapshot()?.state_changes(number)
    }

    /// Metadata stored with [`BlockWriter::set_meta`].
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.snapshot()?.meta(key)
    }

    /// Starts the write transaction of one block. Waits while another writer is open.
    pub fn begin_block(&self) -> Result<BlockWriter<'_>> {
        BlockWriter::begin(&self.db, &self.cache)
    }
}

/// A consistent read view (one redb read transaction) of the committed store.
///
/// Keep snapshots short-lived: while one is open redb cannot reuse the pages it sees.
pub struct Snapshot {
    txn: ReadTransaction,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Value of `key` in this view.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        get_by_bytes(&open_read(&self.txn, STATE)?, STATE, key)
    }

    /// State root of this view.
    pub fn state_root(&self) -> Result<Hash> {
        smt::root_hash(&open_read(&self.txn, TREE_CHUNKS)?)
    }

    /// Head of this view.
    pub fn head(&self) -> Result<Option<(u64, Hash)>> {
        read_head(&open_read(&self.txn, CHAIN)?)
    }

    /// All `(key, value)` pairs whose key starts with `prefix`, in key order.
    pub fn iter_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let table = open_read(&self.txn, STATE)?;
        let mut out = Vec::new();
        for entry in table.range::<&[u8]>(prefix..).map_err(access("range", STATE))? {
            let (key, value) = entry.map_err(access("iterate", STATE))?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Proof of `key`'s value (or absence) under this view's state root.
    pub fn prove(&self, key: &[u8]) -> Result<StateProof> {
        smt::prove(&open_read(&self.txn, TREE_CHUNKS)?, key)
    }

    /// Encoded block `number`.
    pub fn block(&self, number: u64) -> Result<Option<Vec<u8>>> {
        get_by_number(&open_read(&self.txn, BLOCKS)?, BLOCKS, number)
    }

    /// Hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Result<Option<Hash>> {
        get_by_number(&open_read(&self.txn, BLOCK_HASHES)?, BLOCK_HASHES, number)?
            .map(|bytes| decode_hash("block hash", &bytes))
            .transpose()
    }

    /// Number of the block with `hash`.
    pub fn block_number(&self, hash: &Hash) -> Result<Option<u64>> {
        let table = open_read(&self.txn, BLOCK_NUMBERS)?;
        let found = table.get(&hash[..]).map_err(access("get", BLOCK_NUMBERS))?;
        Ok(found.map(|guard| guard.value()))
    }

    /// Encoded events of block `number`.
    pub fn events(&self, number: u64) -> Result<Option<Vec<u8>>> {
        get_by_number(&open_read(&self.txn, EVENTS)?, EVENTS, number)
    }

    /// Encoded state-change set of block `number`.
    pub fn state_changes(&self, number: u64) -> Result<Option<Vec<u8>>> {
        get_by_number(&open_read(&self.txn, STATE_CHANGES)?, STATE_CHANGES, number)
    }

    /// Metadata stored with [`BlockWriter::set_meta`].
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        tables::get_by_str(&open_read(&self.txn, META)?, META, key)
    }
}

#[cfg(test)]
mod tests;
