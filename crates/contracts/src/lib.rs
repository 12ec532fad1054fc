//! Umbra confidential contracts.
//!
//! Contracts are deterministic state machines that run only inside attested enclaves. The
//! chain orders their encrypted commands; every worker assigned to a contract replays the same
//! command log and reaches the same state, so a newly assigned worker rebuilds the state from
//! the log (or from an encrypted checkpoint plus the rest of the log) and losing a worker loses
//! nothing.
//!
//! * [`Contract`]: the trait a contract implements — `handle_command` (ordered, may change
//!   state, yields [`Output`]s) and `handle_query` (off-chain, read-only, origin-checked), with
//!   typed SCALE messages and no I/O, clocks or randomness.
//! * [`Instance`]: a type-erased running contract as the enclave holds it: SCALE bytes in and
//!   out, snapshots and a state hash. A refused command never changes the state.
//! * [`guestbook`]: the first built-in contract ([`ContractKind::Guestbook`]).
//! * [`analytics`]: privacy-first web analytics for one site ([`ContractKind::Analytics`]).
//! * [`keys`]: the key hierarchy (master key → per-contract ECDH secret per rotation → event
//!   and checkpoint keys), key shares between enclaves, contract ids and contract accounts.
//! * [`envelope`]: encrypted commands (client → contract), private events (contract → one
//!   account) and checkpoints (state at rest), the last two deterministic so every worker
//!   emits identical bytes.
//! * [`gas`]: gas limits, the fixed schedule of built-in kinds and what a failed command uses.
//! * [`session`]: session envelopes (commands sealed from a per-account static key) and
//!   [`ContractKeys`], the enclave's per-contract key caches (no key agreement per command).
//! * [`mod@bench`]: deterministic workloads for timing replay.
//!
//! All failures are a [`ContractError`].

// Runtime, enclave and contract code must never panic on arithmetic: every operation is checked
// or saturating, and an overflow is an error the caller sees.
#![deny(clippy::arithmetic_side_effects)]

pub mod analytics;
pub mod bench;
pub mod contract;
pub mod envelope;
pub mod error;
pub mod evm;
pub mod gas;
pub mod guestbook;
pub mod instance;
pub mod keys;
pub mod session;

pub use contract::{CommandContext, Contract, ContractId, ContractKind, Output};
pub use envelope::{
    open_checkpoint, open_command, open_event, seal_checkpoint, seal_command, seal_event,
    seal_outputs, EncryptedEvent, SealedOutput,
};
pub use error::ContractError;
pub use instance::{Executed, Instance};
pub use keys::{
    contract_account, contract_id, contract_secret, event_key, master_ecdh, master_public,
    open_key_share, seal_key_share,
};
pub use session::{seal_session_command, session_secret, ContractKeys};
