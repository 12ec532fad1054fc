//! The genesis configuration (part of the chain spec) and the initial state it builds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use umbra_primitives::{
    serde_helpers::{account_ss58, balance_str, bytes_hex},
    AccountId, Balance, Pair, UNITS,
};

use crate::{
    balances,
    computation::ComputationParams,
    contracts::ContractsParams,
    ext::Ext,
    governance::{self, Parameters},
    registry::{self, AttestationPolicy},
    state::{EmptyState, Overlay},
    system,
};

/// The genesis state: sorted key/value pairs.
pub type GenesisState = Vec<(Vec<u8>, Vec<u8>)>;

/// An account funded at genesis.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Its address.
    #[serde(with = "account_ss58")]
    pub address: AccountId,
    /// Its free balance, in the smallest unit.
    #[serde(with = "balance_str")]
    pub balance: Balance,
}

/// An account address in the chain spec (SS58 in JSON).
#[derive(
    Clone,
    PartialEq,
    Eq,
    Debug,
    Serialize,
    Deserialize,
    parity_scale_codec::Encode,
    parity_scale_codec::Decode,
)]
#[serde(transparent)]
pub struct Authority(#[serde(with = "account_ss58")] pub AccountId);

/// Everything the first state holds.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisConfig {
    /// Keys allowed to seal blocks.
    pub authorities: Vec<Authority>,
    /// The council (sudo) key.
    #[serde(with = "account_ss58")]
    pub council: AccountId,
    /// Funded accounts.
    pub balances: Vec<GenesisAccount>,
    /// Chain parameters.
    pub parameters: Parameters,
    /// Which workers may register.
    pub registry: RegistryGenesis,
    /// Computation economics.
    pub computation: ComputationParams,
    /// Contract assignment.
    pub contracts: ContractsParams,
    /// Lending vault.
    pub vault: crate::vault::VaultParams,
    /// BFT validators (malachite consensus). Empty: a single-authority chain (`--dev`). When
    /// set, the authorities must be exactly the validators' accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<umbra_primitives::finality::Validator>,
}

/// The registry's genesis: whether insecure platforms may ever register, the attestation
/// policy and the allowed enclave measurements.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryGenesis {
    /// Whether this chain is a development chain that may accept the simulated (insecure)
    /// platform. False declares the chain production-like: genesis refuses a policy allowing
    /// simulated quotes and governance can never enable them. Stored on chain, never changed.
    #[serde(default)]
    pub allow_insecure_platforms: bool,
    /// Accepted attestation types and vendor roots.
    pub policy: AttestationPolicy,
    /// Allowed enclave measurements, hex.
    pub measurements: Vec<Measurement>,
}

/// A 32-byte enclave measurement in JSON (hex).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Measurement(#[serde(with = "bytes_hex")] pub [u8; 32]);

impl RegistryGenesis {
    /// Development: insecure platforms allowed, the simulated platform certified by the
    /// well-known dev vendor root, SGX and TDX DCAP allowed, and this build's simulated enclave
    /// measurement; see [`RegistryGenesis::secure_policy`] for the other values.
    pub fn dev() -> Self {
        let mut policy = Self::secure_policy();
        policy.allow_simulated = true;
        policy.simulated_roots = vec![Authority(umbra_tee::dev_vendor_root().public())];
        RegistryGenesis {
            allow_insecure_platforms: true,
            policy,
            measurements: vec![Measurement(umbra_primitives::simulated_enclave_measurement())],
        }
    }

    /// A production-like chain: insecure platforms forbidden for good, SGX and TDX DCAP quotes
    /// only, and no measurement allowed yet (governance adds the hardware enclave builds).
    pub fn local() -> Self {
        RegistryGenesis {
            allow_insecure_platforms: false,
            policy: Self::secure_policy(),
            measurements: Vec::new(),
        }
    }

    /// The policy without simulated quotes: SGX and TDX DCAP with TCB `UpToDate` only,
    /// collateral at most 30 days old, the registration's block at most 20 blocks old,
    /// simulated quotes (if enabled) at most 10 minutes old, score capped at 10,000.
    pub fn secure_policy() -> AttestationPolicy {
        AttestationPolicy {
            allow_simulated: false,
            simulated_roots: Vec::new(),
            allow_dcap: true,
            allow_tdx: true,
            max_quote_age_ms: 10 * 60 * 1000,
            accepted_tcb: Vec::new(),
            max_collateral_age_ms: umbra_tee::DEFAULT_MAX_COLLATERAL_AGE_MS,
            max_anchor_age_blocks: 20,
            max_benchmark_score: 10_000,
        }
    }
}

