//! [`Instance`]: a type-erased running contract, as the enclave holds it.

use core::fmt;

use parity_scale_codec::{DecodeAll, Encode};
use umbra_primitives::{AccountId, H256};

use crate::analytics::Analytics;
use crate::contract::{CommandContext, Contract, ContractKind, Output};
use crate::error::ContractError;
use crate::evm::EvmCluster;
use crate::gas;
use crate::guestbook::Guestbook;

/// The object-safe face of a [`Contract`]: bytes in, bytes out.
trait Erased: Send {
    fn execute(&mut self, ctx: &CommandContext, command: &[u8]) -> Executed;
    fn query(&self, origin: &AccountId, query: &[u8]) -> Result<Vec<u8>, ContractError>;
    fn snapshot(&self) -> Vec<u8>;
    fn set_random_seed(&mut self, seed: [u8; 32]);
    fn set_contract_key(&mut self, id: &crate::ContractId, secret: &umbra_crypto::EcdhSecret);
    fn state_root(&self) -> Option<[u8; 32]>;
    fn receive_value(&mut self, ctx: &CommandContext) -> Result<(), ContractError>;
}

/// A contract's state, driven through its typed messages.
struct Running<C>(C);

impl<C: Contract> Running<C> {
    /// Decodes a snapshot, refusing trailing bytes and non-canonical encodings.
    fn restore(snapshot: &[u8]) -> Result<Self, ContractError> {
        let state = C::decode_all(&mut &snapshot[..])
            .map_err(|e| ContractError::InvalidSnapshot(e.to_string()))?;
        if !state.using_encoded(|re| re == snapshot) {
            return Err(ContractError::InvalidSnapshot(
                "not in canonical form (re-encoding gives different bytes)".into(),
            ));
        }
        Ok(Running(state))
    }
}

impl<C: Contract> Running<C> {
    /// Runs `f` on the state, or on a copy kept only on success (unless the contract validates
    /// before mutating), so a failed command changes nothing.
    fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut C) -> Result<T, ContractError>,
    ) -> Result<T, ContractError> {
        if C::VALIDATES_BEFORE_MUTATING {
            return f(&mut self.0);
        }
        let mut work = C::decode_all(&mut &self.0.encode()[..])
            .map_err(|e| ContractError::InvalidSnapshot(e.to_string()))?;
        let out = f(&mut work)?;
        self.0 = work;
        Ok(out)
    }
}

impl<C: Contract> Erased for Running<C> {
    fn execute(&mut self, ctx: &CommandContext, command: &[u8]) -> Executed {
        let failed = gas::FAILED_COMMAND_GAS.min(ctx.gas_limit);
        let cmd = match C::Command::decode_all(&mut &command[..]) {
            Ok(cmd) => cmd,
            Err(e) => return Executed { outcome: Err(e.into()), gas_used: failed },
        };
        if C::METERED {
            return match self.transact(|c| c.handle_metered(ctx, cmd)) {
                Ok((outputs, gas)) => {
                    Executed { outcome: Ok(outputs), gas_used: gas.min(ctx.gas_limit) }
                }
                Err(e) => Executed { outcome: Err(e), gas_used: failed },
            };
        }
        let needed = gas::fixed_gas(command.len());
        if needed > ctx.gas_limit {
            let limit = ctx.gas_limit;
            return Executed {
                outcome: Err(ContractError::OutOfGas { needed, limit }),
                gas_used: limit,
            };
        }
        Executed { outcome: self.transact(|c| c.handle_command(ctx, cmd)), gas_used: needed }
    }

    fn query(&self, origin: &AccountId, query: &[u8]) -> Result<Vec<u8>, ContractError> {
        let query = C::Query::decode_all(&mut &query[..])?;
        self.0.handle_query(origin, query).map(|r| r.encode())
    }

    fn receive_value(&mut self, ctx: &CommandContext) -> Result<(), ContractError> {
        self.0.receive_value(ctx)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.0.encode()
    }

    fn set_random_seed(&mut self, seed: [u8; 32]) {
        self.0.set_random_seed(seed)
    }

    fn state_root(&self) -> Option<[u8; 32]> {
        self.0.state_root()
    }

    fn set_contract_key(&mut self, id: &crate::ContractId, secret: &umbra_crypto::EcdhSecret) {
        self.0.set_contract_key(id, secret)
    }
}

