//! The Umbra runtime: the deterministic state-transition function of the chain.
//!
//! - [`state`]: the read backend trait, the transactional write [`state::Overlay`], typed storage.
//! - [`modules`]: one file per module (`system`, `balances`, `governance`), each with its
//!   storage, calls, events, errors and tests.
//! - [`Call`] / [`Event`]: the aggregate call and event enums, with stable module indices.
//! - [`executive`]: transaction validation (used by the pool) and block execution (used by
//!   authoring and import).
//! - [`genesis`]: the genesis configuration and the initial state it builds.
//! - [`api`]: read-only queries for RPC.
//!
//! The runtime does no I/O: the node hands it a [`state::StateRead`] snapshot and commits the
//! changes it returns.

// Runtime, enclave and contract code must never panic on arithmetic: every operation is checked
// or saturating, and an overflow is an error the caller sees.
#![deny(clippy::arithmetic_side_effects)]

pub mod api;
pub mod executive;
pub mod ext;
pub mod genesis;
pub mod math;
pub mod modules;
pub mod state;
#[cfg(test)]
mod test_utils;

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_primitives::AccountId;

pub use executive::{BlockExecutor, BlockOutput, InvalidTransaction, ValidTransaction};
pub use ext::{DispatchError, EventRecord, Ext, Phase};
pub use genesis::GenesisConfig;
pub use modules::{
    balances, computation, contracts, gatekeeper, governance, mq, registry, stake_pools, system,
    vault,
};

/// A signed transaction carrying a runtime [`Call`].
pub type Extrinsic = umbra_primitives::UncheckedExtrinsic<Call>;

/// Every call of the runtime. The first byte of an encoded call is the module index, the second
/// the call index inside the module; both are stable.
// `registry::register_worker` (quote and benchmark) is the largest call; see there.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// `system` calls.
    #[codec(index = 0)]
    System(system::Call),
    /// `balances` calls.
    #[codec(index = 1)]
    Balances(balances::Call),
    /// `governance` calls.
    #[codec(index = 2)]
    Governance(governance::Call),
    /// `registry` calls.
    #[codec(index = 3)]
    Registry(registry::Call),
    /// `mq` calls.
    #[codec(index = 4)]
    Mq(mq::Call),
    /// `computation` calls.
    #[codec(index = 5)]
    Computation(computation::Call),
    /// `stake_pools` calls.
    #[codec(index = 6)]
    StakePools(stake_pools::Call),
    /// `vault` calls.
    #[codec(index = 7)]
    Vault(vault::Call),
    /// `gatekeeper` calls.
    #[codec(index = 8)]
    Gatekeeper(gatekeeper::Call),
    /// `contracts` calls.
    #[codec(index = 9)]
    Contracts(contracts::Call),
}

/// Every event of the runtime.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// A `system` event.
    #[codec(index = 0)]
    System(system::Event),
    /// A `balances` event.
    #[codec(index = 1)]
    Balances(balances::Event),
    /// A `governance` event.
    #[codec(index = 2)]
    Governance(governance::Event),
    /// A `registry` event.
    #[codec(index = 3)]
    Registry(registry::Event),
    /// An `mq` event.
    #[codec(index = 4)]
    Mq(mq::Event),
    /// A `computation` event.
    #[codec(index = 5)]
    Computation(computation::Event),
    /// A `stake_pools` event.
    #[codec(index = 6)]
    StakePools(stake_pools::Event),
    /// A `vault` event.
    #[codec(index = 7)]
    Vault(vault::Event),
    /// A `gatekeeper` event.
    #[codec(index = 8)]
    Gatekeeper(gatekeeper::Event),
    /// A `contracts` event.
    #[codec(index = 9)]
    Contracts(contracts::Event),
}

