use super::*;
use crate::hashing::leaf_hash;
use crate::proof::{verify_path, verify_proof};
use crate::reference::{compute_root, leaves_root};
use proptest::prelude::*;
use redb::backends::InMemoryBackend;
use redb::{Database, ReadableTableMetadata};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn mem_db() -> Database {
    Database::builder().create_with_backend(InMemoryBackend::new()).unwrap()
}

/// Applies `changes` in one committed transaction, reading through (and then updating) `cache`.
fn apply_prepared(
    db: &Database,
    cache: &mut ChunkCache,
    prepared: &[PreparedChange<'_>],
) -> (Hash, UpdateStats) {
    let txn = db.begin_write().unwrap();
    let (root, stats, updates) = {
        let mut chunks = txn.open_table(TREE_CHUNKS).unwrap();
        apply_changes(&mut chunks, cache, prepared).unwrap()
    };
    txn.commit().unwrap();
    cache.apply(updates);
    (root, stats)
}

fn apply_cached(
    db: &Database,
    cache: &mut ChunkCache,
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
) -> (Hash, UpdateStats) {
    apply_prepared(db, cache, &prepare_changes(changes).unwrap())
}

/// Applies `changes` without a cache: every chunk is read from the table.
fn apply(db: &Database, changes: &[(Vec<u8>, Option<Vec<u8>>)]) -> (Hash, UpdateStats) {
    apply_cached(db, &mut ChunkCache::default(), changes)
}

fn stored_root(db: &Database) -> Hash {
    let txn = db.begin_read().unwrap();
    match txn.open_table(TREE_CHUNKS) {
        Ok(chunks) => root_hash(&chunks).unwrap(),
        Err(redb::TableError::TableDoesNotExist(_)) => EMPTY_HASH,
        Err(e) => panic!("{e}"),
    }
}

fn dump(db: &Database) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let txn = db.begin_read().unwrap();
    let chunks = match txn.open_table(TREE_CHUNKS) {
        Ok(chunks) => chunks,
        Err(redb::TableError::TableDoesNotExist(_)) => return BTreeMap::new(),
        Err(e) => panic!("{e}"),
    };
    chunks
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

fn chunk_count(db: &Database) -> u64 {
    let txn = db.begin_read().unwrap();
    txn.open_table(TREE_CHUNKS).unwrap().len().unwrap()
}

/// The exact chunk table a canonical tree of `leaves` (sorted by path) consists of. (Its hashes
/// come from [`ChunkHashes`]; the tests compare the root with the binary reference.)
fn canonical_chunks(leaves: &[(Hash, Hash)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn build(
        depth: usize,
        prefix: Hash,
        leaves: &[(Hash, Hash)],
        out: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Hash {
        let mut chunk = Chunk::EMPTY;
        for (s, slot) in chunk.slots.iter_mut().enumerate() {
            let here: Vec<_> =
                leaves.iter().copied().filter(|(p, _)| slot_index(p, depth) == s).collect();
            *slot = match here.as_slice() {
                [] => Slot::Empty,
                [(key_path, value_hash)] => {
                    Slot::Leaf { key_path: *key_path, value_hash: *value_hash }
                }
                _ => Slot::Child(build(
                    depth + CHUNK_LEVELS,
                    slot_prefix(&prefix, depth, s),
                    &here,
                    out,
                )),
            };
        }
        out.insert(ChunkKey::new(depth, &prefix).as_bytes().to_vec(), chunk.encode());
        ChunkHashes::compute(&chunk).root()
    }
    let mut out = BTreeMap::new();
    if !leaves.is_empty() {
        let root = build(0, EMPTY_HASH, leaves, &mut out);
        assert_eq!(root, leaves_root(leaves));
    }
    out
}

fn model_leaves(model: &Model) -> Vec<(Hash, Hash)> {
    let mut leaves: Vec<(Hash, Hash)> =
        model.iter().map(|(k, v)| (key_path(k), value_hash(v))).collect();
    leaves.sort();
    leaves
}

/// Checks every cache entry against the table.
fn assert_cache_matches_table(db: &Database, cache: &ChunkCache) {
    let table = dump(db);
    for (key, entry) in &cache.chunks {
        assert!(key.depth() <= TOP_DEPTH);
        let stored = table.get(key.as_bytes()).unwrap_or_else(|| panic!("{key:?} not stored"));
        assert_eq!(Chunk::decode(stored).unwrap(), entry.chunk);
        assert_eq!(ChunkHashes::compute(&entry.chunk), entry.hashes);
    }
}

fn set(k: &[u8], v: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.to_vec(), Some(v.to_vec()))
}

fn del(k: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.to_vec(), None)
}

#[test]
fn empty_tree_has_zero_root() {
    let db = mem_db();
    assert_eq!(stored_root(&db), EMPTY_HASH);
    let (root, stats) = apply(&db, &[]);
    assert_eq!(root, EMPTY_HASH);
    assert_eq!(stats.writes + stats.removes, 0);
    let (root, stats) = apply(&db, &[del(b"absent")]);
    assert_eq!(root, EMPTY_HASH);
    assert_eq!(stats.writes + stats.removes, 0);
    assert_eq!(chunk_count(&db), 0);
}

#[test]
fn single_insert_is_a_root_chunk_with_one_leaf() {
    let db = mem_db();
    let (root, _) = apply(&db, &[set(b"a", b"1")]);
    assert_eq!(root, compute_root(vec![(b"a".to_vec(), b"1".to_vec())]));
    assert_eq!(stored_root(&db), root);
    assert_eq!(chunk_count(&db), 1);
}

#[test]
fn deleting_down_to_one_key_collapses_to_the_root_chunk() {
    let db = mem_db();
    let keys: Vec<Vec<u8>> = (0u32..200).map(|i| i.to_be_bytes().to_vec()).collect();
    apply(&db, &keys.iter().map(|k| set(k, b"v")).collect::<Vec<_>>());
    assert!(chunk_count(&db) > 17);
    let (root, _) = apply(&db, &keys[1..].iter().map(|k| del(k)).collect::<Vec<_>>());
    assert_eq!(root, compute_root(vec![(keys[0].clone(), b"v".to_vec())]));
    assert_eq!(chunk_count(&db), 1);
    let (root, _) = apply(&db, &[del(&keys[0])]);
    assert_eq!(root, EMPTY_HASH);
    assert_eq!(chunk_count(&db), 0);
}

#[test]
fn deleting_absent_and_rewriting_same_value_write_nothing() {
    let db = mem_db();
    let changes: Vec<_> = (0u8..50).map(|i| set(&[i], &[i, i])).collect();
    let (root, _) = apply(&db, &changes);
    let (again, stats) = apply(&db, &[del(b"missing"), set(&[7], &[7, 7])]);
    assert_eq!(again, root);
    assert_eq!((stats.writes, stats.removes), (0, 0));
}

#[test]
fn last_change_of_a_key_in_a_batch_wins() {
    let db = mem_db();
    let (root, _) = apply(&db, &[set(b"k", b"1"), del(b"k"), set(b"k", b"2")]);
    assert_eq!(root, compute_root(vec![(b"k".to_vec(), b"2".to_vec())]));
    let (root, _) = apply(&db, &[set(b"k", b"3"), del(b"k")]);
    assert_eq!(root, EMPTY_HASH);
    assert_eq!(chunk_count(&db), 0);
}

#[test]
fn cost_grows_with_changes_not_state_size() {
    let db = mem_db();
    let all: Vec<_> = (0u32..4096).map(|i| set(&i.to_be_bytes(), b"v")).collect();
    apply(&db, &all);
    // 4096 random paths fill 16-slot chunks at depths 0, 4 and 8; below that a path meets a
    // chunk only where two keys share its prefix: a path is 3 to 6 chunks deep.
    let (_, one) = apply(&db, &[set(&5u32.to_be_bytes(), b"w")]);
    assert!((3..=6).contains(&one.reads) && one.writes == one.reads, "{one:?}");
    let (_, del_one) = apply(&db, &[del(&6u32.to_be_bytes())]);
    assert!(del_one.reads <= 6 && del_one.writes + del_one.removes <= 6, "{del_one:?}");
    let ten: Vec<_> = (100u32..110).map(|i| set(&i.to_be_bytes(), b"w")).collect();
    let (_, batch) = apply(&db, &ten);
    assert!(batch.reads <= 10 * 6 && batch.writes <= 10 * 6, "{batch:?}");
    // Shared upper chunks are read once: a batch costs less than its changes one by one.
    let db2 = mem_db();
    apply(&db2, &all);
    let singly: usize = ten.iter().map(|c| apply(&db2, std::slice::from_ref(c)).1.reads).sum();
    assert!(batch.reads < singly, "batch {} vs singly {singly}", batch.reads);
    assert_eq!(batch.cached, 0);
}

#[test]
fn warm_cache_leaves_only_deep_chunks_to_read() {
    let db = mem_db();
    let mut cache = ChunkCache::default();
    let all: Vec<_> = (0u32..4096).map(|i| set(&i.to_be_bytes(), b"v")).collect();
    apply_cached(&db, &mut cache, &all);
    // The whole top of the tree was written, so it is all cached.
    let top = dump(&db).keys().filter(|k| crate::chunk::depth_of_key(k) <= TOP_DEPTH).count();
    assert_eq!(cache.len(), top);
    assert_cache_matches_table(&db, &cache);
    let (cold_root, cold) = apply(&db, &[set(&5u32.to_be_bytes(), b"w")]);
    let (warm_root, warm) = apply_cached(&db, &mut cache, &[set(&5u32.to_be_bytes(), b"x")]);
    assert_ne!(cold_root, warm_root);
    assert_eq!(warm.reads + warm.cached, cold.reads, "{warm:?} {cold:?}");
    assert!(warm.cached >= 3 && warm.reads <= cold.reads - 3, "{warm:?}");
    // The cache followed both updates (the cold one rewrote the same chunks under it, so the
    // warm one would have failed had it trusted stale entries).
    assert_eq!(stored_root(&db), warm_root);
    assert_cache_matches_table(&db, &cache);
    let model: Vec<_> = (0u32..4096)
        .map(|i| (i.to_be_bytes().to_vec(), if i == 5 { b"x".to_vec() } else { b"v".to_vec() }))
        .collect();
    assert_eq!(warm_root, compute_root(model));
}

#[test]
fn stale_cache_entries_are_not_trusted_below_the_root() {
    let db = mem_db();
    let mut cache = ChunkCache::default();
    let all: Vec<_> = (0u32..300).map(|i| set(&i.to_be_bytes(), b"v")).collect();
    apply_cached(&db, &mut cache, &all);
    // Change the table behind the cache's back, then apply through the stale cache: the root
    // entry is trusted, but child entries that disagree with their parent's slot are re-read.
    let mut stale = ChunkCache::default();
    let snapshot: Vec<_> = cache.chunks.iter().map(|(k, v)| (*k, Some(v.clone()))).collect();
    stale.apply(snapshot);
    let (root, _) = apply(&db, &[set(&1u32.to_be_bytes(), b"w")]);
    stale.chunks.remove(&ChunkKey::new(0, &EMPTY_HASH));
    let (again, stats) = apply_cached(&db, &mut stale, &[set(&1u32.to_be_bytes(), b"w")]);
    assert_eq!(again, root);
    assert!(stats.reads >= 2, "{stats:?}");
}

#[test]
fn proofs_of_present_and_absent_keys() {
    let db = mem_db();
    let changes: Vec<_> = (0u8..20).map(|i| set(&[i], &[i])).collect();
    let (root, _) = apply(&db, &changes);
    let txn = db.begin_read().unwrap();
    let chunks = txn.open_table(TREE_CHUNKS).unwrap();
    for i in 0u8..40 {
        let proof = prove(&chunks, &[i]).unwrap();
        if i < 20 {
            assert!(verify_proof(&root, &[i], Some(&[i]), &proof));
            assert!(!verify_proof(&root, &[i], Some(&[i, 0]), &proof));
            assert!(!verify_proof(&root, &[i], None, &proof));
        } else {
            assert!(verify_proof(&root, &[i], None, &proof));
            assert!(!verify_proof(&root, &[i], Some(&[i]), &proof));
        }
    }
}

/// Inserts 40 keys, then overwrites a chunk below the root with `bytes`.
fn corrupt_a_child_chunk(bytes: impl Fn(&[u8]) -> Vec<u8>) -> Database {
    let db = mem_db();
    let changes: Vec<_> = (0u8..40).map(|i| set(&[i], b"1")).collect();
    apply(&db, &changes);
    let (victim, value) = dump(&db).into_iter().find(|(k, _)| k.len() > 1).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(TREE_CHUNKS).unwrap().insert(&victim[..], &bytes(&value)[..]).unwrap();
    txn.commit().unwrap();
    db
}

fn assert_corruption_is_an_error(db: &Database) {
    let txn = db.begin_write().unwrap();
    let mut chunks = txn.open_table(TREE_CHUNKS).unwrap();
    let errs = (0u8..40).filter(|k| prove(&chunks, &[*k]).is_err()).count();
    assert!(errs > 0);
    let changes: Vec<_> = (0u8..40).map(|i| set(&[i], b"9")).collect();
    let prepared = prepare_changes(&changes).unwrap();
    let cache = ChunkCache::default();
    assert!(matches!(
        apply_changes(&mut chunks, &cache, &prepared),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn corrupt_child_is_an_error_not_a_panic() {
    // Unparseable bytes.
    assert_corruption_is_an_error(&corrupt_a_child_chunk(|_| vec![0xee; 65]));
    // Well-formed, but not the chunk its parent committed to.
    assert_corruption_is_an_error(&corrupt_a_child_chunk(|bytes| {
        let mut chunk = Chunk::decode(bytes).unwrap();
        let slot = chunk.slots.iter_mut().find(|s| matches!(s, Slot::Leaf { .. })).unwrap();
        if let Slot::Leaf { value_hash, .. } = slot {
            value_hash[0] ^= 1;
        }
        chunk.encode()
    }));
    // A leaf moved to a slot its path does not go through.
    assert_corruption_is_an_error(&corrupt_a_child_chunk(|bytes| {
        let mut chunk = Chunk::decode(bytes).unwrap();
        let from = chunk.slots.iter().position(|s| matches!(s, Slot::Leaf { .. })).unwrap();
        let to = chunk.slots.iter().position(|s| *s == Slot::Empty).unwrap();
        chunk.slots.swap(from, to);
        chunk.encode()
    }));
}

/// A path that is zero but for bits 0 and 7 (from `high`) and the last 16 bits (`low`): such
/// paths share long prefixes, so their trees reach the deepest chunks.
fn deep_path(high: u8, low: u16) -> Hash {
    let mut path = [0u8; 32];
    path[0] = high & 0x81;
    path[30..].copy_from_slice(&low.to_be_bytes());
    path
}

fn deep_change(path: Hash, value: Option<u8>) -> PreparedChange<'static> {
    PreparedChange { key: &[], value: None, path, value_hash: value.map(|v| value_hash(&[v])) }
}

#[test]
fn paths_differing_in_the_last_bit_reach_the_bottom_chunk() {
    let db = mem_db();
    let mut cache = ChunkCache::default();
    let (a, b) = (deep_path(0, 0), deep_path(0, 1));
    let changes = [deep_change(a, Some(1)), deep_change(b, Some(2))];
    let (root, _) = apply_prepared(&db, &mut cache, &changes);
    let leaves = [(a, value_hash(&[1])), (b, value_hash(&[2]))];
    assert_eq!(root, leaves_root(&leaves));
    // One chunk per CHUNK_LEVELS bits down to the last one.
    assert_eq!(chunk_count(&db), (PATH_BITS / CHUNK_LEVELS) as u64);
    assert_eq!(dump(&db), canonical_chunks(&leaves));
    let txn = db.begin_read().unwrap();
    let chunks = txn.open_table(TREE_CHUNKS).unwrap();
    let proof = prove_path(&chunks, &a).unwrap();
    assert_eq!(proof.siblings.len(), PATH_BITS);
    assert!(verify_path(&root, &a, Some(&value_hash(&[1])), &proof));
    drop((chunks, txn));
    // Deleting one lifts the other back to the root chunk.
    let (root, _) = apply_prepared(&db, &mut cache, &[deep_change(a, None)]);
    assert_eq!(root, leaf_hash(&b, &value_hash(&[2])));
    assert_eq!(chunk_count(&db), 1);
    assert_cache_matches_table(&db, &cache);
}

fn batches() -> impl Strategy<Value = Vec<Vec<(u8, Option<u8>)>>> {
    let change = (0u8..24, prop::option::weighted(0.65, 0u8..4));
    prop::collection::vec(prop::collection::vec(change, 0..16), 1..10)
}

/// Batches of changes of [`deep_path`]s.
type DeepBatches = Vec<Vec<((u8, u16), Option<u8>)>>;

fn deep_batches() -> impl Strategy<Value = DeepBatches> {
    let path = (any::<u8>(), prop_oneof![0u16..8, any::<u16>()]);
    let change = (path, prop::option::weighted(0.65, 0u8..4));
    prop::collection::vec(prop::collection::vec(change, 0..16), 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After every batch the chunk table is exactly the canonical tree of the model, whether
    /// the batches go through a cache or not, and the cache agrees with the table.
    #[test]
    fn incremental_tree_equals_canonical_tree(batches in batches()) {
        let db = mem_db();
        let uncached = mem_db();
        let mut cache = ChunkCache::default();
        let mut model = Model::new();
        for batch in batches {
            let changes: Vec<_> = batch
                .iter()
                .map(|&(k, v)| (vec![k], v.map(|v| vec![v; 1 + v as usize])))
                .collect();
            for (k, v) in &changes {
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
            let (root, _) = apply_cached(&db, &mut cache, &changes);
            prop_assert_eq!(root, compute_root(model.clone()));
            prop_assert_eq!(stored_root(&db), root);
            prop_assert_eq!(apply(&uncached, &changes).0, root);
            let canonical = canonical_chunks(&model_leaves(&model));
            prop_assert_eq!(&dump(&db), &canonical);
            prop_assert_eq!(&dump(&uncached), &canonical);
            assert_cache_matches_table(&db, &cache);
        }
    }

    /// The same with paths that share long prefixes, so chunks are created, pushed down and
    /// collapsed at every depth; proofs of present and absent paths verify.
    #[test]
    fn deep_trees_equal_canonical_trees(batches in deep_batches()) {
        let db = mem_db();
        let mut cache = ChunkCache::default();
        let mut model: BTreeMap<Hash, Hash> = BTreeMap::new();
        for batch in batches {
            let mut last: BTreeMap<Hash, Option<u8>> = BTreeMap::new();
            for &((high, low), v) in &batch {
                last.insert(deep_path(high, low), v);
            }
            let changes: Vec<_> = last.iter().map(|(p, v)| deep_change(*p, *v)).collect();
            for c in &changes {
                match c.value_hash {
                    Some(v) => { model.insert(c.path, v); }
                    None => { model.remove(&c.path); }
                }
            }
            let leaves: Vec<(Hash, Hash)> = model.iter().map(|(p, v)| (*p, *v)).collect();
            let (root, _) = apply_prepared(&db, &mut cache, &changes);
            prop_assert_eq!(root, leaves_root(&leaves));
            prop_assert_eq!(&dump(&db), &canonical_chunks(&leaves));
            assert_cache_matches_table(&db, &cache);
            let txn = db.begin_read().unwrap();
            let chunks = txn.open_table(TREE_CHUNKS).unwrap();
            for &((high, low), _) in batch.iter().take(4) {
                let path = deep_path(high, low);
                let proof = prove_path(&chunks, &path).unwrap();
                let value = model.get(&path);
                prop_assert!(verify_path(&root, &path, value, &proof));
                prop_assert!(!verify_path(&root, &path, Some(&[9; 32]), &proof));
            }
        }
    }
}
