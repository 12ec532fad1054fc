//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing the chain store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database file could not be opened or created.
    #[error("opening database at {path}: {source}")]
    Open {
        /// File that was being opened.
        path: PathBuf,
        /// Underlying redb error.
        #[source]
        source: Box<redb::DatabaseError>,
    },
    /// A read or write transaction could not be started.
    #[error("beginning {kind} transaction: {source}")]
    Transaction {
        /// `"read"` or `"write"`.
        kind: &'static str,
        /// Underlying redb error.
        #[source]
        source: Box<redb::TransactionError>,
    },
    /// A table could not be opened (or created).
    #[error("opening table {table}: {source}")]
    Table {
        /// Name of the table.
        table: String,
        /// Underlying redb error.
        #[source]
        source: Box<redb::TableError>,
    },
    /// A read, write or iteration inside a table failed.
    #[error("{op} in table {table}: {source}")]
    Access {
        /// What was being done (`"get"`, `"insert"`, ...).
        op: &'static str,
        /// Name of the table.
        table: String,
        /// Underlying redb error.
        #[source]
        source: Box<redb::StorageError>,
    },
    /// The write transaction could not be committed; nothing of it is visible.
    #[error("committing block write transaction: {source}")]
    Commit {
        /// Underlying redb error.
        #[source]
        source: Box<redb::CommitError>,
    },
    /// A stored record does not have the shape this crate writes: the file is damaged or foreign.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which kind of record is damaged.
        what: &'static str,
        /// What exactly is wrong with it.
        detail: String,
    },
    /// The database was written by an incompatible version of this crate.
    #[error("unsupported storage format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },
    /// `insert_block` was given a number that is not `head + 1` (or 0 on an empty store).
    #[error("block number {got} does not follow the head: expected {expected}")]
    NonConsecutiveBlock {
        /// The only number that would have been accepted.
        expected: u64,
        /// The number that was given.
        got: u64,
    },
    /// `insert_block` was given a hash that already names another stored block.
    #[error("block hash 0x{} is already stored as block {number}", hex32(hash))]
    DuplicateBlockHash {
        /// The repeated hash.
        hash: [u8; 32],
        /// The block already stored under that hash.
        number: u64,
    },
    /// The head is at `u64::MAX - 1`, so no further block number exists (`u64::MAX` is
    /// reserved).
    #[error("block number space exhausted")]
    BlockNumberOverflow,
    /// `apply_state_changes` was called a second time on the same writer.
    #[error("state changes were already applied in this block writer")]
    StateChangesAlreadyApplied,
    /// `insert_block` was called a second time on the same writer.
    #[error("a block was already inserted in this block writer")]
    BlockAlreadyInserted,
    /// `commit` was called after state changes were applied but no block was inserted.
    #[error("state changes were applied but no block was inserted; refusing to commit")]
    StateWithoutBlock,
    /// An earlier call on this writer failed, so its transaction may be half-done and cannot be committed.
    #[error("an earlier operation on this block writer failed; drop it and start again")]
    WriterPoisoned,
    /// Two different storage keys hashed to the same 256-bit tree path (a blake2 collision).
    #[error("two different keys hash to the same state tree path")]
    PathCollision,
}

/// Shorthand for results whose error is [`StorageError`].
pub type Result<T> = std::result::Result<T, StorageError>;

fn hex32(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_context() {
        let e = StorageError::NonConsecutiveBlock { expected: 4, got: 7 };
        assert_eq!(e.to_string(), "block number 7 does not follow the head: expected 4");
        let e = StorageError::DuplicateBlockHash { hash: [0xab; 32], number: 3 };
        assert!(e.to_string().starts_with("block hash 0xabab"));
        assert!(e.to_string().ends_with("already stored as block 3"));
    }
}
