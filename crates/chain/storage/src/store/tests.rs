use redb::{ReadableTable, ReadableTableMetadata};
use tempfile::TempDir;

use super::*;
use crate::hashing::EMPTY_HASH;
use crate::proof::{verify_proof, ProofTerminal};
use crate::reference::compute_root;

type Changes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("chain.redb")).unwrap();
    (dir, store)
}

fn set(k: &str, v: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
}

fn del(k: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), None)
}

fn block_hash_of(number: u64) -> Hash {
    let mut h = [0xb0u8; 32];
    h[..8].copy_from_slice(&number.to_be_bytes());
    h
}

/// Commits block `number` with `changes`; returns the root `apply_state_changes` reported.
fn commit_block(store: &Store, number: u64, changes: &Changes) -> Hash {
    let mut w = store.begin_block().unwrap();
    let root = w.apply_state_changes(changes).unwrap();
    let n = number.to_be_bytes();
    w.insert_block(number, block_hash_of(number), &n, b"events", b"changes").unwrap();
    w.commit().unwrap();
    root
}

fn all_state(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.snapshot().unwrap().iter_prefix(&[]).unwrap()
}

fn tree_chunk_count(store: &Store) -> u64 {
    let txn = store.db.begin_read().unwrap();
    txn.open_table(TREE_CHUNKS).unwrap().len().unwrap()
}

#[test]
fn empty_store_has_zero_root_and_no_head() {
    let (_dir, store) = temp_store();
    assert_eq!(store.state_root().unwrap(), EMPTY_HASH);
    assert_eq!(store.head().unwrap(), None);
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(store.block(0).unwrap(), None);
    assert_eq!(store.block_hash(0).unwrap(), None);
    assert_eq!(store.block_number(&[1; 32]).unwrap(), None);
    assert_eq!(store.events(0).unwrap(), None);
    assert_eq!(store.state_changes(0).unwrap(), None);
    assert_eq!(store.meta("genesis").unwrap(), None);
    assert!(format!("{store:?}").contains("chain.redb"));
}

#[test]
fn single_insert_root_equals_reference_and_block_is_indexed() {
    let (_dir, store) = temp_store();
    let root = commit_block(&store, 0, &vec![set("alice", "100")]);
    assert_eq!(root, compute_root(vec![(b"alice".to_vec(), b"100".to_vec())]));
    assert_eq!(store.state_root().unwrap(), root);
    assert_eq!(store.get(b"alice").unwrap(), Some(b"100".to_vec()));
    assert_eq!(store.head().unwrap(), Some((0, block_hash_of(0))));
    assert_eq!(store.block(0).unwrap(), Some(0u64.to_be_bytes().to_vec()));
    assert_eq!(store.block_hash(0).unwrap(), Some(block_hash_of(0)));
    assert_eq!(store.block_number(&block_hash_of(0)).unwrap(), Some(0));
    assert_eq!(store.events(0).unwrap(), Some(b"events".to_vec()));
    assert_eq!(store.state_changes(0).unwrap(), Some(b"changes".to_vec()));
    assert_eq!(store.block(1).unwrap(), None);
    // The end marker of the per-block tables is not a block.
    assert_eq!(store.block(u64::MAX).unwrap(), None);
    assert_eq!(store.events(u64::MAX).unwrap(), None);
    assert_eq!(store.state_changes(u64::MAX).unwrap(), None);
}

#[test]
fn updates_and_deletes_track_the_reference() {
    let (_dir, store) = temp_store();
    commit_block(&store, 0, &vec![set("a", "1"), set("b", "2"), set("c", "3")]);
    let root = commit_block(&store, 1, &vec![set("a", "10"), del("b"), del("nope")]);
    let expected =
        compute_root(vec![(b"a".to_vec(), b"10".to_vec()), (b"c".to_vec(), b"3".to_vec())]);
    assert_eq!(root, expected);
    assert_eq!(store.state_root().unwrap(), expected);
    assert_eq!(store.get(b"a").unwrap(), Some(b"10".to_vec()));
    assert_eq!(store.get(b"b").unwrap(), None);
    // Same value again keeps the root.
    let same = commit_block(&store, 2, &vec![set("a", "10")]);
    assert_eq!(same, expected);
    // An empty batch keeps it too.
    assert_eq!(commit_block(&store, 3, &vec![]), expected);
}

