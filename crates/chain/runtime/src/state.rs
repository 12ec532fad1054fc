//! State access for the runtime: a read backend, a transactional write overlay, typed storage.
//!
//! The runtime never touches the database. It reads through a [`StateRead`] backend (a snapshot
//! of the last committed block) and writes into an [`Overlay`]; the node commits the overlay's
//! changes with the block in one database transaction. An extrinsic runs inside an overlay
//! *transaction* so a failed call is rolled back while its fee stays paid.

use std::{cell::RefCell, collections::BTreeMap, marker::PhantomData};

use parity_scale_codec::{Decode, Encode};

/// A read-only view of committed state.
pub trait StateRead {
    /// The value under `key`, or an error if the backend failed (I/O, corruption).
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// An empty state (genesis building, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyState;

impl StateRead for EmptyState {
    fn read(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.get(key).cloned())
    }
}

/// One journal entry: a key and what the overlay held for it before (None = untouched).
type JournalEntry = (Vec<u8>, Option<Option<Vec<u8>>>);

/// Buffered writes over a [`StateRead`] backend, with nested transactions.
///
/// A backend failure or an undecodable stored value does not panic: it is recorded and
/// [`Overlay::take_error`] reports it, and the node then refuses to commit the block.
pub struct Overlay<'a> {
    backend: &'a dyn StateRead,
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    journal: Vec<Vec<JournalEntry>>,
    error: RefCell<Option<String>>,
}

impl std::fmt::Debug for Overlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("changes", &self.changes.len())
            .field("depth", &self.journal.len())
            .finish()
    }
}

impl<'a> Overlay<'a> {
    /// An overlay with no changes over `backend`.
    pub fn new(backend: &'a dyn StateRead) -> Self {
        Overlay {
            backend,
            changes: BTreeMap::new(),
            journal: Vec::new(),
            error: RefCell::new(None),
        }
    }

    /// The current value of `key` (overlay first, then backend).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.changes.get(key) {
            return v.clone();
        }
        match self.backend.read(key) {
            Ok(v) => v,
            Err(e) => {
                self.record_error(format!("state read failed: {e}"));
                None
            }
        }
    }

    /// Sets (`Some`) or deletes (`None`) `key`.
    pub fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(layer) = self.journal.last_mut() {
            layer.push((key.clone(), self.changes.get(&key).cloned()));
        }
        self.changes.insert(key, value);
    }

    /// Opens a nested transaction.
    pub fn start_transaction(&mut self) {
        self.journal.push(Vec::new());
    }

    /// Keeps the innermost transaction's writes.
    pub fn commit_transaction(&mut self) {
        if let Some(layer) = self.journal.pop() {
            if let Some(outer) = self.journal.last_mut() {
                outer.extend(layer);
            }
        }
    }

    /// Undoes the innermost transaction's writes.
    pub fn rollback_transaction(&mut self) {
        if let Some(layer) = self.journal.pop() {
            for (key, previous) in layer.into_iter().rev() {
                match previous {
                    Some(v) => {
                        self.changes.insert(key, v);
                    }
                    None => {
                        self.changes.remove(&key);
                    }
                }
            }
        }
    }

    /// Records a fatal state error (the first one wins).
    pub fn record_error(&self, msg: String) {
        let mut e = self.error.borrow_mut();
        if e.is_none() {
            *e = Some(msg);
        }
    }

    /// The first fatal state error, if any.
    pub fn take_error(&self) -> Option<String> {
        self.error.borrow_mut().take()
    }

    /// All changes, sorted by key (None = delete).
    pub fn into_changes(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.changes.into_iter().collect()
    }

    /// Number of keys changed so far.
    pub fn change_count(&self) -> usize {
        self.changes.len()
    }
}

/// A single typed value under a fixed key.
#[derive(Debug)]
pub struct StorageValue<V> {
    key: &'static [u8],
    _v: PhantomData<V>,
}

impl<V: Encode + Decode> StorageValue<V> {
    /// A value stored under `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        StorageValue { key, _v: PhantomData }
    }

    /// The raw storage key.
    pub fn key(&self) -> &'static [u8] {
        self.key
    }

    /// Reads the value.
    pub fn get(&self, st: &Overlay<'_>) -> Option<V> {
        decode_or_record(st, self.key, st.get(self.key))
    }

    /// Writes the value.
    pub fn put(&self, st: &mut Overlay<'_>, v: &V) {
        st.set(self.key.to_vec(), Some(v.encode()));
    }
}

impl<V: Encode + Decode + Default> StorageValue<V> {
    /// Reads the value or its default.
    pub fn get_or_default(&self, st: &Overlay<'_>) -> V {
        self.get(st).unwrap_or_default()
    }
}

