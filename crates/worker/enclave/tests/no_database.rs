//! The enclave is trusted code with no I/O: it must not link a database. Its state commitment
//! comes from `umbra-state-tree`, never from `umbra-chain-storage` (which links redb).

use std::process::Command;

#[test]
fn the_enclave_does_not_link_redb_or_the_chain_store() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "umbra-enclave", "-e", "normal", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(tree.lines().any(|l| l.starts_with("umbra-state-tree ")), "{tree}");
    for forbidden in ["redb ", "umbra-chain-storage "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "the enclave links {forbidden}:\n{tree}"
        );
    }
}