impl From<system::Event> for Event {
    fn from(e: system::Event) -> Self {
        Event::System(e)
    }
}
impl From<balances::Event> for Event {
    fn from(e: balances::Event) -> Self {
        Event::Balances(e)
    }
}
impl From<governance::Event> for Event {
    fn from(e: governance::Event) -> Self {
        Event::Governance(e)
    }
}
impl From<registry::Event> for Event {
    fn from(e: registry::Event) -> Self {
        Event::Registry(e)
    }
}
impl From<mq::Event> for Event {
    fn from(e: mq::Event) -> Self {
        Event::Mq(e)
    }
}
impl From<computation::Event> for Event {
    fn from(e: computation::Event) -> Self {
        Event::Computation(e)
    }
}
impl From<stake_pools::Event> for Event {
    fn from(e: stake_pools::Event) -> Self {
        Event::StakePools(e)
    }
}
impl From<vault::Event> for Event {
    fn from(e: vault::Event) -> Self {
        Event::Vault(e)
    }
}
impl From<gatekeeper::Event> for Event {
    fn from(e: gatekeeper::Event) -> Self {
        Event::Gatekeeper(e)
    }
}
impl From<contracts::Event> for Event {
    fn from(e: contracts::Event) -> Self {
        Event::Contracts(e)
    }
}

/// Module names by module index (the index of their [`Call`] and [`Event`] variants).
pub const MODULES: [&str; 10] = [
    system::MODULE,
    balances::MODULE,
    governance::MODULE,
    registry::MODULE,
    mq::MODULE,
    computation::MODULE,
    stake_pools::MODULE,
    vault::MODULE,
    gatekeeper::MODULE,
    contracts::MODULE,
];

/// The module index of the module named `name`.
pub fn module_index(name: &str) -> Option<u8> {
    MODULES.iter().position(|m| *m == name).and_then(|i| u8::try_from(i).ok())
}

fn describe<E: Decode + std::fmt::Debug + std::fmt::Display>(
    module: &str,
    error: u8,
) -> Option<(String, String)> {
    let e = E::decode(&mut &[error][..]).ok()?;
    // The variant's name alone (fields, such as a parameter name, are not committed).
    let debug = format!("{e:?}");
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    // A skipped field displays empty; collapse the gap it leaves.
    let message = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    Some((format!("{module}::{variant}"), format!("{module}: {message}")))
}

/// `(name, message)` of error `error` of module `module`, e.g. `("registry::NotOperator",
/// "registry: the signer must be the operator")`; `None` for indices this runtime does not know.
pub fn describe_error(module: u8, error: u8) -> Option<(String, String)> {
    match module {
        0 => describe::<system::Error>(system::MODULE, error),
        1 => describe::<balances::Error>(balances::MODULE, error),
        2 => describe::<governance::Error>(governance::MODULE, error),
        3 => describe::<registry::Error>(registry::MODULE, error),
        4 => describe::<mq::Error>(mq::MODULE, error),
        5 => describe::<computation::Error>(computation::MODULE, error),
        6 => describe::<stake_pools::Error>(stake_pools::MODULE, error),
        7 => describe::<vault::Error>(vault::MODULE, error),
        8 => describe::<gatekeeper::Error>(gatekeeper::MODULE, error),
        9 => describe::<contracts::Error>(contracts::MODULE, error),
        _ => None,
    }
}

/// The runtime root: implements the hook traits through which a module reaches others it must
/// not import (FRAME-style), so dependencies between modules point one way.
#[derive(Clone, Copy, Debug)]
pub struct Runtime;

impl mq::Config for Runtime {
    fn is_worker(st: &state::Overlay<'_>, identity: &umbra_crypto::Public) -> bool {
        registry::worker(st, identity).is_some()
    }

    fn on_message(
        ext: &mut Ext<'_>,
        sender: &umbra_crypto::Public,
        message: umbra_protocol::FromEnclave,
    ) -> Result<(), String> {
        use umbra_protocol::FromEnclave as M;
        match message {
            M::Heartbeat(hb) => {
                computation::heartbeat::<Runtime>(ext, sender, &hb);
                Ok(())
            }
            // Pongs are only recorded (as the `InboundMessage` event).
            M::Pong(_) => Ok(()),
            M::Gatekeeper(m) => ext.transactional(|ext| gatekeeper::handle(ext, sender, m)),
            M::Contracts(m) => ext.transactional(|ext| contracts::handle(ext, sender, m)),
        }
    }
}