#[test]
fn deleting_everything_returns_to_zero_root_and_empty_tree_table() {
    let (_dir, store) = temp_store();
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
    commit_block(&store, 0, &keys.iter().map(|k| set(k, "v")).collect());
    // A root chunk and, with 100 keys over its 16 slots, at least 16 chunks below.
    assert!(tree_chunk_count(&store) > 16);
    commit_block(&store, 1, &keys[..50].iter().map(|k| del(k)).collect());
    assert_eq!(store.state_root().unwrap(), compute_root(all_state(&store)));
    let root = commit_block(&store, 2, &keys[50..].iter().map(|k| del(k)).collect());
    assert_eq!(root, EMPTY_HASH);
    assert_eq!(store.state_root().unwrap(), EMPTY_HASH);
    assert_eq!(tree_chunk_count(&store), 0);
    assert!(all_state(&store).is_empty());
}

#[test]
fn dropped_writer_changes_nothing() {
    let (_dir, store) = temp_store();
    let root = commit_block(&store, 0, &vec![set("a", "1")]);
    {
        let mut w = store.begin_block().unwrap();
        let new_root = w.apply_state_changes(&[set("a", "2"), set("b", "3")]).unwrap();
        assert_ne!(new_root, root);
        w.insert_block(1, block_hash_of(1), b"b1", b"e", b"s").unwrap();
        w.set_meta("genesis", b"x").unwrap();
        // dropped here without commit
    }
    assert_eq!(store.state_root().unwrap(), root);
    assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get(b"b").unwrap(), None);
    assert_eq!(store.head().unwrap(), Some((0, block_hash_of(0))));
    assert_eq!(store.block(1).unwrap(), None);
    assert_eq!(store.block_number(&block_hash_of(1)).unwrap(), None);
    assert_eq!(store.meta("genesis").unwrap(), None);
    // The next writer can use block number 1.
    commit_block(&store, 1, &vec![]);
    assert_eq!(store.head().unwrap(), Some((1, block_hash_of(1))));
}

#[test]
fn insert_block_rejects_non_consecutive_numbers() {
    let (_dir, store) = temp_store();
    let mut w = store.begin_block().unwrap();
    assert!(matches!(
        w.insert_block(1, block_hash_of(1), b"", b"", b""),
        Err(StorageError::NonConsecutiveBlock { expected: 0, got: 1 })
    ));
    // A rejected number does not poison the writer.
    w.insert_block(0, block_hash_of(0), b"", b"", b"").unwrap();
    w.commit().unwrap();

    let mut w = store.begin_block().unwrap();
    for bad in [0, 2, u64::MAX] {
        assert!(matches!(
            w.insert_block(bad, block_hash_of(bad), b"", b"", b""),
            Err(StorageError::NonConsecutiveBlock { expected: 1, got }) if got == bad
        ));
    }
    assert!(matches!(
        w.insert_block(1, block_hash_of(0), b"", b"", b""),
        Err(StorageError::DuplicateBlockHash { number: 0, .. })
    ));
    w.insert_block(1, block_hash_of(1), b"", b"", b"").unwrap();
    assert!(matches!(
        w.insert_block(2, block_hash_of(2), b"", b"", b""),
        Err(StorageError::BlockAlreadyInserted)
    ));
    w.commit().unwrap();
    assert_eq!(store.head().unwrap(), Some((1, block_hash_of(1))));
}

