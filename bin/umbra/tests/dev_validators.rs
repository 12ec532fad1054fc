//! `umbra dev --validators 4` (docs/CONSENSUS.md): the whole local network on four BFT validator
//! processes — the workers register and compute, the demo contracts and apps deploy, every
//! validator serves the same blocks with commit certificates of the four-validator set, and a
//! transfer submitted to another validator lands. Ctrl-C (SIGTERM) stops it all.

mod common;
mod devnet;

use std::time::Duration;

use common::{http_rpc, wait_for, BOB};
use devnet::DevNet;
use parity_scale_codec::Decode;
use serde_json::json;
use umbra_primitives::{
    finality::{CommitCertificate, ValidatorSet},
    H256,
};

#[test]
fn umbra_dev_runs_the_network_on_four_validators() {
    let dir = tempfile::Builder::new().prefix("umbra-it-devbft-").tempdir().expect("tempdir");
    let base = dir.path().join("net");
    let mut net = DevNet::start_bft(&base, 2, 4);
    let registered = net.wait_all_computing(Duration::from_secs(240));
    assert_eq!(registered.len(), 2, "{registered:?}");
    wait_for(Duration::from_secs(400), "the demo apps", || {
        net.assert_running();
        net.log().contains("demo apps (docs/APPS.md)").then_some(())
    });

    let set: ValidatorSet =
        serde_json::from_value(net.rpc("umbra_validators", json!([])).expect("validator set"))
            .expect("a validator set");
    assert_eq!(set.validators.len(), 4);
    let genesis: H256 =
        net.rpc("chain_getBlockHash", json!([0])).unwrap().as_str().unwrap().parse().unwrap();
    let at = |i: u16, method: &str, n: u64| {
        http_rpc(net.rpc_port + i, method, json!([n])).ok().and_then(|r| r.get("result").cloned())
    };
    for n in [1u64, 5, 20] {
        let hashes: Vec<String> = (0..4)
            .map(|i| {
                wait_for(Duration::from_secs(30), &format!("block #{n} on validator {i}"), || {
                    at(i, "chain_getBlockHash", n)?.as_str().map(str::to_string)
                })
            })
            .collect();
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "#{n}: {hashes:?}");
        let cert = at(3, "umbra_justification", n).expect("a certificate");
        let bytes = hex::decode(cert.as_str().unwrap().trim_start_matches("0x")).unwrap();
        let cert = CommitCertificate::decode(&mut &bytes[..]).unwrap();
        let power = cert.verify(&genesis, n, &hashes[0].parse().unwrap(), &set).unwrap();
        assert!(power >= 3, "#{n} finalized by {power} of 4");
    }

    // A transfer submitted to validator 3 lands (and every validator sees it).
    let rpc3 = format!("ws://127.0.0.1:{}", net.rpc_port + 3);
    let before = net.rpc("umbra_account", json!([BOB])).unwrap()["free"].clone();
    common::umbra(&["transfer", "--from", "//Eve", "--to", BOB, "--amount", "1", "--rpc", &rpc3])
        .ok();
    wait_for(Duration::from_secs(30), "the transfer seen through validator 0", || {
        (net.rpc("umbra_account", json!([BOB]))?["free"] != before).then_some(())
    });

    let status = net.terminate();
    assert!(status.success(), "umbra dev stops cleanly on SIGTERM: {status}");
}