impl computation::Config for Runtime {
    fn pool_account(pool: computation::PoolId) -> AccountId {
        stake_pools::pool_account(pool)
    }

    fn unresponsive_limit(st: &state::Overlay<'_>) -> umbra_primitives::BlockNumber {
        vault::params(st).default_after_blocks
    }

    fn on_reward(
        ext: &mut Ext<'_>,
        pool: computation::PoolId,
        worker: &umbra_crypto::Public,
        amount: umbra_primitives::Balance,
    ) {
        stake_pools::on_reward(ext, pool, worker, amount)
    }

    fn on_unresponsive_limit(
        ext: &mut Ext<'_>,
        pool: computation::PoolId,
        worker: &umbra_crypto::Public,
    ) {
        stake_pools::on_unresponsive_limit(ext, pool, worker)
    }

    fn on_stake_released(
        ext: &mut Ext<'_>,
        pool: computation::PoolId,
        worker: &umbra_crypto::Public,
        stake: umbra_primitives::Balance,
    ) {
        stake_pools::on_stake_released(ext, pool, worker, stake)
    }
}

impl vault::Config for Runtime {
    fn pool_owner(st: &state::Overlay<'_>, pool: computation::PoolId) -> Option<AccountId> {
        stake_pools::pool(st, pool).map(|p| p.owner)
    }

    fn pool_account(pool: computation::PoolId) -> AccountId {
        stake_pools::pool_account(pool)
    }

    fn on_borrowed(
        ext: &mut Ext<'_>,
        pool: computation::PoolId,
        amount: umbra_primitives::Balance,
    ) -> Result<(), DispatchError> {
        Ok(stake_pools::on_borrowed(ext, pool, amount)?)
    }

    fn on_principal_repaid_by_owner(
        ext: &mut Ext<'_>,
        pool: computation::PoolId,
        principal: umbra_primitives::Balance,
    ) -> Result<(), DispatchError> {
        Ok(stake_pools::on_principal_repaid_by_owner(ext, pool, principal)?)
    }
}

/// Whether `(module, call)` names a call this runtime knows.
pub fn is_known_call(module: u8, call: u8) -> bool {
    let calls: &[u8] = match module {
        0 => system::CALL_INDICES,
        1 => balances::CALL_INDICES,
        2 => governance::CALL_INDICES,
        3 => registry::CALL_INDICES,
        4 => mq::CALL_INDICES,
        5 => computation::CALL_INDICES,
        6 => stake_pools::CALL_INDICES,
        7 => vault::CALL_INDICES,
        8 => gatekeeper::CALL_INDICES,
        9 => contracts::CALL_INDICES,
        _ => return false,
    };
    calls.contains(&call)
}