/// Why a genesis configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// No authority is configured.
    #[error("genesis needs at least one authority")]
    NoAuthority,
    /// The parameters are out of range.
    #[error("genesis parameters are out of range")]
    BadParameters,
    /// An account is listed twice.
    #[error("account {0} is funded twice in genesis")]
    DuplicateAccount(AccountId),
    /// An account gets less than the existential deposit.
    #[error("account {0} is funded below the existential deposit")]
    BelowExistentialDeposit(AccountId),
    /// Total issuance overflows.
    #[error("genesis balances overflow the total issuance")]
    Overflow,
    /// The attestation policy is out of bounds.
    #[error("genesis attestation policy: {0}")]
    BadRegistryPolicy(String),
    /// The policy allows simulated quotes on a chain that forbids insecure platforms.
    #[error("genesis forbids insecure platforms (allowInsecurePlatforms is false) but its attestation policy allows the simulated platform")]
    SimulatedOnSecureChain,
    /// The validator set is invalid or its accounts are not the authorities.
    #[error("genesis validators: {0}")]
    BadValidators(String),
}

/// The well-known development accounts.
pub const DEV_ACCOUNTS: [&str; 6] =
    ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"];

impl GenesisConfig {
    /// Development genesis: `//Alice` is the authority and council; the six dev accounts hold
    /// 1,000,000 UMB each.
    pub fn dev() -> Self {
        let acct = |s: &str| Pair::from_suri(s).expect("dev URIs are valid").public();
        GenesisConfig {
            authorities: vec![Authority(acct("//Alice"))],
            council: acct("//Alice"),
            balances: DEV_ACCOUNTS
                .iter()
                .map(|s| GenesisAccount { address: acct(s), balance: 1_000_000 * UNITS })
                .collect(),
            parameters: Parameters::dev(),
            registry: RegistryGenesis::dev(),
            computation: ComputationParams::dev(),
            contracts: ContractsParams::dev(),
            vault: crate::vault::VaultParams::default(),
            validators: Vec::new(),
        }
    }

    /// Development genesis run by `n` BFT validators (1 ≤ n ≤ 6): the first `n` dev accounts
    /// (`//Alice`, `//Bob`, …) are the authorities and validators, power 1 each, with consensus
    /// keys derived from their URIs (`umbra_primitives::finality::consensus_seed`).
    pub fn dev_validators(n: usize) -> Self {
        let uris = &DEV_ACCOUNTS[..n.clamp(1, DEV_ACCOUNTS.len())];
        let validators: Vec<_> = uris
            .iter()
            .map(|s| {
                let pair = Pair::from_suri(s).expect("dev URIs are valid");
                let seed = umbra_primitives::finality::consensus_seed(&pair.to_secret_bytes());
                umbra_primitives::finality::Validator {
                    account: pair.public(),
                    consensus_key: umbra_primitives::finality::consensus_public(&seed),
                    power: 1,
                }
            })
            .collect();
        GenesisConfig {
            authorities: validators.iter().map(|v| Authority(v.account)).collect(),
            validators,
            ..Self::dev()
        }
    }

    /// The genesis validator set (set 0), if this chain runs BFT consensus.
    pub fn validator_set(&self) -> Option<umbra_primitives::finality::ValidatorSet> {
        (!self.validators.is_empty()).then(|| umbra_primitives::finality::ValidatorSet {
            set_id: 0,
            validators: self.validators.clone(),
        })
    }

