//! The chain spec: the chain's name and id and its genesis configuration, exportable as JSON and
//! loadable with `umbra node --chain FILE`. The genesis block is a pure function of it.

use std::path::Path;

use anyhow::Context;
use parity_scale_codec::Encode;
use serde::{Deserialize, Serialize};
use umbra_primitives::{Block, Header, H256};
use umbra_runtime::{genesis::GenesisState, GenesisConfig};

/// A chain specification.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainSpec {
    /// Human-readable chain name (`system_chain`).
    pub name: String,
    /// Short identifier.
    pub id: String,
    /// Timestamp of the genesis block, ms since the Unix epoch.
    pub genesis_timestamp: u64,
    /// The genesis state.
    pub genesis: GenesisConfig,
}

impl ChainSpec {
    /// The built-in development chain.
    pub fn dev() -> Self {
        ChainSpec {
            name: "Umbra Development".into(),
            id: "umbra_dev".into(),
            genesis_timestamp: 0,
            genesis: GenesisConfig::dev(),
        }
    }

    /// The built-in production-like local testnet: the dev accounts and authority, but insecure
    /// (simulated) platforms are forbidden for good, so only SGX/TDX DCAP workers whose
    /// measurement governance allows can register.
    pub fn local() -> Self {
        ChainSpec {
            name: "Umbra Local Testnet".into(),
            id: "umbra_local".into(),
            genesis_timestamp: 0,
            genesis: GenesisConfig::local(),
        }
    }

    /// A built-in spec by name: `dev` or `local`.
    pub fn by_name(name: &str) -> anyhow::Result<Self> {
        match name {
            "dev" => Ok(Self::dev()),
            "local" => Ok(Self::local()),
            other => anyhow::bail!("unknown chain `{other}` (built in: dev, local)"),
        }
    }

    /// This spec run by `n` BFT validators, the first `n` dev accounts (1 ≤ n ≤ 6; see
    /// `GenesisConfig::dev_validators`); its id and name say so, so its genesis differs.
    pub fn with_dev_validators(mut self, n: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=umbra_runtime::genesis::DEV_ACCOUNTS.len()).contains(&n),
            "--validators must be between 1 and {}",
            umbra_runtime::genesis::DEV_ACCOUNTS.len()
        );
        let bft = GenesisConfig::dev_validators(n);
        self.genesis.authorities = bft.authorities;
        self.genesis.validators = bft.validators;
        self.id = format!("{}_bft{n}", self.id);
        self.name = format!("{} ({n} validators)", self.name);
        Ok(self)
    }

    /// Loads and validates a chain spec from a JSON file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read chain spec {}", path.display()))?;
        let spec: ChainSpec = serde_json::from_str(&text)
            .with_context(|| format!("invalid chain spec {}", path.display()))?;
        spec.genesis
            .validate()
            .with_context(|| format!("invalid genesis in {}", path.display()))?;
        Ok(spec)
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("chain spec serializes")
    }

    /// The genesis state (sorted key/value pairs) and the genesis block.
    pub fn genesis(&self) -> anyhow::Result<(GenesisState, Block)> {
        let state = self.genesis.build().context("cannot build genesis state")?;
        let state_root = H256(umbra_chain_storage::compute_root(state.iter().cloned()));
        let header = Header::genesis(state_root, self.genesis_timestamp);
        Ok((state, Block { header, extrinsics: Vec::new() }))
    }

    /// The genesis hash of this spec.
    pub fn genesis_hash(&self) -> anyhow::Result<H256> {
        Ok(self.genesis()?.1.hash())
    }

    /// The spec encoded for storage beside the chain.
    pub fn encode_json(&self) -> Vec<u8> {
        self.to_json().into_bytes().encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_then_load_gives_the_same_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        std::fs::write(&path, ChainSpec::dev().to_json()).unwrap();
        let loaded = ChainSpec::load(&path).unwrap();
        assert_eq!(loaded, ChainSpec::dev());
        assert_eq!(loaded.genesis_hash().unwrap(), ChainSpec::dev().genesis_hash().unwrap());
    }

    #[test]
    fn local_spec_builds_and_refuses_simulated_platforms() {
        let local = ChainSpec::by_name("local").unwrap();
        assert_eq!(local, ChainSpec::local());
        assert!(!local.genesis.registry.allow_insecure_platforms);
        assert_ne!(local.genesis_hash().unwrap(), ChainSpec::dev().genesis_hash().unwrap());
        assert!(ChainSpec::by_name("main").is_err());
        // A local spec edited to allow the simulated platform does not load.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.json");
        let mut bad = ChainSpec::local();
        bad.genesis.registry.policy = ChainSpec::dev().genesis.registry.policy;
        std::fs::write(&path, bad.to_json()).unwrap();
        let err = format!("{:#}", ChainSpec::load(&path).unwrap_err());
        assert!(err.contains("forbids insecure platforms"), "{err}");
        assert!(bad.genesis().is_err());
    }

    #[test]
    fn genesis_depends_on_the_spec() {
        let mut other = ChainSpec::dev();
        other.genesis.balances.pop();
        assert_ne!(other.genesis_hash().unwrap(), ChainSpec::dev().genesis_hash().unwrap());
    }

    #[test]
    fn cannot_load_a_broken_spec() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        std::fs::write(&path, "{\"name\": 1}").unwrap();
        assert!(ChainSpec::load(&path).is_err());
        let mut bad = ChainSpec::dev();
        bad.genesis.authorities.clear();
        std::fs::write(&path, bad.to_json()).unwrap();
        let err = format!("{:#}", ChainSpec::load(&path).unwrap_err());
        assert!(err.contains("authority"), "{err}");
        assert!(ChainSpec::load(&dir.path().join("missing.json")).is_err());
    }
}
