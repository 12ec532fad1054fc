//! `umbra dev --validators N`: the chain run by N validator processes (malachite BFT), each
//! with its own database, RPC port and libp2p port on 127.0.0.1.

use std::path::Path;

use anyhow::Context;
use umbra_node::ChainSpec;

/// The first libp2p port; validator `i` listens on `P2P_BASE_PORT + i`.
pub(crate) const P2P_BASE_PORT: u16 = 30333;

/// Writes the BFT dev spec for `n` validators under `base_path`; returns its path.
pub(crate) fn write_spec(base_path: &Path, n: usize) -> anyhow::Result<std::path::PathBuf> {
    let spec = ChainSpec::dev().with_dev_validators(n)?;
    let path = base_path.join("chain-spec.json");
    std::fs::write(&path, spec.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The command line of validator `i` of `n` (account `//Alice`, `//Bob`, … in order).
pub(crate) fn validator_args(
    spec: &Path,
    base_path: &Path,
    i: usize,
    n: usize,
    rpc_port: u16,
    p2p_base: u16,
    block_time_ms: Option<u64>,
) -> Vec<String> {
    let key = umbra_runtime::genesis::DEV_ACCOUNTS[i];
    let port = |j: usize| p2p_base.saturating_add(j as u16);
    let bootnodes: Vec<String> =
        (0..n).filter(|j| *j != i).map(|j| format!("127.0.0.1:{}", port(j))).collect();
    let mut args = vec![
        "node".to_string(),
        "--chain".into(),
        spec.display().to_string(),
        "--base-path".into(),
        base_path.join(format!("validator-{i}")).display().to_string(),
        "--rpc-addr".into(),
        format!("127.0.0.1:{}", rpc_port.saturating_add(i as u16)),
        "--validator-key".into(),
        key.into(),
        "--p2p-addr".into(),
        format!("127.0.0.1:{}", port(i)),
    ];
    if !bootnodes.is_empty() {
        args.extend(["--bootnodes".into(), bootnodes.join(",")]);
    }
    if let Some(t) = block_time_ms {
        args.extend(["--block-time-ms".into(), t.to_string()]);
    }
    args
}