    /// A production-like local testnet: the dev accounts and parameters, but a registry that
    /// forbids insecure (simulated) platforms for good ([`RegistryGenesis::local`]).
    pub fn local() -> Self {
        GenesisConfig { registry: RegistryGenesis::local(), ..Self::dev() }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.authorities.is_empty() {
            return Err(GenesisError::NoAuthority);
        }
        self.parameters.validate().map_err(|_| GenesisError::BadParameters)?;
        self.registry
            .policy
            .validate()
            .map_err(|e| GenesisError::BadRegistryPolicy(e.to_string()))?;
        if self.registry.policy.allow_simulated && !self.registry.allow_insecure_platforms {
            return Err(GenesisError::SimulatedOnSecureChain);
        }
        if let Some(set) = self.validator_set() {
            set.validate().map_err(|e| GenesisError::BadValidators(e.to_string()))?;
            let authorities: Vec<AccountId> = self.authorities.iter().map(|a| a.0).collect();
            if set.accounts() != authorities {
                return Err(GenesisError::BadValidators(
                    "the authorities must be exactly the validators' accounts, in order".into(),
                ));
            }
        }
        let mut seen = BTreeMap::new();
        let mut total: Balance = 0;
        for a in &self.balances {
            if seen.insert(a.address, ()).is_some() {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            if a.balance < self.parameters.existential_deposit {
                return Err(GenesisError::BelowExistentialDeposit(a.address));
            }
            total = total.checked_add(a.balance).ok_or(GenesisError::Overflow)?;
        }
        Ok(())
    }

    /// Builds the genesis state as sorted key/value pairs.
    pub fn build(&self) -> Result<GenesisState, GenesisError> {
        self.validate()?;
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        let authorities: Vec<AccountId> = self.authorities.iter().map(|a| a.0).collect();
        system::AUTHORITIES.put(&mut ext.state, &authorities);
        system::NUMBER.put(&mut ext.state, &0);
        governance::KEY.put(&mut ext.state, &self.council);
        governance::PARAMETERS.put(&mut ext.state, &self.parameters);
        if let Some(set) = self.validator_set() {
            governance::VALIDATORS.put(&mut ext.state, &set);
        }
        self.computation.validate().map_err(|_| GenesisError::BadParameters)?;
        crate::computation::PARAMS.put(&mut ext.state, &self.computation);
        self.contracts.validate().map_err(|_| GenesisError::BadParameters)?;
        crate::contracts::PARAMS.put(&mut ext.state, &self.contracts);
        self.vault.validate().map_err(|_| GenesisError::BadParameters)?;
        crate::vault::PARAMS.put(&mut ext.state, &self.vault);
        registry::POLICY.put(&mut ext.state, &self.registry.policy);
        registry::INSECURE_ALLOWED.put(&mut ext.state, &self.registry.allow_insecure_platforms);
        for m in &self.registry.measurements {
            registry::MEASUREMENTS.insert(&mut ext.state, &m.0, &0);
        }
        for a in &self.balances {
            balances::mint(&mut ext, &a.address, a.balance).map_err(|_| GenesisError::Overflow)?;
        }
        let (state, _events) = ext.into_parts();
        Ok(state.into_changes().into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_genesis_builds_and_conserves_issuance() {
        let g = GenesisConfig::dev();
        let state: BTreeMap<Vec<u8>, Vec<u8>> = g.build().unwrap().into_iter().collect();
        let st = Overlay::new(&state);
        assert_eq!(balances::total_issuance(&st), 6_000_000 * UNITS);
        let alice = Pair::from_suri("//Alice").unwrap().public();
        assert_eq!(balances::account(&st, &alice).free, 1_000_000 * UNITS);
        assert_eq!(system::authorities(&st), vec![alice]);
        assert_eq!(governance::key(&st), Some(alice));
    }

    #[test]
    fn json_round_trip_uses_addresses_and_string_balances() {
        let g = GenesisConfig::dev();
        let json = serde_json::to_string_pretty(&g).unwrap();
        assert!(json.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"));
        assert!(json.contains("\"1000000000000000000\""));
        let back: GenesisConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn local_genesis_forbids_simulated_platforms() {
        let g = GenesisConfig::local();
        let state: BTreeMap<Vec<u8>, Vec<u8>> = g.build().unwrap().into_iter().collect();
        let st = Overlay::new(&state);
        assert!(!registry::accepts_insecure(&st));
        assert_eq!(registry::INSECURE_ALLOWED.get(&st), Some(false));
        // Allowing the simulated platform on it cannot even be built.
        let mut bad = GenesisConfig::local();
        bad.registry.policy = RegistryGenesis::dev().policy;
        assert_eq!(bad.build(), Err(GenesisError::SimulatedOnSecureChain));
        // The dev chain accepts them, and says so.
        let state: BTreeMap<Vec<u8>, Vec<u8>> =
            GenesisConfig::dev().build().unwrap().into_iter().collect();
        assert!(registry::accepts_insecure(&Overlay::new(&state)));
        // A spec without the flag is production-like.
        let mut json: serde_json::Value = serde_json::to_value(GenesisConfig::dev()).unwrap();
        json["registry"].as_object_mut().unwrap().remove("allowInsecurePlatforms");
        let parsed: GenesisConfig = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.validate(), Err(GenesisError::SimulatedOnSecureChain));
    }

    #[test]
    fn genesis_refuses_an_out_of_bounds_policy() {
        let mut g = GenesisConfig::dev();
        g.registry.policy.max_anchor_age_blocks = 0;
        let err = g.build().unwrap_err();
        assert!(err.to_string().contains("maxAnchorAgeBlocks"), "{err}");
    }

    #[test]
    fn cannot_build_invalid_genesis() {
        let mut g = GenesisConfig::dev();
        g.balances.push(g.balances[0].clone());
        assert!(matches!(g.build(), Err(GenesisError::DuplicateAccount(_))));
        let mut g = GenesisConfig::dev();
        g.authorities.clear();
        assert_eq!(g.build(), Err(GenesisError::NoAuthority));
        let mut g = GenesisConfig::dev();
        g.balances[0].balance = 1;
        assert!(matches!(g.build(), Err(GenesisError::BelowExistentialDeposit(_))));
        let mut g = GenesisConfig::dev();
        g.balances[0].balance = Balance::MAX;
        assert_eq!(g.build(), Err(GenesisError::Overflow));
    }
}