#[test]
fn writer_misuse_is_refused() {
    let (_dir, store) = temp_store();
    let mut w = store.begin_block().unwrap();
    w.apply_state_changes(&[set("a", "1")]).unwrap();
    assert!(matches!(
        w.apply_state_changes(&[set("b", "1")]),
        Err(StorageError::StateChangesAlreadyApplied)
    ));
    assert!(matches!(w.commit(), Err(StorageError::StateWithoutBlock)));
    assert_eq!(store.get(b"a").unwrap(), None);
    assert_eq!(store.state_root().unwrap(), EMPTY_HASH);

    // Metadata alone (no state, no block) may be committed.
    let mut w = store.begin_block().unwrap();
    w.set_meta("chain_spec", b"{}").unwrap();
    w.set_meta("chain_spec", b"{\"v\":2}").unwrap();
    w.commit().unwrap();
    assert_eq!(store.meta("chain_spec").unwrap(), Some(b"{\"v\":2}".to_vec()));
    assert_eq!(store.head().unwrap(), None);
}

#[test]
fn reopen_sees_the_committed_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let (root, state) = {
        let store = Store::open(&path).unwrap();
        commit_block(&store, 0, &vec![set("a", "1"), set("b", "2")]);
        let mut w = store.begin_block().unwrap();
        w.apply_state_changes(&[set("c", "3"), del("a")]).unwrap();
        w.insert_block(1, block_hash_of(1), b"one", b"ev", b"sc").unwrap();
        w.set_meta("genesis", &block_hash_of(0)).unwrap();
        w.commit().unwrap();
        // An uncommitted writer must not survive the reopen either.
        let mut w = store.begin_block().unwrap();
        w.apply_state_changes(&[set("z", "9")]).unwrap();
        drop(w);
        (store.state_root().unwrap(), all_state(&store))
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.head().unwrap(), Some((1, block_hash_of(1))));
    assert_eq!(store.state_root().unwrap(), root);
    assert_eq!(all_state(&store), state);
    assert_eq!(compute_root(state), root);
    assert_eq!(store.block(1).unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.meta("genesis").unwrap(), Some(block_hash_of(0).to_vec()));
    assert_eq!(store.get(b"z").unwrap(), None);
}

#[test]
fn second_open_of_the_same_file_is_an_error() {
    let (dir, _store) = temp_store();
    let err = Store::open(&dir.path().join("chain.redb")).unwrap_err();
    assert!(matches!(err, StorageError::Open { .. }), "{err}");
}

#[test]
fn snapshot_is_isolated_from_later_commits() {
    let (_dir, store) = temp_store();
    let root0 = commit_block(&store, 0, &vec![set("a", "1")]);
    let snap = store.snapshot().unwrap();
    commit_block(&store, 1, &vec![set("a", "2"), set("b", "3")]);
    assert_eq!(snap.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snap.get(b"b").unwrap(), None);
    assert_eq!(snap.state_root().unwrap(), root0);
    assert_eq!(snap.head().unwrap(), Some((0, block_hash_of(0))));
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert!(format!("{snap:?}").starts_with("Snapshot"));
}

#[test]
fn iter_prefix_returns_exactly_the_prefixed_keys_in_order() {
    let (_dir, store) = temp_store();
    let changes = vec![
        set("acc/bob", "2"),
        set("acc/alice", "1"),
        set("acc", "root"),
        set("acd", "x"),
        set("ab", "y"),
        (vec![b'a', b'c', b'c', 0xff], Some(b"z".to_vec())),
    ];
    commit_block(&store, 0, &changes);
    let snap = store.snapshot().unwrap();
    let got = snap.iter_prefix(b"acc").unwrap();
    let keys: Vec<&[u8]> = got.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"acc"[..], b"acc/alice", b"acc/bob", &[b'a', b'c', b'c', 0xff][..]]);
    assert_eq!(got[1].1, b"1".to_vec());
    assert!(snap.iter_prefix(b"zzz").unwrap().is_empty());
    assert_eq!(snap.iter_prefix(b"").unwrap().len(), 6);
}

