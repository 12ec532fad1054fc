use super::*;
use crate::hashing::{key_path, value_hash};
use crate::proof::verify_proof;
use crate::reference::compute_root;
use proptest::prelude::*;
use redb::backends::InMemoryBackend;
use redb::{Database, ReadableTableMetadata};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn mem_db() -> Database {
    Database::builder().create_with_backend(InMemoryBackend::new()).unwrap()
}

fn apply(db: &Database, changes: &[(Vec<u8>, Option<Vec<u8>>)]) -> (Hash, UpdateStats) {
    let txn = db.begin_write().unwrap();
    let out = {
        let mut nodes = txn.open_table(TREE_NODES).unwrap();
        let prepared = prepare_changes(changes).unwrap();
        apply_changes(&mut nodes, &prepared).unwrap()
    };
    txn.commit().unwrap();
    out
}

fn stored_root(db: &Database) -> Hash {
    let txn = db.begin_read().unwrap();
    match txn.open_table(TREE_NODES) {
        Ok(nodes) => root_hash(&nodes).unwrap(),
        Err(redb::TableError::TableDoesNotExist(_)) => EMPTY_HASH,
        Err(e) => panic!("{e}"),
    }
}

fn dump(db: &Database) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let txn = db.begin_read().unwrap();
    let nodes = txn.open_table(TREE_NODES).unwrap();
    nodes
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

fn node_count(db: &Database) -> u64 {
    let txn = db.begin_read().unwrap();
    txn.open_table(TREE_NODES).unwrap().len().unwrap()
}

/// The exact node table a canonical tree of `model` consists of.
fn canonical_nodes(model: &Model) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn build(
        depth: usize,
        prefix: Hash,
        leaves: &[(Hash, Hash)],
        out: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Hash {
        let node = match leaves {
            [] => return EMPTY_HASH,
            [(key_path, value_hash)] => Node::Leaf { key_path: *key_path, value_hash: *value_hash },
            _ => {
                let mid = leaves.partition_point(|(p, _)| !bit(p, depth));
                let (l, r) = leaves.split_at(mid);
                let left = build(depth + 1, prefix, l, out);
                let right = build(depth + 1, with_bit_set(&prefix, depth), r, out);
                Node::Internal { left, right }
            }
        };
        out.insert(position(depth, &prefix).to_vec(), node.encode().unwrap().to_vec());
        node.hash()
    }
    let mut leaves: Vec<(Hash, Hash)> =
        model.iter().map(|(k, v)| (key_path(k), value_hash(v))).collect();
    leaves.sort();
    let mut out = BTreeMap::new();
    build(0, EMPTY_HASH, &leaves, &mut out);
    out
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
}

#[test]
fn single_insert_is_a_root_leaf() {
    let db = mem_db();
    let (root, _) = apply(&db, &[set(b"a", b"1")]);
    assert_eq!(root, compute_root(vec![(b"a".to_vec(), b"1".to_vec())]));
    assert_eq!(stored_root(&db), root);
    assert_eq!(node_count(&db), 1);
}

#[test]
fn deleting_one_of_two_moves_the_survivor_to_the_root() {
    let db = mem_db();
    apply(&db, &[set(b"a", b"1"), set(b"b", b"2")]);
    assert!(node_count(&db) >= 3);
    let (root, _) = apply(&db, &[del(b"a")]);
    assert_eq!(root, compute_root(vec![(b"b".to_vec(), b"2".to_vec())]));
    assert_eq!(node_count(&db), 1);
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
    assert_eq!(node_count(&db), 0);
}

#[test]
fn cost_grows_with_changes_not_state_size() {
    let db = mem_db();
    let all: Vec<_> = (0u32..4096).map(|i| set(&i.to_be_bytes(), b"v")).collect();
    apply(&db, &all);
    let (_, one) = apply(&db, &[set(&5u32.to_be_bytes(), b"w")]);
    // A path in a tree of 4096 random keys is ~12-30 nodes deep.
    assert!(one.reads <= 40 && one.writes <= 40, "{one:?}");
    let (_, del_one) = apply(&db, &[del(&6u32.to_be_bytes())]);
    assert!(del_one.reads <= 42 && del_one.writes <= 40, "{del_one:?}");
    let ten: Vec<_> = (100u32..110).map(|i| set(&i.to_be_bytes(), b"w")).collect();
    let (_, batch) = apply(&db, &ten);
    assert!(batch.reads <= 10 * 40 && batch.writes <= 10 * 40, "{batch:?}");
    // Shared upper nodes are read once: a batch costs less than its changes one by one.
    let db2 = mem_db();
    apply(&db2, &all);
    let singly: usize = ten.iter().map(|c| apply(&db2, std::slice::from_ref(c)).1.reads).sum();
    assert!(batch.reads < singly, "batch {} vs singly {singly}", batch.reads);
}

#[test]
fn proofs_of_present_and_absent_keys() {
    let db = mem_db();
    let changes: Vec<_> = (0u8..20).map(|i| set(&[i], &[i])).collect();
    let (root, _) = apply(&db, &changes);
    let txn = db.begin_read().unwrap();
    let nodes = txn.open_table(TREE_NODES).unwrap();
    for i in 0u8..40 {
        let proof = prove(&nodes, &[i]).unwrap();
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

#[test]
fn corrupt_child_is_an_error_not_a_panic() {
    let db = mem_db();
    apply(&db, &[set(b"a", b"1"), set(b"b", b"2"), set(b"c", b"3")]);
    let victim = dump(&db).into_keys().find(|k| k[..2] != [0, 0]).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut nodes = txn.open_table(TREE_NODES).unwrap();
        nodes.insert(&victim[..], &[0xee_u8; 65][..]).unwrap();
    }
    txn.commit().unwrap();
    let txn = db.begin_write().unwrap();
    let mut nodes = txn.open_table(TREE_NODES).unwrap();
    let errs = [b"a", b"b", b"c"].iter().filter(|k| prove(&nodes, &k[..]).is_err()).count();
    assert!(errs > 0);
    let changes = [set(b"a", b"9"), set(b"b", b"9"), set(b"c", b"9")];
    let prepared = prepare_changes(&changes).unwrap();
    assert!(matches!(apply_changes(&mut nodes, &prepared), Err(StorageError::Corrupt { .. })));
}

fn batches() -> impl Strategy<Value = Vec<Vec<(u8, Option<u8>)>>> {
    let change = (0u8..24, prop::option::weighted(0.65, 0u8..4));
    prop::collection::vec(prop::collection::vec(change, 0..16), 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After every batch the node table is exactly the canonical tree of the model.
    #[test]
    fn incremental_tree_equals_canonical_tree(batches in batches()) {
        let db = mem_db();
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
            let (root, _) = apply(&db, &changes);
            prop_assert_eq!(root, compute_root(model.clone()));
            prop_assert_eq!(stored_root(&db), root);
            prop_assert_eq!(dump(&db), canonical_nodes(&model));
        }
    }
}
