//! The contract model: kinds, the context of a command, outputs and the [`Contract`] trait.

use core::fmt;
use core::str::FromStr;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_primitives::{AccountId, Balance, H256};

use crate::error::ContractError;

/// A contract's id, as the chain assigns it at deployment (see [`crate::contract_id`]).
pub type ContractId = H256;

/// Built-in contract kinds.
///
/// The SCALE index of each kind is stable (it is part of contract ids and state hashes);
/// the JSON form and [`fmt::Display`] / [`FromStr`] use the snake_case name (`"guestbook"`).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ContractKind {
    /// [`crate::guestbook::Guestbook`]: a public guestbook with an owner.
    #[codec(index = 0)]
    Guestbook,
    /// [`crate::evm::EvmCluster`]: a confidential EVM world state (many Solidity contracts).
    #[codec(index = 1)]
    Evm,
    /// [`crate::analytics::Analytics`]: privacy-first web analytics for one site.
    #[codec(index = 2)]
    Analytics,
}

impl ContractKind {
    /// Whether commands to this kind may carry value (UMB moved into the contract's account
    /// and credited to the sender inside the contract).
    pub fn receives_value(self) -> bool {
        match self {
            ContractKind::Guestbook => <crate::guestbook::Guestbook as Contract>::RECEIVES_VALUE,
            ContractKind::Evm => <crate::evm::EvmCluster as Contract>::RECEIVES_VALUE,
            ContractKind::Analytics => <crate::analytics::Analytics as Contract>::RECEIVES_VALUE,
        }
    }

    /// Every kind this build knows, in index order.
    pub const ALL: &'static [ContractKind] =
        &[ContractKind::Guestbook, ContractKind::Evm, ContractKind::Analytics];

    /// The snake_case name (as in JSON and on the command line).
    pub fn name(self) -> &'static str {
        match self {
            ContractKind::Guestbook => "guestbook",
            ContractKind::Evm => "evm",
            ContractKind::Analytics => "analytics",
        }
    }
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContractKind {
    type Err = ContractError;

    /// Parses a kind by its snake_case name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContractKind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ContractError::UnknownKind(s.to_string()))
    }
}

/// Context of one command, as the chain ordered it.
///
/// Everything a contract may depend on besides its state and the command itself: no clocks,
/// no randomness, so every worker replaying the log computes the same result.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommandContext {
    /// The contract the command is addressed to.
    pub contract: ContractId,
    /// The account that signed the extrinsic carrying the command.
    pub origin: AccountId,
    /// The block that included the command.
    pub block: u64,
    /// The command's position in the contract's command log (0, 1, 2, ...).
    pub seq: u64,
    /// UMB the chain moved from `origin` into the contract's account with this command (0 for
    /// commands carrying none). It is under the log hash, so a host cannot change it.
    pub value: Balance,
    /// The gas limit the sender prepaid on chain (`gas_limit × gas price`); the command runs
    /// under it. Under the log hash, like the rest of the context.
    pub gas_limit: u64,
}

/// What a command produces (all deterministic).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Output {
    /// An event everyone may read.
    #[codec(index = 0)]
    PublicEvent(Vec<u8>),
    /// An event only `to` can read (the enclave encrypts it with [`crate::event_key`]).
    #[codec(index = 1)]
    PrivateEvent {
        /// The only account that can read the payload.
        to: AccountId,
        /// The plaintext payload (encrypted before it leaves the enclave).
        payload: Vec<u8>,
    },
    /// Move `amount` of the contract's on-chain account ([`crate::contract_account`]) to
    /// `to` (the chain executes it).
    #[codec(index = 2)]
    Transfer {
        /// The receiving account.
        to: AccountId,
        /// The amount in the smallest unit.
        amount: Balance,
    },
}

