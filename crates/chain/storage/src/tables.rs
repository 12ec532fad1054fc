//! redb table layout and small typed accessors over it.
//!
//! | table               | key                         | value                               |
//! |---------------------|-----------------------------|-------------------------------------|
//! | `state`             | storage key                 | storage value                       |
//! | `state_tree_chunks` | chunk position (≤ 34 bytes) | chunk (see [`crate::chunk`])        |
//! | `blocks`            | block number¹               | encoded block                       |
//! | `events`            | block number¹               | encoded events                      |
//! | `state_changes`     | block number¹               | encoded state-change set            |
//! | `block_hashes`      | block number                | block hash (32 bytes)               |
//! | `block_numbers`     | block hash                  | block number                        |
//! | `meta`              | name                        | caller metadata                     |
//! | `chain`             | `head`, `format_version`    | store bookkeeping                   |
//!
//! ¹ and an empty record under [`END_KEY`].

use redb::{
    Key, ReadOnlyTable, ReadTransaction, ReadableTable, Table, TableDefinition, TableHandle, Value,
    WriteTransaction,
};

use crate::error::{Result, StorageError};
use crate::hashing::Hash;

/// Storage key → value of the latest committed state.
pub(crate) const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Position → chunk of the latest state tree.
pub(crate) const TREE_CHUNKS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("state_tree_chunks");
/// Block number → encoded block.
pub(crate) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Block number → encoded events.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Block number → encoded state-change set.
pub(crate) const STATE_CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("state_changes");
/// Block number → block hash.
pub(crate) const BLOCK_HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("block_hashes");
/// Block hash → block number.
pub(crate) const BLOCK_NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("block_numbers");
/// Caller metadata (genesis hash, chain spec, ...).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Store bookkeeping, kept apart from caller metadata so `set_meta` cannot clobber it.
pub(crate) const CHAIN: TableDefinition<&str, &[u8]> = TableDefinition::new("chain");

/// Key in [`CHAIN`] of the head: number (u64 big-endian) ‖ hash.
pub(crate) const HEAD_KEY: &str = "head";
/// Key in [`CHAIN`] of the on-disk format version (u32 big-endian).
pub(crate) const VERSION_KEY: &str = "format_version";
/// On-disk format version written by this build (2: the state tree is stored in chunks).
pub(crate) const FORMAT_VERSION: u32 = 2;

/// Maps a redb access error to [`StorageError::Access`] with context.
pub(crate) fn access<'d, K: Key + 'static, V: Value + 'static>(
    op: &'static str,
    def: TableDefinition<'d, K, V>,
) -> impl FnOnce(redb::StorageError) -> StorageError + 'd {
    move |source| StorageError::Access {
        op,
        table: def.name().to_owned(),
        source: Box::new(source),
    }
}

/// Opens `def` for reading in `txn`.
pub(crate) fn open_read<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<'_, K, V>,
) -> Result<ReadOnlyTable<K, V>> {
    txn.open_table(def).map_err(|source| StorageError::Table {
        table: def.name().to_owned(),
        source: Box::new(source),
    })
}

/// Opens (creating if missing) `def` for writing in `txn`.
pub(crate) fn open_write<'t, K: Key + 'static, V: Value + 'static>(
    txn: &'t WriteTransaction,
    def: TableDefinition<'_, K, V>,
) -> Result<Table<'t, K, V>> {
    txn.open_table(def).map_err(|source| StorageError::Table {
        table: def.name().to_owned(),
        source: Box::new(source),
    })
}

/// Key of an empty record kept at the end of [`BLOCKS`], [`EVENTS`] and [`STATE_CHANGES`], and
/// so never a block number.
///
/// redb keeps a record inline in its B-tree leaf and rewrites the whole leaf when an entry is
/// added to it. Without this record each block's entries would be added to the leaf of the
/// previous block's, rewriting it: once per block for a few hundred KiB, and once for the whole
/// genesis state (the genesis block's state-change set, hundreds of MiB with a large genesis)
/// in block 1. With it, a large record splits off into a leaf of its own when it is inserted,
/// and later blocks go to the small leaf of this record.
pub(crate) const END_KEY: u64 = u64::MAX;

/// Reads a byte value by block number ([`END_KEY`] reads as absent).
pub(crate) fn get_by_number<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    def: TableDefinition<'_, u64, &'static [u8]>,
    number: u64,
) -> Result<Option<Vec<u8>>> {
    if number == END_KEY {
        return Ok(None);
    }
    Ok(table.get(number).map_err(access("get", def))?.map(|guard| guard.value().to_vec()))
}

/// Reads a byte value by byte key.
pub(crate) fn get_by_bytes<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    def: TableDefinition<'_, &'static [u8], &'static [u8]>,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    Ok(table.get(key).map_err(access("get", def))?.map(|guard| guard.value().to_vec()))
}

/// Reads a byte value by string key.
pub(crate) fn get_by_str<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    def: TableDefinition<'_, &'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(table.get(key).map_err(access("get", def))?.map(|guard| guard.value().to_vec()))
}

/// Parses a stored 32-byte hash.
pub(crate) fn decode_hash(what: &'static str, bytes: &[u8]) -> Result<Hash> {
    bytes.try_into().map_err(|_| StorageError::Corrupt {
        what,
        detail: format!("expected 32 bytes, found {}", bytes.len()),
    })
}

/// Stored form of the head.
pub(crate) fn encode_head(number: u64, hash: &Hash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&number.to_be_bytes());
    out[8..].copy_from_slice(hash);
    out
}

/// Parses the stored head.
pub(crate) fn decode_head(bytes: &[u8]) -> Result<(u64, Hash)> {
    if bytes.len() != 40 {
        return Err(StorageError::Corrupt {
            what: "head record",
            detail: format!("expected 40 bytes, found {}", bytes.len()),
        });
    }
    let mut number = [0u8; 8];
    number.copy_from_slice(&bytes[..8]);
    Ok((u64::from_be_bytes(number), decode_hash("head record", &bytes[8..])?))
}

/// Reads the head from the [`CHAIN`] table.
pub(crate) fn read_head<T: ReadableTable<&'static str, &'static [u8]>>(
    chain: &T,
) -> Result<Option<(u64, Hash)>> {
    get_by_str(chain, CHAIN, HEAD_KEY)?.map(|bytes| decode_head(&bytes)).transpose()
}

/// Parses the stored format version.
pub(crate) fn decode_version(bytes: &[u8]) -> Result<u32> {
    let raw: [u8; 4] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what: "format version",
        detail: format!("expected 4 bytes, found {}", bytes.len()),
    })?;
    Ok(u32::from_be_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trip_and_rejects_bad_length() {
        let bytes = encode_head(42, &[9u8; 32]);
        assert_eq!(decode_head(&bytes).unwrap(), (42, [9u8; 32]));
        assert!(matches!(decode_head(&bytes[..39]), Err(StorageError::Corrupt { .. })));
    }

    #[test]
    fn version_and_hash_reject_bad_length() {
        assert_eq!(decode_version(&7u32.to_be_bytes()).unwrap(), 7);
        assert!(decode_version(&[1, 2]).is_err());
        assert!(decode_hash("x", &[0u8; 31]).is_err());
        assert_eq!(decode_hash("x", &[5u8; 32]).unwrap(), [5u8; 32]);
    }
}
