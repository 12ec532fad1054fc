//! BFT consensus with real processes: four `umbra node --validator-key` processes on loopback,
//! each with its own database, finalizing blocks through malachite. Faults: SIGKILL one (blocks
//! keep finalizing, transfers land), SIGKILL a second (the chain halts without forking),
//! restart one (it catches up from its peers and the chain resumes), a validator started from an
//! empty database and a late full node sync to the head; at the end every node's blocks agree at
//! every height and every stored certificate verifies.
//!
//! Needs the `bft` feature (on by default): `cargo test -p umbra --test bft`.

#![cfg(feature = "bft")]

mod common;

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{bin, free_port, http_rpc, umbra, wait_for, BOB};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use umbra_primitives::{
    finality::{CommitCertificate, ValidatorSet},
    H256,
};

const URIS: [&str; 4] = ["//Alice", "//Bob", "//Charlie", "//Dave"];
/// //Dave's account.
const DAVE: &str = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy";

struct Proc {
    name: String,
    root: PathBuf,
    args: Vec<String>,
    rpc: u16,
    child: Option<Child>,
    starts: u32,
}

impl Proc {
    fn spawn(&mut self) {
        self.starts += 1;
        let log = File::create(self.root.join(format!("{}-{}.log", self.name, self.starts)))
            .expect("log file");
        let child = Command::new(bin())
            .args(&self.args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn umbra node");
        self.child = Some(child);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join(format!("{}-{}.log", self.name, self.starts)))
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn rpc(&self, method: &str, params: Value) -> Option<Value> {
        let r = http_rpc(self.rpc, method, params).ok()?;
        r.get("result").cloned()
    }

    fn head(&self) -> Option<u64> {
        self.rpc("chain_getHeader", json!([]))?["number"].as_u64()
    }

    fn hash(&self, n: u64) -> Option<String> {
        self.rpc("chain_getBlockHash", json!([n]))?.as_str().map(str::to_string)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Net {
    dir: tempfile::TempDir,
    spec: PathBuf,
    p2p: Vec<u16>,
    procs: Vec<Proc>,
}

impl Net {
    fn new() -> Net {
        let dir = tempfile::Builder::new().prefix("umbra-bft-").tempdir().unwrap();
        let spec = dir.path().join("spec.json");
        let out = Command::new(bin())
            .args(["build-spec", "--chain", "dev", "--validators", "4"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&spec, &out.stdout).unwrap();
        let p2p: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let mut net = Net { dir, spec, p2p, procs: Vec::new() };
        for (i, uri) in URIS.iter().enumerate() {
            let args = net.args(&format!("v{i}"), Some(uri), i);
            net.add(&format!("v{i}"), args);
        }
        net
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn args(&self, name: &str, key: Option<&str>, p2p_index: usize) -> (Vec<String>, u16) {
        let rpc = free_port();
        let p2p = self.p2p.get(p2p_index).copied().unwrap_or_else(free_port);
        let boot: Vec<String> = self
            .p2p
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != p2p_index)
            .map(|(_, p)| format!("127.0.0.1:{p}"))
            .collect();
        let mut args: Vec<String> = vec![
            "node".into(),
            "--chain".into(),
            self.spec.display().to_string(),
            "--base-path".into(),
            self.root().join(name).display().to_string(),
            "--rpc-addr".into(),
            format!("127.0.0.1:{rpc}"),
            "--p2p-addr".into(),
            format!("127.0.0.1:{p2p}"),
            "--bootnodes".into(),
            boot.join(","),
            "--block-time-ms".into(),
            "200".into(),
        ];
        if let Some(k) = key {
            args.extend(["--validator-key".into(), k.into()]);
        }
        (args, rpc)
    }

    fn add(&mut self, name: &str, (args, rpc): (Vec<String>, u16)) {
        let mut p = Proc {
            name: name.into(),
            root: self.root().to_path_buf(),
            args,
            rpc,
            child: None,
            starts: 0,
        };
        p.spawn();
        self.procs.push(p);
    }

    fn live(&self) -> impl Iterator<Item = &Proc> {
        self.procs.iter().filter(|p| p.child.is_some())
    }

    /// The highest head any live node reports.
    fn max_head(&self) -> u64 {
        self.live().filter_map(Proc::head).max().unwrap_or(0)
    }

    fn wait_all_at(&self, n: u64, what: &str) {
        wait_for(Duration::from_secs(120), what, || {
            self.live().all(|p| p.head().is_some_and(|h| h >= n)).then_some(())
        });
    }

    fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| {
                let log = p.log();
                let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                format!("---- {} (reversed tail)\n{tail}", p.name)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Copies a directory tree (a node's data directory while the node is stopped).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn transfer(p: &Proc, amount: &str) {
    let rpc = format!("ws://127.0.0.1:{}", p.rpc);
    umbra(&["transfer", "--from", "//Eve", "--to", BOB, "--amount", amount, "--rpc", &rpc]).ok();
}

#[test]
fn four_validators_finalize_through_faults_and_never_fork() {
    let mut net = Net::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&mut net)));
    if let Err(e) = result {
        eprintln!("{}", net.logs());
        let _ = net.dir.keep();
        std::panic::resume_unwind(e);
    }
}

fn scenario(net: &mut Net) {
    net.wait_all_at(3, "four validators finalizing block #3");

    // Certificates are stored with the blocks and served over RPC; they verify against the
    // validator set the node serves, for this chain's genesis.
    let v0 = &net.procs[0];
    let set: ValidatorSet = serde_json::from_value(v0.rpc("umbra_validators", json!([])).unwrap())
        .expect("validator set");
    assert_eq!(set.validators.len(), 4);
    let genesis: H256 = v0.hash(0).unwrap().parse().unwrap();
    for n in 1..=3u64 {
        let hex = v0.rpc("umbra_justification", json!([n])).unwrap();
        let bytes = hex::decode(hex.as_str().unwrap().trim_start_matches("0x")).unwrap();
        let cert = CommitCertificate::decode(&mut &bytes[..]).unwrap();
        let hash: H256 = v0.hash(n).unwrap().parse().unwrap();
        let power = cert.verify(&genesis, n, &hash, &set).expect("certificate verifies");
        assert!(power >= 3, "block #{n} finalized by {power} of 4");
    }

    // SIGKILL one validator: blocks keep finalizing and a transfer lands.
    net.procs[3].kill();
    let h = net.max_head();
    net.wait_all_at(h + 3, "3 of 4 validators finalizing");
    transfer(&net.procs[0], "1");

    // SIGKILL a second: no quorum, the chain halts (and does not fork).
    net.procs[2].kill();
    std::thread::sleep(Duration::from_secs(2));
    let halted = net.max_head();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(net.max_head(), halted, "2 of 4 validators must not finalize anything");

    // Restart one on its database: it catches up from its peers and the chain resumes.
    net.procs[2].spawn();
    net.wait_all_at(halted + 3, "the chain resuming after a validator restarts");

    // A validator started from an empty database syncs to the head and votes again.
    std::fs::remove_dir_all(net.root().join("v3")).unwrap();
    net.procs[3].spawn();
    let h = net.max_head();
    net.wait_all_at(h + 2, "a validator restarted from an empty database syncing");

    // A full node (no validator key) started late follows the chain and serves it.
    let args = net.args("full", None, usize::MAX);
    net.add("full", args);
    let h = net.max_head();
    net.wait_all_at(h + 2, "a late full node syncing");
    transfer(&net.procs[4], "2");

    // An equivocating validator: //Dave's key also runs in a second process (an operator's
    // misconfigured fail-over). When Dave proposes, each copy proposes and prevotes its own block
    // (the seal is randomized, so the two differ): two conflicting signed votes of one key. The
    // honest nodes detect them and record the evidence on chain; the chain keeps finalizing.
    // The copy starts from Dave's data directory (a restored backup), so both are current at
    // once.
    net.procs[3].kill();
    copy_dir(&net.root().join("v3"), &net.root().join("dup"));
    // A second machine has its own network identity (its peer id), only the validator key and
    // the data are Dave's.
    std::fs::remove_file(net.root().join("dup/bft/node-key")).unwrap();
    net.procs[3].spawn();
    let from = net.max_head();
    let args = net.args("dup", Some(URIS[3]), usize::MAX);
    net.add("dup", args);
    let mut next = from;
    let evidence = wait_for(Duration::from_secs(240), "equivocation evidence on chain", || {
        let p = &net.procs[0];
        let head = p.head()?;
        while next <= head {
            let events = p.rpc("umbra_events", json!([p.hash(next)?]))?;
            next += 1;
            let found = events
                .as_array()?
                .iter()
                .find(|e| e["event"]["Governance"].get("EquivocationRecorded").is_some());
            if let Some(e) = found {
                return Some(e["event"]["Governance"]["EquivocationRecorded"].clone());
            }
        }
        None
    });
    assert_eq!(evidence["account"], json!(DAVE), "the evidence names Dave: {evidence}");
    let dave = set.validators.iter().find(|v| v.account.to_string() == DAVE).unwrap();
    assert_eq!(
        evidence["validator"].as_str().map(|k| k.trim_start_matches("0x").to_string()),
        Some(hex::encode(dave.consensus_key)),
        "and his consensus key: {evidence}"
    );
    // The duplicate is stopped (an operator would fix the fail-over); the chain goes on.
    net.procs[5].kill();
    let h = net.max_head();
    net.wait_all_at(h + 2, "finalizing after the equivocation");

    // Governance changes the set at the next epoch boundary: the council (//Alice) drops Dave,
    // with the entries the operators print (`umbra validators key`).
    let entries: Vec<String> = URIS[..3]
        .iter()
        .map(|u| umbra(&["validators", "key", "--validator-key", u]).ok().to_string())
        .collect();
    let mut args = vec!["validators", "set", "--from", "//Alice"];
    for e in &entries {
        args.extend(["--validator", e.trim()]);
    }
    let rpc0 = format!("ws://127.0.0.1:{}", net.procs[0].rpc);
    args.extend(["--rpc", &rpc0]);
    umbra(&args).ok();
    let new_set: ValidatorSet = wait_for(Duration::from_secs(60), "the new validator set", || {
        let v = net.procs[0].rpc("umbra_validators", json!([]))?;
        let s: ValidatorSet = serde_json::from_value(v).ok()?;
        (s.set_id == 1).then_some(s)
    });
    assert_eq!(new_set.validators.len(), 3);
    assert!(new_set.validators.iter().all(|v| v.account.to_string() != DAVE));
    let changed_at = (1..=net.max_head())
        .find(|n| {
            let events = net.procs[0].rpc("umbra_events", json!([net.procs[0].hash(*n)])).unwrap();
            events.to_string().contains("ValidatorSetChanged")
        })
        .expect("a block with the ValidatorSetChanged event");
    assert_eq!(changed_at % 10, 0, "at an epoch boundary");
    let h = net.max_head();
    net.wait_all_at(h + 2, "finalizing under the new set");
    // Dave's votes no longer count: with Charlie down, Alice and Bob are 2 of 3 (not a quorum)
    // although with Dave they would be 3 of the old 4. The chain halts, and resumes with Charlie.
    net.procs[2].kill();
    std::thread::sleep(Duration::from_secs(2));
    let halted = net.max_head();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(net.max_head(), halted, "Dave's votes must not make a quorum of the new set");
    net.procs[2].spawn();
    net.wait_all_at(halted + 3, "the chain resuming under the new set");

    // No two nodes hold different blocks at one height, and every certificate verifies against
    // the set in force for its block (the new set from the block after the change on).
    let heads: Vec<u64> = net.live().map(|p| p.head().unwrap()).collect();
    let top = *heads.iter().min().unwrap();
    for n in 1..=top {
        let hashes: Vec<String> = net.live().map(|p| p.hash(n).unwrap()).collect();
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "fork at #{n}: {hashes:?}");
        let hash: H256 = hashes[0].parse().unwrap();
        let in_force = if n > changed_at { &new_set } else { &set };
        for p in net.live() {
            let hex = p.rpc("umbra_justification", json!([n])).unwrap();
            let bytes = hex::decode(hex.as_str().unwrap().trim_start_matches("0x")).unwrap();
            let cert = CommitCertificate::decode(&mut &bytes[..]).unwrap();
            cert.verify(&genesis, n, &hash, in_force)
                .unwrap_or_else(|e| panic!("{}: #{n}: {e}", p.name));
        }
    }
}
