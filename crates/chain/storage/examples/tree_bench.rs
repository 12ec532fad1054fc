//! Block commit benchmark of the store alone: a state of `KEYS` random keys, then `BLOCKS`
//! blocks of `CHANGES` changes each (mostly updates, some inserts and deletes), timing
//! `apply_state_changes` and `insert_block` + `commit` separately.
//!
//! `cargo run --release -p umbra-chain-storage --example tree_bench -- [KEYS] [BLOCKS] [CHANGES]`
//!
//! With `COPY=1` the timed blocks run on a copy of the database made after genesis (as
//! `umbra bench computation` does); with `EACH=1` every block's times are printed.

use std::time::{Duration, Instant};

use umbra_chain_storage::{key_path, Store};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Storage key number `i`: a module-like prefix and a hash, like the runtime's map keys.
fn key(i: u64) -> Vec<u8> {
    let mut key = b"bench/map/".to_vec();
    key.extend_from_slice(&key_path(&i.to_le_bytes()));
    key
}

fn value(rng: &mut XorShift) -> Vec<u8> {
    let len = 64 + (rng.next() % 64) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Bytes this process has passed to write calls so far.
fn written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines().find_map(|l| l.strip_prefix("wchar:").and_then(|n| n.trim().parse().ok()))
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let keys = args.first().copied().unwrap_or(200_000);
    let blocks = args.get(1).copied().unwrap_or(50);
    let changes = args.get(2).copied().unwrap_or(700);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain.redb");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let setup = Instant::now();
    {
        let store = Store::open(&path).expect("open");
        let genesis: Vec<_> = (0..keys).map(|i| (key(i), Some(value(&mut rng)))).collect();
        let mut w = store.begin_block().expect("begin");
        w.apply_state_changes(&genesis).expect("apply");
        // Like the node, the genesis block's state-change set is the whole genesis state.
        let encoded: Vec<u8> =
            genesis.iter().flat_map(|(k, v)| k.iter().chain(v.iter().flatten()).copied()).collect();
        w.insert_block(0, [0; 32], b"genesis", b"", &encoded).expect("insert");
        w.commit().expect("commit");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "setup: {keys} keys in {:.1} s, file {} MiB",
        setup.elapsed().as_secs_f64(),
        size >> 20
    );
    // Reopened, as a node importing after a restart (from a copy with COPY=1, as the node bench
    // does).
    let path = if std::env::var_os("COPY").is_some() {
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).expect("copy");
        copy
    } else {
        path
    };
    let reopen = Instant::now();
    let store = Store::open(&path).expect("reopen");
    println!("reopen: {:.1} ms", reopen.elapsed().as_secs_f64() * 1e3);
    let mut next_key = keys;
    let (mut apply, mut commit, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let written_before = written();
    for number in 1..=blocks {
        let batch: Vec<_> = (0..changes)
            .map(|_| match rng.next() % 100 {
                0..=89 => (key(rng.next() % next_key), Some(value(&mut rng))),
                90..=96 => {
                    next_key += 1;
                    (key(next_key - 1), Some(value(&mut rng)))
                }
                _ => (key(rng.next() % next_key), None),
            })
            .collect();
        let t0 = Instant::now();
        let mut w = store.begin_block().expect("begin");
        w.apply_state_changes(&batch).expect("apply");
        let t1 = Instant::now();
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&number.to_be_bytes());
        w.insert_block(number, hash, &[0u8; 20_000], &[0u8; 5_000], &[0u8; 50_000])
            .expect("insert");
        w.commit().expect("commit");
        let t2 = Instant::now();
        if std::env::var_os("EACH").is_some() {
            println!("block {number}: apply {:?} commit {:?}", t1 - t0, t2 - t1);
        }
        apply.push(t1 - t0);
        commit.push(t2 - t1);
        total.push(t2 - t0);
    }
    println!("written per block: {} KiB", (written() - written_before) / blocks.max(1) / 1024);
    for (name, mut times) in [("apply", apply), ("commit", commit), ("total", total)] {
        times.sort();
        println!(
            "{name:>6}: p50 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
    }
}