#[test]
fn proofs_verify_for_present_and_absent_keys_and_reject_tampering() {
    let (_dir, store) = temp_store();
    let changes: Changes = (0..40).map(|i| set(&format!("k{i}"), &format!("v{i}"))).collect();
    let root = commit_block(&store, 0, &changes);
    for i in 0..40 {
        let key = format!("k{i}");
        let value = format!("v{i}");
        let proof = store.prove(key.as_bytes()).unwrap();
        assert!(verify_proof(&root, key.as_bytes(), Some(value.as_bytes()), &proof));
        assert!(!verify_proof(&root, key.as_bytes(), Some(b"wrong"), &proof));
        assert!(!verify_proof(&root, key.as_bytes(), None, &proof));
        assert!(!verify_proof(&[7; 32], key.as_bytes(), Some(value.as_bytes()), &proof));
        for s in 0..proof.siblings.len() {
            let mut tampered = proof.clone();
            tampered.siblings[s][0] ^= 1;
            assert!(!verify_proof(&root, key.as_bytes(), Some(value.as_bytes()), &tampered));
        }
        let mut truncated = proof.clone();
        if truncated.siblings.pop().is_some() {
            assert!(!verify_proof(&root, key.as_bytes(), Some(value.as_bytes()), &truncated));
        }
    }
    let mut absent_seen_leaf = false;
    for i in 0..200 {
        let key = format!("absent{i}");
        let proof = store.prove(key.as_bytes()).unwrap();
        absent_seen_leaf |= matches!(proof.terminal, ProofTerminal::Leaf { .. });
        assert!(verify_proof(&root, key.as_bytes(), None, &proof));
        assert!(!verify_proof(&root, key.as_bytes(), Some(b"v0"), &proof));
        if let Some(first) = proof.siblings.first() {
            let mut tampered = proof.clone();
            tampered.siblings[0] = if *first == EMPTY_HASH { [1; 32] } else { EMPTY_HASH };
            assert!(!verify_proof(&root, key.as_bytes(), None, &tampered));
        }
    }
    // Both kinds of non-inclusion (ending at Empty and at another key's leaf) were exercised.
    assert!(absent_seen_leaf);
}

#[test]
fn proof_of_the_empty_state() {
    let (_dir, store) = temp_store();
    let proof = store.prove(b"anything").unwrap();
    assert_eq!(proof, StateProof { siblings: vec![], terminal: ProofTerminal::Empty });
    assert!(verify_proof(&EMPTY_HASH, b"anything", None, &proof));
}

#[test]
fn unsupported_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(CHAIN).unwrap().insert(VERSION_KEY, &99u32.to_be_bytes()[..]).unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        Store::open(&path),
        Err(StorageError::UnsupportedVersion { found: 99, supported: FORMAT_VERSION })
    ));
}

#[test]
fn damaged_records_are_errors_not_panics() {
    let (dir, store) = temp_store();
    commit_block(&store, 0, &vec![set("a", "1"), set("b", "2")]);
    let txn = store.db.begin_write().unwrap();
    {
        txn.open_table(CHAIN).unwrap().insert(tables::HEAD_KEY, &[1u8, 2, 3][..]).unwrap();
        txn.open_table(BLOCK_HASHES).unwrap().insert(0, &[0u8; 5][..]).unwrap();
        let root_key = [0u8];
        txn.open_table(TREE_CHUNKS).unwrap().insert(&root_key[..], &[9u8; 65][..]).unwrap();
    }
    txn.commit().unwrap();
    // The damage happened behind the store's back (as on disk): a reopened store meets it.
    drop(store);
    let store = Store::open(&dir.path().join("chain.redb")).unwrap();
    assert!(matches!(store.head(), Err(StorageError::Corrupt { what: "head record", .. })));
    assert!(matches!(store.block_hash(0), Err(StorageError::Corrupt { .. })));
    assert!(matches!(store.state_root(), Err(StorageError::Corrupt { .. })));
    assert!(matches!(store.prove(b"a"), Err(StorageError::Corrupt { .. })));
    let mut w = store.begin_block().unwrap();
    assert!(matches!(w.apply_state_changes(&[set("c", "3")]), Err(StorageError::Corrupt { .. })));
    assert!(matches!(w.commit(), Err(StorageError::WriterPoisoned)));
    assert_eq!(store.get(b"c").unwrap(), None);
}