/// A typed map: `prefix ‖ SCALE(key) → SCALE(value)`.
#[derive(Debug)]
pub struct StorageMap<K, V> {
    prefix: &'static [u8],
    _kv: PhantomData<(K, V)>,
}

impl<K: Encode, V: Encode + Decode> StorageMap<K, V> {
    /// A map under `prefix` (which must not be a prefix of another item's prefix).
    pub const fn new(prefix: &'static [u8]) -> Self {
        StorageMap { prefix, _kv: PhantomData }
    }

    /// The raw storage key of `k`.
    pub fn key(&self, k: &K) -> Vec<u8> {
        let mut key = self.prefix.to_vec();
        k.encode_to(&mut key);
        key
    }

    /// The map's prefix.
    pub fn prefix(&self) -> &'static [u8] {
        self.prefix
    }

    /// Reads an entry.
    pub fn get(&self, st: &Overlay<'_>, k: &K) -> Option<V> {
        let key = self.key(k);
        let raw = st.get(&key);
        decode_or_record(st, &key, raw)
    }

    /// Writes an entry.
    pub fn insert(&self, st: &mut Overlay<'_>, k: &K, v: &V) {
        st.set(self.key(k), Some(v.encode()));
    }

    /// Deletes an entry.
    pub fn remove(&self, st: &mut Overlay<'_>, k: &K) {
        st.set(self.key(k), None);
    }
}

impl<K: Encode, V: Encode + Decode + Default> StorageMap<K, V> {
    /// Reads an entry or the default.
    pub fn get_or_default(&self, st: &Overlay<'_>, k: &K) -> V {
        self.get(st, k).unwrap_or_default()
    }
}

fn decode_or_record<V: Decode>(st: &Overlay<'_>, key: &[u8], raw: Option<Vec<u8>>) -> Option<V> {
    let raw = raw?;
    match V::decode(&mut &raw[..]) {
        Ok(v) => Some(v),
        Err(e) => {
            st.record_error(format!("corrupt state value under key 0x{}: {e}", hex_short(key)));
            None
        }
    }
}

fn hex_short(key: &[u8]) -> String {
    key.iter().take(48).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: StorageValue<u64> = StorageValue::new(b"test/counter");
    const MAP: StorageMap<u32, u64> = StorageMap::new(b"test/map/");

    #[test]
    fn rollback_restores_previous_values_and_commit_keeps_them() {
        let backend: BTreeMap<Vec<u8>, Vec<u8>> =
            [(COUNTER.key().to_vec(), 5u64.encode())].into_iter().collect();
        let mut st = Overlay::new(&backend);
        assert_eq!(COUNTER.get(&st), Some(5));
        st.start_transaction();
        COUNTER.put(&mut st, &6);
        MAP.insert(&mut st, &1, &10);
        st.start_transaction();
        COUNTER.put(&mut st, &7);
        st.rollback_transaction();
        assert_eq!(COUNTER.get(&st), Some(6));
        st.commit_transaction();
        assert_eq!(COUNTER.get(&st), Some(6));
        assert_eq!(MAP.get(&st, &1), Some(10));

        st.start_transaction();
        MAP.remove(&mut st, &1);
        COUNTER.put(&mut st, &9);
        st.rollback_transaction();
        assert_eq!(MAP.get(&st, &1), Some(10));
        assert_eq!(COUNTER.get(&st), Some(6));
        let changes = st.into_changes();
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn outer_rollback_undoes_committed_inner_transaction() {
        let mut st = Overlay::new(&EmptyState);
        st.start_transaction();
        st.start_transaction();
        COUNTER.put(&mut st, &1);
        st.commit_transaction();
        st.rollback_transaction();
        assert_eq!(COUNTER.get(&st), None);
        assert!(st.into_changes().is_empty());
    }

    #[test]
    fn corrupt_value_is_reported_not_panicked() {
        let backend: BTreeMap<Vec<u8>, Vec<u8>> =
            [(COUNTER.key().to_vec(), vec![1u8, 2])].into_iter().collect();
        let st = Overlay::new(&backend);
        assert_eq!(COUNTER.get(&st), None);
        assert!(st.take_error().unwrap().contains("corrupt state value"));
    }

    struct Failing;
    impl StateRead for Failing {
        fn read(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, String> {
            Err("disk on fire".into())
        }
    }

    #[test]
    fn backend_failure_is_reported() {
        let st = Overlay::new(&Failing);
        assert_eq!(COUNTER.get(&st), None);
        assert!(st.take_error().unwrap().contains("disk on fire"));
    }
}
