//! Model-based property test of the public API: random batches of inserts, updates and
//! deletes over a small key space, each committed as a block, checked against a `BTreeMap`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use umbra_chain_storage::{compute_root, verify_proof, Store};

type Batch = Vec<(u8, Option<u8>)>;

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn value(v: u8) -> Vec<u8> {
    vec![v; 1 + (v as usize % 3)]
}

fn batches() -> impl Strategy<Value = Vec<Batch>> {
    // 16 keys and 4 values: batches collide on keys, delete present and absent keys and
    // rewrite keys with the value they already have.
    let change = (0u8..16, prop::option::weighted(0.6, 0u8..4));
    prop::collection::vec(prop::collection::vec(change, 0..12), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn committed_blocks_match_the_model(batches in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("chain.redb")).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (number, batch) in batches.iter().enumerate() {
            let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                batch.iter().map(|&(k, v)| (key(k), v.map(value))).collect();
            for (k, v) in &changes {
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
            let mut writer = store.begin_block().unwrap();
            let root = writer.apply_state_changes(&changes).unwrap();
            let number = number as u64;
            let hash = [number as u8; 32];
            writer.insert_block(number, hash, &number.to_le_bytes(), &[], &[]).unwrap();
            writer.commit().unwrap();

            let expected = compute_root(model.clone());
            prop_assert_eq!(root, expected);
            prop_assert_eq!(store.state_root().unwrap(), expected);
            prop_assert_eq!(store.head().unwrap(), Some((number, hash)));
            let snapshot = store.snapshot().unwrap();
            let stored: BTreeMap<_, _> = snapshot.iter_prefix(b"").unwrap().into_iter().collect();
            prop_assert_eq!(&stored, &model);
            // Proofs for a sample of present and absent keys (every third key, shifted per block).
            for k in (number as u8 % 3..16).step_by(3) {
                let k = key(k);
                let proof = store.prove(&k).unwrap();
                let v = model.get(&k).map(Vec::as_slice);
                prop_assert!(verify_proof(&expected, &k, v, &proof));
                let wrong = match v {
                    Some(_) => None,
                    None => Some(&b"x"[..]),
                };
                prop_assert!(!verify_proof(&expected, &k, wrong, &proof));
            }
        }
    }

    #[test]
    fn root_is_independent_of_batching(
        entries in prop::collection::btree_map(0u8..40, 0u8..4, 0..30),
        cuts in prop::collection::vec(0usize..30, 0..4),
    ) {
        let entries: Vec<_> = entries.into_iter().map(|(k, v)| (key(k), value(v))).collect();
        let expected = compute_root(entries.clone());
        // Insert the same set in reverse order, split into batches at `cuts`.
        let mut reversed: Vec<_> = entries.iter().rev().cloned().map(|(k, v)| (k, Some(v))).collect();
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(reversed.len())).collect();
        bounds.sort_unstable();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("chain.redb")).unwrap();
        let mut start = 0;
        let ends = bounds.into_iter().chain(std::iter::once(reversed.len()));
        for (number, end) in ends.enumerate() {
            let batch: Vec<_> = reversed.drain(..end - start).collect();
            start = end;
            let number = number as u64;
            let mut writer = store.begin_block().unwrap();
            writer.apply_state_changes(&batch).unwrap();
            writer.insert_block(number, [number as u8; 32], &[], &[], &[]).unwrap();
            writer.commit().unwrap();
        }
        prop_assert_eq!(store.state_root().unwrap(), expected);
    }
}