#[test]
fn damaged_child_chunk_is_found_after_reopen() {
    let (dir, store) = temp_store();
    let keys: Vec<String> = (0..300).map(|i| format!("key-{i}")).collect();
    commit_block(&store, 0, &keys.iter().map(|k| set(k, "v")).collect());
    let txn = store.db.begin_write().unwrap();
    {
        let mut chunks = txn.open_table(TREE_CHUNKS).unwrap();
        // A depth-4 chunk (key: depth code 1, one prefix byte).
        let victim: Vec<u8> = chunks
            .iter()
            .unwrap()
            .map(|e| e.unwrap().0.value().to_vec())
            .find(|k| k.len() == 2 && k[0] == 1)
            .unwrap();
        chunks.insert(&victim[..], &[1u8, 0, 0, 0][..]).unwrap();
    }
    txn.commit().unwrap();
    drop(store);
    // Opening skips the damaged part of the tree; using it reports the damage.
    let store = Store::open(&dir.path().join("chain.redb")).unwrap();
    let changes: Changes = keys.iter().map(|k| set(k, "w")).collect();
    let mut w = store.begin_block().unwrap();
    assert!(matches!(w.apply_state_changes(&changes), Err(StorageError::Corrupt { .. })));
    drop(w);
    let failed = keys.iter().filter(|k| store.prove(k.as_bytes()).is_err()).count();
    assert!(failed > 0 && failed < keys.len(), "{failed}");
}

#[test]
fn cache_follows_commits_and_ignores_dropped_writers() {
    let (_dir, store) = temp_store();
    let keys: Vec<String> = (0..400).map(|i| format!("key-{i}")).collect();
    commit_block(&store, 0, &keys.iter().map(|k| set(k, "v")).collect());
    let cached = store.cache.lock().unwrap().len();
    assert!(cached > 16, "{cached}");
    // A dropped writer leaves the cache as it was, so the next block still builds on block 0.
    {
        let mut w = store.begin_block().unwrap();
        w.apply_state_changes(&keys[..200].iter().map(|k| del(k)).collect::<Vec<_>>()).unwrap();
        w.insert_block(1, block_hash_of(1), b"", b"", b"").unwrap();
    }
    let changes: Changes = keys[100..].iter().map(|k| set(k, "w")).collect();
    let root = commit_block(&store, 1, &changes);
    assert_eq!(root, compute_root(all_state(&store)));
    // A fresh store (cold cache) computes the same roots from the table alone.
    let more: Changes = keys[..150].iter().map(|k| del(k)).collect();
    let warm = commit_block(&store, 2, &more);
    assert_eq!(warm, compute_root(all_state(&store)));
    let path = store.path().to_owned();
    drop(store);
    // Reopening loads the whole top of the tree into the cache.
    let store = Store::open(&path).unwrap();
    let top = {
        let txn = store.db.begin_read().unwrap();
        let chunks = txn.open_table(TREE_CHUNKS).unwrap();
        let keys: Vec<Vec<u8>> =
            chunks.iter().unwrap().map(|e| e.unwrap().0.value().to_vec()).collect();
        keys.iter().filter(|k| crate::chunk::depth_of_key(k) <= crate::chunk::TOP_DEPTH).count()
    };
    assert_eq!(store.cache.lock().unwrap().len(), top);
    assert_eq!(store.state_root().unwrap(), warm);
    let again = commit_block(&store, 3, &vec![set("key-0", "x")]);
    assert_eq!(again, compute_root(all_state(&store)));
}

#[test]
fn clones_share_one_database() {
    let (_dir, store) = temp_store();
    let other = store.clone();
    commit_block(&other, 0, &vec![set("a", "1")]);
    assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.path(), other.path());
}