/// Routes a call from a signed origin to its module.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::System(c) => system::dispatch(ext, origin, c),
        Call::Balances(c) => balances::dispatch(ext, origin, c),
        Call::Governance(c) => governance::dispatch(ext, origin, c),
        Call::Registry(c) => registry::dispatch(ext, origin, c),
        Call::Mq(c) => mq::dispatch::<Runtime>(ext, origin, c),
        Call::Computation(c) => computation::dispatch(ext, origin, c),
        Call::StakePools(c) => stake_pools::dispatch(ext, origin, c),
        Call::Vault(c) => vault::dispatch::<Runtime>(ext, origin, c),
        Call::Gatekeeper(c) => gatekeeper::dispatch(ext, origin, c),
        Call::Contracts(c) => contracts::dispatch(ext, origin, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use umbra_primitives::{Pair, H256};

    #[test]
    fn known_call_table_matches_the_call_enum() {
        let who = Pair::from_suri("//Alice").unwrap().public();
        let calls = [
            Call::System(system::Call::Remark { data: vec![] }),
            Call::Balances(balances::Call::Transfer { dest: who, amount: 1 }),
            Call::Governance(governance::Call::SetKey { new: who }),
            Call::Governance(governance::Call::SetParameters {
                parameters: governance::Parameters::dev(),
            }),
            Call::Registry(registry::Call::AddMeasurement { measurement: [0; 32] }),
            Call::Registry(registry::Call::RemoveMeasurement { measurement: [0; 32] }),
            Call::Registry(registry::Call::SetAttestationPolicy { policy: Default::default() }),
            Call::Mq(mq::Call::PushMessage { topic: vec![1], payload: vec![] }),
        ];
        for c in &calls {
            let bytes = c.encode();
            assert!(is_known_call(bytes[0], bytes[1]), "{c:?}");
        }
        for (c, module) in calls.iter().zip([
            system::MODULE,
            balances::MODULE,
            governance::MODULE,
            governance::MODULE,
            registry::MODULE,
            registry::MODULE,
            registry::MODULE,
            mq::MODULE,
        ]) {
            assert_eq!(module_index(module), Some(c.encode()[0]), "{module}");
        }
        assert!(!is_known_call(1, 9));
        assert!(!is_known_call(99, 0));
        // An unknown index does not decode.
        assert!(Call::decode(&mut &[1u8, 9][..]).is_err());
        let _ = H256::ZERO;
    }

    #[test]
    fn dispatch_errors_are_two_indices_that_map_back_to_messages() {
        // The module index of every module is its Event index.
        let who = Pair::from_suri("//Alice").unwrap().public();
        let events: [(Event, &str); 3] = [
            (Event::System(system::Event::Remarked { sender: who, hash: H256::ZERO }), "system"),
            (
                Event::Balances(balances::Event::Transfer { from: who, to: who, amount: 1 }),
                "balances",
            ),
            (
                Event::Registry(registry::Event::MeasurementAdded { measurement: [0; 32] }),
                "registry",
            ),
        ];
        for (e, name) in events {
            assert_eq!(module_index(name), Some(e.encode()[0]));
        }
        for (i, name) in MODULES.iter().enumerate() {
            assert_eq!(module_index(name), Some(i as u8));
        }

        let e = DispatchError::from(registry::Error::NotOperator);
        assert_eq!(e, DispatchError { module: 3, error: 0 });
        assert_eq!(e.encode(), vec![3, 0], "two bytes on chain");
        assert_eq!(e.name(), "registry::NotOperator");
        assert_eq!(e.message(), "registry: the signer must be the operator");
        let e = DispatchError::from(balances::Error::InsufficientBalance);
        assert_eq!(e.module, 1);
        assert_eq!(e.name(), "balances::InsufficientBalance");
        // Every error of every module maps back to its own name.
        for m in 0..MODULES.len() as u8 {
            let mut count = 0u8;
            while let Some((name, message)) = describe_error(m, count) {
                assert!(name.starts_with(&format!("{}::", MODULES[m as usize])), "{name}");
                assert!(message.starts_with(&format!("{}: ", MODULES[m as usize])), "{message}");
                count += 1;
            }
        }
        // An error with a (non-committed) field maps back to its variant and a clean message.
        let e = DispatchError::from(governance::Error::InvalidParameters("blockTimeMs"));
        assert_eq!(e.encode().len(), 2);
        assert_eq!(e.name(), "governance::InvalidParameters");
        assert_eq!(e.variant(), "InvalidParameters");
        assert!(!e.message().contains("  "), "{}", e.message());
        // Unknown indices are described as such, never panic.
        assert_eq!(describe_error(10, 0), None);
        assert_eq!(describe_error(3, 200), None);
        assert!(DispatchError { module: 3, error: 200 }.message().contains("unknown error 200"));
        let json = serde_json::to_value(DispatchError::from(registry::Error::NotOperator)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "module": 3,
                "error": 0,
                "name": "registry::NotOperator",
                "message": "registry: the signer must be the operator",
            })
        );
    }
}