/// The trait a contract implements: deterministic, no I/O, typed SCALE messages.
///
/// Rules for implementors:
/// * `handle_command` and `handle_query` depend only on `self`, the context and the
///   message: no clocks, no randomness, no iteration over hash maps (use `BTreeMap`).
/// * They never panic on any input (return a [`ContractError`] instead).
/// * The SCALE encoding of the state is canonical: decoding it and encoding again gives the
///   same bytes (so a restored snapshot has the same state hash).
pub trait Contract: Default + Encode + Decode + Send + 'static {
    /// The commands the contract accepts (sent encrypted through the chain).
    type Command: Decode;
    /// The queries the contract answers (sent encrypted straight to a worker).
    type Query: Decode;
    /// The answer to a query.
    type Response: Encode;

    /// Whether [`Contract::handle_command`] leaves `self` untouched whenever it returns
    /// `Err` (all checks happen before the first mutation).
    ///
    /// If `false` (the default) [`crate::Instance`] runs every command on a copy of the
    /// state (made through the SCALE codec) and keeps the copy only on success, which is
    /// always correct but costs O(state) per command. Contracts that validate before
    /// mutating set this to `true` and must test it.
    const VALIDATES_BEFORE_MUTATING: bool = false;

    /// Applies one command from the chain's log.
    fn handle_command(
        &mut self,
        ctx: &CommandContext,
        cmd: Self::Command,
    ) -> Result<Vec<Output>, ContractError>;

    /// An incrementally maintained commitment to the state, if the contract keeps one; then
    /// [`crate::Instance::state_hash`] is `blake2_256(SCALE(kind, root))` instead of hashing
    /// the whole snapshot. It must be a function of the snapshot alone.
    fn state_root(&self) -> Option<[u8; 32]> {
        None
    }

    /// Receives a secret seed derived from the contract key (the enclave sets it before
    /// executing commands); contracts that offer randomness derive it from this seed and the
    /// command's position. It is never part of the state. The default ignores it.
    fn set_random_seed(&mut self, seed: [u8; 32]) {
        let _ = seed;
    }

    /// Receives the contract's key (the enclave sets it before executing commands) for contracts
    /// that open data sealed to the contract by parties other than the command's origin (e.g.
    /// page views sealed in a browser). It is never part of the state. The default ignores it.
    fn set_contract_key(&mut self, id: &ContractId, secret: &umbra_crypto::EcdhSecret) {
        let _ = (id, secret);
    }

    /// Whether commands to this kind may carry value ([`Contract::receive_value`]); the chain
    /// refuses value for kinds that cannot receive it.
    const RECEIVES_VALUE: bool = false;

    /// Receives the value the chain moved into the contract's account with a command
    /// (`ctx.value > 0`), before (and whatever the outcome of) the command itself. The
    /// default refuses it (the chain never sends value to such a kind).
    fn receive_value(&mut self, ctx: &CommandContext) -> Result<(), ContractError> {
        let _ = ctx;
        Err(ContractError::Rejected("this contract kind does not accept value".into()))
    }

    /// Whether the kind meters gas itself ([`Contract::handle_metered`], e.g. the EVM);
    /// otherwise (the default) every command uses the fixed schedule
    /// [`crate::gas::fixed_gas`] of its plaintext length, whatever its outcome.
    const METERED: bool = false;

    /// For kinds that meter themselves ([`Contract::METERED`]): runs the command under
    /// `ctx.gas_limit` like [`Contract::handle_command`] and also returns the gas it used
    /// (deterministic: identical on every worker, at most the limit). The default runs
    /// `handle_command` and reports no gas (only called when `METERED` is set).
    fn handle_metered(
        &mut self,
        ctx: &CommandContext,
        cmd: Self::Command,
    ) -> Result<(Vec<Output>, u64), ContractError> {
        self.handle_command(ctx, cmd).map(|outputs| (outputs, 0))
    }

    /// Answers a query from the authenticated `origin`, without changing the state.
    fn handle_query(
        &self,
        origin: &AccountId,
        query: Self::Query,
    ) -> Result<Self::Response, ContractError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kind_indices_and_names_are_stable() {
        assert_eq!(ContractKind::Guestbook.encode(), vec![0]);
        assert_eq!(ContractKind::decode(&mut &[0u8][..]), Ok(ContractKind::Guestbook));
        assert_eq!(ContractKind::decode(&mut &[1u8][..]), Ok(ContractKind::Evm));
        assert_eq!(ContractKind::decode(&mut &[2u8][..]), Ok(ContractKind::Analytics));
        assert!(ContractKind::decode(&mut &[3u8][..]).is_err());
        assert_eq!("analytics".parse::<ContractKind>(), Ok(ContractKind::Analytics));
        assert_eq!(ContractKind::Guestbook.to_string(), "guestbook");
        assert_eq!("guestbook".parse::<ContractKind>(), Ok(ContractKind::Guestbook));
        assert_eq!("GuestBook".parse::<ContractKind>(), Ok(ContractKind::Guestbook));
        assert_eq!(
            "vault".parse::<ContractKind>(),
            Err(ContractError::UnknownKind("vault".into()))
        );
    }

    #[test]
    fn kind_json_form() {
        assert_eq!(serde_json::to_string(&ContractKind::Guestbook).unwrap(), "\"guestbook\"");
        assert_eq!(
            serde_json::from_str::<ContractKind>("\"guestbook\"").unwrap(),
            ContractKind::Guestbook
        );
        assert!(serde_json::from_str::<ContractKind>("\"Guestbook\"").is_err());
    }

    #[test]
    fn output_indices_are_stable() {
        assert_eq!(Output::PublicEvent(vec![9]).encode(), vec![0, 4, 9]);
        let to = AccountId::from([1u8; 32]);
        assert_eq!(Output::PrivateEvent { to, payload: vec![] }.encode()[0], 1);
        assert_eq!(Output::Transfer { to, amount: 5 }.encode()[0], 2);
    }

    fn output_strategy() -> impl Strategy<Value = Output> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Output::PublicEvent),
            (any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
                |(to, payload)| Output::PrivateEvent { to: AccountId::from(to), payload }
            ),
            (any::<[u8; 32]>(), any::<u128>())
                .prop_map(|(to, amount)| Output::Transfer { to: AccountId::from(to), amount }),
        ]
    }

    proptest! {
        #[test]
        fn output_scale_round_trip(outputs in proptest::collection::vec(output_strategy(), 0..8)) {
            let bytes = outputs.encode();
            prop_assert_eq!(Vec::<Output>::decode(&mut &bytes[..]), Ok(outputs));
        }

        #[test]
        fn context_scale_round_trip(
            contract in any::<[u8; 32]>(),
            origin in any::<[u8; 32]>(),
            block in any::<u64>(),
            seq in any::<u64>(),
            value in any::<u128>(),
            gas_limit in any::<u64>(),
        ) {
            let ctx = CommandContext {
                contract: H256(contract),
                origin: AccountId::from(origin),
                block,
                seq,
                value,
                gas_limit,
            };
            let bytes = ctx.encode();
            prop_assert_eq!(bytes.len(), 32 + 32 + 8 + 8 + 16 + 8);
            prop_assert_eq!(CommandContext::decode(&mut &bytes[..]), Ok(ctx));
        }
    }
}