/// The outcome of one command and the gas it used (what its sender pays, whatever the
/// outcome; see [`crate::gas`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Executed {
    /// The outputs, or why the command failed (then the state is unchanged).
    pub outcome: Result<Vec<Output>, ContractError>,
    /// Gas used, at most `ctx.gas_limit`: the kind's own metering (EVM), the fixed schedule
    /// ([`gas::fixed_gas`]; the whole limit when it is too low), or
    /// [`gas::FAILED_COMMAND_GAS`] for a command refused before it ran.
    pub gas_used: u64,
}

/// A type-erased running contract (what the enclave holds).
///
/// Commands and queries arrive as SCALE bytes and are decoded here; every worker that feeds
/// an instance the same command log gets the same outputs and the same [`Instance::state_hash`].
/// `Debug` shows only the kind, never the confidential state.
pub struct Instance {
    kind: ContractKind,
    contract: Box<dyn Erased>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Instance {
    /// A fresh contract of `kind` in its default (uninitialized) state.
    pub fn new(kind: ContractKind) -> Instance {
        let contract: Box<dyn Erased> = match kind {
            ContractKind::Guestbook => Box::new(Running(Guestbook::default())),
            ContractKind::Evm => Box::new(Running(EvmCluster::default())),
            ContractKind::Analytics => Box::new(Running(Analytics::default())),
        };
        Instance { kind, contract }
    }

    /// Rebuilds a contract from a [`Instance::snapshot`] of the same kind.
    ///
    /// Fails with [`ContractError::InvalidSnapshot`] if the bytes do not decode exactly (no
    /// trailing bytes) to a canonically encoded state of `kind`.
    pub fn restore(kind: ContractKind, snapshot: &[u8]) -> Result<Instance, ContractError> {
        let contract: Box<dyn Erased> = match kind {
            ContractKind::Guestbook => Box::new(Running::<Guestbook>::restore(snapshot)?),
            ContractKind::Evm => Box::new(Running::<EvmCluster>::restore(snapshot)?),
            ContractKind::Analytics => Box::new(Running::<Analytics>::restore(snapshot)?),
        };
        Ok(Instance { kind, contract })
    }

    /// The contract's kind.
    pub fn kind(&self) -> ContractKind {
        self.kind
    }

    /// Decodes and runs a command.
    ///
    /// On `Err` the state is unchanged: malformed bytes are refused before the contract sees
    /// them, and a contract either validates before mutating
    /// ([`Contract::VALIDATES_BEFORE_MUTATING`]) or runs on a copy.
    pub fn execute(
        &mut self,
        ctx: &CommandContext,
        command: &[u8],
    ) -> Result<Vec<Output>, ContractError> {
        self.contract.execute(ctx, command).outcome
    }

    /// [`Instance::execute`] under `ctx.gas_limit`, also returning the gas the command used
    /// (what the enclave reports for the chain to charge).
    pub fn execute_metered(&mut self, ctx: &CommandContext, command: &[u8]) -> Executed {
        self.contract.execute(ctx, command)
    }

    /// Receives the value a command carries (`ctx.value`, moved on chain into the contract's
    /// account at push), before the command runs and whatever its outcome; does nothing when
    /// `ctx.value == 0`. On `Err` the state is unchanged.
    pub fn receive_value(&mut self, ctx: &CommandContext) -> Result<(), ContractError> {
        if ctx.value == 0 {
            return Ok(());
        }
        self.contract.receive_value(ctx)
    }

    /// Decodes and answers a query from the authenticated `origin`; returns the SCALE
    /// encoding of the contract's response type.
    pub fn query(&self, origin: &AccountId, query: &[u8]) -> Result<Vec<u8>, ContractError> {
        self.contract.query(origin, query)
    }

    /// Hands the contract its secret randomness seed (see [`Contract::set_random_seed`]);
    /// the enclave derives it from the contract key, e.g. [`crate::evm::random_seed`].
    pub fn set_random_seed(&mut self, seed: [u8; 32]) {
        self.contract.set_random_seed(seed)
    }

    /// Hands the contract its key (see [`Contract::set_contract_key`]); the enclave calls it
    /// before every command.
    pub fn set_contract_key(&mut self, id: &crate::ContractId, secret: &umbra_crypto::EcdhSecret) {
        self.contract.set_contract_key(id, secret)
    }

    /// The SCALE encoding of the state (what [`crate::seal_checkpoint`] encrypts).
    pub fn snapshot(&self) -> Vec<u8> {
        self.contract.snapshot()
    }

    /// `blake2_256` of the SCALE encoding of `(kind, root)` for a contract that keeps an
    /// incremental state commitment ([`Contract::state_root`], e.g. EVM clusters: cost grows
    /// with the entries a command changed times log of the state), otherwise of
    /// `(kind, snapshot)`.
    pub fn state_hash(&self) -> H256 {
        match self.contract.state_root() {
            Some(root) => H256::hash_of(&(self.kind, root)),
            None => H256::hash_of(&(self.kind, self.snapshot())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guestbook::{GuestbookCommand, GuestbookQuery};
    use parity_scale_codec::Decode;
    use proptest::prelude::*;

    fn acct(n: u8) -> AccountId {
        AccountId::from([n; 32])
    }

    fn ctx(who: u8, seq: u64) -> CommandContext {
        CommandContext {
            contract: H256([5; 32]),
            origin: acct(who),
            block: seq / 3,
            seq,
            value: 0,
            gas_limit: crate::gas::MAX_GAS_CAP,
        }
    }

    /// A contract that mutates before it fails (it does not set VALIDATES_BEFORE_MUTATING),
    /// to check that `Instance` runs it on a copy.
    #[derive(Default, Encode, Decode)]
    struct Sloppy {
        total: u64,
    }

    impl Contract for Sloppy {
        type Command = u64;
        type Query = ();
        type Response = u64;

        fn handle_command(
            &mut self,
            _: &CommandContext,
            add: u64,
        ) -> Result<Vec<Output>, ContractError> {
            self.total = self.total.wrapping_add(add);
            if add > 100 {
                return Err(ContractError::NotAllowed("too much"));
            }
            Ok(vec![])
        }

        fn handle_query(&self, _: &AccountId, _: ()) -> Result<u64, ContractError> {
            Ok(self.total)
        }
    }

    #[test]
    fn contract_that_mutates_before_failing_is_rolled_back() {
        let mut r = Running(Sloppy::default());
        r.execute(&ctx(1, 0), &5u64.encode()).outcome.unwrap();
        assert_eq!(
            r.execute(&ctx(1, 1), &500u64.encode()).outcome,
            Err(ContractError::NotAllowed("too much"))
        );
        assert_eq!(r.query(&acct(1), &[]).unwrap(), 5u64.encode());
        r.execute(&ctx(1, 2), &7u64.encode()).outcome.unwrap();
        assert_eq!(r.query(&acct(1), &[]).unwrap(), 12u64.encode());
    }

    /// Issue 9 item 4: a kind that does not meter itself (the guestbook) uses the fixed
    /// schedule whatever the outcome; a limit below it is out of gas (the whole limit, nothing
    /// changes); bytes that do not decode use the failure charge.
    #[test]
    fn unmetered_kinds_use_the_fixed_schedule_and_too_low_a_limit_is_out_of_gas() {
        let mut inst = Instance::new(ContractKind::Guestbook);
        let init = GuestbookCommand::Init { title: "T".into() }.encode();
        let ran = inst.execute_metered(&ctx(1, 0), &init);
        assert!(ran.outcome.is_ok());
        assert_eq!(ran.gas_used, gas::fixed_gas(init.len()));
        // Refused by the contract (already initialized): it ran, the schedule still applies.
        let again = inst.execute_metered(&ctx(1, 1), &init);
        assert_eq!(again.outcome, Err(ContractError::AlreadyInitialized));
        assert_eq!(again.gas_used, gas::fixed_gas(init.len()));

        let post = GuestbookCommand::Post { text: "a long enough post".into() }.encode();
        let needed = gas::fixed_gas(post.len());
        let before = inst.state_hash();
        let low = CommandContext { gas_limit: needed - 1, ..ctx(2, 2) };
        let out = inst.execute_metered(&low, &post);
        assert_eq!(out.outcome, Err(ContractError::OutOfGas { needed, limit: needed - 1 }));
        assert_eq!(out.gas_used, needed - 1, "out of gas uses the whole limit");
        assert_eq!(inst.state_hash(), before, "nothing changed");
        let exact = CommandContext { gas_limit: needed, ..ctx(2, 3) };
        assert_eq!(inst.execute_metered(&exact, &post).gas_used, needed);
        assert_ne!(inst.state_hash(), before);

        let garbage = inst.execute_metered(&ctx(2, 4), &[0xff, 1, 2]);
        assert!(matches!(garbage.outcome, Err(ContractError::Decode(_))));
        assert_eq!(garbage.gas_used, gas::FAILED_COMMAND_GAS);
    }

    #[test]
    fn new_instance_is_empty_and_debug_hides_state() {
        let mut inst = Instance::new(ContractKind::Guestbook);
        assert_eq!(inst.kind(), ContractKind::Guestbook);
        let empty = inst.state_hash();
        let root = umbra_state_tree::compute_root(vec![(b"l".to_vec(), 0u64.encode())]);
        assert_eq!(empty, H256::hash_of(&(ContractKind::Guestbook, root)));
        inst.execute(&ctx(1, 0), &GuestbookCommand::Init { title: "secret title".into() }.encode())
            .unwrap();
        assert_ne!(inst.state_hash(), empty);
        let dbg = format!("{inst:?}");
        assert!(dbg.contains("Guestbook") && !dbg.contains("secret"), "{dbg}");
    }

    #[test]
    fn snapshot_restore_round_trip() {
        let mut inst = Instance::new(ContractKind::Guestbook);
        inst.execute(&ctx(1, 0), &GuestbookCommand::Init { title: "T".into() }.encode()).unwrap();
        for i in 0..20u64 {
            let text = format!("post {i}");
            inst.execute(&ctx(2 + (i % 3) as u8, i + 1), &GuestbookCommand::Post { text }.encode())
                .unwrap();
        }
        inst.execute(&ctx(1, 21), &GuestbookCommand::Delete { id: 4 }.encode()).unwrap();

        let restored = Instance::restore(ContractKind::Guestbook, &inst.snapshot()).unwrap();
        assert_eq!(restored.state_hash(), inst.state_hash());
        assert_eq!(restored.snapshot(), inst.snapshot());
        for q in [
            GuestbookQuery::Info,
            GuestbookQuery::MyPosts,
            GuestbookQuery::Posts { from: 0, limit: 100 },
        ] {
            assert_eq!(restored.query(&acct(3), &q.encode()), inst.query(&acct(3), &q.encode()));
        }
        let fresh = Instance::new(ContractKind::Guestbook);
        let restored_fresh = Instance::restore(ContractKind::Guestbook, &fresh.snapshot()).unwrap();
        assert_eq!(restored_fresh.state_hash(), fresh.state_hash());
    }

    #[test]
    fn restore_refuses_bad_snapshots() {
        let mut inst = Instance::new(ContractKind::Guestbook);
        inst.execute(&ctx(1, 0), &GuestbookCommand::Init { title: "T".into() }.encode()).unwrap();
        inst.execute(&ctx(2, 1), &GuestbookCommand::Post { text: "a".into() }.encode()).unwrap();
        let snap = inst.snapshot();

        let invalid = |bytes: &[u8]| {
            matches!(
                Instance::restore(ContractKind::Guestbook, bytes),
                Err(ContractError::InvalidSnapshot(_))
            )
        };
        assert!(invalid(&[]));
        assert!(invalid(&snap[..snap.len() - 1]));
        assert!(invalid(&[snap.clone(), vec![0]].concat()));
        // `Option` tag 2 does not exist.
        assert!(invalid(&[vec![2], snap[1..].to_vec()].concat()));
    }

    #[test]
    fn restore_refuses_non_canonical_map() {
        // Hand-build a guestbook snapshot whose post map lists the same key twice: it decodes
        // (the map keeps one), but would not re-encode to the same bytes.
        let title = (Some((String::from("T"), acct(1))),).encode();
        let post = (1u64, acct(2), String::from("a"), 0u64);
        let mut bytes = title;
        parity_scale_codec::Compact(2u32).encode_to(&mut bytes);
        (1u64, post.clone()).encode_to(&mut bytes);
        (1u64, post).encode_to(&mut bytes);
        1u64.encode_to(&mut bytes);
        assert_eq!(
            Instance::restore(ContractKind::Guestbook, &bytes).map(|_| ()),
            Err(ContractError::InvalidSnapshot(
                "not in canonical form (re-encoding gives different bytes)".into()
            ))
        );
    }

    proptest! {
        /// Arbitrary bytes never panic restore; whatever it accepts re-snapshots identically.
        #[test]
        fn restore_accepts_only_canonical_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(inst) = Instance::restore(ContractKind::Guestbook, &bytes) {
                prop_assert_eq!(inst.snapshot(), bytes);
            }
        }
    }
}
